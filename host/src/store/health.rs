//! Whether the store can write: reported by `/_/health` and the metrics, changed only by the
//! committer (which sees every write fail or succeed).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The store's state as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageState {
    /// Commits succeed.
    Ok,
    /// The last commit failed and the database could not be brought back yet: writes are
    /// refused (503) until a probe commit succeeds. `since_ms` is Unix time.
    Failed { since_ms: i64, reason: String },
}

/// Shared by the database handle, the committer and the HTTP health route.
#[derive(Debug)]
pub struct Health {
    /// Why a mutex: written by the committer thread on a state change (rare), read by the
    /// health route and by every refused commit.
    state: Mutex<StorageState>,
    /// Commits that failed (each one an episode or part of one).
    pub failures: AtomicU64,
    /// Times the database was reopened after a failure.
    pub reopens: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            state: Mutex::new(StorageState::Ok),
            failures: AtomicU64::new(0),
            reopens: AtomicU64::new(0),
        }
    }
}

impl Health {
    pub fn state(&self) -> StorageState {
        self.state.lock().expect("health lock").clone()
    }

    pub fn is_ok(&self) -> bool {
        matches!(*self.state.lock().expect("health lock"), StorageState::Ok)
    }

    pub(super) fn fail(&self, now_ms: i64, reason: String) {
        let mut s = self.state.lock().expect("health lock");
        if matches!(*s, StorageState::Ok) {
            *s = StorageState::Failed {
                since_ms: now_ms,
                reason,
            };
        }
    }

    pub(super) fn recover(&self) {
        *self.state.lock().expect("health lock") = StorageState::Ok;
    }

    pub(super) fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}
