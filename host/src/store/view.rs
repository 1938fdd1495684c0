//! One object's view of its storage: committed state, overlaid with what this activation has
//! written (possibly not yet durable), overlaid with the running event's own writes.
//!
//! The object is the only writer of its keys, so every key it has read or written stays valid in
//! its cache for the whole activation. The cache is bounded by bytes: past the bound, entries
//! that are known to equal committed state (read from the database, or written by events whose
//! commit has been released) are dropped and read again when needed. The running event's writes
//! stay in a separate write set until the event succeeds; then they fold into the cache and go to
//! the committer. A failed event just drops its write set. Nested transactions keep an undo
//! journal of what they changed in the event's write set, never a copy of it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::commit::{CommitState, Committer};
use super::db::Db;
use super::error::StoreError;
use super::key::ObjectKey;
use super::list::{CommittedRows, Entry, ListOptions, as_ref_bound, bounds, merge};
use super::refusal::Refusal;
use super::sql::{SqlDb, SqlLimits};
use super::write_set::WriteSet;

/// The result of a storage call: the outer error is a store failure (the event fails as a host
/// failure), the inner one a refused call (the guest gets it as a value).
pub type CallResult<T> = Result<Result<T, Refusal>, StoreError>;

/// How deep nested transactions may go; deeper is a guest bug, refused with an error.
pub const MAX_NESTED_TRANSACTIONS: usize = 64;

/// Bytes a cache entry costs beyond its key and value (map node, vectors).
const ENTRY_OVERHEAD: usize = 64;

/// The limits a view enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewLimits {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    pub max_keys_per_call: usize,
    /// Bytes of keys and values one event may write.
    pub max_event_write_bytes: usize,
    /// Keys one event may write (puts and deletes).
    pub max_event_write_keys: usize,
    /// Bytes of cached entries kept per activation.
    pub cache_bytes: usize,
    /// Bytes one `list` call may return.
    pub max_list_bytes: usize,
    /// The class's SQL storage.
    pub sql: SqlLimits,
}

/// A cached entry: its value (`None`: known absent) and the write that put it there.
#[derive(Debug)]
struct Cached {
    value: Option<Vec<u8>>,
    /// The view's event number that wrote it, 0 if it was read from the database.
    written: u64,
}

/// Cached state of one activation.
#[derive(Debug, Default)]
struct Cache {
    entries: BTreeMap<Vec<u8>, Cached>,
    /// Bytes of `entries` (keys, values, overhead).
    bytes: usize,
    /// delete-all ran in this activation (at that event number): keys not in `entries` are
    /// absent. 0 when it did not.
    cleared: u64,
    /// The alarm, once read or written.
    alarm: Option<Option<i64>>,
}

impl Cache {
    fn insert(&mut self, key: Vec<u8>, value: Option<Vec<u8>>, written: u64) {
        let key_len = key.len();
        self.bytes += key_len + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
        if let Some(old) = self.entries.insert(key, Cached { value, written }) {
            self.bytes -= key_len + old.value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
        }
    }
}

/// What a nested transaction must undo in the event's write set, in the order it happened.
#[derive(Debug)]
enum Undo {
    /// The key's entry in the event's puts before its first change in this transaction.
    Put(Vec<u8>, Option<Option<Vec<u8>>>),
    /// A delete-all: the puts and flag it replaced.
    Clear(BTreeMap<Vec<u8>, Option<Vec<u8>>>, bool),
    Alarm(Option<Option<i64>>),
}

#[derive(Debug, Default)]
struct Savepoint {
    undo: Vec<Undo>,
    /// Keys whose first change this transaction has recorded.
    touched: HashSet<Vec<u8>>,
    alarm_touched: bool,
    event_bytes: usize,
}

