//! The alarm scheduler: wakes objects whose alarm is due, through their mailboxes.
//!
//! Alarms live in the database (`alarms` plus an index by time), written in the transaction of
//! the event that set them. The scheduler reads due alarms from the index, so an alarm set before
//! a restart, or on an evicted object, fires the same way; one due during downtime fires right
//! after start. An alarm leaves the index only when a handler succeeded (its commit deletes or
//! replaces it), so a crash between firing and completion fires it again: at-least-once.
//!
//! A failed handler (error or trap) is retried after `retry_base_ms`, doubling each time, with
//! ±25% jitter, up to `max_retries` times; then the alarm is deleted through the object and the
//! failure logged. Retry counts are kept in memory: a restart starts counting again.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::config::AlarmConfig;
use crate::object::{Event, EventError, Outcome};
use crate::registry::Registry;
use crate::storage::ObjectKey;

/// Longest sleep between looks at the index (bounds the effect of a missed wake-up).
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Due alarms fetched per look.
const BATCH: usize = 4096;

/// The scheduler's handle: lets committed alarm changes wake it.
#[derive(Debug, Default)]
pub struct AlarmWaker {
    notify: Notify,
}

impl AlarmWaker {
    /// Called after a commit that set an alarm: the earliest alarm may have changed.
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

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

/// Runs the scheduler until the process ends.
pub async fn run(registry: Arc<Registry>, waker: Arc<AlarmWaker>, config: AlarmConfig) {
    let tracked: Arc<Mutex<HashMap<ObjectKey, Tracked>>> = Arc::default();
    loop {
        let now = now_ms();
        let due = match registry.services().db.due_alarms(now, BATCH) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot read due alarms");
                Vec::new()
            }
        };
        let mut next_retry: Option<Instant> = None;
        for (scheduled_time, key) in due {
            let retries = {
                let mut t = tracked.lock().expect("alarm lock");
                match t.entry(key.clone()) {
                    Entry::Vacant(v) => {
                        v.insert(Tracked {
                            scheduled_time,
                            state: State::Running,
                        });
                        0
                    }
                    Entry::Occupied(mut o) => {
                        let tr = o.get_mut();
                        if tr.scheduled_time != scheduled_time {
                            // A new alarm replaced the failing one: start afresh.
                            if matches!(tr.state, State::Running) {
                                continue;
                            }
                            *tr = Tracked {
                                scheduled_time,
                                state: State::Running,
                            };
                            0
                        } else {
                            match tr.state {
                                State::Running => continue,
                                State::Waiting { at, .. } if at > Instant::now() => {
                                    next_retry = Some(next_retry.map_or(at, |n| n.min(at)));
                                    continue;
                                }
                                State::Waiting { retries, .. } => {
                                    tr.state = State::Running;
                                    retries
                                }
                            }
                        }
                    }
                }
            };
            tokio::spawn(deliver(
                registry.clone(),
                tracked.clone(),
                key,
                scheduled_time,
                retries,
                config,
            ));
        }
        let next_due = registry.services().db.next_alarm().ok().flatten();
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
            _ = waker.notify.notified() => {}
        }
    }
}

async fn deliver(
    registry: Arc<Registry>,
    tracked: Arc<Mutex<HashMap<ObjectKey, Tracked>>>,
    key: ObjectKey,
    scheduled_time: i64,
    retries: u32,
    config: AlarmConfig,
) {
    let (namespace, id) = key.parts();
    let Some(class) = registry.class(namespace).cloned() else {
        // An alarm of a namespace no longer configured: leave it stored, never fire it.
        tracing::warn!(%namespace, %id, "alarm of an unknown namespace ignored");
        return;
    };
    let event = Event::Alarm {
        scheduled_time,
        retry_count: retries,
    };
    let outcome = registry.send(&class, id, None, event).await;
    let failure = match outcome {
        Ok(Ok(Outcome::Done | Outcome::Skipped | Outcome::Response(..))) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(EventError::Guest(crate::instance::GuestFailure::Error(
            "the object went away".into(),
        ))),
    };
    let Some(err) = failure else {
        // The handler's commit removed (or replaced) the alarm in the index already; look again
        // in case more alarms are due than one look takes.
        tracked.lock().expect("alarm lock").remove(&key);
        registry.services().alarm_waker.wake();
        return;
    };
    if retries >= config.max_retries {
        tracing::error!(%namespace, %id, scheduled_time, retries, error = %err, "alarm failed after its last retry; dropping it");
        let drop = registry.send(&class, id, None, Event::DropAlarm { scheduled_time });
        let _ = drop.await;
        tracked.lock().expect("alarm lock").remove(&key);
        return;
    }
    let delay = backoff(config.retry_base_ms, retries);
    tracing::warn!(%namespace, %id, scheduled_time, retry_in_ms = delay.as_millis() as u64, error = %err, "alarm failed; will retry");
    if let Some(t) = tracked.lock().expect("alarm lock").get_mut(&key) {
        t.state = State::Waiting {
            retries: retries + 1,
            at: Instant::now() + delay,
        };
    }
    registry.services().alarm_waker.wake();
}

/// `base * 2^retries`, ±25% jitter.
fn backoff(base_ms: u64, retries: u32) -> Duration {
    let ms = base_ms.saturating_mul(1u64 << retries.min(30)) as f64;
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    Duration::from_millis((ms * jitter) as u64)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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
