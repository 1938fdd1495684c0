//! [`fetch`]: HTTP requests from an object or the worker to URLs outside Holdfast.

use std::fmt;

use crate::bindings::holdfast::object::outbound as wit;
use crate::{Request, Response};

/// Why [`fetch`] produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// The URL's host is not in the class's (or worker's) `outbound` allow-list; the message
    /// names the config key.
    Denied,
    /// Not an absolute `http:` / `https:` URL, or a malformed request.
    InvalidUrl,
    /// The connection or the exchange failed.
    Failed,
    /// No response within the host's limit (30 s).
    Timeout,
    /// The response body is larger than the host accepts (16 MiB).
    TooLarge,
}

/// A failed [`fetch`]: the kind and the host's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub kind: FetchErrorKind,
    pub message: String,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FetchError {}

/// Sends `req` (its URL absolute: `https://api.example.com/v1`) and returns the response,
/// whatever its status. The host allows only the hosts of the config's `outbound` list; the
/// event waits for the answer without using its CPU budget.
///
/// ```no_run
/// # fn example() -> Result<(), holdfast_sdk::FetchError> {
/// use holdfast_sdk::{Method, Request};
/// let resp = holdfast_sdk::fetch(Request::new(Method::Get, "https://api.example.com/v1"))?;
/// # Ok(()) }
/// ```
pub fn fetch(req: Request) -> Result<Response, FetchError> {
    wit::fetch(&req.into_wit())
        .map(Response::from_wit)
        .map_err(|e| FetchError {
            kind: match e.kind {
                wit::FetchErrorKind::Denied => FetchErrorKind::Denied,
                wit::FetchErrorKind::InvalidUrl => FetchErrorKind::InvalidUrl,
                wit::FetchErrorKind::Failed => FetchErrorKind::Failed,
                wit::FetchErrorKind::Timeout => FetchErrorKind::Timeout,
                wit::FetchErrorKind::TooLarge => FetchErrorKind::TooLarge,
            },
            message: e.message,
        })
}
