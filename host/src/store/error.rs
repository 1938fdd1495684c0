//! Typed failures of the store, narrowest per operation (as redb's own errors are).

/// A read or write of the running database failed. Never caused by a guest's input: the event
/// that met it fails as a host failure (503), never as the guest's error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is being reopened or is failed after an I/O error; see `/_/health`.
    #[error("storage is unavailable: {reason}")]
    Unavailable { reason: String },
    #[error("storage I/O failed: {0}")]
    Storage(#[from] redb::StorageError),
    #[error("storage transaction failed: {0}")]
    Transaction(#[from] redb::TransactionError),
    #[error("storage table failed: {0}")]
    Table(#[from] redb::TableError),
    #[error("storage commit failed: {0}")]
    Commit(#[from] redb::CommitError),
    /// The SQL engine failed in a way no statement explains (opening a database, a savepoint
    /// the host itself opened).
    #[error("SQL storage failed: {reason}")]
    Sql { reason: String },
    /// A read or write of the cluster's PostgreSQL database failed (or got no answer).
    #[error("storage (PostgreSQL) failed: {0}")]
    Postgres(#[from] super::pg::PoolError),
    /// The feature keeps its state in the redb file, which cluster mode does not have.
    #[error(
        "{what} is not available in cluster mode yet (its storage is the single-node redb file; cluster mode stores keys, SQL databases, alarms and names in PostgreSQL)"
    )]
    NotInCluster { what: &'static str },
    /// A stored point-in-time recovery record (undo record or pending restore) does not decode.
    #[error("a point-in-time recovery record does not decode: {reason}")]
    History { reason: String },
}

/// The database file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the database file `{path}`: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database `{path}`: {source}")]
    Database {
        path: String,
        source: redb::DatabaseError,
    },
    #[error("cannot prepare the database `{path}`: {source}")]
    Prepare { path: String, source: StoreError },
    #[error(
        "the database `{path}` is in use by another server (its file is locked): one server per data directory"
    )]
    InUse { path: String },
    #[error("cannot use the cluster's database: {0}")]
    Postgres(String),
    /// An earlier handle of the database is still in use (reopen only).
    #[error("the database is still in use by a reader")]
    Busy,
}
