//! Host-owned WebSockets: every object's sockets, their tags, attachments and auto-response,
//! each socket's bounded outbox, and the effects an event has on them (held until its commit).
//!
//! Owns: which sockets exist and what may be sent on them. Imports `store` (object keys) only;
//! knows nothing of instances, actors or HTTP: the connection tasks that feed and drain these
//! sockets live in the HTTP layer, and the runtime stages effects through [`Hub`].

mod effects;
mod hub;
mod outbox;

pub use effects::WsEffects;
pub use hub::{Hub, WsLimits};
pub use outbox::{OutboxReceiver, Outgoing};
