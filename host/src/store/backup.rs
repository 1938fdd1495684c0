//! Whole-database backup and restore.
//!
//! A backup is a redb file holding every table of one read snapshot of the database: everything
//! committed before the snapshot was taken, and nothing of a later batch (a batch is one redb
//! transaction, so no event is half in it). Writers are never blocked: the snapshot is a read
//! transaction, and the copy goes to a new file, synced a chunk at a time (`FILE.partial`, renamed to `FILE` once it is
//! complete and synced, so a backup that is killed leaves no `FILE`). The copy ends with a
//! `backup/taken` row in `meta` (the time and batch number of the snapshot): a file without it
//! is not a backup, and is refused by restore.
//!
//! A restore copies a backup to `holdfast.redb.restoring` beside the data directory's database,
//! syncs it and renames it over `holdfast.redb`: a restore that is killed leaves the old database
//! as it was.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use redb::{
    Database, Durability, Key, ReadTransaction, ReadableDatabase, ReadableTableMetadata,
    TableDefinition, TableHandle, Value,
};

use super::db::{
    ALARM_INDEX, ALARM_RETRIES, ALARMS, Db, HISTORY, HISTORY_TIME, KV, META, NAMES,
    PENDING_RESTORES, dir_of,
};
use super::sql::schema::{SQL_PAGES, SQL_SIZE};

/// The `meta` row that makes a file a complete backup: the snapshot's time (ms) and batch.
const TAKEN: &str = "backup/taken";
/// Bytes of rows copied per transaction of the copy (each synced as it commits: small, so that
/// a sync of the copy holds the server's own commit syncs up for a moment only).
const CHUNK_BYTES: usize = 2 << 20;
/// The database file's name in a data directory.
pub const DB_FILE: &str = "holdfast.redb";

/// How far a backup (or restore) has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub rows: u64,
    pub total_rows: u64,
    pub bytes: u64,
}

/// What a finished backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BackupInfo {
    /// When its snapshot was taken (ms since the Unix epoch).
    pub taken_ms: i64,
    /// The last batch committed before it.
    pub seq: u64,
    pub rows: u64,
    /// The backup file's size.
    pub file_bytes: u64,
}

/// Why a backup could not be made (no `FILE` was written).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot read the database: {0}")]
    Source(String),
    #[error("cannot write the backup `{path}`: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error(
        "the database has a table `{0}` this version of Holdfast does not know, so it cannot back it up"
    )]
    UnknownTable(String),
}

/// Why a restore did not happen (the data directory is as it was).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("cannot read `{path}`: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error(
        "`{0}` is not a Holdfast backup (no backup record in it: an incomplete or foreign file)"
    )]
    NotABackup(PathBuf),
    #[error(
        "refusing to restore into `{0}`: it already holds a database (holdfast.redb); pass --force to replace it"
    )]
    NotEmpty(PathBuf),
    #[error(
        "`{0}` is in use by a running server: stop it before restoring into its data directory"
    )]
    InUse(PathBuf),
    #[error("cannot write into `{path}`: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl Db {
    /// Writes a backup of the committed state (one snapshot) to `to`.
    ///
    /// `max_bytes_per_second` paces the copy (it sleeps between chunks), so that its writes
    /// leave the disk to the server's own commits; `None` copies as fast as the disk goes.
    pub fn backup(
        &self,
        to: &Path,
        max_bytes_per_second: Option<u64>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupInfo, BackupError> {
        let db = self
            .database()
            .map_err(|e| BackupError::Source(e.to_string()))?;
        let tx = db
            .begin_read()
            .map_err(|e| BackupError::Source(e.to_string()))?;
        copy_snapshot(&tx, to, max_bytes_per_second, progress)
    }
}

