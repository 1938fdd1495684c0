//! SQL storage through the Rust SDK (the `sqler` test guest's scripts): durability across
//! restarts, one atomic event with key-value writes, savepoints, Cloudflare's rules and limits
//! with their messages, the storage backends' key-value limits, and kill -9 during writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use holdfast_tests::{Server, admin_config, class, client, eventually, guest, set_faults};
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "[server]\nmax_body_bytes = 8388608\n{}{}storage = \"kv\"\n",
        class("sql", "Sqler", &guest("sqler")),
        class("kv", "Sqler", &guest("sqler")),
    )
}

/// Runs the script `ops` on `/{route}/{object}`: (status, body).
async fn ops(
    c: &reqwest::Client,
    s: &Server,
    route: &str,
    object: &str,
    ops: Value,
) -> Result<(u16, Value)> {
    let r = c
        .post(s.url(&format!("/{route}/{object}/ops")))
        .json(&ops)
        .send()
        .await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

async fn results(c: &reqwest::Client, s: &Server, object: &str, script: Value) -> Result<Value> {
    let (status, body) = ops(c, s, "sql", object, script).await?;
    assert_eq!(status, 200, "{body}");
    Ok(body["results"].clone())
}

/// The rows of `query` on `object`.
async fn rows(c: &reqwest::Client, s: &Server, object: &str, query: &str) -> Result<Value> {
    Ok(results(c, s, object, json!([{"exec": [query, []]}])).await?[0]["rows"].clone())
}

#[tokio::test]
async fn rows_commit_with_the_event_and_survive_a_restart() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let got = results(
        &c,
        &s,
        "a",
        json!([
            {"exec": ["CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)", []]},
            {"exec": ["INSERT INTO t VALUES (?, ?, ?, ?), (2, 'b', NULL, NULL) RETURNING id", [1, "a", {"real": 2.5}, {"blob": [0, 255]}]]},
            {"put": ["k", "v"]},
            {"exec": ["SELECT * FROM t ORDER BY id", []]}
        ]),
    )
    .await?;
    assert_eq!(got[1]["rows"], json!([[1], [2]]));
    assert_eq!(got[1]["written"], 2);
    assert_eq!(got[2]["columns"], json!(["id", "name", "score", "data"]));
    assert_eq!(
        got[2]["rows"],
        json!([[1, "a", {"real": 2.5}, {"blob": [0, 255]}], [2, "b", null, null]])
    );
    assert_eq!(got[2]["read"], 2);

    // A failed event keeps none of its SQL or key-value writes.
    let (status, body) = ops(
        &c,
        &s,
        "sql",
        "a",
        json!([
            {"exec": ["INSERT INTO t(id, name) VALUES (3, 'lost')", []]},
            {"exec": ["CREATE TABLE lost(x)", []]},
            {"put": ["k", "lost"]},
            {"fail": "deliberate"}
        ]),
    )
    .await?;
    assert_eq!(status, 500, "{body}");
    let after = results(
        &c,
        &s,
        "a",
        json!([
            {"exec": ["SELECT id FROM t ORDER BY id", []]},
            {"try": ["SELECT * FROM lost", []]},
            {"get": "k"}
        ]),
    )
    .await?;
    assert_eq!(after[0]["rows"], json!([[1], [2]]));
    assert_eq!(
        after[1]["error"]["message"],
        "no such table: lost: SQLITE_ERROR"
    );
    assert_eq!(after[2], "v");

    // Durable: a restart reads the pages back from the redb file.
    let s = s.restart()?;
    assert_eq!(
        rows(&c, &s, "a", "SELECT id, name FROM t ORDER BY id").await?,
        json!([[1, "a"], [2, "b"]])
    );
    assert_eq!(
        rows(&c, &s, "a", "PRAGMA integrity_check").await?,
        json!([["ok"]])
    );
    // Objects have databases of their own.
    let other = results(&c, &s, "b", json!([{"try": ["SELECT * FROM t", []]}])).await?;
    assert_eq!(
        other[0]["error"]["message"],
        "no such table: t: SQLITE_ERROR"
    );
    Ok(())
}

