//! One object's SQLite connection for the length of an activation, and how its transactions
//! follow the object's events.
//!
//! The first SQL call of an event opens a SQLite transaction (`BEGIN`); the event's end commits
//! it (its pages then go to the committer with the event's other writes) or rolls it back with
//! a failed event. Nested storage transactions are savepoints (`_hf_nested_N`), opened in SQL
//! lazily: when SQL first runs inside nested transactions, a savepoint is opened for each.
//! SQLite's page cache (bounded by `limits.cache_bytes`) is the object's read cache.

use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::pages::{FileFault, PageFile};
use super::rules::{self, SharedVerdict};
use super::schema::{PAGE_SIZE, SqlWrites};
use super::value::SqlRefusal;
use super::vfs;
use crate::store::db::Db;
use crate::store::error::StoreError;
use crate::store::key::ObjectKey;

/// The SQL limits of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Whether the class is SQLite-backed (SQL is refused otherwise).
    pub enabled: bool,
    /// Bytes one object's database may grow to.
    pub max_database_bytes: u64,
    /// Bytes of pages one event may write.
    pub max_event_bytes: usize,
    /// Bytes of SQLite's page cache per object.
    pub cache_bytes: usize,
    /// Bytes one `exec` result may hold.
    pub max_result_bytes: usize,
}

/// The result of a SQL call: the outer error is a store failure (the host's), the inner one
/// what the guest is told.
pub type SqlResult<T> = Result<Result<T, SqlRefusal>, StoreError>;

/// An object's open database.
pub(in crate::store) struct SqlDb {
    pub(super) conn: Connection,
    /// Why a lock: the VFS handle inside the connection shares the file (see `vfs::Handle`).
    pub(super) file: Arc<Mutex<PageFile>>,
    pub(super) verdict: SharedVerdict,
    pub(super) limits: SqlLimits,
    /// A SQLite transaction is open for the running event.
    pub(super) in_event: bool,
    /// Savepoints open for nested transactions of the running event.
    pub(super) depth: usize,
    /// Why the running event can no longer commit its SQL writes (SQLite rolled its
    /// transaction back after a failure).
    pub(super) broken: Option<String>,
}

impl std::fmt::Debug for SqlDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlDb")
            .field("in_event", &self.in_event)
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

/// How a failed SQLite call is reported.
pub(super) enum Failure {
    Store(StoreError),
    Refused(SqlRefusal),
}

pub(super) type Step<T> = Result<T, Failure>;

impl From<SqlRefusal> for Failure {
    fn from(r: SqlRefusal) -> Self {
        Failure::Refused(r)
    }
}

/// SQLite's name of an error's primary code (`SQLITE_CONSTRAINT`, ...).
fn code_name(e: &rusqlite::ffi::Error) -> String {
    const NAMES: [&str; 27] = [
        "OK",
        "ERROR",
        "INTERNAL",
        "PERM",
        "ABORT",
        "BUSY",
        "LOCKED",
        "NOMEM",
        "READONLY",
        "INTERRUPT",
        "IOERR",
        "CORRUPT",
        "NOTFOUND",
        "FULL",
        "CANTOPEN",
        "PROTOCOL",
        "EMPTY",
        "SCHEMA",
        "TOOBIG",
        "CONSTRAINT",
        "MISMATCH",
        "MISUSE",
        "NOLFS",
        "AUTH",
        "FORMAT",
        "RANGE",
        "NOTADB",
    ];
    let primary = (e.extended_code & 0xff) as usize;
    format!("SQLITE_{}", NAMES.get(primary).unwrap_or(&"ERROR"))
}

