//! The configuration: `holdfast.toml` (the server settings, the default limits, one `[[class]]`
//! per class, the worker, vars and migrations), or a Cloudflare project's wrangler file
//! (`wrangler.rs`), alone or named by a holdfast.toml's `[project]`.
//!
//! The bottom layer: plain validated data, importing nothing of the crate.
//!
//! Relative component paths resolve against the directory of the config file, so the same file
//! works from any working directory. Unknown fields are refused so that a typo never silently
//! falls back to a default.

mod build;
mod cluster;
mod limits;
mod migrations;
mod wrangler;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use build::{BuildStep, ClassBuild, Lang};
pub use cluster::ClusterConfig;
pub use limits::Limits;
use limits::{PartialLimits, validate_limits};
pub use migrations::Migration;

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
    pub history: HistoryConfig,
    pub backup: BackupConfig,
    /// Cluster mode, if configured (`[cluster]`).
    pub cluster: Option<ClusterConfig>,
    pub classes: Vec<ClassConfig>,
    /// `[worker]`: the stateless entry point, if one is configured.
    pub worker: Option<WorkerConfig>,
    /// `[vars]`: strings every worker and object reads (`env.NAME` in JavaScript), by name.
    pub vars: Vec<(String, String)>,
    /// `[[migrations]]`, in order: applied once each at start-up.
    pub migrations: Vec<Migration>,
    /// The module to bundle and compile before start (a wrangler project's `main`).
    pub build: Option<JsBuild>,
    /// Settings that were read but are not supported, each named; start-up logs them.
    pub warnings: Vec<String>,
    /// `[limits]` over the built-in defaults (what key-value backed classes without their own
    /// limits get).
    pub defaults: Limits,
    /// `[limits]` over the defaults of SQLite-backed classes.
    pub sqlite_defaults: Limits,
}

/// How a class keeps its objects' storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Key-value storage and a SQL database (`ctx.storage.sql`); keys and values together up
    /// to 2 MB. What new classes get, as on Cloudflare.
    #[default]
    Sqlite,
    /// Key-value storage only, with Cloudflare's limits of KV-backed classes (2 KiB keys,
    /// 128 KiB values); SQL calls are refused.
    Kv,
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
    /// Serve the admin API and the inspector on this address alone (not on `server.listen`),
    /// e.g. a loopback or private address while the objects' routes face the world. Unset:
    /// both are under `/_/` of the main listener.
    pub listen: Option<SocketAddr>,
}

/// `[backup]`: backups a running server takes (`GET /_/admin/backup`, `holdfast backup`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// How fast the server copies its snapshot, in MiB per second, so that the copy's writes
    /// leave the disk to the server's commits; 0 copies as fast as the disk goes.
    pub max_mib_per_second: u64,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            max_mib_per_second: 64,
        }
    }
}

impl BackupConfig {
    /// The pace in bytes per second, `None` when unpaced.
    pub fn max_bytes_per_second(&self) -> Option<u64> {
        (self.max_mib_per_second > 0).then(|| self.max_mib_per_second.saturating_mul(1 << 20))
    }
}

/// `[history]`: point-in-time recovery (every commit keeps what it overwrote, per object).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// How long history is kept (bookmarks older than this are refused, and their records
    /// reclaimed); 0 keeps none. Default 30 days, as on Cloudflare.
    pub retention_seconds: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            retention_seconds: 30 * 24 * 3600,
        }
    }
}

