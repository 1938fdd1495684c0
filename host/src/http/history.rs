//! Point-in-time recovery from the admin API (and the inspector): an object's history, the
//! bookmark of a time, and a restore (an [`Edit::Restore`] event in the object's mailbox).
//!
//! - `GET  /{kind}/{binding}/{object}/bookmarks?before=&limit=` — `{"current": bookmark,
//!   "history": [{"time_ms", "before", "after", "keys", "sql_rows", "alarm"}], "next"}`, newest
//!   first (`next`: the `before` of the next page)
//! - `GET  /{kind}/{binding}/{object}/bookmark?time=ms` — `{"bookmark"}` (getBookmarkForTime)
//! - `POST /{kind}/{binding}/{object}/restore` `{"bookmark": "..."}` or `{"time": ms}` —
//!   `{"restored_to": bookmark, "undo": bookmark}`; 400 with the reason for a bookmark or time
//!   that cannot be restored, nothing changed

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::error::error;
use super::inspect::{bad_json, page_size, run_edit, store_failed};
use super::state::AppState;
use super::target::{ObjectPath, target};
use crate::actor::{Edit, Edited};
use crate::store::{BookmarkError, ObjectKey};

type St = State<Arc<AppState>>;

pub(super) fn refused(e: BookmarkError) -> Response {
    match e {
        BookmarkError::Storage(e) => store_failed(e),
        e => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

#[derive(Deserialize)]
pub(super) struct Page {
    before: Option<i64>,
    limit: Option<usize>,
}

pub(super) async fn bookmarks(
    State(st): St,
    Path((kind, binding, object)): ObjectPath,
    Query(q): Query<Page>,
) -> Response {
    let t = match target(&st, &kind, &binding, &object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let limit = match page_size(q.limit) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let db = &st.directory.services().db;
    let current = match db.current_bookmark(&t.key) {
        Ok(b) => b,
        Err(e) => return store_failed(e),
    };
    match db.history(&t.key, q.before, limit + 1) {
        Ok(mut points) => {
            let next = (points.len() > limit).then(|| {
                points.truncate(limit);
                points.last().map(|p| p.time_ms)
            });
            Json(json!({
                "current": current.to_string(),
                "retention_seconds": st.directory.services().committer.history().map(|d| d.as_secs()),
                "history": points,
                "next": next.flatten(),
            }))
            .into_response()
        }
        Err(e) => store_failed(e),
    }
}

#[derive(Deserialize)]
pub(super) struct AtTime {
    time: i64,
}

pub(super) async fn bookmark_for_time(
    State(st): St,
    Path((kind, binding, object)): ObjectPath,
    q: Result<Query<AtTime>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "give the time as ?time=<ms since the Unix epoch>",
        );
    };
    let t = match target(&st, &kind, &binding, &object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let s = st.directory.services();
    match s
        .db
        .bookmark_for_time(&t.key, q.time, s.committer.history())
    {
        Ok(b) => Json(json!({ "bookmark": b.to_string() })).into_response(),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RestoreTo {
    bookmark: Option<String>,
    time: Option<i64>,
}

pub(super) async fn restore(
    State(st): St,
    Path((kind, binding, object)): ObjectPath,
    body: Result<Json<RestoreTo>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => return bad_json(e),
    };
    let t = match target(&st, &kind, &binding, &object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let s = st.directory.services();
    let retention = s.committer.history();
    let bookmark = match bookmark_of(&st, &t.key, body.bookmark, body.time) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "give {\"bookmark\": \"...\"} or {\"time\": ms}, one of them",
            );
        }
        Err(r) => return *r,
    };
    let position = match s.db.restore_position(&t.key, &bookmark, retention) {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let edit = Edit::Restore {
        position,
        from: None,
    };
    match run_edit(&st, t, edit).await {
        Ok(Edited::Restored { undo }) => Json(json!({
            "restored_to": bookmark,
            "undo": undo.to_string(),
        }))
        .into_response(),
        Ok(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the object answered a restore with something else (a host bug)",
        ),
        Err(r) => r,
    }
}

/// The bookmark a request names: given as one, or the state at a time (getBookmarkForTime);
/// `None` when it gives neither or both.
pub(super) fn bookmark_of(
    st: &AppState,
    key: &ObjectKey,
    bookmark: Option<String>,
    time: Option<i64>,
) -> Result<Option<String>, Box<Response>> {
    let s = st.directory.services();
    match (bookmark, time) {
        (Some(b), None) => Ok(Some(b)),
        (None, Some(time)) => match s.db.bookmark_for_time(key, time, s.committer.history()) {
            Ok(b) => Ok(Some(b.to_string())),
            Err(e) => Err(Box::new(refused(e))),
        },
        _ => Ok(None),
    }
}
