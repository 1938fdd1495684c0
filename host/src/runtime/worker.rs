//! Workers: the stateless entry point, a component of the `worker` world. A [`WorkerClass`] is
//! compiled once; [`Workers`] keeps a bounded set of its instances, each serving one request at
//! a time and reused for the next (an instance that traps is dropped).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;
use wasmtime::component::Component;

use super::bindings::types;
use super::bindings::worker::WorkerPre;
use super::call_port::Upgrade;
use super::egress::Egress;
use super::engine::{Engine, EngineError};
use super::instance::GuestFailure;
use super::sandbox::{CallLimits, Sandbox, arm, describe, new_store};
use super::store_data::{Reach, WorkerData};
use crate::config::WorkerConfig;
use crate::logs::LogSource;

/// A compiled worker component.
pub struct WorkerClass {
    pub config: WorkerConfig,
    /// The content key of its component: what a code update compares.
    pub component_key: String,
    pre: WorkerPre<WorkerData>,
    /// The worker's outbound HTTP (`outbound` of the config).
    pub egress: Egress,
}

impl Engine {
    /// Compiles (or loads from the cache) the worker component and checks that it exports the
    /// worker world. Imports a worker cannot use (storage and the other class interfaces, when
    /// one component implements classes and the worker) trap if called.
    pub fn load_worker(&self, config: &WorkerConfig) -> Result<WorkerClass, EngineError> {
        let path = config.component.display().to_string();
        let (component, component_key) =
            self.read_and_compile(&config.component, "worker", "worker")?;
        let world_err = |e: wasmtime::Error| EngineError::WorkerWorld {
            path: path.clone(),
            message: format!("{e:#}"),
        };
        let mut linker = (*self.worker_linker).clone();
        class_imports_as_traps(&self.engine, &mut linker, &component).map_err(world_err)?;
        let pre = linker.instantiate_pre(&component).map_err(world_err)?;
        let pre = WorkerPre::new(pre).map_err(world_err)?;
        Ok(WorkerClass {
            config: config.clone(),
            component_key,
            pre,
            egress: Egress::new(&config.outbound, &config.outbound_key),
        })
    }
}

/// Defines the class-only interfaces a component imports (storage, sql, context, websockets,
/// hosting-context, when
/// it implements classes too) as functions that trap with a message saying so: a worker has no
/// storage of its own. Other imports must be satisfied by the worker's linker.
fn class_imports_as_traps(
    engine: &wasmtime::Engine,
    linker: &mut wasmtime::component::Linker<WorkerData>,
    component: &Component,
) -> wasmtime::Result<()> {
    use wasmtime::component::types::ComponentItem;
    const CLASS_ONLY: [&str; 5] = ["storage", "sql", "context", "websockets", "hosting-context"];
    for (name, item) in component.component_type().imports(engine) {
        let Some(iface) = name.strip_prefix("holdfast:object/") else {
            continue;
        };
        let iface = iface.split('@').next().unwrap_or(iface);
        if !CLASS_ONLY.contains(&iface) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let mut li = linker.instance(name)?;
        for (func, item) in instance.exports(engine) {
            if let ComponentItem::ComponentFunc(_) = item.ty {
                let message = format!(
                    "holdfast:object/{iface}.{func} is not available in a worker (it has no storage, \
                     identity or sockets of its own: call an object instead)"
                );
                li.func_new(func, move |_, _, _, _| {
                    Err(wasmtime::Error::msg(message.clone()))
                })?;
            }
        }
    }
    Ok(())
}

/// One instance of the worker.
pub struct WorkerInstance {
    store: Store<WorkerData>,
    bindings: super::bindings::worker::Worker,
}

/// Why a worker request produced no response.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Guest(#[from] GuestFailure),
    /// Every instance stayed busy.
    #[error("all {0} worker instances are busy: raise worker.max_instances or retry later")]
    Busy(usize),
    #[error(
        "no instance slot became free for the worker: raise runtime.max_live_objects or retry later"
    )]
    PoolFull,
}

/// The worker's instances: at most `max_instances` at once, idle ones kept for reuse.
pub struct Workers {
    engine: Engine,
    class: WorkerClass,
    reach: Box<dyn Fn() -> Reach + Send + Sync>,
    /// Why a semaphore: each request holds a permit while it uses an instance, so no more than
    /// `max_instances` exist; requests past it wait for one (up to `BUSY_WAIT`).
    permits: Arc<Semaphore>,
    /// Instances not serving a request (at most `max_instances`).
    idle: Mutex<Vec<WorkerInstance>>,
    limits: CallLimits,
}

