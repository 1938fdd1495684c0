//! Code updates while serving (`POST /_/admin/reload`, SIGHUP, `holdfast dev`): the config
//! file is read again, a project's module rebuilt, every class and the worker whose component
//! or settings changed loaded anew, and the directory serves the new class table.
//!
//! Nothing changes unless all of it loads: a config that does not parse, a build that fails, a
//! component that does not compile or implement the world leaves the running code serving and
//! the update is refused with the reason. Events in flight finish on the old code; each live
//! object of a replaced class moves to the new code after them (`Directory::update`). The
//! settings sized at start-up (`[server]`, `[admin]`, `[runtime]`, `[websockets]`, `[alarms]`,
//! `[vars]`, `[[migrations]]`) keep their running values until the next start.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{BuildError, project, worker_reach};
use crate::actor::{ClassTable, Directory, Update};
use crate::config::{Config, ConfigError};
use crate::id::NamespaceKey;
use crate::runtime::{Class, EngineError, Workers};
use crate::store::StoreError;

/// Why a code update was refused (the running code keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot read the namespace secrets: {0}")]
    Secrets(#[from] StoreError),
    #[error(
        "binding `{binding}`: its namespace changed from `{from}` to `{to}`; moving objects to another namespace is a migration: add one and restart"
    )]
    Namespace {
        binding: String,
        from: String,
        to: String,
    },
    #[error(
        "class `{class}` (binding `{binding}`): memory_mib = {wanted} is above the {at_start} MiB the instance pool was sized for at start: restart to raise it"
    )]
    Memory {
        class: String,
        binding: String,
        wanted: usize,
        at_start: usize,
    },
    #[error("{0} takes a restart")]
    Restart(&'static str),
}

/// What a code update did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reloaded {
    #[serde(flatten)]
    pub classes: Update,
    /// `"replaced"`, `"unchanged"`, or absent without a worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<&'static str>,
}

/// Applies code updates to a running server; one at a time.
pub struct Reloader {
    /// The config served now, with the command line's overrides. Concurrency: the async lock
    /// also serialises updates, so two never interleave their loads and swaps.
    running: tokio::sync::Mutex<Config>,
    directory: Arc<Directory>,
    /// The worker's instances, swapped whole when its component changes.
    workers: Option<Arc<ArcSwap<Workers>>>,
    /// The largest memory limit the instance pool was made for.
    max_memory: usize,
}

impl Reloader {
    pub(super) fn new(
        running: Config,
        directory: Arc<Directory>,
        workers: Option<Arc<ArcSwap<Workers>>>,
        max_memory: usize,
    ) -> Self {
        Reloader {
            running: tokio::sync::Mutex::new(running),
            directory,
            workers,
            max_memory,
        }
    }

    /// The config served now (the last one an update applied, with the start's settings).
    pub async fn config(&self) -> Config {
        self.running.lock().await.clone()
    }

    /// Reads the config file again and serves what changed (see the module's doc).
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let mut running = self.running.lock().await;
        let mut next = Config::load(&running.path)?;
        // Sized or applied at start-up: they stay as they run.
        next.server = running.server.clone();
        next.admin = running.admin.clone();
        next.runtime = running.runtime;
        next.websockets = running.websockets;
        next.alarms = running.alarms;
        next.vars = running.vars.clone();
        next.migrations = running.migrations.clone();
        if running.worker.is_some() != next.worker.is_some() {
            return Err(ReloadError::Restart("adding or removing the [worker]"));
        }
        let (classes, worker) = {
            let next = next.clone();
            let directory = self.directory.clone();
            let max_memory = self.max_memory;
            let workers = self.workers.clone();
            // Building and compiling take seconds of CPU: off the async workers.
            tokio::task::spawn_blocking(move || load(&next, &directory, max_memory, workers))
                .await
                .expect("a reload's load does not panic")?
        };
        let services = self.directory.services();
        for c in &next.classes {
            if !services.namespaces.contains(&c.binding) {
                let secret = services.db.namespace_secret(&c.namespace)?;
                services
                    .namespaces
                    .add(NamespaceKey::new(&c.binding, secret));
            }
        }
        let table = ClassTable::new(classes, Some(&services.classes.load()));
        let update = self.directory.update(table);
        let worker = match (&self.workers, worker) {
            (Some(slot), Some(replacement)) => {
                slot.store(replacement);
                Some("replaced")
            }
            (Some(_), None) => Some("unchanged"),
            (None, _) => None,
        };
        *running = next;
        let reloaded = Reloaded {
            classes: update,
            worker,
        };
        tracing::info!(
            replaced = ?reloaded.classes.replaced,
            added = ?reloaded.classes.added,
            removed = ?reloaded.classes.removed,
            objects_moved = reloaded.classes.objects_moved,
            worker = reloaded.worker.unwrap_or("none"),
            "code updated"
        );
        Ok(reloaded)
    }
}

/// Every class by binding, and the worker's new instance set if it changed.
type Loaded = (HashMap<String, Arc<Class>>, Option<Arc<Workers>>);

/// Builds and loads every class of `next` (keeping the running `Arc` of each unchanged one) and
/// the worker if it changed.
fn load(
    next: &Config,
    directory: &Arc<Directory>,
    max_memory: usize,
    workers: Option<Arc<ArcSwap<Workers>>>,
) -> Result<Loaded, ReloadError> {
    project::build(next)?;
    let services = directory.services();
    let engine = &services.engine;
    let running = services.classes.load();
    let mut classes = HashMap::new();
    for c in &next.classes {
        if c.limits.memory_bytes() > max_memory {
            return Err(ReloadError::Memory {
                class: c.class.clone(),
                binding: c.binding.clone(),
                wanted: c.limits.memory_bytes() >> 20,
                at_start: max_memory >> 20,
            });
        }
        let loaded = engine.load_class(c)?;
        let class = match running.class(&c.binding) {
            Some(old) if old.config.namespace != c.namespace => {
                return Err(ReloadError::Namespace {
                    binding: c.binding.clone(),
                    from: old.config.namespace.clone(),
                    to: c.namespace.clone(),
                });
            }
            Some(old) if old.same_as(&loaded) => old.clone(),
            _ => Arc::new(loaded),
        };
        classes.insert(c.binding.clone(), class);
    }
    let worker = match (&next.worker, workers) {
        (Some(w), Some(slot)) => {
            let loaded = engine.load_worker(w)?;
            let old = slot.load();
            let same = old.class().config == loaded.config
                && old.class().component_key == loaded.component_key;
            (!same).then(|| {
                let reach = worker_reach(directory, &loaded);
                Arc::new(Workers::new(engine.clone(), loaded, reach))
            })
        }
        _ => None,
    };
    Ok((classes, worker))
}