impl SqlDb {
    /// Opens the object's database (creating it on first use).
    pub(in crate::store) fn open(
        db: &Db,
        object: &ObjectKey,
        limits: SqlLimits,
    ) -> Result<SqlDb, StoreError> {
        let size = super::schema::size(db, object)?;
        let file = Arc::new(Mutex::new(PageFile::open(
            db.clone(),
            object.clone(),
            size,
            limits.max_event_bytes,
        )));
        let name = vfs::offer(file.clone()).map_err(|code| StoreError::Sql {
            reason: format!("registering the SQLite VFS failed (SQLite error {code})"),
        })?;
        let opened = Connection::open_with_flags_and_vfs(
            &name,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            vfs::NAME,
        );
        let mut conn = match opened {
            Ok(c) => c,
            Err(e) => {
                vfs::withdraw(&name);
                return Err(Self::open_failure(&file, e));
            }
        };
        let pages = limits.max_database_bytes / PAGE_SIZE as u64;
        let settings = format!(
            "PRAGMA journal_mode = MEMORY;
             PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA synchronous = OFF;
             PRAGMA page_size = {PAGE_SIZE};
             PRAGMA auto_vacuum = FULL;
             PRAGMA temp_store = MEMORY;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -{};
             PRAGMA max_page_count = {pages};",
            (limits.cache_bytes / 1024).max(64)
        );
        if let Err(e) = conn.execute_batch(&settings) {
            return Err(Self::open_failure(&file, e));
        }
        conn.set_prepared_statement_cache_capacity(64);
        let verdict = SharedVerdict::default();
        if let Err(e) = rules::install(&mut conn, verdict.clone()) {
            return Err(Self::open_failure(&file, e));
        }
        lock(&file).release_reader();
        Ok(SqlDb {
            conn,
            file,
            verdict,
            limits,
            in_event: false,
            depth: 0,
            broken: None,
        })
    }

    fn open_failure(file: &Arc<Mutex<PageFile>>, e: rusqlite::Error) -> StoreError {
        match lock(file).fault.take() {
            Some(FileFault::Store(s)) => s,
            _ => StoreError::Sql {
                reason: format!("opening the object's SQL database failed: {e}"),
            },
        }
    }

    /// Runs host SQL (not checked by the rules).
    pub(super) fn internal(&mut self, sql: &str) -> Step<()> {
        self.verdict.lock().expect("verdict lock").internal = true;
        let r = self.conn.execute_batch(sql);
        self.verdict.lock().expect("verdict lock").internal = false;
        r.map_err(|e| self.failure(e))
    }

    /// Makes sure the running event's transaction is open, with a savepoint for each of the
    /// `nested` transactions open around this call.
    pub(super) fn enter(&mut self, nested: usize) -> Step<()> {
        if let Some(why) = &self.broken {
            return Err(SqlRefusal::InvalidArgument(why.clone()).into());
        }
        if !self.in_event {
            self.internal("BEGIN")?;
            self.in_event = true;
        }
        while self.depth < nested {
            self.depth += 1;
            let sp = format!("SAVEPOINT _hf_nested_{}", self.depth);
            self.internal(&sp)?;
        }
        Ok(())
    }

    /// A nested transaction opened (SQL joins it only if it is already in the event).
    pub(in crate::store) fn begin_nested(&mut self, depth: usize) {
        if self.in_event && self.broken.is_none() && self.enter(depth).is_err() {
            self.break_event("opening a savepoint failed");
        }
    }

    fn break_event(&mut self, why: &str) {
        self.broken = Some(format!(
            "the SQL transaction of this event failed ({why}); the event cannot commit"
        ));
    }

    /// The innermost nested transaction (at `depth`) closed, kept or undone.
    pub(in crate::store) fn end_nested(&mut self, depth: usize, keep: bool) {
        if !self.in_event || self.depth < depth || self.broken.is_some() {
            return;
        }
        let sp = format!("_hf_nested_{depth}");
        let sql = if keep {
            format!("RELEASE {sp}")
        } else {
            format!("ROLLBACK TO {sp}; RELEASE {sp}")
        };
        self.depth = depth - 1;
        if self.internal(&sql).is_err() {
            self.break_event("closing a savepoint failed");
        }
    }

    /// Commits the running event's SQL transaction into its page layer. `Err` is what fails
    /// the event (a deferred constraint, the event's page budget, an earlier failure).
    pub(in crate::store) fn commit_event(&mut self) -> SqlResult<()> {
        if let Some(why) = self.broken.clone() {
            return Ok(Err(SqlRefusal::InvalidArgument(why)));
        }
        if !self.in_event {
            return Ok(Ok(()));
        }
        match self.internal("COMMIT") {
            Ok(()) => {
                self.in_event = false;
                self.depth = 0;
                Ok(Ok(()))
            }
            Err(Failure::Store(e)) => Err(e),
            Err(Failure::Refused(r)) => Ok(Err(r)),
        }
    }

    /// Takes the committed event's pages (after [`commit_event`](Self::commit_event)).
    pub(in crate::store) fn finish_event(
        &mut self,
        event_no: u64,
        durable: u64,
    ) -> Option<SqlWrites> {
        let mut f = lock(&self.file);
        f.trim(durable);
        f.finish_event(event_no)
    }

