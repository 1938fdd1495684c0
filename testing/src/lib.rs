//! Test helpers for Holdfast classes: [`TestHost`] starts the real `holdfast` binary as a child
//! process, on a free loopback port, with a temporary data directory and its own admin token,
//! and offers the test controls of the admin API as methods.
//!
//! ```no_run
//! # async fn example() -> Result<(), holdfast_testing::Error> {
//! use holdfast_testing::TestHost;
//!
//! // Builds every class (their `build` commands), then serves the project's config.
//! let host = TestHost::builder("holdfast.toml").build_classes(true).start()?;
//! let counter = host.object("counter", "alice");
//! let r = host.client().post(counter.url("/increment")).send().await?;
//! assert_eq!(r.status(), 200);
//! assert_eq!(counter.get("value").await?, Some(serde_json::json!(1)));
//! counter.put("value", serde_json::json!(41)).await?;
//! counter.run_alarm().await?; // the object's alarm, now
//! # Ok(()) }
//! ```
//!
//! Each `TestHost` is a separate process with separate storage: tests running in parallel do
//! not see each other's objects. Nothing runs in the test's own process, so a test of a class
//! exercises exactly what `holdfast serve` runs. The process is killed when the `TestHost` is
//! dropped.
//!
//! The binary is found in `HOLDFAST_BIN`, else as `holdfast` on `PATH`.

mod controls;
mod error;
mod host;

pub use controls::{LogLine, ObjectRef, StoredObject};
pub use error::Error;
pub use host::{Builder, TestHost};
