//! What SQL calls take and give: values, a statement run's result, and why a call was refused.

/// A SQL value: a column of a row, or a bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    /// Bytes it costs in a result.
    pub(super) fn bytes(&self) -> usize {
        match self {
            SqlValue::Text(s) => s.len() + 16,
            SqlValue::Blob(b) => b.len() + 16,
            _ => 16,
        }
    }
}

/// The result of one `exec`: the rows of its last statement, and what all of its statements
/// read and wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlOutput {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<SqlValue>>,
    /// The most of: rows returned, rows visited by full scans, rows written (an approximation
    /// of the rows SQLite read).
    pub rows_read: u64,
    /// Rows inserted, updated or deleted (triggers' included).
    pub rows_written: u64,
}

/// Why an `exec` was refused or failed. Nothing of the call was kept (its statements run in a
/// savepoint of their own when there are several).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlRefusal {
    /// SQLite's own error (syntax, constraint, a SQLite limit): SQLite's message and code.
    #[error("{message}: {code}")]
    Sqlite { message: String, code: String },
    /// A statement Holdfast does not allow.
    #[error("{0}")]
    NotAllowed(String),
    /// One of Holdfast's limits on a call.
    #[error("{0}")]
    TooLarge(String),
    /// The object's database reached its size limit.
    #[error(
        "the object's SQL database is full: it may hold at most {limit} bytes (limits.max_sql_bytes); nothing of this statement was kept: {code}"
    )]
    Full { limit: u64, code: String },
    /// The class keeps key-value storage only.
    #[error(
        "SQL storage is not available: namespace `{namespace}` is key-value backed; declare its class in `new_sqlite_classes` (wrangler) or set `storage = \"sqlite\"` on its [[class]] (holdfast.toml)"
    )]
    NotSqlite { namespace: String },
    /// The call's arguments are wrong (e.g. the number of bindings).
    #[error("{0}")]
    InvalidArgument(String),
}
