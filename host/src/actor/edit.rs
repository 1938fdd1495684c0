//! [`Event::Edit`](super::event::Event::Edit): changes made from outside an object's code, run
//! by its actor between its events.

use tokio::sync::oneshot;

use super::event::{Edit, EditRefusal, Edited, EventError, EventResult, Outcome};
use super::object::{Actor, drain_commits};
use crate::store::{Bookmark, CommitError, ObjectKey, ObjectStorage, StoreError, WriteSet, now_ms};

/// What applying an edit to the storage view gave.
type Applied = Result<Result<Edited, EditRefusal>, StoreError>;

fn apply(storage: &mut ObjectStorage, edit: Edit) -> Applied {
    Ok(Ok(match edit {
        Edit::Storage { put, delete } => {
            let n = put.len();
            for (key, value) in put {
                if let Err(r) = storage.put(key, value) {
                    return Ok(Err(r.into()));
                }
            }
            let mut deleted = 0;
            for key in &delete {
                match storage.delete(key)? {
                    Ok(true) => deleted += 1,
                    Ok(false) => {}
                    Err(r) => return Ok(Err(r.into())),
                }
            }
            Edited::Storage { put: n, deleted }
        }
        Edit::Alarm(at) => {
            storage.set_alarm(at);
            Edited::Alarm(at)
        }
        Edit::Sql { query, params } => match storage.sql_exec(&query, &params)? {
            Ok(out) => match storage.commit_sql()? {
                Ok(()) => Edited::Sql(out),
                Err(r) => return Ok(Err(r.into())),
            },
            Err(r) => return Ok(Err(r.into())),
        },
        Edit::DeleteAll => {
            storage.delete_all()?;
            storage.set_alarm(None);
            Edited::DeletedAll
        }
        Edit::Restore { .. } => unreachable!("a restore is not a view edit (Actor::restore)"),
    }))
}

impl Actor {
    /// Restores the object to the state before history `position` of its own history, or of
    /// `from`'s (a fork), as one commit the committer works out from the undo records (and
    /// that removes a pending restore of the object's code, `clear_pending`). Waits for the
    /// object's commits in flight first (so the undo bookmark holds all of them) and for the
    /// restore to be durable after (so the next event reads restored state through a fresh
    /// view). The instance goes, and sockets whose listeners lived in it close with 1012, as
    /// after any edit that writes. The bookmark that undoes it.
    async fn restore_now(
        &mut self,
        position: u64,
        from: Option<ObjectKey>,
        clear_pending: bool,
    ) -> Result<Bookmark, EventError> {
        drain_commits(self.shared.commit.clone()).await;
        let undo = self
            .services
            .db
            .current_bookmark(&self.key)
            .map_err(EventError::Store)?;
        if self.drop_instance() {
            self.services.hub.close_pinned_for_update(&self.key);
        }
        let result = self
            .commit_alone(WriteSet {
                restore_to: Some(position),
                restore_from: from,
                pending: clear_pending.then_some(None),
                ..WriteSet::default()
            })
            .await;
        // Whatever the view cached is of the state before.
        self.storage().reset();
        result.map(|()| undo).map_err(EventError::from)
    }

    /// An [`Edit::Restore`](super::event::Edit::Restore) from the admin API.
    pub(super) async fn restore(
        &mut self,
        position: u64,
        from: Option<ObjectKey>,
        reply: oneshot::Sender<EventResult>,
    ) {
        let r = self.restore_now(position, from, false).await;
        let _ = reply.send(r.map(|undo| Outcome::Edited(Edited::Restored { undo })));
    }

    /// Applies the restore the object's code asked for before its next start, if any. One
    /// whose history was reclaimed in the meantime is dropped (with a warning), not applied by
    /// halves.
    pub(super) async fn apply_pending_restore(&mut self) -> Result<(), EventError> {
        let db = &self.services.db;
        let Some(p) = db.pending_restore(&self.key).map_err(EventError::Store)? else {
            return Ok(());
        };
        let retention = self.services.committer.history();
        let kept = retention.is_some_and(|keep| {
            p.time_ms >= now_ms() - keep.as_millis().min(i64::MAX as u128) as i64
        });
        if !kept {
            tracing::warn!(namespace = %self.identity.binding, object = %self.identity.id, "dropping a restore the object asked for: the history it needs is no longer kept");
            return self.clear_pending().await;
        }
        let undo = self.restore_now(p.position, p.source, true).await?;
        tracing::info!(namespace = %self.identity.binding, object = %self.identity.id, undo = %undo, "restored the object as its code asked, before its start");
        Ok(())
    }

    async fn clear_pending(&mut self) -> Result<(), EventError> {
        let ws = WriteSet {
            pending: Some(None),
            ..WriteSet::default()
        };
        self.commit_alone(ws).await.map_err(EventError::from)
    }

    /// Commits `writes` as a job of its own (not an event's) and waits until it is durable.
    async fn commit_alone(&mut self, writes: WriteSet) -> Result<(), CommitError> {
        let (key, state) = (self.key.clone(), self.shared.commit.clone());
        let committer = self.services.committer.clone();
        committer
            .commit_alone(key, state, self.generation, writes)
            .await
    }

    /// Applies `edit` as one event: all of it or (refused, or storage failed) none of it.
    pub(super) fn edit(&mut self, edit: Edit, reply: oneshot::Sender<EventResult>) {
        let applied = apply(self.storage(), edit);
        let edited = match applied {
            Ok(Ok(edited)) => edited,
            Ok(Err(refused)) => {
                self.storage().abort_event();
                return self.release(None, None, reply, Err(refused.into()));
            }
            Err(e) => {
                self.storage().abort_event();
                return self.release(None, None, reply, Err(EventError::Store(e)));
            }
        };
        let mut writes = self.storage().finish_event();
        if let Some((ws, _)) = &mut writes {
            if !self.name_recorded && self.identity.name.is_some() {
                ws.name = self.identity.name.clone();
                self.name_recorded = true;
            }
            // The instance may hold what was edited in memory: the next event starts afresh.
            if self.drop_instance() {
                self.services.hub.close_pinned_for_update(&self.key);
            }
        }
        self.release(writes, None, reply, Ok(Outcome::Edited(edited)));
    }
}
