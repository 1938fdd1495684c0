//! Point-in-time recovery and fork asked for by an object's own code (the JavaScript SDK's
//! Cloudflare names, through the probe class) and by the admin API's fork: a restore waits for
//! the object's next start (after `ctx.abort()` or a restart, even after SIGKILL), a snapshot
//! makes another object of the class a copy, and every bad bookmark, snapshot or destination is
//! refused with its reason and nothing changed.

use anyhow::Result;
use holdfast_tests::{
    ADMIN_TOKEN, Server, admin_config, built, class, client, guest, now_ms, probe_get as get,
    probe_put_many as put_many,
};
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "{}{}{}{}",
        admin_config(),
        class("probe", "Probe", &built("target/js-guests/probe.wasm")),
        // The same class under another binding: forks may cross namespaces of one class.
        class("probe2", "Probe", &built("target/js-guests/probe.wasm")),
        class("tx", "Transactor", &guest("transactor")),
    )
}

/// `POST /{binding}/{object}{path}` with `body`: (status, JSON).
async fn post(c: &reqwest::Client, s: &Server, path: &str, body: Value) -> Result<(u16, Value)> {
    let r = c.post(s.url(path)).body(body.to_string()).send().await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

async fn bookmark(c: &reqwest::Client, s: &Server, object: &str) -> Result<String> {
    let v: Value = c
        .get(s.url(&format!("/probe/{object}/bookmark")))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["bookmark"].as_str().expect("a bookmark").to_owned())
}

/// Aborts the object's running instance (`ctx.abort()`): its next event starts it afresh.
async fn abort(c: &reqwest::Client, s: &Server, object: &str) -> Result<()> {
    let (status, v) = post(c, s, &format!("/probe/{object}/abort"), Value::Null).await?;
    assert_eq!(status, 500, "{v}");
    Ok(())
}

async fn sql(c: &reqwest::Client, s: &Server, object: &str, query: &str) -> Result<Value> {
    let r = c
        .post(s.url(&format!("/_/admin/objects/probe/{object}/sql")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "query": query }))
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    assert_eq!(status, 200, "{v}");
    Ok(v["rows"].clone())
}

