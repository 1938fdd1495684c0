//! [`State`], what an object is given when it is created: its identity and its storage.

use crate::bindings::holdfast::object::{context, objects};
use crate::{Error, Result, Storage};

/// The object's view of itself: who it is, and its [`Storage`].
///
/// Passed to [`DurableObject::new`](crate::DurableObject::new). It is a handle with no state of its
/// own: keep it in the object's struct and clone it freely. Object IDs are 64 lowercase
/// hexadecimal characters.
#[derive(Clone, Debug, Default)]
pub struct State {
    _private: (),
}

impl State {
    pub(crate) fn new() -> Self {
        State { _private: () }
    }

    /// The object's durable key-value store.
    pub fn storage(&self) -> Storage {
        Storage::new()
    }

    /// This object's ID.
    pub fn id(&self) -> String {
        context::id()
    }

    /// The name this object's ID was derived from, when it was addressed by name.
    pub fn name(&self) -> Option<String> {
        context::name()
    }

    /// The namespace (binding) this object belongs to, e.g. `"counter"`.
    pub fn namespace(&self) -> String {
        context::namespace()
    }

    /// The ID that `name` maps to in `namespace`: always the same for the same pair.
    pub fn id_from_name(&self, namespace: &str, name: &str) -> Result<String> {
        objects::id_from_name(namespace, name).map_err(Error::msg)
    }

    /// A fresh random ID in `namespace`.
    pub fn new_unique_id(&self, namespace: &str) -> Result<String> {
        objects::new_unique_id(namespace).map_err(Error::msg)
    }

    /// Checks that `id` is a well-formed ID of `namespace` and returns it; otherwise the error says
    /// which rule it broke.
    pub fn id_from_string(&self, namespace: &str, id: &str) -> Result<String> {
        objects::id_from_string(namespace, id).map_err(Error::msg)
    }
}
