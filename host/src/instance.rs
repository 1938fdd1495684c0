//! One live instance of a class: its wasmtime store (WASI limited to clocks, random and
//! captured stdout/stderr; a memory limit; a CPU deadline by epochs) and the calls into it.
//!
//! A store is discarded after any trap: wasmtime poisons it. The object's storage view is taken
//! back out of the store first, so the next instance continues with the same cached state.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{DurableObject, handler, types};
use crate::config::Limits;
use crate::engine::{Class, EPOCH_TICK, Engine};
use crate::guest_log::{GuestOutput, Stream};
use crate::id::ObjectId;
use crate::namespaces::Namespaces;
use crate::object_storage::ObjectStorage;
use crate::websocket::{Hub, WsEffects};

/// Who the object is, as the `context` import reports it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub namespace: String,
    pub id: ObjectId,
    pub name: Option<String>,
}

/// Everything a store carries.
pub struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    pub(crate) storage: ObjectStorage,
    pub(crate) identity: Identity,
    pub(crate) namespaces: Namespaces,
    pub(crate) hub: Arc<Hub>,
    /// WebSocket effects of the running event.
    pub(crate) ws: WsEffects,
    stderr: GuestOutput,
    /// Epoch ticks left before the running event is interrupted.
    ticks_left: u64,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// How an event into the guest ended, when it did not return normally.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GuestFailure {
    /// The guest returned `err(message)`.
    #[error("{0}")]
    Error(String),
    /// The guest trapped (the instance is gone).
    #[error("object trapped: {0}")]
    Trap(String),
    /// The instance could not be created.
    #[error("object could not be instantiated: {0}")]
    Instantiate(String),
}

/// An event as the guest receives it.
#[derive(Debug)]
pub enum GuestEvent {
    /// A request, and whether it is a WebSocket upgrade the object may accept.
    Fetch(types::Request, bool),
    Alarm(types::AlarmInfo),
    WsMessage(u64, types::Message),
    WsClose(u64, u16, String, bool),
    WsError(u64, String),
}

/// How an event ended: its output and WebSocket effects, or why it failed (effects to undo).
pub type Delivered = Result<(Output, WsEffects), (GuestFailure, WsEffects)>;

/// What a successful event produced.
#[derive(Debug)]
pub enum Output {
    Response(types::Response),
    Done,
}

/// A running instance.
pub struct Live {
    store: Store<StoreData>,
    bindings: DurableObject,
}

impl Live {
    /// Instantiates `class` for an object, moving `storage` into the new store. On failure the
    /// storage is handed back.
    pub async fn start(
        engine: &Engine,
        class: &Class,
        storage: ObjectStorage,
        identity: Identity,
        namespaces: Namespaces,
        hub: Arc<Hub>,
    ) -> Result<Live, (ObjectStorage, GuestFailure)> {
        let tag: Arc<str> = match &identity.name {
            Some(n) => format!("{}/{n}", identity.namespace).into(),
            None => format!("{}/{}", identity.namespace, identity.id).into(),
        };
        let stderr = GuestOutput::new(Stream::Stderr, tag.clone());
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput::new(Stream::Stdout, tag))
            .stderr(stderr.clone())
            .build();
        let limits = &class.config.limits;
        let data = StoreData {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes())
                .trap_on_grow_failure(true)
                .build(),
            storage,
            identity,
            namespaces,
            hub,
            ws: WsEffects::default(),
            stderr,
            ticks_left: 0,
        };
        let mut store = Store::new(&engine.engine, data);
        store.limiter(|d| &mut d.limits);
        store.epoch_deadline_callback(|mut ctx| {
            let d = ctx.data_mut();
            if d.ticks_left == 0 {
                return Ok(UpdateDeadline::Interrupt);
            }
            d.ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        });
        arm(&mut store, limits);
        match class.pre.instantiate_async(&mut store).await {
            Ok(bindings) => Ok(Live { store, bindings }),
            Err(e) => {
                let failure = GuestFailure::Instantiate(describe(&e, &store, limits));
                Err((store.into_data().storage, failure))
            }
        }
    }

    pub fn storage(&mut self) -> &mut ObjectStorage {
        &mut self.store.data_mut().storage
    }

    pub fn set_name(&mut self, name: String) {
        self.store.data_mut().identity.name = Some(name);
    }

    /// Delivers one event. On a trap the instance is consumed and its storage returned.
    pub async fn deliver(
        mut self,
        limits: &Limits,
        event: GuestEvent,
    ) -> Result<(Live, Delivered), (ObjectStorage, GuestFailure, WsEffects)> {
        arm(&mut self.store, limits);
        self.store.data_mut().ws =
            WsEffects::for_event(matches!(event, GuestEvent::Fetch(_, true)));
        let h: &handler::Guest = self.bindings.holdfast_object_handler();
        let st = &mut self.store;
        let done = |r: Result<(), String>| r.map(|()| Output::Done);
        let result = match &event {
            GuestEvent::Fetch(req, _) => h
                .call_fetch(&mut *st, req)
                .await
                .map(|r| r.map(Output::Response)),
            GuestEvent::Alarm(info) => h.call_alarm(&mut *st, *info).await.map(done),
            GuestEvent::WsMessage(socket, msg) => h
                .call_websocket_message(&mut *st, *socket, msg)
                .await
                .map(done),
            GuestEvent::WsClose(socket, code, reason, clean) => h
                .call_websocket_close(&mut *st, *socket, *code, reason, *clean)
                .await
                .map(done),
            GuestEvent::WsError(socket, error) => h
                .call_websocket_error(&mut *st, *socket, error)
                .await
                .map(done),
        };
        let fx = std::mem::take(&mut self.store.data_mut().ws);
        match result {
            Ok(Ok(out)) => Ok((self, Ok((out, fx)))),
            Ok(Err(message)) => Ok((self, Err((GuestFailure::Error(message), fx)))),
            Err(e) => {
                let why = describe(&e, &self.store, limits);
                Err((self.store.into_data().storage, GuestFailure::Trap(why), fx))
            }
        }
    }

    /// Takes the storage back (the instance is dropped).
    pub fn into_storage(self) -> ObjectStorage {
        self.store.into_data().storage
    }
}

/// Re-arms the CPU deadline and clears the kept stderr before an event.
fn arm(store: &mut Store<StoreData>, limits: &Limits) {
    let ticks = (limits.cpu_ms / EPOCH_TICK.as_millis() as u64).max(1);
    let d = store.data_mut();
    d.ticks_left = ticks;
    d.stderr.clear_tail();
    store.set_epoch_deadline(1);
}

/// A trap as a sentence: which limit, if one, and what the guest printed to stderr.
fn describe(e: &wasmtime::Error, store: &Store<StoreData>, limits: &Limits) -> String {
    let base = match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            format!(
                "exceeded the CPU time limit of {} ms per event",
                limits.cpu_ms
            )
        }
        Some(Trap::StackOverflow) => "stack overflow".to_owned(),
        _ if format!("{e:#}").contains("forcing trap when growing memory") => {
            format!("exceeded the memory limit of {} MiB", limits.memory_mib)
        }
        _ => format!("{e:#}").lines().next().unwrap_or("trap").to_owned(),
    };
    let stderr = store.data().stderr.tail();
    let printed = stderr
        .lines()
        .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect::<Vec<_>>()
        .join(" ");
    if printed.is_empty() {
        base
    } else {
        format!("{base}; guest stderr: {printed}")
    }
}
