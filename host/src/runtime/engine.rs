//! The wasmtime engine (one per host), compiled classes and their pre-instantiated components.
//!
//! Compiled code is cached on disk (`artifacts.rs`: keyed on the component's bytes and the
//! engine's settings, mapped from its file), so a restart does not recompile. Several processes
//! starting with the same component compile it once. Instances come from the pooling allocator,
//! whose linear memories are copy-on-write images of the component's data.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use wasmtime::component::HasSelf;

use super::artifacts::{Artifacts, Described};
use super::bindings::DurableObjectPre;
use super::bindings::shared::hosting;
use super::egress::Egress;
use super::sandbox::EPOCH_TICK;
use super::store_data::{Reach, StoreData, WorkerData};
use crate::config::ClassConfig;
use crate::id::ObjectId;
use crate::logs::Logs;
use crate::store::ObjectKey;

/// Why the engine or a class could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    #[error("class `{class}` (binding `{binding}`): cannot read component `{path}`: {source}")]
    Read {
        class: String,
        binding: String,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "class `{class}` (binding `{binding}`): `{path}` is not a valid WebAssembly component: {message}"
    )]
    Compile {
        class: String,
        binding: String,
        path: String,
        message: String,
    },
    #[error(
        "class `{class}` (binding `{binding}`): component `{path}` does not implement the holdfast:object/durable-object world: {message}"
    )]
    World {
        class: String,
        binding: String,
        path: String,
        message: String,
    },
    #[error(
        "class `{class}` (binding `{binding}`): objects_per_instance = {wanted} needs a component that exports holdfast:object/hosting (the JavaScript and Python SDKs build one; `{path}` hosts one object per instance)"
    )]
    NotShared {
        class: String,
        binding: String,
        path: String,
        wanted: u32,
    },
    #[error(
        "worker: component `{path}` does not implement the holdfast:object/worker world: {message}"
    )]
    WorkerWorld { path: String, message: String },
}

/// The imports of a class: WASI, its own interfaces on its store, and the [`Reach`] ones.
fn object_linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<StoreData>> {
    use super::bindings::worker::holdfast::object::worker_context;
    use super::bindings::{
        calls, context, environment, objects, outbound, sql, storage, types, websockets,
    };
    let mut linker: Linker<StoreData> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    storage::add_to_linker::<_, HasSelf<StoreData>>(&mut linker, |s| s)?;
    sql::add_to_linker::<_, HasSelf<StoreData>>(&mut linker, |s| s)?;
    context::add_to_linker::<_, HasSelf<StoreData>>(&mut linker, |s| s)?;
    websockets::add_to_linker::<_, HasSelf<StoreData>>(&mut linker, |s| s)?;
    super::bindings::shared::hosting_context::add_to_linker::<_, HasSelf<StoreData>>(
        &mut linker,
        |s| s,
    )?;
    types::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    objects::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    calls::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    environment::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    outbound::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    // A component holding classes and the worker imports this too; a class's call traps.
    worker_context::add_to_linker::<_, HasSelf<StoreData>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// The imports of a worker: WASI and the [`Reach`] interfaces.
fn worker_linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<WorkerData>> {
    use super::bindings::worker::holdfast::object::worker_context;
    use super::bindings::{calls, environment, objects, outbound, types};
    let mut linker: Linker<WorkerData> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    types::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    objects::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    calls::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    environment::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    outbound::add_to_linker::<_, HasSelf<Reach>>(&mut linker, |s| &mut s.reach)?;
    worker_context::add_to_linker::<_, HasSelf<WorkerData>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Objects per instance of a class whose component exports `hosting`, unless configured.
pub const DEFAULT_OBJECTS_PER_INSTANCE: u32 = 1000;

/// Capacity of the instance pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    /// Component instances that can be live at once (the slots of the pool).
    pub instances: u32,
    /// How many of them are live in the steady state (`runtime.max_live_objects`; the other
    /// slots are slack for evictions under way).
    pub live: u32,
    /// The largest memory limit of any class, in bytes.
    pub max_memory: usize,
}

/// The engine and the linker shared by every class.
#[derive(Clone)]
pub struct Engine {
    pub(crate) engine: wasmtime::Engine,
    linker: Arc<Linker<StoreData>>,
    pub(crate) worker_linker: Arc<Linker<WorkerData>>,
    /// The compiled-code cache (mapped artifacts, per-component compile locks).
    artifacts: Arc<Artifacts>,
    /// wasmtime's compatibility hash of this engine's settings: part of every cache key.
    compatibility: u64,
    /// Components loaded by this process, by content key: a file serving several classes and
    /// the worker is compiled (or read from the cache) and held in memory once. Why a mutex:
    /// classes load one after the other at start-up; it is never contended.
    loaded: Arc<std::sync::Mutex<std::collections::HashMap<String, Component>>>,
    /// Where every instance's output lines go (the objects' rings and the live feed).
    pub(crate) logs: Arc<Logs>,
}

/// A class ready to instantiate.
pub struct Class {
    pub config: ClassConfig,
    /// The content key of its component (a hash of its bytes): what a code update compares.
    pub component_key: String,
    pub(crate) pre: DurableObjectPre<StoreData>,
    /// Its objects' outbound HTTP (`outbound` of the config).
    pub egress: Egress,
    /// Where the component's `hosting` export is, if it has one.
    pub(crate) hosting: Option<hosting::GuestIndices>,
    /// Most objects one instance hosts (1: an instance per object).
    pub objects_per_instance: u32,
    /// How many instances objects are spread over before one hosts a second (see the config).
    pub instances: u32,
}

impl Class {
    /// Whether `other` is the same code with the same settings (a code update keeps this one).
    /// Where in the file the class is set (`outbound_key`, named in denial messages) does not
    /// count: moving a class's entry in the config does not restart its objects.
    pub fn same_as(&self, other: &Class) -> bool {
        let config = ClassConfig {
            outbound_key: other.config.outbound_key.clone(),
            ..self.config.clone()
        };
        config == other.config && self.component_key == other.component_key
    }

    /// The storage key of its object `id` (under the class's namespace, not its binding).
    pub fn key(&self, id: &ObjectId) -> ObjectKey {
        ObjectKey::new(&self.config.namespace, id)
    }
}

impl std::fmt::Debug for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Class")
            .field("config", &self.config)
            .finish()
    }
}

