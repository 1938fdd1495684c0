//! The host services every object uses, built once at start-up.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use super::classes::ClassTable;
use super::metrics::Metrics;
use crate::id::Namespaces;
use crate::runtime::Engine;
use crate::sockets::Hub;
use crate::store::{Committer, Db};

/// Shared, immutable after start-up (the fields are handles) but for the class table, which a
/// code update replaces.
pub struct Services {
    pub engine: Engine,
    pub db: Db,
    pub committer: Committer,
    pub namespaces: Namespaces,
    pub metrics: Metrics,
    /// Every object's WebSockets (they outlive the objects' activations).
    pub hub: Arc<Hub>,
    /// Wakes the alarm scheduler (an alarm changed, or one finished).
    pub alarm_changed: Arc<Notify>,
    /// Every class served, with the shared instances of those hosting many objects per
    /// instance. Concurrency: read lock-free by every event's admission; swapped whole by a code
    /// update (`Directory::update`), so a reader sees the old table or the new one.
    pub classes: ArcSwap<ClassTable>,
    /// Most events waiting in one object's mailbox before requests are refused as overloaded.
    pub max_queued_events: usize,
    /// Most of one object's commits in flight before it waits to run its next event.
    pub max_in_flight_commits: usize,
    /// Deepest chain of calls between objects.
    pub max_call_depth: u32,
    /// How long a call to another object may take.
    pub call_timeout: std::time::Duration,
    /// The configured vars, by name.
    pub vars: Arc<[(String, String)]>,
    /// Test seams are on (`HOLDFAST_FAULT_INJECTION=1`).
    pub fault_injection: bool,
}
