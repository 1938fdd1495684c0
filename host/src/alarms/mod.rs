//! The alarm scheduler: wakes objects whose alarm is due, through their mailboxes.
//!
//! Owns: when alarms fire and their retries. Imports `actor` (to deliver), `cluster` (which
//! alarms are this node's), `store` and `config`; nothing imports it but start-up.
//!
//! Alarms live in the database (`alarms` plus an index by time), written in the transaction of
//! the event that set them. The scheduler reads due alarms from the index, so an alarm set before
//! a restart, or on an evicted object, fires the same way; one due during downtime fires right
//! after start. An alarm leaves the index only when a handler succeeded (its commit deletes or
//! replaces it), so a crash between firing and completion fires it again: at-least-once.
//!
//! A failed handler (error or trap) is retried after `retry_base_ms`, doubling each time, with
//! ±25% jitter, up to `max_retries` times; then the alarm is deleted through the object and the
//! failure logged. The failure count is stored with the alarm (through the object), so a
//! restart continues the back-off instead of starting over. Alarms that are running, waiting
//! for a retry, or of a namespace this host no longer serves are passed over when the index is
//! read, so they never hide due alarms behind them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::actor::{Directory, Event, EventError, Outcome};
use crate::cluster::Cluster;
use crate::config::AlarmConfig;
use crate::store::{DueAlarm, ObjectKey, now_ms};

/// Longest sleep between looks at the index (bounds the effect of a missed wake-up).
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Due alarms delivered per look.
const BATCH: usize = 4096;
/// Due index entries examined per look (bounds one look when many are passed over).
const MAX_SCAN: usize = 65_536;

/// Where one object's due alarm stands.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Delivered; the outcome has not come back.
    Running,
    /// Failed `retries` times; try again at `at`.
    Waiting { retries: u32, at: Instant },
}

struct Tracked {
    scheduled_time: i64,
    state: State,
}

type Tracking = Arc<Mutex<HashMap<ObjectKey, Tracked>>>;

/// Runs the scheduler until the process ends.
///
/// In cluster mode (`cluster`), only the alarms of objects placed on this node fire here; the
/// scheduler looks at least every [`MAX_SLEEP`], so an alarm another node set is found by then.
pub async fn run(
    directory: Arc<Directory>,
    changed: Arc<Notify>,
    config: AlarmConfig,
    cluster: Option<Arc<Cluster>>,
) {
    let tracked: Tracking = Arc::default();
    let mut warned_unknown = std::collections::HashSet::new();
    loop {
        let now = now_ms();
        let mut next_retry: Option<Instant> = None;
        let due = {
            let t = tracked.lock().expect("alarm lock");
            let wanted = |k: &ObjectKey| {
                if cluster.as_ref().is_some_and(|c| !c.is_here(k)) {
                    return false;
                }
                let (ns, _) = k.parts();
                if directory.class_of_namespace(ns).is_none() {
                    if warned_unknown.insert(ns.to_owned()) {
                        tracing::warn!(namespace = %ns, "alarms of a namespace this host does not serve are left stored and not fired");
                    }
                    return false;
                }
                match t.get(k).map(|tr| tr.state) {
                    None => true,
                    Some(State::Running) => false,
                    Some(State::Waiting { at, .. }) => {
                        if at > Instant::now() {
                            next_retry = Some(next_retry.map_or(at, |n: Instant| n.min(at)));
                            false
                        } else {
                            true
                        }
                    }
                }
            };
            directory
                .services()
                .db
                .due_alarms(now, BATCH, MAX_SCAN, wanted)
        };
        let due = due.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read due alarms");
            Vec::new()
        });
        for alarm in due {
            let retries = {
                let mut t = tracked.lock().expect("alarm lock");
                match t.entry(alarm.object.clone()) {
                    Entry::Vacant(v) => {
                        v.insert(Tracked {
                            scheduled_time: alarm.scheduled_time,
                            state: State::Running,
                        });
                        alarm.retries
                    }
                    Entry::Occupied(mut o) => {
                        let tr = o.get_mut();
                        let retries = match tr.state {
                            State::Waiting { retries, .. }
                                if tr.scheduled_time == alarm.scheduled_time =>
                            {
                                retries
                            }
                            // A new alarm replaced the failing one: start afresh.
                            _ => alarm.retries,
                        };
                        *tr = Tracked {
                            scheduled_time: alarm.scheduled_time,
                            state: State::Running,
                        };
                        retries
                    }
                }
            };
            tokio::spawn(deliver(
                directory.clone(),
                tracked.clone(),
                alarm,
                retries,
                config,
            ));
        }
        let next_due = directory.services().db.next_alarm().ok().flatten();
        let mut sleep = MAX_SLEEP;
        if let Some(t) = next_due
            && t > now
        {
            sleep = sleep.min(Duration::from_millis((t - now) as u64));
        }
        if let Some(at) = next_retry {
            sleep = sleep.min(at.saturating_duration_since(Instant::now()));
        }
        // Running alarms are re-checked on the next look; their outcome also wakes us.
        tokio::select! {
            _ = tokio::time::sleep(sleep.max(Duration::from_millis(1))) => {}
            _ = changed.notified() => {}
        }
    }
}

