//! Point-in-time recovery through the admin API on the real binary: an object's keys, SQL
//! database and alarm restored to a bookmark or a time, the restore undone, bad bookmarks
//! refused with the reason, and a server killed with SIGKILL in the middle of restores leaving
//! each object wholly before or wholly after.

use std::time::Duration;

use anyhow::Result;
use holdfast_tests::{
    ADMIN_TOKEN, Server, admin, admin_config, built, class, client, now_ms, probe_get as get,
    probe_put_many as put_many,
};
use reqwest::Method;
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "{}{}",
        admin_config(),
        class("probe", "Probe", &built("target/js-guests/probe.wasm"))
    )
}

async fn post(c: &reqwest::Client, s: &Server, path: &str, body: Value) -> Result<(u16, Value)> {
    let r = c
        .post(s.url(&format!("/_/admin{path}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

async fn current(c: &reqwest::Client, s: &Server, name: &str) -> Result<String> {
    let (status, v) = admin(
        c,
        s,
        Method::GET,
        &format!("/objects/probe/{name}/bookmarks?limit=5"),
    )
    .await?;
    anyhow::ensure!(status == 200, "{v}");
    Ok(v["current"].as_str().unwrap_or_default().to_owned())
}

async fn sql_rows(c: &reqwest::Client, s: &Server, name: &str) -> Result<Value> {
    let (status, v) = post(
        c,
        s,
        &format!("/objects/probe/{name}/sql"),
        json!({"query": "SELECT n FROM t ORDER BY n"}),
    )
    .await?;
    anyhow::ensure!(status == 200, "{v}");
    Ok(v["rows"].clone())
}

#[tokio::test]
async fn an_object_goes_back_to_a_bookmark_or_a_time_and_the_restore_can_be_undone() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    put_many(&c, &s, "a", json!({"k": 1, "gone": "later"})).await?;
    let (status, v) = post(
        &c,
        &s,
        "/objects/probe/a/sql",
        json!({"query": "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1)"}),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    let (status, _) = c
        .put(s.url("/_/admin/objects/probe/a/alarm"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"alarm": now_ms() + 3_600_000}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))?;
    assert_eq!(status, 200);
    let first = current(&c, &s, "a").await?;
    let t1 = now_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Later: other keys, rows and no alarm; another object writes too.
    put_many(&c, &s, "a", json!({"k": 2, "new": true})).await?;
    c.post(s.url("/probe/a/delete"))
        .body(json!("gone").to_string())
        .send()
        .await?;
    post(
        &c,
        &s,
        "/objects/probe/a/sql",
        json!({"query": "INSERT INTO t VALUES (2), (3)"}),
    )
    .await?;
    admin(&c, &s, Method::DELETE, "/objects/probe/a/alarm").await?;
    put_many(&c, &s, "b", json!({"k": "b's"})).await?;
    let second = current(&c, &s, "a").await?;
    assert!(
        first < second,
        "bookmarks compare in time order: {first} {second}"
    );

    let (status, v) = post(
        &c,
        &s,
        "/objects/probe/a/restore",
        json!({ "bookmark": first }),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["restored_to"], first);
    let undo = v["undo"].as_str().unwrap().to_owned();
    // The object's own code sees the state it had: keys, SQL rows, alarm.
    assert_eq!(get(&c, &s, "a", "k").await?, 1);
    assert_eq!(get(&c, &s, "a", "gone").await?, "later");
    assert_eq!(get(&c, &s, "a", "new").await?, Value::Null);
    assert_eq!(sql_rows(&c, &s, "a").await?, json!([[1]]));
    let (_, alarm) = admin(&c, &s, Method::GET, "/objects/probe/a/alarm").await?;
    assert!(alarm["alarm"].is_i64(), "{alarm}");
    assert_eq!(
        get(&c, &s, "b", "k").await?,
        "b's",
        "another object is untouched"
    );

    // Undone: back to the later state; then by time, to the first again.
    let (status, v) = post(
        &c,
        &s,
        "/objects/probe/a/restore",
        json!({ "bookmark": undo }),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(get(&c, &s, "a", "k").await?, 2);
    assert_eq!(sql_rows(&c, &s, "a").await?, json!([[1], [2], [3]]));
    let (_, alarm) = admin(&c, &s, Method::GET, "/objects/probe/a/alarm").await?;
    assert_eq!(alarm["alarm"], Value::Null);
    let (status, v) = post(&c, &s, "/objects/probe/a/restore", json!({ "time": t1 })).await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(get(&c, &s, "a", "k").await?, 1);

    // The history lists each commit with the bookmarks around it, newest first.
    let (_, h) = admin(&c, &s, Method::GET, "/objects/probe/a/bookmarks?limit=3").await?;
    let points = h["history"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{h}");
    assert!(points[0]["time_ms"].as_i64() >= points[1]["time_ms"].as_i64());
    assert!(h["next"].is_i64(), "{h}");
    assert_eq!(h["retention_seconds"], 2_592_000);
    Ok(())
}

#[tokio::test]
async fn bad_bookmarks_and_times_are_refused_and_nothing_changes() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    put_many(&c, &s, "a", json!({"k": 1})).await?;
    put_many(&c, &s, "b", json!({"k": 1})).await?;
    let of_b = current(&c, &s, "b").await?;
    let restore = |body: Value| {
        let (c, s) = (&c, &s);
        async move { post(c, s, "/objects/probe/a/restore", body).await }
    };
    let (status, v) = restore(json!({"bookmark": of_b})).await?;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        format!("the bookmark `{of_b}` belongs to another object")
    );
    let (status, v) = restore(json!({"bookmark": "yesterday"})).await?;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "`yesterday` is not a bookmark (a bookmark is three groups of hex digits, as getCurrentBookmark() returns)"
    );
    let future = now_ms() + 3_600_000;
    let (status, v) = restore(json!({ "time": future })).await?;
    assert_eq!(status, 400);
    assert_eq!(v["error"], format!("the time {future} is in the future"));
    let old = now_ms() - 40 * 86_400_000;
    let (status, v) = restore(json!({ "time": old })).await?;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        format!(
            "the time {old} is older than the history kept (30 days): that history was reclaimed"
        )
    );
    let (status, v) = restore(json!({})).await?;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "give {\"bookmark\": \"...\"} or {\"time\": ms}, one of them"
    );
    let (status, v) = admin(&c, &s, Method::GET, "/objects/probe/a/bookmark").await?;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "give the time as ?time=<ms since the Unix epoch>"
    );
    assert_eq!(get(&c, &s, "a", "k").await?, 1, "nothing changed");

    // With history off, every bookmark is refused.
    let off = Server::start(&format!("{}[history]\nretention_seconds = 0\n", config()))?;
    put_many(&c, &off, "a", json!({"k": 1})).await?;
    let (status, v) = post(
        &c,
        &off,
        "/objects/probe/a/restore",
        json!({"time": now_ms()}),
    )
    .await?;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "point-in-time recovery is off on this server ([history] retention_seconds = 0)"
    );
    Ok(())
}

