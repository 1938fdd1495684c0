//! Objects' log lines over the admin API: an object's recent lines, and the live feed that
//! `holdfast tail` reads.
//!
//! - `GET /_/admin/logs?binding=B&name=N` (or `&id=ID`) — the object's kept lines
//! - `GET /_/admin/tail[?binding=B[&name=N | &id=ID]]` — every line from now on, of one object,
//!   one namespace or everything, as newline-delimited JSON (one [`LogLine`] per line). A reader
//!   that falls behind the feed's bound gets `{"skipped": n}` and goes on from the newest lines.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::error::error;
use super::state::AppState;
use crate::logs::LogLine;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Filter {
    binding: Option<String>,
    name: Option<String>,
    id: Option<String>,
}

/// Which lines a filter selects: a namespace, and in it maybe one object (hex ID).
struct Selected {
    namespace: Option<String>,
    id: Option<String>,
}

impl Selected {
    fn takes(&self, line: &LogLine) -> bool {
        let ns_ok = self
            .namespace
            .as_deref()
            .is_none_or(|ns| line.namespace.as_deref() == Some(ns));
        let id_ok = self
            .id
            .as_deref()
            .is_none_or(|id| line.id.as_deref() == Some(id));
        ns_ok && id_ok
    }
}

fn select(st: &AppState, f: Filter) -> Result<Selected, Box<Response>> {
    let refuse = |status, message: String| Box::new(error(status, message));
    let Some(binding) = f.binding else {
        if f.name.is_some() || f.id.is_some() {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "`name` and `id` need the object's `binding` too".into(),
            ));
        }
        return Ok(Selected {
            namespace: None,
            id: None,
        });
    };
    let Some(class) = st.directory.class(&binding) else {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            format!("no binding named `{binding}`"),
        ));
    };
    let namespaces = &st.directory.services().namespaces;
    let id = match (f.name, f.id) {
        (Some(_), Some(_)) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "give the object's `name` or its `id`, not both".into(),
            ));
        }
        (Some(name), None) => match namespaces.key(&binding) {
            Ok(k) => Some(k.id_from_name(&name).to_string()),
            Err(e) => return Err(refuse(StatusCode::NOT_FOUND, e.to_string())),
        },
        (None, Some(id)) => match namespaces.parse(&binding, &id) {
            Ok(id) => Some(id.to_string()),
            Err(e) => return Err(refuse(StatusCode::BAD_REQUEST, e.to_string())),
        },
        (None, None) => None,
    };
    Ok(Selected {
        namespace: Some(class.config.namespace.clone()),
        id,
    })
}

type FilterQuery = Result<Query<Filter>, axum::extract::rejection::QueryRejection>;

/// The query's selection, or the answer to a malformed or unknown one.
fn selected(st: &AppState, q: FilterQuery) -> Result<Selected, Box<Response>> {
    match q {
        Ok(Query(f)) => select(st, f),
        Err(e) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("invalid query: {}", e.body_text()),
        ))),
    }
}

pub(super) async fn recent(State(st): State<Arc<AppState>>, q: FilterQuery) -> Response {
    let sel = match selected(&st, q) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let (Some(ns), Some(id)) = (&sel.namespace, &sel.id) else {
        return error(
            StatusCode::BAD_REQUEST,
            "give the object: `binding` and its `name` or `id` (for a namespace or everything, follow /_/admin/tail)",
        );
    };
    let lines = st.directory.services().engine.logs().recent(ns, id);
    let lines: Vec<&LogLine> = lines.iter().map(|l| &**l).collect();
    axum::Json(json!({ "lines": lines })).into_response()
}

pub(super) async fn tail(State(st): State<Arc<AppState>>, q: FilterQuery) -> Response {
    let sel = match selected(&st, q) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let rx = st.directory.services().engine.logs().subscribe();
    let lines = futures_util::stream::unfold((rx, sel), |(mut rx, sel)| async move {
        loop {
            let text = match rx.recv().await {
                Ok(line) if sel.takes(&line) => serde_json::to_string(&*line),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => serde_json::to_string(&json!({ "skipped": n })),
                Err(RecvError::Closed) => return None,
            };
            let mut text = text.expect("log lines encode");
            text.push('\n');
            return Some((Ok::<_, std::convert::Infallible>(text), (rx, sel)));
        }
    });
    (
        [
            ("content-type", "application/x-ndjson"),
            ("cache-control", "no-store"),
        ],
        Body::from_stream(lines),
    )
        .into_response()
}
