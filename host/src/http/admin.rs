//! The admin API under `/_/admin/`: test controls and inspection for users' own tests.
//!
//! Every route requires `Authorization: Bearer <admin.token>`, and a state-changing one a
//! same-origin caller ([`guard`](super::guard)); without a configured token the whole API
//! answers 404 saying it is disabled. The inspector's routes are in [`inspect`](super::inspect)
//! and [`logs`](super::logs).
//!
//! - `GET  /_/admin/objects` — live objects: namespace, id, name, ms since their last event
//! - `GET  /_/admin/objects/{binding}/{name}/alarm` — `{"alarm": ms | null}` (committed state);
//!   `PUT` with `{"alarm": ms}` sets it, `DELETE` deletes it (each an edit in the mailbox)
//! - `POST /_/admin/objects/{binding}/{name}/alarm/run` — run the object's alarm now
//! - `POST /_/admin/objects/{binding}/{name}/evict` — make the object leave memory now
//!
//! - `POST /_/admin/reload` — a code update: read the config file again and serve the classes
//!   (and worker) whose component or settings changed; answers what changed, or 422 with why it
//!   was refused (the running code keeps serving)
//!
//! The same routes exist under `/_/admin/ids/{binding}/{id}/...` to address an object by ID.
//!
//! With fault injection on (`HOLDFAST_FAULT_INJECTION=1`, for tests only):
//! - `GET /_/admin/faults`, `PUT /_/admin/faults` with a [`FaultPlan`] as JSON
//!   (`{"fail": "full" | "write" | "sync" | null, "count": n, "sync_delay_ms": n}`)
//! - `POST /_/admin/objects/{binding}/{name}/panic` — the object's actor panics

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::error::error;
use super::inspect;
use super::state::AppState;
use super::target::{ObjectPath, resolve};
use crate::actor::{Event, Outcome};
use crate::store::FaultPlan;

type St = State<Arc<AppState>>;

/// The admin routes (nested under `/_/admin`, behind [`guard`](super::guard), by the main
/// router).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/objects", get(list))
        .route(
            "/{kind}/{binding}/{object}/alarm",
            get(get_alarm)
                .put(inspect::set_alarm)
                .delete(inspect::delete_alarm),
        )
        .route("/{kind}/{binding}/{object}/alarm/run", post(run_alarm))
        .route("/{kind}/{binding}/{object}/evict", post(evict))
        .route("/{kind}/{binding}/{object}/panic", post(panic_object))
        .route("/faults", get(get_faults).put(set_faults))
        .route("/reload", post(reload))
}

async fn reload(State(st): St) -> Response {
    let Some(reloader) = &st.reload else {
        return error(StatusCode::NOT_FOUND, "this server cannot reload its code");
    };
    match reloader.reload().await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the code update was refused (the running code keeps serving): {e}"),
        ),
    }
}

async fn list(State(st): St) -> Response {
    let db = &st.directory.services().db;
    let objects: Vec<_> = st
        .directory
        .live_objects()
        .into_iter()
        .map(|(key, name, idle_ms)| {
            let (ns, id) = key.parts();
            json!({
                "namespace": ns,
                "id": id.to_string(),
                "name": name.or_else(|| db.name(&key).ok().flatten()),
                "idle_ms": idle_ms,
            })
        })
        .collect();
    axum::Json(json!({ "objects": objects })).into_response()
}

async fn get_alarm(State(st): St, Path((kind, binding, object)): ObjectPath) -> Response {
    let (class, id, _) = match resolve(&st, &kind, &binding, &object) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let key = class.key(&id);
    match st.directory.services().db.alarm(&key) {
        Ok(alarm) => axum::Json(json!({ "alarm": alarm })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn run_alarm(State(st): St, Path((kind, binding, object)): ObjectPath) -> Response {
    let (class, id, name) = match resolve(&st, &kind, &binding, &object) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let key = class.key(&id);
    let scheduled_time = match st.directory.services().db.alarm(&key) {
        Ok(Some(t)) => t,
        Ok(None) => return error(StatusCode::NOT_FOUND, "the object has no alarm set"),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let event = Event::Alarm {
        scheduled_time,
        retry_count: 0,
    };
    match st.directory.send(&class, id, name, event).await {
        Ok(Ok(Outcome::Skipped)) => axum::Json(json!({
            "ran": false,
            "reason": "the alarm changed before it ran",
        }))
        .into_response(),
        Ok(Ok(_)) => {
            axum::Json(json!({ "ran": true, "scheduled_time": scheduled_time })).into_response()
        }
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the alarm handler failed: {e}"),
        ),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the object went away"),
    }
}

async fn evict(State(st): St, Path((kind, binding, object)): ObjectPath) -> Response {
    let (class, id, _) = match resolve(&st, &kind, &binding, &object) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let key = class.key(&id);
    let evicted = match st.directory.evict(&key) {
        None => return axum::Json(json!({ "evicted": false, "live": false })).into_response(),
        Some(rx) => rx.await.unwrap_or(false),
    };
    axum::Json(json!({ "evicted": evicted, "live": !evicted })).into_response()
}

fn faults_off() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "fault injection is off: start the server with HOLDFAST_FAULT_INJECTION=1 (tests only)",
    )
}

async fn get_faults(State(st): St) -> Response {
    match st.directory.services().db.faults() {
        Some(f) => axum::Json(f.plan()).into_response(),
        None => faults_off(),
    }
}

async fn set_faults(
    State(st): St,
    plan: Result<axum::Json<FaultPlan>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(f) = st.directory.services().db.faults() else {
        return faults_off();
    };
    match plan {
        Ok(axum::Json(plan)) => {
            f.set(plan);
            tracing::warn!(?plan, "storage fault plan set");
            axum::Json(plan).into_response()
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("invalid fault plan: {}", e.body_text()),
        ),
    }
}

async fn panic_object(State(st): St, Path((kind, binding, object)): ObjectPath) -> Response {
    if !st.directory.services().fault_injection {
        return faults_off();
    }
    let (class, id, _) = match resolve(&st, &kind, &binding, &object) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let key = class.key(&id);
    let live = st.directory.panic_object(&key);
    axum::Json(json!({ "panicked": live })).into_response()
}
