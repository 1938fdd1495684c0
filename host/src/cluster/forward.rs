//! Passing a request to the object's node: plain requests through a pooled HTTP client, and
//! WebSocket upgrades as a tunnel (the owner answers the upgrade; this node then copies bytes
//! both ways until either side ends).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;

use super::{Cluster, FORWARDED};
use crate::store::Member;

/// Why a request could not be passed on.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("node `{node}` ({addr}), which serves this object, did not answer: {reason}")]
    Unreachable {
        node: String,
        addr: String,
        reason: String,
    },
}

/// Headers that belong to one connection, not to the request.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn unreachable(to: &Member, reason: impl std::fmt::Display) -> ForwardError {
    ForwardError::Unreachable {
        node: to.node.clone(),
        addr: to.addr.clone(),
        reason: reason.to_string(),
    }
}

impl Cluster {
    /// Sends a request (its body already read, within the limits) to `to` and returns its
    /// answer. `path` is the request's path and query as the client sent them.
    pub async fn forward(
        &self,
        to: &Member,
        method: &axum::http::Method,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Body>, ForwardError> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", to.addr))
            .body(body)
            .header(FORWARDED, &self.node);
        for (k, v) in headers {
            if !hop_by_hop(k) {
                req = req.header(k, v);
            }
        }
        let resp = req.send().await.map_err(|e| unreachable(to, e))?;
        let status = resp.status();
        let mut out = Response::builder().status(status);
        for (k, v) in resp.headers() {
            if !hop_by_hop(k) {
                out = out.header(k, v);
            }
        }
        let bytes = resp.bytes().await.map_err(|e| unreachable(to, e))?;
        Ok(out
            .body(Body::from(bytes))
            .expect("a response from valid parts"))
    }

    /// Passes a WebSocket upgrade to `to`: if it accepts (101), the client gets that answer and
    /// a tunnel to it; otherwise the client gets the owner's refusal as it was.
    pub async fn forward_upgrade(
        &self,
        to: &Member,
        mut req: Request<Body>,
        path: &str,
    ) -> Result<Response<Body>, ForwardError> {
        let authority = to
            .addr
            .strip_prefix("http://")
            .unwrap_or(&to.addr)
            .to_owned();
        let stream = tokio::time::timeout(
            self.lease,
            tokio::net::TcpStream::connect(authority.as_str()),
        )
        .await
        .map_err(|_| unreachable(to, "connecting timed out"))?
        .map_err(|e| unreachable(to, e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(to, e))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let mut out = Request::builder()
            .method(req.method().clone())
            .uri(path)
            .header(header::HOST, authority.as_str())
            .header(FORWARDED, &self.node)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket");
        for (k, v) in req.headers() {
            if !hop_by_hop(k) {
                out = out.header(k, v);
            }
        }
        let out = out.body(Body::empty()).map_err(|e| unreachable(to, e))?;
        let mut resp = sender
            .send_request(out)
            .await
            .map_err(|e| unreachable(to, e))?;
        let status = resp.status();
        let mut answer = Response::builder().status(status);
        for (k, v) in resp.headers() {
            answer = answer.header(k, v);
        }
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Ok(answer.body(Body::from(body)).expect("valid parts"));
        }
        let theirs = hyper::upgrade::on(&mut resp);
        let ours = hyper::upgrade::on(&mut req);
        let node = to.node.clone();
        tokio::spawn(async move {
            let (Ok(theirs), Ok(ours)) = (theirs.await, ours.await) else {
                tracing::debug!(node = %node, "a forwarded WebSocket ended before it opened");
                return;
            };
            let (mut a, mut b) = (TokioIo::new(theirs), TokioIo::new(ours));
            let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
        });
        Ok(answer.body(Body::empty()).expect("valid parts"))
    }
}
