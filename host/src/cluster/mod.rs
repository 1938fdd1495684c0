//! Cluster mode: several nodes over one PostgreSQL database, each object served by one node.
//!
//! Owns: membership (this node's lease and the live nodes, `membership.rs`), placement
//! (rendezvous hashing of object keys over the live nodes, `placement.rs`), and forwarding a
//! request that reached the wrong node to the object's node (`forward.rs`). Imports `store`
//! (leases live in the database) and `actor` (to drop objects placed elsewhere); knows nothing
//! of routes (the HTTP layer asks [`Cluster::place`] and forwards).
//!
//! Placement decides only where requests go; it is never what keeps an object's state right.
//! That is the epoch fence in the store: a node takes an object with a new epoch before its
//! first event, and every commit checks the epoch in the same transaction, so a node that lost
//! the object (cut off, paused, or behind on membership) cannot commit for it again.

mod calls;
pub mod forward;
mod membership;
mod placement;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

pub use calls::{Calls, KEY_HEADER, ServeError};
pub use placement::{Place, View};

use crate::store::ObjectKey;

/// Header a forwarded request carries (the forwarding node's name): the receiving node serves
/// it whatever its own view says, so two nodes that disagree never pass a request back and
/// forth.
pub const FORWARDED: &str = "x-holdfast-forwarded-by";

/// This node's part in the cluster.
pub struct Cluster {
    node: String,
    advertise: String,
    lease: Duration,
    /// The live nodes as last read, and whether this node's lease holds. Concurrency: swapped
    /// whole by the membership loop; read lock-free by every request and alarm look.
    view: ArcSwap<View>,
    client: reqwest::Client,
    /// The cluster's key (hex of a secret kept in the database): calls between nodes carry it.
    key: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    pub fn new(node: String, advertise: String, lease: Duration, key: String) -> Arc<Cluster> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(lease)
            .build()
            .expect("an HTTP client");
        Arc::new(Cluster {
            node,
            advertise,
            lease,
            view: ArcSwap::from_pointee(View::default()),
            client,
            key,
        })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Where `key`'s object is served now.
    pub fn place(&self, key: &ObjectKey) -> Place {
        self.view.load().place(key, &self.node)
    }

    /// Whether `key`'s object is this node's (alarms fire only on the object's node).
    pub fn is_here(&self, key: &ObjectKey) -> bool {
        matches!(self.place(key), Place::Here)
    }

    /// The view now (for `/_/health` and tests).
    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }
}

pub use membership::{join, run};
