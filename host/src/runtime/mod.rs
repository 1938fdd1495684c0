//! The WebAssembly runtime: the wasmtime engine and compile cache, classes, live instances and
//! their stores, the host side of each WIT import interface, and the guest's log.
//!
//! Owns: everything wasmtime. Imports `config`, `id`, `store` and `sockets`; knows nothing of
//! actors, alarms or HTTP. A call into a guest runs on a wasmtime fiber and yields to tokio at
//! every epoch tick, so a guest blocked in a future async host call (calls between objects)
//! would not hold a thread. A stateless worker component would be a second `Class` kind here.

mod bindings;
mod engine;
mod guest_log;
mod host;
mod instance;
mod store_data;

pub use bindings::types;
pub use engine::{Class, Engine, EngineError, PoolSize};
pub use instance::{CallError, CallLimits, GuestFailure, HandlerCall, Live, Output, StartError};
pub use store_data::Identity;