impl Engine {
    /// Builds the engine with a pool for `pool.instances` live objects and a compiled-code cache
    /// in `cache_dir`, and starts the epoch ticker.
    pub fn new(pool: PoolSize, cache_dir: &Path) -> Result<Engine, EngineError> {
        let err = |e: wasmtime::Error| EngineError::Engine(format!("{e:#}"));
        let n = pool.instances;
        let mut p = PoolingAllocationConfig::new();
        p.total_component_instances(n)
            // A component built by rustc has 3 core instances, by cargo-component 4.
            .total_core_instances(4 * n)
            .total_memories(2 * n)
            .total_tables(4 * n)
            // Async calls pin one fiber stack per live store.
            .total_stacks(n)
            .max_memory_size(pool.max_memory)
            .max_core_instances_per_component(16)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .linear_memory_keep_resident(0)
            // Tables of a freed slot are reset in place instead of decommitted: a decommitted
            // table faults on its first write, and every such fault flushes the TLBs of all
            // cores (measured: a quarter of the CPU time of a burst of activations).
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(16 << 10)
            .decommit_batch_size(32)
            .max_unused_warm_slots(n.min(256));
        let mut cfg = Config::new();
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(p))
            .memory_reservation(pool.max_memory as u64)
            .memory_guard_size(64 << 10)
            .memory_init_cow(true)
            .epoch_interruption(true)
            // Initialise tables at instantiation: lazy initialisation reads a fresh table page
            // first (mapping the zero page) and then writes it, and that copy-on-write fault
            // flushes the TLBs of every core; guest tables are small, so eager is cheaper.
            .table_lazy_init(false)
            .async_stack_size(512 << 10)
            .max_wasm_stack(256 << 10);
        let engine = wasmtime::Engine::new(&cfg).map_err(err)?;

        let linker = object_linker(&engine).map_err(err)?;