/// Backs up the database file `from` of a server that is not running.
pub fn backup_file(
    from: &Path,
    to: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<BackupInfo, BackupError> {
    // Opened for writing: a database left by a killed server needs redb's repair first, which a
    // read-only open cannot do (no server has it, or this open fails on its lock).
    let db = Database::open(from).map_err(|e| BackupError::Source(e.to_string()))?;
    let tx = db
        .begin_read()
        .map_err(|e| BackupError::Source(e.to_string()))?;
    copy_snapshot(&tx, to, None, progress)
}

/// Whether the database file `path` is open (and locked) by a running server.
pub fn in_use(path: &Path) -> bool {
    File::open(path)
        .is_ok_and(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
}

fn copy_snapshot(
    src: &ReadTransaction,
    to: &Path,
    max_bytes_per_second: Option<u64>,
    progress: &mut dyn FnMut(Progress),
) -> Result<BackupInfo, BackupError> {
    let src_err = |e: &dyn std::fmt::Display| BackupError::Source(e.to_string());
    let known = [
        KV.name(),
        ALARMS.name(),
        ALARM_INDEX.name(),
        ALARM_RETRIES.name(),
        NAMES.name(),
        META.name(),
        SQL_PAGES.name(),
        SQL_SIZE.name(),
        HISTORY.name(),
        HISTORY_TIME.name(),
        PENDING_RESTORES.name(),
    ];
    for t in src.list_tables().map_err(|e| src_err(&e))? {
        if !known.contains(&t.name()) {
            return Err(BackupError::UnknownTable(t.name().to_owned()));
        }
    }
    let partial = partial_path(to);
    let write_err = |e: &dyn std::fmt::Display| BackupError::Write {
        path: to.to_owned(),
        reason: e.to_string(),
    };
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let dst = Database::create(&partial).map_err(|e| write_err(&e))?;
        let mut p = Progress::default();
        let count = |len: Result<u64, redb::StorageError>| len.unwrap_or(0);
        {
            let t = |e: redb::TableError| src_err(&e);
            p.total_rows = count(src.open_table(KV).map_err(t)?.len())
                + count(src.open_table(ALARMS).map_err(t)?.len())
                + count(src.open_table(ALARM_INDEX).map_err(t)?.len())
                + count(src.open_table(ALARM_RETRIES).map_err(t)?.len())
                + count(src.open_table(NAMES).map_err(t)?.len())
                + count(src.open_table(META).map_err(t)?.len())
                + count(src.open_table(SQL_PAGES).map_err(t)?.len())
                + count(src.open_table(SQL_SIZE).map_err(t)?.len())
                + count(src.open_table(HISTORY).map_err(t)?.len())
                + count(src.open_table(HISTORY_TIME).map_err(t)?.len())
                + count(src.open_table(PENDING_RESTORES).map_err(t)?.len());
        }
        progress(p);
        let mut c = Copier {
            src,
            dst: &dst,
            progress,
            p,
            pace: max_bytes_per_second.map(|rate| (std::time::Instant::now(), rate.max(1))),
        };
        c.table(KV)?;
        c.table(ALARMS)?;
        c.table(ALARM_INDEX)?;
        c.table(ALARM_RETRIES)?;
        c.table(NAMES)?;
        c.table(META)?;
        c.table(SQL_PAGES)?;
        c.table(SQL_SIZE)?;
        c.table(HISTORY)?;
        c.table(HISTORY_TIME)?;
        c.table(PENDING_RESTORES)?;
        let p = c.p;
        let seq = super::db::seq_in(src).map_err(|e| src_err(&e))?;
        let taken_ms = super::clock::now_ms();
        let mut tx = dst.begin_write().map_err(|e| write_err(&e))?;
        tx.set_durability(Durability::Immediate)
            .map_err(|e| write_err(&e))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| write_err(&e))?;
            let mut record = [0u8; 16];
            record[..8].copy_from_slice(&taken_ms.to_le_bytes());
            record[8..].copy_from_slice(&seq.to_le_bytes());
            meta.insert(TAKEN, record.as_slice())
                .map_err(|e| write_err(&e))?;
        }
        tx.commit().map_err(|e| write_err(&e))?;
        drop(dst);
        File::open(&partial)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&partial, to))
            .and_then(|()| sync_dir(to))
            .map_err(|e| write_err(&e))?;
        let file_bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
        Ok(BackupInfo {
            taken_ms,
            seq,
            rows: p.rows,
            file_bytes,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Copies tables from the snapshot, committing (and syncing) every [`CHUNK_BYTES`].
struct Copier<'a> {
    src: &'a ReadTransaction,
    dst: &'a Database,
    progress: &'a mut dyn FnMut(Progress),
    p: Progress,
    /// When the copy started, and the bytes per second it may go at.
    pace: Option<(std::time::Instant, u64)>,
}

impl Copier<'_> {
    fn table<K: Key + 'static, V: Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<(), BackupError> {
        let src_err = |e: &dyn std::fmt::Display| BackupError::Source(e.to_string());
        let write_err = |e: &dyn std::fmt::Display| BackupError::Write {
            path: PathBuf::from(def.name()),
            reason: e.to_string(),
        };
        let table = self.src.open_table(def).map_err(|e| src_err(&e))?;
        let mut rows = table
            .range::<K::SelfType<'_>>(..)
            .map_err(|e| src_err(&e))?;
        loop {
            // Each chunk is synced as it is written: one sync of the whole copy at the end would
            // leave gigabytes of dirty pages whose writeback stalls the server's own commits.
            let tx = self.dst.begin_write().map_err(|e| write_err(&e))?;
            let mut bytes = 0usize;
            let mut done = true;
            {
                let mut out = tx.open_table(def).map_err(|e| write_err(&e))?;
                for row in rows.by_ref() {
                    let (k, v) = row.map_err(|e| src_err(&e))?;
                    let n = K::as_bytes(&k.value()).as_ref().len()
                        + V::as_bytes(&v.value()).as_ref().len();
                    out.insert(k.value(), v.value())
                        .map_err(|e| write_err(&e))?;
                    bytes += n;
                    self.p.rows += 1;
                    self.p.bytes += n as u64;
                    if bytes >= CHUNK_BYTES {
                        done = false;
                        break;
                    }
                }
            }
            tx.commit().map_err(|e| write_err(&e))?;
            (self.progress)(self.p);
            if let Some((started, rate)) = self.pace.filter(|_| !done) {
                let due = std::time::Duration::from_secs_f64(self.p.bytes as f64 / rate as f64);
                if let Some(ahead) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(ahead);
                }
            }
            if done {
                return Ok(());
            }
        }
    }
}

