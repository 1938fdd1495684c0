//! The WebAssembly runtime: the wasmtime engine and compile cache, classes, live instances and
//! their stores (of one object, or of many when the component exports `hosting`: the running
//! object's storage and identity are moved into the store for each event), the host side of
//! each WIT import interface, and the guest's log.
//!
//! Owns: everything wasmtime. Imports `config`, `id`, `store`, `sockets` and `logs` (where the
//! guests' output lines go); knows nothing of actors, alarms or HTTP. A call into a guest runs on a wasmtime fiber and yields to tokio at
//! every epoch tick; a guest calling another object waits in an async host call, its fiber
//! suspended, while the [`Outbound`] port (implemented by the actor layer) delivers the call.

mod artifacts;
mod bindings;
mod call_port;
mod egress;
mod engine;
mod guest_log;
mod host;
mod instance;
mod mappings;
mod sandbox;
mod store_data;
mod suspension;
mod worker;

pub use bindings::calls::CallErrorKind;
pub use bindings::types;
pub use call_port::{
    Accepted, CallBody, CallFailure, CallFuture, CallReply, Caller, Chain, Outbound, Upgrade,
};
pub use engine::{Class, Engine, EngineError, PoolSize};
pub use instance::{CallError, Delivered, GuestFailure, HandlerCall, Live, Output, StartError};
pub use mappings::check as check_mappings;
pub use sandbox::CallLimits;
pub use store_data::{Identity, Reach, label};
pub use suspension::Suspension;
pub use worker::{WorkerClass, WorkerError, Workers};
