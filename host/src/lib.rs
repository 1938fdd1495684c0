//! Holdfast: self-hosted Durable Objects for WebAssembly components.
//!
//! A Durable Object class is a component implementing the `holdfast:object/durable-object`
//! world. The host runs at most one live instance per object ID, gives each object a private,
//! durable key-value store through synchronous imports, and delivers events to it one at a time;
//! each event is one atomic transaction whose response is released only after its writes are
//! durable.
//!
//! The pieces, one module each: [`Config`] (holdfast.toml), [`ObjectId`] / [`NamespaceKey`]
//! (identity), [`Db`] (the redb schema), [`Committer`] (group commit and the output gate),
//! [`ObjectStorage`] (one object's view of its keys), [`Engine`] (wasmtime), [`Registry`]
//! (single activation), [`Server`] (HTTP).

mod admin;
mod alarm;
mod bindings;
mod commit;
mod config;
mod engine;
mod guest_log;
mod host_impl;
mod http;
mod id;
mod instance;
mod metrics;
mod namespaces;
mod object;
mod object_storage;
mod registry;
mod server;
mod storage;
mod websocket;
mod ws_conn;

pub use alarm::{AlarmWaker, now_ms};
pub use commit::{CommitError, CommitState, CommitStats, Committer, Job};
pub use config::{
    AdminConfig, AlarmConfig, ClassConfig, Config, ConfigError, Limits, RuntimeConfig, ServerConfig,
};
pub use engine::{Class, Engine, EngineError, PoolSize};
pub use id::{IdError, NamespaceKey, ObjectId};
pub use instance::GuestFailure;
pub use metrics::Metrics;
pub use namespaces::{Namespaces, ParseIdError, UnknownNamespace};
pub use object::EventError;
pub use object_storage::{ListOptions, ObjectStorage, StorageError};
pub use registry::Registry;
pub use server::{Server, StartError};
pub use storage::{Db, DbError, ObjectKey, WriteSet};
