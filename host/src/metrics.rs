//! Host metrics, served at `GET /_/metrics` in Prometheus text format.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::commit::CommitStats;

/// Counters and the activation-time distribution. Updated from actors concurrently: counters
/// are relaxed atomics (only read for reporting); the histogram sits behind a mutex taken once
/// per activation, never per event.
#[derive(Debug)]
pub struct Metrics {
    /// Microseconds from the start of instantiation to the end of the first event (not counting
    /// the wait for its commit).
    activation_us: Mutex<Histogram<u64>>,
    pub activations: AtomicU64,
    pub evictions: AtomicU64,
    pub events: AtomicU64,
    pub traps: AtomicU64,
    /// Alarm handlers that completed successfully.
    pub alarms: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            activation_us: Mutex::new(Histogram::new(3).expect("valid histogram precision")),
            activations: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            events: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            alarms: AtomicU64::new(0),
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

    /// The metrics as Prometheus text.
    pub fn render(&self, live: usize, sockets: usize, commits: &CommitStats) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP holdfast_{name} {help}\n# TYPE holdfast_{name} {kind}\nholdfast_{name} {v}"
            );
        };
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            "live_objects",
            "Objects resident in memory.",
            "gauge",
            live as u64,
        );
        counter(
            "websockets",
            "Open WebSockets (of live and hibernated objects).",
            "gauge",
            sockets as u64,
        );
        counter(
            "activations_total",
            "Instances created.",
            "counter",
            c(&self.activations),
        );
        counter(
            "evictions_total",
            "Objects that left memory.",
            "counter",
            c(&self.evictions),
        );
        counter(
            "events_total",
            "Events delivered to objects.",
            "counter",
            c(&self.events),
        );
        counter(
            "traps_total",
            "Events that trapped.",
            "counter",
            c(&self.traps),
        );
        counter(
            "alarms_total",
            "Alarm handlers that succeeded.",
            "counter",
            c(&self.alarms),
        );
        counter(
            "commits_total",
            "redb write transactions committed.",
            "counter",
            c(&commits.commits),
        );
        counter(
            "commit_jobs_total",
            "Events released by the committer.",
            "counter",
            c(&commits.jobs),
        );
        counter(
            "commit_failures_total",
            "Failed commits.",
            "counter",
            c(&commits.failures),
        );
        let h = self.activation_us.lock().expect("metrics lock");
        let _ = writeln!(
            out,
            "# HELP holdfast_activation_seconds Instantiation plus first event of an object.\n# TYPE holdfast_activation_seconds summary"
        );
        for q in [0.5, 0.9, 0.99] {
            let _ = writeln!(
                out,
                "holdfast_activation_seconds{{quantile=\"{q}\"}} {}",
                h.value_at_quantile(q) as f64 / 1e6
            );
        }
        let _ = writeln!(out, "holdfast_activation_seconds_count {}", h.len());
        out
    }
}