/// Reads the backup record of the file `path`: `Err` if it is not a complete backup.
pub fn backup_info(path: &Path) -> Result<BackupInfo, RestoreError> {
    let read_err = |e: &dyn std::fmt::Display| RestoreError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let file_bytes = std::fs::metadata(path).map_err(|e| read_err(&e))?.len();
    let mut magic = [0u8; 9];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|_| RestoreError::NotABackup(path.to_owned()))?;
    if &magic != b"redb\x1A\x0A\xA9\x0D\x0A" {
        return Err(RestoreError::NotABackup(path.to_owned()));
    }
    // A backup is always closed cleanly; a file that needs repair (a database left by a killed
    // server) or is of another format is none.
    let db = redb::ReadOnlyDatabase::open(path).map_err(|e| match e {
        redb::DatabaseError::Storage(redb::StorageError::Io(e)) => read_err(&e),
        _ => RestoreError::NotABackup(path.to_owned()),
    })?;
    let tx = db.begin_read().map_err(|e| read_err(&e))?;
    let meta = tx
        .open_table(META)
        .map_err(|_| RestoreError::NotABackup(path.to_owned()))?;
    let record = meta
        .get(TAKEN)
        .map_err(|e| read_err(&e))?
        .map(|v| v.value().to_vec())
        .filter(|r| r.len() == 16)
        .ok_or_else(|| RestoreError::NotABackup(path.to_owned()))?;
    // Every table's rows, as the backup's own report counts them.
    let rows = tx
        .list_tables()
        .map_err(|e| read_err(&e))?
        .filter_map(|t| tx.open_untyped_table(t).ok()?.len().ok())
        .sum();
    Ok(BackupInfo {
        taken_ms: i64::from_le_bytes(record[..8].try_into().expect("16 bytes")),
        seq: u64::from_le_bytes(record[8..].try_into().expect("16 bytes")),
        rows,
        file_bytes,
    })
}

