//! The redb schema and the committed-state reads and writes.
//!
//! One database file holds every object (rows addressed by [`ObjectKey`]). Tables:
//! - `kv`: prefix ++ user key → value
//! - `alarms`: prefix → scheduled time (ms since the Unix epoch)
//! - `alarm_index`: (scheduled time, prefix) → () — due alarms in time order
//! - `alarm_retries`: prefix → failures of the current alarm (absent = 0)
//! - `names`: prefix → the name the ID was derived from
//! - `sql_pages`, `sql_size`: each object's SQLite database (see `sql/schema.rs`)
//! - `history`, `history_time`: undo records for point-in-time recovery (see `history.rs`)
//! - `meta`: "secret/{namespace}" → the namespace's 32-byte ID secret; "commit/seq" → the
//!   sequence number of the last committed batch (tells, after a failure, whether a commit
//!   whose outcome was unknown became visible)
//!
//! The handle can be reopened in place (after an I/O error redb refuses every later operation
//! until the file is opened again); only the committer does that.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::error::{OpenError, StoreError};
use super::fault::{Faults, Observed, ObservedFile};
use super::health::Health;
use super::key::{ObjectKey, successor};
use super::pg::{self, PgOptions};
use super::write_set::WriteSet;

pub(super) const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
pub(super) const ALARMS: TableDefinition<&[u8], i64> = TableDefinition::new("alarms");
pub(super) const ALARM_INDEX: TableDefinition<(i64, &[u8]), ()> =
    TableDefinition::new("alarm_index");
pub(super) const ALARM_RETRIES: TableDefinition<&[u8], u32> = TableDefinition::new("alarm_retries");
pub(super) const NAMES: TableDefinition<&[u8], &str> = TableDefinition::new("names");
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(super) const HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history");
pub(super) const HISTORY_TIME: TableDefinition<(i64, u64), &[u8]> =
    TableDefinition::new("history_time");
/// object → the restore its next activation applies (`pending.rs`).
pub(super) const PENDING_RESTORES: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("pending_restores");
const SEQ: &str = "commit/seq";

/// A due alarm, as the scheduler reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueAlarm {
    pub scheduled_time: i64,
    pub object: ObjectKey,
    /// Failures of this alarm so far (stored, so they survive a restart).
    pub retries: u32,
}

/// The database: committed state, shared by every object. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    faults: Option<Arc<Faults>>,
    observed: Arc<Observed>,
    /// Bytes of redb's page cache.
    cache_bytes: usize,
    /// The open database; `None` while the committer reopens it. Why a lock: readers clone the
    /// `Arc` under a short read lock; the committer takes the write lock only to swap handles.
    current: RwLock<Option<Arc<Database>>>,
    health: Health,
    /// At least the number of rows in `pending_restores` (`pending.rs`): the committer adds one
    /// before a commit that records a restore and takes one off after a commit that removed
    /// one, so it never undercounts. At zero, an object's start reads nothing to learn it has
    /// no restore waiting.
    pub(super) pending_hint: std::sync::atomic::AtomicUsize,
    /// Cluster mode: committed state lives in PostgreSQL instead (`current` stays `None`).
    pg: Option<PgBackend>,
}

/// The PostgreSQL side of a database handle in cluster mode.
#[derive(Debug)]
pub(super) struct PgBackend {
    pub pool: pg::Pool,
    pub opts: pg::PgOptions,
    /// Record every commit's epoch per object (`hf_commit_log`), for checks.
    pub audit: bool,
}

