//! What a wasmtime store carries for one live instance: WASI (clocks, random, captured
//! stdout/stderr only), the memory limiter, the object's storage view and identity, the running
//! event's WebSocket effects, and its [`Reach`] (IDs, calls, vars), which worker stores carry
//! too.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::guest_log::GuestOutput;
use super::outbound::{Caller, Chain, Outbound};
use crate::id::{Namespaces, ObjectId};
use crate::sockets::{Hub, WsEffects};
use crate::store::{ObjectKey, ObjectStorage, StoreError};

/// Who the object is, as the `context` import reports it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub namespace: String,
    pub id: ObjectId,
    pub name: Option<String>,
    /// The class it runs as (`class` in the config).
    pub class: Arc<str>,
}

impl Identity {
    /// How messages name the object: `namespace/name`, or `namespace/id` without a name.
    pub fn label(&self) -> Arc<str> {
        match &self.name {
            Some(n) => format!("{}/{n}", self.namespace).into(),
            None => format!("{}/{}", self.namespace, self.id).into(),
        }
    }
}

/// What objects and workers alike reach beyond themselves: the namespaces and their IDs, calls to
/// objects, the configured vars.
pub struct Reach {
    pub(crate) namespaces: Namespaces,
    pub(crate) outbound: Arc<dyn Outbound>,
    pub(crate) vars: Arc<[(String, String)]>,
    /// The calling object (`None` in a worker), as the wait-for graph knows it.
    pub(super) caller: Option<(ObjectKey, Arc<str>)>,
    /// The chain of calls of the running event (set before each event).
    pub(super) chain: Chain,
}

impl Reach {
    pub(crate) fn new(
        namespaces: Namespaces,
        outbound: Arc<dyn Outbound>,
        vars: Arc<[(String, String)]>,
    ) -> Reach {
        Reach {
            namespaces,
            outbound,
            vars,
            caller: None,
            chain: Chain::start(),
        }
    }

    pub(super) fn caller(&self) -> Caller {
        Caller {
            object: self.caller.clone(),
            chain: self.chain,
        }
    }
}

/// A memory growth past the class's limit (the trap's typed cause).
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit_bytes} bytes exceeded (growing to {desired} bytes)")]
pub struct MemoryLimitExceeded {
    pub limit_bytes: usize,
    pub desired: usize,
}

/// Traps growth past the class's memory limit with [`MemoryLimitExceeded`].
#[derive(Debug)]
pub(super) struct Limiter {
    pub memory_bytes: usize,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(MemoryLimitExceeded {
                limit_bytes: self.memory_bytes,
                desired,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Everything a store carries.
pub struct StoreData {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: Limiter,
    pub(crate) storage: ObjectStorage,
    pub(crate) identity: Identity,
    pub(crate) reach: Reach,
    pub(crate) hub: Arc<Hub>,
    /// WebSocket effects of the running event.
    pub(crate) ws: WsEffects,
    pub(super) stderr: GuestOutput,
    /// Epoch ticks left before the running event is interrupted.
    pub(super) ticks_left: u64,
    /// A store failure met by a host call of the running event. The call traps the guest (it
    /// cannot go on without the data), and the event is then reported as the host failure it
    /// is, not as the guest's trap.
    pub(super) host_fault: Option<StoreError>,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl StoreData {
    /// Records a store failure and returns the trap that stops the guest.
    pub(super) fn fault(&mut self, e: StoreError) -> wasmtime::Error {
        let trap = wasmtime::Error::msg(e.to_string());
        self.host_fault = Some(e);
        trap
    }
}

/// Everything a worker's store carries: WASI and the reach; no storage, no identity.
pub struct WorkerData {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: Limiter,
    pub(crate) reach: Reach,
    pub(super) stderr: GuestOutput,
    /// Epoch ticks left before the running request is interrupted.
    pub(super) ticks_left: u64,
}

impl WasiView for WorkerData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
