//! `holdfast:object/sql`: forwards to the object's SQL database on its storage view. A refused
//! statement becomes the WIT `sql-error` value; a store failure traps the guest and is
//! recorded, so the event fails as the host failure it is.

use wasmtime::Result;

use crate::runtime::bindings::sql;
use crate::runtime::store_data::StoreData;
use crate::store::{SqlOutput, SqlRefusal, SqlResult, SqlValue};

type Guest<T> = std::result::Result<T, sql::SqlError>;

fn to_wit(e: SqlRefusal) -> sql::SqlError {
    let kind = match &e {
        SqlRefusal::Sqlite { .. } => sql::ErrorKind::Sqlite,
        SqlRefusal::NotAllowed(_) => sql::ErrorKind::NotAllowed,
        SqlRefusal::TooLarge(_) => sql::ErrorKind::TooLarge,
        SqlRefusal::Full { .. } => sql::ErrorKind::Full,
        SqlRefusal::NotSqlite { .. } => sql::ErrorKind::NotSqlite,
        SqlRefusal::InvalidArgument(_) => sql::ErrorKind::InvalidArgument,
    };
    sql::SqlError {
        kind,
        message: e.to_string(),
    }
}

fn from_wit(v: sql::Value) -> SqlValue {
    match v {
        sql::Value::Null => SqlValue::Null,
        sql::Value::Integer(i) => SqlValue::Integer(i),
        sql::Value::Real(f) => SqlValue::Real(f),
        sql::Value::Text(s) => SqlValue::Text(s),
        sql::Value::Blob(b) => SqlValue::Blob(b),
    }
}

fn value_to_wit(v: SqlValue) -> sql::Value {
    match v {
        SqlValue::Null => sql::Value::Null,
        SqlValue::Integer(i) => sql::Value::Integer(i),
        SqlValue::Real(f) => sql::Value::Real(f),
        SqlValue::Text(s) => sql::Value::Text(s),
        SqlValue::Blob(b) => sql::Value::Blob(b),
    }
}

fn rows_to_wit(o: SqlOutput) -> sql::Rows {
    sql::Rows {
        columns: o.columns,
        rows: o
            .rows
            .into_iter()
            .map(|r| r.into_iter().map(value_to_wit).collect())
            .collect(),
        rows_read: o.rows_read,
        rows_written: o.rows_written,
    }
}

impl StoreData {
    fn lift_sql<T, U>(&mut self, r: SqlResult<T>, f: impl FnOnce(T) -> U) -> Result<Guest<U>> {
        match r {
            Ok(inner) => Ok(inner.map(f).map_err(to_wit)),
            Err(e) => Err(self.fault(e)),
        }
    }
}

impl sql::Host for StoreData {
    fn exec(&mut self, query: String, params: Vec<sql::Value>) -> Result<Guest<sql::Rows>> {
        let params: Vec<SqlValue> = params.into_iter().map(from_wit).collect();
        let r = self.storage()?.sql_exec(&query, &params);
        self.lift_sql(r, rows_to_wit)
    }

    fn database_size(&mut self) -> Result<Guest<u64>> {
        let r = self.storage()?.sql_size();
        self.lift_sql(r, |n| n)
    }
}
