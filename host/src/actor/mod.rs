//! Objects: the per-object actor that runs events one at a time, the directory that keeps at
//! most one actor per object ID and admits events into bounded mailboxes, eviction, the shared
//! instances that host many objects of an interpreted class, and the runtime's counters.
//!
//! Owns: single activation, event order, the read-only fast path, the rule that a failed
//! event discards both its writes and its instance, and edits from outside an object's code
//! (run in its mailbox, `edit.rs`). Imports `runtime`, `store`, `sockets`, `id`
//! and `config`; knows nothing of HTTP or the alarm scheduler (which reach objects through
//! [`Directory`]). Calls between objects are delivered here (the runtime's `Outbound` port),
//! through the callee's mailbox, with a wait-for graph that refuses a call that would wait in a
//! circle.

mod calls;
mod classes;
mod directory;
mod edit;
mod event;
mod hosted;
mod hosts;
mod metrics;
mod object;
mod remote;
mod response;
mod services;
mod slots;
mod waits;

pub use classes::ClassTable;
pub use directory::{Directory, Overloaded, Update};
pub use event::{Edit, Edited, Event, EventError, Outcome};
pub use metrics::Metrics;
pub use remote::Remote;
pub use services::Services;
