//! Restores an object's own code asked for (`onNextSessionRestoreBookmark`, or restoring a
//! snapshot with `onNextSessionRestore`): kept durably, one per object, until the object next
//! starts. Its actor then applies it as one commit that also removes the row, so a restore is
//! applied once, wholly, even across a crash (`pending_restores`: object → this, postcard).

use std::sync::atomic::Ordering;

use redb::{ReadableDatabase, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::db::PENDING_RESTORES;
use super::error::StoreError;
use super::key::ObjectKey;
use super::write_set::PendingRestore;

#[derive(Serialize, Deserialize)]
struct Stored {
    source: Option<Vec<u8>>,
    position: u64,
    time_ms: i64,
}

/// Records (`Some`) or removes (`None`) `obj`'s pending restore; whether a row was removed
/// (the committer takes it off the hint once the commit is durable; a recorded one is added to
/// the hint here, before the commit, so the hint never undercounts).
pub(super) fn set(
    tx: &WriteTransaction,
    db: &super::db::Db,
    obj: &ObjectKey,
    pending: Option<&PendingRestore>,
) -> Result<bool, StoreError> {
    let mut t = tx.open_table(PENDING_RESTORES)?;
    match pending {
        Some(p) => {
            let stored = Stored {
                source: p.source.as_ref().map(|k| k.as_bytes().to_vec()),
                position: p.position,
                time_ms: p.time_ms,
            };
            let bytes = postcard::to_allocvec(&stored).expect("a pending restore serializes");
            db.pending_hint().fetch_add(1, Ordering::SeqCst);
            let replaced = t.insert(obj.as_bytes(), bytes.as_slice())?.is_some();
            Ok(replaced)
        }
        None => Ok(t.remove(obj.as_bytes())?.is_some()),
    }
}

impl super::db::Db {
    /// The restore `obj`'s next start applies, if its code asked for one.
    pub fn pending_restore(&self, obj: &ObjectKey) -> Result<Option<PendingRestore>, StoreError> {
        if self.pending_hint().load(Ordering::SeqCst) == 0 {
            return Ok(None);
        }
        let tx = self.database()?.begin_read()?;
        let t = tx.open_table(PENDING_RESTORES)?;
        let Some(v) = t.get(obj.as_bytes())? else {
            return Ok(None);
        };
        let bad = |reason: String| StoreError::History { reason };
        let stored: Stored = postcard::from_bytes(v.value()).map_err(|e| bad(e.to_string()))?;
        let source = match stored.source {
            Some(bytes) => Some(
                ObjectKey::from_stored(&bytes)
                    .ok_or_else(|| bad("a pending restore names no object".into()))?,
            ),
            None => None,
        };
        Ok(Some(PendingRestore {
            source,
            position: stored.position,
            time_ms: stored.time_ms,
        }))
    }
}
