//! The bytes that address one object's rows.
//!
//! An object's rows are keyed by its *prefix* (`[namespace length][namespace][32-byte id]`), so
//! one object's keys are one contiguous range, in the byte order of the user keys, and no key of
//! one object can ever fall into another's range (the prefix has a fixed shape per namespace and
//! the namespace length is part of it).

use std::ops::Bound;
use std::sync::Arc;

use crate::id::ObjectId;

/// One object's row prefix. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ObjectKey(Arc<[u8]>);

impl ObjectKey {
    pub fn new(namespace: &str, id: &ObjectId) -> Self {
        let ns = namespace.as_bytes();
        assert!(ns.len() < 256, "namespace names are validated to be short");
        let mut v = Vec::with_capacity(1 + ns.len() + 32);
        v.push(ns.len() as u8);
        v.extend_from_slice(ns);
        v.extend_from_slice(id.as_bytes());
        ObjectKey(v.into())
    }

    /// Rebuilds a key from its stored bytes; `None` if they are not a key's shape.
    pub(super) fn from_stored(bytes: &[u8]) -> Option<Self> {
        let n = *bytes.first()? as usize;
        (bytes.len() == 1 + n + 32 && std::str::from_utf8(&bytes[1..1 + n]).is_ok())
            .then(|| ObjectKey(bytes.into()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The namespace and ID this key was made from.
    pub fn parts(&self) -> (&str, ObjectId) {
        let n = self.0[0] as usize;
        let ns = std::str::from_utf8(&self.0[1..1 + n]).unwrap_or("");
        let mut id = [0u8; 32];
        id.copy_from_slice(&self.0[1 + n..]);
        (ns, ObjectId::from_bytes(id))
    }

    /// The row of one user key.
    pub(super) fn row(&self, key: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.0.len() + key.len());
        v.extend_from_slice(&self.0);
        v.extend_from_slice(key);
        v
    }

    /// The row bound for a user-key lower bound.
    pub(super) fn row_lower(&self, b: Bound<&[u8]>) -> Bound<Vec<u8>> {
        match b {
            Bound::Included(k) => Bound::Included(self.row(k)),
            Bound::Excluded(k) => Bound::Excluded(self.row(k)),
            Bound::Unbounded => Bound::Included(self.row(b"")),
        }
    }

    /// The row bound for a user-key upper bound (unbounded = end of this object's range).
    pub(super) fn row_upper(&self, b: Bound<&[u8]>) -> Bound<Vec<u8>> {
        match b {
            Bound::Unbounded => match successor(&self.0) {
                Some(s) => Bound::Excluded(s),
                None => Bound::Unbounded,
            },
            Bound::Included(k) => Bound::Included(self.row(k)),
            Bound::Excluded(k) => Bound::Excluded(self.row(k)),
        }
    }
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
pub fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut v = prefix.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}
