//! The namespaces of this host (one per configured binding) and their ID keys.

use std::collections::HashMap;
use std::sync::Arc;

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

/// Every namespace's key, loaded (or created) once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    keys: Arc<HashMap<String, NamespaceKey>>,
}

impl Namespaces {
    /// The namespaces of `keys`.
    pub fn new(keys: impl IntoIterator<Item = NamespaceKey>) -> Self {
        let keys = keys
            .into_iter()
            .map(|k| (k.namespace().to_owned(), k))
            .collect::<HashMap<_, _>>();
        Namespaces {
            keys: Arc::new(keys),
        }
    }

    /// The namespace names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.keys.keys().cloned().collect();
        names.sort();
        names
    }

    pub fn key(&self, namespace: &str) -> Result<&NamespaceKey, UnknownNamespace> {
        self.keys
            .get(namespace)
            .ok_or_else(|| UnknownNamespace(namespace.to_owned()))
    }

    pub fn parse(&self, namespace: &str, id: &str) -> Result<ObjectId, ParseIdError> {
        Ok(self.key(namespace)?.parse(id)?)
    }
}
