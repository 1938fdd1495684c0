//! Identity: object IDs, namespace keys (the secret each namespace's IDs are derived from and
//! checked against), and the set of namespaces this host serves.
//!
//! Owns: the ID format and its checks. Pure computation: no I/O, no storage (the namespace
//! secrets are loaded by the start-up code and handed in). Imports nothing of the crate.

mod namespaces;
mod object_id;

pub use namespaces::Namespaces;
pub use object_id::{NamespaceKey, ObjectId};
