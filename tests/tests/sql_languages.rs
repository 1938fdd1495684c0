//! The SQL API of the JavaScript SDK (Cloudflare's `ctx.storage.sql`) and of the Python SDK
//! (`self.state.storage.sql`), end to end through their test guests.

use anyhow::Result;
use holdfast_tests::{Server, built, class, client};
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "{}{}",
        class("js", "SqlProbe", &built("target/js-guests/sql.wasm")),
        class("py", "PySql", &built("target/py-guests/sql.wasm")),
    )
}

async fn post(c: &reqwest::Client, s: &Server, path: &str, body: Value) -> Result<(u16, Value)> {
    let r = c.post(s.url(path)).json(&body).send().await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

#[tokio::test]
async fn javascript_has_cloudflares_sql_api() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let (status, seen) = post(&c, &s, "/js/a/tour", json!(null)).await?;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["returning"], json!([{"id": 1}, {"id": 2}, {"id": 3}]));
    assert_eq!(seen["rowsWritten"], 3);
    assert_eq!(seen["columnNames"], json!(["id", "name", "data"]));
    assert_eq!(
        seen["first"],
        json!({"id": 1, "name": "ada", "data": [1, 2, 255]})
    );
    assert_eq!(
        seen["rawRest"],
        json!([[2, "grace", null], [3, "linus", null]])
    );
    assert_eq!(seen["doneAfter"], true);
    assert_eq!(seen["iterated"], json!(["linus", "grace", "ada"]));
    assert_eq!(seen["one"], json!({"n": 3}));
    assert_eq!(seen["rowsRead"], 3);
    assert_eq!(seen["real"], json!({"x": 1.5, "y": 7, "z": null}));
    assert_eq!(seen["bigint"], json!(1_099_511_627_776i64));
    assert!(seen["databaseSize"].as_u64().unwrap() >= 3 * 4096, "{seen}");
    assert_eq!(seen["transactionError"], "undo");
    assert_eq!(seen["afterRollback"], json!({"scores": 0, "inside": null}));
    assert_eq!(
        seen["afterCommit"],
        json!([{"player": "grace", "points": 20}])
    );
    let e = &seen["errors"];
    assert_eq!(e["begin"]["kind"], "not-allowed");
    assert!(
        e["begin"]["message"]
            .as_str()
            .unwrap()
            .starts_with("BEGIN, COMMIT and ROLLBACK: transactions are not allowed in exec()"),
        "{e}"
    );
    assert_eq!(
        e["syntax"],
        json!({"name": "Error", "kind": "sqlite", "message": "near \"SELEC\": syntax error at offset 0: SQLITE_ERROR"})
    );
    assert_eq!(
        e["constraint"]["message"],
        "UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT"
    );
    assert_eq!(
        e["oneOfNone"]["message"],
        "Expected exactly one result from SQL query, but got no results."
    );
    assert_eq!(
        e["oneOfMany"]["message"],
        "Expected exactly one result from SQL query, but got multiple results."
    );
    assert_eq!(
        e["boolean"],
        json!({"name": "TypeError", "kind": null, "message": "binding 1 is a boolean: SQL takes 1 or 0"})
    );
    assert_eq!(
        e["undefined"]["message"],
        "binding 1 is undefined: bind null for SQL NULL"
    );
    assert_eq!(
        e["object"]["message"],
        "binding 1 is Object: SQL bindings are strings, numbers, null or ArrayBuffers"
    );
    assert_eq!(e["reserved"]["kind"], "not-allowed");
    assert_eq!(e["pragma"]["kind"], "not-allowed");

    // An ArrayBuffer binding round-trips; several statements apply bindings to the last.
    let (status, got) = post(
        &c,
        &s,
        "/js/b/exec",
        json!({"query": "CREATE TABLE b(x BLOB); INSERT INTO b VALUES (?) RETURNING x", "bindings": [{"buffer": [9, 8, 7]}]}),
    )
    .await?;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["rows"], json!([[{"buffer": [9, 8, 7]}]]));
    assert_eq!(got["rowsWritten"], 1);

    // A throwing event keeps neither its SQL nor its key-value writes.
    let (status, _) = post(&c, &s, "/js/c/fail", json!(null)).await?;
    assert_eq!(status, 500);
    let count = c
        .get(s.url("/js/c/count"))
        .send()
        .await?
        .json::<Value>()
        .await?;
    assert_eq!(count, json!({"rows": 0, "key": null}));
    Ok(())
}

#[tokio::test]
async fn python_has_the_sql_api_with_dicts_and_tuples() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let (status, seen) = post(&c, &s, "/py/a/tour", json!(null)).await?;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["returning"], json!([{"id": 1}, {"id": 2}]));
    assert_eq!(seen["rows_written"], 2);
    assert_eq!(
        seen["dicts"],
        json!([{"id": 1, "name": "ada"}, {"id": 2, "name": "grace"}])
    );
    assert_eq!(seen["tuples"], json!([[1, "ada"], [2, "grace"]]));
    assert_eq!(seen["one"], json!({"n": 2}));
    assert_eq!(seen["blob"], json!([0, 255]));
    assert!(
        seen["database_size"].as_u64().unwrap() >= 2 * 4096,
        "{seen}"
    );
    assert_eq!(seen["after_rollback"], json!({"rows": 2, "inside": null}));
    let e = &seen["errors"];
    assert_eq!(e["begin"]["kind"], "not-allowed");
    assert_eq!(
        e["syntax"],
        json!({"kind": "sqlite", "message": "near \"SELEC\": syntax error at offset 0: SQLITE_ERROR"})
    );
    assert_eq!(
        e["bindings"],
        json!({"kind": "invalid-argument", "message": "the query takes 2 bindings, got 1"})
    );
    assert_eq!(e["bool"], "binding 1 is a bool: SQL takes 1 or 0");

    let (status, got) = post(
        &c,
        &s,
        "/py/a/exec",
        json!({"query": "SELECT ? AS b, ? AS t, ? AS r, ? AS n", "bindings": [{"bytes": [1, 2]}, "x", 0.5, null]}),
    )
    .await?;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["dicts"],
        json!([{"b": {"bytes": [1, 2]}, "t": "x", "r": 0.5, "n": null}])
    );

    let (status, _) = post(&c, &s, "/py/a/fail", json!(null)).await?;
    assert_eq!(status, 500);
    let (_, got) = post(
        &c,
        &s,
        "/py/a/exec",
        json!({"query": "SELECT count(*) AS n FROM t"}),
    )
    .await?;
    assert_eq!(got["dicts"], json!([{"n": 2}]));
    Ok(())
}
