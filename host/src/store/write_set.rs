//! What one event (or a run of events) changed for one object, applied in one go.

use std::collections::BTreeMap;

use super::key::ObjectKey;
use super::sql::SqlWrites;

/// One object's changes. Keys are byte-ordered (UTF-8 strings from the guest).
#[derive(Debug, Default, Clone)]
pub struct WriteSet {
    /// delete-all ran: every stored key of the object goes before `puts` apply.
    pub cleared: bool,
    /// Key → new value, or `None` for a delete.
    pub puts: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// `Some(Some(t))` sets the alarm, `Some(None)` deletes it.
    pub alarm: Option<Option<i64>>,
    /// `Some(n)`: the current alarm has failed `n` times (kept with the alarm so that a restart
    /// continues its back-off). Any change of `alarm` resets it to zero.
    pub alarm_retries: Option<u32>,
    /// Record the name of the object (first write of an activation addressed by name).
    pub name: Option<String>,
    /// Pages of the object's SQL database the event changed.
    pub sql: Option<SqlWrites>,
    /// Bring the object back to its state before this history position (point-in-time
    /// recovery): the committer works out the writes inside the commit's transaction, from the
    /// undo records it keeps, so no commit in flight is restored around. Alone in its set.
    pub restore_to: Option<u64>,
    /// With `restore_to`: whose state at that position the object takes (a fork, `fork.rs`);
    /// `None`, its own.
    pub restore_from: Option<ObjectKey>,
    /// `Some(Some(p))` records a restore for the object's next start, `Some(None)` removes the
    /// recorded one (in the commit that applies it). Not part of the object's history.
    pub pending: Option<Option<PendingRestore>>,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        !self.cleared
            && self.puts.is_empty()
            && self.alarm.is_none()
            && self.alarm_retries.is_none()
            && self.name.is_none()
            && self.sql.is_none()
            && self.restore_to.is_none()
            && self.pending.is_none()
    }

    /// Bytes of keys and values it writes (what a commit batch is capped by).
    pub fn bytes(&self) -> usize {
        self.puts
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
            .sum::<usize>()
            + self.name.as_ref().map_or(0, String::len)
            + self.sql.as_ref().map_or(0, SqlWrites::bytes)
    }
}

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
