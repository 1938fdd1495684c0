//! `holdfast.toml`: the server settings, the default limits and one `[[class]]` per binding.
//!
//! The bottom layer: plain validated data, importing nothing of the crate.
//!
//! Relative component paths resolve against the directory of the config file, so the same file
//! works from any working directory. Unknown fields are refused so that a typo never silently
//! falls back to a default.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why a config could not be used. Every variant names the file; field errors name the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file `{path}` not found (pass --config FILE, or run from a directory with a holdfast.toml)"
    )]
    NotFound { path: PathBuf },
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file `{path}`: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config file `{path}`: {field}: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (for messages).
    pub path: PathBuf,
    pub server: ServerConfig,
    pub runtime: RuntimeConfig,
    pub admin: AdminConfig,
    pub alarms: AlarmConfig,
    pub websockets: WebSocketConfig,
    pub classes: Vec<ClassConfig>,
    /// `[worker]`: the stateless entry point, if one is configured.
    pub worker: Option<WorkerConfig>,
    /// `[vars]`: strings every worker and object reads (`env.NAME` in JavaScript), by name.
    pub vars: Vec<(String, String)>,
}

/// `[websockets]`: limits of host-owned sockets.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// Largest incoming message; a larger one closes the socket with code 1009.
    pub max_message_bytes: usize,
    /// Most open sockets per object; `accept` past it returns an error.
    pub max_sockets_per_object: usize,
    /// Bytes queued for one client that is not reading before its socket is closed with 1008
    /// (the object gets the close event).
    pub max_outbox_bytes: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message_bytes: 1 << 20,
            max_sockets_per_object: 32_768,
            max_outbox_bytes: 4 << 20,
        }
    }
}

/// `[admin]`: the test-control and inspection API under `/_/admin/`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bearer token the admin API requires; without one the admin API is disabled. The
    /// environment variable `HOLDFAST_ADMIN_TOKEN` overrides it.
    pub token: Option<String>,
}

/// `[alarms]`: retries of failed alarm handlers.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmConfig {
    /// Delay before the first retry; each further retry doubles it (with jitter).
    pub retry_base_ms: u64,
    /// Retries after the first failure; then the alarm is dropped with an error in the log.
    pub max_retries: u32,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        AlarmConfig {
            retry_base_ms: 2000,
            max_retries: 6,
        }
    }
}

/// `[server]`: where to listen and keep data, and request-level limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`--listen` overrides).
    pub listen: SocketAddr,
    /// Data directory: the redb database (`--data` overrides).
    pub data: PathBuf,
    /// Compiled-code cache, shared by every data directory (entries are keyed by the component's
    /// bytes and the engine's settings). Default: `$XDG_CACHE_HOME/holdfast`, else
    /// `~/.cache/holdfast`, else `cache/` in the data directory.
    pub cache: Option<PathBuf>,
    /// Largest accepted request body; larger gets 413.
    pub max_body_bytes: usize,
    /// A client must send a request's headers within this long (else the connection closes).
    pub header_timeout_ms: u64,
    /// A client must send a request's body within this long (else 408).
    pub body_timeout_ms: u64,
    /// Most open client connections; past it a new connection is answered 503 and closed.
    pub max_connections: usize,
    /// redb's page cache, in MiB (shared by every object; objects' own caches are
    /// `limits.cache_bytes` each).
    pub storage_cache_mib: u64,
    /// Test seams (the storage fault switch, actor panics) under `/_/admin/faults`. Set only by
    /// the environment variable `HOLDFAST_FAULT_INJECTION=1`, never by the file.
    #[serde(skip)]
    pub fault_injection: bool,
}

impl ServerConfig {
    /// Where compiled code is cached (see [`ServerConfig::cache`]).
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(c) = &self.cache {
            return c.clone();
        }
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env("XDG_CACHE_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".cache")))
            .map(|c| c.join("holdfast"))
            .unwrap_or_else(|| self.data.join("cache"))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8787".parse().expect("valid default address"),
            data: PathBuf::from(".holdfast"),
            cache: None,
            max_body_bytes: 1 << 20,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            max_connections: 10_000,
            storage_cache_mib: 64,
            fault_injection: false,
        }
    }
}

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
    /// dropped and read again when needed.
    pub cache_bytes: usize,
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
        }
    }
}

impl Limits {
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
struct PartialLimits {
    max_key_bytes: Option<usize>,
    max_value_bytes: Option<usize>,
    max_keys_per_call: Option<usize>,
    memory_mib: Option<u64>,
    cpu_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_event_write_bytes: Option<usize>,
    max_event_write_keys: Option<usize>,
    cache_bytes: Option<usize>,
}

impl PartialLimits {
    fn over(&self, base: Limits) -> Limits {
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
        }
    }
}

