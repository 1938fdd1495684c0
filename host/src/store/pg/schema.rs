//! The tables, created if missing. Rows are addressed by the same bytes as in the redb file
//! (`ObjectKey::as_bytes`), so the same object has the same key on either backend.
//!
//! - `hf_kv (object, key) → value`
//! - `hf_alarms object → (at, retries)`, indexed by `at`
//! - `hf_names object → name`
//! - `hf_sql_pages (object, page) → data`: an object's SQLite database file, one row per
//!   4 KiB page (a page of zeros is not stored)
//! - `hf_sql_size object → size`: the file's size in bytes (absent: no database)
//! - `hf_meta key → value` (the namespaces' ID secrets: every node derives the same IDs)
//! - `hf_owners object → (node, epoch, commits)`: who may commit for the object; every commit
//!   updates its row where the epoch is the committer's, so a commit and a takeover of the
//!   same object never both go through unordered
//! - `hf_members node → (addr, lease_until)`: live nodes (leases in the database's own clock)
//! - `hf_commit_log`: with `[cluster] audit = true`, one row per object per commit (its
//!   epoch and node) for checking afterwards that no two nodes committed for one object at once

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS hf_kv (
    object BYTEA NOT NULL,
    key BYTEA NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (object, key)
);
CREATE TABLE IF NOT EXISTS hf_alarms (
    object BYTEA PRIMARY KEY,
    at BIGINT NOT NULL,
    retries INT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS hf_alarms_at ON hf_alarms (at, object);
CREATE TABLE IF NOT EXISTS hf_names (
    object BYTEA PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hf_sql_pages (
    object BYTEA NOT NULL,
    page BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (object, page)
);
CREATE TABLE IF NOT EXISTS hf_sql_size (
    object BYTEA PRIMARY KEY,
    size BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS hf_meta (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS hf_owners (
    object BYTEA PRIMARY KEY,
    node TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    commits BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS hf_members (
    node TEXT PRIMARY KEY,
    addr TEXT NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS hf_commit_log (
    id BIGSERIAL PRIMARY KEY,
    object BYTEA NOT NULL,
    epoch BIGINT NOT NULL,
    node TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now()
);
";

/// Creates the tables. Several nodes starting at once may race on a `CREATE … IF NOT EXISTS`
/// (PostgreSQL then reports a unique violation in its catalog): that is tried again.
pub(in crate::store) fn prepare(client: &mut postgres::Client) -> Result<(), postgres::Error> {
    let mut attempt = 0;
    loop {
        match client.batch_execute(TABLES) {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 && e.code().is_some() => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50 * attempt));
            }
            Err(e) => return Err(e),
        }
    }
}
