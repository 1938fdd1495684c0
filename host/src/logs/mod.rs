//! Objects' log lines: a small ring of recent lines per object (for the inspector and the admin
//! API) and a live feed of every line (for `holdfast tail`).
//!
//! Owns: the bounds on what is kept of guests' output. Imports nothing of the crate: lines are
//! recorded by the runtime (which knows whose event runs) and read by the HTTP layer; an object
//! is named here by its namespace and hex ID only.

mod ring;

pub use ring::{LogLine, LogSource, Logs, Stream};
