//! Benchmark guest for SQL storage (holdfast-bench's SQL phase):
//!
//! - `POST /kv-increment`: a key-value counter (as examples/counter) → `{"value"}`
//! - `POST /sql-increment`: `UPDATE counters SET v = v + 1 ... RETURNING v` → `{"value"}`
//! - `POST /point-selects?n=N`: N point `SELECT`s by primary key in one event over 1,000 rows,
//!   timed by the guest → `{"ns_per_query"}`
//! - `POST /insert?rows=N`: N single-row `INSERT`s in one event → `{"rows"}`
//! - `POST /fill?mib=N`: N MiB of 1 KiB rows with an indexed key, in one event → `{"rows"}`
//! - `GET /lookup?key=K`: one indexed query → `{"id"}`

use std::time::Instant;

use holdfast_sdk::{
    DurableObject, Error, Method, Request, Response, Result, State, durable_object,
};
use serde_json::json;

#[durable_object]
struct SqlBench {
    state: State,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS counters(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
    INSERT OR IGNORE INTO counters VALUES ('c', 0);
    CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS bulk(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, payload TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS big(id INTEGER PRIMARY KEY, key TEXT NOT NULL, pad BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS big_by_key ON big(key);
";

fn number(req: &Request, name: &str, default: i64) -> Result<i64> {
    match req.query(name) {
        None => Ok(default),
        Some(t) => t
            .parse()
            .map_err(|_| Error::msg(format!("{name} must be an integer"))),
    }
}

impl DurableObject for SqlBench {
    fn new(state: State) -> Self {
        state.sql().exec(SCHEMA, &[]).expect("schema");
        SqlBench { state }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        let sql = self.state.sql();
        match (req.method(), req.segments().as_slice()) {
            (Method::Post, ["kv-increment"]) => {
                let storage = self.state.storage();
                let value = storage.get::<i64>("value")?.unwrap_or(0) + 1;
                storage.put("value", &value)?;
                Ok(Response::json(&json!({ "value": value })))
            }
            (Method::Post, ["sql-increment"]) => {
                let row = sql
                    .exec(
                        "UPDATE counters SET v = v + 1 WHERE k = 'c' RETURNING v",
                        &[],
                    )?
                    .next()
                    .ok_or_else(|| Error::msg("no counter row"))?;
                Ok(Response::json(
                    &json!({ "value": row.get(0).and_then(|v| v.as_i64()) }),
                ))
            }
            (Method::Post, ["point-selects"]) => {
                let n = number(&req, "n", 1000)?;
                let have = sql
                    .exec("SELECT count(*) FROM items", &[])?
                    .next()
                    .and_then(|r| r.get(0).and_then(|v| v.as_i64()))
                    .unwrap_or(0);
                if have < 1000 {
                    sql.exec(
                        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)
                         INSERT OR IGNORE INTO items SELECT i, 'item-' || i FROM s",
                        &[],
                    )?;
                }
                let started = Instant::now();
                let mut found = 0;
                for i in 0..n {
                    let id = i % 1000 + 1;
                    if sql
                        .exec("SELECT name FROM items WHERE id = ?", &[id.into()])?
                        .next()
                        .is_some()
                    {
                        found += 1;
                    }
                }
                let ns = started.elapsed().as_nanos() as f64 / n.max(1) as f64;
                if found != n {
                    return Err(Error::msg(format!("found {found} of {n} rows")));
                }
                Ok(Response::json(&json!({ "ns_per_query": ns })))
            }
            (Method::Post, ["insert"]) => {
                let rows = number(&req, "rows", 1000)?;
                for i in 0..rows {
                    sql.exec(
                        "INSERT INTO bulk(n, payload) VALUES (?, ?)",
                        &[
                            i.into(),
                            format!("payload of row {i}, some text to store").into(),
                        ],
                    )?;
                }
                Ok(Response::json(&json!({ "rows": rows })))
            }
            (Method::Post, ["fill"]) => {
                let rows = number(&req, "mib", 10)? * 1024;
                sql.exec(
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
                     INSERT INTO big(key, pad) SELECT hex(randomblob(8)), randomblob(1000) FROM s",
                    &[rows.into()],
                )?;
                Ok(Response::json(&json!({ "rows": rows })))
            }
            (Method::Get, ["lookup"]) => {
                let key = req.query("key").unwrap_or_default();
                let id = sql
                    .exec(
                        "SELECT id FROM big WHERE key >= ? ORDER BY key LIMIT 1",
                        &[key.into()],
                    )?
                    .next()
                    .and_then(|r| r.get(0).and_then(|v| v.as_i64()));
                Ok(Response::json(&json!({ "id": id })))
            }
            _ => Ok(Response::not_found()),
        }
    }
}
