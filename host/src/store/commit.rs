//! Group commit and the output gate.
//!
//! Objects hand finished events to one committer thread. It takes the jobs waiting in its queue
//! (at most [`CommitLimits::max_batch_jobs`] and about [`CommitLimits::max_batch_bytes`]),
//! writes all of their write sets in one redb write transaction, commits it (fsync), and only
//! then runs each job's `release` callback, which sends the held response. Jobs are handled in
//! queue order, so a job without writes that an object queued after its own writes is released
//! only once those writes are durable.
//!
//! When a commit fails (an I/O error, a full disk), the committer reopens the database and
//! tries the same batch again for up to [`RETRY_WINDOW`]: a passing fault costs its clients a
//! delay, not their writes. If it still fails, every job of the batch is released with the
//! error (saying nothing was kept when writing failed, and that the outcome is unknown when an
//! fsync failed: the bytes had reached the file) and each object in it is *reset*: its generation is bumped, so the object drops its
//! cached (uncommitted) state before its next event, and write sets it produced on top of the
//! lost state, still queued, are refused instead of being committed without their
//! predecessors. The store is then *failed*: batches are refused at once (nothing of them is
//! written) and a probe commit runs every [`PROBE_EVERY`] until one succeeds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::clock::now_ms;
use super::db::{Db, apply, write_seq};
use super::error::StoreError;
use super::key::ObjectKey;
use super::write_set::WriteSet;
use super::{fork, history, pending, pg};

/// How long a failed batch is retried (after reopening the database) before its clients hear.
pub const RETRY_WINDOW: Duration = Duration::from_secs(1);
/// How often a failed store is probed with an empty commit.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Why a job's writes were not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("storage failed, nothing of this event was kept: {reason}")]
    Failed { reason: String },
    /// An fsync failed: the bytes reached the file, and whether they are on disk is unknown.
    #[error(
        "storage failed while making this event durable, so its writes may or may not have been kept: {reason}; read them again once /_/health is ok"
    )]
    InDoubt { reason: String },
    #[error("storage is unavailable, nothing of this event was kept: {reason}")]
    Unavailable { reason: String },
    #[error("an earlier commit of this object failed; the event ran on state that was lost")]
    Reset,
    #[error(
        "the event wrote {bytes} bytes, more than one commit can take ({limit} bytes); nothing of it was kept"
    )]
    TooLarge { bytes: usize, limit: usize },
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Cluster mode: another node took the object since this one did (its epoch moved on).
    #[error(
        "this object moved to another node of the cluster; nothing of this event was kept: retry the request"
    )]
    Fenced,
}

/// Commit bookkeeping one object shares with the committer.
#[derive(Debug, Default)]
pub struct CommitState {
    /// Bumped by the committer when a commit containing this object's writes fails. The object
    /// compares it with the generation it last saw before each event and at release; write
    /// sets tagged with an older generation are refused.
    pub generation: AtomicU64,
    /// Jobs of this object queued but not yet released. Zero means everything the object has
    /// read is durable, so a read-only event can answer without waiting for the committer; the
    /// object is only evicted at zero, so a new activation never reads around an in-flight commit.
    pub in_flight: AtomicUsize,
    /// Notified each time one of this object's jobs is released (the actor waits on it when
    /// too many of its jobs are in flight, and before leaving memory).
    pub released: Notify,
    /// The highest event number (counted by the object's storage view) whose writes are
    /// durable: cached entries written at or before it equal committed state.
    pub durable: AtomicU64,
    /// Cluster mode: the epoch this node took the object with (written by the actor when it
    /// takes the object, before the event whose writes carry it; read by the committer for the
    /// fence). 0 on one node.
    pub epoch: AtomicU64,
    /// Cluster mode: set by the committer (with a generation bump) when a commit found the
    /// object's epoch moved on; the actor then drops its state and takes the object anew before
    /// its next event.
    pub fenced: std::sync::atomic::AtomicBool,
}

