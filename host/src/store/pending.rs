//! Restores an object's own code asked for (`onNextSessionRestoreBookmark`, or restoring a
//! snapshot with `onNextSessionRestore`): kept durably, one per object, until the object next
//! starts. Its actor then applies it as one commit that also removes the row, so a restore is
//! applied once, wholly, even across a crash (`pending_restores`: object → this, postcard).

use redb::{ReadableDatabase, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::db::PENDING_RESTORES;
use super::error::StoreError;
use super::key::ObjectKey;

/// A restore waiting for the object's next start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRestore {
    /// Whose history it restores from: `None` the object's own (a bookmark), `Some` another
    /// object's (a snapshot: the object becomes a copy of that one's state).
    pub source: Option<ObjectKey>,
    /// The history position of the state it restores (see `history.rs`).
    pub position: u64,
    /// The bookmark's time: a restore whose history was reclaimed before it could apply is
    /// dropped rather than applied by halves.
    pub time_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    source: Option<Vec<u8>>,
    position: u64,
    time_ms: i64,
}

/// Records (`Some`) or removes (`None`) `obj`'s pending restore.
pub(super) fn set(
    tx: &WriteTransaction,
    obj: &ObjectKey,
    pending: Option<&PendingRestore>,
) -> Result<(), StoreError> {
    let mut t = tx.open_table(PENDING_RESTORES)?;
    match pending {
        Some(p) => {
            let stored = Stored {
                source: p.source.as_ref().map(|k| k.as_bytes().to_vec()),
                position: p.position,
                time_ms: p.time_ms,
            };
            let bytes = postcard::to_allocvec(&stored).expect("a pending restore serializes");
            t.insert(obj.as_bytes(), bytes.as_slice())?;
        }
        None => {
            t.remove(obj.as_bytes())?;
        }
    }
    Ok(())
}

impl super::db::Db {
    /// The restore `obj`'s next start applies, if its code asked for one.
    pub fn pending_restore(&self, obj: &ObjectKey) -> Result<Option<PendingRestore>, StoreError> {
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
