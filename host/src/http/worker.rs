//! The worker route: with a `[worker]` in the config, every request outside `/_/` goes to the
//! worker, which sees the whole path and query. The client's address is added as the
//! `cf-connecting-ip` header (the header Cloudflare's workers read); a client's own
//! `cf-connecting-ip` is replaced, never passed on.
//!
//! The response is sent as soon as the worker's `fetch` returns; the work it deferred
//! (`ctx.waitUntil`) runs afterwards on the same instance, which is reused once that is done.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::error;
use super::objects::{header_list, read_body, to_http};
use super::state::AppState;
use crate::runtime::{GuestFailure, WorkerError, types};

/// The client's address, put in each request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

pub(super) async fn handle(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let Some(workers) = st.workers.clone() else {
        return super::objects::no_route();
    };
    let (parts, body) = req.into_parts();
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
    let (result, lease) = workers.fetch(request).await;
    if let Some(lease) = lease {
        tokio::spawn(async move { workers.wait_until(lease).await });
    }
    match result {
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
