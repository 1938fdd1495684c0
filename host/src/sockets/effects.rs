//! What one event did to its object's sockets, held until the event's commit.

use super::outbox::Outgoing;

/// The WebSocket side effects of one event, applied after its commit (the output gate).
#[derive(Debug, Default)]
pub struct WsEffects {
    /// The running `fetch` is an upgrade request that may accept a socket.
    pub upgrade: bool,
    /// The socket accepted by this event.
    pub accepted: Option<u64>,
    /// Frames to send, in order.
    pub sends: Vec<(u64, Outgoing)>,
    /// Previous attachments, to restore if the event fails.
    pub(super) attachment_undo: Vec<(u64, Option<Vec<u8>>)>,
}

impl WsEffects {
    /// Fresh effects for an event; `upgrade` when it is the fetch of an upgrade request.
    pub fn for_event(upgrade: bool) -> Self {
        WsEffects {
            upgrade,
            ..WsEffects::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.accepted.is_none() && self.sends.is_empty() && self.attachment_undo.is_empty()
    }
}
