//! One object's view of its storage: committed state, overlaid with what this activation has
//! written (possibly not yet durable), overlaid with the running event's own writes.
//!
//! The object is the only writer of its keys, so every key it has read or written stays valid in
//! its cache for the whole activation: reads after the first one never touch the database. The
//! running event's writes stay in a separate write set until the event succeeds; then they fold
//! into the cache and go to the committer. A failed event just drops its write set.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::config::Limits;
use crate::storage::{Db, DbError, ObjectKey, WriteSet, successor};

/// Why a storage call was refused (the guest gets it as a `storage-error` value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("key is {len} bytes, over the limit of {limit} bytes")]
    KeyTooLarge { len: usize, limit: usize },
    #[error("value of key `{key}` is {len} bytes, over the limit of {limit} bytes")]
    ValueTooLarge {
        key: String,
        len: usize,
        limit: usize,
    },
    #[error("{count} keys in one call, over the limit of {limit}")]
    TooManyKeys { count: usize, limit: usize },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// The result of a storage call: the outer error is a database failure (the host traps the
/// guest), the inner one a refused call (the guest gets it as a value).
pub type Outcome<T> = Result<Result<T, StorageError>, DbError>;

/// Sorted (key, value-or-deleted) pairs of one layer of the merge in `list`.
type Layer = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Lower and upper key bounds.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Options of `list`, as in the contract.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub start: Option<String>,
    pub start_after: Option<String>,
    pub end: Option<String>,
    pub prefix: Option<String>,
    pub reverse: bool,
    pub limit: Option<u32>,
}

/// Cached state of one activation: every key known, with `None` for known-absent.
#[derive(Debug, Default)]
struct Cache {
    /// Known keys (committed or written by this activation).
    entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// delete-all ran in this activation: keys not in `entries` are absent.
    cleared: bool,
    /// The alarm, once read or written.
    alarm: Option<Option<i64>>,
}

/// An object's storage for the length of one activation.
#[derive(Debug)]
pub struct ObjectStorage {
    db: Db,
    object: ObjectKey,
    limits: Limits,
    cache: Cache,
    /// Writes of the running event.
    event: WriteSet,
    /// The running event's write set as it was when each open nested transaction began,
    /// innermost last. Emptied when the event ends, whatever its outcome.
    nested: Vec<WriteSet>,
}

/// How deep nested transactions may go; deeper is a guest bug, refused with an error.
pub const MAX_NESTED_TRANSACTIONS: usize = 64;

impl ObjectStorage {
    pub fn new(db: Db, object: ObjectKey, limits: Limits) -> Self {
        ObjectStorage {
            db,
            object,
            limits,
            cache: Cache::default(),
            event: WriteSet::default(),
            nested: Vec::new(),
        }
    }

    pub fn object(&self) -> &ObjectKey {
        &self.object
    }

    /// Ends the running event successfully: its writes become part of the cached state and are
    /// returned for the committer (`None` if it wrote nothing).
    pub fn finish_event(&mut self) -> Option<WriteSet> {
        self.nested.clear();
        let ws = std::mem::take(&mut self.event);
        if ws.is_empty() {
            return None;
        }
        if ws.cleared {
            self.cache.cleared = true;
            self.cache.entries.clear();
        }
        for (k, v) in &ws.puts {
            self.cache.entries.insert(k.clone(), v.clone());
        }
        if ws.alarm.is_some() {
            self.cache.alarm = ws.alarm;
        }
        Some(ws)
    }

    /// Ends the running event with failure: none of its writes are kept.
    pub fn abort_event(&mut self) {
        self.event = WriteSet::default();
        self.nested.clear();
    }

    /// Forgets every cached value (after a failed commit: the cache held lost writes).
    pub fn reset(&mut self) {
        self.cache = Cache::default();
        self.event = WriteSet::default();
        self.nested.clear();
    }

    /// Opens a nested transaction within the running event: its writes (keys, delete-all, the
    /// alarm) can be undone alone by [`rollback_nested`](Self::rollback_nested). The event's
    /// own outcome still decides whether anything is kept.
    pub fn begin_nested(&mut self) -> Result<(), StorageError> {
        if self.nested.len() >= MAX_NESTED_TRANSACTIONS {
            return Err(StorageError::InvalidArgument(format!(
                "transactions are nested more than {MAX_NESTED_TRANSACTIONS} deep"
            )));
        }
        self.nested.push(self.event.clone());
        Ok(())
    }

    /// Closes the innermost nested transaction, keeping its writes in the event.
    pub fn commit_nested(&mut self) -> Result<(), StorageError> {
        self.nested.pop().map(drop).ok_or_else(no_transaction)
    }

    /// Closes the innermost nested transaction, undoing every write made since it began.
    pub fn rollback_nested(&mut self) -> Result<(), StorageError> {
        self.event = self.nested.pop().ok_or_else(no_transaction)?;
        Ok(())
    }

    /// Records the object's name with the next write.
    pub fn record_name(&mut self, name: String) {
        self.event.name = Some(name);
    }