async fn deliver(
    directory: Arc<Directory>,
    tracked: Tracking,
    alarm: DueAlarm,
    retries: u32,
    config: AlarmConfig,
) {
    let key = alarm.object;
    let scheduled_time = alarm.scheduled_time;
    let (namespace, id) = key.parts();
    let Some(class) = directory.class_of_namespace(namespace) else {
        tracked.lock().expect("alarm lock").remove(&key);
        return;
    };
    let event = Event::Alarm {
        scheduled_time,
        retry_count: retries,
    };
    let outcome = directory
        .send(&class, id, None, event)
        .await
        .unwrap_or(Err(EventError::Gone));
    let changed = &directory.services().alarm_changed;
    let err = match outcome {
        Ok(
            Outcome::Done
            | Outcome::Skipped
            | Outcome::Response(..)
            | Outcome::Value(_)
            | Outcome::Edited(_),
        ) => {
            // The handler's commit removed (or replaced) the alarm in the index already; look
            // again in case more alarms are due than one look takes.
            tracked.lock().expect("alarm lock").remove(&key);
            changed.notify_one();
            return;
        }
        Err(e) => e,
    };
    if retries >= config.max_retries {
        tracing::error!(%namespace, %id, scheduled_time, retries, error = %err, "alarm failed after its last retry; dropping it");
        let _ = directory
            .send(&class, id, None, Event::DropAlarm { scheduled_time })
            .await;
        tracked.lock().expect("alarm lock").remove(&key);
        return;
    }
    let delay = backoff(config.retry_base_ms, retries);
    // Stored with the alarm (before anything else), so that a restart continues the back-off.
    let record = Event::AlarmFailed {
        scheduled_time,
        retries: retries + 1,
    };
    if let Ok(Err(e)) = directory.send(&class, id, None, record).await {
        tracing::warn!(%namespace, %id, error = %e, "cannot store the alarm's retry count");
    }
    tracing::warn!(%namespace, %id, scheduled_time, retry_in_ms = delay.as_millis() as u64, error = %err, "alarm failed; will retry");
    if let Some(t) = tracked.lock().expect("alarm lock").get_mut(&key) {
        t.state = State::Waiting {
            retries: retries + 1,
            at: Instant::now() + delay,
        };
    }
    changed.notify_one();
}

/// `base * 2^retries`, ±25% jitter.
fn backoff(base_ms: u64, retries: u32) -> Duration {
    let ms = base_ms.saturating_mul(1u64 << retries.min(30)) as f64;
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    Duration::from_millis((ms * jitter) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        for retries in 0..6 {
            let d = backoff(2000, retries).as_millis() as u64;
            let nominal = 2000 << retries;
            assert!(
                d >= nominal * 3 / 4 && d <= nominal * 5 / 4,
                "{retries}: {d}"
            );
        }
    }
}
