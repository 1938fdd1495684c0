//! Per-class limits: `[limits]` for every class, `[class.limits]` and `[worker.limits]` per
//! component, and their validation.

use std::time::Duration;

use serde::Deserialize;

/// Limits of one class's objects. `[limits]` sets them for all classes, `[class.limits]` per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest storage key in bytes.
    pub max_key_bytes: usize,
    /// Largest storage value in bytes.
    pub max_value_bytes: usize,
    /// Most keys in one get-many / put-many / delete-many call.
    pub max_keys_per_call: usize,
    /// Linear memory limit of one instance, in MiB.
    pub memory_mib: u64,
    /// The guest's time budget per event, in milliseconds: counted in 1 ms epoch ticks while
    /// the guest's own code runs. Waiting for the scheduler or inside a host call (a storage
    /// read) counts at most one tick per yield or call, so this is the guest's time, not the
    /// event's wall time. Past it the event traps ("exceeded the CPU time limit").
    pub cpu_ms: u64,
    /// An object with no event for this long is evicted from memory.
    pub idle_timeout_ms: u64,
    /// Bytes of keys and values one event may write; past it the storage call fails.
    pub max_event_write_bytes: usize,
    /// Keys one event may write (puts and deletes); past it the storage call fails.
    pub max_event_write_keys: usize,
    /// Bytes of storage entries an activation keeps cached; past it durable entries are
    /// dropped and read again when needed. The SQLite page cache of an object is as large.
    pub cache_bytes: usize,
    /// Bytes an object's SQL database may grow to (10 GB, as on Cloudflare); past it a write
    /// fails with "the object's SQL database is full".
    pub max_sql_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_bytes: 2048,
            max_value_bytes: 128 * 1024,
            max_keys_per_call: 128,
            memory_mib: 128,
            cpu_ms: 30_000,
            idle_timeout_ms: 30_000,
            max_event_write_bytes: 64 << 20,
            max_event_write_keys: 65_536,
            cache_bytes: 4 << 20,
            max_sql_bytes: 10_000_000_000,
        }
    }
}

impl Limits {
    /// The defaults of a SQLite-backed class: key and value together up to 2 MB (the value
    /// limit then counts the key too), as on Cloudflare.
    pub fn sqlite() -> Limits {
        Limits {
            max_key_bytes: SQLITE_ENTRY_BYTES,
            max_value_bytes: SQLITE_ENTRY_BYTES,
            ..Limits::default()
        }
    }

    pub fn cpu_deadline(&self) -> Duration {
        Duration::from_millis(self.cpu_ms)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn memory_bytes(&self) -> usize {
        (self.memory_mib as usize) << 20
    }
}

/// Like [`Limits`], every field optional (for `[limits]` and `[class.limits]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PartialLimits {
    max_key_bytes: Option<usize>,
    max_value_bytes: Option<usize>,
    max_keys_per_call: Option<usize>,
    memory_mib: Option<u64>,
    cpu_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_event_write_bytes: Option<usize>,
    max_event_write_keys: Option<usize>,
    cache_bytes: Option<usize>,
    max_sql_bytes: Option<u64>,
}

impl PartialLimits {
    pub(super) fn over(&self, base: Limits) -> Limits {
        Limits {
            max_key_bytes: self.max_key_bytes.unwrap_or(base.max_key_bytes),
            max_value_bytes: self.max_value_bytes.unwrap_or(base.max_value_bytes),
            max_keys_per_call: self.max_keys_per_call.unwrap_or(base.max_keys_per_call),
            memory_mib: self.memory_mib.unwrap_or(base.memory_mib),
            cpu_ms: self.cpu_ms.unwrap_or(base.cpu_ms),
            idle_timeout_ms: self.idle_timeout_ms.unwrap_or(base.idle_timeout_ms),
            max_event_write_bytes: self
                .max_event_write_bytes
                .unwrap_or(base.max_event_write_bytes),
            max_event_write_keys: self
                .max_event_write_keys
                .unwrap_or(base.max_event_write_keys),
            cache_bytes: self.cache_bytes.unwrap_or(base.cache_bytes),
            max_sql_bytes: self.max_sql_bytes.unwrap_or(base.max_sql_bytes),
        }
    }
}

/// Key plus value of a SQLite-backed class's entry, by default.
pub const SQLITE_ENTRY_BYTES: usize = 2_000_000;

/// The largest per-event write budget: one event's writes must fit in one commit batch.
pub const MAX_EVENT_WRITE_BYTES: usize = 64 << 20;

pub(super) fn validate_limits(l: &Limits) -> Result<(), (&'static str, String)> {
    let positive = [
        ("max_key_bytes", l.max_key_bytes as u64),
        ("max_value_bytes", l.max_value_bytes as u64),
        ("max_keys_per_call", l.max_keys_per_call as u64),
        ("memory_mib", l.memory_mib),
        ("cpu_ms", l.cpu_ms),
        ("idle_timeout_ms", l.idle_timeout_ms),
        ("max_event_write_bytes", l.max_event_write_bytes as u64),
        ("max_event_write_keys", l.max_event_write_keys as u64),
        ("cache_bytes", l.cache_bytes as u64),
        ("max_sql_bytes", l.max_sql_bytes),
    ];
    for (name, v) in positive {
        if v == 0 {
            return Err((name, "must be greater than 0".into()));
        }
    }
    if l.memory_mib > 4096 {
        return Err(("memory_mib", "must be at most 4096".into()));
    }
    if l.max_event_write_bytes > MAX_EVENT_WRITE_BYTES {
        return Err((
            "max_event_write_bytes",
            format!("must be at most {MAX_EVENT_WRITE_BYTES} (what one commit takes)"),
        ));
    }
    Ok(())
}
