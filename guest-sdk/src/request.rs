//! [`Request`], the HTTP request an object receives, and its [`Method`].

use std::fmt;

use serde::de::DeserializeOwned;

use crate::bindings::holdfast::object::types as wit;
use crate::{Error, Result, url};

/// An HTTP method. Requests carry it upper-case; anything not listed is [`Method::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// Any other method, as the request spelled it.
    Other(String),
}

impl Method {
    /// The method as it is written in HTTP, e.g. `"GET"`.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(other) => other,
        }
    }
}

impl From<&str> for Method {
    /// Parses a method name; the known ones are matched without regard to case.
    fn from(name: &str) -> Self {
        match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other(name.to_string()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP request delivered to an object's [`fetch`](crate::DurableObject::fetch).
///
/// The URL is relative to the object: the host removes its routing prefix, so a request to
/// `/counter/alice/increment?amount=2` arrives with the URL `/increment?amount=2`.
#[derive(Clone, Debug)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A request with no headers and an empty body, e.g. for unit tests of a handler.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// This request with the header `name: value` added (the name is lower-cased, as the host
    /// delivers it).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// This request with `body` as its body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub(crate) fn from_wit(request: wit::Request) -> Self {
        Request {
            method: Method::from(request.method.as_str()),
            url: request.url,
            headers: request.headers,
            body: request.body,
        }
    }

    pub(crate) fn into_wit(self) -> wit::Request {
        wit::Request {
            method: self.method.as_str().to_owned(),
            url: self.url,
            headers: self.headers,
            body: self.body,
        }
    }

    /// The request method.
    pub fn method(&self) -> Method {
        self.method.clone()
    }

    /// Path and query, relative to the object, e.g. `/increment?amount=2`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path without the query, e.g. `/increment`.
    pub fn path(&self) -> &str {
        url::path(&self.url)
    }

    /// The non-empty segments of the path: `/increment` gives `["increment"]`, `/` gives `[]`,
    /// `/rooms//7/` gives `["rooms", "7"]`. Segments are returned as written (not
    /// percent-decoded).
    ///
    /// Made to be matched together with the method:
    ///
    /// ```
    /// use holdfast_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Post, "/rooms/7/join?as=bob");
    /// let route = match (req.method(), req.segments().as_slice()) {
    ///     (Method::Get, []) => "index".to_string(),
    ///     (Method::Post, ["rooms", room, "join"]) => format!("join {room}"),
    ///     _ => "not found".to_string(),
    /// };
    /// assert_eq!(route, "join 7");
    /// ```
    pub fn segments(&self) -> Vec<&str> {
        url::segments(self.path())
    }

    /// The decoded value of the first query parameter called `name`, if any. `+` decodes to a
    /// space and `%XX` to a byte, as in HTML forms; `?flag` gives `Some("")`.
    ///
    /// ```
    /// use holdfast_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Get, "/search?q=caf%C3%A9+au+lait&page=2");
    /// assert_eq!(req.query("q").as_deref(), Some("café au lait"));
    /// assert_eq!(req.query("page").as_deref(), Some("2"));
    /// assert_eq!(req.query("missing"), None);
    /// ```
    pub fn query(&self, name: &str) -> Option<String> {
        url::query_pairs(url::query(&self.url))
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// Every query parameter, decoded, in the order of the URL.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::query_pairs(url::query(&self.url)).collect()
    }

    /// The first value of the header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether this is a WebSocket upgrade request (its `upgrade` header is `websocket`, in any
    /// case). Only in the `fetch` of such a request can the object
    /// [accept](crate::State::accept_websocket) a WebSocket.
    ///
    /// ```
    /// use holdfast_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Get, "/ws").with_header("Upgrade", "WebSocket");
    /// assert!(req.is_websocket_upgrade());
    /// assert!(!Request::new(Method::Get, "/ws").is_websocket_upgrade());
    /// ```
    pub fn is_websocket_upgrade(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("websocket"))
    }

    /// All headers, names lower-case, a repeated header once per value, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text; an error if it is not UTF-8.
    pub fn text(&self) -> Result<String> {
        String::from_utf8(self.body.clone())
            .map_err(|e| Error::with_source("the request body is not UTF-8", e))
    }

    /// The body decoded from JSON; an error (with serde's reason) if it does not decode as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::with_source(format!("invalid JSON request body: {e}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_and_print() {
        assert_eq!(Method::from("get"), Method::Get);
        assert_eq!(Method::from("DELETE"), Method::Delete);
        assert_eq!(Method::from("PURGE"), Method::Other("PURGE".into()));
        assert_eq!(Method::Other("PURGE".into()).to_string(), "PURGE");
        assert_eq!(Method::Options.as_str(), "OPTIONS");
    }

    #[test]
    fn routing_helpers() {
        let req = Request::new(Method::Post, "/increment?amount=2&amount=3");
        assert_eq!(req.path(), "/increment");
        assert_eq!(req.segments(), ["increment"]);
        assert_eq!(req.query("amount").as_deref(), Some("2"));
        assert_eq!(req.query_pairs().len(), 2);
        assert!(Request::new(Method::Get, "/").segments().is_empty());
    }

    #[test]
    fn headers_are_case_insensitive() {
        let req = Request::new(Method::Get, "/").with_header("Content-Type", "text/plain");
        assert_eq!(req.header("content-type"), Some("text/plain"));
        assert_eq!(req.header("CONTENT-TYPE"), Some("text/plain"));
        assert_eq!(req.headers()[0].0, "content-type");
    }

    #[test]
    fn websocket_upgrades_are_recognised() {
        let upgrade = |value: &str| Request::new(Method::Get, "/ws").with_header("upgrade", value);
        assert!(upgrade("websocket").is_websocket_upgrade());
        assert!(upgrade("WebSocket").is_websocket_upgrade());
        assert!(upgrade(" websocket ").is_websocket_upgrade());
        assert!(!upgrade("h2c").is_websocket_upgrade());
        assert!(!upgrade("").is_websocket_upgrade());
        assert!(!Request::new(Method::Get, "/ws").is_websocket_upgrade());
        let connection_only = Request::new(Method::Get, "/ws").with_header("connection", "upgrade");
        assert!(!connection_only.is_websocket_upgrade());
    }

    #[test]
    fn body_decoding() {
        let req = Request::new(Method::Post, "/").with_body(r#"{"a":1}"#);
        assert_eq!(req.text().unwrap(), r#"{"a":1}"#);
        let value: serde_json::Value = req.json().unwrap();
        assert_eq!(value["a"], 1);
        let bad = Request::new(Method::Post, "/").with_body(vec![0xff]);
        assert_eq!(
            bad.text().unwrap_err().to_string(),
            "the request body is not UTF-8"
        );
        let err = bad.json::<i64>().unwrap_err().to_string();
        assert!(err.starts_with("invalid JSON request body"), "{err}");
    }
}
