//! What a wasmtime store carries for one live instance: WASI (clocks, random, captured
//! stdout/stderr only), the memory limiter, the object's storage view and identity, and the
//! running event's WebSocket effects.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::guest_log::GuestOutput;
use crate::id::{Namespaces, ObjectId};
use crate::sockets::{Hub, WsEffects};
use crate::store::{ObjectStorage, StoreError};

/// Who the object is, as the `context` import reports it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub namespace: String,
    pub id: ObjectId,
    pub name: Option<String>,
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
    pub(crate) namespaces: Namespaces,
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