impl HistoryConfig {
    /// The retention window, `None` when history is off.
    pub fn retention(&self) -> Option<Duration> {
        (self.retention_seconds > 0).then(|| Duration::from_secs(self.retention_seconds))
    }
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

/// One Durable Object class: a `[[class]]` of holdfast.toml, or a
/// `[[durable_objects.bindings]]` entry of a wrangler project.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassConfig {
    /// The name code reads (`env.COUNTER`, `state.binding("counter")`): any identifier.
    pub binding: String,
    /// The class name the component exports (a component may hold several classes).
    pub class: String,
    /// Whose objects these are: the key of their storage and IDs. The class name unless set, as
    /// on Cloudflare, so renaming a binding loses nothing; only a migration moves it.
    pub namespace: String,
    /// The prefix of Holdfast's direct routes (`/{route}/{name}/...`), if the class has them.
    pub route: Option<String>,
    /// The component file, resolved against the config file's directory.
    pub component: PathBuf,
    /// SQLite-backed (the default) or key-value backed.
    pub storage: StorageBackend,
    pub limits: Limits,
    /// The hosts its objects' outbound `fetch()` may reach (none by default).
    pub outbound: Vec<String>,
    /// Where the config sets `outbound` (named when a request is denied).
    pub outbound_key: String,
    /// Most objects one instance hosts at once (`objects_per_instance`). Unset: 1000 for a
    /// component that exports `holdfast:object/hosting` (the JavaScript and Python SDKs), 1
    /// otherwise (Rust); above 1 it needs that export.
    pub objects_per_instance: Option<u32>,
    /// How many instances objects are spread over before one hosts a second object
    /// (`instances`; unset: one per core). More are made while these are full, or suspended
    /// in calls. Only for classes hosting many objects per instance.
    pub instances: Option<u32>,
    /// How `holdfast dev` builds the component (`build`, `watch`); `serve` ignores it.
    pub build: Option<ClassBuild>,
}

/// `[worker]`: the component that receives every request outside `/_/`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// The component file, resolved against the config file's directory.
    pub component: PathBuf,
    pub limits: Limits,
    /// Most instances at once (each serves one request at a time); requests past it wait.
    pub max_instances: usize,
    /// The hosts its outbound `fetch()` may reach (none by default).
    pub outbound: Vec<String>,
    /// Where the config sets `outbound` (named when a request is denied).
    pub outbound_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    component: PathBuf,
    #[serde(default)]
    limits: PartialLimits,
    #[serde(default = "default_worker_instances")]
    max_instances: usize,
    #[serde(default)]
    outbound: Vec<String>,
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
    #[serde(default)]
    history: HistoryConfig,
    #[serde(default)]
    backup: BackupConfig,
    cluster: Option<ClusterConfig>,
    #[serde(default, rename = "class")]
    classes: Vec<RawClass>,
    #[serde(default)]
    vars: std::collections::BTreeMap<String, toml::Value>,
    worker: Option<RawWorker>,
    project: Option<RawProject>,
    migrations: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    binding: String,
    class: String,
    namespace: Option<String>,
    route: Option<String>,
    /// The .wasm file; with a `source` and no `build`, `.holdfast/build/{binding}.wasm` unless set.
    component: Option<PathBuf>,
    #[serde(default)]
    storage: StorageBackend,
    #[serde(default)]
    limits: PartialLimits,
    #[serde(default)]
    outbound: Vec<String>,
    objects_per_instance: Option<u32>,
    instances: Option<u32>,
    /// A shell command that builds `component` (`holdfast dev` runs it).
    build: Option<String>,
    /// What the default build of its language builds (instead of a `build` command).
    source: Option<PathBuf>,
    /// The language of `source`, where its name does not tell.
    lang: Option<Lang>,
    /// What `holdfast dev` watches to rebuild (relative to this file; default: its directory).
    #[serde(default)]
    watch: Vec<PathBuf>,
}

/// `[project]`: serve a Cloudflare project (its classes, worker, vars and migrations) with this
/// file's server settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    /// The wrangler.toml / wrangler.jsonc, relative to this file.
    wrangler: PathBuf,
    /// Direct routes (`/{route}/{name}/...`) by binding; a project has none unless named here.
    #[serde(default)]
    routes: std::collections::BTreeMap<String, String>,
    #[serde(default = "default_worker_instances")]
    max_instances: usize,
    /// The hosts the worker's and every class's outbound `fetch()` may reach.
    #[serde(default)]
    outbound: Vec<String>,
}

/// A JavaScript or TypeScript module that start-up bundles and compiles into one component
/// holding the worker and every class (a wrangler project's `main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsBuild {
    /// The entry module, absolute.
    pub main: PathBuf,
    /// The project's directory (where its `node_modules` are).
    pub project: PathBuf,
    /// Where the component goes (every class's and the worker's `component`).
    pub out: PathBuf,
}

