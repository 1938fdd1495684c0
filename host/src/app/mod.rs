//! Start-up: open the database, compile the classes, start the committer and the alarm
//! scheduler, and serve HTTP; code updates while serving (`reload.rs`), `holdfast dev`
//! (`dev.rs`), the `holdfast tail` client (`tail.rs`), the history commands' client (`history.rs`) and `holdfast new`'s templates
//! (`new.rs`). The top layer: it wires every other
//! one together and owns none of their rules.

mod backup;
mod build;
mod dev;
mod history;
mod new;
mod project;
mod reload;
mod sdks;
mod tail;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use backup::{BackupCliError, backup, restore};
pub use build::{ClassBuildError, build_all};
pub use dev::{DevError, DevWatch};
pub use history::{At, HistoryCliError, ObjectAt, bookmarks, fork, restore_object};
pub use new::{Lang, NewError, new_project};
pub use project::{BuildError, MigrateError};
pub use reload::{ReloadError, Reloaded, Reloader};
pub use tail::{TailError, TailOptions, tail};

use crate::actor::{ClassTable, Directory, Metrics, Services};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::http::{AppState, ListenLimits, Reload, ReloadResult, admin_router, router};
use crate::id::{NamespaceKey, Namespaces};
use crate::runtime::{
    Class, Engine, EngineError, PoolSize, Reach, WorkerClass, Workers, check_mappings,
};
use crate::sockets::{Hub, WsLimits};
use crate::store::{CommitLimits, Committer, Db, Faults, OpenError, PgOptions, StoreError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory `{path}`: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot use cache directory `{path}`: {source}")]
    CacheDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("cannot read the namespace secrets: {0}")]
    Secrets(#[from] StoreError),
    #[error("cannot join the cluster: {0}")]
    Join(StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(
        "runtime.max_live_objects = {cap} needs about {needed} memory mappings and this system allows {limit} (vm.max_map_count): lower max_live_objects to at most {fits}, or raise the limit (e.g. `sysctl -w vm.max_map_count=262144`)"
    )]
    Mappings {
        cap: u32,
        needed: u64,
        limit: u64,
        fits: u32,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What start-up loads.
struct Loaded {
    engine: Engine,
    /// Every class, by binding.
    classes: HashMap<String, Arc<Class>>,
    worker: Option<WorkerClass>,
    /// The largest memory limit the instance pool was made for.
    max_memory: usize,
}

/// The engine for `config` and every class (and worker) it names, compiled (or loaded from the
/// cache).
fn load_classes(config: &Config) -> Result<Loaded, StartError> {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    project::build(config)?;
    let max_memory = config
        .classes
        .iter()
        .map(|c| c.limits.memory_bytes())
        .max()
        .unwrap_or(128 << 20);
    let cap = config.runtime.max_live_objects;
    let workers = config.worker.as_ref().map_or(0, |w| w.max_instances as u32);
    let max_memory = config
        .worker
        .as_ref()
        .map_or(max_memory, |w| max_memory.max(w.limits.memory_bytes()));
    // Slack over the cap: evicted objects release their slots a moment after new ones start.
    let slots = |cap: u32| cap + (cap / 8).max(16) + workers;
    let pool = PoolSize {
        instances: slots(cap),
        live: cap,
        max_memory,
    };
    check_mappings(&pool, slots).map_err(|s| StartError::Mappings {
        cap,
        needed: s.needed,
        limit: s.limit,
        fits: s.fits,
    })?;
    let cache =
        std::path::absolute(config.server.cache_dir()).map_err(|source| StartError::CacheDir {
            path: config.server.cache_dir().display().to_string(),
            source,
        })?;
    let engine = Engine::new(pool, &cache)?;
    let mut classes = HashMap::new();
    for c in &config.classes {
        let class = engine.load_class(c)?;
        tracing::info!(binding = %c.binding, class = %c.class, component = %c.component.display(), "class loaded");
        classes.insert(c.binding.clone(), Arc::new(class));
    }
    let worker = match &config.worker {
        Some(w) => {
            let worker = engine.load_worker(w)?;
            tracing::info!(component = %w.component.display(), "worker loaded");
            Some(worker)
        }
        None => None,
    };
    Ok(Loaded {
        engine,
        classes,
        worker,
        max_memory,
    })
}

/// How the worker's instances reach objects and the network.
fn worker_reach(
    directory: &Directory,
    class: &WorkerClass,
) -> Box<dyn Fn() -> Reach + Send + Sync> {
    let outbound = directory.outbound();
    let services = directory.services();
    let namespaces = services.namespaces.clone();
    let vars = services.vars.clone();
    let egress = class.egress.clone();
    Box::new(move || {
        Reach::new(
            namespaces.clone(),
            outbound.clone(),
            vars.clone(),
            egress.clone(),
        )
    })
}

impl Reload for Reloader {
    fn reload(&self) -> Pin<Box<dyn Future<Output = ReloadResult> + Send + '_>> {
        Box::pin(async move {
            match Reloader::reload(self).await {
                Ok(r) => Ok(serde_json::to_value(r).expect("a report serialises")),
                Err(e) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// Compiles every class of `config` into the code cache (what `holdfast compile` does), so that
/// servers started afterwards load them in milliseconds. Returns how many classes it loaded.
pub fn compile(config: &Config) -> Result<usize, StartError> {
    let loaded = load_classes(config)?;
    Ok(loaded.classes.len() + usize::from(loaded.worker.is_some()))
}

/// A started server: bound, classes loaded, not yet serving.
pub struct Server {
    listener: TcpListener,
    /// `[admin] listen`: the admin API and the inspector, away from the objects' routes.
    admin_listener: Option<TcpListener>,
    state: Arc<AppState>,
    limits: ListenLimits,
    reloader: Arc<Reloader>,
}

impl Server {
    /// Opens everything `config` names. Fails (naming the class) if a component is missing or
    /// does not implement the world.
    pub async fn start(config: &Config) -> Result<Server, StartError> {
        let data = &config.server.data;
        std::fs::create_dir_all(data).map_err(|source| StartError::DataDir {
            path: data.display().to_string(),
            source,
        })?;
        let data = &std::path::absolute(data).map_err(|source| StartError::DataDir {
            path: data.display().to_string(),
            source,
        })?;
        let cap = config.runtime.max_live_objects;
        let Loaded {
            engine,
            classes,
            worker,
            max_memory,
        } = load_classes(config)?;
        let faults = config
            .server
            .fault_injection
            .then(|| Arc::new(Faults::default()));
        if faults.is_some() {
            tracing::warn!("fault injection is on (HOLDFAST_FAULT_INJECTION): for tests only");
        }
        let db = match &config.cluster {
            None => {
                crate::store::remove_leftovers(data);
                Db::open(
                    &data.join(crate::store::DB_FILE),
                    (config.server.storage_cache_mib as usize) << 20,
                    faults,
                )?
            }
            Some(c) => Db::open_postgres(
                data,
                PgOptions {
                    url: c.database_url.clone(),
                    node: c.node.clone(),
                    connections: c.connections,
                    io_timeout: Duration::from_millis(c.lease_ms),
                },
                c.audit,
            )?,
        };
        project::migrate(&db, config)?;
        let mut keys = Vec::new();
        for c in &config.classes {
            // Code names a namespace by its binding; its IDs are the namespace's (the class's).
            keys.push(NamespaceKey::new(
                &c.binding,
                db.namespace_secret(&c.namespace)?,
            ));
        }
        let namespaces = Namespaces::new(keys);
        let vars: Arc<[(String, String)]> = config.vars.clone().into();
        let alarm_changed = Arc::new(Notify::new());
        let committer = Committer::start(
            db.clone(),
            alarm_changed.clone(),
            CommitLimits {
                history: config.history.retention(),
                ..CommitLimits::default()
            },
        );
        let directory = Directory::new(
            Services {
                engine,
                db,
                committer,
                namespaces,
                metrics: Metrics::default(),
                alarm_changed: alarm_changed.clone(),
                hub: Arc::new(Hub::new(WsLimits {
                    max_message_bytes: config.websockets.max_message_bytes,
                    max_sockets_per_object: config.websockets.max_sockets_per_object,
                    max_outbox_bytes: config.websockets.max_outbox_bytes,
                    ..WsLimits::default()
                })),
                classes: ArcSwap::from_pointee(ClassTable::new(classes, None)),
                max_queued_events: config.runtime.max_queued_events,
                max_in_flight_commits: config.runtime.max_in_flight_commits,
                max_call_depth: config.runtime.max_call_depth,
                call_timeout: config.runtime.call_timeout(),
                vars: vars.clone(),
                fault_injection: config.server.fault_injection,
            },
            cap as usize,
        );
        let workers = worker.map(|class| {
            let reach = worker_reach(&directory, &class);
            let engine = directory.services().engine.clone();
            Arc::new(ArcSwap::from_pointee(Workers::new(engine, class, reach)))
        });
        let reloader = Arc::new(Reloader::new(
            config.clone(),
            directory.clone(),
            workers.clone(),
            max_memory,
        ));
        let cluster = match &config.cluster {
            None => None,
            Some(c) => {
                // A secret every node reads from the database (stored like a namespace's, under a
                // name no namespace can have).
                let key = directory.services().db.namespace_secret("/cluster")?;
                let cluster = Cluster::new(
                    c.node.clone(),
                    c.advertise.clone(),
                    Duration::from_millis(c.lease_ms),
                    hex::encode(key),
                );
                directory.set_remote(Arc::new(crate::cluster::Calls {
                    cluster: cluster.clone(),
                }));
                crate::cluster::join(&cluster, &directory.services().db)
                    .await
                    .map_err(StartError::Join)?;
                tokio::spawn(crate::cluster::run(cluster.clone(), directory.clone()));
                Some(cluster)
            }
        };
        tokio::spawn(crate::alarms::run(
            directory.clone(),
            alarm_changed,
            config.alarms,
            cluster.clone(),
        ));
        let listener = TcpListener::bind(config.server.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.server.listen,
                source,
            })?;
        let admin_listener = match config.admin.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Listen { addr, source })?,
            ),
            None => None,
        };
        let url = |l: &TcpListener| {
            l.local_addr()
                .map(|a| format!("http://{a}"))
                .unwrap_or_default()
        };
        backup::write_server_file(
            data,
            &backup::ServerFile {
                url: url(&listener),
                admin_url: admin_listener.as_ref().map_or_else(|| url(&listener), url),
            },
        );
        Ok(Server {
            listener,
            admin_listener,
            state: Arc::new(AppState {
                directory,
                workers,
                reload: Some(reloader.clone()),
                max_body_bytes: config.server.max_body_bytes,
                body_timeout: Duration::from_millis(config.server.body_timeout_ms),
                admin_token: config.admin.token.clone(),
                backup_running: Arc::new(tokio::sync::Semaphore::new(1)),
                backup_pace: config.backup.max_bytes_per_second(),
                cluster,
            }),
            limits: ListenLimits {
                max_connections: config.server.max_connections,
                header_timeout: Duration::from_millis(config.server.header_timeout_ms),
            },
            reloader,
        })
    }

    /// Applies code updates to this server once it serves (for SIGHUP and `holdfast dev`).
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's bound address, if the admin API has its own (`[admin] listen`).
    pub fn admin_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.admin_listener.as_ref().map(TcpListener::local_addr)
    }

    /// Serves until `shutdown` resolves, then stops accepting connections and finishes the
    /// requests in progress (their commits included).
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let db = self.state.directory.services().db.clone();
        let served = self.serve_until(shutdown).await;
        // A clean stop gives the cluster lease up, so this node's objects move at once.
        if db.is_cluster()
            && let Err(e) = db.leave_cluster().await
        {
            tracing::warn!(error = %e, "cannot give the cluster lease up; it runs out by itself");
        }
        served
    }

    async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Some(admin) = self.admin_listener else {
            let app = router(self.state, true);
            return crate::http::serve(self.listener, app, self.limits, shutdown).await;
        };
        // One shutdown for both listeners.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stopping = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let admin_app = admin_router(self.state.clone());
        let admin_task = tokio::spawn(crate::http::serve(
            admin,
            admin_app,
            self.limits,
            stopping(stopped.clone()),
        ));
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let app = router(self.state, false);
        let main = crate::http::serve(self.listener, app, self.limits, stopping(stopped)).await;
        let admin = admin_task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        main.and(admin)
    }
}
