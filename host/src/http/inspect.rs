//! The inspector's JSON API (under `/_/admin/`, behind [`guard`](super::guard)): namespaces,
//! the objects of one with what they store, an object's keys, SQL, alarm and sockets, and edits.
//!
//! Reads come from committed state (what is durable now) and never activate an object. Every
//! change is an [`Edit`] event in the object's mailbox: atomic, ordered with the object's own
//! traffic, answered once durable.
//!
//! - `GET  /namespaces` — every binding served, with its class and live objects
//! - `GET  /namespaces/{binding}/objects?prefix=&after=&limit=` — objects with anything stored,
//!   by ID (or those whose name starts with `prefix`), a page at a time
//! - `GET  /{kind}/{binding}/{object}` — one object: live, alarm, usage, sockets, recent logs
//! - `GET  /{kind}/{binding}/{object}/keys?prefix=&after=&limit=` — its keys and values
//! - `POST /{kind}/{binding}/{object}/storage` `{"put": {key: json}, "delete": [key]}`
//! - `PUT | DELETE /{kind}/{binding}/{object}/alarm` `{"alarm": ms}`
//! - `POST /{kind}/{binding}/{object}/sql` `{"query": "...", "params": [...]}`
//! - `POST /{kind}/{binding}/{object}/reset` — delete all its storage (keys, SQL, alarm)
//! - `GET  /stats` — the counters the inspector's charts are drawn from

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::error;
use super::state::AppState;
use super::target::{ObjectPath, Target, target};
use crate::actor::{Edit, Edited, Event, EventError, Outcome};
use crate::id::ObjectId;
use crate::store::{ObjectKey, SqlValue, StoreError, successor};

type St = State<Arc<AppState>>;

/// Most objects or keys one page holds.
const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 50;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/namespaces", get(namespaces))
        .route("/namespaces/{binding}/objects", get(objects))
        .route("/{kind}/{binding}/{object}", get(object))
        .route("/{kind}/{binding}/{object}/keys", get(keys))
        .route("/{kind}/{binding}/{object}/storage", post(edit_storage))
        .route("/{kind}/{binding}/{object}/sql", post(sql))
        .route("/{kind}/{binding}/{object}/reset", post(reset))
        .route("/stats", get(stats))
}

pub(super) fn store_failed(e: StoreError) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("storage cannot be read: {e}"),
    )
}

pub(super) fn page_size(limit: Option<usize>) -> Result<usize, Box<Response>> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        0 => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "limit must be at least 1",
        ))),
        n if n > MAX_PAGE => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("limit {n} is over the most of {MAX_PAGE} per page"),
        ))),
        n => Ok(n),
    }
}

async fn namespaces(State(st): St) -> Response {
    let table = st.directory.services().classes.load();
    let live = st.directory.live_objects();
    let mut out: Vec<Value> = table
        .iter()
        .map(|(binding, served)| {
            let ns = served.class.config.namespace.as_str();
            json!({
                "binding": binding,
                "namespace": ns,
                "class": served.class.config.class,
                "live": live.iter().filter(|(k, _, _)| k.parts().0 == ns).count(),
            })
        })
        .collect();
    out.sort_by(|a, b| a["binding"].as_str().cmp(&b["binding"].as_str()));
    axum::Json(json!({ "namespaces": out })).into_response()
}

#[derive(Deserialize)]
struct ObjectsQuery {
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

async fn objects(
    State(st): St,
    Path(binding): Path<String>,
    Query(q): Query<ObjectsQuery>,
) -> Response {
    let Some(class) = st.directory.class(&binding) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no binding named `{binding}`"),
        );
    };
    let limit = match page_size(q.limit) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let after = match q.after.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match st.directory.services().namespaces.parse(&binding, a) {
            Ok(id) => Some(id),
            Err(e) => {
                return error(StatusCode::BAD_REQUEST, format!("invalid `after`: {e}"));
            }
        },
    };
    let db = &st.directory.services().db;
    let ns = class.config.namespace.as_str();
    let page = match q.prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(prefix) => db.objects_named(ns, prefix, after.as_ref(), limit),
        None => db.objects(ns, after.as_ref(), limit),
    };
    let page = match page {
        Ok(p) => p,
        Err(e) => return store_failed(e),
    };
    let mut objects = Vec::with_capacity(page.objects.len());
    for o in page.objects {
        let key = class.key(&o.id);
        match summary(&st, &key, o.id, o.name) {
            Ok(v) => objects.push(v),
            Err(e) => return store_failed(e),
        }
    }
    axum::Json(json!({
        "objects": objects,
        "next": page.next.map(|id| id.to_string()),
    }))
    .into_response()
}

