//! The redb backend over the database file: the plain file backend, observed (it records a
//! failed fsync, after which the outcome of a commit is unknown), and the fault seam tests use
//! to make it fail on command (the admin API's `/_/admin/faults`, present only when the server
//! runs with `HOLDFAST_FAULT_INJECTION=1`; otherwise no fault is ever injected).

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Which operation fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailOp {
    /// The disk is full: writes and growing the file fail with ENOSPC.
    Full,
    /// Writes fail with EIO.
    Write,
    /// fsync fails with EIO (after the writes reached the file).
    Sync,
}

/// What the seam does now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultPlan {
    /// The operation that fails, if any.
    pub fail: Option<FailOp>,
    /// How many failures before the fault clears by itself; `None`: until cleared.
    pub count: Option<u32>,
    /// Every fsync first sleeps this long (a slow disk: keeps commits in flight).
    pub sync_delay_ms: u64,
}

/// The switch tests turn; shared by every backend the database is (re)opened with.
#[derive(Debug, Default)]
pub struct Faults {
    plan: Mutex<FaultPlan>,
}

impl Faults {
    pub fn set(&self, plan: FaultPlan) {
        *self.plan.lock().expect("faults lock") = plan;
    }

    pub fn plan(&self) -> FaultPlan {
        *self.plan.lock().expect("faults lock")
    }

    /// Whether `op` fails now (consuming one failure of a counted fault).
    fn fails(&self, ops: &[FailOp]) -> Option<FailOp> {
        let mut p = self.plan.lock().expect("faults lock");
        let op = p.fail.filter(|f| ops.contains(f))?;
        match &mut p.count {
            Some(0) => return None,
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    p.fail = None;
                    p.count = None;
                }
            }
            None => {}
        }
        Some(op)
    }

    fn error(op: FailOp) -> std::io::Error {
        match op {
            FailOp::Full => std::io::Error::from_raw_os_error(28), // ENOSPC
            FailOp::Write | FailOp::Sync => std::io::Error::from_raw_os_error(5), // EIO
        }
    }
}

/// What the backend saw fail. Shared by every backend the database is (re)opened with.
#[derive(Debug, Default)]
pub struct Observed {
    /// An fsync failed since the committer last cleared it: the bytes written before it may or
    /// may not be on disk (and may or may not be visible after reopening).
    pub sync_failed: AtomicBool,
}

/// The database file, observed, and through the fault seam when one is set.
#[derive(Debug)]
pub struct ObservedFile {
    file: FileBackend,
    faults: Option<Arc<Faults>>,
    observed: Arc<Observed>,
}

impl ObservedFile {
    pub fn new(
        file: std::fs::File,
        faults: Option<Arc<Faults>>,
        observed: Arc<Observed>,
    ) -> Result<Self, redb::DatabaseError> {
        Ok(ObservedFile {
            file: FileBackend::new(file)?,
            faults,
            observed,
        })
    }

    fn fails(&self, ops: &[FailOp]) -> Option<FailOp> {
        self.faults.as_ref()?.fails(ops)
    }
}

impl StorageBackend for ObservedFile {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        let growing = self.file.len()? < len;
        if growing && let Some(op) = self.fails(&[FailOp::Full]) {
            return Err(Faults::error(op));
        }
        self.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        let delay = self.faults.as_ref().map_or(0, |f| f.plan().sync_delay_ms);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        let result = match self.fails(&[FailOp::Sync]) {
            Some(op) => Err(Faults::error(op)),
            None => self.file.sync_data(),
        };
        if result.is_err() {
            self.observed.sync_failed.store(true, Ordering::SeqCst);
        }
        result
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if let Some(op) = self.fails(&[FailOp::Full, FailOp::Write]) {
            return Err(Faults::error(op));
        }
        self.file.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}