    fn check_key(&self, key: &str) -> Result<(), StorageError> {
        if key.len() > self.limits.max_key_bytes {
            return Err(StorageError::KeyTooLarge {
                len: key.len(),
                limit: self.limits.max_key_bytes,
            });
        }
        Ok(())
    }

    fn check_count(&self, count: usize) -> Result<(), StorageError> {
        if count > self.limits.max_keys_per_call {
            return Err(StorageError::TooManyKeys {
                count,
                limit: self.limits.max_keys_per_call,
            });
        }
        Ok(())
    }

    fn check_entry(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.check_key(key)?;
        if value.len() > self.limits.max_value_bytes {
            return Err(StorageError::ValueTooLarge {
                key: key.chars().take(64).collect(),
                len: value.len(),
                limit: self.limits.max_value_bytes,
            });
        }
        Ok(())
    }

    /// The current value of `key` (without limit checks).
    fn read(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        if let Some(v) = self.event.puts.get(key) {
            return Ok(v.clone());
        }
        if self.event.cleared {
            return Ok(None);
        }
        if let Some(v) = self.cache.entries.get(key) {
            return Ok(v.clone());
        }
        if self.cache.cleared {
            return Ok(None);
        }
        let v = self.db.get(&self.object, key)?;
        self.cache.entries.insert(key.to_vec(), v.clone());
        Ok(v)
    }

    pub fn get(&mut self, key: &str) -> Outcome<Option<Vec<u8>>> {
        if let Err(e) = self.check_key(key) {
            return Ok(Err(e));
        }
        self.read(key.as_bytes()).map(Ok)
    }