#[tokio::test]
async fn a_rolled_back_transaction_undoes_sql_and_keys_together() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let got = results(
        &c,
        &s,
        "t",
        json!([
            {"exec": ["CREATE TABLE t(x)", []]},
            {"tx_rollback": [
                {"exec": ["INSERT INTO t VALUES (1)", []]},
                {"put": ["inside", 1]}
            ]},
            {"tx": [
                {"exec": ["INSERT INTO t VALUES (2)", []]},
                {"tx_rollback": [{"exec": ["INSERT INTO t VALUES (3)", []]}]},
                {"put": ["kept", 2]}
            ]},
            {"exec": ["SELECT x FROM t", []]},
            {"get": "inside"},
            {"get": "kept"}
        ]),
    )
    .await?;
    // [0] the CREATE, [1] an insert, [2] its rollback, [3] and [4] the second block's inserts.
    assert_eq!(got[2], json!({"rolled_back": true}));
    assert_eq!(got[5], json!({"rolled_back": true}));
    assert_eq!(got[6]["rows"], json!([[2]]));
    assert_eq!(got[7], Value::Null);
    assert_eq!(got[8], 2);
    assert_eq!(rows(&c, &s, "t", "SELECT x FROM t").await?, json!([[2]]));
    Ok(())
}

#[tokio::test]
async fn every_rule_and_limit_refuses_with_its_message() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    results(
        &c,
        &s,
        "r",
        json!([{"exec": ["CREATE TABLE t(a TEXT); CREATE TABLE pair(a, b)", []]}]),
    )
    .await?;
    let columns = (0..101)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let long_query = format!("SELECT '{}'", "x".repeat(100_000));
    let many: Vec<Value> = (0..101).map(|i| json!(i)).collect();
    let marks = vec!["?"; 101].join(", ");
    let cases: Vec<(Value, &str, String)> = vec![
        (json!(["BEGIN", []]), "NotAllowed", "BEGIN, COMMIT and ROLLBACK: transactions are not allowed in exec(): each event is one transaction already; use ctx.storage.transactionSync() (or transaction()) for a nested one: SQLITE_AUTH".into()),
        (json!(["COMMIT", []]), "NotAllowed", "BEGIN, COMMIT and ROLLBACK: transactions are not allowed in exec(): each event is one transaction already; use ctx.storage.transactionSync() (or transaction()) for a nested one: SQLITE_AUTH".into()),
        (json!(["SAVEPOINT s", []]), "NotAllowed", "SAVEPOINT and RELEASE: transactions are not allowed in exec(): each event is one transaction already; use ctx.storage.transactionSync() (or transaction()) for a nested one: SQLITE_AUTH".into()),
        (json!(["ATTACH DATABASE 'other.db' AS other", []]), "NotAllowed", "ATTACH and DETACH are not allowed: an object has one database: SQLITE_AUTH".into()),
        (json!(["VACUUM INTO '/tmp/copy.db'", []]), "NotAllowed", "VACUUM is not allowed: the database's free pages are reclaimed as it shrinks (auto_vacuum is on)".into()),
        (json!(["SELECT load_extension('evil')", []]), "NotAllowed", "loading extensions is not allowed: SQLITE_AUTH".into()),
        (json!(["PRAGMA writable_schema = ON", []]), "NotAllowed", format!("PRAGMA writable_schema is not allowed (allowed: {}): SQLITE_AUTH", ALLOWED)),
        (json!(["CREATE TABLE _cf_KV(k)", []]), "NotAllowed", "`_cf_KV`: names starting with _cf_ or _hf_ are reserved: SQLITE_AUTH".into()),
        (json!([format!("CREATE TABLE wide({columns})"), []]), "Sqlite", "too many columns on wide: SQLITE_ERROR".into()),
        (json!(["SELECT ?", ["x".repeat(2_000_001)]]), "Sqlite", "string or blob too big: SQLITE_TOOBIG".into()),
        (json!(["SELECT zeroblob(2000001)", []]), "Sqlite", "string or blob too big: SQLITE_TOOBIG".into()),
        // A row of two values each under the limit, together over it.
        (json!(["INSERT INTO pair VALUES (?, ?)", ["x".repeat(1_000_000), "y".repeat(1_000_001)]]), "Sqlite", "string or blob too big: SQLITE_TOOBIG".into()),
        (json!([long_query, []]), "TooLarge", "the SQL query is 100009 bytes, over the limit of 100000 bytes".into()),
        (json!([format!("SELECT {marks}"), many]), "TooLarge", "101 bindings, over the limit of 100 per query".into()),
        (json!([format!("SELECT 1 WHERE 'a' LIKE '{}'", "%".repeat(51)), []]), "Sqlite", "LIKE or GLOB pattern too complex: SQLITE_ERROR".into()),
        (json!(["SELECT ?, ?", [1]]), "InvalidArgument", "the query takes 2 bindings, got 1".into()),
        (json!(["SELEC 1", []]), "Sqlite", "near \"SELEC\": syntax error at offset 0: SQLITE_ERROR".into()),
    ];
    for (query, kind, message) in cases {
        let got = results(&c, &s, "r", json!([{"try": query.clone()}])).await?;
        let shown: String = query.to_string().chars().take(120).collect();
        assert_eq!(got[0]["error"]["kind"], kind, "{shown}: {}", got[0]);
        assert_eq!(got[0]["error"]["message"], message, "{shown}");
    }
    // 100 columns and 100 bindings are fine; nothing refused was kept.
    let hundred = (0..100)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let got = results(
        &c,
        &s,
        "r",
        json!([
            {"exec": [format!("CREATE TABLE wide({hundred})"), []]},
            {"exec": [format!("SELECT {}", vec!["?"; 100].join(", ")), (0..100).collect::<Vec<_>>()]},
            {"exec": ["SELECT name FROM sqlite_schema ORDER BY name", []]}
        ]),
    )
    .await?;
    assert_eq!(got[1]["rows"][0].as_array().unwrap().len(), 100);
    assert_eq!(got[2]["rows"], json!([["pair"], ["t"], ["wide"]]));
    Ok(())
}

