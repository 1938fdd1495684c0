//! Namespace migrations: moving every object of one namespace to another (a renamed class)
//! and removing a namespace's storage (a deleted class), each migration in one durable redb
//! transaction together with the record of its tag, so a migration is applied wholly or not at
//! all, and once.
//!
//! Meta keys: `migration/{tag}` → the time it was applied (ms since the epoch, as 8 bytes);
//! `schema/namespaces` → present once storage is keyed by namespace (the class) rather than by
//! binding, as before (see [`Db::key_by_namespace`]).

use std::collections::{BTreeSet, HashSet};

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::db::{ALARM_INDEX, ALARM_RETRIES, ALARMS, Db, KV, META, NAMES};
use super::error::StoreError;
use super::key::successor;
use super::sql::schema::{SQL_PAGES, SQL_SIZE};

const SCHEMA: &str = "schema/namespaces";

/// Why a migration could not be applied. Nothing of it was.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "migration `{tag}` renames class `{from}` to `{to}`, but `{to}` already has stored objects: delete them in an earlier migration or choose another name"
    )]
    TargetExists {
        tag: String,
        from: String,
        to: String,
    },
    #[error("migration `{tag}` could not be applied: {source}")]
    Store { tag: String, source: StoreError },
}

/// What one migration did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Objects moved by renames.
    pub moved: usize,
    /// Objects whose storage was removed.
    pub deleted: usize,
}

impl Db {
    /// The tags of the migrations applied so far.
    pub fn applied_migrations(&self) -> Result<HashSet<String>, StoreError> {
        let tx = self.database()?.begin_read()?;
        let t = tx.open_table(META)?;
        let mut out = HashSet::new();
        for item in t.range("migration/".."migration0")? {
            let (k, _) = item?;
            out.insert(k.value()["migration/".len()..].to_owned());
        }
        Ok(out)
    }

