//! Why a storage call was refused: the guest's own mistake, returned to it as the WIT
//! `storage-error` value (nothing of the call is written).

/// A refused storage call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("key is {len} bytes, over the limit of {limit} bytes")]
    KeyTooLarge { len: usize, limit: usize },
    #[error("value of key `{key}` is {len} bytes, over the limit of {limit} bytes")]
    ValueTooLarge {
        key: String,
        len: usize,
        limit: usize,
    },
    /// A SQLite-backed class's entry: the key counts toward the value's limit.
    #[error("key and value of `{key}` are {len} bytes together, over the limit of {limit} bytes")]
    EntryTooLarge {
        key: String,
        len: usize,
        limit: usize,
    },
    #[error("{count} keys in one call, over the limit of {limit}")]
    TooManyKeys { count: usize, limit: usize },
    #[error(
        "this event would write {bytes} bytes, over the limit of {limit} bytes per event; the call wrote nothing"
    )]
    EventBytes { bytes: usize, limit: usize },
    #[error(
        "this event would write {keys} keys, over the limit of {limit} keys per event; the call wrote nothing"
    )]
    EventKeys { keys: usize, limit: usize },
    #[error(
        "the listed entries reach {bytes} bytes, over the limit of {limit} bytes for one list call: pass a limit"
    )]
    ListTooLarge { bytes: usize, limit: usize },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}