    /// Rolls the running event's SQL back. False if the connection must be dropped (the
    /// rollback itself failed).
    pub(in crate::store) fn abort_event(&mut self) -> bool {
        let mut ok = true;
        if self.in_event && !self.conn.is_autocommit() {
            ok = self.internal("ROLLBACK").is_ok();
        }
        self.in_event = false;
        self.depth = 0;
        self.broken = None;
        lock(&self.file).abort_event();
        ok
    }

    /// Bytes the database file has (`databaseSize`).
    pub(in crate::store) fn size(&mut self) -> u64 {
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap_or(0);
        pages.max(0) as u64 * PAGE_SIZE as u64
    }

    /// Removes every table, view and sequence (delete-all), inside the running event.
    pub(in crate::store) fn clear(&mut self, nested: usize) -> SqlResult<()> {
        if let Err(f) = self.enter(nested) {
            return self.settle(Err(f));
        }
        let objects: Vec<(String, String)> = {
            let r = self.conn.prepare("SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'").and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
            });
            match r {
                Ok(v) => v,
                Err(e) => {
                    let f = self.failure(e);
                    return self.settle(Err(f));
                }
            }
        };
        let mut sql = String::from("PRAGMA defer_foreign_keys = ON;");
        for (kind, name) in objects {
            let quoted = name.replace('"', "\"\"");
            sql.push_str(&format!("DROP {} \"{quoted}\";", kind.to_uppercase()));
        }
        let r = self.internal(&sql);
        self.settle(r)
    }

    /// Turns a step's outcome into the call's, noting when SQLite gave up the event's
    /// transaction (its earlier writes are lost: the event must fail).
    pub(super) fn settle<T>(&mut self, r: Step<T>) -> SqlResult<T> {
        if self.in_event && self.conn.is_autocommit() {
            self.in_event = false;
            self.depth = 0;
            let why = match &r {
                Err(Failure::Refused(e)) => e.to_string(),
                _ => "SQLite rolled the transaction back".into(),
            };
            self.broken = Some(format!(
                "an earlier SQL failure in this event rolled its SQL writes back ({why}); the event cannot commit"
            ));
        }
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(Failure::Refused(e)) => Ok(Err(e)),
            Err(Failure::Store(e)) => Err(e),
        }
    }

    pub(super) fn failure(&self, e: rusqlite::Error) -> Failure {
        let fault = lock(&self.file).fault.take();
        if let Some(FileFault::Store(s)) = fault {
            return Failure::Store(s);
        }
        let (err, message) = match e {
            rusqlite::Error::SqliteFailure(err, msg) => {
                let message = msg.unwrap_or_else(|| err.to_string());
                (err, message)
            }
            rusqlite::Error::SqlInputError {
                error, msg, offset, ..
            } => (error, format!("{msg} at offset {offset}")),
            other => return Failure::Refused(SqlRefusal::InvalidArgument(other.to_string())),
        };
        {
            {
                let code = code_name(&err);
                // A denial by the rules (SQLite reports some as SQLITE_AUTH, some as
                // SQLITE_ERROR "not authorized").
                let denied = self.verdict.lock().expect("verdict lock").denied.take();
                if let Some(why) = denied {
                    return Failure::Refused(SqlRefusal::NotAllowed(format!("{why}: SQLITE_AUTH")));
                }
                Failure::Refused(match err.code {
                    ErrorCode::AuthorizationForStatementDenied => {
                        SqlRefusal::NotAllowed(format!("{message}: SQLITE_AUTH"))
                    }
                    ErrorCode::DiskFull => match fault {
                        Some(FileFault::EventTooLarge { bytes, limit }) => {
                            SqlRefusal::TooLarge(format!(
                                "this event's SQL writes reach {bytes} bytes of pages, over the limit of {limit} bytes per event (limits.max_event_write_bytes)"
                            ))
                        }
                        _ => SqlRefusal::Full {
                            limit: self.limits.max_database_bytes,
                            code,
                        },
                    },
                    _ => SqlRefusal::Sqlite { message, code },
                })
            }
        }
    }
}

pub(super) fn lock(file: &Arc<Mutex<PageFile>>) -> MutexGuard<'_, PageFile> {
    file.lock().expect("page file lock")
}
