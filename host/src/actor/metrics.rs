//! Counters of the object runtime (rendered at `GET /_/metrics` by the HTTP layer).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Counters and the activation-time distribution. Updated from actors concurrently: counters
/// are relaxed atomics (only read for reporting); the histogram sits behind a mutex taken once
/// per activation, never per event.
#[derive(Debug)]
pub struct Metrics {
    /// Microseconds from the start of instantiation to the end of the first event (not counting
    /// the wait for its commit).
    pub activation_us: Mutex<Histogram<u64>>,
    pub activations: AtomicU64,
    pub events: AtomicU64,
    pub traps: AtomicU64,
    /// Alarm handlers that completed successfully.
    pub alarms: AtomicU64,
    /// Events the guest failed (error, exception, trap); each discards the instance.
    pub failed_events: AtomicU64,
    /// Events that failed because storage failed while they ran.
    pub store_failures: AtomicU64,
    /// Requests refused because the object's mailbox was full.
    pub overloaded: AtomicU64,
    /// Cluster mode: requests passed to the node their object is placed on.
    pub forwarded: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            activation_us: Mutex::new(Histogram::new(3).expect("valid histogram precision")),
            activations: AtomicU64::new(0),
            events: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            alarms: AtomicU64::new(0),
            failed_events: AtomicU64::new(0),
            store_failures: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn record_activation(&self, took: Duration) {
        self.activations.fetch_add(1, Ordering::Relaxed);
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let _ = self
            .activation_us
            .lock()
            .expect("metrics lock")
            .record(us.max(1));
    }
}
