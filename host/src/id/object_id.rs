//! Object IDs: 32 bytes, written as 64 lowercase hex characters.
//!
//! An ID is a 16-byte body followed by a 16-byte check: a keyed hash of the body under the
//! namespace's secret. `id-from-name` derives the body from the name with the same secret, so it
//! is deterministic per namespace and unguessable across namespaces; `new-unique-id` draws the
//! body at random. `id-from-string` recomputes the check, so an ID of another namespace (or a
//! made-up one) is refused.

use std::fmt;

/// An object's identity within its namespace.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 32]);

impl ObjectId {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ObjectId(bytes)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// Why a string is not an object ID of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "invalid object id `{shown}`: expected 64 lowercase hex characters (0-9, a-f), got {len} characters"
    )]
    Malformed { shown: String, len: usize },
    #[error("object id `{id}` does not belong to namespace `{namespace}`")]
    Foreign { id: String, namespace: String },
}

/// A namespace's secret, from which its IDs are derived and checked.
#[derive(Clone)]
pub struct NamespaceKey {
    namespace: String,
    secret: [u8; 32],
}

impl fmt::Debug for NamespaceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceKey")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl NamespaceKey {
    pub fn new(namespace: impl Into<String>, secret: [u8; 32]) -> Self {
        NamespaceKey {
            namespace: namespace.into(),
            secret,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The deterministic ID of `name`.
    pub fn id_from_name(&self, name: &str) -> ObjectId {
        let mut h = blake3::Hasher::new_keyed(&self.secret);
        h.update(b"holdfast name\0");
        h.update(name.as_bytes());
        let mut body = [0u8; 16];
        body.copy_from_slice(&h.finalize().as_bytes()[..16]);
        self.seal(body)
    }

    /// A fresh random ID.
    pub fn new_unique_id(&self) -> ObjectId {
        self.seal(rand::random())
    }

    /// Parses and checks an ID written as hex.
    pub fn parse(&self, s: &str) -> Result<ObjectId, IdError> {
        let malformed = || IdError::Malformed {
            shown: s.chars().take(80).collect(),
            len: s.chars().count(),
        };
        if s.len() != 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(malformed());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| malformed())?;
        let mut body = [0u8; 16];
        body.copy_from_slice(&bytes[..16]);
        if self.seal(body) != ObjectId(bytes) {
            return Err(IdError::Foreign {
                id: s.to_owned(),
                namespace: self.namespace.clone(),
            });
        }
        Ok(ObjectId(bytes))
    }

    fn seal(&self, body: [u8; 16]) -> ObjectId {
        let mut h = blake3::Hasher::new_keyed(&self.secret);
        h.update(b"holdfast check\0");
        h.update(&body);
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(&body);
        bytes[16..].copy_from_slice(&h.finalize().as_bytes()[..16]);
        ObjectId(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_namespaced() {
        let a = NamespaceKey::new("a", [1; 32]);
        let b = NamespaceKey::new("b", [2; 32]);
        assert_eq!(a.id_from_name("x"), a.id_from_name("x"));
        assert_ne!(a.id_from_name("x"), a.id_from_name("y"));
        let id = a.id_from_name("x").to_string();
        assert_eq!(id.len(), 64);
        assert_eq!(a.parse(&id).unwrap(), a.id_from_name("x"));
        assert_eq!(
            b.parse(&id).unwrap_err().to_string(),
            format!("object id `{id}` does not belong to namespace `b`")
        );
    }

    #[test]
    fn unique_ids_parse_and_garbage_does_not() {
        let a = NamespaceKey::new("a", [1; 32]);
        let u = a.new_unique_id();
        assert_ne!(u, a.new_unique_id());
        assert_eq!(a.parse(&u.to_string()).unwrap(), u);
        let e = a.parse("xyz").unwrap_err().to_string();
        assert!(
            e.contains("expected 64 lowercase hex") && e.contains("got 3"),
            "{e}"
        );
        assert!(a.parse(&u.to_string().to_uppercase()).is_err());
    }
}
