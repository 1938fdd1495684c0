//! HTTP routes.
//!
//! - `GET /_/health` → 200 `ok`
//! - `ANY /{binding}/{name}[/{rest...}]` → the object `id-from-name(name)` of the binding's
//!   namespace; it sees the URL `/{rest}` plus the original query.
//! - `ANY /_/id/{binding}/{id}[/{rest...}]` → the object with that hex ID.
//!
//! Errors are JSON `{"error": "..."}`: unknown binding or path 404, bad or foreign ID 400, body
//! over the limit 413, a failed or trapped event 500, a failed commit 503.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;

use crate::bindings::types;
use crate::engine::Class;
use crate::id::ObjectId;
use crate::object::{Event, EventError, Outcome};
use crate::registry::Registry;
use crate::storage::ObjectKey;

/// Longest object name accepted in a URL.
const MAX_NAME_BYTES: usize = 1024;

/// What the routes share.
pub struct AppState {
    pub registry: Arc<Registry>,
    pub max_body_bytes: usize,
    /// The admin API's bearer token; `None` disables the admin API.
    pub admin_token: Option<String>,
}

/// The axum router of the whole server.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/_/health", get(|| async { "ok" }))
        .route("/_/metrics", get(metrics))
        .nest("/_/admin", crate::admin::routes(state.clone()))
        .route("/_/id/{binding}/{id}", any(by_id))
        .route("/_/id/{binding}/{id}/", any(by_id))
        .route("/_/id/{binding}/{id}/{*rest}", any(by_id))
        .route("/{binding}/{name}", any(by_name))
        .route("/{binding}/{name}/", any(by_name))
        .route("/{binding}/{name}/{*rest}", any(by_name))
        .fallback(|| async { no_route() })
        .with_state(state)
}

/// A JSON error response.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn no_route() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no route: use /{binding}/{name}/..., /_/id/{binding}/{id}/... or /_/health",
    )
}

type St = State<Arc<AppState>>;

async fn metrics(State(st): St) -> Response {
    let s = st.registry.services();
    let text = s
        .metrics
        .render(st.registry.live_count(), s.hub.count(), s.committer.stats());
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

/// The captures of an object route: `binding`, `name` or `id`, and `rest` when present.
type Captures = Path<HashMap<String, String>>;

async fn by_name(st: St, Path(mut p): Captures, req: Request) -> Response {
    let (binding, name, rest) = (
        take(&mut p, "binding"),
        take(&mut p, "name"),
        take(&mut p, "rest"),
    );
    route_name(st, binding, name, rest, req).await
}

async fn by_id(st: St, Path(mut p): Captures, req: Request) -> Response {
    let (binding, id, rest) = (
        take(&mut p, "binding"),
        take(&mut p, "id"),
        take(&mut p, "rest"),
    );
    route_id(st, binding, id, rest, req).await
}

fn take(p: &mut HashMap<String, String>, key: &str) -> String {
    p.remove(key).unwrap_or_default()
}

fn class<'a>(st: &'a AppState, binding: &str) -> Result<&'a Arc<Class>, Box<Response>> {
    if binding.starts_with('_') {
        // Reserved for the host's own routes; bindings never start with `_`.
        return Err(Box::new(no_route()));
    }
    st.registry.class(binding).ok_or_else(|| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            format!(
                "no binding named `{binding}` (this host serves: {})",
                bindings(st)
            ),
        ))
    })
}

fn bindings(st: &AppState) -> String {
    let mut b: Vec<_> = st
        .registry
        .services()
        .classes
        .keys()
        .map(String::as_str)
        .collect();
    b.sort_unstable();
    b.join(", ")
}

async fn route_name(
    State(st): St,
    binding: String,
    name: String,
    rest: String,
    req: Request,
) -> Response {
    let class = match class(&st, &binding) {
        Ok(c) => c.clone(),
        Err(r) => return *r,
    };
    if name.len() > MAX_NAME_BYTES {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "object name is {} bytes, over the limit of {MAX_NAME_BYTES}",
                name.len()
            ),
        );
    }
    let key = match st.registry.services().namespaces.key(&binding) {
        Ok(k) => k,
        Err(e) => return error(StatusCode::NOT_FOUND, e.to_string()),
    };
    let id = key.id_from_name(&name);
    deliver(&st, &class, id, Some(name), rest, req).await
}

async fn route_id(
    State(st): St,
    binding: String,
    id: String,
    rest: String,
    req: Request,
) -> Response {
    let class = match class(&st, &binding) {
        Ok(c) => c.clone(),
        Err(r) => return *r,
    };
    let id = match st.registry.services().namespaces.parse(&binding, &id) {
        Ok(id) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    deliver(&st, &class, id, None, rest, req).await
}

async fn deliver(
    st: &AppState,
    class: &Arc<Class>,
    id: ObjectId,
    name: Option<String>,
    rest: String,
    req: Request,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let upgrade = if is_websocket_upgrade(&parts.headers) {
        match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(u) => Some(u),
            Err(rejection) => return rejection.into_response(),
        }
    } else {
        None
    };
    let body: Bytes = match axum::body::to_bytes(body, st.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body is over the limit of {} bytes",
                    st.max_body_bytes
                ),
            );
        }
    };
    let mut url = format!("/{rest}");
    if let Some(q) = parts.uri.query() {
        url.push('?');
        url.push_str(q);
    }
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let request = types::Request {
        method: parts.method.as_str().to_owned(),
        url,
        headers,
        body: body.to_vec(),
    };
    let rx = st
        .registry
        .send_upgrade(class, id, name, Event::Fetch(request), upgrade.is_some());
    match rx.await {
        Ok(Ok(Outcome::Response(_, Some(socket)))) => {
            let upgrade = upgrade.expect("a socket is only accepted on an upgrade request");
            accept_socket(st, upgrade, class.clone(), id, socket)
        }
        Ok(Ok(Outcome::Response(resp, None))) => to_http(resp),
        Ok(Ok(other)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("unexpected outcome of a request: {other:?}"),
        ),
        Ok(Err(EventError::Commit(e))) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Ok(Err(EventError::Guest(e))) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the object went away before answering",
        ),
    }
}

fn is_websocket_upgrade(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Completes the upgrade of a socket the object accepted; its connection then runs in
/// [`crate::ws_conn::serve`].
fn accept_socket(
    st: &AppState,
    upgrade: WebSocketUpgrade,
    class: Arc<Class>,
    id: ObjectId,
    socket: u64,
) -> Response {
    let registry = st.registry.clone();
    let hub = registry.services().hub.clone();
    let key = ObjectKey::new(&class.config.binding, &id);
    upgrade
        .max_message_size(hub.limits.max_message_bytes)
        // tungstenite's default buffers are 128 KiB each per connection; idle hibernated
        // connections should cost little.
        .read_buffer_size(4 << 10)
        .write_buffer_size(4 << 10)
        .on_failed_upgrade(move |e| {
            tracing::warn!(error = %e, "WebSocket upgrade failed after the object accepted it");
            hub.remove(&key, socket);
        })
        .on_upgrade(move |ws| crate::ws_conn::serve(ws, registry, class, id, socket))
}

fn to_http(resp: types::Response) -> Response {
    let Ok(status) = StatusCode::from_u16(resp.status) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("object returned an invalid status code {}", resp.status),
        );
    };
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() = status;
    for (k, v) in resp.headers {
        match (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            (Ok(k), Ok(v)) => {
                out.headers_mut().append(k, v);
            }
            _ => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("object returned an invalid header `{k}`"),
                );
            }
        }
    }
    out
}
