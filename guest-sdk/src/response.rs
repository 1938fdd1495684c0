//! [`Response`], the HTTP response an object returns from `fetch`.

use std::fmt;

use serde::Serialize;

use crate::bindings::holdfast::object::types as wit;

const CONTENT_TYPE: &str = "content-type";

/// An HTTP response: status, headers and body.
///
/// Built with one of the constructors, then adjusted with [`with_status`](Self::with_status) and
/// [`with_header`](Self::with_header):
///
/// ```
/// use holdfast_sdk::Response;
///
/// let created = Response::json(&serde_json::json!({ "id": 7 }))
///     .with_status(201)
///     .with_header("location", "/items/7");
/// assert_eq!(created.status(), 201);
/// assert_eq!(created.header("Content-Type"), Some("application/json"));
/// assert_eq!(created.body(), br#"{"id":7}"#);
/// ```
///
/// The host releases it only after the event's storage writes are committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// `200` with `value` encoded as JSON (`content-type: application/json`).
    ///
    /// Never panics: if `value` cannot be encoded (e.g. a map with non-string keys), the result is
    /// a `500` JSON error response that says why.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::with_body(200, "application/json", body),
            Err(e) => Response::error(500, format!("cannot encode the response as JSON: {e}")),
        }
    }

    /// `200` with `text` as the body (`content-type: text/plain; charset=utf-8`).
    pub fn text(text: impl Into<String>) -> Self {
        Response::with_body(200, "text/plain; charset=utf-8", text.into().into_bytes())
    }

    /// `200` with `body` as the body (`content-type: application/octet-stream`).
    pub fn bytes(body: Vec<u8>) -> Self {
        Response::with_body(200, "application/octet-stream", body)
    }

    /// `status` with no headers and an empty body, e.g. `Response::empty(204)`.
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `status` with the JSON body `{"error": message}`.
    ///
    /// ```
    /// let response = holdfast_sdk::Response::error(400, "amount must be positive");
    /// assert_eq!(response.status(), 400);
    /// assert_eq!(response.body(), br#"{"error":"amount must be positive"}"#);
    /// ```
    pub fn error(status: u16, message: impl fmt::Display) -> Self {
        let body = serde_json::json!({ "error": message.to_string() }).to_string();
        Response::with_body(status, "application/json", body.into_bytes())
    }

    /// `404` with the JSON body `{"error": "not found"}`.
    pub fn not_found() -> Self {
        Response::error(404, "not found")
    }

    /// `101 Switching Protocols` with no headers and an empty body: what `fetch` returns after
    /// [accepting](crate::State::accept_websocket) the request's WebSocket. The host performs the
    /// upgrade once the event has committed; if the event fails, the socket is refused. Return it
    /// only from a `fetch` that accepted a socket; to turn an upgrade request down, return an
    /// ordinary response such as `Response::error(400, "...")`.
    pub fn websocket_accepted() -> Self {
        Response::empty(101)
    }

    /// This response with its status replaced by `status`.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// This response with the header `name` set to `value`, replacing any earlier values of that
    /// header (names are compared without regard to case and stored lower-case).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers
            .retain(|(key, _)| !key.eq_ignore_ascii_case(name));
        self.append_header(name, value)
    }

    /// This response with one more `name: value` header, keeping earlier values of that header
    /// (for headers such as `set-cookie` that may repeat).
    pub fn append_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of the header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// All headers, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    fn with_body(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Response {
            status,
            headers: vec![(CONTENT_TYPE.to_string(), content_type.to_string())],
            body,
        }
    }

    pub(crate) fn from_wit(response: wit::Response) -> Self {
        Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }
    }

    pub(crate) fn into_wit(self) -> wit::Response {
        wit::Response {
            status: self.status,
            headers: self.headers,
            body: self.body,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn json_sets_status_and_content_type() {
        let response = Response::json(&serde_json::json!({ "value": 3 }));
        assert_eq!(response.status(), 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.body(), br#"{"value":3}"#);
    }

    #[test]
    fn unencodable_json_is_a_500_not_a_panic() {
        let map = HashMap::from([((1, 2), "tuple keys are not JSON")]);
        let response = Response::json(&map);
        assert_eq!(response.status(), 500);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        let message = body["error"].as_str().unwrap();
        assert!(
            message.starts_with("cannot encode the response as JSON"),
            "{message}"
        );
    }

    #[test]
    fn errors_and_builders() {
        let response = Response::not_found();
        assert_eq!(response.status(), 404);
        assert_eq!(response.body(), br#"{"error":"not found"}"#);

        let response = Response::text("hi")
            .with_header("Content-Type", "text/html")
            .append_header("set-cookie", "a=1")
            .append_header("Set-Cookie", "b=2")
            .with_status(201);
        assert_eq!(response.status(), 201);
        assert_eq!(response.header("content-type"), Some("text/html"));
        assert_eq!(response.headers().len(), 3);
        assert_eq!(Response::empty(204).body(), b"");
        assert_eq!(Response::bytes(vec![1]).body(), [1]);
    }

    #[test]
    fn websocket_accepted_is_an_empty_101() {
        let response = Response::websocket_accepted();
        assert_eq!(response.status(), 101);
        assert!(response.headers().is_empty());
        assert!(response.body().is_empty());
    }
}
