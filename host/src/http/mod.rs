//! HTTP: the object routes, WebSocket connections, the admin API, health and metrics, and the
//! accept loop with its connection bounds.
//!
//! Owns: the wire. Imports `actor` (to deliver events), `store` (health, the fault switch) and
//! the layers below; nothing imports it but start-up. Every error a client can cause is a JSON
//! `{"error": ...}` with a status that says whose fault it is (4xx the client's, 500 the
//! object's, 503 the host's or an overload).
//!
//! - `GET /_/health` → 200 `ok` while storage can write, else 503 with the storage state
//! - `GET /_/metrics` → Prometheus text
//! - `/_/admin/...` → [`admin`] (test controls, code updates), [`inspect`] (the inspector's
//!   JSON API), [`history`] (bookmarks, point-in-time restores), [`fork`] (copies between
//!   objects), [`backup`] (the streamed backup), [`logs`] (recent lines, the live feed); all
//!   behind [`guard`]
//! - `GET /_/inspector` → [`page`]: the storage inspector
//! - `ANY /{binding}/{name}/...`, `ANY /_/id/{binding}/{id}/...` → [`objects`]
//! - with a `[worker]`: every other request → [`worker`] (instead of `/{binding}/{name}/...`)
//!
//! With `[admin] listen`, `/_/admin/...` and `/_/inspector` move to a second listener
//! ([`admin_router`]: those, health and metrics) and answer 404 on the main one.

mod admin;
mod backup;
mod cluster;
mod error;
mod fork;
mod guard;
mod history;
mod inspect;
mod listener;
mod logs;
mod metrics;
mod objects;
mod page;
mod state;
mod target;
mod websocket;
mod worker;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;

pub use listener::{ListenLimits, serve};
pub use state::{AppState, Reload, ReloadResult};

use crate::store::StorageState;

/// The axum router of the whole server; with `admin` false, without the admin API and the
/// inspector (they are on [`admin_router`]'s listener, and 404 here says so).
pub fn router(state: Arc<AppState>, admin: bool) -> Router {
    let host = Router::new()
        .route("/_/health", get(health))
        .route("/_/metrics", get(metrics))
        .route("/_/cluster", get(cluster::status))
        .route("/_/cluster/call", axum::routing::post(cluster::call));
    let host = if admin {
        with_admin(host, &state)
    } else {
        host.route("/_/admin/{*rest}", any(elsewhere))
            .route("/_/inspector", any(elsewhere))
            .route("/_/inspector/{*rest}", any(elsewhere))
    };
    let host = host
        .route("/_/id/{binding}/{id}", any(objects::by_id))
        .route("/_/id/{binding}/{id}/", any(objects::by_id))
        .route("/_/id/{binding}/{id}/{*rest}", any(objects::by_id))
        .route("/_/{*rest}", any(|| async { objects::no_route() }));
    let app = if state.workers.is_some() {
        host.fallback(worker::handle)
    } else {
        host.route("/{binding}/{name}", any(objects::by_name))
            .route("/{binding}/{name}/", any(objects::by_name))
            .route("/{binding}/{name}/{*rest}", any(objects::by_name))
            .fallback(|| async { objects::no_route() })
    };
    app.with_state(state)
}

/// The router of the admin listener (`[admin] listen`): the admin API, the inspector, health
/// and metrics; nothing of the objects.
pub fn admin_router(state: Arc<AppState>) -> Router {
    with_admin(
        Router::new()
            .route("/_/health", get(health))
            .route("/_/metrics", get(metrics))
            .route("/_/cluster", get(cluster::status)),
        &state,
    )
    .fallback(|| async { objects::no_route() })
    .with_state(state)
}

fn with_admin(host: Router<Arc<AppState>>, state: &Arc<AppState>) -> Router<Arc<AppState>> {
    host.nest("/_/admin", admin_routes(state.clone()))
        .route("/_/inspector", get(page::index))
        .route("/_/inspector/", get(page::index))
        .route("/_/inspector/app.js", get(page::script))
        .route("/_/inspector/style.css", get(page::style))
}

/// The admin API or the inspector asked of the main listener while they have their own.
async fn elsewhere() -> Response {
    error::error(
        StatusCode::NOT_FOUND,
        "the admin API and the inspector are served on the admin listener ([admin] listen), not here",
    )
}

/// Everything under `/_/admin`, behind the token and the same-origin check.
fn admin_routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    admin::routes()
        .merge(inspect::routes())
        .route("/backup", get(backup::backup))
        .route(
            "/{kind}/{binding}/{object}/bookmarks",
            get(history::bookmarks),
        )
        .route(
            "/{kind}/{binding}/{object}/bookmark",
            get(history::bookmark_for_time),
        )
        .route(
            "/{kind}/{binding}/{object}/restore",
            axum::routing::post(history::restore),
        )
        .route(
            "/{kind}/{binding}/{object}/fork",
            axum::routing::post(fork::fork),
        )
        .route("/logs", get(logs::recent))
        .route("/tail", get(logs::tail))
        .route_layer(axum::middleware::from_fn_with_state(state, guard::admin))
}

async fn health(State(st): State<Arc<AppState>>) -> Response {
    match st.directory.services().db.health().state() {
        StorageState::Ok => "ok".into_response(),
        StorageState::Failed { since_ms, reason } => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({
                "status": "storage failed",
                "error": format!("storage cannot write: {reason}"),
                "since_ms": since_ms,
            })),
        )
            .into_response(),
    }
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let text = metrics::render(&st.directory);
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}