/// An object's storage for the length of one activation.
#[derive(Debug)]
pub struct ObjectStorage {
    db: Db,
    object: ObjectKey,
    limits: ViewLimits,
    /// Shared with the committer: which of this object's writes are durable.
    commit: Arc<CommitState>,
    /// Where the object's own restore requests go (`view_history.rs`), outside its events'
    /// write sets: a restore asked for is kept whether or not the event asking succeeds.
    committer: Committer,
    cache: Cache,
    /// Writes of the running event.
    event: WriteSet,
    /// Bytes of keys and values in `event.puts`.
    event_bytes: usize,
    /// Open nested transactions, innermost last. Emptied when the event ends.
    nested: Vec<Savepoint>,
    /// Events of this activation that wrote (numbers the cache entries they wrote).
    events_written: u64,
    /// The durable event number and cache size at the last trim that could not get under the
    /// bound: trying again is pointless until either changes.
    trimmed_at: (u64, usize),
    /// The object's SQL database, once this activation used it.
    sql: Option<SqlDb>,
}

impl ObjectStorage {
    pub fn new(
        db: Db,
        object: ObjectKey,
        limits: ViewLimits,
        commit: Arc<CommitState>,
        committer: Committer,
    ) -> Self {
        ObjectStorage {
            db,
            object,
            limits,
            commit,
            committer,
            cache: Cache::default(),
            event: WriteSet::default(),
            event_bytes: 0,
            nested: Vec::new(),
            events_written: 0,
            trimmed_at: (0, 0),
            sql: None,
        }
    }

    pub fn object(&self) -> &ObjectKey {
        &self.object
    }

    /// Ends the running event successfully: its writes become part of the cached state and are
    /// returned for the committer, with the event's number (`None` if it wrote nothing).
    ///
    /// The event's SQL transaction must have been committed ([`commit_sql`](Self::commit_sql)).
    pub fn finish_event(&mut self) -> Option<(WriteSet, u64)> {
        self.nested.clear();
        self.event_bytes = 0;
        let mut ws = std::mem::take(&mut self.event);
        let durable = self.commit.durable.load(Ordering::SeqCst);
        if let Some(sql) = &mut self.sql {
            ws.sql = sql.finish_event(self.events_written + 1, durable);
        }
        if ws.is_empty() {
            return None;
        }
        self.events_written += 1;
        let n = self.events_written;
        if ws.cleared {
            self.cache.cleared = n;
            self.cache.entries.clear();
            self.cache.bytes = 0;
        }
        for (k, v) in &ws.puts {
            self.cache.insert(k.clone(), v.clone(), n);
        }
        if ws.alarm.is_some() {
            self.cache.alarm = ws.alarm;
        }
        self.trim();
        Some((ws, n))
    }

    /// Ends the running event with failure: none of its writes are kept.
    pub fn abort_event(&mut self) {
        self.event = WriteSet::default();
        self.event_bytes = 0;
        self.nested.clear();
        if let Some(sql) = &mut self.sql
            && !sql.abort_event()
        {
            self.sql = None;
        }
    }

    /// Forgets every cached value (after a failed commit: the cache held lost writes), the SQL
    /// connection and its pages included.
    pub fn reset(&mut self) {
        self.cache = Cache::default();
        self.abort_event();
        self.sql = None;
    }

    /// Drops durable entries while the cache is over its bound, down to half of it.
    fn trim(&mut self) {
        if self.cache.bytes <= self.limits.cache_bytes {
            return;
        }
        let durable = self.commit.durable.load(Ordering::SeqCst);
        if self.trimmed_at == (durable, self.cache.bytes) {
            return;
        }
        if self.cache.cleared != 0 && self.cache.cleared <= durable {
            // The delete-all is committed: the database now says the same.
            self.cache.cleared = 0;
        }
        if self.cache.cleared != 0 {
            self.trimmed_at = (durable, self.cache.bytes);
            return;
        }
        let target = self.limits.cache_bytes / 2;
        let mut drop = Vec::new();
        let mut bytes = self.cache.bytes;
        for (k, c) in &self.cache.entries {
            if bytes <= target {
                break;
            }
            if c.written <= durable {
                bytes -= k.len() + c.value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
                drop.push(k.clone());
            }
        }
        for k in drop {
            self.cache.entries.remove(&k);
        }
        self.cache.bytes = bytes;
        self.trimmed_at = (durable, bytes);
    }

