//! Point-in-time recovery and snapshots on [`Storage`], with Cloudflare's names.
//!
//! The host keeps what every commit overwrote for `[history] retention_seconds` (default 30
//! days). A *bookmark* names one state of the object's keys, SQL database and alarm; bookmarks
//! compare in time order as strings. "Now", for the object's own code, is the state its earlier
//! events left: the running event's own writes are not in it. Restores take effect when the
//! object next starts: after a failed event (return `Err` from the handler), an eviction, a code
//! update or a restart. Every refusal (history off, a malformed or foreign bookmark, a time in
//! the future or older than the history kept, a snapshot of another class) is a
//! [`StorageError`] of kind `InvalidArgument` whose message says which.

use crate::bindings::holdfast::object::storage as wit;
use crate::storage::from_wit;
use crate::{Storage, StorageError};

impl Storage {
    /// The bookmark of the state the object's earlier events left (waits until it is durable).
    pub fn get_current_bookmark(&self) -> Result<String, StorageError> {
        wit::get_current_bookmark().map_err(from_wit)
    }

    /// The bookmark of the object's state at `time` (ms since the Unix epoch).
    pub fn get_bookmark_for_time(&self, time: i64) -> Result<String, StorageError> {
        wit::get_bookmark_for_time(time).map_err(from_wit)
    }

    /// Restores the object to `bookmark` when it next starts; kept durably when this returns,
    /// whether or not the running event succeeds. Returns the bookmark that undoes the restore.
    pub fn on_next_session_restore_bookmark(&self, bookmark: &str) -> Result<String, StorageError> {
        wit::on_next_session_restore_bookmark(bookmark).map_err(from_wit)
    }

    /// A snapshot of the state the object's earlier events left, for an object of the same
    /// class to become a copy of ([`on_next_session_restore`](Self::on_next_session_restore)).
    /// Taking one copies nothing; it can be restored while the history behind it is kept.
    pub fn snapshot(&self) -> Result<String, StorageError> {
        wit::snapshot().map_err(from_wit)
    }

    /// Makes this object a copy of `snapshot`'s state when it next starts; returns the bookmark
    /// that undoes it.
    pub fn on_next_session_restore(&self, snapshot: &str) -> Result<String, StorageError> {
        wit::on_next_session_restore(snapshot).map_err(from_wit)
    }
}
