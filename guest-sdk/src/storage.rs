//! [`Storage`], the object's private, durable key-value store.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::holdfast::object::storage as wit;
use crate::{Error, ListOptions, Result, StorageError, StorageErrorKind};

/// The object's private, strongly consistent, durable key-value store.
///
/// Every call is synchronous and acts on the object whose event is running. Reads see the event's
/// own writes; all writes of an event commit together when its handler returns `Ok`, and are
/// discarded when it returns `Err` or traps. Keys are UTF-8 strings, ordered by their bytes.
///
/// Two families of methods:
/// - typed ones ([`get`](Self::get), [`put`](Self::put), ...) store values as JSON, so that every
///   SDK and the inspector can read them. They return [`crate::Result`]; a refused call can be
///   inspected with [`Error::storage_error`].
/// - raw ones (`*_bytes`) store bytes as given and return [`StorageError`] directly.
///
/// Limits (key 2 KiB, value 128 KiB, 128 keys per `*_many` call by default) are enforced exactly:
/// a call that exceeds one is refused and writes nothing.
///
/// `Storage` is a handle with no state of its own; clone it freely.
#[derive(Clone, Debug, Default)]
pub struct Storage {
    _private: (),
}

impl Storage {
    pub(crate) fn new() -> Self {
        Storage { _private: () }
    }

    /// The value under `key` decoded from JSON, or `None` if there is none.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get_bytes(key)?
            .map(|bytes| decode(key, &bytes))
            .transpose()
    }

    /// Stores `value` as JSON under `key`, replacing any earlier value.
    pub fn put<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        Ok(self.put_bytes(key, &encode(key, value)?)?)
    }

    /// The values under `keys` decoded from JSON, one entry per key in the same order.
    pub fn get_many<T: DeserializeOwned>(
        &self,
        keys: &[impl AsRef<str>],
    ) -> Result<Vec<Option<T>>> {
        let values = self.get_many_bytes(keys)?;
        keys.iter()
            .zip(values)
            .map(|(key, value)| value.map(|bytes| decode(key.as_ref(), &bytes)).transpose())
            .collect()
    }

    /// Stores every entry as JSON; all or none.
    pub fn put_many<T: Serialize>(&self, entries: &[(impl AsRef<str>, T)]) -> Result<()> {
        let encoded = entries
            .iter()
            .map(|(key, value)| Ok((key.as_ref().to_string(), encode(key.as_ref(), value)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(wit::put_many(&encoded).map_err(from_wit)?)
    }

    /// The entries selected by `options`, values decoded from JSON, in key order (or reverse key
    /// order).
    pub fn list<T: DeserializeOwned>(&self, options: ListOptions) -> Result<Vec<(String, T)>> {
        self.list_bytes(options)?
            .into_iter()
            .map(|(key, bytes)| {
                let value = decode(&key, &bytes)?;
                Ok((key, value))
            })
            .collect()
    }

    /// The bytes under `key`, or `None` if there are none.
    pub fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        wit::get(key).map_err(from_wit)
    }

    /// Stores `value` under `key`, replacing any earlier value.
    pub fn put_bytes(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        wit::put(key, value).map_err(from_wit)
    }

    /// The bytes under `keys`, one entry per key in the same order.
    pub fn get_many_bytes(
        &self,
        keys: &[impl AsRef<str>],
    ) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        wit::get_many(&owned_keys(keys)).map_err(from_wit)
    }

    /// Stores every entry; all or none (a refused entry refuses the whole call).
    pub fn put_many_bytes(
        &self,
        entries: &[(impl AsRef<str>, impl AsRef<[u8]>)],
    ) -> Result<(), StorageError> {
        let entries: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|(key, value)| (key.as_ref().to_string(), value.as_ref().to_vec()))
            .collect();
        wit::put_many(&entries).map_err(from_wit)
    }

    /// The entries selected by `options` as bytes, in key order (or reverse key order).
    pub fn list_bytes(&self, options: ListOptions) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        wit::list(&options.into_wit()).map_err(from_wit)
    }

    /// Removes `key`; `true` if it existed.
    pub fn delete(&self, key: &str) -> Result<bool, StorageError> {
        wit::delete(key).map_err(from_wit)
    }

    /// Removes every key in `keys`; returns how many existed.
    pub fn delete_many(&self, keys: &[impl AsRef<str>]) -> Result<u32, StorageError> {
        wit::delete_many(&owned_keys(keys)).map_err(from_wit)
    }

    /// Removes every key of this object. The alarm is kept.
    pub fn delete_all(&self) {
        wit::delete_all()
    }

    /// Runs `body` as a nested transaction within the event: if it returns `Err`, every storage
    /// write it made (keys, `delete_all`, the alarm) is undone and the error is returned; the
    /// rest of the event goes on. If it returns `Ok`, its writes stay part of the event, whose own
    /// outcome still decides whether anything is kept. Transactions nest up to 64 deep.
    /// WebSocket sends are not undone.
    ///
    /// Fails before running `body` only if transactions are already nested too deep.
    pub fn transaction<T, E>(
        &self,
        body: impl FnOnce(&Storage) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<StorageError>,
    {
        wit::transaction_begin().map_err(from_wit)?;
        let outcome = body(self);
        // Cannot fail: the transaction opened above is the innermost one still open.
        let closed = match &outcome {
            Ok(_) => wit::transaction_commit(),
            Err(_) => wit::transaction_rollback(),
        };
        closed.map_err(from_wit)?;
        outcome
    }

    /// The time the alarm is set for (ms since the Unix epoch), if one is set.
    pub fn get_alarm(&self) -> Option<i64> {
        wit::get_alarm()
    }

    /// Sets the object's single alarm to `scheduled_time` (ms since the Unix epoch), replacing any
    /// earlier one. It is written in this event's transaction: if the event fails, the alarm is
    /// not set. A time in the past fires at once.
    pub fn set_alarm(&self, scheduled_time: i64) {
        wit::set_alarm(scheduled_time)
    }

    /// Removes the alarm, if any.
    pub fn delete_alarm(&self) {
        wit::delete_alarm()
    }
}

fn owned_keys(keys: &[impl AsRef<str>]) -> Vec<String> {
    keys.iter().map(|key| key.as_ref().to_string()).collect()
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Error::with_source(format!("cannot encode the value for key `{key}`: {e}"), e))
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::with_source(
            format!("the value under key `{key}` does not decode: {e}"),
            e,
        )
    })
}

pub(crate) fn from_wit(error: wit::StorageError) -> StorageError {
    let kind = match error.kind {
        wit::ErrorKind::KeyTooLarge => StorageErrorKind::KeyTooLarge,
        wit::ErrorKind::ValueTooLarge => StorageErrorKind::ValueTooLarge,
        wit::ErrorKind::TooManyKeys => StorageErrorKind::TooManyKeys,
        wit::ErrorKind::InvalidArgument => StorageErrorKind::InvalidArgument,
    };
    StorageError {
        kind,
        message: error.message,
    }
}