impl Db {
    /// Opens (or creates) the database file and its tables. With `faults`, the file is reached
    /// through the fault seam.
    pub fn open(
        path: &Path,
        cache_bytes: usize,
        faults: Option<Arc<Faults>>,
    ) -> Result<Db, OpenError> {
        let observed = Arc::new(Observed::default());
        let db = open_database(path, cache_bytes, faults.as_ref(), &observed, true)?;
        // Unknown counts as some: every start then reads.
        let pending = db
            .begin_read()
            .ok()
            .and_then(|tx| {
                redb::ReadableTableMetadata::len(&tx.open_table(PENDING_RESTORES).ok()?).ok()
            })
            .map_or(usize::MAX / 2, |n| n as usize);
        Ok(Db {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                faults,
                observed,
                cache_bytes,
                current: RwLock::new(Some(Arc::new(db))),
                health: Health::default(),
                pending_hint: pending.into(),
                pg: None,
            }),
        })
    }

    /// Connects to the cluster's PostgreSQL database (creating its tables if missing). `dir` is
    /// the node's data directory (its code cache and server file; no database file).
    pub fn open_postgres(dir: &Path, opts: PgOptions, audit: bool) -> Result<Db, OpenError> {
        let shown = |e: &dyn std::fmt::Display| OpenError::Postgres(format!("{e}"));
        // Off the runtime's threads: the client runs a runtime of its own.
        let prepared = std::thread::scope(|s| {
            s.spawn(|| {
                let mut c = pg::connect(&opts).map_err(|e| shown(&e))?;
                pg::prepare(&mut c).map_err(|e| shown(&e))
            })
            .join()
            .unwrap_or_else(|_| Err(OpenError::Postgres("the connection thread panicked".into())))
        });
        prepared?;
        Ok(Db {
            inner: Arc::new(Inner {
                path: dir.join("cluster"),
                faults: None,
                observed: Arc::default(),
                cache_bytes: 0,
                current: RwLock::new(None),
                health: Health::default(),
                pending_hint: 0.into(),
                pg: Some(PgBackend {
                    pool: pg::Pool::start(&opts),
                    opts,
                    audit,
                }),
            }),
        })
    }

    /// The PostgreSQL side, in cluster mode.
    pub(super) fn pg(&self) -> Option<&PgBackend> {
        self.inner.pg.as_ref()
    }

    /// Whether committed state lives in the cluster's PostgreSQL database.
    pub fn is_cluster(&self) -> bool {
        self.inner.pg.is_some()
    }

    /// Makes this node the owner of `obj` with a new epoch (cluster mode; `0` on one node,
    /// where nothing else can own it).
    pub async fn take_ownership(&self, obj: &ObjectKey) -> Result<u64, StoreError> {
        match self.pg() {
            Some(pg) => Ok(pg.pool.take_ownership(obj, &pg.opts.node).await?),
            None => Ok(0),
        }
    }

    /// Renews this node's lease in the cluster for `lease_ms` (cluster mode only).
    pub async fn renew_lease(&self, addr: &str, lease_ms: u64) -> Result<(), StoreError> {
        let pg = self
            .pg()
            .ok_or(StoreError::NotInCluster { what: "a lease" })?;
        Ok(pg.pool.renew_lease(&pg.opts.node, addr, lease_ms).await?)
    }

    /// The cluster's live nodes (cluster mode only).
    pub async fn live_members(&self) -> Result<Vec<pg::Member>, StoreError> {
        let pg = self
            .pg()
            .ok_or(StoreError::NotInCluster { what: "membership" })?;
        Ok(pg.pool.live_members().await?)
    }

    /// Gives this node's lease up (a clean shutdown; cluster mode only).
    pub async fn leave_cluster(&self) -> Result<(), StoreError> {
        let pg = self
            .pg()
            .ok_or(StoreError::NotInCluster { what: "a lease" })?;
        Ok(pg.pool.leave(&pg.opts.node).await?)
    }

    /// The data directory (the database file's).
    pub fn dir(&self) -> &Path {
        dir_of(&self.inner.path)
    }

    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// The fault seam's switch, if the database was opened through it.
    pub fn faults(&self) -> Option<&Arc<Faults>> {
        self.inner.faults.as_ref()
    }

    /// What the file backend saw fail.
    pub(super) fn observed(&self) -> &Observed {
        &self.inner.observed
    }

    /// See [`Inner::pending_hint`].
    pub(super) fn pending_hint(&self) -> &std::sync::atomic::AtomicUsize {
        &self.inner.pending_hint
    }

    pub(super) fn database(&self) -> Result<Arc<Database>, StoreError> {
        if self.is_cluster() {
            return Err(StoreError::NotInCluster {
                what: "this feature (point-in-time recovery, backups, listing an object's keys in the inspector or namespace migrations)",
            });
        }
        self.inner
            .current
            .read()
            .expect("db lock")
            .clone()
            .ok_or_else(|| StoreError::Unavailable {
                reason: "the database is being reopened after an I/O error".into(),
            })
    }

    /// Closes and opens the database file again (clearing redb's failed state after an I/O
    /// error). Waits up to a second for readers of the old handle to finish.
    pub(super) fn reopen(&self) -> Result<(), OpenError> {
        if self.is_cluster() {
            return Ok(());
        }
        let mut current = self.inner.current.write().expect("db lock");
        if let Some(old) = current.take() {
            let deadline = Instant::now() + Duration::from_secs(1);
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            match Arc::try_unwrap(old) {
                Ok(db) => drop(db),
                Err(old) => {
                    *current = Some(old);
                    return Err(OpenError::Busy);
                }
            }
        }
        let db = open_database(
            &self.inner.path,
            self.inner.cache_bytes,
            self.inner.faults.as_ref(),
            &self.inner.observed,
            false,
        )?;
        *current = Some(Arc::new(db));
        Ok(())
    }

    /// The namespace's ID secret, created on first use and kept forever.
    pub fn namespace_secret(&self, namespace: &str) -> Result<[u8; 32], StoreError> {
        if let Some(pg) = self.pg() {
            let v = pg.pool.namespace_secret(namespace)?;
            return v.try_into().map_err(|_| StoreError::Unavailable {
                reason: format!("the stored ID secret of namespace `{namespace}` is not 32 bytes"),
            });
        }
        let key = format!("secret/{namespace}");
        let db = self.database()?;
        let tx = db.begin_write()?;
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
    pub fn get(&self, obj: &ObjectKey, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(pg) = self.pg() {
            return Ok(pg.pool.get(obj, key)?);
        }
        let tx = self.database()?.begin_read()?;
        let t = tx.open_table(KV)?;
        Ok(t.get(obj.row(key).as_slice())?.map(|v| v.value().to_vec()))
    }

    /// Committed entries of `obj` within the user-key bounds, in order (or reverse order), at
    /// most `max`.
    pub fn scan(
        &self,
        obj: &ObjectKey,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        if let Some(pg) = self.pg() {
            return Ok(pg.pool.scan(obj, lower, upper, reverse, max)?);
        }
        let tx = self.database()?.begin_read()?;
        let t = tx.open_table(KV)?;
        let lo = obj.row_lower(lower);
        let hi = obj.row_upper(upper);
        let bounds = (
            lo.as_ref().map(|v| v.as_slice()),
            hi.as_ref().map(|v| v.as_slice()),
        );
        let range = t.range::<&[u8]>(bounds)?;
        let n = obj.as_bytes().len();
        let mut out = Vec::new();
        let rows: Box<dyn Iterator<Item = _>> = if reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        for item in rows.take(max) {
            let (k, v) = item?;
            out.push((k.value()[n..].to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The committed alarm time of `obj`.
    pub fn alarm(&self, obj: &ObjectKey) -> Result<Option<i64>, StoreError> {
        if let Some(pg) = self.pg() {
            return Ok(pg.pool.alarm(obj)?);
        }
        let tx = self.database()?.begin_read()?;
        let t = tx.open_table(ALARMS)?;
        Ok(t.get(obj.as_bytes())?.map(|v| v.value()))
    }

    /// The recorded name of `obj`.
    pub fn name(&self, obj: &ObjectKey) -> Result<Option<String>, StoreError> {
        if let Some(pg) = self.pg() {
            return Ok(pg.pool.name(obj)?);
        }
        let tx = self.database()?.begin_read()?;
        let t = tx.open_table(NAMES)?;
        Ok(t.get(obj.as_bytes())?.map(|v| v.value().to_owned()))
    }

    /// Alarms due at or before `now_ms`, earliest first: at most `limit` of those `wanted`
    /// accepts, looking at no more than `max_scan` due entries (so that a run of alarms nobody
    /// can take never hides the ones behind it, and one look stays bounded).
    pub fn due_alarms(
        &self,
        now_ms: i64,
        limit: usize,
        max_scan: usize,
        mut wanted: impl FnMut(&ObjectKey) -> bool,
    ) -> Result<Vec<DueAlarm>, StoreError> {
        if let Some(pg) = self.pg() {
            let mut due = pg.pool.due_alarms(now_ms, max_scan)?;
            due.retain(|a| wanted(&a.object));
            due.truncate(limit);
            return Ok(due);
        }
        let tx = self.database()?.begin_read()?;
        let index = tx.open_table(ALARM_INDEX)?;
        let retries = tx.open_table(ALARM_RETRIES)?;
        let mut out = Vec::new();
        for item in index.range::<(i64, &[u8])>(..)?.take(max_scan) {
            let (k, _) = item?;
            let (time, obj) = k.value();
            if time > now_ms || out.len() >= limit {
                break;
            }
            let Some(object) = ObjectKey::from_stored(obj) else {
                continue;
            };
            if !wanted(&object) {
                continue;
            }
            let retries = retries.get(obj)?.map_or(0, |v| v.value());
            out.push(DueAlarm {
                scheduled_time: time,
                object,
                retries,
            });
        }
        Ok(out)
    }

    /// The earliest alarm time of any object.
    pub fn next_alarm(&self) -> Result<Option<i64>, StoreError> {
        if let Some(pg) = self.pg() {
            return Ok(pg.pool.next_alarm()?);
        }
        let tx = self.database()?.begin_read()?;
        let t = tx.open_table(ALARM_INDEX)?;
        Ok(t.first()?.map(|(k, _)| k.value().0))
    }

    /// The sequence number of the last committed batch.
    pub(super) fn last_seq(&self) -> Result<u64, StoreError> {
        if self.is_cluster() {
            return Ok(0);
        }
        seq_in(&self.database()?.begin_read()?)
    }

    pub(super) fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        Ok(self.database()?.begin_write()?)
    }
}

/// The directory of `file` (`.` for a bare name).
pub(super) fn dir_of(file: &Path) -> &Path {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn open_database(
    path: &Path,
    cache_bytes: usize,
    faults: Option<&Arc<Faults>>,
    observed: &Arc<Observed>,
    create_tables: bool,
) -> Result<Database, OpenError> {
    let shown = || path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| OpenError::File {
            path: shown(),
            source,
        })?;
    // redb locks only the files it opens itself; this one goes through our backend, so the lock
    // is ours: one server per database, and `holdfast backup` / `restore` can tell it is in use.
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(OpenError::InUse { path: shown() }),
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(OpenError::File {
                path: shown(),
                source,
            });
        }
    }
    let db = ObservedFile::new(file, faults.cloned(), observed.clone())
        .and_then(|b| {
            Database::builder()
                .set_cache_size(cache_bytes)
                .create_with_backend(b)
        })
        .map_err(|source| OpenError::Database {
            path: shown(),
            source,
        })?;
    let prepare = || -> Result<(), StoreError> {
        let tx = db.begin_write()?;
        {
            tx.open_table(KV)?;
            tx.open_table(ALARMS)?;
            tx.open_table(ALARM_INDEX)?;
            tx.open_table(ALARM_RETRIES)?;
            tx.open_table(NAMES)?;
            tx.open_table(META)?;
            tx.open_table(super::sql::schema::SQL_PAGES)?;
            tx.open_table(super::sql::schema::SQL_SIZE)?;
            tx.open_table(HISTORY)?;
            tx.open_table(HISTORY_TIME)?;
            tx.open_table(PENDING_RESTORES)?;
        }
        tx.commit()?;
        Ok(())
    };
    // On a reopen the tables exist, and the disk may be full: opening must not need a write.
    if create_tables {
        prepare().map_err(|source| OpenError::Prepare {
            path: shown(),
            source,
        })?;
    }
    Ok(db)
}

/// The sequence number of the last batch committed before the snapshot `tx`.
pub(super) fn seq_in(tx: &redb::ReadTransaction) -> Result<u64, StoreError> {
    let t = tx.open_table(META)?;
    Ok(t.get(SEQ)?.map_or(0, |v| {
        u64::from_le_bytes(v.value().try_into().unwrap_or([0; 8]))
    }))
}

/// Records the batch's sequence number inside its transaction.
pub(super) fn write_seq(tx: &WriteTransaction, seq: u64) -> Result<(), StoreError> {
    let mut meta = tx.open_table(META)?;
    meta.insert(SEQ, seq.to_le_bytes().as_slice())?;
    Ok(())
}

/// Applies one object's write set inside a write transaction.
pub(super) fn apply(
    tx: &WriteTransaction,
    obj: &ObjectKey,
    ws: &WriteSet,
) -> Result<(), StoreError> {
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
    if ws.alarm.is_some() || ws.alarm_retries.is_some() {
        let mut retries = tx.open_table(ALARM_RETRIES)?;
        match ws.alarm_retries {
            Some(n) if n > 0 => {
                retries.insert(obj.as_bytes(), n)?;
            }
            _ => {
                retries.remove(obj.as_bytes())?;
            }
        }
    }
    if let Some(name) = &ws.name {
        let mut names = tx.open_table(NAMES)?;
        names.insert(obj.as_bytes(), name.as_str())?;
    }
    if let Some(sql) = &ws.sql {
        super::sql::schema::apply(tx, obj, sql)?;
    }
    Ok(())
}