impl CommitState {
    /// Waits until fewer than `bound` of the object's jobs are in flight (`1`: until every job
    /// queued so far is released).
    pub async fn wait_in_flight_below(&self, bound: usize) {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) < bound {
                return;
            }
            released.await;
        }
    }
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
    /// The storage view's number of the event that wrote `writes` (0 without writes).
    pub event_no: u64,
    pub release: Release,
}

impl Job {
    fn stale(&self) -> bool {
        self.state.generation.load(Ordering::SeqCst) != self.generation
    }
}

/// Sizes of one batch.
#[derive(Debug, Clone, Copy)]
pub struct CommitLimits {
    pub max_batch_jobs: usize,
    /// A batch stops growing once it holds this many bytes of writes; one job larger than this
    /// alone is refused with [`CommitError::TooLarge`].
    pub max_batch_bytes: usize,
    /// How long undo records are kept for point-in-time recovery (`None`: none are kept).
    pub history: Option<Duration>,
}

impl Default for CommitLimits {
    fn default() -> Self {
        CommitLimits {
            max_batch_jobs: 4096,
            max_batch_bytes: 64 << 20,
            history: Some(Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct CommitStats {
    pub commits: AtomicU64,
    /// Microseconds spent writing and syncing committed batches (over `commits`: the mean
    /// commit latency).
    pub commit_micros: AtomicU64,
    pub jobs: AtomicU64,
    /// Batches whose clients were told their writes were not kept.
    pub failures: AtomicU64,
    /// Batches refused at once because the store was failed.
    pub refused: AtomicU64,
}

/// Sends jobs to the committer thread.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
    stats: Arc<CommitStats>,
    history: Option<Duration>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("history", &self.history)
            .finish_non_exhaustive()
    }
}

impl Committer {
    /// Starts the committer thread for `db`; commits that set an alarm notify `alarm_changed`.
    pub fn start(db: Db, alarm_changed: Arc<Notify>, limits: CommitLimits) -> Committer {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(CommitStats::default());
        let mut worker = Worker {
            seq: db.last_seq().unwrap_or(0),
            last_time: db.last_history_time().unwrap_or(0),
            db,
            stats: stats.clone(),
            alarm_changed,
            limits,
            carry: None,
            last_probe: Instant::now(),
            pg: None,
        };
        thread::Builder::new()
            .name("holdfast-commit".into())
            .spawn(move || worker.run(rx))
            .expect("spawn the committer thread");
        Committer {
            tx,
            stats,
            history: limits.history,
        }
    }

    /// Queues a job. Counts it in flight for its object until released.
    pub fn submit(&self, job: Job) {
        job.state.in_flight.fetch_add(1, Ordering::SeqCst);
        if let Err(mpsc::SendError(job)) = self.tx.send(job) {
            release(job, Err(CommitError::ShuttingDown));
        }
    }

    /// Commits `writes` of `object` as a job of its own (no event's: a restore, a pending
    /// restore recorded or removed) and answers once it is durable or refused.
    pub async fn commit_alone(
        &self,
        object: ObjectKey,
        state: Arc<CommitState>,
        generation: u64,
        writes: WriteSet,
    ) -> Result<(), CommitError> {
        let (done, committed) = tokio::sync::oneshot::channel();
        self.submit(Job {
            object,
            state,
            generation,
            writes: Some(writes),
            event_no: 0,
            release: Box::new(move |r| {
                let _ = done.send(r);
            }),
        });
        committed.await.unwrap_or(Err(CommitError::ShuttingDown))
    }

    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }

    /// How long history is kept for point-in-time recovery (`None`: off).
    pub fn history(&self) -> Option<Duration> {
        self.history
    }
}

fn release(job: Job, result: Result<(), CommitError>) {
    if result.is_ok() && job.event_no > 0 {
        job.state.durable.fetch_max(job.event_no, Ordering::SeqCst);
    }
    job.state.in_flight.fetch_sub(1, Ordering::SeqCst);
    job.state.released.notify_one();
    (job.release)(result);
}

struct Worker {
    db: Db,
    stats: Arc<CommitStats>,
    alarm_changed: Arc<Notify>,
    limits: CommitLimits,
    /// Sequence number of the last committed batch (stored with each batch).
    seq: u64,
    /// The time stamped on the last batch's history records: never goes backwards, so an
    /// object's records sort by time as by position.
    last_time: i64,
    /// A job taken from the queue that did not fit in the previous batch.
    carry: Option<Job>,
    last_probe: Instant,
    /// Cluster mode: the committer's own connection (opened on first use, again after an error).
    pg: Option<postgres::Client>,
}

impl Worker {
    fn run(&mut self, rx: mpsc::Receiver<Job>) {
        loop {
            let first = match self.carry.take() {
                Some(j) => j,
                None if self.db.health().is_ok() => match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                },
                None => match rx.recv_timeout(PROBE_EVERY) {
                    Ok(j) => j,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.probe();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                },
            };
            let batch = self.gather(first, &rx);
            if batch.is_empty() {
                continue;
            }
            if !self.db.health().is_ok() && self.last_probe.elapsed() >= PROBE_EVERY {
                self.probe();
            }
            if self.db.health().is_ok() {
                self.commit(batch);
            } else {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                let reason = match self.db.health().state() {
                    super::health::StorageState::Failed { reason, .. } => reason,
                    super::health::StorageState::Ok => "recovering".into(),
                };
                self.refuse(batch, CommitError::Unavailable { reason });
            }
        }
    }

