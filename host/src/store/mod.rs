//! Storage: the redb schema and its typed errors, group commit with the output gate and
//! recovery from I/O failures, the fault seam tests use, and one object's view of its keys, and
//! its SQL database (SQLite over pages in the same redb file, `sql/`).
//!
//! Owns: every byte on disk and the rule that an event's writes are released only once durable.
//! May import `id` only; knows nothing of instances, actors or HTTP (the alarm
//! scheduler hears of committed alarm changes through a `Notify` it hands in). A second backend
//! (PostgreSQL for cluster mode) would replace `db.rs` and `commit.rs`'s transaction calls; the
//! view and the write set are backend-neutral.

mod backup;
mod clock;
mod commit;
mod db;
mod error;
mod fault;
mod fork;
mod health;
mod history;
#[cfg(test)]
mod history_tests;
mod inspect;
mod key;
mod list;
mod migrate;
mod pending;
mod pg;
mod refusal;
mod snapshot;
mod sql;
mod view;
mod write_set;

pub use backup::{
    BackupError, BackupInfo, DB_FILE, RestoreError, backup_file, backup_info, in_use,
    remove_leftovers, restore,
};
pub use clock::now_ms;
pub use commit::{CommitError, CommitLimits, CommitState, Committer, Job};
pub use db::{Db, DueAlarm};
pub use error::{OpenError, StoreError};
pub use fault::{FaultPlan, Faults};
pub use health::StorageState;
pub use history::{Bookmark, BookmarkError};
pub use key::{ObjectKey, successor};
pub use list::ListOptions;
pub use migrate::MigrationError;
pub use pg::{Member, PgOptions};
pub use refusal::Refusal;
pub use sql::{SqlLimits, SqlOutput, SqlRefusal, SqlResult, SqlValue};
pub use view::{CallResult, ObjectStorage, ViewLimits};
pub use write_set::WriteSet;
