//! Cluster mode at the object routes: a request for an object placed on another node is passed
//! there (`cluster::Cluster::forward`); one for this node's object goes on to the directory.

use std::sync::Arc;

use axum::extract::{OriginalUri, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::error;
use super::state::AppState;
use crate::cluster::{Cluster, FORWARDED, Place};
use crate::store::ObjectKey;

/// `Ok(req)` when this node serves `key`'s object; otherwise the answer (the owner's, through
/// this node, or why there is none). A request another node forwarded is served here unless
/// this node has no lease: the two disagree on membership only briefly, and the fence keeps
/// the object right meanwhile.
pub(super) async fn route(
    st: &AppState,
    cluster: &Arc<Cluster>,
    key: &ObjectKey,
    req: Request,
) -> Result<Request, Response> {
    let forwarded = req.headers().contains_key(FORWARDED);
    let to = match cluster.place(key) {
        Place::Here => return Ok(req),
        Place::There(_) if forwarded => return Ok(req),
        Place::There(m) => m,
        Place::Unplaced => {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "this node's cluster lease does not hold (it cannot reach the cluster's database), so it serves no object: retry on another node",
            ));
        }
    };
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |u| u.0.clone());
    let path = path
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    st.directory
        .services()
        .metrics
        .forwarded
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let answer = if req
        .headers()
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
    {
        cluster.forward_upgrade(&to, req, &path).await
    } else {
        let (parts, body) = req.into_parts();
        let body = read(st, body).await?;
        cluster
            .forward(&to, &parts.method, &path, &parts.headers, body)
            .await
    };
    Err(answer.unwrap_or_else(|e| error(StatusCode::SERVICE_UNAVAILABLE, format!("{e}; retry"))))
}

/// `GET /_/cluster`: this node's name, whether its lease holds, and the live nodes it sees
/// (404 on one node).
pub(super) async fn status(
    axum::extract::State(st): axum::extract::State<Arc<AppState>>,
) -> Response {
    let Some(cluster) = &st.cluster else {
        return error(
            StatusCode::NOT_FOUND,
            "this server does not run in cluster mode (no [cluster] in its config)",
        );
    };
    let view = cluster.view();
    let members: Vec<_> = view
        .members
        .iter()
        .map(|m| serde_json::json!({"node": m.node, "addr": m.addr}))
        .collect();
    axum::Json(serde_json::json!({
        "node": cluster.node(),
        "lease_held": view.held(),
        "members": members,
    }))
    .into_response()
}

/// `POST /_/cluster/call`: a call between objects another node passed on (it carries the
/// cluster's key; refused 403 without it).
pub(super) async fn call(
    axum::extract::State(st): axum::extract::State<Arc<AppState>>,
    req: Request,
) -> Response {
    let Some(cluster) = &st.cluster else {
        return error(
            StatusCode::NOT_FOUND,
            "this server does not run in cluster mode (no [cluster] in its config)",
        );
    };
    let (parts, body) = req.into_parts();
    let given = parts
        .headers
        .get(crate::cluster::KEY_HEADER)
        .and_then(|v| v.to_str().ok());
    let body = match read(&st, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match cluster.serve_call(&st.directory, given, &body).await {
        Ok(reply) => ([("content-type", "application/json")], reply).into_response(),
        Err(e @ crate::cluster::ServeError::Key) => error(StatusCode::FORBIDDEN, e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// The body, within the size limit.
async fn read(st: &AppState, body: axum::body::Body) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, st.max_body_bytes)
        .await
        .map_err(|e| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body over the limit of {} bytes: {e}",
                    st.max_body_bytes
                ),
            )
        })
}
