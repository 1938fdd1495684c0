//! JSON error responses: `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::actor::{EventError, Overloaded};

/// A JSON error response.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// The answer to a request an object's full mailbox refused: 503 with `Retry-After`.
pub fn overloaded(e: &Overloaded) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    r.headers_mut()
        .insert("retry-after", axum::http::HeaderValue::from_static("1"));
    r
}

/// The status of a failed event: the guest's failure is 500, the host's (storage) 503, a class
/// a code update removed 404, a refused edit 400.
pub fn event_error(e: &EventError) -> Response {
    let status = match e {
        EventError::Guest(_) => StatusCode::INTERNAL_SERVER_ERROR,
        EventError::Removed { .. } => StatusCode::NOT_FOUND,
        EventError::EditRefused(_) => StatusCode::BAD_REQUEST,
        EventError::Store(_) | EventError::Commit(_) | EventError::PoolFull | EventError::Gone => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    error(status, e.to_string())
}