/// What the object list shows of one object.
fn summary(
    st: &AppState,
    key: &ObjectKey,
    id: ObjectId,
    name: Option<String>,
) -> Result<Value, StoreError> {
    let s = st.directory.services();
    let usage = s.db.usage(key)?;
    Ok(json!({
        "id": id.to_string(),
        "name": name,
        "live": st.directory.is_live(key),
        "kv_keys": usage.kv_keys,
        "kv_bytes": usage.kv_bytes,
        "usage_complete": usage.complete,
        "sql_bytes": usage.sql_bytes,
        "sockets": s.hub.sockets(key, None).len(),
        "alarm": usage.alarm,
    }))
}

/// A stored value as the inspector shows it: JSON if it is, else its bytes in base64.
fn shown(value: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(value) {
        Ok(v) => json!({ "json": true, "value": v, "bytes": value.len() }),
        Err(_) => json!({
            "json": false,
            "base64": base64::engine::general_purpose::STANDARD.encode(value),
            "bytes": value.len(),
        }),
    }
}

async fn object(State(st): St, Path((kind, binding, object)): ObjectPath) -> Response {
    let t = match target(&st, &kind, &binding, &object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let s = st.directory.services();
    let name = match t.name.clone() {
        Some(n) => Some(n),
        None => match s.db.name(&t.key) {
            Ok(n) => n,
            Err(e) => return store_failed(e),
        },
    };
    let mut v = match summary(&st, &t.key, t.id, name) {
        Ok(v) => v,
        Err(e) => return store_failed(e),
    };
    let sockets: Vec<Value> = s
        .hub
        .describe(&t.key)
        .into_iter()
        .map(|sock| {
            json!({
                "id": sock.id,
                "tags": sock.tags,
                "attachment": sock.attachment.map(|a| shown(&a)),
                "hibernatable": sock.hibernatable,
            })
        })
        .collect();
    let (ns, _) = t.key.parts();
    let logs = s.engine.logs().recent(ns, &t.id.to_string());
    v["binding"] = json!(t.binding);
    v["class"] = json!(t.class.config.class);
    v["sockets"] = json!(sockets);
    v["logs"] = json!(logs.iter().map(|l| &**l).collect::<Vec<_>>());
    axum::Json(v).into_response()
}

#[derive(Deserialize)]
struct KeysQuery {
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

async fn keys(
    State(st): St,
    Path((kind, binding, object)): ObjectPath,
    Query(q): Query<KeysQuery>,
) -> Response {
    let t = match target(&st, &kind, &binding, &object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let limit = match page_size(q.limit) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let prefix = q.prefix.unwrap_or_default();
    let after = q.after.filter(|a| a.as_str() >= prefix.as_str());
    let lower = match &after {
        Some(a) => std::ops::Bound::Excluded(a.as_bytes()),
        None => std::ops::Bound::Included(prefix.as_bytes()),
    };
    let end = successor(prefix.as_bytes());
    let upper = match &end {
        Some(e) => std::ops::Bound::Excluded(e.as_slice()),
        None => std::ops::Bound::Unbounded,
    };
    let db = &st.directory.services().db;
    let rows = match db.scan(&t.key, lower, upper, false, limit + 1) {
        Ok(r) => r,
        Err(e) => return store_failed(e),
    };
    let more = rows.len() > limit;
    let keys: Vec<Value> = rows
        .iter()
        .take(limit)
        .map(|(k, v)| {
            let mut e = shown(v);
            e["key"] = json!(String::from_utf8_lossy(k));
            e
        })
        .collect();
    let next = more
        .then(|| {
            keys.last()
                .and_then(|k| k["key"].as_str().map(str::to_owned))
        })
        .flatten();
    axum::Json(json!({ "keys": keys, "next": next })).into_response()
}

/// Runs `edit` in the target's mailbox and answers what it did.
pub(super) async fn run_edit(st: &AppState, t: Target, edit: Edit) -> Result<Edited, Response> {
    match st
        .directory
        .send(&t.class, t.id, t.name, Event::Edit(edit))
        .await
    {
        Ok(Ok(Outcome::Edited(e))) => Ok(e),
        Ok(Ok(_)) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the object answered an edit with something else (a host bug)",
        )),
        Ok(Err(EventError::EditRefused(why))) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("the edit was refused, nothing changed: {why}"),
        )),
        Ok(Err(e)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(_) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the object went away",
        )),
    }
}

