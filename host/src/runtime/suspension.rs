//! Whether an instance's fiber waits in an async host call (a call to another object, an
//! outbound `fetch()`): while it does, the instance runs nothing else, so an object hosted by it
//! whose event is due (perhaps the very callee) must not wait for it. The actor layer moves such
//! objects to another instance; this only tells it when.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Shared by an instance's store (which marks it) and whoever schedules events onto it.
#[derive(Debug, Default)]
pub struct Suspension {
    /// Host calls of the instance's running event now waiting. Why atomic: the fiber marks it,
    /// actors on other threads read it.
    waiting: AtomicUsize,
    /// Notified each time the instance starts waiting.
    started: Notify,
}

impl Suspension {
    /// Whether the instance's running event waits in a host call now.
    pub fn is_suspended(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// Resolves when the instance next starts waiting (create it, then check `is_suspended`).
    pub fn started(&self) -> tokio::sync::futures::Notified<'_> {
        self.started.notified()
    }

    /// Marks the instance as waiting until the guard is dropped.
    pub(super) fn wait(self: &Arc<Self>) -> Waiting {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.started.notify_waiters();
        Waiting(self.clone())
    }
}

/// The mark of one waiting host call.
pub(super) struct Waiting(Arc<Suspension>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}
