//! The worker route: with a `[worker]` in the config, every request outside `/_/` goes to the
//! worker, which sees the whole path and query. The client's address is added as the
//! `cf-connecting-ip` header (the header Cloudflare's workers read); a client's own
//! `cf-connecting-ip` is replaced, never passed on.
//!
//! A WebSocket upgrade the worker forwards to an object (`return stub.fetch(request)`, the
//! object answering 101) connects the client to that object's socket, as a direct route would;
//! a socket accepted for a request whose worker answered anything else is closed on the
//! object's side.
//!
//! The response is sent as soon as the worker's `fetch` returns; the work it deferred
//! (`ctx.waitUntil`) runs afterwards on the same instance, which is reused once that is done.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use axum::extract::FromRequestParts;
use axum::extract::ws::WebSocketUpgrade;

use super::error::error;
use super::objects::{header_list, is_websocket_upgrade, read_body, to_http};
use super::state::AppState;
use super::websocket::{PendingSocket, accept_socket};
use crate::actor::Directory;
use crate::runtime::{Accepted, GuestFailure, Upgrade, WorkerError, types};

/// The client's address, put in each request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

pub(super) async fn handle(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let Some(workers) = st.workers.as_ref().map(|w| w.load_full()) else {
        return super::objects::no_route();
    };
    let (mut parts, body) = req.into_parts();
    let ws = if is_websocket_upgrade(&parts.headers) {
        match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(u) => Some(u),
            Err(rejection) => return rejection.into_response(),
        }
    } else {
        None
    };
    // A socket an object accepted but the client never got is closed on the object's side.
    let upgrade = ws.as_ref().map(|_| {
        let directory = st.directory.clone();
        Upgrade::new(Box::new(move |a: Accepted| drop(pending(&directory, a))))
    });
    let body = match read_body(&st, body).await {
        Ok(b) => b,
        Err(response) => return *response,
    };
    let mut headers: Vec<(String, String)> = header_list(&parts.headers)
        .into_iter()
        .filter(|(k, _)| k != "cf-connecting-ip")
        .collect();
    if let Some(ClientAddr(addr)) = parts.extensions.get::<ClientAddr>() {
        headers.push(("cf-connecting-ip".into(), addr.ip().to_string()));
    }
    let url = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let request = types::Request {
        method: parts.method.as_str().to_owned(),
        url,
        headers,
        body: body.to_vec(),
    };
    let (result, lease) = workers.fetch(request, upgrade.clone()).await;
    match lease {
        Some(lease) if lease.deferred() => {
            let workers = workers.clone();
            tokio::spawn(async move { workers.wait_until(lease).await });
        }
        Some(lease) => workers.put_back(lease),
        None => {}
    }
    let accepted = upgrade.as_ref().and_then(|u| u.take());
    let pending = accepted.and_then(|a| pending(&st.directory, a));
    match result {
        Ok(r) if r.status == 101 => match (ws, pending) {
            (Some(ws), Some(pending)) => accept_socket(&st.directory, ws, pending),
            _ => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the worker answered 101 Switching Protocols, but no object accepted a WebSocket \
                 for this request: for an upgrade request, return the response of \
                 stub.fetch(request)",
            ),
        },
        Ok(r) => to_http(r),
        Err(WorkerError::Guest(GuestFailure::Trap(m))) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the worker trapped: {m}"),
        ),
        Err(WorkerError::Guest(f)) => error(StatusCode::INTERNAL_SERVER_ERROR, f.to_string()),
        Err(e @ (WorkerError::Busy(_) | WorkerError::PoolFull)) => {
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            r
        }
    }
}

/// The guard of a socket an object accepted for a forwarded upgrade: connected by
/// `accept_socket`, or, dropped, closed on the object's side.
fn pending(directory: &Arc<Directory>, a: Accepted) -> Option<PendingSocket> {
    let class = directory.class(&a.binding)?.clone();
    let mut p = PendingSocket::new(directory.clone(), class, a.id);
    p.socket = Some(a.socket);
    Some(p)
}
