//! Outbound HTTP (`holdfast:object/outbound`, `fetch()` in JavaScript): requests from a class or
//! the worker to URLs outside Holdfast, allowed only to the hosts of its allow-list (the
//! config's `outbound`), redirects included.
//!
//! Bounds: at most [`MAX_IN_FLIGHT`] requests host-wide (more wait for a turn, each guest at
//! most one since its fiber waits in the call), [`TIMEOUT`] per request, [`MAX_RESPONSE_BYTES`]
//! per response body.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::bindings::outbound::{FetchError, FetchErrorKind};
use super::bindings::types;

/// Requests in flight host-wide; past it a request waits for a turn (within its timeout).
pub const MAX_IN_FLIGHT: usize = 256;
/// One request, waiting for a turn, connecting and reading the whole response included.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body a guest receives.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
const MAX_REDIRECTS: usize = 10;

/// The hosts one class (or the worker) may reach: `*` (any), `api.example.com` (any port),
/// `api.example.com:8443`, `*.example.com` (its subdomains, not itself).
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    patterns: Vec<String>,
}

impl AllowList {
    pub fn new(patterns: &[String]) -> AllowList {
        AllowList {
            patterns: patterns.iter().map(|p| p.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether `url`'s host (and port) is allowed.
    pub fn allows(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default();
        self.patterns.iter().any(|p| {
            if p == "*" {
                return true;
            }
            let (name, want_port) = match p.rsplit_once(':') {
                Some((n, port)) if !n.contains(':') || n.ends_with(']') => (
                    n.trim_start_matches('[').trim_end_matches(']'),
                    port.parse().ok(),
                ),
                _ => (p.trim_start_matches('[').trim_end_matches(']'), None),
            };
            let name_ok = match name.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}"))
                }
                None => host == name,
            };
            name_ok && want_port.is_none_or(|w: u16| Some(w) == port)
        })
    }
}

/// The outbound HTTP of one class or of the worker. Cheap to clone.
#[derive(Clone)]
pub struct Egress {
    client: reqwest::Client,
    allow: Arc<AllowList>,
    /// The config key of the allow-list, for the message of a denied request.
    key: Arc<str>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn turns() -> &'static Semaphore {
    static TURNS: OnceLock<Semaphore> = OnceLock::new();
    TURNS.get_or_init(|| Semaphore::new(MAX_IN_FLIGHT))
}

impl Egress {
    /// The outbound HTTP allowed to `patterns`, which the config knows as `key`.
    pub fn new(patterns: &[String], key: &str) -> Egress {
        let allow = Arc::new(AllowList::new(patterns));
        let follow = allow.clone();
        let key: Arc<str> = key.into();
        let redirect_key = key.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                let e = format!("more than {MAX_REDIRECTS} redirects");
                return attempt.error(e);
            }
            if follow.allows(attempt.url()) {
                attempt.follow()
            } else {
                let e = DeniedRedirect(denied(attempt.url(), &redirect_key, "a redirect to "));
                attempt.error(e)
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .timeout(TIMEOUT)
            .build()
            .expect("an HTTP client with a custom redirect policy builds");
        Egress { client, allow, key }
    }

    /// Sends `req` if its host is allowed; the response, whatever its status.
    pub async fn fetch(&self, req: types::Request) -> Result<types::Response, FetchError> {
        let fail = |kind, message: String| FetchError { kind, message };
        let url = reqwest::Url::parse(&req.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                fail(
                    FetchErrorKind::InvalidUrl,
                    format!(
                        "fetch() needs an absolute http: or https: URL, got `{}`",
                        req.url.chars().take(200).collect::<String>()
                    ),
                )
            })?;
        if !self.allow.allows(&url) {
            return Err(fail(FetchErrorKind::Denied, denied(&url, &self.key, "")));
        }
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|_| {
            fail(
                FetchErrorKind::InvalidUrl,
                format!("`{}` is not an HTTP method", req.method),
            )
        })?;
        let mut builder = self.client.request(method, url.clone());
        for (k, v) in &req.headers {
            if !matches!(k.to_ascii_lowercase().as_str(), "host" | "content-length") {
                builder = builder.header(k, v);
            }
        }
        if !req.body.is_empty() {
            builder = builder.body(req.body);
        }
        let shown = url.as_str().to_owned();
        let run = async {
            let _turn = turns()
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let mut resp = builder.send().await.map_err(|e| failure(&shown, &e))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| failure(&shown, &e))? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(fail(
                        FetchErrorKind::TooLarge,
                        format!(
                            "the response of {shown} is larger than {} MiB, the most a guest receives",
                            MAX_RESPONSE_BYTES >> 20
                        ),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(types::Response {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(TIMEOUT, run).await {
            Ok(r) => r,
            Err(_) => Err(fail(
                FetchErrorKind::Timeout,
                format!("no response from {shown} within {} s", TIMEOUT.as_secs()),
            )),
        }
    }
}

fn denied(url: &reqwest::Url, key: &str, what: &str) -> String {
    let host = url.host_str().unwrap_or("");
    format!(
        "fetch() of {what}{url} denied: host `{host}` is not in {key}, the hosts this code may reach (add \"{host}\" to it)"
    )
}

/// The redirect policy's refusal, found again in the client's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct DeniedRedirect(String);

fn failure(url: &str, e: &reqwest::Error) -> FetchError {
    if e.is_timeout() {
        return FetchError {
            kind: FetchErrorKind::Timeout,
            message: format!("no response from {url} within {} s", TIMEOUT.as_secs()),
        };
    }
    // The whole chain: reqwest's own message is only the outermost part ("error sending request").
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(d) = s.downcast_ref::<DeniedRedirect>() {
            return FetchError {
                kind: FetchErrorKind::Denied,
                message: d.0.clone(),
            };
        }
        message = format!("{message}: {s}");
        source = s.source();
    }
    FetchError {
        kind: FetchErrorKind::Failed,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_hosts_ports_and_subdomains() {
        let a = AllowList::new(&[
            "api.example.com".into(),
            "127.0.0.1:9000".into(),
            "*.example.org".into(),
        ]);
        let ok = |u: &str| a.allows(&reqwest::Url::parse(u).unwrap());
        assert!(ok("https://api.example.com/x"));
        assert!(ok("http://API.example.com:8080/"));
        assert!(ok("http://127.0.0.1:9000/"));
        assert!(!ok("http://127.0.0.1:9001/"));
        assert!(ok("https://a.b.example.org/"));
        assert!(!ok("https://example.org/"));
        assert!(!ok("https://evil-example.org/"));
        assert!(!ok("https://other.example.com/"));
        assert!(AllowList::new(&["*".into()]).allows(&reqwest::Url::parse("http://x/").unwrap()));
        assert!(!AllowList::default().allows(&reqwest::Url::parse("http://x/").unwrap()));
    }
}
