//! Test guest for SQL storage: `POST /ops` runs a JSON script in one event.
//!
//! - `{"exec": [query, [params]]}`: runs the query; a failure fails the event (500 with it);
//!   records `{"columns", "rows", "read", "written"}`.
//! - `{"try": [query, [params]]}`: the same, recording `{"error": {"kind", "message"}}` instead
//!   of failing.
//! - `{"put": [key, value]}`, `{"get": key}` (recorded), `{"delete_all": null}`.
//! - `{"tx": [ops]}`: the ops in `Storage::transaction`; `{"tx_rollback": [ops]}`: the ops,
//!   then rolled back (recorded as `{"rolled_back": true}`).
//! - `{"size": null}`: records the database size; `{"fail": message}`: fails the event.
//!
//! Parameters and values: JSON integers, strings and null as themselves; `{"real": x}`;
//! `{"blob": [bytes]}`.

use holdfast_sdk::{
    DurableObject, Error, Method, Request, Response, Result, SqlValue, State, Storage,
    durable_object,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[durable_object]
struct Sqler {
    state: State,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Op {
    Exec(String, #[serde(default)] Vec<Value>),
    Try(String, #[serde(default)] Vec<Value>),
    Put(String, Value),
    Get(String),
    DeleteAll,
    Tx(Vec<Op>),
    TxRollback(Vec<Op>),
    Size,
    Fail(String),
}

fn param(v: &Value) -> Result<SqlValue> {
    Ok(match v {
        Value::Null => SqlValue::Null,
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Object(o) if o.contains_key("real") => SqlValue::Real(
            o["real"]
                .as_f64()
                .ok_or_else(|| Error::msg("real: a number"))?,
        ),
        Value::Object(o) if o.contains_key("blob") => SqlValue::Blob(
            serde_json::from_value(o["blob"].clone())
                .map_err(|e| Error::msg(format!("blob: {e}")))?,
        ),
        other => return Err(Error::msg(format!("not a parameter: {other}"))),
    })
}

fn value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => json!(i),
        SqlValue::Real(f) => json!({ "real": f }),
        SqlValue::Text(s) => json!(s),
        SqlValue::Blob(b) => json!({ "blob": b }),
    }
}

impl Sqler {
    fn exec(&self, query: &str, params: &[Value]) -> Result<std::result::Result<Value, Value>> {
        let params = params.iter().map(param).collect::<Result<Vec<_>>>()?;
        Ok(match self.state.sql().exec(query, &params) {
            Ok(cursor) => {
                let columns = cursor.column_names().to_vec();
                let (read, written) = (cursor.rows_read(), cursor.rows_written());
                let rows: Vec<Value> = cursor
                    .raw()
                    .map(|r| Value::Array(r.iter().map(value).collect()))
                    .collect();
                Ok(json!({ "columns": columns, "rows": rows, "read": read, "written": written }))
            }
            Err(e) => {
                Err(json!({ "error": { "kind": format!("{:?}", e.kind), "message": e.message } }))
            }
        })
    }

    fn run(&self, storage: &Storage, ops: Vec<Op>, out: &mut Vec<Value>) -> Result<()> {
        for op in ops {
            match op {
                Op::Exec(q, p) => match self.exec(&q, &p)? {
                    Ok(v) => out.push(v),
                    Err(e) => return Err(Error::msg(format!("exec failed: {e}"))),
                },
                Op::Try(q, p) => out.push(match self.exec(&q, &p)? {
                    Ok(v) | Err(v) => v,
                }),
                Op::Put(k, v) => storage.put(&k, &v)?,
                Op::Get(k) => out.push(storage.get::<Value>(&k)?.unwrap_or(Value::Null)),
                Op::DeleteAll => storage.delete_all(),
                Op::Tx(ops) => storage.transaction(|s| self.run(s, ops, out))?,
                Op::TxRollback(ops) => {
                    let r: Result<()> = storage.transaction(|s| {
                        self.run(s, ops, out)?;
                        Err(Error::msg("roll back"))
                    });
                    if r.is_err() {
                        out.push(json!({ "rolled_back": true }));
                    }
                }
                Op::Size => out.push(json!(self.state.sql().database_size()?)),
                Op::Fail(m) => return Err(Error::msg(m)),
            }
        }
        Ok(())
    }
}

impl DurableObject for Sqler {
    fn new(state: State) -> Self {
        Sqler { state }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        match (req.method(), req.segments().as_slice()) {
            (Method::Post, ["ops"]) => {
                let ops: Vec<Op> = req.json()?;
                let mut out = Vec::new();
                let storage = self.state.storage();
                self.run(&storage, ops, &mut out)?;
                Ok(Response::json(&json!({ "results": out })))
            }
            _ => Ok(Response::not_found()),
        }
    }
}