    /// Opens a nested transaction within the running event: its writes (keys, delete-all, the
    /// alarm) can be undone alone by [`rollback_nested`](Self::rollback_nested). The event's
    /// own outcome still decides whether anything is kept.
    pub fn begin_nested(&mut self) -> Result<(), Refusal> {
        if self.nested.len() >= MAX_NESTED_TRANSACTIONS {
            return Err(Refusal::InvalidArgument(format!(
                "transactions are nested more than {MAX_NESTED_TRANSACTIONS} deep"
            )));
        }
        self.nested.push(Savepoint {
            event_bytes: self.event_bytes,
            ..Savepoint::default()
        });
        if let Some(sql) = &mut self.sql {
            sql.begin_nested(self.nested.len());
        }
        Ok(())
    }

    /// Closes the innermost nested transaction, keeping its writes in the event (and making
    /// them undoable by the enclosing transaction, if any).
    pub fn commit_nested(&mut self) -> Result<(), Refusal> {
        let depth = self.nested.len();
        let inner = self.nested.pop().ok_or_else(no_transaction)?;
        if let Some(sql) = &mut self.sql {
            sql.end_nested(depth, true);
        }
        if let Some(outer) = self.nested.last_mut() {
            for u in inner.undo {
                match &u {
                    Undo::Put(k, _) if outer.touched.contains(k) => continue,
                    Undo::Put(k, _) => {
                        outer.touched.insert(k.clone());
                    }
                    Undo::Alarm(_) if outer.alarm_touched => continue,
                    Undo::Alarm(_) => outer.alarm_touched = true,
                    Undo::Clear(..) => {}
                }
                outer.undo.push(u);
            }
        }
        Ok(())
    }

    /// Closes the innermost nested transaction, undoing every write made since it began.
    pub fn rollback_nested(&mut self) -> Result<(), Refusal> {
        let depth = self.nested.len();
        let sp = self.nested.pop().ok_or_else(no_transaction)?;
        if let Some(sql) = &mut self.sql {
            sql.end_nested(depth, false);
        }
        for u in sp.undo.into_iter().rev() {
            match u {
                Undo::Put(k, Some(prev)) => {
                    self.event.puts.insert(k, prev);
                }
                Undo::Put(k, None) => {
                    self.event.puts.remove(&k);
                }
                Undo::Clear(puts, cleared) => {
                    self.event.puts = puts;
                    self.event.cleared = cleared;
                }
                Undo::Alarm(prev) => self.event.alarm = prev,
            }
        }
        self.event_bytes = sp.event_bytes;
        Ok(())
    }

    fn check_key(&self, key: &str) -> Result<(), Refusal> {
        if key.len() > self.limits.max_key_bytes {
            return Err(Refusal::KeyTooLarge {
                len: key.len(),
                limit: self.limits.max_key_bytes,
            });
        }
        Ok(())
    }

    fn check_count(&self, count: usize) -> Result<(), Refusal> {
        if count > self.limits.max_keys_per_call {
            return Err(Refusal::TooManyKeys {
                count,
                limit: self.limits.max_keys_per_call,
            });
        }
        Ok(())
    }

    fn check_entry(&self, key: &str, value: &[u8]) -> Result<(), Refusal> {
        self.check_key(key)?;
        if self.limits.sql.enabled {
            // SQLite-backed: key and value together, as on Cloudflare.
            let len = key.len() + value.len();
            if len > self.limits.max_value_bytes {
                return Err(Refusal::EntryTooLarge {
                    key: key.chars().take(64).collect(),
                    len,
                    limit: self.limits.max_value_bytes,
                });
            }
            return Ok(());
        }
        if value.len() > self.limits.max_value_bytes {
            return Err(Refusal::ValueTooLarge {
                key: key.chars().take(64).collect(),
                len: value.len(),
                limit: self.limits.max_value_bytes,
            });
        }
        Ok(())
    }