        let weak = engine.weak();
        std::thread::Builder::new()
            .name("holdfast-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| EngineError::Engine(format!("cannot start the epoch thread: {e}")))?;

        let worker_linker = worker_linker(&engine).map_err(err)?;
        let compatibility = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            h.finish()
        };
        Ok(Engine {
            engine,
            linker: Arc::new(linker),
            worker_linker: Arc::new(worker_linker),
            loaded: Arc::default(),
            artifacts: Arc::new(Artifacts::open(cache_dir)),
            compatibility,
            logs: Arc::new(Logs::default()),
        })
    }

    /// The recent output of every object, and the feed of every line.
    pub fn logs(&self) -> &Arc<Logs> {
        &self.logs
    }

    /// Compiles (or loads from the cache) and pre-instantiates one class, checking that it
    /// implements the world.
    pub fn load_class(&self, config: &ClassConfig) -> Result<Class, EngineError> {
        let (class, binding) = (config.class.clone(), config.binding.clone());
        let path = config.component.display().to_string();
        let (component, component_key) =
            self.read_and_compile(&config.component, &class, &binding)?;
        let world_err = |e: wasmtime::Error| EngineError::World {
            class: class.clone(),
            binding: binding.clone(),
            path: path.clone(),
            message: format!("{e:#}"),
        };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(world_err)?;
        let hosting = hosting::GuestIndices::new(&instance_pre).ok();
        let pre = DurableObjectPre::new(instance_pre).map_err(world_err)?;
        let objects_per_instance = match (config.objects_per_instance, &hosting) {
            (Some(n), None) if n > 1 => {
                return Err(EngineError::NotShared {
                    class,
                    binding,
                    path,
                    wanted: n,
                });
            }
            (Some(n), _) => n,
            (None, Some(_)) => DEFAULT_OBJECTS_PER_INSTANCE,
            (None, None) => 1,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        Ok(Class {
            config: config.clone(),
            component_key,
            pre,
            egress: Egress::new(&config.outbound, &config.outbound_key),
            hosting: hosting.filter(|_| objects_per_instance > 1),
            objects_per_instance,
            instances: config.instances.unwrap_or(cores),
        })
    }

    /// Reads the component at `file` and compiles it (or loads it from the cache); errors name
    /// `class`, `binding` and the file. A file seen before (same path, inode, size and
    /// modification time) is not read at all: its recorded content key names its artifact.
    pub(super) fn read_and_compile(
        &self,
        file: &Path,
        class: &str,
        binding: &str,
    ) -> Result<(Component, String), EngineError> {
        let path = file.display().to_string();
        let read_err = |source| EngineError::Read {
            class: class.to_owned(),
            binding: binding.to_owned(),
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(file).map_err(read_err)?;
        let stamp = stamp(file, &meta, self.compatibility);
        if let Some(key) = self.artifacts.recorded_key(&stamp)
            && let Some(c) = self.loaded_or_mapped(&key)
        {
            return Ok((c, key));
        }
        let bytes = std::fs::read(file).map_err(read_err)?;
        let key = format!(
            "{}-{:016x}",
            blake3::hash(&bytes).to_hex(),
            self.compatibility
        );
        let component = match self.loaded_or_mapped(&key) {
            Some(c) => c,
            None => {
                let c = self
                    .artifacts
                    .load(&self.engine, &key, &bytes, &Described { class, binding })
                    .map_err(|e| EngineError::Compile {
                        class: class.to_owned(),
                        binding: binding.to_owned(),
                        path: path.clone(),
                        message: format!("{e:#}"),
                    })?;
                self.loaded
                    .lock()
                    .expect("loaded lock")
                    .insert(key.clone(), c.clone());
                c
            }
        };
        self.artifacts.record_key(&stamp, &key);
        Ok((component, key))
    }

    /// The component of content key `key`, if this process holds it or its artifact maps.
    fn loaded_or_mapped(&self, key: &str) -> Option<Component> {
        if let Some(c) = self.loaded.lock().expect("loaded lock").get(key) {
            return Some(c.clone());
        }
        let c = self.artifacts.mapped(&self.engine, key)?;
        self.loaded
            .lock()
            .expect("loaded lock")
            .insert(key.to_owned(), c.clone());
        Some(c)
    }
}

/// What identifies one version of a component file without reading it: its path, device and
/// inode, size and modification time (to the nanosecond), and the engine's compatibility hash.
fn stamp(file: &Path, meta: &std::fs::Metadata, compatibility: u64) -> String {
    use std::os::unix::fs::MetadataExt;
    let path = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
    let text = format!(
        "{}\0{}\0{}\0{}\0{}.{}\0{compatibility:016x}",
        path.display(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    blake3::hash(text.as_bytes()).to_hex().to_string()
}
