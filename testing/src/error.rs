//! What can go wrong in a test helper.

/// A failed helper call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `holdfast` binary could not be started.
    #[error("cannot start `{bin}` (set HOLDFAST_BIN to the holdfast binary): {source}")]
    Spawn { bin: String, source: std::io::Error },
    /// A class's build command failed (`holdfast build`'s output).
    #[error("building the classes failed:\n{0}")]
    Build(String),
    /// The host exited or did not listen in time; with what it printed.
    #[error("the host did not start: {0}")]
    Start(String),
    /// The host answered a control with an error.
    #[error("{what} failed ({status}): {message}")]
    Refused {
        what: String,
        status: u16,
        message: String,
    },
    /// The request did not reach the host (or its answer was not JSON).
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The host answered in a shape this helper does not know (a version mismatch).
    #[error("the host answered something unexpected: {0}")]
    Unexpected(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}