#[tokio::test]
async fn an_object_restores_itself_to_a_bookmark_when_it_next_starts() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    put_many(&c, &s, "a", json!({"k": 1})).await?;
    sql(
        &c,
        &s,
        "a",
        "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1)",
    )
    .await?;
    let first = bookmark(&c, &s, "a").await?;
    put_many(&c, &s, "a", json!({"k": 2, "later": true})).await?;
    sql(&c, &s, "a", "INSERT INTO t VALUES (2)").await?;
    let second = bookmark(&c, &s, "a").await?;
    assert!(first < second, "in time order: {first} {second}");

    let (status, v) = post(
        &c,
        &s,
        "/probe/a/restore-bookmark",
        json!({"bookmark": first}),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    let undo = v["undo"].as_str().unwrap().to_owned();
    assert!(
        undo >= second,
        "the undo bookmark is of the state before: {undo} {second}"
    );
    // Not yet: the running instance goes on with the state it has.
    assert_eq!(get(&c, &s, "a", "k").await?, 2);
    abort(&c, &s, "a").await?;
    assert_eq!(get(&c, &s, "a", "k").await?, 1);
    assert_eq!(get(&c, &s, "a", "later").await?, Value::Null);
    assert_eq!(get(&c, &s, "a", "doomed").await?, Value::Null);
    assert_eq!(sql(&c, &s, "a", "SELECT n FROM t").await?, json!([[1]]));

    // The undo bookmark brings the later state back; a restart applies it, even after SIGKILL.
    let (status, v) = post(
        &c,
        &s,
        "/probe/a/restore-bookmark",
        json!({"bookmark": undo}),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    let s = s.kill9_and_restart()?;
    assert_eq!(get(&c, &s, "a", "k").await?, 2);
    assert_eq!(get(&c, &s, "a", "later").await?, true);
    assert_eq!(
        sql(&c, &s, "a", "SELECT n FROM t").await?,
        json!([[1], [2]])
    );
    // Applied once: the next start does not restore again.
    put_many(&c, &s, "a", json!({"k": 3})).await?;
    abort(&c, &s, "a").await?;
    assert_eq!(get(&c, &s, "a", "k").await?, 3);

    // By time, from the object's code.
    let t = now_ms();
    let (status, v) = post(
        &c,
        &s,
        &format!("/probe/a/bookmark-for-time?time={t}"),
        Value::Null,
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    assert!(v["bookmark"].as_str().unwrap() > second.as_str(), "{v}");
    Ok(())
}

#[tokio::test]
async fn a_snapshot_makes_another_object_of_the_class_a_copy() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    put_many(&c, &s, "src", json!({"k": "src's", "n": 1})).await?;
    sql(
        &c,
        &s,
        "src",
        "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (7)",
    )
    .await?;
    let (status, v) = post(&c, &s, "/probe/src/snapshot", Value::Null).await?;
    assert_eq!(status, 200, "{v}");
    let snapshot = v["snapshot"].as_str().unwrap().to_owned();
    // Writes after the snapshot are not in it.
    put_many(&c, &s, "src", json!({"n": 2, "after": true})).await?;

    put_many(&c, &s, "dst", json!({"own": 1})).await?;
    let (status, v) = post(
        &c,
        &s,
        "/probe/dst/restore-snapshot",
        json!({"snapshot": snapshot}),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    let undo = v["undo"].as_str().unwrap().to_owned();
    abort(&c, &s, "dst").await?;
    assert_eq!(get(&c, &s, "dst", "k").await?, "src's");
    assert_eq!(get(&c, &s, "dst", "n").await?, 1);
    assert_eq!(get(&c, &s, "dst", "after").await?, Value::Null);
    assert_eq!(get(&c, &s, "dst", "own").await?, Value::Null);
    assert_eq!(sql(&c, &s, "dst", "SELECT n FROM t").await?, json!([[7]]));
    assert_eq!(get(&c, &s, "src", "n").await?, 2, "the source is untouched");

    // Into another namespace of the same class, too; and the fork is undone by its bookmark.
    let (status, v) = post(
        &c,
        &s,
        "/probe2/other/restore-snapshot",
        json!({"snapshot": snapshot}),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    let (status, _) = post(&c, &s, "/probe2/other/abort", Value::Null).await?;
    assert_eq!(status, 500);
    let v: Value = c
        .get(s.url("/probe2/other/get?key=k"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(v["value"], "src's");
    let (status, v) = post(
        &c,
        &s,
        "/probe/dst/restore-bookmark",
        json!({"bookmark": undo}),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    abort(&c, &s, "dst").await?;
    assert_eq!(get(&c, &s, "dst", "own").await?, 1);
    assert_eq!(get(&c, &s, "dst", "k").await?, Value::Null);
    assert_eq!(
        sql(&c, &s, "dst", "SELECT count(*) FROM sqlite_master").await?,
        json!([[0]])
    );

    // Into another class: refused, nothing recorded.
    let (status, v) = post(
        &c,
        &s,
        "/tx/t/ops",
        json!([{"catch": [{"restore_snapshot": snapshot}]}]),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["results"][0]["caught"],
        "the snapshot is of an object of class `Probe` and this object is of class `Transactor`: a snapshot restores only into an object of its own class"
    );
    Ok(())
}

#[tokio::test]
async fn the_admin_api_forks_an_object_now_or_at_a_bookmark() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let fork = |from: &'static str, body: Value| {
        let (c, s) = (&c, &s);
        async move {
            let r = c
                .post(s.url(&format!("/_/admin/objects/probe/{from}/fork")))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
                .await?;
            let status = r.status().as_u16();
            Ok::<_, anyhow::Error>((status, r.json::<Value>().await?))
        }
    };
    put_many(&c, &s, "a", json!({"v": 1})).await?;
    let first = bookmark(&c, &s, "a").await?;
    put_many(&c, &s, "a", json!({"v": 2})).await?;
    // A live destination is restarted by the fork: its next event reads the copy.
    put_many(&c, &s, "b", json!({"mine": true})).await?;
    let (status, v) = fork("a", json!({"to": {"name": "b"}})).await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["to"]["binding"], "probe");
    assert_eq!(get(&c, &s, "b", "v").await?, 2);
    assert_eq!(get(&c, &s, "b", "mine").await?, Value::Null);
    let (status, v) = fork(
        "a",
        json!({"to": {"binding": "probe2", "name": "c"}, "bookmark": first}),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    let r: Value = c
        .get(s.url("/probe2/c/get?key=v"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(r["value"], 1);

    for (body, message) in [
        (
            json!({"to": {"binding": "tx", "name": "x"}}),
            "the snapshot is of an object of class `Probe` and this object is of class `Transactor`: a snapshot restores only into an object of its own class",
        ),
        (
            json!({"to": {"name": "b"}, "bookmark": "nope"}),
            "`nope` is not a bookmark (a bookmark is three groups of hex digits, as getCurrentBookmark() returns)",
        ),
        (
            json!({"to": {}}),
            "name the destination as {\"to\": {\"name\": \"...\"}} or {\"to\": {\"id\": \"...\"}}, one of them (and \"binding\" for another namespace)",
        ),
        (
            json!({"to": {"binding": "nope", "name": "b"}}),
            "no binding named `nope`",
        ),
    ] {
        let (status, v) = fork("a", body.clone()).await?;
        assert_eq!(
            status,
            if message.starts_with("no binding") {
                404
            } else {
                400
            },
            "{body}: {v}"
        );
        assert_eq!(v["error"], message, "{body}");
    }
    assert_eq!(get(&c, &s, "b", "v").await?, 2, "nothing changed");
    Ok(())
}

#[tokio::test]
async fn bad_bookmarks_and_snapshots_from_code_are_refused_with_the_reason() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    put_many(&c, &s, "a", json!({"k": 1})).await?;
    let of_b = bookmark(&c, &s, "b").await?;
    let future = now_ms() + 3_600_000;
    let cases = [
        (
            "/probe/a/restore-bookmark",
            json!({"bookmark": "nope"}),
            "`nope` is not a bookmark (a bookmark is three groups of hex digits, as getCurrentBookmark() returns)".to_owned(),
        ),
        (
            "/probe/a/restore-bookmark",
            json!({"bookmark": of_b}),
            format!("the bookmark `{of_b}` belongs to another object"),
        ),
        (
            "/probe/a/restore-snapshot",
            json!({"snapshot": "snapshot1-00-00000000"}),
            "`snapshot1-00-00000000` is not a snapshot (a snapshot is the string snapshot() returns)".to_owned(),
        ),
    ];
    for (path, body, message) in cases {
        let (status, v) = post(&c, &s, path, body.clone()).await?;
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(v["error"], message.as_str(), "{body}");
        assert_eq!(v["kind"], "invalid-argument");
    }
    let (status, v) = post(
        &c,
        &s,
        &format!("/probe/a/bookmark-for-time?time={future}"),
        Value::Null,
    )
    .await?;
    assert_eq!(status, 400);
    assert_eq!(v["error"], format!("the time {future} is in the future"));
    abort(&c, &s, "a").await?;
    assert_eq!(get(&c, &s, "a", "k").await?, 1, "nothing was restored");

    // With history off, every call says so.
    let off = Server::start(&format!("{}[history]\nretention_seconds = 0\n", config()))?;
    let (status, v) = post(&c, &off, "/probe/a/snapshot", Value::Null).await?;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "point-in-time recovery is off on this server ([history] retention_seconds = 0)"
    );
    Ok(())
}