    pub fn get_many(&mut self, keys: &[String]) -> Outcome<Vec<Option<Vec<u8>>>> {
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

    pub fn put(&mut self, key: String, value: Vec<u8>) -> Result<(), StorageError> {
        self.check_entry(&key, &value)?;
        self.event.puts.insert(key.into_bytes(), Some(value));
        Ok(())
    }

    pub fn put_many(&mut self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StorageError> {
        self.check_count(entries.len())?;
        for (k, v) in &entries {
            self.check_entry(k, v)?;
        }
        for (k, v) in entries {
            self.event.puts.insert(k.into_bytes(), Some(v));
        }
        Ok(())
    }

    pub fn delete(&mut self, key: &str) -> Outcome<bool> {
        if let Err(e) = self.check_key(key) {
            return Ok(Err(e));
        }
        let existed = self.read(key.as_bytes())?.is_some();
        self.event.puts.insert(key.as_bytes().to_vec(), None);
        Ok(Ok(existed))
    }

    pub fn delete_many(&mut self, keys: &[String]) -> Outcome<u32> {
        if let Err(e) = self
            .check_count(keys.len())
            .and_then(|()| keys.iter().try_for_each(|k| self.check_key(k)))
        {
            return Ok(Err(e));
        }
        let mut n = 0;
        for k in keys {
            if self.read(k.as_bytes())?.is_some() {
                n += 1;
            }
            self.event.puts.insert(k.as_bytes().to_vec(), None);
        }
        Ok(Ok(n))
    }

    pub fn delete_all(&mut self) {
        self.event.cleared = true;
        self.event.puts.clear();
    }

    pub fn get_alarm(&mut self) -> Result<Option<i64>, DbError> {
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
        self.event.alarm = Some(at);
    }

    /// Entries within the bounds of `opts`, merging the three layers (event over cache over
    /// committed), in key order or reverse.
    pub fn list(&mut self, opts: &ListOptions) -> Outcome<Vec<(String, Vec<u8>)>> {
        let (lower, upper) = match bounds(opts) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(Ok(Vec::new())),
            Err(e) => return Ok(Err(e)),
        };
        let limit = opts.limit.map_or(usize::MAX, |l| l as usize);
        if limit == 0 {
            return Ok(Ok(Vec::new()));
        }
        let lo = as_ref_bound(&lower);
        let hi = as_ref_bound(&upper);
        let layer = |m: &BTreeMap<Vec<u8>, Option<Vec<u8>>>| -> Layer {
            let it = m
                .range::<[u8], _>((lo, hi))
                .map(|(k, v)| (k.clone(), v.clone()));
            if opts.reverse {
                it.rev().collect()
            } else {
                it.collect()
            }
        };
        // Highest priority first.
        let mut layers = vec![layer(&self.event.puts)];
        if !self.event.cleared {
            layers.push(layer(&self.cache.entries));
        }
        let read_db = !self.event.cleared && !self.cache.cleared;
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        if read_db {
            // Overlay entries can hide or replace committed ones, so read enough committed rows
            // to fill `limit` after the overlay's deletions.
            let hidden = layers.iter().map(Vec::len).sum::<usize>();
            let want = limit.saturating_add(hidden);
            let mut committed: Layer = Vec::new();
            self.db.scan(&self.object, lo, hi, opts.reverse, |k, v| {
                committed.push((k.to_vec(), Some(v.to_vec())));
                committed.len() < want
            })?;
            layers.push(committed);
        }
        merge(layers, opts.reverse, limit, &mut out);
        Ok(Ok(out))
    }
}

fn no_transaction() -> StorageError {
    StorageError::InvalidArgument("no transaction is open".into())
}

fn as_ref_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The key bounds of `opts`; `Ok(None)` when the range is empty.
fn bounds(opts: &ListOptions) -> Result<Option<KeyRange>, StorageError> {
    if opts.start.is_some() && opts.start_after.is_some() {
        return Err(StorageError::InvalidArgument(
            "`start` and `start-after` cannot both be set".into(),
        ));
    }
    let mut lower: Bound<Vec<u8>> = match (&opts.start, &opts.start_after) {
        (Some(s), _) => Bound::Included(s.as_bytes().to_vec()),
        (_, Some(s)) => Bound::Excluded(s.as_bytes().to_vec()),
        _ => Bound::Unbounded,
    };
    let mut upper: Bound<Vec<u8>> = match &opts.end {
        Some(e) => Bound::Excluded(e.as_bytes().to_vec()),
        None => Bound::Unbounded,
    };
    if let Some(p) = &opts.prefix {
        let p = p.as_bytes().to_vec();
        let raise = match &lower {
            Bound::Unbounded => true,
            Bound::Included(l) | Bound::Excluded(l) => l < &p,
        };
        if raise {
            lower = Bound::Included(p.clone());
        }
        if let Some(s) = successor(&p) {
            let lower_it = match &upper {
                Bound::Unbounded => true,
                Bound::Excluded(u) | Bound::Included(u) => &s < u,
            };
            if lower_it {
                upper = Bound::Excluded(s);
            }
        }
    }
    let empty = match (&lower, &upper) {
        (Bound::Included(l), Bound::Excluded(u)) => l >= u,
        (Bound::Excluded(l), Bound::Excluded(u)) => l >= u,
        _ => false,
    };
    Ok(if empty { None } else { Some((lower, upper)) })
}

/// Merges sorted layers (highest priority first); the first layer holding a key decides its
/// value, `None` hides it.
fn merge(layers: Vec<Layer>, reverse: bool, limit: usize, out: &mut Vec<(String, Vec<u8>)>) {
    let mut iters: Vec<_> = layers
        .into_iter()
        .map(|l| l.into_iter().peekable())
        .collect();
    while out.len() < limit {
        let next_key = iters
            .iter_mut()
            .filter_map(|it| it.peek().map(|(k, _)| k.clone()))
            .reduce(|a, b| if (b < a) != reverse { b } else { a });
        let Some(key) = next_key else { break };
        let mut value: Option<Option<Vec<u8>>> = None;
        for it in iters.iter_mut() {
            if it.peek().is_some_and(|(k, _)| *k == key) {
                let (_, v) = it.next().expect("peeked");
                if value.is_none() {
                    value = Some(v);
                }
            }
        }
        if let Some(Some(v)) = value {
            let key = String::from_utf8(key).expect("keys are written from strings");
            out.push((key, v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ListOptions {
        ListOptions::default()
    }

    #[test]
    fn prefix_bounds_handle_0xff_and_combine_with_start_and_end() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
        let o = ListOptions {
            prefix: Some("b".into()),
            start: Some("a".into()),
            ..opts()
        };
        assert_eq!(
            bounds(&o).unwrap(),
            Some((
                Bound::Included(b"b".to_vec()),
                Bound::Excluded(b"c".to_vec())
            ))
        );
        let o = ListOptions {
            prefix: Some("b".into()),
            end: Some("ba".into()),
            ..opts()
        };
        assert_eq!(
            bounds(&o).unwrap(),
            Some((
                Bound::Included(b"b".to_vec()),
                Bound::Excluded(b"ba".to_vec())
            ))
        );
    }

    #[test]
    fn empty_and_contradictory_ranges() {
        let o = ListOptions {
            start: Some("b".into()),
            end: Some("a".into()),
            ..opts()
        };
        assert_eq!(bounds(&o).unwrap(), None);
        let o = ListOptions {
            start_after: Some("a".into()),
            end: Some("a".into()),
            ..opts()
        };
        assert_eq!(bounds(&o).unwrap(), None);
        let o = ListOptions {
            prefix: Some("b".into()),
            end: Some("a".into()),
            ..opts()
        };
        assert_eq!(bounds(&o).unwrap(), None);
        let o = ListOptions {
            start: Some("a".into()),
            start_after: Some("a".into()),
            ..opts()
        };
        assert!(matches!(bounds(&o), Err(StorageError::InvalidArgument(_))));
    }

    #[test]
    fn merge_prefers_upper_layers_and_hides_deletions() {
        let l = |v: &[(&str, Option<&str>)]| -> Layer {
            v.iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
                .collect()
        };
        let event = l(&[("b", None), ("c", Some("event"))]);
        let cache = l(&[("a", Some("cache")), ("c", Some("old"))]);
        let db = l(&[("a", Some("db")), ("b", Some("db")), ("d", Some("db"))]);
        let mut out = Vec::new();
        merge(vec![event, cache, db], false, usize::MAX, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", &b"cache"[..]),
                ("c", &b"event"[..]),
                ("d", &b"db"[..])
            ]
        );
    }
}
