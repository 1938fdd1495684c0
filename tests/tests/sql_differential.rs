//! A differential property test of SQL storage: random events of SQL statements (DDL, inserts,
//! updates, deletes, selects), nested transactions rolled back or kept, and failed events, run
//! on Holdfast (through the `sqler` guest, the object sometimes evicted between events) and on
//! a plain in-memory SQLite that applies only the events that succeeded. After every event both
//! hold the same rows, and every statement gave the same result.

use holdfast_tests::{ADMIN_TOKEN, Server, admin_config, class, guest};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use rusqlite::Connection;
use serde_json::{Value, json};

/// One statement of an event.
#[derive(Debug, Clone)]
enum Stmt {
    Upsert(i64, String, i64),
    Bump(i64, i64),
    Delete(i64),
    CreateExtra,
    DropExtra,
    InsertExtra(i64),
    CreateIndex,
    DropIndex,
    Select(i64),
    /// A nested transaction: its statements, rolled back or kept.
    Nested(Vec<Stmt>, bool),
}

impl Stmt {
    fn sql(&self) -> (&'static str, Vec<Value>) {
        match self {
            Stmt::Upsert(k, v, n) => (
                "INSERT INTO t(k, v, n) VALUES (?, ?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v, n = t.n + excluded.n",
                vec![json!(k), json!(v), json!(n)],
            ),
            Stmt::Bump(m, d) => (
                "UPDATE t SET n = n + ? WHERE k % 4 = ?",
                vec![json!(d), json!(m)],
            ),
            Stmt::Delete(k) => ("DELETE FROM t WHERE k = ?", vec![json!(k)]),
            Stmt::CreateExtra => ("CREATE TABLE IF NOT EXISTS extra(a INTEGER)", vec![]),
            Stmt::DropExtra => ("DROP TABLE IF EXISTS extra", vec![]),
            Stmt::InsertExtra(a) => ("INSERT INTO extra VALUES (?)", vec![json!(a)]),
            Stmt::CreateIndex => ("CREATE INDEX IF NOT EXISTS tn ON t(n)", vec![]),
            Stmt::DropIndex => ("DROP INDEX IF EXISTS tn", vec![]),
            Stmt::Select(n) => (
                "SELECT k, v, n FROM t WHERE n >= ? ORDER BY k",
                vec![json!(n)],
            ),
            Stmt::Nested(..) => unreachable!("nested transactions are not one statement"),
        }
    }
}

fn stmt() -> impl Strategy<Value = Stmt> {
    let leaf = prop_oneof![
        4 => (0i64..12, "[a-z]{0,6}", -5i64..5).prop_map(|(k, v, n)| Stmt::Upsert(k, v, n)),
        2 => (0i64..4, -3i64..3).prop_map(|(m, d)| Stmt::Bump(m, d)),
        2 => (0i64..12).prop_map(Stmt::Delete),
        1 => Just(Stmt::CreateExtra),
        1 => Just(Stmt::DropExtra),
        2 => (0i64..100).prop_map(Stmt::InsertExtra),
        1 => Just(Stmt::CreateIndex),
        1 => Just(Stmt::DropIndex),
        2 => (-3i64..3).prop_map(Stmt::Select),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        (prop::collection::vec(inner, 1..4), any::<bool>())
            .prop_map(|(body, rollback)| Stmt::Nested(body, rollback))
    })
}

#[derive(Debug, Clone)]
struct Event {
    stmts: Vec<Stmt>,
    /// The event fails after its statements.
    fails: bool,
    /// The object leaves memory before the event.
    evict_before: bool,
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop::collection::vec(stmt(), 1..6),
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(stmts, fails, evict_before)| Event {
            stmts,
            fails,
            evict_before,
        })
}

/// The sqler script of statements: every statement is a `try` (its result or error recorded).
fn script(stmts: &[Stmt]) -> Vec<Value> {
    stmts
        .iter()
        .map(|s| match s {
            Stmt::Nested(body, true) => json!({"tx_rollback": script(body)}),
            Stmt::Nested(body, false) => json!({"tx": script(body)}),
            s => {
                let (q, p) = s.sql();
                json!({"try": [q, p]})
            }
        })
        .collect()
}

fn model_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef::*;
    match v {
        Null => Value::Null,
        Integer(i) => json!(i),
        Real(f) => json!({"real": f}),
        Text(t) => json!(String::from_utf8_lossy(t)),
        Blob(b) => json!({"blob": b}),
    }
}