/// One `[[class]]`: a Durable Object class served under a binding.
#[derive(Debug, Clone)]
pub struct ClassConfig {
    /// URL prefix and namespace name.
    pub binding: String,
    /// The class name (for logs and messages).
    pub class: String,
    /// The component file, resolved against the config file's directory.
    pub component: PathBuf,
    pub limits: Limits,
}

/// `[worker]`: the component that receives every request outside `/_/`.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The component file, resolved against the config file's directory.
    pub component: PathBuf,
    pub limits: Limits,
    /// Most instances at once (each serves one request at a time); requests past it wait.
    pub max_instances: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    component: PathBuf,
    #[serde(default)]
    limits: PartialLimits,
    #[serde(default = "default_worker_instances")]
    max_instances: usize,
}

fn default_worker_instances() -> usize {
    64
}

/// `[runtime]`: host-wide capacity.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Most objects resident in memory at once (sizes the instance pool); past it the least
    /// recently used object that can leave is evicted.
    pub max_live_objects: u32,
    /// Most events waiting in one object's mailbox; past it requests get 503 with
    /// `Retry-After` (socket messages wait instead: their client is not read meanwhile).
    pub max_queued_events: usize,
    /// Most of one object's commits in flight; past it the object waits before its next event.
    pub max_in_flight_commits: usize,
    /// Deepest chain of calls between objects (A -> B -> C is 2 deep); a call past it fails
    /// with `too-deep`.
    pub max_call_depth: u32,
    /// How long a call to another object may take, queueing included; past it the call fails
    /// with `timeout` (the callee's event may still run).
    pub call_timeout_ms: u64,
}

impl RuntimeConfig {
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_live_objects: 10_000,
            max_queued_events: 1_000,
            max_in_flight_commits: 1_024,
            max_call_depth: 16,
            call_timeout_ms: 30_000,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    runtime: RuntimeConfig,
    #[serde(default)]
    limits: PartialLimits,
    #[serde(default)]
    admin: AdminConfig,
    #[serde(default)]
    alarms: AlarmConfig,
    #[serde(default)]
    websockets: WebSocketConfig,
    #[serde(default, rename = "class")]
    classes: Vec<RawClass>,
    #[serde(default)]
    vars: std::collections::BTreeMap<String, toml::Value>,
    worker: Option<RawWorker>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    binding: String,
    class: String,
    component: PathBuf,
    #[serde(default)]
    limits: PartialLimits,
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::NotFound {
                    path: path.to_owned(),
                }
            } else {
                ConfigError::Read {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates config text; `path` is used for messages and relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let invalid = |field: String, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        let defaults = raw.limits.over(Limits::default());
        let mut seen = HashSet::new();
        let mut classes = Vec::with_capacity(raw.classes.len());
        for (i, c) in raw.classes.into_iter().enumerate() {
            let field = |name: &str| format!("class[{i}].{name}");
            validate_binding(&c.binding).map_err(|m| invalid(field("binding"), m))?;
            if !seen.insert(c.binding.clone()) {
                return Err(invalid(
                    field("binding"),
                    format!("binding `{}` is used by more than one class", c.binding),
                ));
            }
            if c.class.trim().is_empty() {
                return Err(invalid(field("class"), "must not be empty".into()));
            }
            let limits = c.limits.over(defaults);
            validate_limits(&limits).map_err(|(f, m)| invalid(field(&format!("limits.{f}")), m))?;
            classes.push(ClassConfig {
                binding: c.binding,
                class: c.class,
                component: base_dir.join(c.component),
                limits,
            });
        }
        validate_limits(&defaults).map_err(|(f, m)| invalid(format!("limits.{f}"), m))?;
        for (field, v) in [
            ("runtime.max_queued_events", raw.runtime.max_queued_events),
            (
                "runtime.max_in_flight_commits",
                raw.runtime.max_in_flight_commits,
            ),
            ("server.max_connections", raw.server.max_connections),
            (
                "websockets.max_outbox_bytes",
                raw.websockets.max_outbox_bytes,
            ),
        ] {
            if v == 0 {
                return Err(invalid(field.into(), "must be at least 1".into()));
            }
        }
        if raw.runtime.max_call_depth == 0 || raw.runtime.max_call_depth > 1000 {
            return Err(invalid(
                "runtime.max_call_depth".into(),
                "must be between 1 and 1000".into(),
            ));
        }
        if raw.runtime.call_timeout_ms == 0 {
            return Err(invalid(
                "runtime.call_timeout_ms".into(),
                "must be greater than 0".into(),
            ));
        }
        let worker = match raw.worker {
            None => None,
            Some(w) => {
                let limits = w.limits.over(defaults);
                validate_limits(&limits)
                    .map_err(|(f, m)| invalid(format!("worker.limits.{f}"), m))?;
                if w.max_instances == 0 {
                    return Err(invalid(
                        "worker.max_instances".into(),
                        "must be at least 1".into(),
                    ));
                }
                Some(WorkerConfig {
                    component: base_dir.join(w.component),
                    limits,
                    max_instances: w.max_instances,
                })
            }
        };
        let mut vars = Vec::with_capacity(raw.vars.len());
        for (name, value) in raw.vars {
            match value {
                toml::Value::String(v) => vars.push((name, v)),
                other => {
                    return Err(invalid(
                        format!("vars.{name}"),
                        format!(
                            "must be a string (vars reach the code as strings), not a {}",
                            other.type_str()
                        ),
                    ));
                }
            }
        }
        if raw.runtime.max_live_objects == 0 {
            return Err(invalid(
                "runtime.max_live_objects".into(),
                "must be at least 1".into(),
            ));
        }
        if raw.admin.token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(invalid(
                "admin.token".into(),
                "must be at least 16 characters".into(),
            ));
        }
        if raw.alarms.retry_base_ms == 0 {
            return Err(invalid(
                "alarms.retry_base_ms".into(),
                "must be greater than 0".into(),
            ));
        }
        let mut server = raw.server;
        if server.data.is_relative() {
            server.data = base_dir.join(&server.data);
        }
        if let Some(c) = &server.cache
            && c.is_relative()
        {
            server.cache = Some(base_dir.join(c));
        }
        Ok(Config {
            path: path.to_owned(),
            server,
            runtime: raw.runtime,
            admin: raw.admin,
            alarms: raw.alarms,
            websockets: raw.websockets,
            classes,
            worker,
            vars,
        })
    }

    /// The class served under `binding`.
    pub fn class(&self, binding: &str) -> Option<&ClassConfig> {
        self.classes.iter().find(|c| c.binding == binding)
    }
}