/// How long a request waits for a busy worker instance before it is refused.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// A request's hold on an instance: give it back with [`Workers::wait_until`] when it deferred
/// work ([`Lease::deferred`]), else with [`Workers::put_back`].
pub struct Lease {
    instance: WorkerInstance,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    /// The request deferred work (`ctx.waitUntil`) that `wait_until` must run.
    pub fn deferred(&self) -> bool {
        self.instance.store.data().deferred
    }
}

impl Workers {
    pub fn new(
        engine: Engine,
        class: WorkerClass,
        reach: Box<dyn Fn() -> Reach + Send + Sync>,
    ) -> Workers {
        let limits = CallLimits {
            cpu_ms: class.config.limits.cpu_ms,
            memory_bytes: class.config.limits.memory_bytes(),
        };
        Workers {
            engine,
            permits: Arc::new(Semaphore::new(class.config.max_instances)),
            idle: Mutex::new(Vec::new()),
            class,
            reach,
            limits,
        }
    }

    /// The worker component these instances run.
    pub fn class(&self) -> &WorkerClass {
        &self.class
    }

    /// Runs `req` on an idle instance (or a new one). The lease comes back with the response for
    /// [`wait_until`](Self::wait_until), unless the instance trapped.
    /// Runs one request on an instance; `upgrade` is the client's WebSocket upgrade if it
    /// asked for one (the worker may forward it to an object).
    pub async fn fetch(
        &self,
        req: types::Request,
        upgrade: Option<Arc<Upgrade>>,
    ) -> (Result<types::Response, WorkerError>, Option<Lease>) {
        let permit =
            match tokio::time::timeout(BUSY_WAIT, self.permits.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                _ => {
                    return (
                        Err(WorkerError::Busy(self.class.config.max_instances)),
                        None,
                    );
                }
            };
        let idle = self.idle.lock().expect("workers lock").pop();
        let instance = match idle {
            Some(i) => i,
            None => match self.start().await {
                Ok(i) => i,
                Err(e) => return (Err(e), None),
            },
        };
        let mut lease = Lease {
            instance,
            _permit: permit,
        };
        let w = &mut lease.instance;
        arm_request(&mut w.store, &self.limits);
        w.store.data_mut().reach.upgrade = upgrade;
        w.store.data_mut().deferred = false;
        let result = w
            .bindings
            .holdfast_object_worker_handler()
            .call_fetch(&mut w.store, &req)
            .await;
        w.store.data_mut().reach.upgrade = None;
        match result {
            Ok(Ok(r)) => (Ok(r), Some(lease)),
            Ok(Err(m)) => (Err(GuestFailure::Error(m).into()), Some(lease)),
            Err(e) => {
                let why = describe(&e, &lease.instance.store, &self.limits);
                tracing::warn!("worker trapped: {why}");
                (Err(GuestFailure::Trap(why).into()), None)
            }
        }
    }

    /// Runs the work the last request deferred (`ctx.waitUntil`), then keeps the instance for
    /// the next request (or drops it if it trapped).
    pub async fn wait_until(&self, mut lease: Lease) {
        let w = &mut lease.instance;
        arm_request(&mut w.store, &self.limits);
        match w
            .bindings
            .holdfast_object_worker_handler()
            .call_wait_until(&mut w.store)
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(m)) => tracing::warn!("worker waitUntil work failed: {m}"),
            Err(e) => {
                let why = describe(&e, &lease.instance.store, &self.limits);
                tracing::warn!("worker trapped in waitUntil work: {why}");
                return;
            }
        }
        self.idle.lock().expect("workers lock").push(lease.instance);
    }

    /// Keeps the instance of a request that deferred nothing for the next request.
    pub fn put_back(&self, lease: Lease) {
        self.idle.lock().expect("workers lock").push(lease.instance);
    }

    async fn start(&self) -> Result<WorkerInstance, WorkerError> {
        let data = WorkerData {
            sandbox: Sandbox::new(
                LogSource {
                    label: "worker".into(),
                    object: None,
                },
                &self.engine.logs,
                &self.limits,
            ),
            reach: (self.reach)(),
            deferred: false,
        };
        let mut store = new_store(&self.engine.engine, data, &self.limits);
        match self.class.pre.instantiate_async(&mut store).await {
            Ok(bindings) => Ok(WorkerInstance { store, bindings }),
            Err(e)
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some() =>
            {
                Err(WorkerError::PoolFull)
            }
            Err(e) => Err(GuestFailure::Instantiate(describe(&e, &store, &self.limits)).into()),
        }
    }
}

/// Re-arms the request's CPU budget; each request starts a chain of calls of its own.
fn arm_request(store: &mut Store<WorkerData>, limits: &CallLimits) {
    arm(store, limits);
    store.data_mut().reach.chain = super::call_port::Chain::start();
}
