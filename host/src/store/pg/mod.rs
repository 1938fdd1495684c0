//! PostgreSQL storage for cluster mode: the same committed state as the redb file (keys, SQL
//! databases' pages and sizes, alarms and their retries, names, namespace secrets), shared by every node, plus what only a
//! cluster needs: object ownership with epochs (fencing) and node leases (membership).
//!
//! Owns: the SQL schema (`schema.rs`), the connections (`pool.rs`), committed-state reads
//! (`reads.rs`), a batch's transaction with its fence (`commit.rs`), and the ownership and lease
//! rows (`members.rs`). Knows nothing of placement or forwarding (`cluster/` decides who should
//! own an object; this only records who does, and refuses commits of anyone else).
//!
//! Only SQL that PostgreSQL-compatible distributed databases also run: plain tables, `ON
//! CONFLICT`, `unnest` of arrays, `now()`; serializable transactions retried on a serialization
//! failure; no advisory locks, no LISTEN/NOTIFY. Not here yet: point-in-time history, backups
//! (each refused in cluster mode with its own message, see `Db::database`).

mod commit;
mod members;
mod pool;
mod reads;
mod schema;

use std::time::Duration;

pub(super) use commit::{BatchError, write_batch};
pub use members::Member;
pub(super) use pool::Pool;
pub use pool::PoolError;

/// How nodes reach the database, and who this node is.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// A libpq connection string (`host=… port=… user=… dbname=…` or `postgresql://…`).
    pub url: String,
    /// This node's name, unique in the cluster: ownership rows and leases carry it.
    pub node: String,
    /// Connections for reads (the committer has one of its own).
    pub connections: usize,
    /// A connection that gets no answer for this long fails (`tcp_user_timeout`), so a node cut
    /// off from the database learns it within this time instead of TCP's minutes.
    pub io_timeout: Duration,
}

/// Connects with the options' timeouts.
pub(super) fn connect(opts: &PgOptions) -> Result<postgres::Client, postgres::Error> {
    let mut config: postgres::Config = opts.url.parse()?;
    config
        .connect_timeout(opts.io_timeout)
        .tcp_user_timeout(opts.io_timeout)
        .keepalives(true)
        .keepalives_idle(opts.io_timeout);
    let mut client = config.connect(postgres::NoTls)?;
    // A commit is acknowledged only once durable, whatever the server's default says.
    client.batch_execute("SET synchronous_commit = on")?;
    Ok(client)
}

/// Whether the error is one a retry of the whole transaction may not meet again (a
/// serialization failure or a deadlock, as serializable databases report contention).
pub(super) fn retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

pub(super) use schema::prepare;
