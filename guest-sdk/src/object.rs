//! [`DurableObject`], the trait a class implements.

use crate::{AlarmInfo, Error, Message, Request, Response, Result, State, WebSocket};

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
/// implementations that return an error saying the class does not handle them (never a panic).
/// A class that [accepts WebSockets](crate::State::accept_websocket) implements the three
/// `websocket_*` handlers.
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

    /// A message arrived on the accepted WebSocket `ws`.
    ///
    /// Like every event, it is one transaction: what it sends (to `ws` or to any other socket)
    /// is released only after its writes commit, and an `Err` discards both. To answer a bad
    /// message and keep the connection's event successful, send an error message and return
    /// `Ok`. If the object hibernated since `ws` was accepted, it is created again first:
    /// recover per-connection state from [`WebSocket::attachment`].
    ///
    /// The default returns an error: accept sockets only from classes that handle them.
    fn websocket_message(&mut self, ws: WebSocket, msg: Message) -> Result<()> {
        let _ = (ws, msg);
        Err(Error::msg("this class does not handle WebSocket messages"))
    }

    /// The accepted WebSocket `ws` closed, with the close `code` and `reason` the peer sent
    /// (`was_clean` is false when the connection ended without a close handshake).
    ///
    /// `ws` is no longer among [`State::websockets`](crate::State::websockets) and cannot be sent
    /// to, but its tags and attachment can still be read during this event. Not delivered for a
    /// socket the object closed itself with [`WebSocket::close`].
    ///
    /// The default returns an error.
    fn websocket_close(
        &mut self,
        ws: WebSocket,
        code: u16,
        reason: String,
        was_clean: bool,
    ) -> Result<()> {
        let _ = (ws, code, reason, was_clean);
        Err(Error::msg(
            "this class does not handle WebSocket close events",
        ))
    }

    /// The accepted WebSocket `ws` failed with `error`; the connection is gone, as for
    /// [`websocket_close`](Self::websocket_close).
    ///
    /// The default returns an error.
    fn websocket_error(&mut self, ws: WebSocket, error: String) -> Result<()> {
        let _ = (ws, error);
        Err(Error::msg("this class does not handle WebSocket errors"))
    }
}
