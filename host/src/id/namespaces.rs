//! The namespaces of this host (one per configured binding) and their ID keys.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::object_id::{IdError, NamespaceKey, ObjectId};

/// A namespace that this host does not serve.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no namespace named `{0}` on this host")]
pub struct UnknownNamespace(pub String);

/// Why an ID string was refused for a namespace.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ParseIdError {
    #[error(transparent)]
    Unknown(#[from] UnknownNamespace),
    #[error(transparent)]
    Id(#[from] IdError),
}

/// Every namespace's key, loaded (or created) at start-up; a code update may add some. Clones
/// share the set.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    /// Concurrency: read lock-free by every ID derivation; replaced whole when a namespace is
    /// added (never removed: a removed class's IDs stay what they were).
    keys: Arc<ArcSwap<HashMap<String, Arc<NamespaceKey>>>>,
}

impl Namespaces {
    /// The namespaces of `keys`.
    pub fn new(keys: impl IntoIterator<Item = NamespaceKey>) -> Self {
        let keys = keys
            .into_iter()
            .map(|k| (k.namespace().to_owned(), Arc::new(k)))
            .collect::<HashMap<_, _>>();
        Namespaces {
            keys: Arc::new(ArcSwap::from_pointee(keys)),
        }
    }

    /// Adds the namespace of `key` if it is not there yet.
    pub fn add(&self, key: NamespaceKey) {
        self.keys.rcu(|keys| {
            let mut keys = HashMap::clone(keys);
            keys.entry(key.namespace().to_owned())
                .or_insert_with(|| Arc::new(key.clone()));
            keys
        });
    }

    /// Whether the namespace is known.
    pub fn contains(&self, namespace: &str) -> bool {
        self.keys.load().contains_key(namespace)
    }

    /// The namespace names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.keys.load().keys().cloned().collect();
        names.sort();
        names
    }

    pub fn key(&self, namespace: &str) -> Result<Arc<NamespaceKey>, UnknownNamespace> {
        self.keys
            .load()
            .get(namespace)
            .cloned()
            .ok_or_else(|| UnknownNamespace(namespace.to_owned()))
    }

    pub fn parse(&self, namespace: &str, id: &str) -> Result<ObjectId, ParseIdError> {
        Ok(self.key(namespace)?.parse(id)?)
    }
}