    /// The batch starting with `first`: the jobs waiting now, within the batch limits. Each
    /// job's size is measured once, here; one larger than a whole batch is refused alone (the
    /// rest of the batch goes on).
    fn gather(&mut self, first: Job, rx: &mpsc::Receiver<Job>) -> Vec<Job> {
        let limit = self.limits.max_batch_bytes;
        let mut batch = Vec::new();
        let mut bytes = 0;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let b = job.writes.as_ref().map_or(0, WriteSet::bytes);
            if b > limit {
                job.state.generation.fetch_add(1, Ordering::SeqCst);
                release(job, Err(CommitError::TooLarge { bytes: b, limit }));
            } else if bytes + b > limit {
                self.carry = Some(job);
                break;
            } else {
                bytes += b;
                batch.push(job);
            }
            // Positions (history) leave room for 4096 jobs per batch.
            if batch.len()
                >= self
                    .limits
                    .max_batch_jobs
                    .min(history::JOBS_PER_BATCH as usize)
            {
                break;
            }
            next = rx.try_recv().ok();
        }
        batch
    }

    fn commit(&mut self, batch: Vec<Job>) {
        let has_writes = batch.iter().any(|j| j.writes.is_some() && !j.stale());
        let sets_alarm = batch.iter().any(|j| {
            j.writes
                .as_ref()
                .is_some_and(|w| matches!(w.alarm, Some(Some(_))) || w.restore_to.is_some())
        });
        self.stats
            .jobs
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if has_writes {
            self.db
                .observed()
                .sync_failed
                .store(false, Ordering::SeqCst);
            let started = Instant::now();
            if let Err(reason) = self.write_with_retry(&batch) {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                self.db.health().fail(now_ms(), reason.clone());
                self.last_probe = Instant::now();
                tracing::error!(error = %reason, jobs = batch.len(), "commit failed; storage is failed until a probe commit succeeds");
                let error = if self.db.observed().sync_failed.load(Ordering::SeqCst) {
                    CommitError::InDoubt { reason }
                } else {
                    CommitError::Failed { reason }
                };
                return self.refuse(batch, error);
            }
            self.stats.commits.fetch_add(1, Ordering::Relaxed);
            let took = started.elapsed().as_micros().min(u64::MAX as u128) as u64;
            self.stats.commit_micros.fetch_add(took, Ordering::Relaxed);
        }
        for job in batch {
            let result = if job.stale() {
                Err(if job.state.fenced.load(Ordering::SeqCst) {
                    CommitError::Fenced
                } else {
                    CommitError::Reset
                })
            } else {
                Ok(())
            };
            release(job, result);
        }
        if has_writes && sets_alarm {
            self.alarm_changed.notify_one();
        }
    }

    /// Writes the batch; on failure reopens the database and tries again within the window.
    fn write_with_retry(&mut self, batch: &[Job]) -> Result<(), String> {
        let deadline = Instant::now() + RETRY_WINDOW;
        loop {
            let error = match self.write(batch) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            self.db.health().count_failure();
            tracing::warn!(error = %error, "commit failed; reopening the database to try again");
            if Instant::now() >= deadline {
                return Err(error.to_string());
            }
            std::thread::sleep(Duration::from_millis(50));
            match self.db.reopen() {
                Ok(()) => {
                    self.db.health().reopens.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, "cannot reopen the database yet"),
            }
        }
    }

    fn write(&mut self, batch: &[Job]) -> Result<(), StoreError> {
        if self.db.is_cluster() {
            return self.write_pg(batch);
        }
        let seq = self.seq + 1;
        let time = now_ms().max(self.last_time);
        let tx = self.db.begin_write()?;
        let mut removed_pending = 0;
        for (i, job) in batch.iter().enumerate() {
            let Some(ws) = &job.writes else { continue };
            if job.stale() {
                continue;
            }
            if let Some(p) = &ws.pending {
                // A replaced row counts as removed too: its insert was counted.
                if pending::set(&tx, &self.db, &job.object, p.as_ref())? {
                    removed_pending += 1;
                }
            }
            let restored;
            let ws = match (ws.restore_to, &ws.restore_from) {
                (Some(position), None) => {
                    restored = history::restore_set(&tx, &job.object, position)?;
                    &restored
                }
                (Some(position), Some(source)) => {
                    restored = fork::fork_set(&tx, source, &job.object, position)?;
                    &restored
                }
                (None, _) => ws,
            };
            let changes =
                ws.cleared || !ws.puts.is_empty() || ws.alarm.is_some() || ws.sql.is_some();
            if self.limits.history.is_some() && changes {
                let undo = history::capture(&tx, &job.object, ws)?;
                let position = seq * history::JOBS_PER_BATCH + i as u64;
                history::record(&tx, &job.object, time, position, &undo)?;
            }
            apply(&tx, &job.object, ws)?;
        }
        if let Some(keep) = self.limits.history {
            history::reclaim(&tx, time - keep.as_millis().min(i64::MAX as u128) as i64)?;
        }
        write_seq(&tx, seq)?;
        tx.commit()?;
        if removed_pending > 0 {
            self.db
                .pending_hint()
                .fetch_sub(removed_pending, Ordering::SeqCst);
        }
        self.seq = seq;
        self.last_time = time;
        Ok(())
    }

    /// Cluster mode: the batch in one PostgreSQL transaction, fenced by each object's epoch.
    /// Objects found fenced are reset and marked; the rest of the batch commits.
    fn write_pg(&mut self, batch: &[Job]) -> Result<(), StoreError> {
        let pg = self.db.pg().expect("cluster mode");
        let jobs: Vec<_> = batch
            .iter()
            .filter(|j| !j.stale())
            .filter_map(|j| {
                let ws = j.writes.as_ref()?;
                debug_assert!(
                    ws.restore_to.is_none() && ws.pending.is_none(),
                    "cluster mode refuses point-in-time recovery before it reaches a write set"
                );
                Some((&j.object, j.state.epoch.load(Ordering::SeqCst), ws))
            })
            .collect();
        if self.pg.as_ref().is_none_or(postgres::Client::is_closed) {
            self.pg = None;
            let c = pg::connect(&pg.opts)
                .map_err(|e| StoreError::Postgres(super::pg::PoolError::Connect(e.to_string())))?;
            self.pg = Some(c);
        }
        let client = self.pg.as_mut().expect("connected");
        let fenced = match pg::write_batch(client, &pg.opts.node, pg.audit, &jobs) {
            Ok(f) => f,
            Err(e) => {
                if matches!(e, pg::BatchError::InDoubt(_)) {
                    self.db.observed().sync_failed.store(true, Ordering::SeqCst);
                }
                let (pg::BatchError::Failed(e) | pg::BatchError::InDoubt(e)) = e;
                return Err(StoreError::Postgres(super::pg::PoolError::Postgres(e)));
            }
        };
        for object in &fenced.0 {
            if let Some(job) = batch.iter().find(|j| &j.object == object) {
                tracing::warn!(object = ?object.parts().1, "commit refused: another node took the object");
                job.state.fenced.store(true, Ordering::SeqCst);
                job.state.generation.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    /// Releases a batch whose writes were not stored; resets the objects that wrote.
    fn refuse(&mut self, batch: Vec<Job>, error: CommitError) {
        for job in &batch {
            if job.writes.is_some() {
                job.state.generation.fetch_add(1, Ordering::SeqCst);
            }
        }
        for job in batch {
            let result = if job.writes.is_some() {
                Err(error.clone())
            } else if job.stale() {
                Err(CommitError::Reset)
            } else {
                // Read only, and nothing it read was lost: what it saw is durable.
                Ok(())
            };
            release(job, result);
        }
    }

    /// Reopens the database and commits an empty batch; on success the store is healthy again.
    fn probe(&mut self) {
        self.last_probe = Instant::now();
        if let Err(e) = self.db.reopen() {
            tracing::debug!(error = %e, "storage probe: cannot reopen yet");
            return;
        }
        self.db.health().reopens.fetch_add(1, Ordering::Relaxed);
        match self.write(&[]) {
            Ok(()) => {
                self.db.health().recover();
                tracing::info!("storage recovered: commits succeed again");
                self.alarm_changed.notify_one();
            }
            Err(e) => tracing::debug!(error = %e, "storage probe: commit still fails"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc as std_mpsc;

    use super::*;
    use crate::id::ObjectId;

    fn job(
        object: &ObjectKey,
        state: &Arc<CommitState>,
        key: &str,
        len: usize,
        done: &std_mpsc::Sender<(String, Result<(), CommitError>)>,
    ) -> Job {
        let mut ws = WriteSet::default();
        ws.puts
            .insert(key.as_bytes().to_vec(), Some(vec![b'v'; len]));
        let done = done.clone();
        let key = key.to_owned();
        Job {
            object: object.clone(),
            state: state.clone(),
            generation: 0,
            writes: Some(ws),
            event_no: 1,
            release: Box::new(move |r| {
                let _ = done.send((key, r));
            }),
        }
    }

    /// One object's write set too large for a commit is refused alone; the other objects of
    /// its batch commit.
    #[test]
    fn one_oversized_write_set_does_not_fail_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.redb"), 1 << 20, None).unwrap();
        let committer = Committer::start(
            db.clone(),
            Arc::new(Notify::new()),
            CommitLimits {
                max_batch_jobs: 16,
                max_batch_bytes: 1000,
                history: None,
            },
        );
        let (a, b) = (
            ObjectKey::new("ns", &ObjectId::from_bytes([1; 32])),
            ObjectKey::new("ns", &ObjectId::from_bytes([2; 32])),
        );
        let (sa, sb) = (
            Arc::new(CommitState::default()),
            Arc::new(CommitState::default()),
        );
        let (tx, rx) = std_mpsc::channel();
        committer.submit(job(&a, &sa, "small", 10, &tx));
        committer.submit(job(&b, &sb, "huge", 5000, &tx));
        committer.submit(job(&a, &sa, "small2", 10, &tx));
        let mut results: Vec<_> = (0..3).map(|_| rx.recv().unwrap()).collect();
        results.sort_by(|x, y| x.0.cmp(&y.0));
        assert!(matches!(
            &results[0],
            (k, Err(CommitError::TooLarge { bytes: 5004, limit: 1000 })) if k == "huge"
        ));
        assert_eq!(
            results[0].1.as_ref().unwrap_err().to_string(),
            "the event wrote 5004 bytes, more than one commit can take (1000 bytes); nothing of it was kept"
        );
        assert!(results[1].1.is_ok() && results[2].1.is_ok());
        assert_eq!(db.get(&a, b"small").unwrap(), Some(vec![b'v'; 10]));
        assert_eq!(db.get(&b, b"huge").unwrap(), None);
        assert_eq!(
            sb.generation.load(Ordering::SeqCst),
            1,
            "the refused object resets"
        );
    }
}