/// Restores the backup `from` as the database of the data directory `data`; `progress` hears
/// (bytes copied, bytes in all).
pub fn restore(
    from: &Path,
    data: &Path,
    force: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BackupInfo, RestoreError> {
    let info = backup_info(from)?;
    let target = data.join(DB_FILE);
    if target.exists() {
        if in_use(&target) {
            return Err(RestoreError::InUse(data.to_owned()));
        }
        if !force {
            return Err(RestoreError::NotEmpty(data.to_owned()));
        }
    }
    let write_err = |e: &dyn std::fmt::Display| RestoreError::Write {
        path: data.to_owned(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(data).map_err(|e| write_err(&e))?;
    let restoring = data.join(format!("{DB_FILE}.restoring"));
    let result = (|| {
        let mut src = File::open(from).map_err(|e| RestoreError::Read {
            path: from.to_owned(),
            reason: e.to_string(),
        })?;
        let mut dst = File::create(&restoring).map_err(|e| write_err(&e))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut copied = 0u64;
        loop {
            let n = src.read(&mut buf).map_err(|e| RestoreError::Read {
                path: from.to_owned(),
                reason: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            dst.write_all(&buf[..n]).map_err(|e| write_err(&e))?;
            copied += n as u64;
            progress(copied, info.file_bytes);
        }
        dst.sync_all().map_err(|e| write_err(&e))?;
        drop(dst);
        std::fs::rename(&restoring, &target).map_err(|e| write_err(&e))?;
        sync_dir(&target).map_err(|e| write_err(&e))?;
        Ok(info)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&restoring);
    }
    result
}

/// Removes what a killed backup or restore left in the data directory (at start-up).
pub fn remove_leftovers(data: &Path) {
    let _ = std::fs::remove_file(data.join(format!("{DB_FILE}.restoring")));
    for entry in std::fs::read_dir(data).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("backup-") && name.ends_with(".redb.partial") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    to.with_file_name(name)
}

/// Makes a rename in `file`'s directory durable.
fn sync_dir(file: &Path) -> std::io::Result<()> {
    File::open(dir_of(file))?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriteSet;
    use crate::store::key::ObjectKey;

    fn object(n: u8) -> ObjectKey {
        ObjectKey::new("ns", &crate::id::ObjectId::from_bytes([n; 32]))
    }

    /// A database in `dir` holding `n` objects, each a 100 KB value under `k` and an alarm.
    fn filled(dir: &Path, n: u8) -> Db {
        let db = Db::open(&dir.join(DB_FILE), 1 << 20, None).unwrap();
        let tx = db.begin_write().unwrap();
        for i in 0..n {
            let mut ws = WriteSet::default();
            ws.puts.insert(b"k".to_vec(), Some(vec![i; 100_000]));
            ws.alarm = Some(Some(i64::from(i)));
            super::super::db::apply(&tx, &object(i), &ws).unwrap();
        }
        tx.commit().unwrap();
        db
    }

    #[test]
    fn a_backup_holds_the_snapshot_and_restores_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = filled(dir.path(), 200);
        let to = dir.path().join("b.redb");
        let mut seen = Vec::new();
        let info = db.backup(&to, None, &mut |p| seen.push(p)).unwrap();
        assert!(seen.len() > 1, "progress during the copy: {seen:?}");
        assert_eq!(seen.last().unwrap().rows, seen.last().unwrap().total_rows);
        assert!(info.rows >= 400, "{info:?}");
        assert!(!partial_path(&to).exists());

        // Restoring into a directory with a database needs --force; a non-backup is refused.
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join(DB_FILE), b"old").unwrap();
        let e = restore(&to, &data, false, &mut |_, _| {}).unwrap_err();
        assert!(matches!(e, RestoreError::NotEmpty(_)), "{e}");
        assert_eq!(std::fs::read(data.join(DB_FILE)).unwrap(), b"old");
        let e = restore(&data.join(DB_FILE), dir.path(), true, &mut |_, _| {}).unwrap_err();
        assert!(matches!(e, RestoreError::NotABackup(_)), "{e}");
        // The running database is no backup either (no backup record).
        drop(db);
        let e = backup_info(&dir.path().join(DB_FILE)).unwrap_err();
        assert!(matches!(e, RestoreError::NotABackup(_)), "{e}");

        restore(&to, &data, true, &mut |_, _| {}).unwrap();
        let restored = Db::open(&data.join(DB_FILE), 1 << 20, None).unwrap();
        for i in [0u8, 99, 199] {
            assert_eq!(
                restored.get(&object(i), b"k").unwrap(),
                Some(vec![i; 100_000])
            );
            assert_eq!(restored.alarm(&object(i)).unwrap(), Some(i64::from(i)));
        }
    }

    #[test]
    fn a_paced_backup_goes_no_faster_than_its_pace() {
        let dir = tempfile::tempdir().unwrap();
        let db = filled(dir.path(), 100);
        // 10 MB at 4 MiB/s: every chunk but the last waits for its due time, so the copy
        // takes at least (10 MB - one 2 MiB chunk) / 4 MiB/s, about 1.9 s.
        let started = std::time::Instant::now();
        let info = db
            .backup(&dir.path().join("b.redb"), Some(4 << 20), &mut |_| {})
            .unwrap();
        let took = started.elapsed();
        assert!(info.rows >= 100, "{info:?}");
        assert!(
            took >= std::time::Duration::from_millis(1500),
            "a backup paced at 4 MiB/s copied 10 MB in {took:?}"
        );
    }
}
