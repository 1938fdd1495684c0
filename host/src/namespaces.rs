//! The namespaces of this host (one per configured binding) and their ID keys.

use std::collections::HashMap;
use std::sync::Arc;

use crate::id::{IdError, NamespaceKey, ObjectId};
use crate::storage::{Db, DbError};

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
    /// Loads the secret of each namespace from `db`, creating missing ones.
    pub fn load<'a>(db: &Db, names: impl IntoIterator<Item = &'a str>) -> Result<Self, DbError> {
        let mut keys = HashMap::new();
        for ns in names {
            let secret = db.namespace_secret(ns)?;
            keys.insert(ns.to_owned(), NamespaceKey::new(ns, secret));
        }
        Ok(Namespaces {
            keys: Arc::new(keys),
        })
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
