//! [`Event::Edit`](super::event::Event::Edit): changes made from outside an object's code, run
//! by its actor between its events.

use tokio::sync::oneshot;

use super::event::{Edit, EditRefusal, Edited, EventError, EventResult, Outcome};
use super::object::Actor;
use crate::store::{ObjectStorage, StoreError};

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
    }))
}

impl Actor {
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