/// Runs statements on the model, recording what sqler records.
fn model_run(db: &Connection, stmts: &[Stmt], out: &mut Vec<Value>, depth: &mut u32) {
    for s in stmts {
        match s {
            Stmt::Nested(body, rollback) => {
                *depth += 1;
                let sp = format!("sp{depth}");
                db.execute_batch(&format!("SAVEPOINT {sp}")).unwrap();
                model_run(db, body, out, depth);
                if *rollback {
                    db.execute_batch(&format!("ROLLBACK TO {sp}; RELEASE {sp}"))
                        .unwrap();
                    out.push(json!({"rolled_back": true}));
                } else {
                    db.execute_batch(&format!("RELEASE {sp}")).unwrap();
                }
                *depth -= 1;
            }
            s => {
                let (q, params) = s.sql();
                let params: Vec<rusqlite::types::Value> = params
                    .iter()
                    .map(|p| match p {
                        Value::Number(n) => rusqlite::types::Value::Integer(n.as_i64().unwrap()),
                        Value::String(s) => rusqlite::types::Value::Text(s.clone()),
                        _ => rusqlite::types::Value::Null,
                    })
                    .collect();
                let result = (|| -> rusqlite::Result<Value> {
                    let mut stmt = db.prepare(q)?;
                    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
                    let n = columns.len();
                    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                    let mut out = Vec::new();
                    while let Some(r) = rows.next()? {
                        out.push(Value::Array(
                            (0..n).map(|i| model_value(r.get_ref(i).unwrap())).collect(),
                        ));
                    }
                    Ok(json!({"columns": columns, "rows": out}))
                })();
                out.push(match result {
                    Ok(v) => v,
                    Err(_) => json!({"error": true}),
                });
            }
        }
    }
}

/// What sqler recorded, reduced to what the model can say (rows, or that it failed).
fn comparable(results: &Value) -> Vec<Value> {
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            if r.get("error").is_some() {
                json!({"error": true})
            } else if r.get("rolled_back").is_some() {
                r.clone()
            } else {
                json!({"columns": r["columns"], "rows": r["rows"]})
            }
        })
        .collect()
}

const STATE: &str = "SELECT 't', k, v, n FROM t UNION ALL SELECT 'schema', name, type, NULL FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY 1, 2";

fn model_state(db: &Connection) -> Value {
    let mut stmt = db.prepare(STATE).unwrap();
    let rows: Vec<Value> = stmt
        .query_map([], |r| {
            Ok(Value::Array(
                (0..4).map(|i| model_value(r.get_ref(i).unwrap())).collect(),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    Value::Array(rows)
}

struct Harness {
    server: Server,
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Harness {
    fn start() -> Harness {
        Harness {
            server: Server::start(&format!(
                "{}{}",
                admin_config(),
                class("sql", "Sqler", &guest("sqler"))
            ))
            .unwrap(),
            rt: tokio::runtime::Runtime::new().unwrap(),
            client: holdfast_tests::client(),
        }
    }

    fn ops(&self, object: &str, script: Value) -> (u16, Value) {
        self.rt.block_on(async {
            let r = self
                .client
                .post(self.server.url(&format!("/sql/{object}/ops")))
                .json(&script)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        })
    }

    fn evict(&self, object: &str) {
        self.rt.block_on(async {
            let r = self
                .client
                .post(
                    self.server
                        .url(&format!("/_/admin/objects/sql/{object}/evict")),
                )
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        })
    }
}

/// One case: a fresh object, the events on it and on the model, compared after each.
fn check(h: &Harness, object: &str, events: &[Event]) -> Result<(), TestCaseError> {
    let model = Connection::open_in_memory().unwrap();
    let schema = "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, n INTEGER NOT NULL)";
    model.execute_batch(schema).unwrap();
    let (status, body) = h.ops(object, json!([{"exec": [schema, []]}]));
    prop_assert_eq!(status, 200, "{}", body);
    for (i, e) in events.iter().enumerate() {
        if e.evict_before {
            h.evict(object);
        }
        let mut s = script(&e.stmts);
        if e.fails {
            s.push(json!({"fail": "the event fails"}));
        }
        let (status, body) = h.ops(object, Value::Array(s));
        model.execute_batch("SAVEPOINT event").unwrap();
        let mut want = Vec::new();
        model_run(&model, &e.stmts, &mut want, &mut 0);
        if e.fails {
            model
                .execute_batch("ROLLBACK TO event; RELEASE event")
                .unwrap();
            prop_assert_eq!(status, 500, "event {} should fail: {}", i, body);
        } else {
            model.execute_batch("RELEASE event").unwrap();
            prop_assert_eq!(status, 200, "event {}: {}", i, body);
            prop_assert_eq!(comparable(&body["results"]), want, "event {} results", i);
        }
        let (status, got) = h.ops(object, json!([{"exec": [STATE, []]}]));
        prop_assert_eq!(status, 200, "{}", got);
        prop_assert_eq!(
            &got["results"][0]["rows"],
            &model_state(&model),
            "state after event {}",
            i
        );
    }
    let (_, check) = h.ops(object, json!([{"exec": ["PRAGMA integrity_check", []]}]));
    prop_assert_eq!(&check["results"][0]["rows"], &json!([["ok"]]));
    Ok(())
}

#[test]
fn holdfast_matches_sqlite_applying_only_successful_events() {
    // One server for every case (owned here, so it stops with the test), a fresh object each.
    let h = Harness::start();
    let case = std::cell::Cell::new(0u64);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    let result = runner.run(&prop::collection::vec(event(), 1..10), |events| {
        case.set(case.get() + 1);
        check(&h, &format!("case{}", case.get()), &events)
    });
    if let Err(e) = result {
        panic!("{e}\n{}", h.server.log());
    }
}
