//! The redb schema and the committed-state reads and writes.
//!
//! One database file holds every object. An object's rows are keyed by its *prefix*
//! (`[namespace length][namespace][32-byte id]`), so one object's keys are one contiguous range,
//! in the byte order of the user keys, and no key of one object can ever fall into another's
//! range (the prefix has a fixed shape per namespace and the namespace length is part of it).
//!
//! Tables:
//! - `kv`: prefix ++ user key → value
//! - `alarms`: prefix → scheduled time (ms since the Unix epoch)
//! - `alarm_index`: (scheduled time, prefix) → () — due alarms in time order
//! - `names`: prefix → the name the ID was derived from
//! - `meta`: "secret/{namespace}" → the namespace's 32-byte ID secret

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use crate::id::ObjectId;

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const ALARMS: TableDefinition<&[u8], i64> = TableDefinition::new("alarms");
const ALARM_INDEX: TableDefinition<(i64, &[u8]), ()> = TableDefinition::new("alarm_index");
const NAMES: TableDefinition<&[u8], &str> = TableDefinition::new("names");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// A failure of the database itself (I/O, corruption). Never caused by a guest's input.
#[derive(Debug, thiserror::Error)]
#[error("storage failure: {0}")]
pub struct DbError(String);

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for DbError {
            fn from(e: $t) -> Self { DbError(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The bytes that address one object's rows.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ObjectKey(Arc<[u8]>);

impl ObjectKey {
    pub fn new(namespace: &str, id: &ObjectId) -> Self {
        let ns = namespace.as_bytes();
        assert!(ns.len() < 256, "namespace names are validated to be short");
        let mut v = Vec::with_capacity(1 + ns.len() + 32);
        v.push(ns.len() as u8);
        v.extend_from_slice(ns);
        v.extend_from_slice(id.as_bytes());
        ObjectKey(v.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The namespace and ID this key was made from.
    pub fn parts(&self) -> (&str, ObjectId) {
        let n = self.0[0] as usize;
        let ns = std::str::from_utf8(&self.0[1..1 + n]).unwrap_or("");
        let mut id = [0u8; 32];
        id.copy_from_slice(&self.0[1 + n..]);
        (ns, ObjectId::from_bytes(id))
    }

    fn row(&self, key: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.0.len() + key.len());
        v.extend_from_slice(&self.0);
        v.extend_from_slice(key);
        v
    }

    /// The row bound for a user-key bound.
    fn row_bound(&self, b: Bound<&[u8]>) -> Bound<Vec<u8>> {
        match b {
            Bound::Included(k) => Bound::Included(self.row(k)),
            Bound::Excluded(k) => Bound::Excluded(self.row(k)),
            Bound::Unbounded => Bound::Included(self.row(b"")),
        }
    }

    /// The upper row bound for a user-key upper bound (unbounded = end of this object's range).
    fn row_upper(&self, b: Bound<&[u8]>) -> Bound<Vec<u8>> {
        match b {
            Bound::Unbounded => match successor(&self.0) {
                Some(s) => Bound::Excluded(s),
                None => Bound::Unbounded,
            },
            other => self.row_bound(other),
        }
    }
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
pub fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut v = prefix.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// Everything one event (or a run of events) changed for one object, applied in one go.
#[derive(Debug, Default, Clone)]
pub struct WriteSet {
    /// delete-all ran: every stored key of the object goes before `puts` apply.
    pub cleared: bool,
    /// Key → new value, or `None` for a delete. Byte-ordered keys (UTF-8 strings).
    pub puts: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// `Some(Some(t))` sets the alarm, `Some(None)` deletes it.
    pub alarm: Option<Option<i64>>,
    /// Record the name of the object (first write of an activation addressed by name).
    pub name: Option<String>,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        !self.cleared && self.puts.is_empty() && self.alarm.is_none() && self.name.is_none()
    }
}

/// The database: committed state, shared by every object.
#[derive(Clone, Debug)]
pub struct Db {
    db: Arc<Database>,
}

impl Db {
    /// Opens (or creates) the database file and its tables.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let db = Database::builder().create(path)?;
        let tx = db.begin_write()?;
        {
            tx.open_table(KV)?;
            tx.open_table(ALARMS)?;
            tx.open_table(ALARM_INDEX)?;
            tx.open_table(NAMES)?;
            tx.open_table(META)?;
        }
        tx.commit()?;
        Ok(Db { db: Arc::new(db) })
    }

    /// The namespace's ID secret, created on first use and kept forever.
    pub fn namespace_secret(&self, namespace: &str) -> Result<[u8; 32], DbError> {
        let key = format!("secret/{namespace}");
        let tx = self.db.begin_write()?;
        let secret = {
            let mut t = tx.open_table(META)?;
            let existing = t.get(key.as_str())?.map(|v| v.value().to_vec());
            match existing {
                Some(v) if v.len() == 32 => v.try_into().expect("length checked"),
                _ => {
                    let s: [u8; 32] = rand::random();
                    t.insert(key.as_str(), s.as_slice())?;
                    s
                }
            }
        };
        tx.commit()?;
        Ok(secret)
    }

    /// The committed value of one key.
    pub fn get(&self, obj: &ObjectKey, key: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(KV)?;
        Ok(t.get(obj.row(key).as_slice())?.map(|v| v.value().to_vec()))
    }

    /// Calls `f` with committed entries of `obj` within the user-key bounds, in order (or reverse
    /// order), until it returns false.
    pub fn scan(
        &self,
        obj: &ObjectKey,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        mut f: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), DbError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(KV)?;
        let lo = obj.row_bound(lower);
        let hi = obj.row_upper(upper);
        let bounds = (
            lo.as_ref().map(|v| v.as_slice()),
            hi.as_ref().map(|v| v.as_slice()),
        );
        let range = t.range::<&[u8]>(bounds)?;
        let n = obj.as_bytes().len();
        type Item<'a> = (
            redb::AccessGuard<'a, &'static [u8]>,
            redb::AccessGuard<'a, &'static [u8]>,
        );
        let mut visit = |item: Result<Item<'_>, redb::StorageError>| {
            item.map(|(k, v)| f(&k.value()[n..], v.value()))
        };
        if reverse {
            for item in range.rev() {
                if !visit(item)? {
                    break;
                }
            }
        } else {
            for item in range {
                if !visit(item)? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The committed alarm time of `obj`.
    pub fn alarm(&self, obj: &ObjectKey) -> Result<Option<i64>, DbError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ALARMS)?;
        Ok(t.get(obj.as_bytes())?.map(|v| v.value()))
    }

    /// The recorded name of `obj`.
    pub fn name(&self, obj: &ObjectKey) -> Result<Option<String>, DbError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(NAMES)?;
        Ok(t.get(obj.as_bytes())?.map(|v| v.value().to_owned()))
    }

    /// Alarms due at or before `now_ms`, earliest first, at most `limit`.
    pub fn due_alarms(&self, now_ms: i64, limit: usize) -> Result<Vec<(i64, ObjectKey)>, DbError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ALARM_INDEX)?;
        let mut out = Vec::new();
        for item in t.range::<(i64, &[u8])>(..)?.take(limit) {
            let (k, _) = item?;
            let (time, obj) = k.value();
            if time > now_ms {
                break;
            }
            out.push((time, ObjectKey(obj.into())));
        }
        Ok(out)
    }

    /// The earliest alarm time of any object.
    pub fn next_alarm(&self) -> Result<Option<i64>, DbError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ALARM_INDEX)?;
        Ok(t.first()?.map(|(k, _)| k.value().0))
    }

    pub(crate) fn begin_write(&self) -> Result<WriteTransaction, DbError> {
        Ok(self.db.begin_write()?)
    }
}

