//! What the inspector reads of committed state: the objects a namespace has stored something
//! for, and how much one object stores. Reads only; every call is one read transaction, and
//! every scan is bounded (a page of objects, a count of rows).

use std::ops::Bound;

use redb::{ReadableDatabase, ReadableTable};

use super::db::{ALARMS, Db, KV, NAMES};
use super::error::StoreError;
use super::key::{ObjectKey, successor};
use super::sql::schema::SQL_SIZE;
use crate::id::ObjectId;

/// Rows of `names` one name search looks at before it answers with what it found so far (and a
/// cursor to go on from).
pub const MAX_NAME_SCAN: usize = 10_000;
/// Rows of one object counted before its usage is reported as "at least".
pub const MAX_USAGE_ROWS: usize = 100_000;

/// One object that has something stored (a key, an alarm, a SQL database or a recorded name).
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub id: ObjectId,
    pub name: Option<String>,
}

/// A page of objects in ID order, and where the next page starts (`None`: no more).
#[derive(Debug, Clone, Default)]
pub struct ObjectPage {
    pub objects: Vec<StoredObject>,
    pub next: Option<ObjectId>,
}

/// How much one object stores (committed state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub kv_keys: u64,
    /// Bytes of its keys and values.
    pub kv_bytes: u64,
    /// False if the count stopped at [`MAX_USAGE_ROWS`] (the figures are then a lower bound).
    pub complete: bool,
    /// Bytes of its SQL database file (0: none).
    pub sql_bytes: u64,
    /// Its alarm (ms since the epoch), if set.
    pub alarm: Option<i64>,
}

/// The row prefix of a namespace, and the first row past it.
fn namespace_range(namespace: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    let ns = namespace.as_bytes();
    let mut prefix = Vec::with_capacity(1 + ns.len());
    prefix.push(ns.len() as u8);
    prefix.extend_from_slice(ns);
    let end = successor(&prefix);
    (prefix, end)
}

/// The first object key of a table whose rows start with object keys, at or after `from` and
/// before `end`.
fn first_object<V: redb::Value + 'static>(
    table: &impl ReadableTable<&'static [u8], V>,
    from: &[u8],
    end: Option<&[u8]>,
    key_len: usize,
) -> Result<Option<Vec<u8>>, StoreError> {
    let upper = match end {
        Some(e) => Bound::Excluded(e),
        None => Bound::Unbounded,
    };
    let mut range = table.range::<&[u8]>((Bound::Included(from), upper))?;
    match range.next() {
        Some(item) => {
            let (k, _) = item?;
            let row = k.value();
            Ok((row.len() >= key_len).then(|| row[..key_len].to_vec()))
        }
        None => Ok(None),
    }
}

impl Db {
    /// The objects of `namespace` with anything stored, in ID order, after `after`, at most
    /// `limit`.
    pub fn objects(
        &self,
        namespace: &str,
        after: Option<&ObjectId>,
        limit: usize,
    ) -> Result<ObjectPage, StoreError> {
        let tx = self.database()?.begin_read()?;
        let kv = tx.open_table(KV)?;
        let names = tx.open_table(NAMES)?;
        let alarms = tx.open_table(ALARMS)?;
        let sql = tx.open_table(SQL_SIZE)?;
        let (prefix, end) = namespace_range(namespace);
        let key_len = prefix.len() + 32;
        let mut from = match after {
            Some(id) => match successor(ObjectKey::new(namespace, id).as_bytes()) {
                Some(s) => s,
                None => return Ok(ObjectPage::default()),
            },
            None => prefix,
        };
        let mut objects = Vec::new();
        while objects.len() < limit {
            let end = end.as_deref();
            let candidates = [
                first_object(&kv, &from, end, key_len)?,
                first_object(&names, &from, end, key_len)?,
                first_object(&alarms, &from, end, key_len)?,
                first_object(&sql, &from, end, key_len)?,
            ];
            let Some(next) = candidates.into_iter().flatten().min() else {
                return Ok(ObjectPage {
                    objects,
                    next: None,
                });
            };
            let Some(key) = ObjectKey::from_stored(&next) else {
                break;
            };
            let name = names.get(key.as_bytes())?.map(|v| v.value().to_owned());
            objects.push(StoredObject {
                id: key.parts().1,
                name,
            });
            match successor(&next) {
                Some(s) => from = s,
                None => break,
            }
        }
        let next = objects.last().map(|o| o.id);
        Ok(ObjectPage { objects, next })
    }

    /// The objects of `namespace` whose recorded name starts with `prefix`, in ID order, after
    /// `after`: at most `limit`, looking at no more than [`MAX_NAME_SCAN`] names (then `next`
    /// says where to go on, even if the page is short).
    pub fn objects_named(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&ObjectId>,
        limit: usize,
    ) -> Result<ObjectPage, StoreError> {
        let tx = self.database()?.begin_read()?;
        let names = tx.open_table(NAMES)?;
        let (ns_prefix, end) = namespace_range(namespace);
        let lower = match after {
            Some(id) => Bound::Excluded(ObjectKey::new(namespace, id).as_bytes().to_vec()),
            None => Bound::Included(ns_prefix),
        };
        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
        let bounds = (
            lower.as_ref().map(Vec::as_slice),
            upper.as_ref().map(Vec::as_slice),
        );
        let mut objects = Vec::new();
        let mut scanned = 0;
        for item in names.range::<&[u8]>(bounds)? {
            let (k, v) = item?;
            let Some(key) = ObjectKey::from_stored(k.value()) else {
                continue;
            };
            let id = key.parts().1;
            scanned += 1;
            if v.value().starts_with(prefix) {
                objects.push(StoredObject {
                    id,
                    name: Some(v.value().to_owned()),
                });
            }
            if objects.len() >= limit || scanned >= MAX_NAME_SCAN {
                return Ok(ObjectPage {
                    objects,
                    next: Some(id),
                });
            }
        }
        Ok(ObjectPage {
            objects,
            next: None,
        })
    }

    /// How much `obj` stores, and its alarm (one snapshot).
    pub fn usage(&self, obj: &ObjectKey) -> Result<Usage, StoreError> {
        let tx = self.database()?.begin_read()?;
        let kv = tx.open_table(KV)?;
        let sql = tx.open_table(SQL_SIZE)?;
        let alarms = tx.open_table(ALARMS)?;
        let lo = obj.row_lower(Bound::Unbounded);
        let hi = obj.row_upper(Bound::Unbounded);
        let bounds = (
            lo.as_ref().map(Vec::as_slice),
            hi.as_ref().map(Vec::as_slice),
        );
        let prefix = obj.as_bytes().len() as u64;
        let mut usage = Usage {
            kv_keys: 0,
            kv_bytes: 0,
            complete: true,
            sql_bytes: sql.get(obj.as_bytes())?.map_or(0, |v| v.value()),
            alarm: alarms.get(obj.as_bytes())?.map(|v| v.value()),
        };
        for item in kv.range::<&[u8]>(bounds)? {
            if usage.kv_keys as usize >= MAX_USAGE_ROWS {
                usage.complete = false;
                break;
            }
            let (k, v) = item?;
            usage.kv_keys += 1;
            usage.kv_bytes += k.value().len() as u64 - prefix + v.value().len() as u64;
        }
        Ok(usage)
    }
}