/// The directory a config file's relative paths start from: its parent, or `.` for a bare file
/// name (whose parent is the empty path, which no process can `cd` into).
pub(crate) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl Config {
    /// Reads and validates `path`: a holdfast.toml, or a wrangler project file
    /// (`wrangler.toml`, `wrangler.jsonc`, `wrangler.json`) served with default settings.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read(path)?;
        if wrangler::is_wrangler_file(path) {
            let mut c = Self::parse(path, "")?;
            c.add_project(
                path,
                &text,
                &Default::default(),
                default_worker_instances(),
                &[],
            )?;
            c.check_migrations()?;
            return Ok(c);
        }
        Self::parse(path, &text)
    }

    /// The config to use when none is named: `holdfast.toml` in `dir`, else its wrangler
    /// project file; `None` if there is neither.
    pub fn find(dir: &Path) -> Option<PathBuf> {
        [
            "holdfast.toml",
            "wrangler.toml",
            "wrangler.jsonc",
            "wrangler.json",
        ]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
    }

    /// Parses and validates holdfast.toml text; `path` is used for messages and relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let base_dir = dir_of(path);
        let invalid = |field: String, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        let defaults = raw.limits.over(Limits::default());
        let sqlite_defaults = raw.limits.over(Limits::sqlite());
        let mut classes = Vec::with_capacity(raw.classes.len());
        for (i, c) in raw.classes.into_iter().enumerate() {
            let field = |name: &str| format!("class[{i}].{name}");
            validate_binding(&c.binding).map_err(|m| invalid(field("binding"), m))?;
            if c.class.trim().is_empty() {
                return Err(invalid(field("class"), "must not be empty".into()));
            }
            let namespace = c.namespace.unwrap_or_else(|| c.class.clone());
            validate_namespace(&namespace).map_err(|m| invalid(field("namespace"), m))?;
            let route = c.route.unwrap_or_else(|| c.binding.clone());
            validate_route(&route).map_err(|m| invalid(field("route"), m))?;
            let limits = c.limits.over(match c.storage {
                StorageBackend::Sqlite => sqlite_defaults,
                StorageBackend::Kv => defaults,
            });
            validate_limits(&limits).map_err(|(f, m)| invalid(field(&format!("limits.{f}")), m))?;
            validate_outbound(&c.outbound)
                .map_err(|(j, m)| invalid(field(&format!("outbound[{j}]")), m))?;
            for (name, v) in [
                ("objects_per_instance", c.objects_per_instance),
                ("instances", c.instances),
            ] {
                if v == Some(0) {
                    return Err(invalid(field(name), "must be at least 1".into()));
                }
            }
            let (component, build) = build::resolve(
                build::RawBuild {
                    binding: &c.binding,
                    component: c.component.as_deref(),
                    build: c.build,
                    source: c.source.as_deref(),
                    lang: c.lang,
                    watch: &c.watch,
                },
                base_dir,
            )
            .map_err(|(f, m)| invalid(field(f), m))?;
            classes.push(ClassConfig {
                outbound_key: format!(
                    "{} (the class with binding `{}`)",
                    field("outbound"),
                    c.binding
                ),
                binding: c.binding,
                class: c.class,
                namespace,
                route: Some(route),
                component,
                storage: c.storage,
                limits,
                outbound: c.outbound,
                objects_per_instance: c.objects_per_instance,
                instances: c.instances,
                build,
            });
        }
        check_unique(&classes).map_err(|(i, f, m)| invalid(format!("class[{i}].{f}"), m))?;
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
                validate_outbound(&w.outbound)
                    .map_err(|(j, m)| invalid(format!("worker.outbound[{j}]"), m))?;
                Some(WorkerConfig {
                    component: base_dir.join(w.component),
                    limits,
                    max_instances: w.max_instances,
                    outbound: w.outbound,
                    outbound_key: "worker.outbound".into(),
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
        let mut warnings = Vec::new();
        let migrations = match &raw.migrations {
            None => Vec::new(),
            Some(v) => migrations::parse(v, true, &mut warnings).map_err(|(f, m)| invalid(f, m))?,
        };
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
        let mut cluster = raw.cluster;
        if let Some(c) = &mut cluster {
            if let Ok(url) = std::env::var("HOLDFAST_DATABASE_URL") {
                c.database_url = url;
            }
            c.check().map_err(|(f, m)| invalid(f, m))?;
        }
        let mut history = raw.history;
        if cluster.is_some() && history.retention_seconds > 0 {
            // Its undo records live in the redb file; cluster mode has none yet.
            history.retention_seconds = 0;
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
        let mut config = Config {
            path: path.to_owned(),
            server,
            runtime: raw.runtime,
            admin: raw.admin,
            alarms: raw.alarms,
            websockets: raw.websockets,
            history,
            backup: raw.backup,
            cluster,
            classes,
            worker,
            vars,
            migrations,
            build: None,
            warnings,
            defaults,
            sqlite_defaults,
        };
        if let Some(p) = raw.project {
            if !config.classes.is_empty() || config.worker.is_some() || !config.vars.is_empty() {
                return Err(invalid(
                    "project".into(),
                    "a [project] brings its own classes, worker and vars: remove [[class]], [worker] and [vars] from this file".into(),
                ));
            }
            if !config.migrations.is_empty() {
                return Err(invalid(
                    "project".into(),
                    "a [project]'s migrations are those of its wrangler file: remove [[migrations]] from this file".into(),
                ));
            }
            if p.max_instances == 0 {
                return Err(invalid(
                    "project.max_instances".into(),
                    "must be at least 1".into(),
                ));
            }
            validate_outbound(&p.outbound)
                .map_err(|(j, m)| invalid(format!("project.outbound[{j}]"), m))?;
            let file = base_dir.join(&p.wrangler);
            let text = read(&file)?;
            config.add_project(&file, &text, &p.routes, p.max_instances, &p.outbound)?;
        }
        config.check_migrations()?;
        Ok(config)
    }

    /// Adds a wrangler project's classes, worker, vars and migrations (read from `file`).
    fn add_project(
        &mut self,
        file: &Path,
        text: &str,
        routes: &std::collections::BTreeMap<String, String>,
        max_instances: usize,
        outbound: &[String],
    ) -> Result<(), ConfigError> {
        let outbound_key = format!("project.outbound of {}", self.path.display());
        let project = wrangler::read(file, text)?;
        let dir = dir_of(file);
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        let out = dir.join(".holdfast/build/worker.wasm");
        for (binding, class) in &project.bindings {
            let storage = migrations::backend_of(&project.migrations, class);
            self.classes.push(ClassConfig {
                binding: binding.clone(),
                class: class.clone(),
                namespace: class.clone(),
                route: routes.get(binding).cloned(),
                component: out.clone(),
                storage,
                limits: match storage {
                    StorageBackend::Sqlite => self.sqlite_defaults,
                    StorageBackend::Kv => self.defaults,
                },
                outbound: outbound.to_vec(),
                outbound_key: outbound_key.clone(),
                objects_per_instance: None,
                instances: None,
                build: None,
            });
        }
        let invalid = |field: String, message: String| ConfigError::Invalid {
            path: self.path.clone(),
            field,
            message,
        };
        for (binding, route) in routes {
            if !project.bindings.iter().any(|(b, _)| b == binding) {
                return Err(invalid(
                    format!("project.routes.{binding}"),
                    format!("no binding `{binding}` in {}", file.display()),
                ));
            }
            validate_route(route).map_err(|m| invalid(format!("project.routes.{binding}"), m))?;
        }
        check_unique(&self.classes).map_err(|(i, _, m)| {
            invalid(format!("project.routes.{}", self.classes[i].binding), m)
        })?;
        self.worker = Some(WorkerConfig {
            component: out.clone(),
            limits: self.defaults,
            max_instances,
            outbound: outbound.to_vec(),
            outbound_key,
        });
        self.vars = project.vars;
        self.migrations = project.migrations;
        self.warnings.extend(
            project
                .warnings
                .into_iter()
                .map(|w| format!("{}: {w}", file.display())),
        );
        self.build = Some(JsBuild {
            main: project.main,
            project: dir,
            out,
        });
        Ok(())
    }

    /// A migration may not delete a namespace a class still uses (unless a later one creates it
    /// again).
    fn check_migrations(&self) -> Result<(), ConfigError> {
        let mut deleted_by = std::collections::HashMap::new();
        for m in &self.migrations {
            for d in &m.deleted_classes {
                deleted_by.insert(d.as_str(), m.tag.as_str());
            }
            for n in m
                .new_classes
                .iter()
                .chain(m.renamed_classes.iter().map(|(_, to)| to))
            {
                deleted_by.remove(n.as_str());
            }
        }
        for (deleted, tag) in deleted_by {
            {
                let m = self
                    .migrations
                    .iter()
                    .find(|m| m.tag == tag)
                    .expect("a listed tag");
                if let Some(c) = self.classes.iter().find(|c| c.namespace == deleted) {
                    return Err(ConfigError::Invalid {
                        path: self.path.clone(),
                        field: "migrations".into(),
                        message: format!(
                            "migration `{}` deletes class `{deleted}`, but binding `{}` still uses it: remove the binding first",
                            m.tag, c.binding
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The class whose binding is `binding`.
    pub fn class(&self, binding: &str) -> Option<&ClassConfig> {
        self.classes.iter().find(|c| c.binding == binding)
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| {
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
    })
}

/// Bindings, namespaces and routes must each name one class: `(index, field, message)` of the
/// first that does not.
fn check_unique(classes: &[ClassConfig]) -> Result<(), (usize, &'static str, String)> {
    for (i, c) in classes.iter().enumerate() {
        for (j, other) in classes[..i].iter().enumerate() {
            if c.binding == other.binding {
                return Err((
                    i,
                    "binding",
                    format!("binding `{}` is used by more than one class", c.binding),
                ));
            }
            if c.namespace == other.namespace {
                return Err((
                    i,
                    "namespace",
                    format!(
                        "namespace `{}` is also class[{j}]'s (a class's namespace is its class name unless set): give one of them `namespace = \"...\"`",
                        c.namespace
                    ),
                ));
            }
            if c.route.is_some() && c.route == other.route {
                return Err((
                    i,
                    "route",
                    format!(
                        "route `{}` is also class[{j}]'s",
                        c.route.as_deref().unwrap_or("")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn validate_binding(b: &str) -> Result<(), String> {
    // What code reads (`env.COUNTER`, `state.binding("chat-room")`).
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '$';
    if b.is_empty() || b.len() > 63 || !b.chars().all(ok_char) || b.starts_with('_') {
        return Err(format!(
            "`{b}` is not a valid binding: use 1-63 characters of A-Z, a-z, 0-9, -, _ and $, not starting with _"
        ));
    }
    Ok(())
}

fn validate_route(r: &str) -> Result<(), String> {
    // The first segment of a direct route's path; `_` starts the host's own routes.
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    if r.is_empty() || r.len() > 63 || !r.chars().all(ok_char) || r.starts_with('_') {
        return Err(format!(
            "`{r}` is not a valid route: use 1-63 characters of A-Z, a-z, 0-9, -, _ and ., not starting with _"
        ));
    }
    Ok(())
}

/// Host patterns of an allow-list: `*`, `host`, `host:port`, `*.domain`. `Err((index, why))`.
fn validate_outbound(patterns: &[String]) -> Result<(), (usize, String)> {
    for (i, p) in patterns.iter().enumerate() {
        let name = p.strip_prefix("*.").unwrap_or(p);
        let (name, port) = match name.rsplit_once(':') {
            Some((n, port)) if !n.contains(':') => (n, Some(port)),
            _ => (name, None),
        };
        let ok_name = p == "*"
            || (!name.is_empty()
                && name.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':')
                }));
        let ok_port = port.is_none_or(|p| p.parse::<u16>().is_ok());
        if !ok_name || !ok_port {
            return Err((
                i,
                format!(
                    "`{p}` is not a host pattern: write a host (api.example.com), host:port (127.0.0.1:8080), *.example.com for its subdomains, or * for any host"
                ),
            ));
        }
    }
    Ok(())
}

fn validate_namespace(n: &str) -> Result<(), String> {
    // Stored in every row's key (one length byte) and in IDs' messages.
    if n.is_empty() || n.len() > 200 || n.chars().any(|c| c.is_control() || c == '/') {
        return Err(format!(
            "`{n}` is not a valid namespace: 1-200 characters, no `/` or control characters"
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
        // SQLite-backed by default: key and value together up to 2 MB.
        assert_eq!(class.storage, StorageBackend::Sqlite);
        assert_eq!(class.limits.max_value_bytes, 2_000_000);
        assert_eq!(c.server.data, PathBuf::from("/etc/hf/.holdfast"));
        let c = parse(
            "[limits]\nmax_value_bytes = 1000\n[[class]]\nbinding = \"a\"\nclass = \"A\"\ncomponent = \"c.wasm\"\nstorage = \"kv\"\n[[class]]\nbinding = \"b\"\nclass = \"B\"\ncomponent = \"c.wasm\"\n",
        )
        .unwrap();
        assert_eq!(c.classes[0].storage, StorageBackend::Kv);
        assert_eq!(c.classes[0].limits.max_key_bytes, 2048);
        assert_eq!(c.classes[0].limits.max_value_bytes, 1000);
        assert_eq!(c.classes[1].limits.max_key_bytes, 2_000_000);
        assert_eq!(c.classes[1].limits.max_value_bytes, 1000);
        let e = parse("[[class]]\nbinding = \"a\"\nclass = \"A\"\ncomponent = \"c.wasm\"\nstorage = \"sql\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown variant `sql`, expected `sqlite` or `kv`"),
            "{e}"
        );
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

    #[test]
    fn a_class_without_a_component_needs_a_source() {
        let e = parse("[[class]]\nbinding = \"a\"\nclass = \"A\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid config file `/etc/hf/holdfast.toml`: class[0].component: missing: name the class's .wasm file, or a `source` to build it from"
        );
        let c = parse("[[class]]\nbinding = \"a\"\nclass = \"A\"\nsource = \"app.py\"\n").unwrap();
        assert_eq!(
            c.classes[0].component,
            Path::new("/etc/hf/.holdfast/build/a.wasm")
        );
        let e = parse(
            "[[class]]\nbinding = \"a\"\nclass = \"A\"\nsource = \"a.py\"\nlang = \"cobol\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("unknown variant `cobol`, expected one of `rust`, `js`, `ts`, `python`"),
            "{e}"
        );
    }

    #[test]
    fn namespaces_are_classes_and_routes_are_bindings_unless_set() {
        let c = parse(
            "[[class]]\nbinding = \"COUNTER\"\nclass = \"Counter\"\nroute = \"counter\"\ncomponent = \"c.wasm\"\n\
             [[class]]\nbinding = \"js-counter\"\nclass = \"Counter\"\nnamespace = \"JsCounter\"\ncomponent = \"j.wasm\"\n",
        )
        .unwrap();
        assert_eq!(c.classes[0].namespace, "Counter");
        assert_eq!(c.classes[0].route.as_deref(), Some("counter"));
        assert_eq!(c.classes[1].namespace, "JsCounter");
        assert_eq!(c.classes[1].route.as_deref(), Some("js-counter"));
        let e = parse(
            "[[class]]\nbinding = \"a\"\nclass = \"Counter\"\ncomponent = \"c.wasm\"\n\
             [[class]]\nbinding = \"b\"\nclass = \"Counter\"\ncomponent = \"j.wasm\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("class[1].namespace: namespace `Counter` is also class[0]'s (a class's namespace is its class name unless set): give one of them `namespace = \"...\"`"),
            "{e}"
        );
        let e = parse(
            "[[class]]\nbinding = \"a\"\nclass = \"A\"\nroute = \"x\"\ncomponent = \"c.wasm\"\n\
             [[class]]\nbinding = \"b\"\nclass = \"B\"\nroute = \"x\"\ncomponent = \"j.wasm\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("class[1].route: route `x` is also class[0]'s"),
            "{e}"
        );
        let e = parse(
            "[[class]]\nbinding = \"a\"\nclass = \"A\"\nroute = \"_x\"\ncomponent = \"c.wasm\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`_x` is not a valid route"), "{e}");
    }

    /// A project directory with `file` (its content `text`) and the module `src/index.ts`.
    fn project(file: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/index.ts"), "export default {}").unwrap();
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_wrangler_jsonc_project_with_comments_and_warnings() {
        let (dir, path) = project(
            "wrangler.jsonc",
            r#"{
              // as wrangler writes it
              "$schema": "node_modules/wrangler/config-schema.json",
              "name": "app",
              "main": "src/index.ts",
              "compatibility_date": "2026-01-01",
              "compatibility_flags": ["nodejs_compat"],
              "account_id": "abc",
              "workers_dev": true,
              "durable_objects": {
                "bindings": [
                  { "name": "CHAT_ROOM", "class_name": "ChatRoom" },
                  { "name": "COUNTER", "class_name": "Counter", "environment": "x" },
                ],
              },
              "vars": { "GREETING": "hi", "LIMITS": { "max": 3 } },
              "kv_namespaces": [{ "binding": "KV", "id": "1" }],
              "migrations": [{ "tag": "v1", "new_sqlite_classes": ["ChatRoom", "Counter"] }],
            }"#,
        );
        assert_eq!(Config::find(dir.path()).as_deref(), Some(path.as_path()));
        let c = Config::load(&path).unwrap();
        let names: Vec<_> = c
            .classes
            .iter()
            .map(|c| (c.binding.as_str(), c.namespace.as_str(), c.route.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("CHAT_ROOM", "ChatRoom", None),
                ("COUNTER", "Counter", None)
            ]
        );
        let build = c.build.as_ref().unwrap();
        assert_eq!(build.main, dir.path().join("src/index.ts"));
        assert_eq!(c.worker.as_ref().unwrap().component, build.out);
        assert_eq!(c.classes[0].component, build.out);
        assert_eq!(
            c.vars,
            [
                ("GREETING".into(), "hi".into()),
                ("LIMITS".into(), "{\"max\":3}".into())
            ]
        );
        assert_eq!(c.migrations[0].new_classes, ["ChatRoom", "Counter"]);
        let w = c.warnings.join("\n");
        for expected in [
            "compatibility_flags (nodejs_compat) have no effect on Holdfast",
            "durable_objects.bindings[1].environment: not supported by Holdfast; ignored",
            "vars.LIMITS: not a string; the code receives its JSON text `{\"max\":3}`",
            "kv_namespaces: not supported by Holdfast; ignored",
            "account_id, workers_dev: only used when deploying to Cloudflare; ignored",
        ] {
            assert!(w.contains(expected), "{expected}\n{w}");
        }
        assert_eq!(c.warnings.len(), 5, "{w}");
    }

    #[test]
    fn a_holdfast_toml_names_a_project_and_its_routes() {
        let (dir, wrangler) = project(
            "wrangler.toml",
            "main = \"src/index.ts\"\n[[durable_objects.bindings]]\nname = \"COUNTER\"\nclass_name = \"Counter\"\n",
        );
        let toml = dir.path().join("holdfast.toml");
        let text = "[server]\nlisten = \"127.0.0.1:9000\"\n[project]\nwrangler = \"wrangler.toml\"\n[project.routes]\nCOUNTER = \"counter\"\n";
        let c = Config::parse(&toml, text).unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.classes[0].route.as_deref(), Some("counter"));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            Config::find(dir.path()),
            Some(wrangler.clone()),
            "no holdfast.toml on disk"
        );
        std::fs::write(&toml, text).unwrap();
        assert_eq!(
            Config::find(dir.path()),
            Some(toml.clone()),
            "holdfast.toml first"
        );
        let e = Config::parse(
            &toml,
            "[project]\nwrangler = \"wrangler.toml\"\n[project.routes]\nNOPE = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("project.routes.NOPE: no binding `NOPE` in"),
            "{e}"
        );
        let e = Config::parse(
            &toml,
            "[project]\nwrangler = \"wrangler.toml\"\n[[class]]\nbinding = \"a\"\nclass = \"A\"\ncomponent = \"a.wasm\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("a [project] brings its own classes, worker and vars"),
            "{e}"
        );
        let e = Config::parse(&toml, "[project]\nwrangler = \"missing.toml\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.toml` not found"), "{e}");
    }

    #[test]
    fn outbound_allow_lists_are_host_patterns() {
        let c = parse(
            "[[class]]\nbinding = \"a\"\nclass = \"A\"\ncomponent = \"a.wasm\"\noutbound = [\"api.example.com\", \"127.0.0.1:8080\", \"*.example.org\", \"*\"]\n",
        )
        .unwrap();
        assert_eq!(c.classes[0].outbound.len(), 4);
        assert_eq!(
            c.classes[0].outbound_key,
            "class[0].outbound (the class with binding `a`)"
        );
        let e = parse(
            "[[class]]\nbinding = \"a\"\nclass = \"A\"\ncomponent = \"a.wasm\"\noutbound = [\"https://api.example.com/v1\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("class[0].outbound[0]: `https://api.example.com/v1` is not a host pattern"),
            "{e}"
        );
        let e = parse("[worker]\ncomponent = \"w.wasm\"\noutbound = [\"x:99999\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("worker.outbound[0]: `x:99999` is not a host pattern"),
            "{e}"
        );
    }
}
