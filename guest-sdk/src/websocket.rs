//! [`WebSocket`], a handle to one of the object's accepted WebSockets.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::holdfast::object::types::Message as WitMessage;
use crate::bindings::holdfast::object::websockets as wit;
use crate::{Error, Result};

/// One of this object's accepted WebSockets, identified by its socket ID.
///
/// Obtained from [`State::accept_websocket`](crate::State::accept_websocket) in `fetch`, from
/// [`State::websockets`](crate::State::websockets), or as the argument of the WebSocket event
/// handlers of [`DurableObject`](crate::DurableObject). It is a plain ID: copy it, compare it,
/// keep it in a map. The host owns the connection; IDs stay valid across hibernation.
///
/// Everything a handle does goes through the running event:
/// - [`send_text`](Self::send_text), [`send_binary`](Self::send_binary),
///   [`send_json`](Self::send_json) and [`close`](Self::close) are queued, and released only after
///   the event commits. If the event fails (returns `Err` or panics), nothing it queued is sent.
/// - the [attachment](Self::set_attachment) is a small value (up to 16 KiB, stored as JSON) kept
///   with the socket by the host. Like the socket's tags, it survives hibernation: read it back
///   after the object was evicted and created again.
///
/// Calls on a socket that has closed return an error (or nothing, for the reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WebSocket {
    id: u64,
}

impl WebSocket {
    pub(crate) fn from_id(id: u64) -> Self {
        WebSocket { id }
    }

    /// The socket ID the host gave this socket; unique among the object's sockets.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queues a text message (sent after this event commits).
    pub fn send_text(&self, text: &str) -> Result<()> {
        self.send(&WitMessage::Text(text.to_string()))
    }

    /// Queues a binary message (sent after this event commits).
    pub fn send_binary(&self, bytes: &[u8]) -> Result<()> {
        self.send(&WitMessage::Binary(bytes.to_vec()))
    }

    /// Queues `value` encoded as JSON, as a text message (sent after this event commits).
    pub fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let text = serde_json::to_string(value).map_err(|e| {
            Error::with_source(format!("cannot encode the message as JSON: {e}"), e)
        })?;
        self.send(&WitMessage::Text(text))
    }

    /// Closes the socket with the close `code` (e.g. 1000, normal closure) and `reason`, after
    /// this event commits.
    pub fn close(&self, code: u16, reason: &str) -> Result<()> {
        wit::close(self.id, code, reason).map_err(Error::msg)
    }

    /// The tags the socket was accepted with (empty once it is gone).
    pub fn tags(&self) -> Vec<String> {
        wit::get_tags(self.id)
    }

    /// Keeps `value`, encoded as JSON, with the socket, replacing any earlier attachment. At most
    /// 16 KiB. It survives hibernation, so it is the place for per-connection state such as the
    /// user's name.
    pub fn set_attachment<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| {
            Error::with_source(format!("cannot encode the attachment as JSON: {e}"), e)
        })?;
        wit::set_attachment(self.id, Some(&bytes)).map_err(Error::msg)
    }

    /// The socket's attachment decoded from JSON; `None` if it has none.
    pub fn attachment<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        wit::get_attachment(self.id)
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    Error::with_source(format!("the socket's attachment does not decode: {e}"), e)
                })
            })
            .transpose()
    }

    /// Removes the socket's attachment, if any.
    pub fn clear_attachment(&self) -> Result<()> {
        wit::set_attachment(self.id, None).map_err(Error::msg)
    }

    /// When the host last answered this socket with the
    /// [auto-response](crate::State::set_websocket_auto_response) (ms since the Unix epoch).
    pub fn auto_response_timestamp(&self) -> Option<i64> {
        wit::get_auto_response_timestamp(self.id)
    }

    fn send(&self, message: &WitMessage) -> Result<()> {
        wit::send(self.id, message).map_err(Error::msg)
    }
}
