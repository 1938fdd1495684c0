//! Holdfast: self-hosted Durable Objects for WebAssembly components.
//!
//! A Durable Object class is a component implementing the `holdfast:object/durable-object`
//! world. The host runs at most one live instance per object ID, gives each object a private,
//! durable key-value store through synchronous imports, and delivers events to it one at a time;
//! each event is one atomic transaction whose response is released only after its writes are
//! durable.
//!
//! The layers, bottom to top (each imports only from those below it; `tests/layers.rs` checks
//! it, and ARCHITECTURE.md at the repository root describes them): `config`, `id`, `store`,
//! `sockets`, `logs`, `runtime`, `actor`, `cluster`, `alarms`, `http`, `app`. The binary and the tests need only
//! [`Config`] and [`Server`] (and its [`Reloader`] for code updates).

mod actor;
mod alarms;
mod app;
mod cluster;
mod config;
mod http;
mod id;
mod logs;
mod runtime;
mod sockets;
mod store;

pub use actor::Update;
pub use app::{
    At, BackupCliError, ClassBuildError, DevError, DevWatch, HistoryCliError, Lang, NewError,
    ObjectAt, ReloadError, Reloaded, Reloader, Server, StartError, TailError, TailOptions, backup,
    bookmarks, build_all, compile, fork, new_project, restore, restore_object, tail,
};
pub use config::{Config, ConfigError};
