//! What a wasmtime store carries for one live instance: its [`Sandbox`] (WASI, the memory
//! limiter, the CPU budget), the object's storage view and identity, the running event's
//! WebSocket effects, and its [`Reach`] (IDs, calls, vars), which worker stores carry too.

use std::sync::Arc;

use wasmtime_wasi::{WasiCtxView, WasiView};

use super::call_port::{Caller, Chain, Outbound, Upgrade};
use super::egress::Egress;
use super::sandbox::{Sandbox, Sandboxed};
use super::suspension::{Suspension, Waiting};
use crate::id::{Namespaces, ObjectId};
use crate::logs::LogSource;
use crate::sockets::{Hub, WsEffects};
use crate::store::{ObjectKey, ObjectStorage, StoreError};

/// Who the object is, as the `context` import reports it.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The binding code names the class by (`context.namespace()` reports it).
    pub binding: String,
    /// Where its storage is (its namespace and ID).
    pub key: ObjectKey,
    pub id: ObjectId,
    pub name: Option<String>,
    /// The class it runs as (`class` in the config).
    pub class: Arc<str>,
}

impl Identity {
    /// How messages name the object: `binding/name`, or `binding/id` without a name.
    pub fn label(&self) -> Arc<str> {
        label(&self.binding, &self.id.to_string(), self.name.as_deref())
    }

    /// Whose output the instance's lines are (while this object's event runs), under `label`
    /// (its [`Identity::label`], which the caller has made already).
    pub fn log_source(&self, label: Arc<str>) -> LogSource {
        LogSource {
            label,
            object: Some((self.key.parts().0.into(), self.id.to_string().into())),
        }
    }
}

/// How messages name an object: `namespace/name`, or `namespace/id` without a name.
pub fn label(namespace: &str, id: &str, name: Option<&str>) -> Arc<str> {
    match name {
        Some(n) => format!("{namespace}/{n}").into(),
        None => format!("{namespace}/{id}").into(),
    }
}

/// What objects and workers alike reach beyond themselves: the namespaces and their IDs, calls to
/// objects, the configured vars.
pub struct Reach {
    pub(crate) namespaces: Namespaces,
    pub(crate) outbound: Arc<dyn Outbound>,
    pub(crate) vars: Arc<[(String, String)]>,
    /// Outbound HTTP, with the class's (or worker's) allow-list.
    pub(crate) egress: Egress,
    /// The calling object (`None` in a worker), as the wait-for graph knows it.
    pub(super) caller: Option<(ObjectKey, Arc<str>)>,
    /// The chain of calls of the running event (set before each event).
    pub(super) chain: Chain,
    /// In a worker, the client's WebSocket upgrade of the running request, if it is one.
    pub(super) upgrade: Option<Arc<Upgrade>>,
    /// Marked while a call or outbound fetch waits, in an instance hosting many objects.
    pub(crate) suspension: Option<Arc<Suspension>>,
}

impl Reach {
    pub(crate) fn new(
        namespaces: Namespaces,
        outbound: Arc<dyn Outbound>,
        vars: Arc<[(String, String)]>,
        egress: Egress,
    ) -> Reach {
        Reach {
            namespaces,
            outbound,
            vars,
            egress,
            caller: None,
            chain: Chain::start(),
            upgrade: None,
            suspension: None,
        }
    }

    /// Marks the instance as waiting in a host call (if anyone watches) until it is dropped.
    pub(super) fn waiting(&self) -> Option<Waiting> {
        self.suspension.as_ref().map(|s| s.wait())
    }

    pub(super) fn caller(&self) -> Caller {
        Caller {
            object: self.caller.clone(),
            chain: self.chain,
            upgrade: self.upgrade.clone(),
        }
    }
}

/// Everything a store carries.
pub struct StoreData {
    pub(super) sandbox: Sandbox,
    /// The storage view of the object whose event is running. In an instance hosting many
    /// objects it is moved in for each event and taken back after (`None` between events: an
    /// import called then, e.g. from `hosting.forget`, traps).
    pub(crate) storage: Option<ObjectStorage>,
    /// Who the running object is (replaced with each event in a shared instance).
    pub(crate) identity: Identity,
    /// The running object's slot in a shared instance (`hosting-context.slot`); 0 otherwise.
    pub(crate) slot: u32,
    pub(crate) reach: Reach,
    pub(crate) hub: Arc<Hub>,
    /// WebSocket effects of the running event.
    pub(crate) ws: WsEffects,
    /// A store failure met by a host call of the running event. The call traps the guest (it
    /// cannot go on without the data), and the event is then reported as the host failure it
    /// is, not as the guest's trap.
    pub(super) host_fault: Option<StoreError>,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.sandbox.wasi_view()
    }
}

impl Sandboxed for StoreData {
    fn sandbox(&mut self) -> &mut Sandbox {
        &mut self.sandbox
    }
    fn sandbox_ref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl StoreData {
    /// The running object's storage view; a trap between events.
    pub(super) fn storage(&mut self) -> wasmtime::Result<&mut ObjectStorage> {
        self.storage.as_mut().ok_or_else(no_event)
    }

    /// The running object's key; a trap between events.
    pub(super) fn object(&self) -> wasmtime::Result<&ObjectKey> {
        self.storage
            .as_ref()
            .map(|s| s.object())
            .ok_or_else(no_event)
    }

    /// Records a store failure and returns the trap that stops the guest.
    pub(super) fn fault(&mut self, e: StoreError) -> wasmtime::Error {
        let trap = wasmtime::Error::msg(e.to_string());
        self.host_fault = Some(e);
        trap
    }
}

fn no_event() -> wasmtime::Error {
    wasmtime::Error::msg("an import was called while no object's event was running")
}

/// Everything a worker's store carries: WASI and the reach; no storage, no identity.
pub struct WorkerData {
    pub(super) sandbox: Sandbox,
    pub(crate) reach: Reach,
    /// The running request deferred work (`worker-context.defer`): run `wait-until` after it.
    pub(crate) deferred: bool,
}

impl WasiView for WorkerData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.sandbox.wasi_view()
    }
}

impl Sandboxed for WorkerData {
    fn sandbox(&mut self) -> &mut Sandbox {
        &mut self.sandbox
    }
    fn sandbox_ref(&self) -> &Sandbox {
        &self.sandbox
    }
}