    /// Applies one migration and records its tag, in one transaction. A rename whose source has
    /// no storage moves nothing; one whose target has storage is refused.
    pub fn apply_migration(
        &self,
        tag: &str,
        renames: &[(String, String)],
        deletes: &[String],
    ) -> Result<MigrationReport, MigrationError> {
        let store = |source: StoreError| MigrationError::Store {
            tag: tag.to_owned(),
            source,
        };
        let tx = self.begin_write().map_err(store)?;
        let mut report = MigrationReport::default();
        for (from, to) in renames {
            if has_storage(&tx, to).map_err(store)? {
                return Err(MigrationError::TargetExists {
                    tag: tag.to_owned(),
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            report.moved += relocate(&tx, from, Some(to)).map_err(store)?;
        }
        for ns in deletes {
            report.deleted += relocate(&tx, ns, None).map_err(store)?;
        }
        (|| -> Result<(), StoreError> {
            let mut meta = tx.open_table(META)?;
            let at = super::clock::now_ms().to_le_bytes();
            meta.insert(format!("migration/{tag}").as_str(), at.as_slice())?;
            Ok(())
        })()
        .map_err(store)?;
        tx.commit().map_err(|e| store(e.into()))?;
        Ok(report)
    }

    /// The one-time move from storage keyed by binding (before namespaces were classes) to
    /// storage keyed by namespace: for each `(binding, namespace)` of the config that differ,
    /// the binding's objects move to the namespace, unless it has storage already. A database
    /// created keyed by namespace is only marked. Returns the moves made.
    pub fn key_by_namespace(
        &self,
        classes: &[(String, String)],
    ) -> Result<Vec<(String, String, usize)>, StoreError> {
        let tx = self.begin_write()?;
        let mut moves = Vec::new();
        let marked = tx.open_table(META)?.get(SCHEMA)?.is_some();
        if !marked {
            for (binding, namespace) in classes {
                if binding != namespace
                    && has_storage(&tx, binding)?
                    && !has_storage(&tx, namespace)?
                {
                    let n = relocate(&tx, binding, Some(namespace))?;
                    moves.push((binding.clone(), namespace.clone(), n));
                }
            }
            tx.open_table(META)?.insert(SCHEMA, [1u8].as_slice())?;
            tx.commit()?;
        } else {
            tx.abort()?;
        }
        Ok(moves)
    }
}

/// The first bytes of every row key of `namespace` (see `ObjectKey`).
fn prefix(namespace: &str) -> Vec<u8> {
    let ns = namespace.as_bytes();
    let mut v = Vec::with_capacity(1 + ns.len());
    v.push(ns.len() as u8);
    v.extend_from_slice(ns);
    v
}

fn has_storage(tx: &WriteTransaction, namespace: &str) -> Result<bool, StoreError> {
    let t = tx.open_table(META)?;
    Ok(t.get(format!("secret/{namespace}").as_str())?.is_some())
}

/// Moves every row of `from` under `to` (or removes them with `None`), with the ID secret, so
/// that the objects' IDs stay valid. Returns how many objects had rows.
fn relocate(tx: &WriteTransaction, from: &str, to: Option<&str>) -> Result<usize, StoreError> {
    let (old, new) = (prefix(from), to.map(prefix));
    let end = successor(&old);
    let moved = |k: &[u8]| {
        new.as_ref()
            .map(|n| [n.as_slice(), &k[old.len()..]].concat())
    };
    let mut objects = BTreeSet::new();
    let id_of = |k: &[u8]| k[old.len()..(old.len() + 32).min(k.len())].to_vec();
    for table in [KV, SQL_PAGES] {
        let mut t = tx.open_table(table)?;
        let rows: Rows = range(&t, &old, end.as_deref())?;
        for (k, v) in rows {
            objects.insert(id_of(&k));
            t.remove(k.as_slice())?;
            if let Some(nk) = moved(&k) {
                t.insert(nk.as_slice(), v.as_slice())?;
            }
        }
    }
    {
        let mut t = tx.open_table(SQL_SIZE)?;
        let mut rows = Vec::new();
        for item in bounded(&t, &old, end.as_deref())? {
            let (k, v) = item?;
            rows.push((k.value().to_vec(), v.value()));
        }
        for (k, v) in rows {
            objects.insert(id_of(&k));
            t.remove(k.as_slice())?;
            if let Some(nk) = moved(&k) {
                t.insert(nk.as_slice(), v)?;
            }
        }
    }
    {
        let mut t = tx.open_table(NAMES)?;
        let rows: Vec<(Vec<u8>, String)> = {
            let mut out = Vec::new();
            for item in bounded(&t, &old, end.as_deref())? {
                let (k, v) = item?;
                out.push((k.value().to_vec(), v.value().to_owned()));
            }
            out
        };
        for (k, v) in rows {
            objects.insert(id_of(&k));
            t.remove(k.as_slice())?;
            if let Some(nk) = moved(&k) {
                t.insert(nk.as_slice(), v.as_str())?;
            }
        }
    }
    {
        let mut t = tx.open_table(ALARMS)?;
        let mut rows = Vec::new();
        for item in bounded(&t, &old, end.as_deref())? {
            let (k, v) = item?;
            rows.push((k.value().to_vec(), v.value()));
        }
        for (k, v) in rows {
            objects.insert(id_of(&k));
            t.remove(k.as_slice())?;
            if let Some(nk) = moved(&k) {
                t.insert(nk.as_slice(), v)?;
            }
        }
    }
    {
        let mut t = tx.open_table(ALARM_RETRIES)?;
        let mut rows = Vec::new();
        for item in bounded(&t, &old, end.as_deref())? {
            let (k, v) = item?;
            rows.push((k.value().to_vec(), v.value()));
        }
        for (k, v) in rows {
            t.remove(k.as_slice())?;
            if let Some(nk) = moved(&k) {
                t.insert(nk.as_slice(), v)?;
            }
        }
    }
    {
        let mut t = tx.open_table(ALARM_INDEX)?;
        let mut rows = Vec::new();
        for item in t.iter()? {
            let (k, _) = item?;
            let (at, key) = k.value();
            if key.starts_with(&old) {
                rows.push((at, key.to_vec()));
            }
        }
        for (at, k) in rows {
            t.remove((at, k.as_slice()))?;
            if let Some(nk) = moved(&k) {
                t.insert((at, nk.as_slice()), ())?;
            }
        }
    }
    {
        let mut meta = tx.open_table(META)?;
        let secret = meta
            .remove(format!("secret/{from}").as_str())?
            .map(|v| v.value().to_vec());
        if let (Some(to), Some(secret)) = (to, secret) {
            meta.insert(format!("secret/{to}").as_str(), secret.as_slice())?;
        }
    }
    Ok(objects.len())
}

type Bounded<'t, V> = redb::Range<'t, &'static [u8], V>;

fn bounded<'t, V: redb::Value + 'static, T: ReadableTable<&'static [u8], V>>(
    t: &'t T,
    lo: &[u8],
    hi: Option<&[u8]>,
) -> Result<Bounded<'t, V>, StoreError> {
    Ok(match hi {
        Some(hi) => t.range::<&[u8]>(lo..hi)?,
        None => t.range::<&[u8]>(lo..)?,
    })
}

/// Rows as (key, value) bytes.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

fn range<T: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &T,
    lo: &[u8],
    hi: Option<&[u8]>,
) -> Result<Rows, StoreError> {
    let mut out = Vec::new();
    for item in bounded(t, lo, hi)? {
        let (k, v) = item?;
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;
    use crate::store::key::ObjectKey;
    use crate::store::write_set::WriteSet;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("m.redb"), 1 << 20, None).unwrap();
        (dir, db)
    }

    /// An object of `ns` with a value, a name and an alarm, committed.
    fn object(db: &Db, ns: &str, n: u8) -> ObjectKey {
        let key = ObjectKey::new(ns, &ObjectId::from_bytes([n; 32]));
        let mut ws = WriteSet::default();
        ws.puts.insert(b"k".to_vec(), Some(vec![n]));
        ws.alarm = Some(Some(1_000 + n as i64));
        ws.name = Some(format!("name-{n}"));
        let mut sql = crate::store::sql::SqlWrites {
            size: 4096,
            ..Default::default()
        };
        sql.pages.insert(0, vec![n; 4096]);
        ws.sql = Some(sql);
        let tx = db.begin_write().unwrap();
        super::super::db::apply(&tx, &key, &ws).unwrap();
        tx.commit().unwrap();
        key
    }

    #[test]
    fn a_rename_moves_every_row_and_the_secret_and_a_delete_removes_them() {
        let (_dir, db) = db();
        let secret = db.namespace_secret("Old").unwrap();
        let (a, b) = (object(&db, "Old", 1), object(&db, "Old", 2));
        let other = object(&db, "Older", 3); // a longer name with the same start stays put
        db.namespace_secret("Older").unwrap();
        let r = db
            .apply_migration("v2", &[("Old".into(), "New".into())], &[])
            .unwrap();
        assert_eq!(
            r,
            MigrationReport {
                moved: 2,
                deleted: 0
            }
        );
        for (old, n) in [(&a, 1u8), (&b, 2)] {
            let new = ObjectKey::new("New", &old.parts().1);
            assert_eq!(db.get(old, b"k").unwrap(), None);
            assert_eq!(db.get(&new, b"k").unwrap(), Some(vec![n]));
            assert_eq!(
                db.name(&new).unwrap().as_deref(),
                Some(format!("name-{n}").as_str())
            );
            assert_eq!(db.alarm(&new).unwrap(), Some(1_000 + n as i64));
            assert_eq!(crate::store::sql::schema::size(&db, &new).unwrap(), 4096);
            assert_eq!(crate::store::sql::schema::size(&db, old).unwrap(), 0);
            let reader = crate::store::sql::schema::PageReader::open(&db).unwrap();
            let mut page = vec![0; 4096];
            reader.read(&new, 0, &mut page).unwrap();
            assert_eq!(page, vec![n; 4096], "the SQL pages moved");
        }
        let due: Vec<_> = db
            .due_alarms(i64::MAX, 10, 10, |_| true)
            .unwrap()
            .into_iter()
            .map(|d| d.object.parts().0.to_owned())
            .collect();
        assert_eq!(due, ["New", "New", "Older"], "the alarm index moved too");
        assert_eq!(
            db.namespace_secret("New").unwrap(),
            secret,
            "IDs stay valid"
        );
        assert_eq!(db.get(&other, b"k").unwrap(), Some(vec![3]));
        assert!(db.applied_migrations().unwrap().contains("v2"));

        // Onto a namespace with objects: refused, nothing moves.
        let e = db
            .apply_migration("v3", &[("New".into(), "Older".into())], &[])
            .unwrap_err();
        assert!(matches!(e, MigrationError::TargetExists { .. }), "{e}");
        assert!(!db.applied_migrations().unwrap().contains("v3"));

        let r = db.apply_migration("v4", &[], &["New".into()]).unwrap();
        assert_eq!(
            r,
            MigrationReport {
                moved: 0,
                deleted: 2
            }
        );
        assert_eq!(
            db.get(&ObjectKey::new("New", &a.parts().1), b"k").unwrap(),
            None
        );
        assert_ne!(
            db.namespace_secret("New").unwrap(),
            secret,
            "a new namespace, new IDs"
        );
    }

    #[test]
    fn storage_keyed_by_binding_moves_to_the_class_once() {
        let (_dir, db) = db();
        let secret = db.namespace_secret("counter").unwrap();
        let old = object(&db, "counter", 7);
        let moves = db
            .key_by_namespace(&[
                ("counter".into(), "Counter".into()),
                ("same".into(), "same".into()),
            ])
            .unwrap();
        assert_eq!(moves, [("counter".to_owned(), "Counter".to_owned(), 1)]);
        let new = ObjectKey::new("Counter", &old.parts().1);
        assert_eq!(db.get(&new, b"k").unwrap(), Some(vec![7]));
        assert_eq!(db.namespace_secret("Counter").unwrap(), secret);
        // Marked: a binding that later has data of its own is never moved.
        object(&db, "counter", 8);
        db.namespace_secret("counter").unwrap();
        assert!(
            db.key_by_namespace(&[("counter".into(), "Counter".into())])
                .unwrap()
                .is_empty()
        );
    }
}