const ALLOWED: &str = "table_list, table_info, table_xinfo, index_list, index_info, index_xinfo, foreign_key_list, foreign_key_check, foreign_keys, defer_foreign_keys, case_sensitive_like, ignore_check_constraints, legacy_alter_table, recursive_triggers, reverse_unordered_selects, quick_check, integrity_check, optimize, page_count, page_size, freelist_count, data_version";

#[tokio::test]
async fn key_value_limits_follow_the_storage_backend() -> Result<()> {
    let s = Server::start(&format!(
        "[server]\nmax_body_bytes = 8388608\n{}[class.limits]\nmax_sql_bytes = 409600\n{}storage = \"kv\"\n",
        class("sql", "Sqler", &guest("sqler")),
        class("kv", "Sqler", &guest("sqler")),
    ))?;
    let c = client();
    let long_key = "k".repeat(3000);
    // SQLite-backed (the default): a 3000-byte key is fine; key and value together up to 2 MB.
    results(&c, &s, "a", json!([{"put": [long_key, 1]}])).await?;
    let (status, body) = ops(
        &c,
        &s,
        "sql",
        "a",
        json!([{"put": ["big", "x".repeat(1_999_996)]}]),
    )
    .await?;
    assert_eq!(status, 500);
    assert!(
        body["error"].as_str().unwrap().contains(
            "key and value of `big` are 2000001 bytes together, over the limit of 2000000 bytes"
        ),
        "{body}"
    );
    // Key-value backed: Cloudflare's 2 KiB keys, and no SQL.
    let (status, body) = ops(&c, &s, "kv", "a", json!([{"put": [long_key, 1]}])).await?;
    assert_eq!(status, 500);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("key is 3000 bytes, over the limit of 2048 bytes"),
        "{body}"
    );
    let (_, body) = ops(&c, &s, "kv", "a", json!([{"try": ["SELECT 1", []]}])).await?;
    assert_eq!(body["results"][0]["error"]["kind"], "NotSqlite");
    assert_eq!(
        body["results"][0]["error"]["message"],
        "SQL storage is not available: namespace `kv` is key-value backed; declare its class in `new_sqlite_classes` (wrangler) or set `storage = \"sqlite\"` on its [[class]] (holdfast.toml)"
    );
    // The database size limit of the class: a full database fails the event whole, clearly.
    let (status, body) = ops(
        &c,
        &s,
        "sql",
        "full",
        json!([
            {"exec": ["CREATE TABLE t(x)", []]},
            {"exec": ["WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO t SELECT zeroblob(3000) FROM n", []]}
        ]),
    )
    .await?;
    assert_eq!(status, 500);
    assert!(
        body["error"].as_str().unwrap().contains("the object's SQL database is full: it may hold at most 409600 bytes (limits.max_sql_bytes)"),
        "{body}"
    );
    let got = results(
        &c,
        &s,
        "full",
        json!([{"try": ["SELECT count(*) FROM t", []]}, {"size": null}]),
    )
    .await?;
    assert_eq!(got[0]["error"]["message"], "no such table: t: SQLITE_ERROR");
    Ok(())
}

