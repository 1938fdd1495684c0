//! The [`Router`]: delivers calls between objects (the runtime's [`Outbound`] port) through the
//! callee's mailbox, checking the address, the depth of the chain and the wait-for graph first,
//! and turns the callee's outcome into the caller's answer.

use std::sync::Weak;

use super::directory::Directory;
use super::event::{Event, EventError, Origin, Outcome};
use crate::runtime::{
    Accepted, CallBody, CallErrorKind, CallFailure, CallFuture, CallReply, Caller, Chain,
    GuestFailure, Outbound, label, types,
};

/// Delivers calls; refers to the directory weakly (the directory owns it).
struct Router {
    directory: Weak<Directory>,
}

impl Directory {
    /// The directory of `services`' classes, keeping at most `cap` objects resident, with the
    /// router for calls between objects.
    pub fn new(services: super::Services, cap: usize) -> std::sync::Arc<Directory> {
        Directory::with_router(services, cap, |directory| {
            std::sync::Arc::new(Router { directory })
        })
    }
}

impl Directory {
    /// Delivers a call another node passed on (from the object labelled `from`), to the object
    /// here, whatever this node's view of placement (the sender's view decided). Its chain
    /// continues the caller's: a call of a chain that the callee waits in is refused as a
    /// cycle, as on one node. The wait-for graph holds this node's waits only, so a deadlock
    /// of different chains across nodes ends in the call timeout instead of a refusal.
    pub async fn call_here(
        &self,
        to: types::Address,
        chain: Chain,
        from: Option<&str>,
        body: CallBody,
    ) -> Result<CallReply, CallFailure> {
        let caller = Caller {
            object: None,
            chain,
            upgrade: None,
        };
        deliver(self, caller, to, body, Some(from.unwrap_or("another node"))).await
    }
}

impl Outbound for Router {
    fn call(&self, caller: Caller, to: types::Address, body: CallBody) -> CallFuture {
        let directory = self.directory.upgrade();
        Box::pin(async move {
            let Some(directory) = directory else {
                return Err(CallFailure::new(
                    CallErrorKind::Unavailable,
                    "the host is shutting down",
                ));
            };
            deliver(&directory, caller, to, body, None).await
        })
    }
}

