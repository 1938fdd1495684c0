//! [`Sql`], the object's SQLite database, and the [`Cursor`] of a query's rows.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::bindings::holdfast::object::sql as wit;
use crate::{Error, Result};

/// The object's SQLite database (SQLite-backed classes, the default).
///
/// Every statement runs in the running event's transaction, with the event's key-value writes
/// and alarm change: they all commit together when the handler returns `Ok`, or are all
/// discarded. [`Storage::transaction`](crate::Storage::transaction) blocks are savepoints that
/// undo SQL and key-value writes together.
///
/// ```no_run
/// # fn example(state: &holdfast_sdk::State) -> holdfast_sdk::Result<()> {
/// #[derive(serde::Deserialize)]
/// struct Score { player: String, points: i64 }
///
/// let sql = state.sql();
/// sql.exec("CREATE TABLE IF NOT EXISTS scores(player TEXT PRIMARY KEY, points INTEGER)", &[])?;
/// sql.exec("INSERT INTO scores VALUES (?, ?) ON CONFLICT DO UPDATE SET points = points + excluded.points",
///          &["alice".into(), 10.into()])?;
/// let top: Vec<Score> = sql.exec("SELECT player, points FROM scores ORDER BY points DESC LIMIT 10", &[])?
///     .to_vec()?;
/// # Ok(()) }
/// ```
///
/// `Sql` is a handle with no state of its own; clone it freely.
#[derive(Clone, Debug, Default)]
pub struct Sql {
    _private: (),
}

impl Sql {
    pub(crate) fn new() -> Self {
        Sql { _private: () }
    }

    /// Runs `query`: one statement, or several separated by `;` (they succeed or fail
    /// together). `params` bind to the `?` parameters of the statement that has them, which
    /// must be the last. The statements have run when this returns.
    pub fn exec(&self, query: &str, params: &[SqlValue]) -> Result<Cursor, SqlError> {
        let params: Vec<wit::Value> = params.iter().map(SqlValue::to_wit).collect();
        let rows = wit::exec(query, &params).map_err(SqlError::from_wit)?;
        Ok(Cursor {
            columns: rows.columns,
            rows: rows.rows.into_iter(),
            rows_read: rows.rows_read,
            rows_written: rows.rows_written,
        })
    }

    /// Bytes of the database (pages times the page size), this event's writes included.
    pub fn database_size(&self) -> Result<u64, SqlError> {
        wit::database_size().map_err(SqlError::from_wit)
    }
}

/// A column's value or a bound parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    fn to_wit(&self) -> wit::Value {
        match self {
            SqlValue::Null => wit::Value::Null,
            SqlValue::Integer(i) => wit::Value::Integer(*i),
            SqlValue::Real(f) => wit::Value::Real(*f),
            SqlValue::Text(s) => wit::Value::Text(s.clone()),
            SqlValue::Blob(b) => wit::Value::Blob(b.clone()),
        }
    }

    fn from_wit(v: wit::Value) -> Self {
        match v {
            wit::Value::Null => SqlValue::Null,
            wit::Value::Integer(i) => SqlValue::Integer(i),
            wit::Value::Real(f) => SqlValue::Real(f),
            wit::Value::Text(s) => SqlValue::Text(s),
            wit::Value::Blob(b) => SqlValue::Blob(b),
        }
    }

    /// The value as JSON (a BLOB as an array of byte values), for deserializing rows.
    fn to_json(&self) -> serde_json::Value {
        match self {
            SqlValue::Null => serde_json::Value::Null,
            SqlValue::Integer(i) => (*i).into(),
            SqlValue::Real(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            SqlValue::Text(s) => s.clone().into(),
            SqlValue::Blob(b) => b.iter().map(|&x| serde_json::Value::from(x)).collect(),
        }
    }

    /// The integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for SqlValue {
            fn from(v: $t) -> Self {
                SqlValue::Integer(v.into())
            }
        }
    )*};
}
from_integer!(i8, i16, i32, i64, u8, u16, u32, bool);

impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Real(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(v: Vec<u8>) -> Self {
        SqlValue::Blob(v)
    }
}

