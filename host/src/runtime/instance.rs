//! One live instance of a class: its wasmtime store (a memory limit, a CPU deadline by epochs)
//! and the calls into its handler.
//!
//! A store is discarded after any trap: wasmtime poisons it. The object's storage view is taken
//! back out of the store first, so the next instance continues with the same cached state.

use std::sync::Arc;

use wasmtime::Store;

use super::bindings::shared::hosting;
use super::bindings::{DurableObject, handler, types};
use super::call_port::Chain;
use super::engine::{Class, Engine};
use super::sandbox::{CallLimits, Sandbox, arm, describe, new_store};
use super::store_data::{Identity, Reach, StoreData};
use crate::sockets::{Hub, WsEffects};
use crate::store::{ObjectStorage, StoreError};

/// How the guest failed an event.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GuestFailure {
    /// The guest returned `err(message)` (a thrown exception, in JS and Python).
    #[error("{0}")]
    Error(String),
    /// A method call named no public method of the class (the message says so).
    #[error("{0}")]
    NoSuchMethod(String),
    /// The guest trapped (the instance is gone).
    #[error("object trapped: {0}")]
    Trap(String),
    /// The guest's start-up failed (its constructor or top level trapped or threw).
    #[error("object could not be instantiated: {0}")]
    Instantiate(String),
}

/// Why an event produced no output.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Guest(#[from] GuestFailure),
    /// A host call of the event met a store failure (the guest was stopped).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an instance could not be created.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Every slot of the instance pool is taken (momentarily: evicted objects free theirs).
    #[error("the instance pool is full")]
    PoolFull,
    #[error(transparent)]
    Guest(#[from] GuestFailure),
}

/// A call into the guest's `handler` export: one event as the guest receives it.
#[derive(Debug)]
pub enum HandlerCall {
    /// A request, and whether it is a WebSocket upgrade the object may accept.
    Fetch(types::Request, bool),
    Alarm(types::AlarmInfo),
    WsMessage(u64, types::Message),
    WsClose(u64, u16, String, bool),
    WsError(u64, String),
    /// Another object called a public method: its name and JSON-array arguments.
    Method(String, Vec<u8>),
}

/// What a successful call produced.
#[derive(Debug)]
pub enum Output {
    Response(types::Response),
    /// A method's encoded result.
    Value(Vec<u8>),
    Done,
}

/// How a call ended while the instance lives on: its output, or the guest's error; with the
/// WebSocket effects either way (to apply after commit, or to undo).
pub type Delivered = (Result<Output, GuestFailure>, WsEffects);

/// A call that ended the instance (a trap, or a store failure in a host call): the storage
/// view taken back, why, and the effects to undo.
pub type Ended = (ObjectStorage, CallError, WsEffects);

/// A running instance: of one object, or (a component exporting `hosting`) of many, one
/// object's event at a time.
pub struct Live {
    store: Store<StoreData>,
    bindings: DurableObject,
    /// The `hosting` export, for an instance hosting many objects.
    hosting: Option<hosting::Guest>,
}

impl Live {
    /// Instantiates `class` for an object, moving `storage` into the new store. On failure the
    /// storage is handed back.
    pub async fn start(
        engine: &Engine,
        class: &Class,
        storage: ObjectStorage,
        identity: Identity,
        reach: Reach,
        hub: Arc<Hub>,
        limits: CallLimits,
    ) -> Result<Live, (ObjectStorage, StartError)> {
        Live::instantiate(engine, class, Some(storage), identity, reach, hub, limits)
            .await
            .map_err(|(s, e)| (s.expect("the storage went in"), e))
    }

    /// Instantiates `class` to host many of its objects (its component exports `hosting`).
    /// `identity` is the object whose event starts it: what a constructor running at
    /// instantiation would see (with no storage: its calls trap).
    pub async fn start_shared(
        engine: &Engine,
        class: &Class,
        identity: Identity,
        reach: Reach,
        hub: Arc<Hub>,
        limits: CallLimits,
    ) -> Result<Live, StartError> {
        Live::instantiate(engine, class, None, identity, reach, hub, limits)
            .await
            .map_err(|(_, e)| e)
    }

    async fn instantiate(
        engine: &Engine,
        class: &Class,
        storage: Option<ObjectStorage>,
        identity: Identity,
        mut reach: Reach,
        hub: Arc<Hub>,
        limits: CallLimits,
    ) -> Result<Live, (Option<ObjectStorage>, StartError)> {
        let tag = identity.label();
        reach.caller = Some((identity.key.clone(), tag.clone()));
        let data = StoreData {
            sandbox: Sandbox::new(identity.log_source(tag), &engine.logs, &limits),
            storage,
            identity,
            slot: 0,
            reach,
            hub,
            ws: WsEffects::default(),
            host_fault: None,
        };
        let mut store = new_store(&engine.engine, data, &limits);
        let made: wasmtime::Result<_> = async {
            let instance = class
                .pre
                .instance_pre()
                .instantiate_async(&mut store)
                .await?;
            let bindings = DurableObject::new(&mut store, &instance)?;
            let hosting = match &class.hosting {
                Some(indices) => Some(indices.load(&mut store, &instance)?),
                None => None,
            };
            Ok((bindings, hosting))
        }
        .await;
        match made {
            Ok((bindings, hosting)) => Ok(Live {
                store,
                bindings,
                hosting,
            }),
            Err(e)
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some() =>
            {
                Err((store.into_data().storage, StartError::PoolFull))
            }
            Err(e) => {
                let failure = GuestFailure::Instantiate(describe(&e, &store, &limits));
                Err((store.into_data().storage, failure.into()))
            }
        }
    }

