//! Write [Holdfast](https://github.com/) Durable Object classes in Rust.
//!
//! A Durable Object class is a WebAssembly component. The host runs at most one instance of each
//! object (one per ID), delivers its events one at a time, and gives it a private, durable,
//! strongly consistent key-value store. This crate hides the component plumbing: implement
//! [`DurableObject`] on a struct, mark the struct with [`#[durable_object]`](durable_object), and
//! build the crate as a `cdylib` for `wasm32-wasip2`.
//!
//! # Example
//!
//! A counter per object name (served under `/counter/{name}` by the host):
//!
//! ```no_run
//! use holdfast_sdk::{DurableObject, Method, Request, Response, Result, State, durable_object};
//!
//! #[durable_object]
//! struct Counter {
//!     state: State,
//! }
//!
//! impl DurableObject for Counter {
//!     fn new(state: State) -> Self {
//!         Counter { state }
//!     }
//!
//!     fn fetch(&mut self, req: Request) -> Result<Response> {
//!         let storage = self.state.storage();
//!         let value: i64 = storage.get("value")?.unwrap_or(0);
//!         match (req.method(), req.segments().as_slice()) {
//!             (Method::Get, []) => Ok(Response::json(&serde_json::json!({ "value": value }))),
//!             (Method::Post, ["increment"]) => {
//!                 let Some(value) = value.checked_add(1) else {
//!                     return Ok(Response::error(400, "the counter would overflow"));
//!                 };
//!                 storage.put("value", &value)?;
//!                 Ok(Response::json(&serde_json::json!({ "value": value })))
//!             }
//!             _ => Ok(Response::not_found()),
//!         }
//!     }
//! }
//! ```
//!
//! The crate's `Cargo.toml` needs `crate-type = ["cdylib"]` under `[lib]` and depends on
//! `holdfast-sdk` only (plus `serde` for your own types). Build the component with
//! `cargo build --release --target wasm32-wasip2`; the result is
//! `target/wasm32-wasip2/release/<crate>.wasm`.
//!
//! # Routing
//!
//! [`Request::url`] is relative to the object: a request to `/counter/alice/increment?amount=2`
//! arrives as `/increment?amount=2`. Match the [`Method`] and the path
//! [`segments`](Request::segments) together; read parameters with [`Request::query`] and bodies
//! with [`Request::json`]:
//!
//! ```
//! # use holdfast_sdk::{Method, Request, Response};
//! # fn route(req: Request) -> Response {
//! match (req.method(), req.segments().as_slice()) {
//!     (Method::Get, []) => Response::text("index"),
//!     (Method::Post, ["increment"]) => Response::text("incremented"),
//!     (Method::Get, ["items", id]) => Response::text(format!("item {id}")),
//!     _ => Response::not_found(),
//! }
//! # }
//! # assert_eq!(route(Request::new(Method::Get, "/items/7")).body(), b"item 7");
//! ```
//!
//! # Events are transactions
//!
//! Each event (`fetch`, `alarm`, WebSocket message / close / error) is one atomic transaction:
//! every [`Storage`] write it makes commits together, durably, when the handler returns `Ok`, and
//! the response is released only after that commit. Returning `Err` discards all of the event's
//! writes (for `fetch`, the client gets a `500` with the error's message); so does a panic, which
//! also discards the instance. Use `?` freely: any `std::error::Error` converts into [`Error`].
//!
//! To answer a client error *and* keep the writes, return `Ok` with an error response, e.g.
//! `Ok(Response::error(400, "amount must be an integer"))`.
//!
//! # Storage
//!
//! [`Storage`] stores JSON through its typed methods ([`Storage::get`], [`Storage::put`],
//! [`Storage::list`], ...) and bytes through the `*_bytes` ones. The alarm
//! ([`Storage::set_alarm`]) is delivered to [`DurableObject::alarm`].

#[doc(hidden)]
#[allow(unsafe_code)]
pub mod bindings;

mod error;
mod events;
mod export;
mod list_options;
mod object;
mod request;
mod response;
mod state;
mod storage;
mod url;

pub use error::{Error, Result, StorageError, StorageErrorKind};
pub use events::{AlarmInfo, Message};
pub use holdfast_sdk_macros::durable_object;
pub use list_options::ListOptions;
pub use object::DurableObject;
pub use request::{Method, Request};
pub use response::Response;
pub use state::State;
pub use storage::Storage;

/// Runtime support for `__export_durable_object!`; not part of the public API.
#[doc(hidden)]
pub mod __rt {
    pub use crate::export::{
        Slot, alarm, fetch, websocket_close, websocket_error, websocket_message,
    };
}
