//! The host's checks of a guest's response, made before anything of the event is committed,
//! so that a response the host cannot send fails the event instead of reporting a failure for
//! writes that were kept.

use axum::http::{HeaderName, HeaderValue, StatusCode};

use crate::runtime::types;

/// Why the host cannot send a response as the guest returned it.
pub(super) fn check_response(r: &types::Response) -> Result<(), String> {
    if StatusCode::from_u16(r.status).is_err() || r.status < 100 || r.status > 599 {
        return Err(format!(
            "object returned an invalid status code {} (use 100-599)",
            r.status
        ));
    }
    for (k, v) in &r.headers {
        if HeaderName::try_from(k.as_str()).is_err() {
            return Err(format!("object returned an invalid header name `{k}`"));
        }
        if HeaderValue::try_from(v.as_str()).is_err() {
            return Err(format!("object returned an invalid value for header `{k}`"));
        }
    }
    Ok(())
}
