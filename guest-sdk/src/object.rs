//! [`DurableObject`], the trait a class implements.

use crate::{AlarmInfo, Error, Message, Request, Response, Result, State};

/// A Durable Object class.
///
/// Mark the implementing struct with [`#[durable_object]`](crate::durable_object) to export it.
/// A component holds one object: the host creates it with [`new`](Self::new) on its first event
/// and keeps it for as long as the component instance lives, delivering events one at a time.
/// The host may evict an idle object at any moment and create it again later, so anything that
/// must survive belongs in [`Storage`](crate::Storage), not only in fields.
///
/// Every event method runs as one atomic transaction: the storage writes it makes commit together
/// when it returns `Ok`; when it returns `Err` (or panics, which traps the instance) they are all
/// discarded. For `fetch`, an `Err` becomes a `500` response whose body carries the message.
/// Changes to the struct's own fields are not rolled back by an `Err`.
///
/// Only [`new`](Self::new) and [`fetch`](Self::fetch) are required. The other events have default
/// implementations that return an error saying the class does not handle them.
pub trait DurableObject {
    /// Creates the object, before its first event. Should be cheap; reading storage here is
    /// allowed.
    fn new(state: State) -> Self
    where
        Self: Sized;

    /// Handles an HTTP request addressed to this object.
    fn fetch(&mut self, req: Request) -> Result<Response>;

    /// The object's alarm fired. An `Err` makes the host retry with exponential backoff.
    ///
    /// The default returns an error: set alarms only from classes that handle them.
    fn alarm(&mut self, info: AlarmInfo) -> Result<()> {
        let _ = info;
        Err(Error::msg("this class does not handle alarms"))
    }

    /// A message arrived on the accepted WebSocket `socket`.
    fn websocket_message(&mut self, socket: u64, msg: Message) -> Result<()> {
        let _ = (socket, msg);
        Err(Error::msg("this class does not handle WebSocket messages"))
    }

    /// The accepted WebSocket `socket` closed with `code` and `reason`.
    fn websocket_close(
        &mut self,
        socket: u64,
        code: u16,
        reason: String,
        was_clean: bool,
    ) -> Result<()> {
        let _ = (socket, code, reason, was_clean);
        Err(Error::msg(
            "this class does not handle WebSocket close events",
        ))
    }

    /// The accepted WebSocket `socket` failed with `error`.
    fn websocket_error(&mut self, socket: u64, error: String) -> Result<()> {
        let _ = (socket, error);
        Err(Error::msg("this class does not handle WebSocket errors"))
    }
}