#[tokio::test]
async fn a_server_killed_during_restores_leaves_each_object_wholly_before_or_after() -> Result<()> {
    let mut s = Server::start(&config())?;
    let c = client();
    // 120 keys of 4 KB written by each event: a restore rewrites all of them (about 0.5 MB,
    // and as much again for its own undo record), so a kill can land while it commits.
    let pad = "x".repeat(4000);
    let all = |n: u32| -> Value {
        (0..120)
            .map(|i| (format!("k{i:03}"), json!({"n": n, "pad": pad})))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    put_many(&c, &s, "a", all(1)).await?;
    let first = current(&c, &s, "a").await?;
    for round in 0..6u32 {
        let last = 10 + round;
        put_many(&c, &s, "a", all(last)).await?;
        // Ask for the restore and kill the server at once, or a moment later.
        let restore = c
            .post(s.url("/_/admin/objects/probe/a/restore"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "bookmark": first }))
            .send();
        let delay = Duration::from_millis(u64::from(round) * 3);
        let _ = tokio::time::timeout(delay, restore).await;
        s = s.kill9_and_restart()?;
        let r: Value = c
            .post(s.url("/probe/a/list"))
            .body("{}")
            .send()
            .await?
            .json()
            .await?;
        // (The probe's own `constructions` key aside.)
        let values: Vec<&Value> = r
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e[0].as_str().is_some_and(|k| k.starts_with('k')))
            .map(|e| &e[1]["n"])
            .collect();
        assert_eq!(values.len(), 120);
        let v0 = values[0].as_u64().unwrap() as u32;
        assert!(v0 == 1 || v0 == last, "round {round}: {v0}");
        assert!(
            values.iter().all(|v| v.as_u64() == Some(u64::from(v0))),
            "round {round}: all 120 keys from one state"
        );
        eprintln!(
            "round {round}: killed {} ms after asking: {}",
            delay.as_millis(),
            if v0 == 1 { "restored" } else { "not restored" }
        );
    }
    Ok(())
}

/// The history commands: an object's commits listed, a restore to a time before now and its
/// undo, a fork into another object, and their refusals.
#[tokio::test]
async fn the_history_commands_list_restore_and_fork() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    put_many(&c, &s, "a", json!({"k": 1})).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    put_many(&c, &s, "a", json!({"k": 2})).await?;
    let url = format!("http://{}", s.addr);
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--url", url.as_str()]);
        holdfast_tests::run_admin_cli(&all)
    };
    let (ok, out, err) = cli(&["bookmarks", "probe/a", "--limit", "5"])?;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("now      "), "{out}");
    assert!(lines.len() >= 3, "two commits at least: {out}");
    assert!(lines[1].contains("changed"), "{out}");

    let (ok, out, err) = cli(&["restore-object", "probe/a", "--to", "-1s"])?;
    assert!(ok, "{err}");
    assert_eq!(get(&c, &s, "a", "k").await?, 1);
    let undo = out.trim().rsplit(' ').next().unwrap().to_owned();
    let (ok, _, err) = cli(&["restore-object", "probe/a", "--to", &undo])?;
    assert!(ok, "{err}");
    assert_eq!(get(&c, &s, "a", "k").await?, 2);

    let (ok, out, err) = cli(&["fork", "probe/a", "--to", "copy"])?;
    assert!(ok, "{err}");
    assert!(out.starts_with("forked probe/a into copy"), "{out}");
    assert_eq!(get(&c, &s, "copy", "k").await?, 2);

    let (ok, _, err) = cli(&["restore-object", "probe/a", "--to", "-2w"])?;
    assert!(!ok);
    assert!(
        err.contains("`-2w` is not a time: give milliseconds since the Unix epoch, or a time before now as -90s, -15m, -2h or -3d"),
        "{err}"
    );
    let (ok, _, err) = cli(&["restore-object", "probe/a", "--to", "nope"])?;
    assert!(!ok);
    assert!(
        err.contains("the server refused (400): `nope` is not a bookmark"),
        "{err}"
    );
    let (ok, _, err) = cli(&["bookmarks", "a"])?;
    assert!(!ok);
    assert!(
        err.contains("`a` is not an object: write BINDING/NAME"),
        "{err}"
    );
    Ok(())
}