/// Applies one object's write set inside a write transaction.
pub(crate) fn apply(tx: &WriteTransaction, obj: &ObjectKey, ws: &WriteSet) -> Result<(), DbError> {
    if ws.cleared || !ws.puts.is_empty() {
        let mut kv = tx.open_table(KV)?;
        if ws.cleared {
            let lo = obj.row(b"");
            match successor(obj.as_bytes()) {
                Some(hi) => kv.retain_in::<&[u8], _>(lo.as_slice()..hi.as_slice(), |_, _| false)?,
                None => kv.retain_in::<&[u8], _>(lo.as_slice().., |_, _| false)?,
            }
        }
        for (k, v) in &ws.puts {
            let row = obj.row(k);
            match v {
                Some(v) => {
                    kv.insert(row.as_slice(), v.as_slice())?;
                }
                None => {
                    kv.remove(row.as_slice())?;
                }
            }
        }
    }
    if let Some(alarm) = ws.alarm {
        let mut alarms = tx.open_table(ALARMS)?;
        let mut index = tx.open_table(ALARM_INDEX)?;
        let old = alarms.get(obj.as_bytes())?.map(|v| v.value());
        if let Some(old) = old {
            index.remove((old, obj.as_bytes()))?;
        }
        match alarm {
            Some(t) => {
                alarms.insert(obj.as_bytes(), t)?;
                index.insert((t, obj.as_bytes()), ())?;
            }
            None => {
                alarms.remove(obj.as_bytes())?;
            }
        }
    }
    if let Some(name) = &ws.name {
        let mut names = tx.open_table(NAMES)?;
        names.insert(obj.as_bytes(), name.as_str())?;
    }
    Ok(())
}