#[tokio::test]
async fn kill9_during_sql_writes_loses_no_acknowledged_row() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    for o in 0..4 {
        results(
            &c,
            &s,
            &format!("o{o}"),
            json!([{"exec": ["CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB)", []]}]),
        )
        .await?;
    }
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for o in 0..4 {
        let (c, url, acked, stop) = (
            c.clone(),
            s.url(&format!("/sql/o{o}/ops")),
            acked.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut next = 1u64;
            while !stop.load(Ordering::SeqCst) {
                let script =
                    json!([{"exec": ["INSERT INTO t VALUES (?, randomblob(3000))", [next]]}]);
                match c.post(&url).json(&script).send().await {
                    Ok(r) if r.status() == 200 => {
                        acked[o].store(next, Ordering::SeqCst);
                        next += 1;
                    }
                    _ => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = s.kill9_and_restart()?;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await?;
    }
    for o in 0..4 {
        let object = format!("o{o}");
        let want = acked[o].load(Ordering::SeqCst);
        assert!(want > 5, "writer {o} got only {want} rows acknowledged");
        let got = results(
            &c,
            &s,
            &object,
            json!([
                {"exec": ["SELECT count(*), min(id), max(id) FROM t WHERE id <= ?", [want]]},
                {"exec": ["PRAGMA integrity_check", []]}
            ]),
        )
        .await?;
        assert_eq!(got[0]["rows"], json!([[want, 1, want]]), "object {object}");
        assert_eq!(got[1]["rows"], json!([["ok"]]), "object {object}");
    }
    Ok(())
}

#[tokio::test]
async fn an_event_writing_more_pages_than_its_budget_fails_whole() -> Result<()> {
    let s = Server::start(&format!(
        "{}[class.limits]\nmax_event_write_bytes = 1048576\n",
        class("sql", "Sqler", &guest("sqler"))
    ))?;
    let c = client();
    results(
        &c,
        &s,
        "b",
        json!([{"exec": ["CREATE TABLE t(x BLOB)", []]}]),
    )
    .await?;
    let (status, body) = ops(
        &c,
        &s,
        "sql",
        "b",
        json!([
            {"put": ["k", 1]},
            {"exec": ["WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600) INSERT INTO t SELECT randomblob(3000) FROM n", []]}
        ]),
    )
    .await?;
    assert_eq!(status, 500, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("this event's SQL writes reach")
            && error.contains(
                "over the limit of 1048576 bytes per event (limits.max_event_write_bytes)"
            ),
        "{error}"
    );
    let got = results(
        &c,
        &s,
        "b",
        json!([{"exec": ["SELECT count(*) FROM t", []]}, {"get": "k"}]),
    )
    .await?;
    assert_eq!(got[0]["rows"], json!([[0]]));
    assert_eq!(got[1], Value::Null);
    // A smaller event is fine.
    results(
        &c,
        &s,
        "b",
        json!([{"exec": ["INSERT INTO t SELECT randomblob(3000)", []]}]),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_failed_commit_of_sql_pages_keeps_nothing_and_the_database_recovers() -> Result<()> {
    let s = Server::start_with_faults(&format!(
        "{}{}",
        admin_config(),
        class("sql", "Sqler", &guest("sqler"))
    ))?;
    let c = client();
    results(
        &c,
        &s,
        "f",
        json!([
            {"exec": ["CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB)", []]},
            {"exec": ["INSERT INTO t VALUES (1, randomblob(2000))", []]}
        ]),
    )
    .await?;
    set_faults(&c, &s, json!({"fail": "full"})).await?;
    let (status, body) = ops(
        &c,
        &s,
        "sql",
        "f",
        json!([{"exec": ["INSERT INTO t SELECT id + 1, randomblob(2000) FROM t", []]}]),
    )
    .await?;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nothing of this event was kept"),
        "{body}"
    );
    set_faults(&c, &s, json!({"fail": null})).await?;
    eventually(Duration::from_secs(10), || async {
        let r = c.get(s.url("/_/health")).send().await?;
        Ok((r.status() == 200).then_some(()))
    })
    .await?;
    // The lost event's pages are gone from the object's memory too: it reads committed state.
    let got = results(
        &c,
        &s,
        "f",
        json!([
            {"exec": ["SELECT id FROM t ORDER BY id", []]},
            {"exec": ["PRAGMA integrity_check", []]},
            {"exec": ["INSERT INTO t VALUES (7, randomblob(10))", []]}
        ]),
    )
    .await?;
    assert_eq!(got[0]["rows"], json!([[1]]));
    assert_eq!(got[1]["rows"], json!([["ok"]]));
    let s = s.restart()?;
    assert_eq!(
        rows(&c, &s, "f", "SELECT id FROM t ORDER BY id").await?,
        json!([[1], [7]])
    );
    Ok(())
}