impl From<&[u8]> for SqlValue {
    fn from(v: &[u8]) -> Self {
        SqlValue::Blob(v.to_vec())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// The rows of a query's last statement, handed out one at a time.
///
/// As an [`Iterator`] it yields [`Row`]s; [`rows`](Self::rows) yields them deserialized, one at
/// a time (the streaming form); [`to_vec`](Self::to_vec) and [`one`](Self::one) collect.
#[derive(Debug)]
pub struct Cursor {
    columns: Vec<String>,
    rows: std::vec::IntoIter<Vec<wit::Value>>,
    rows_read: u64,
    rows_written: u64,
}

impl Cursor {
    /// The names of the result's columns.
    pub fn column_names(&self) -> &[String] {
        &self.columns
    }

    /// Rows the query's statements read.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Rows they inserted, updated or deleted.
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }

    /// The remaining rows, each deserialized from an object of column → value (a BLOB is an
    /// array of bytes), one at a time.
    pub fn rows<T: DeserializeOwned>(self) -> impl Iterator<Item = Result<T>> {
        let columns = self.columns;
        self.rows
            .map(move |values| decode_row(&columns, values.into_iter().map(SqlValue::from_wit)))
    }

    /// Every remaining row, deserialized.
    pub fn to_vec<T: DeserializeOwned>(self) -> Result<Vec<T>> {
        self.rows().collect()
    }

    /// The only row, deserialized; an error unless exactly one remains.
    pub fn one<T: DeserializeOwned>(mut self) -> Result<T> {
        let row = self.rows.next();
        match (row, self.rows.len()) {
            (None, _) => Err(Error::msg(
                "expected exactly one result from the SQL query, but got no results",
            )),
            (Some(_), n) if n > 0 => Err(Error::msg(
                "expected exactly one result from the SQL query, but got multiple results",
            )),
            (Some(values), _) => {
                decode_row(&self.columns, values.into_iter().map(SqlValue::from_wit))
            }
        }
    }

    /// The remaining rows as vectors of values.
    pub fn raw(self) -> impl Iterator<Item = Vec<SqlValue>> {
        self.rows
            .map(|values| values.into_iter().map(SqlValue::from_wit).collect())
    }
}

impl Iterator for Cursor {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        let values = self.rows.next()?;
        Some(Row {
            values: values.into_iter().map(SqlValue::from_wit).collect(),
        })
    }
}

/// One row: its values in column order.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    values: Vec<SqlValue>,
}

impl Row {
    /// The value of column `index`.
    pub fn get(&self, index: usize) -> Option<&SqlValue> {
        self.values.get(index)
    }

    /// The values in column order.
    pub fn values(&self) -> &[SqlValue] {
        &self.values
    }
}

fn decode_row<T: DeserializeOwned>(
    columns: &[String],
    values: impl Iterator<Item = SqlValue>,
) -> Result<T> {
    let object: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .cloned()
        .zip(values.map(|v| v.to_json()))
        .collect();
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| Error::with_source(format!("a row of the SQL result does not fit: {e}"), e))
}

/// Why an [`Sql::exec`] failed. Nothing of the call was kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    pub kind: SqlErrorKind,
    /// For people: SQLite's message and code (`...: SQLITE_CONSTRAINT`), or the rule or limit.
    pub message: String,
}

/// The kinds of [`SqlError`] (the WIT `sql.error-kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlErrorKind {
    /// SQLite's own error: syntax, a constraint, one of its limits.
    Sqlite,
    /// A statement Holdfast does not run (`BEGIN`, `ATTACH`, `VACUUM`, a PRAGMA outside the
    /// allow-list, a `_cf_`/`_hf_` name).
    NotAllowed,
    /// Past a limit of one call (query bytes, bindings, result size, pages per event).
    TooLarge,
    /// The database reached its size limit.
    Full,
    /// The class is key-value backed.
    NotSqlite,
    /// The arguments do not fit the query.
    InvalidArgument,
}

impl SqlError {
    fn from_wit(e: wit::SqlError) -> Self {
        let kind = match e.kind {
            wit::ErrorKind::Sqlite => SqlErrorKind::Sqlite,
            wit::ErrorKind::NotAllowed => SqlErrorKind::NotAllowed,
            wit::ErrorKind::TooLarge => SqlErrorKind::TooLarge,
            wit::ErrorKind::Full => SqlErrorKind::Full,
            wit::ErrorKind::NotSqlite => SqlErrorKind::NotSqlite,
            wit::ErrorKind::InvalidArgument => SqlErrorKind::InvalidArgument,
        };
        SqlError {
            kind,
            message: e.message,
        }
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}
