//! Errors: [`Error`], the error of user code and of typed calls, and [`StorageError`], a refused
//! storage call.

use std::fmt;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error of a Durable Object's event handlers and of the SDK's typed calls.
///
/// Like `anyhow::Error`, it carries a message for people and, when it was made from another error,
/// that error as its source. Any `std::error::Error + Send + Sync + 'static` converts into it, so
/// `?` works on storage errors, JSON errors, parse errors and the like.
///
/// When a handler returns `Err(error)`, the host discards every storage write of the event; for
/// `fetch` it answers `500` with the error's message ([`Display`](fmt::Display)) in the body.
///
/// `Error` deliberately does not implement [`std::error::Error`] (that would conflict with the
/// blanket `From` conversion).
pub struct Error {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error with only a message.
    ///
    /// ```
    /// let error = holdfast_sdk::Error::msg("the room is full");
    /// assert_eq!(error.to_string(), "the room is full");
    /// ```
    pub fn msg(message: impl fmt::Display) -> Self {
        Error {
            message: message.to_string(),
            source: None,
        }
    }

    /// An error with its own message, caused by `source`.
    pub(crate) fn with_source<E>(message: impl fmt::Display, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error {
            message: message.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// The refused storage call this error comes from, if it comes from one.
    ///
    /// ```no_run
    /// # fn example(storage: &holdfast_sdk::Storage) {
    /// use holdfast_sdk::StorageErrorKind;
    ///
    /// if let Err(error) = storage.put("k", &"a very long value") {
    ///     if let Some(refused) = error.storage_error() {
    ///         assert_eq!(refused.kind, StorageErrorKind::ValueTooLarge);
    ///     }
    /// }
    /// # }
    /// ```
    pub fn storage_error(&self) -> Option<&StorageError> {
        self.source.as_deref()?.downcast_ref::<StorageError>()
    }

    /// The failed SQL call this error comes from, if it comes from one.
    pub fn sql_error(&self) -> Option<&crate::SqlError> {
        self.source.as_deref()?.downcast_ref::<crate::SqlError>()
    }

    /// The error this one was made from, if any.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl<E> From<E> for Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Error {
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    /// The message, then the chain of causes below it (skipping a cause whose text is the
    /// message itself).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut cause: Option<&(dyn std::error::Error + 'static)> = match &self.source {
            Some(source) => Some(source.as_ref()),
            None => None,
        };
        let mut last = self.message.clone();
        while let Some(error) = cause {
            let text = error.to_string();
            if text != last {
                write!(f, "\n  caused by: {text}")?;
            }
            last = text;
            cause = error.source();
        }
        Ok(())
    }
}

/// Why a storage call was refused. Nothing of a refused call is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// A key is longer than the configured maximum (default 2048 bytes).
    KeyTooLarge,
    /// A value is larger than the configured maximum (default 131072 bytes).
    ValueTooLarge,
    /// A `*_many` call names more keys than the configured maximum (default 128).
    TooManyKeys,
    /// The options of a call contradict each other (e.g. both `start` and `start_after`).
    InvalidArgument,
}

impl StorageErrorKind {
    /// The kind's name in the WIT contract, e.g. `"key-too-large"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageErrorKind::KeyTooLarge => "key-too-large",
            StorageErrorKind::ValueTooLarge => "value-too-large",
            StorageErrorKind::TooManyKeys => "too-many-keys",
            StorageErrorKind::InvalidArgument => "invalid-argument",
        }
    }
}

impl fmt::Display for StorageErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A storage call the host refused: the [kind](StorageErrorKind) of refusal and a message for
/// people that names the limit. Nothing of a refused call is written.
///
/// Its [`Display`](fmt::Display) is the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageError {
    /// Why the call was refused.
    pub kind: StorageErrorKind,
    /// What was refused and why, for people.
    pub message: String,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StorageError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> StorageError {
        StorageError {
            kind: StorageErrorKind::KeyTooLarge,
            message: "key is 3000 bytes, the limit is 2048".into(),
        }
    }

    #[test]
    fn storage_error_converts_and_can_be_inspected() {
        let error = Error::from(refused());
        assert_eq!(error.to_string(), "key is 3000 bytes, the limit is 2048");
        assert_eq!(error.storage_error(), Some(&refused()));
        assert_eq!(format!("{error:?}"), "key is 3000 bytes, the limit is 2048");
    }

    #[test]
    fn message_errors_have_no_storage_error() {
        let error = Error::msg(42);
        assert_eq!(error.to_string(), "42");
        assert!(error.storage_error().is_none());
    }

    #[test]
    fn debug_shows_the_cause_under_a_new_message() {
        let error = Error::with_source("cannot save", refused());
        assert_eq!(
            format!("{error:?}"),
            "cannot save\n  caused by: key is 3000 bytes, the limit is 2048"
        );
        assert_eq!(error.to_string(), "cannot save");
    }

    #[test]
    fn kinds_have_wit_names() {
        assert_eq!(StorageErrorKind::TooManyKeys.to_string(), "too-many-keys");
        assert_eq!(
            StorageErrorKind::InvalidArgument.as_str(),
            "invalid-argument"
        );
    }
}