pub(super) fn bad_json(e: JsonRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("invalid request body: {}", e.body_text()),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageEdit {
    #[serde(default)]
    put: serde_json::Map<String, Value>,
    #[serde(default)]
    delete: Vec<String>,
}

async fn edit_storage(
    State(st): St,
    Path((kind, binding, object)): ObjectPath,
    body: Result<axum::Json<StorageEdit>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(axum::Json(b)) => b,
        Err(e) => return bad_json(e),
    };
    let t = match target(&st, &kind, &binding, &object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if body.put.is_empty() && body.delete.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "nothing to do: give `put` (an object of keys to JSON values) or `delete` (a list of keys)",
        );
    }
    let put = body
        .put
        .into_iter()
        .map(|(k, v)| (k, serde_json::to_vec(&v).expect("JSON values encode")))
        .collect();
    let edit = Edit::Storage {
        put,
        delete: body.delete,
    };
    match run_edit(&st, t, edit).await {
        Ok(Edited::Storage { put, deleted }) => {
            axum::Json(json!({ "put": put, "deleted": deleted })).into_response()
        }
        Ok(_) => unexpected(),
        Err(r) => r,
    }
}

fn unexpected() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the edit answered something else (a host bug)",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlarmBody {
    alarm: i64,
}

/// `PUT .../alarm`: sets the object's alarm (ms since the epoch).
pub(super) async fn set_alarm(
    State(st): St,
    Path((kind, binding, object)): ObjectPath,
    body: Result<axum::Json<AlarmBody>, JsonRejection>,
) -> Response {
    let at = match body {
        Ok(axum::Json(b)) => b.alarm,
        Err(e) => return bad_json(e),
    };
    alarm_edit(&st, &kind, &binding, &object, Some(at)).await
}

/// `DELETE .../alarm`.
pub(super) async fn delete_alarm(
    State(st): St,
    Path((kind, binding, object)): ObjectPath,
) -> Response {
    alarm_edit(&st, &kind, &binding, &object, None).await
}

async fn alarm_edit(
    st: &AppState,
    kind: &str,
    binding: &str,
    object: &str,
    at: Option<i64>,
) -> Response {
    let t = match target(st, kind, binding, object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match run_edit(st, t, Edit::Alarm(at)).await {
        Ok(Edited::Alarm(a)) => axum::Json(json!({ "alarm": a })).into_response(),
        Ok(_) => unexpected(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlBody {
    query: String,
    #[serde(default)]
    params: Vec<Value>,
}

fn sql_param(v: Value) -> Result<SqlValue, String> {
    Ok(match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s),
        other => {
            return Err(format!(
                "a SQL parameter must be null, a boolean, a number or a string, not {other}"
            ));
        }
    })
}

fn sql_json(v: SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => json!(i),
        SqlValue::Real(f) => json!(f),
        SqlValue::Text(s) => json!(s),
        SqlValue::Blob(b) => {
            json!({ "$bytes": base64::engine::general_purpose::STANDARD.encode(b) })
        }
    }
}

async fn sql(
    State(st): St,
    Path((kind, binding, object)): ObjectPath,
    body: Result<axum::Json<SqlBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(axum::Json(b)) => b,
        Err(e) => return bad_json(e),
    };
    let params = match body.params.into_iter().map(sql_param).collect() {
        Ok(p) => p,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let t = match target(&st, &kind, &binding, &object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let edit = Edit::Sql {
        query: body.query,
        params,
    };
    match run_edit(&st, t, edit).await {
        Ok(Edited::Sql(out)) => {
            let rows: Vec<Vec<Value>> = out
                .rows
                .into_iter()
                .map(|r| r.into_iter().map(sql_json).collect())
                .collect();
            axum::Json(json!({
                "columns": out.columns,
                "rows": rows,
                "rows_read": out.rows_read,
                "rows_written": out.rows_written,
            }))
            .into_response()
        }
        Ok(_) => unexpected(),
        Err(r) => r,
    }
}

async fn reset(State(st): St, Path((kind, binding, object)): ObjectPath) -> Response {
    let t = match target(&st, &kind, &binding, &object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match run_edit(&st, t, Edit::DeleteAll).await {
        Ok(Edited::DeletedAll) => axum::Json(json!({ "reset": true })).into_response(),
        Ok(_) => unexpected(),
        Err(r) => r,
    }
}

/// `GET /_/admin/stats`: the counters the inspector's charts are drawn from.
async fn stats(State(st): St) -> Response {
    let s = st.directory.services();
    let c = s.committer.stats();
    axum::Json(json!({
        "time_ms": crate::store::now_ms(),
        "live_objects": st.directory.live_count(),
        "websockets": s.hub.count(),
        "events_total": s.metrics.events.load(Ordering::Relaxed),
        "commits_total": c.commits.load(Ordering::Relaxed),
        "commit_micros_total": c.commit_micros.load(Ordering::Relaxed),
    }))
    .into_response()
}
