//! Group commit and the output gate.
//!
//! Objects hand finished events to one committer thread. It takes every job waiting in its
//! queue, writes all of their write sets in one redb write transaction, commits it (fsync), and
//! only then runs each job's `release` callback, which sends the held response. Jobs are handled
//! in queue order, so a job without writes that an object queued after its own writes is released
//! only once those writes are durable.
//!
//! If a commit fails, every job of that batch is released with the error and each object in it
//! is *reset*: its generation is bumped, so the object drops its cached (uncommitted) state before
//! its next event, and write sets it produced on top of the lost state, still queued, are refused
//! instead of being committed without their predecessors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;

use tokio::sync::mpsc;

use crate::alarm::AlarmWaker;
use crate::storage::{Db, DbError, ObjectKey, WriteSet, apply};

/// Why a job's writes were not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("commit failed, the event's writes were not stored: {0}")]
    Failed(String),
    #[error("an earlier commit of this object failed; the event ran on state that was lost")]
    Reset,
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Commit bookkeeping one object shares with the committer.
#[derive(Debug, Default)]
pub struct CommitState {
    /// Bumped by the committer when a commit containing this object's writes fails. The object
    /// compares it with the generation it last saw before each event and resets on a change;
    /// write sets tagged with an older generation are refused.
    pub generation: AtomicU64,
    /// Jobs of this object queued but not yet released. Zero means everything the object has
    /// read is durable, so a read-only event can answer without waiting for the committer; the
    /// object is only evicted at zero, so a new activation never reads around an in-flight commit.
    pub in_flight: AtomicUsize,
}

/// Called with the outcome once the job's writes are durable (or refused).
pub type Release = Box<dyn FnOnce(Result<(), CommitError>) + Send>;

/// One finished event waiting for durability.
pub struct Job {
    pub object: ObjectKey,
    pub state: Arc<CommitState>,
    /// The generation the event ran under.
    pub generation: u64,
    /// `None` for an event without writes that only needs ordering behind earlier writes.
    pub writes: Option<WriteSet>,
    pub release: Release,
}

/// Sends jobs to the committer thread.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::UnboundedSender<Job>,
    stats: Arc<CommitStats>,
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct CommitStats {
    pub commits: AtomicU64,
    pub jobs: AtomicU64,
    pub failures: AtomicU64,
}

/// Most jobs in one redb transaction: bounds the latency a large backlog adds to one commit.
const MAX_BATCH: usize = 4096;

impl Committer {
    /// Starts the committer thread for `db`; commits that set an alarm wake `alarms`.
    pub fn start(db: Db, alarms: Arc<AlarmWaker>) -> Committer {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(CommitStats::default());
        let s = stats.clone();
        thread::Builder::new()
            .name("holdfast-commit".into())
            .spawn(move || run(db, rx, s, alarms))
            .expect("spawn the committer thread");
        Committer { tx, stats }
    }

    /// Queues a job. Counts it in flight for its object until released.
    pub fn submit(&self, job: Job) {
        job.state.in_flight.fetch_add(1, Ordering::SeqCst);
        if let Err(mpsc::error::SendError(job)) = self.tx.send(job) {
            job.state.in_flight.fetch_sub(1, Ordering::SeqCst);
            (job.release)(Err(CommitError::ShuttingDown));
        }
    }

    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }
}

fn run(
    db: Db,
    mut rx: mpsc::UnboundedReceiver<Job>,
    stats: Arc<CommitStats>,
    alarms: Arc<AlarmWaker>,
) {
    let mut batch = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let sets_alarm = batch.iter().any(|j| {
            j.writes
                .as_ref()
                .is_some_and(|w| matches!(w.alarm, Some(Some(_))))
        });
        if commit_batch(&db, &mut batch, &stats) && sets_alarm {
            alarms.wake();
        }
    }
}

/// Commits and releases one batch; returns whether the commit succeeded.
fn commit_batch(db: &Db, batch: &mut Vec<Job>, stats: &CommitStats) -> bool {
    let stale = |j: &Job| j.state.generation.load(Ordering::SeqCst) != j.generation;
    let has_writes = batch.iter().any(|j| j.writes.is_some() && !stale(j));
    let outcome: Result<(), DbError> = if has_writes {
        write_all(db, batch, &stale)
    } else {
        Ok(())
    };
    stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
    match &outcome {
        Ok(()) if has_writes => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(()) => {}
        Err(e) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, jobs = batch.len(), "commit failed; resetting the objects of the batch");
            for j in batch.iter() {
                j.state.generation.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    for job in batch.drain(..) {
        let result = match &outcome {
            Err(e) => Err(CommitError::Failed(e.to_string())),
            Ok(()) if job.state.generation.load(Ordering::SeqCst) != job.generation => {
                Err(CommitError::Reset)
            }
            Ok(()) => Ok(()),
        };
        job.state.in_flight.fetch_sub(1, Ordering::SeqCst);
        (job.release)(result);
    }
    outcome.is_ok()
}

fn write_all(db: &Db, batch: &[Job], stale: &dyn Fn(&Job) -> bool) -> Result<(), DbError> {
    let tx = db.begin_write()?;
    for job in batch {
        if let Some(ws) = &job.writes
            && !stale(job)
        {
            apply(&tx, &job.object, ws)?;
        }
    }
    tx.commit()?;
    Ok(())
}
