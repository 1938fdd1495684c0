//! [`ListOptions`], which keys [`Storage::list`](crate::Storage::list) returns.

use crate::bindings::holdfast::object::storage as wit;

/// Which entries [`Storage::list`](crate::Storage::list) returns. Bounds compare key bytes.
///
/// The default lists every key in ascending order. Build narrower listings step by step:
///
/// ```
/// use holdfast_sdk::ListOptions;
///
/// // The 10 most recent entries under "msg:", newest first.
/// let options = ListOptions::new().prefix("msg:").reverse(true).limit(10);
/// ```
///
/// `start` and `start_after` exclude each other; the host refuses a listing that sets both with
/// [`StorageErrorKind::InvalidArgument`](crate::StorageErrorKind::InvalidArgument).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    start: Option<String>,
    start_after: Option<String>,
    end: Option<String>,
    prefix: Option<String>,
    reverse: bool,
    limit: Option<u32>,
}

impl ListOptions {
    /// Every key, in ascending order (the same as `ListOptions::default()`).
    pub fn new() -> Self {
        ListOptions::default()
    }

    /// Start at `key`, inclusive.
    pub fn start(mut self, key: impl Into<String>) -> Self {
        self.start = Some(key.into());
        self
    }

    /// Start after `key`, exclusive (for paging: pass the last key of the previous page).
    pub fn start_after(mut self, key: impl Into<String>) -> Self {
        self.start_after = Some(key.into());
        self
    }

    /// Stop before `key`, exclusive.
    pub fn end(mut self, key: impl Into<String>) -> Self {
        self.end = Some(key.into());
        self
    }

    /// Only keys that begin with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Descending key order when `reverse` is true; the bounds keep their meaning.
    pub fn reverse(mut self, reverse: bool) -> Self {
        self.reverse = reverse;
        self
    }

    /// At most `limit` entries.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub(crate) fn into_wit(self) -> wit::ListOptions {
        wit::ListOptions {
            start: self.start,
            start_after: self.start_after,
            end: self.end,
            prefix: self.prefix,
            reverse: self.reverse,
            limit: self.limit,
        }
    }
}
