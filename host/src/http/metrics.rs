//! `GET /_/metrics`: the host's counters in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::actor::Directory;

/// The metrics as Prometheus text.
pub fn render(directory: &Directory) -> String {
    let s = directory.services();
    let m = &s.metrics;
    let commits = s.committer.stats();
    let health = s.db.health();
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let table = s.classes.load();
    let shared = table.iter().filter_map(|(_, served)| served.hosts.as_ref());
    let (instances, moves, lost) = shared.fold((0, 0, 0), |(i, m, l), h| {
        (i + h.count() as u64, m + c(&h.moves), l + c(&h.lost))
    });
    let rows: Vec<(&str, &str, &str, u64)> = vec![
        (
            "live_objects",
            "gauge",
            "Objects resident in memory.",
            directory.live_count() as u64,
        ),
        (
            "websockets",
            "gauge",
            "Open WebSockets (of live and hibernated objects).",
            s.hub.count() as u64,
        ),
        (
            "activations_total",
            "counter",
            "Instances created.",
            c(&m.activations),
        ),
        (
            "shared_instances",
            "gauge",
            "Instances hosting many objects (classes with objects_per_instance above 1).",
            instances,
        ),
        (
            "shared_moves_total",
            "counter",
            "Objects moved off a shared instance that waited in a call (their memory is made anew).",
            moves,
        ),
        (
            "shared_instances_lost_total",
            "counter",
            "Shared instances lost to a trap (every object they hosted starts afresh).",
            lost,
        ),
        (
            "evictions_total",
            "counter",
            "Objects that left memory.",
            directory.evictions(),
        ),
        (
            "events_total",
            "counter",
            "Events delivered to objects.",
            c(&m.events),
        ),
        (
            "traps_total",
            "counter",
            "Events that trapped.",
            c(&m.traps),
        ),
        (
            "failed_events_total",
            "counter",
            "Events the guest failed (each discards the object's instance, or its slot in a shared one).",
            c(&m.failed_events),
        ),
        (
            "event_store_failures_total",
            "counter",
            "Events failed by a storage failure while they ran.",
            c(&m.store_failures),
        ),
        (
            "overloaded_total",
            "counter",
            "Requests refused because the object's mailbox was full.",
            c(&m.overloaded),
        ),
        (
            "forwarded_total",
            "counter",
            "Cluster mode: requests passed to the node their object is placed on.",
            c(&m.forwarded),
        ),
        (
            "alarms_total",
            "counter",
            "Alarm handlers that succeeded.",
            c(&m.alarms),
        ),
        (
            "commits_total",
            "counter",
            "redb write transactions committed.",
            c(&commits.commits),
        ),
        (
            "commit_micros_total",
            "counter",
            "Microseconds spent writing and syncing committed transactions (over commits_total: the mean commit latency).",
            c(&commits.commit_micros),
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
            "Batches whose writes were not kept after retrying.",
            c(&commits.failures),
        ),
        (
            "commit_refused_total",
            "counter",
            "Batches refused at once while storage was failed.",
            c(&commits.refused),
        ),
        (
            "storage_ok",
            "gauge",
            "1 while commits succeed, 0 while storage is failed.",
            u64::from(health.is_ok()),
        ),
        (
            "storage_errors_total",
            "counter",
            "Failed commit attempts (each is retried after reopening).",
            c(&health.failures),
        ),
        (
            "storage_reopens_total",
            "counter",
            "Times the database was reopened after an I/O error.",
            c(&health.reopens),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, v) in rows {
        let _ = writeln!(
            out,
            "# HELP holdfast_{name} {help}\n# TYPE holdfast_{name} {kind}\nholdfast_{name} {v}"
        );
    }
    let h = m.activation_us.lock().expect("metrics lock");
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
