//! Write [Holdfast](https://github.com/) Durable Object classes in Rust.
//!
//! A Durable Object class is a WebAssembly component. The host runs at most one instance of each
//! object (one per ID), delivers its events one at a time, and gives it a private, durable,
//! strongly consistent key-value store ([`Storage`]) and SQLite database ([`Sql`]). This crate
//! hides the component plumbing: implement [`DurableObject`] on a struct, mark the struct with
//! [`#[durable_object]`](durable_object), and build the crate as a `cdylib` for `wasm32-wasip2`.
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
//! the response, like any WebSocket message it sends, is released only after that commit.
//! Returning `Err` discards all of the event's writes and sends (for `fetch`, the client gets a
//! `500` with the error's message); so does a panic, which also discards the instance. Use `?`
//! freely: any `std::error::Error` converts into [`Error`].
//!
//! To answer a client error *and* keep the writes, return `Ok` with an error response, e.g.
//! `Ok(Response::error(400, "amount must be an integer"))`.
//!
//! # Storage
//!
//! [`Storage`] stores JSON through its typed methods ([`Storage::get`], [`Storage::put`],
//! [`Storage::list`], ...) and bytes through the `*_bytes` ones. The alarm
//! ([`Storage::set_alarm`]) is delivered to [`DurableObject::alarm`].
//!
//! # WebSockets
//!
//! The host owns the connections, in the manner of Cloudflare's hibernation API. In the `fetch`
//! of an upgrade request ([`Request::is_websocket_upgrade`]), accept the socket with
//! [`State::accept_websocket`] and return [`Response::websocket_accepted`]; the host completes the
//! upgrade. Each message, close or error then arrives as an event:
//! [`DurableObject::websocket_message`], [`websocket_close`](DurableObject::websocket_close),
//! [`websocket_error`](DurableObject::websocket_error), each given the [`WebSocket`] it concerns.
//!
//! An echo server:
//!
//! ```no_run
//! use holdfast_sdk::{DurableObject, Message, Request, Response, Result, State, WebSocket};
//!
//! #[holdfast_sdk::durable_object]
//! struct Echo {
//!     state: State,
//! }
//!
//! impl DurableObject for Echo {
//!     fn new(state: State) -> Self {
//!         Echo { state }
//!     }
//!
//!     fn fetch(&mut self, req: Request) -> Result<Response> {
//!         if !req.is_websocket_upgrade() {
//!             return Ok(Response::error(400, "expected a WebSocket upgrade"));
//!         }
//!         self.state.accept_websocket(&["echo"])?;
//!         Ok(Response::websocket_accepted())
//!     }
//!
//!     fn websocket_message(&mut self, ws: WebSocket, msg: Message) -> Result<()> {
//!         match msg {
//!             Message::Text(text) => ws.send_text(&text),
//!             Message::Binary(bytes) => ws.send_binary(&bytes),
//!         }
//!     }
//!
//!     fn websocket_close(&mut self, _: WebSocket, _: u16, _: String, _: bool) -> Result<()> {
//!         Ok(())
//!     }
//!
//!     fn websocket_error(&mut self, _: WebSocket, _: String) -> Result<()> {
//!         Ok(())
//!     }
//! }
//! ```
//!
//! What the host guarantees:
//! - **Sends follow the commit.** [`WebSocket::send_text`] and the other sends (and
//!   [`WebSocket::close`]) are queued and released only after the event's writes commit, like its
//!   response. A failed event sends nothing, and a socket it accepted is refused.
//! - **Hibernation.** A socket accepted with [`State::accept_websocket`] stays open while the
//!   object is evicted from memory; the next event for it creates the object again. The socket
//!   keeps its ID, its tags ([`State::websockets_with_tag`]) and its attachment
//!   ([`WebSocket::set_attachment`]); keep per-connection state there, not in fields.
//!   [`State::accept_websocket_pinned`] instead keeps the object resident while the socket is
//!   open.
//! - **Auto-response.** [`State::set_websocket_auto_response`] makes the host answer a fixed text
//!   message (e.g. a `"ping"`) by itself, without waking the object;
//!   [`WebSocket::auto_response_timestamp`] says when it last did.

#[doc(hidden)]
#[allow(unsafe_code)]
pub mod bindings;

mod error;
mod events;
mod export;
mod fetch;
mod history;
mod list_options;
mod methods;
mod object;
mod request;
mod response;
mod sql;
mod state;
mod storage;
mod stub;
mod url;
mod value;
mod websocket;
mod worker;

pub use error::{Error, Result, StorageError, StorageErrorKind};
pub use events::{AlarmInfo, Message};
pub use fetch::{FetchError, FetchErrorKind, fetch};
pub use holdfast_sdk_macros::{durable_object, methods, worker};
pub use list_options::ListOptions;
pub use methods::Methods;
pub use object::DurableObject;
pub use request::{Method, Request};
pub use response::Response;
pub use sql::{Cursor, Row, Sql, SqlError, SqlErrorKind, SqlValue};
pub use state::State;
pub use storage::Storage;
pub use stub::{CallError, CallErrorKind, Namespace, Stub};
pub use value::{MalformedValue, Value};
pub use websocket::WebSocket;
pub use worker::{Env, Worker};

/// Runtime support for `__export_durable_object!`; not part of the public API.
#[doc(hidden)]
pub mod __rt {
    pub use crate::export::{
        NOT_A_CLASS, NOT_A_WORKER, Slot, alarm, call, fetch, websocket_close, websocket_error,
        websocket_message, worker_fetch,
    };
    pub use crate::methods::{
        NoMethods, Probe, ViaMethods, decode_args, decode_no_args, encode_result,
    };
}
