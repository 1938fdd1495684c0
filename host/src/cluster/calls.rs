//! Calls between objects across nodes: a call whose callee is placed on another node is sent
//! there as `POST /_/cluster/call` (JSON, bodies in base64), which delivers it to the object
//! and sends back its answer. The cluster's key (a secret every node reads from the database)
//! must come with it: the route reaches any method of any object, which the public routes
//! do not.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::{Cluster, FORWARDED, Place};
use crate::actor::{Directory, Remote};
use crate::runtime::{CallBody, CallErrorKind, CallFailure, CallFuture, CallReply, Chain, types};
use crate::store::{Member, ObjectKey};

/// The header carrying the cluster's key.
pub const KEY_HEADER: &str = "x-holdfast-cluster-key";

#[derive(Serialize, Deserialize)]
struct WireCall {
    namespace: String,
    id: String,
    name: Option<String>,
    chain_id: u64,
    depth: u32,
    /// The calling object's label (none: a worker), for the callee node's messages.
    #[serde(default)]
    from: Option<String>,
    fetch: Option<WireRequest>,
    method: Option<String>,
    /// The method's arguments, base64.
    args: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Serialize, Deserialize)]
struct WireReply {
    response: Option<WireResponse>,
    value: Option<String>,
    failure: Option<(u8, String)>,
}

#[derive(Serialize, Deserialize)]
struct WireResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

const KINDS: [CallErrorKind; 11] = [
    CallErrorKind::BadAddress,
    CallErrorKind::NoSuchMethod,
    CallErrorKind::CalleeFailed,
    CallErrorKind::CalleeTrapped,
    CallErrorKind::Cycle,
    CallErrorKind::Deadlock,
    CallErrorKind::TooDeep,
    CallErrorKind::Timeout,
    CallErrorKind::Overloaded,
    CallErrorKind::Unavailable,
    CallErrorKind::InvalidArgument,
];

fn unavailable(m: impl Into<String>) -> CallFailure {
    CallFailure::new(CallErrorKind::Unavailable, m)
}

/// The cluster's side of the actor layer's `Remote` port.
pub struct Calls {
    pub cluster: Arc<Cluster>,
}

impl Remote for Calls {
    fn route(
        &self,
        callee: &ObjectKey,
        to: &types::Address,
        chain: Chain,
        from: Option<&str>,
        body: CallBody,
    ) -> Result<CallFuture, CallBody> {
        match self.cluster.place(callee) {
            Place::Here => Err(body),
            Place::Unplaced => Ok(Box::pin(async {
                Err(unavailable(
                    "this node's cluster lease does not hold, so it reaches no object: retry later",
                ))
            })),
            Place::There(m) => {
                let wire = encode(to, chain, from, body);
                let cluster = self.cluster.clone();
                Ok(Box::pin(async move { send(&cluster, &m, wire).await }))
            }
        }
    }
}

fn encode(to: &types::Address, chain: Chain, from: Option<&str>, body: CallBody) -> WireCall {
    let (fetch, method, args) = match body {
        CallBody::Fetch(r) => (
            Some(WireRequest {
                method: r.method,
                url: r.url,
                headers: r.headers,
                body: B64.encode(r.body),
            }),
            None,
            None,
        ),
        CallBody::Method { method, args } => (None, Some(method), Some(B64.encode(args))),
    };
    WireCall {
        namespace: to.namespace.clone(),
        id: to.id.clone(),
        name: to.name.clone(),
        chain_id: chain.id,
        depth: chain.depth,
        from: from.map(str::to_owned),
        fetch,
        method,
        args,
    }
}

async fn send(cluster: &Cluster, to: &Member, call: WireCall) -> Result<CallReply, CallFailure> {
    let answer = cluster
        .client
        .post(format!("{}/_/cluster/call", to.addr))
        .header(FORWARDED, &cluster.node)
        .header(KEY_HEADER, &cluster.key)
        .json(&call)
        .send()
        .await
        .map_err(|e| {
            unavailable(format!(
                "node `{}` ({}), which serves {}, did not answer the call: {e}",
                to.node, to.addr, call.namespace
            ))
        })?;
    let status = answer.status();
    let reply: WireReply = answer.json().await.map_err(|e| {
        unavailable(format!(
            "node `{}` answered the call with {status} and no reply: {e}",
            to.node
        ))
    })?;
    decode_reply(reply)
}

fn decode_reply(r: WireReply) -> Result<CallReply, CallFailure> {
    let bad = |what: &str| unavailable(format!("a reply from another node is malformed: {what}"));
    if let Some((kind, message)) = r.failure {
        let kind = *KINDS.get(kind as usize).ok_or_else(|| bad("error kind"))?;
        return Err(CallFailure::new(kind, message));
    }
    if let Some(v) = r.value {
        return Ok(CallReply::Value(B64.decode(v).map_err(|_| bad("value"))?));
    }
    let resp = r.response.ok_or_else(|| bad("no answer"))?;
    Ok(CallReply::Response(types::Response {
        status: resp.status,
        headers: resp.headers,
        body: B64.decode(resp.body).map_err(|_| bad("body"))?,
    }))
}

/// Why an arriving call was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the cluster key is missing or wrong")]
    Key,
    #[error("the call does not decode: {0}")]
    Malformed(String),
}

impl Cluster {
    /// Delivers a call another node sent (`body` is its JSON), and returns the JSON reply.
    pub async fn serve_call(
        &self,
        directory: &Directory,
        given: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, ServeError> {
        // In constant time: the key is a secret, its comparison must not tell how much of a
        // guess was right.
        let right = given
            .is_some_and(|g| constant_time_eq::constant_time_eq(g.as_bytes(), self.key.as_bytes()));
        if !right {
            return Err(ServeError::Key);
        }
        let call: WireCall =
            serde_json::from_slice(body).map_err(|e| ServeError::Malformed(e.to_string()))?;
        let malformed = |w: &str| ServeError::Malformed(w.to_owned());
        let body = match (call.fetch, call.method, call.args) {
            (Some(r), None, None) => CallBody::Fetch(types::Request {
                method: r.method,
                url: r.url,
                headers: r.headers,
                body: B64.decode(r.body).map_err(|_| malformed("body"))?,
            }),
            (None, Some(method), Some(args)) => CallBody::Method {
                method,
                args: B64.decode(args).map_err(|_| malformed("args"))?,
            },
            _ => return Err(malformed("neither a fetch nor a method call")),
        };
        let to = types::Address {
            namespace: call.namespace,
            id: call.id,
            name: call.name,
        };
        let chain = Chain {
            id: call.chain_id,
            depth: call.depth,
        };
        let reply = match directory
            .call_here(to, chain, call.from.as_deref(), body)
            .await
        {
            Ok(CallReply::Response(r)) => WireReply {
                response: Some(WireResponse {
                    status: r.status,
                    headers: r.headers,
                    body: B64.encode(r.body),
                }),
                value: None,
                failure: None,
            },
            Ok(CallReply::Value(v)) => WireReply {
                response: None,
                value: Some(B64.encode(v)),
                failure: None,
            },
            Err(f) => WireReply {
                response: None,
                value: None,
                failure: Some((
                    KINDS.iter().position(|k| *k == f.kind).unwrap_or(9) as u8,
                    f.message,
                )),
            },
        };
        Ok(serde_json::to_vec(&reply).expect("a reply serializes"))
    }
}
