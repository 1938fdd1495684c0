//! What stands in front of the admin API and the inspector's data: the bearer token, and for a
//! state-changing call, a same-origin caller.
//!
//! The token only ever travels in the `Authorization` header (never in a URL, so it is in no
//! log, history or `Referer`). A browser sends that header cross-site only after a CORS
//! preflight, which this server never approves, so a forged cross-site request cannot carry it;
//! a state-changing call that says it comes from another site (`Sec-Fetch-Site`, `Origin`) is
//! refused as well, whatever it carries.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error::error;
use super::state::AppState;

/// The middleware: the token, then the origin of a state-changing call.
pub async fn admin(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(token) = &st.admin_token else {
        return error(
            StatusCode::NOT_FOUND,
            "the admin API is disabled: set admin.token in the config or HOLDFAST_ADMIN_TOKEN",
        );
    };
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if constant_time_eq::constant_time_eq(g.as_bytes(), token.as_bytes()) => {}
        Some(_) => return error(StatusCode::UNAUTHORIZED, "wrong admin token"),
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "the admin API needs an `Authorization: Bearer <token>` header",
            );
        }
    }
    if let Err(why) = same_origin(&req) {
        return error(
            StatusCode::FORBIDDEN,
            format!("cross-site request refused: {why}"),
        );
    }
    next.run(req).await
}

/// Whether a request that changes state comes from this server's own pages (or from no page:
/// a program sends neither header).
fn same_origin(req: &Request) -> Result<(), String> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(format!(
            "the browser says it comes from a {site} page (Sec-Fetch-Site)"
        ));
    }
    if let Some(origin) = h.get("origin").and_then(|v| v.to_str().ok()) {
        let host = h.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        if origin_host != host {
            return Err(format!(
                "its Origin `{origin}` is not this server (`{host}`)"
            ));
        }
    }
    Ok(())
}