/// Delivers a call. One that came from another node (`remote_from`: its caller's label) is
/// delivered here; any other to an object placed on another node goes there through the
/// directory's `Remote` port (but for a worker's forwarded WebSocket upgrade, which is this
/// node's connection: its object runs here), its wait recorded here until the answer.
async fn deliver(
    directory: &Directory,
    caller: Caller,
    to: types::Address,
    body: CallBody,
    remote_from: Option<&str>,
) -> Result<CallReply, CallFailure> {
    let here_only = remote_from.is_some();
    let services = directory.services();
    let bad = |m: String| CallFailure::new(CallErrorKind::BadAddress, m);
    let id = services
        .namespaces
        .parse(&to.namespace, &to.id)
        .map_err(|e| bad(e.to_string()))?;
    let class = directory
        .class(&to.namespace)
        .ok_or_else(|| {
            bad(format!(
                "no namespace named `{}` on this host",
                to.namespace
            ))
        })?
        .clone();
    let callee = label(&to.namespace, &to.id, to.name.as_deref());
    let from = match (&caller.object, remote_from) {
        (Some((_, label)), _) => label.to_string(),
        (None, Some(remote)) => remote.to_owned(),
        (None, None) => "the worker".to_owned(),
    };
    let depth = caller.chain.depth + 1;
    if depth > services.max_call_depth {
        return Err(CallFailure::new(
            CallErrorKind::TooDeep,
            format!(
                "call from {from} to {callee} refused: the chain of calls would be {depth} deep, \
                 deeper than runtime.max_call_depth = {}",
                services.max_call_depth
            ),
        ));
    }
    let key = class.key(&id);
    let mut body = body;
    if here_only {
        // The callee may wait, in this very chain, for a call that has gone round other nodes
        // back to it.
        let from: std::sync::Arc<str> = from.as_str().into();
        directory
            .waits
            .arriving(&from, (&key, &callee), caller.chain.id)
            .map_err(|circle| CallFailure::new(CallErrorKind::Cycle, circle.to_string()))?;
    }
    let (mine, theirs) = match &caller.object {
        Some((from_key, from_label)) => {
            let (a, b) = directory
                .waits
                .wait((from_key, from_label), (&key, &callee), caller.chain.id)
                .map_err(|circle| {
                    let kind = match circle {
                        super::waits::Circle::Cycle(_) => CallErrorKind::Cycle,
                        super::waits::Circle::Deadlock(_) => CallErrorKind::Deadlock,
                    };
                    CallFailure::new(kind, circle.to_string())
                })?;
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    if !here_only
        && caller.upgrade.is_none()
        && let Some(remote) = directory.remote()
    {
        let from_label = caller.object.as_ref().map(|(_, l)| &**l);
        match remote.route(&key, &to, caller.chain, from_label, body) {
            Ok(answer) => {
                // Both halves of the wait stay until the answer: this node's graph then sees
                // the caller waiting while the call is away (a call of the chain coming back
                // to it is refused as a cycle).
                // The callee's node answers a timeout at `call_timeout`; this bound (a second
                // later) is for a node that went away with the call.
                let timeout = services.call_timeout + std::time::Duration::from_secs(1);
                let answer = tokio::time::timeout(timeout, answer).await;
                drop((mine, theirs));
                return answer.unwrap_or_else(|_| {
                    Err(CallFailure::new(
                        CallErrorKind::Timeout,
                        format!(
                            "call from {from} to {callee} timed out: no answer from its node \
                             within runtime.call_timeout_ms = {} ms (the call may still take effect)",
                            services.call_timeout.as_millis()
                        ),
                    ))
                });
            }
            Err(b) => body = b,
        }
    }
    let (event, is_fetch) = match body {
        CallBody::Fetch(req) => (Event::Fetch(req), true),
        CallBody::Method { method, args } => (Event::Call { method, args }, false),
    };
    // A worker forwarding its client's WebSocket upgrade: the first fetch of an upgrade
    // request takes it, and the object may accept the socket.
    let upgrade = match (&event, &caller.upgrade) {
        (Event::Fetch(req), Some(u)) if is_upgrade_request(req) && u.claim() => Some(u.clone()),
        _ => None,
    };
    let origin = Origin {
        chain: Chain {
            id: caller.chain.id,
            depth,
        },
        wait: theirs,
    };
    let rx = directory
        .call(
            &class,
            id,
            to.name.clone(),
            event,
            upgrade.is_some(),
            origin,
        )
        .map_err(|o| {
            CallFailure::new(
                CallErrorKind::Overloaded,
                format!("call from {from} to {callee} refused: {o}"),
            )
        })?;
    let timeout = services.call_timeout;
    let outcome = tokio::time::timeout(timeout, rx).await;
    drop(mine);
    let outcome = match outcome {
        Err(_) => {
            return Err(CallFailure::new(
                CallErrorKind::Timeout,
                format!(
                    "call from {from} to {callee} timed out: no answer within \
                     runtime.call_timeout_ms = {} ms (the call may still take effect)",
                    timeout.as_millis()
                ),
            ));
        }
        Ok(Err(_)) => Err(EventError::Gone),
        Ok(Ok(r)) => r,
    };
    match outcome {
        Ok(Outcome::Response(r, socket)) if is_fetch => {
            if let (Some(socket), Some(u)) = (socket, upgrade) {
                u.accepted(Accepted {
                    binding: class.config.binding.clone(),
                    id,
                    socket,
                });
            }
            Ok(CallReply::Response(r))
        }
        Ok(Outcome::Value(v)) if !is_fetch => Ok(CallReply::Value(v)),
        Ok(other) => Err(CallFailure::new(
            CallErrorKind::Unavailable,
            format!("{callee} answered the call with {other:?} (a host bug)"),
        )),
        Err(e) => Err(failure(&callee, e)),
    }
}

/// The caller's view of a callee's failed event.
fn failure(callee: &str, e: EventError) -> CallFailure {
    match e {
        EventError::Guest(GuestFailure::Error(m)) => {
            CallFailure::new(CallErrorKind::CalleeFailed, m)
        }
        EventError::Guest(GuestFailure::NoSuchMethod(m)) => {
            CallFailure::new(CallErrorKind::NoSuchMethod, m)
        }
        EventError::Guest(f @ (GuestFailure::Trap(_) | GuestFailure::Instantiate(_))) => {
            CallFailure::new(CallErrorKind::CalleeTrapped, format!("{callee} {f}"))
        }
        other => CallFailure::new(CallErrorKind::Unavailable, format!("{callee}: {other}")),
    }
}

/// Whether a request asks for a WebSocket (`upgrade: websocket`).
fn is_upgrade_request(req: &types::Request) -> bool {
    req.headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("upgrade") && v.eq_ignore_ascii_case("websocket"))
}
