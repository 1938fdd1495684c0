//! The inspector's page: `GET /_/inspector` (and its script and style sheet), static files
//! built into the binary. The page holds no data; it asks for the admin token, keeps it in the
//! tab's session storage, and reads everything through the admin API with the token in the
//! `Authorization` header (see [`guard`](super::guard)). Served only while the admin API is on.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::error;
use super::state::AppState;

const INDEX: &str = include_str!("inspector/index.html");
const SCRIPT: &str = include_str!("inspector/app.js");
const STYLE: &str = include_str!("inspector/style.css");

/// No script, style or connection but this server's; never framed (no clickjacking); no
/// referrer leaves the page.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn file(st: &AppState, content_type: &'static str, body: &'static str) -> Response {
    if st.admin_token.is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "the inspector is disabled with the admin API: set admin.token in the config or HOLDFAST_ADMIN_TOKEN",
        );
    }
    (
        [
            ("content-type", content_type),
            ("content-security-policy", CSP),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn index(State(st): State<Arc<AppState>>) -> Response {
    file(&st, "text/html; charset=utf-8", INDEX)
}

pub(super) async fn script(State(st): State<Arc<AppState>>) -> Response {
    file(&st, "text/javascript; charset=utf-8", SCRIPT)
}

pub(super) async fn style(State(st): State<Arc<AppState>>) -> Response {
    file(&st, "text/css; charset=utf-8", STYLE)
}
