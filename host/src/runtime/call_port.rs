//! Calls from a running guest to other objects, as the runtime sees them: what is asked, who
//! asks, and the [`Outbound`] port through which the host above (the actor layer) delivers them.
//!
//! The runtime knows nothing of mailboxes or of who waits for whom; it hands each call to the
//! port and suspends the guest's fiber until the answer comes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::bindings::calls::CallErrorKind;
use super::bindings::types;
use crate::id::ObjectId;
use crate::store::ObjectKey;

/// What the callee is asked to do.
#[derive(Debug)]
pub enum CallBody {
    Fetch(types::Request),
    Method { method: String, args: Vec<u8> },
}

/// What the callee answered.
#[derive(Debug)]
pub enum CallReply {
    Response(types::Response),
    Value(Vec<u8>),
}

/// A call that produced no answer: the WIT error kind and a message naming the objects.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CallFailure {
    pub kind: CallErrorKind,
    pub message: String,
}

impl CallFailure {
    pub fn new(kind: CallErrorKind, message: impl Into<String>) -> Self {
        CallFailure {
            kind,
            message: message.into(),
        }
    }
}

/// One chain of calls: started by a client's request, an alarm or a socket event, carried by
/// every call made on its behalf (so the host can tell a cycle within it from a deadlock
/// between two chains, and bound its depth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// Unique per chain, across the nodes of a cluster too (each process counts from a random
    /// start), so a call arriving from another node can be told to belong to a chain an object
    /// here waits in.
    pub id: u64,
    /// How many calls deep the running event is (0 for the event that started the chain).
    pub depth: u32,
}

impl Chain {
    /// A new chain, for an event that no other object's call started.
    pub fn start() -> Chain {
        use std::sync::LazyLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: LazyLock<AtomicU64> = LazyLock::new(|| AtomicU64::new(rand::random()));
        Chain {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            depth: 0,
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The calling object and how messages name it; `None` for a worker (which no call can
    /// wait for).
    pub object: Option<(ObjectKey, Arc<str>)>,
    pub chain: Chain,
    /// The client's WebSocket upgrade the worker is handling, which its first `fetch` of an
    /// upgrade request to an object may take.
    pub upgrade: Option<Arc<Upgrade>>,
}

/// The socket an object accepted for an upgrade a worker forwarded to it.
#[derive(Debug)]
pub struct Accepted {
    /// The object's class, by binding.
    pub binding: String,
    pub id: ObjectId,
    pub socket: u64,
}

/// A client's WebSocket upgrade while a worker handles its request: at most one object may
/// accept it (the first `stub.fetch` of an upgrade request), and the HTTP layer connects the
/// client to that socket when the worker answers 101. Dropped with a socket nobody took (the
/// client left, the worker failed or answered otherwise), it hands the socket to `unclaimed`,
/// which closes it on the object's side.
pub struct Upgrade {
    /// Why a lock: the router (on the worker's call) and the HTTP task both reach it, one after
    /// the other.
    state: Mutex<UpgradeState>,
    unclaimed: Box<dyn Fn(Accepted) + Send + Sync>,
}

#[derive(Default)]
struct UpgradeState {
    claimed: bool,
    accepted: Option<Accepted>,
}

impl std::fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrade").finish_non_exhaustive()
    }
}

impl Upgrade {
    pub fn new(unclaimed: Box<dyn Fn(Accepted) + Send + Sync>) -> Arc<Upgrade> {
        Arc::new(Upgrade {
            state: Mutex::default(),
            unclaimed,
        })
    }

    /// Takes the right to forward the upgrade: true once.
    pub fn claim(&self) -> bool {
        let mut s = self.state.lock().expect("upgrade lock");
        !std::mem::replace(&mut s.claimed, true)
    }

    /// The object accepted a socket for it.
    pub fn accepted(&self, a: Accepted) {
        let old = self.state.lock().expect("upgrade lock").accepted.replace(a);
        debug_assert!(old.is_none(), "an upgrade is claimed once");
    }

    /// The accepted socket, for the HTTP layer to connect (or close).
    pub fn take(&self) -> Option<Accepted> {
        self.state.lock().expect("upgrade lock").accepted.take()
    }
}

impl Drop for Upgrade {
    fn drop(&mut self) {
        let left = self.state.get_mut().map(|s| s.accepted.take());
        if let Ok(Some(a)) = left {
            (self.unclaimed)(a);
        }
    }
}

/// An answer on its way.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<CallReply, CallFailure>> + Send>>;

/// Delivers calls to objects (implemented by the actor layer).
pub trait Outbound: Send + Sync + 'static {
    /// Delivers `body` to the object at `to` on behalf of `caller`. The address is checked
    /// here (namespace, ID); the future resolves once the callee's answer may be released.
    fn call(&self, caller: Caller, to: types::Address, body: CallBody) -> CallFuture;
}
