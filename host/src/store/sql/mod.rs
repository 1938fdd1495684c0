//! SQL storage: one SQLite database per object whose pages live in the redb file (no file of
//! its own), so an event's SQL writes travel in its write set and commit with its key-value
//! writes and alarm change, durably, or not at all.
//!
//! - `schema.rs`: the `sql_pages` and `sql_size` tables;
//! - `pages.rs`: the database file as SQLite sees it (the event's pages, pages not yet durable,
//!   committed pages);
//! - `vfs.rs`: the SQLite VFS over it (`sqlite-plugin`'s safe trait; no OS file is opened);
//! - `database.rs`: the connection per activation and its transactions per event;
//! - `exec.rs`: running a guest's query (statements, bindings, rows, counts);
//! - `rules.rs`: what a guest may run (Cloudflare's rules and limits);
//! - `value.rs`: values, results and refusals.
//!
//! Part of the store layer: it knows nothing of instances, actors or HTTP.

mod database;
mod exec;
mod pages;
mod rules;
pub(super) mod schema;
mod value;
mod vfs;

pub(super) use database::SqlDb;
pub use database::{SqlLimits, SqlResult};
pub use schema::SqlWrites;
pub use value::{SqlOutput, SqlRefusal, SqlValue};