    /// Refuses writing `entries` (key, value length) if the event's budget would be exceeded.
    /// Keys repeated within one call count once.
    fn check_budget<'k>(
        &self,
        entries: impl Iterator<Item = (&'k [u8], usize)>,
    ) -> Result<(), Refusal> {
        let mut bytes = self.event_bytes;
        let mut keys = self.event.puts.len();
        let mut seen: Vec<&[u8]> = Vec::new();
        for (k, len) in entries {
            if let Some(old) = self.event.puts.get(k) {
                bytes -= k.len() + old.as_ref().map_or(0, Vec::len);
            } else if !seen.contains(&k) {
                keys += 1;
                // Calls hold at most `max_keys_per_call` keys: a scan beats a hash set here,
                // and a one-key call allocates nothing.
                seen.push(k);
            }
            bytes += k.len() + len;
        }
        if bytes > self.limits.max_event_write_bytes {
            return Err(Refusal::EventBytes {
                bytes,
                limit: self.limits.max_event_write_bytes,
            });
        }
        if keys > self.limits.max_event_write_keys {
            return Err(Refusal::EventKeys {
                keys,
                limit: self.limits.max_event_write_keys,
            });
        }
        Ok(())
    }

    /// Writes one entry of the event (checked already), journaling it for nested rollback.
    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        if let Some(sp) = self.nested.last_mut()
            && sp.touched.insert(key.clone())
        {
            sp.undo
                .push(Undo::Put(key.clone(), self.event.puts.get(&key).cloned()));
        }
        let add = key.len() + value.as_ref().map_or(0, Vec::len);
        if let Some(old) = self.event.puts.insert(key.clone(), value) {
            self.event_bytes -= key.len() + old.as_ref().map_or(0, Vec::len);
        }
        self.event_bytes += add;
    }

    /// The current value of `key` (without limit checks).
    fn read(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.event.puts.get(key) {
            return Ok(v.clone());
        }
        if self.event.cleared {
            return Ok(None);
        }
        if let Some(c) = self.cache.entries.get(key) {
            let v = c.value.clone();
            self.trim();
            return Ok(v);
        }
        if self.cache.cleared != 0 {
            return Ok(None);
        }
        let v = self.db.get(&self.object, key)?;
        self.cache.insert(key.to_vec(), v.clone(), 0);
        self.trim();
        Ok(v)
    }

    pub fn get(&mut self, key: &str) -> CallResult<Option<Vec<u8>>> {
        if let Err(e) = self.check_key(key) {
            return Ok(Err(e));
        }
        self.read(key.as_bytes()).map(Ok)
    }

    pub fn get_many(&mut self, keys: &[String]) -> CallResult<Vec<Option<Vec<u8>>>> {
        if let Err(e) = self
            .check_count(keys.len())
            .and_then(|()| keys.iter().try_for_each(|k| self.check_key(k)))
        {
            return Ok(Err(e));
        }
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.read(k.as_bytes())?);
        }
        Ok(Ok(out))
    }

    pub fn put(&mut self, key: String, value: Vec<u8>) -> Result<(), Refusal> {
        self.check_entry(&key, &value)?;
        self.check_budget(std::iter::once((key.as_bytes(), value.len())))?;
        self.write(key.into_bytes(), Some(value));
        Ok(())
    }

    pub fn put_many(&mut self, entries: Vec<(String, Vec<u8>)>) -> Result<(), Refusal> {
        self.check_count(entries.len())?;
        for (k, v) in &entries {
            self.check_entry(k, v)?;
        }
        self.check_budget(entries.iter().map(|(k, v)| (k.as_bytes(), v.len())))?;
        for (k, v) in entries {
            self.write(k.into_bytes(), Some(v));
        }
        Ok(())
    }

    pub fn delete(&mut self, key: &str) -> CallResult<bool> {
        if let Err(e) = self
            .check_key(key)
            .and_then(|()| self.check_budget(std::iter::once((key.as_bytes(), 0))))
        {
            return Ok(Err(e));
        }
        let existed = self.read(key.as_bytes())?.is_some();
        self.write(key.as_bytes().to_vec(), None);
        Ok(Ok(existed))
    }

    pub fn delete_many(&mut self, keys: &[String]) -> CallResult<u32> {
        if let Err(e) = self
            .check_count(keys.len())
            .and_then(|()| keys.iter().try_for_each(|k| self.check_key(k)))
            .and_then(|()| self.check_budget(keys.iter().map(|k| (k.as_bytes(), 0))))
        {
            return Ok(Err(e));
        }
        let mut n = 0;
        for k in keys {
            if self.read(k.as_bytes())?.is_some() {
                n += 1;
            }
            self.write(k.as_bytes().to_vec(), None);
        }
        Ok(Ok(n))
    }

    /// Removes every key, and every table of the object's SQL database. The alarm is kept.
    pub fn delete_all(&mut self) -> Result<(), StoreError> {
        self.clear_sql()?;
        let puts = std::mem::take(&mut self.event.puts);
        let cleared = std::mem::replace(&mut self.event.cleared, true);
        if let Some(sp) = self.nested.last_mut() {
            sp.undo.push(Undo::Clear(puts, cleared));
            // Keys written after this point are undone by restoring the map.
            sp.touched.clear();
        }
        self.event_bytes = 0;
        Ok(())
    }

    pub fn get_alarm(&mut self) -> Result<Option<i64>, StoreError> {
        if let Some(a) = self.event.alarm {
            return Ok(a);
        }
        if let Some(a) = self.cache.alarm {
            return Ok(a);
        }
        let a = self.db.alarm(&self.object)?;
        self.cache.alarm = Some(a);
        Ok(a)
    }

    /// Whether the running event set or deleted the alarm.
    pub fn event_sets_alarm(&self) -> bool {
        self.event.alarm.is_some()
    }

    pub fn set_alarm(&mut self, at: Option<i64>) {
        if let Some(sp) = self.nested.last_mut()
            && !sp.alarm_touched
        {
            sp.alarm_touched = true;
            sp.undo.push(Undo::Alarm(self.event.alarm));
        }
        self.event.alarm = Some(at);
    }

    /// Records that the current alarm failed `retries` times (host bookkeeping, not a guest
    /// write: it never touches the event's budget or nested transactions).
    pub fn set_alarm_retries(&mut self, retries: u32) {
        self.event.alarm_retries = Some(retries);
    }

    /// Entries within the bounds of `opts`, merging the three layers (event over cache over
    /// committed), in key order or reverse.
    pub fn list(&mut self, opts: &ListOptions) -> CallResult<Vec<(String, Vec<u8>)>> {
        let range = match bounds(opts) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(Ok(Vec::new())),
            Err(e) => return Ok(Err(e)),
        };
        let limit = opts.limit.map_or(usize::MAX, |l| l as usize);
        if limit == 0 {
            return Ok(Ok(Vec::new()));
        }
        let lo = as_ref_bound(&range.0);
        let hi = as_ref_bound(&range.1);
        let reverse = opts.reverse;
        fn ordered<'a, I>(it: I, reverse: bool) -> Box<dyn Iterator<Item = Entry> + 'a>
        where
            I: DoubleEndedIterator<Item = Entry> + 'a,
        {
            if reverse {
                Box::new(it.rev())
            } else {
                Box::new(it)
            }
        }
        let read_db = !self.event.cleared && self.cache.cleared == 0;
        let mut committed =
            read_db.then(|| CommittedRows::new(&self.db, &self.object, &range, reverse));
        // Highest priority first.
        let mut layers: Vec<Box<dyn Iterator<Item = Entry> + '_>> = vec![ordered(
            self.event
                .puts
                .range::<[u8], _>((lo, hi))
                .map(|(k, v)| (k.clone(), v.clone())),
            reverse,
        )];
        if !self.event.cleared {
            layers.push(ordered(
                self.cache
                    .entries
                    .range::<[u8], _>((lo, hi))
                    .map(|(k, c)| (k.clone(), c.value.clone())),
                reverse,
            ));
        }
        if let Some(c) = committed.as_mut() {
            layers.push(Box::new(c.by_ref()));
        }
        let merged = merge(layers, reverse, limit, self.limits.max_list_bytes);
        if let Some(e) = committed.and_then(|c| c.error) {
            return Err(e);
        }
        Ok(merged)
    }
}

fn no_transaction() -> Refusal {
    Refusal::InvalidArgument("no transaction is open".into())
}

#[path = "view_sql.rs"]
mod sql_calls;

#[path = "view_history.rs"]
mod history_calls;

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
