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
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, u64); 10] = [
            (
                "live_objects",
                "gauge",
                "Objects resident in memory.",
                live as u64,
            ),
            (
                "websockets",
                "gauge",
                "Open WebSockets (of live and hibernated objects).",
                sockets as u64,
            ),
            (
                "activations_total",
                "counter",
                "Instances created.",
                c(&self.activations),
            ),
            (
                "evictions_total",
                "counter",
                "Objects that left memory.",
                c(&self.evictions),
            ),
            (
                "events_total",
                "counter",
                "Events delivered to objects.",
                c(&self.events),
            ),
            (
                "traps_total",
                "counter",
                "Events that trapped.",
                c(&self.traps),
            ),
            (
                "alarms_total",
                "counter",
                "Alarm handlers that succeeded.",
                c(&self.alarms),
            ),
            (
                "commits_total",
                "counter",
                "redb write transactions committed.",
                c(&commits.commits),
            ),
            (
                "commit_jobs_total",
                "counter",
                "Events released by the committer.",
                c(&commits.jobs),
            ),
            (
                "commit_failures_total",
                "counter",
                "Failed commits.",
                c(&commits.failures),
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, v) in rows {
            let _ = writeln!(
                out,
                "# HELP holdfast_{name} {help}\n# TYPE holdfast_{name} {kind}\nholdfast_{name} {v}"
            );
        }
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