    /// The storage view of the object whose event runs (or the instance's only object).
    pub fn storage(&mut self) -> &mut ObjectStorage {
        self.store
            .data_mut()
            .storage
            .as_mut()
            .expect("an object's storage is in the instance")
    }

    pub fn set_name(&mut self, name: String) {
        let data = self.store.data_mut();
        data.identity.name = Some(name);
        if let Some((_, label)) = &mut data.reach.caller {
            *label = data.identity.label();
        }
    }

    /// Makes the next event `identity`'s (in `slot`), with its storage view (a shared instance).
    pub fn put_object(&mut self, storage: ObjectStorage, identity: &Identity, slot: u32) {
        let data = self.store.data_mut();
        data.slot = slot;
        let label = identity.label();
        data.sandbox.set_source(identity.log_source(label.clone()));
        data.reach.caller = Some((identity.key.clone(), label));
        data.identity = identity.clone();
        data.storage = Some(storage);
    }

    /// Takes back the storage view `put_object` moved in.
    pub fn take_object(&mut self) -> ObjectStorage {
        self.store
            .data_mut()
            .storage
            .take()
            .expect("an object's storage is in the instance")
    }

    /// Calls `hosting.forget(slot)`, with `limits` as its CPU budget. An error is a trap: the
    /// instance is poisoned and must be dropped.
    pub async fn forget(&mut self, limits: &CallLimits, slot: u32) -> Result<(), GuestFailure> {
        let hosting = self
            .hosting
            .as_ref()
            .expect("only a shared instance forgets objects");
        arm(&mut self.store, limits);
        let r = hosting.call_forget(&mut self.store, slot).await;
        r.map_err(|e| GuestFailure::Trap(describe(&e, &self.store, limits)))
    }

    /// Delivers one event of `chain`. On a trap the instance is consumed and its storage
    /// returned.
    pub async fn deliver(
        mut self,
        limits: &CallLimits,
        chain: Chain,
        call: HandlerCall,
    ) -> Result<(Live, Delivered), Ended> {
        arm(&mut self.store, limits);
        self.store.data_mut().host_fault = None;
        self.store.data_mut().reach.chain = chain;
        self.store.data_mut().ws =
            WsEffects::for_event(matches!(call, HandlerCall::Fetch(_, true)));
        let h: &handler::Guest = self.bindings.holdfast_object_handler();
        let st = &mut self.store;
        let done = |r: Result<(), String>| r.map(|()| Output::Done).map_err(GuestFailure::Error);
        let result = match &call {
            HandlerCall::Fetch(req, _) => h
                .call_fetch(&mut *st, req)
                .await
                .map(|r| r.map(Output::Response).map_err(GuestFailure::Error)),
            HandlerCall::Alarm(info) => h.call_alarm(&mut *st, *info).await.map(done),
            HandlerCall::WsMessage(socket, msg) => h
                .call_websocket_message(&mut *st, *socket, msg)
                .await
                .map(done),
            HandlerCall::WsClose(socket, code, reason, clean) => h
                .call_websocket_close(&mut *st, *socket, *code, reason, *clean)
                .await
                .map(done),
            HandlerCall::WsError(socket, error) => h
                .call_websocket_error(&mut *st, *socket, error)
                .await
                .map(done),
            HandlerCall::Method(method, args) => {
                h.call_call(&mut *st, method, args).await.map(|r| {
                    r.map(Output::Value).map_err(|e| match e {
                        types::MethodError::NoSuchMethod(m) => GuestFailure::NoSuchMethod(m),
                        types::MethodError::Failed(m) => GuestFailure::Error(m),
                    })
                })
            }
        };

        let fx = std::mem::take(&mut self.store.data_mut().ws);
        match result {
            Ok(Ok(out)) => Ok((self, (Ok(out), fx))),
            Ok(Err(failure)) => Ok((self, (Err(failure), fx))),
            Err(e) => {
                let why = describe(&e, &self.store, limits);
                let mut data = self.store.into_data();
                let error = match data.host_fault.take() {
                    Some(fault) => CallError::Store(fault),
                    None => CallError::Guest(GuestFailure::Trap(why)),
                };
                let storage = data
                    .storage
                    .expect("an event runs with its object's storage");
                Err((storage, error, fx))
            }
        }
    }

    /// Takes the storage back (the instance is dropped).
    pub fn into_storage(self) -> ObjectStorage {
        self.store
            .into_data()
            .storage
            .expect("an object's storage is in the instance")
    }
}