fn validate_binding(b: &str) -> Result<(), String> {
    // What code reads (`env.COUNTER`, `env.CHAT_ROOM`) and, without a worker, the URL prefix.
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if b.is_empty() || b.len() > 63 || !b.chars().all(ok_char) || b.starts_with('_') {
        return Err(format!(
            "`{b}` is not a valid binding: use 1-63 characters of A-Z, a-z, 0-9, - and _, not starting with _"
        ));
    }
    Ok(())
}

/// The largest per-event write budget: one event's writes must fit in one commit batch.
pub const MAX_EVENT_WRITE_BYTES: usize = 64 << 20;

fn validate_limits(l: &Limits) -> Result<(), (&'static str, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/hf/holdfast.toml"), text)
    }

    #[test]
    fn defaults_and_overrides() {
        let c = parse(
            "[limits]\ncpu_ms = 500\n[[class]]\nbinding = \"counter\"\nclass = \"Counter\"\ncomponent = \"c.wasm\"\n[class.limits]\nmax_key_bytes = 10\n",
        )
        .unwrap();
        let class = &c.classes[0];
        assert_eq!(class.component, PathBuf::from("/etc/hf/c.wasm"));
        assert_eq!(class.limits.cpu_ms, 500);
        assert_eq!(class.limits.max_key_bytes, 10);
        assert_eq!(class.limits.max_value_bytes, 128 * 1024);
        assert_eq!(c.server.data, PathBuf::from("/etc/hf/.holdfast"));
    }

    #[test]
    fn errors_name_file_and_field() {
        let e =
            parse("[[class]]\nbinding = \"bad binding\"\nclass = \"C\"\ncomponent = \"c.wasm\"\n")
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("/etc/hf/holdfast.toml") && e.contains("class[0].binding"),
            "{e}"
        );
        let e = parse("[[class]]\nbinding = \"a\"\ncomponent = \"c.wasm\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `class`"), "{e}");
        let e = parse("[server]\nlisten = 5\n").unwrap_err().to_string();
        assert!(e.contains("listen"), "{e}");
        let e = parse("[limits]\ncpu_ms = 0\n").unwrap_err().to_string();
        assert!(e.contains("limits.cpu_ms"), "{e}");
    }
}
