//! The object's point-in-time recovery calls on its storage view: bookmarks of its own history
//! (`getCurrentBookmark`, `getBookmarkForTime`), snapshots of its state (`snapshot`), and
//! restores recorded for its next start (`onNextSessionRestoreBookmark`, `onNextSessionRestore`).
//!
//! "Now", for an object's own code, is the state its earlier events left: the calls that need it
//! wait until those events' writes are durable (the running event's writes are not in it, so
//! restoring to such a bookmark undoes them too). A restore asked for is committed on its own,
//! not in the running event's write set: it is kept whether the event succeeds or, as after
//! `ctx.abort()`, fails.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::ObjectStorage;
use crate::store::commit::{CommitState, Committer};
use crate::store::db::Db;
use crate::store::error::StoreError;
use crate::store::history::{Bookmark, BookmarkError};
use crate::store::key::ObjectKey;
use crate::store::snapshot::Snapshot;
use crate::store::write_set::{PendingRestore, WriteSet};

/// What the calls need of the view, owned: they wait for commits, and the view (with its SQL
/// connection) is not `Sync`, so no borrow of it may be held across the wait.
pub struct ObjectHistory {
    db: Db,
    object: ObjectKey,
    commit: Arc<CommitState>,
    committer: Committer,
}

impl ObjectStorage {
    /// The object's point-in-time recovery calls.
    pub fn history(&self) -> ObjectHistory {
        ObjectHistory {
            db: self.db.clone(),
            object: self.object.clone(),
            commit: self.commit.clone(),
            committer: self.committer.clone(),
        }
    }
}

impl ObjectHistory {
    fn retention(&self) -> Result<Duration, BookmarkError> {
        self.committer.history().ok_or(BookmarkError::Off)
    }

    /// The bookmark of the state the object's earlier events left, once it is durable.
    pub async fn current_bookmark(&self) -> Result<Bookmark, BookmarkError> {
        self.retention()?;
        self.commit.wait_in_flight_below(1).await;
        Ok(self.db.current_bookmark(&self.object)?)
    }

    /// The bookmark of the object's state at `time_ms`: its commits up to then.
    pub fn bookmark_for_time(&self, time_ms: i64) -> Result<Bookmark, BookmarkError> {
        self.db
            .bookmark_for_time(&self.object, time_ms, self.committer.history())
    }

    /// A snapshot of the state the object's earlier events left, for an object of `class`.
    pub async fn snapshot(&self, class: &str) -> Result<String, BookmarkError> {
        let bookmark = self.current_bookmark().await?;
        Ok(Snapshot {
            class: class.to_owned(),
            source: self.object.clone(),
            bookmark,
        }
        .token())
    }

    /// Records that the object's next start restores it to `bookmark`; the bookmark that undoes
    /// it (the state earlier events left). Durable when it returns; replaces an earlier request.
    pub async fn restore_on_next_start(&self, bookmark: &str) -> Result<Bookmark, BookmarkError> {
        let undo = self.current_bookmark().await?;
        let retention = Some(self.retention()?);
        let position = self
            .db
            .restore_position(&self.object, bookmark, retention)?;
        let time_ms = Bookmark::parse(bookmark)?.time_ms;
        self.record(PendingRestore {
            source: None,
            position,
            time_ms,
        })
        .await?;
        Ok(undo)
    }

    /// Records that the object's next start makes it a copy of `snapshot`'s state; refused for
    /// a snapshot of another class than `class` (the object's). The bookmark that undoes it.
    pub async fn restore_snapshot_on_next_start(
        &self,
        snapshot: &str,
        class: &str,
    ) -> Result<Bookmark, BookmarkError> {
        let s = Snapshot::parse(snapshot)?;
        if s.class != class {
            return Err(BookmarkError::OtherClass {
                snapshot: s.class,
                here: class.to_owned(),
            });
        }
        let undo = self.current_bookmark().await?;
        let retention = Some(self.retention()?);
        let position = self
            .db
            .restore_position(&s.source, &s.bookmark.to_string(), retention)?;
        self.record(PendingRestore {
            source: Some(s.source),
            position,
            time_ms: s.bookmark.time_ms,
        })
        .await?;
        Ok(undo)
    }

    /// Commits `pending` as the object's restore for its next start and waits until durable.
    async fn record(&self, pending: PendingRestore) -> Result<(), StoreError> {
        let writes = WriteSet {
            pending: Some(Some(pending)),
            ..WriteSet::default()
        };
        let generation = self.commit.generation.load(Ordering::SeqCst);
        self.committer
            .commit_alone(self.object.clone(), self.commit.clone(), generation, writes)
            .await
            .map_err(|e| StoreError::Unavailable {
                reason: e.to_string(),
            })
    }
}
