//! Fork from the admin API (and the inspector): another object of the same class becomes a
//! copy of this one's state — now, at a bookmark, or at a time — as one commit of the
//! destination (an [`Edit::Restore`] with `from`, in the destination's mailbox; `store/fork.rs`).
//!
//! - `POST /{kind}/{binding}/{object}/fork` `{"to": {"binding"?, "name" | "id"}, "bookmark"? |
//!   "time"?}` — `{"from": bookmark, "to": {"binding", "id"}, "undo": bookmark}` (`undo`: the
//!   destination's state before, to restore it to); 400 with the reason, nothing changed, for a
//!   destination of another class or a bookmark or time that cannot be restored

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::error::error;
use super::history::{bookmark_of, refused};
use super::inspect::{bad_json, run_edit, store_failed};
use super::state::AppState;
use super::target::{ObjectPath, target};
use crate::actor::{Edit, Edited};
use crate::store::BookmarkError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Destination {
    /// The destination's binding (default: the source's).
    binding: Option<String>,
    name: Option<String>,
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForkTo {
    to: Destination,
    bookmark: Option<String>,
    time: Option<i64>,
}

pub(super) async fn fork(
    State(st): State<Arc<AppState>>,
    axum::extract::Path((kind, binding, object)): ObjectPath,
    body: Result<Json<ForkTo>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => return bad_json(e),
    };
    let src = match target(&st, &kind, &binding, &object) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let to_binding = body.to.binding.unwrap_or_else(|| binding.clone());
    let dst = match (body.to.name, body.to.id) {
        (Some(name), None) => target(&st, "objects", &to_binding, &name),
        (None, Some(id)) => target(&st, "ids", &to_binding, &id),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "name the destination as {\"to\": {\"name\": \"...\"}} or {\"to\": {\"id\": \"...\"}}, one of them (and \"binding\" for another namespace)",
            );
        }
    };
    let dst = match dst {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let (from_class, to_class) = (&src.class.config.class, &dst.class.config.class);
    if from_class != to_class {
        return refused(BookmarkError::OtherClass {
            snapshot: from_class.clone(),
            here: to_class.clone(),
        });
    }
    let s = st.directory.services();
    let retention = s.committer.history();
    let both = body.bookmark.is_some() && body.time.is_some();
    let bookmark = match bookmark_of(&st, &src.key, body.bookmark, body.time) {
        Ok(Some(b)) => b,
        Ok(None) if both => {
            return error(
                StatusCode::BAD_REQUEST,
                "give {\"bookmark\": \"...\"} or {\"time\": ms} of the source, not both (neither: its state now)",
            );
        }
        Ok(None) => match retention {
            None => return refused(BookmarkError::Off),
            Some(_) => match s.db.current_bookmark(&src.key) {
                Ok(b) => b.to_string(),
                Err(e) => return store_failed(e),
            },
        },
        Err(r) => return *r,
    };
    let position = match s.db.restore_position(&src.key, &bookmark, retention) {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let (to_binding, to_id) = (dst.binding.clone(), dst.id);
    let edit = Edit::Restore {
        position,
        from: Some(src.key),
    };
    match run_edit(&st, dst, edit).await {
        Ok(Edited::Restored { undo }) => Json(json!({
            "from": bookmark,
            "to": { "binding": to_binding, "id": to_id.to_string() },
            "undo": undo.to_string(),
        }))
        .into_response(),
        Ok(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the object answered a fork with something else (a host bug)",
        ),
        Err(r) => r,
    }
}
