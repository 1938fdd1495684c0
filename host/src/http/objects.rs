//! The object routes.
//!
//! - `ANY /{binding}/{name}[/{rest...}]` → the object `id-from-name(name)` of the binding's
//!   namespace; it sees the URL `/{rest}` plus the original query.
//! - `ANY /_/id/{binding}/{id}[/{rest...}]` → the object with that hex ID.
//!
//! Errors are JSON `{"error": "..."}`: unknown binding or path 404, bad or foreign ID 400, body
//! over the limit 413, a body that does not arrive in time 408, a failed or trapped event 500,
//! a storage failure 503, an overloaded object 503 with `Retry-After`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{error, event_error, overloaded};
use super::state::AppState;
use super::websocket::{PendingSocket, accept_socket};
use crate::actor::{Event, Outcome};
use crate::id::ObjectId;
use crate::runtime::{Class, types};

/// Longest object name accepted in a URL.
const MAX_NAME_BYTES: usize = 1024;

pub(super) fn no_route() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no route: use /{binding}/{name}/..., /_/id/{binding}/{id}/... or /_/health",
    )
}

type St = State<Arc<AppState>>;

/// The captures of an object route: `binding`, `name` or `id`, and `rest` when present.
type Captures = Path<HashMap<String, String>>;

pub(super) async fn by_name(st: St, Path(mut p): Captures, req: Request) -> Response {
    let (binding, name, rest) = (
        take(&mut p, "binding"),
        take(&mut p, "name"),
        take(&mut p, "rest"),
    );
    route_name(st, binding, name, rest, req).await
}

pub(super) async fn by_id(st: St, Path(mut p): Captures, req: Request) -> Response {
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

/// The class of a direct route's first segment (its `route`, which is the binding unless set).
fn class(st: &AppState, route: &str) -> Result<Arc<Class>, Box<Response>> {
    if route.starts_with('_') {
        // Reserved for the host's own routes; routes never start with `_`.
        return Err(Box::new(no_route()));
    }
    st.directory.class_of_route(route).ok_or_else(|| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            format!(
                "no route named `{route}` (this host serves: {})",
                routes(st)
            ),
        ))
    })
}

fn routes(st: &AppState) -> String {
    let r = st.directory.services().classes.load().routes();
    if r.is_empty() {
        return "no direct routes".into();
    }
    r.join(", ")
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
    let key = match st
        .directory
        .services()
        .namespaces
        .key(&class.config.binding)
    {
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
    let id = match st
        .directory
        .services()
        .namespaces
        .parse(&class.config.binding, &id)
    {
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
    let req = match &st.cluster {
        Some(cluster) => match super::cluster::route(st, cluster, &class.key(&id), req).await {
            Ok(req) => req,
            Err(answer) => return answer,
        },
        None => req,
    };
    let (mut parts, body) = req.into_parts();
    let upgrade = if is_websocket_upgrade(&parts.headers) {
        match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(u) => Some(u),
            Err(rejection) => return rejection.into_response(),
        }
    } else {
        None
    };
    let body = match read_body(st, body).await {
        Ok(b) => b,
        Err(response) => return *response,
    };
    let mut url = format!("/{rest}");
    if let Some(q) = parts.uri.query() {
        url.push('?');
        url.push_str(q);
    }
    let headers = header_list(&parts.headers);
    let request = types::Request {
        method: parts.method.as_str().to_owned(),
        url,
        headers,
        body: body.to_vec(),
    };
    let is_upgrade = upgrade.is_some();
    let rx = match st
        .directory
        .request(class, id, name, Event::Fetch(request), is_upgrade)
    {
        Ok(rx) => rx,
        Err(e) => return overloaded(&e),
    };
    // Should this handler be dropped before the 101 (the client left), the guard forgets the
    // socket the object may have accepted and tells the object it closed.
    let pending = is_upgrade.then(|| PendingSocket::new(st.directory.clone(), class.clone(), id));
    let outcome = rx.await.unwrap_or(Err(crate::actor::EventError::Gone));
    match outcome {
        Ok(Outcome::Response(_, Some(socket))) => {
            let upgrade = upgrade.expect("a socket is only accepted on an upgrade request");
            let mut pending = pending.expect("an upgrade has a guard");
            pending.socket = Some(socket);
            accept_socket(&st.directory, upgrade, pending)
        }
        Ok(Outcome::Response(resp, None)) => to_http(resp),
        Ok(other) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("unexpected outcome of a request: {other:?}"),
        ),
        Err(e) => event_error(&e),
    }
}

/// Reads a request's body within the size and time limits; the error response otherwise.
pub(super) async fn read_body(st: &AppState, body: Body) -> Result<Bytes, Box<Response>> {
    let read = tokio::time::timeout(
        st.body_timeout,
        axum::body::to_bytes(body, st.max_body_bytes),
    );
    match read.await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(_)) => Err(Box::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is over the limit of {} bytes",
                st.max_body_bytes
            ),
        ))),
        Err(_) => Err(Box::new(error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body did not arrive within {} ms",
                st.body_timeout.as_millis()
            ),
        ))),
    }
}

/// Header names (lower case, as HTTP/1 parsing gives them) and values, in order.
pub(super) fn header_list(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

pub(super) fn is_websocket_upgrade(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The response as HTTP (the actor checked status and headers before committing).
pub(super) fn to_http(resp: types::Response) -> Response {
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
