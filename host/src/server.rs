//! Start-up: open the database, compile the classes, start the committer and serve HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::alarm::AlarmWaker;
use crate::commit::Committer;
use crate::config::Config;
use crate::engine::{Engine, EngineError, PoolSize};
use crate::http::{AppState, router};
use crate::metrics::Metrics;
use crate::namespaces::Namespaces;
use crate::registry::{Registry, Services};
use crate::storage::{Db, DbError};
use crate::websocket::{Hub, WsLimits};

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
    #[error("cannot open the database")]
    Db(#[from] DbError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A started server: bound, classes loaded, not yet serving.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
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
        let max_memory = config
            .classes
            .iter()
            .map(|c| c.limits.memory_bytes())
            .max()
            .unwrap_or(128 << 20);
        let cap = config.runtime.max_live_objects;
        let pool = PoolSize {
            // Slack over the cap: evicted objects release their slots a moment after new ones start.
            instances: cap + (cap / 8).max(16),
            max_memory,
        };
        let cache = std::path::absolute(config.server.cache_dir()).map_err(|source| {
            StartError::CacheDir {
                path: config.server.cache_dir().display().to_string(),
                source,
            }
        })?;
        let engine = Engine::new(pool, &cache)?;
        let mut classes = HashMap::new();
        for c in &config.classes {
            let class = engine.load_class(c)?;
            tracing::info!(binding = %c.binding, class = %c.class, component = %c.component.display(), "class loaded");
            classes.insert(c.binding.clone(), Arc::new(class));
        }
        let db = Db::open(&data.join("holdfast.redb"))?;
        let namespaces = Namespaces::load(&db, config.classes.iter().map(|c| c.binding.as_str()))?;
        let alarm_waker = Arc::new(AlarmWaker::default());
        let committer = Committer::start(db.clone(), alarm_waker.clone());
        let registry = Registry::new(
            Services {
                engine,
                db,
                committer,
                namespaces,
                metrics: Metrics::default(),
                alarm_waker: alarm_waker.clone(),
                hub: Arc::new(Hub::new(WsLimits {
                    max_message_bytes: config.websockets.max_message_bytes,
                    max_sockets_per_object: config.websockets.max_sockets_per_object,
                    ..WsLimits::default()
                })),
                classes,
            },
            cap as usize,
        );
        tokio::spawn(crate::alarm::run(
            registry.clone(),
            alarm_waker,
            config.alarms,
        ));
        let listener = TcpListener::bind(config.server.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.server.listen,
                source,
            })?;
        Ok(Server {
            listener,
            state: Arc::new(AppState {
                registry,
                max_body_bytes: config.server.max_body_bytes,
                admin_token: config.admin.token.clone(),
            }),
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting connections and finishes the
    /// requests in progress (their commits included).
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = router(self.state);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
