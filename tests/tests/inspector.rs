//! The storage inspector: its JSON API (objects by name prefix, keys, edits as events, alarm,
//! SQL, sockets, logs), its guard (token, cross-site refusal), `holdfast tail`, and the page
//! itself driven in headless Chromium.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use holdfast_tests::cdp::{Browser, Page};
use holdfast_tests::{
    ADMIN_TOKEN, Server, admin, admin_config, built, call, class, client, eventually, guest,
    holdfast_bin, kv_class, root,
};
use reqwest::Method;
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "{}{}{}",
        admin_config(),
        kv_class("probe", "Probe", &built("target/js-guests/probe.wasm")),
        class("sqler", "Sqler", &guest("sqler")),
    )
}

/// Calls `/_/admin{path}` with a JSON body and the token.
async fn send(
    c: &reqwest::Client,
    s: &Server,
    method: Method,
    path: &str,
    body: Value,
) -> Result<(u16, Value)> {
    let r = c
        .request(method, s.url(&format!("/_/admin{path}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

async fn get(c: &reqwest::Client, s: &Server, path: &str) -> Result<(u16, Value)> {
    admin(c, s, Method::GET, path).await
}

/// Stores `value` under `key` in the probe object `name`, through its own code.
async fn put(c: &reqwest::Client, s: &Server, name: &str, key: &str, value: Value) -> Result<()> {
    let r = c
        .post(s.url(&format!("/probe/{name}/put?key={key}")))
        .body(value.to_string())
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "put: {}", r.text().await?);
    Ok(())
}

#[tokio::test]
async fn objects_are_found_by_name_prefix_and_their_keys_edited_through_the_mailbox() -> Result<()>
{
    let s = Server::start(&config())?;
    let c = client();
    for name in ["alpha-1", "alpha-2", "beta"] {
        put(&c, &s, name, "greeting", json!("hello")).await?;
    }
    // `/remember` keeps what it read in memory: an edit must not leave that copy behind.
    c.post(s.url("/probe/alpha-1/remember?item=a"))
        .send()
        .await?;

    let (st, v) = get(&c, &s, "/namespaces").await?;
    assert_eq!(st, 200);
    let probe = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["binding"] == "probe")
        .context("probe listed")?;
    assert_eq!(probe["class"], "Probe");
    assert_eq!(probe["live"], 3);

    let (_, v) = get(&c, &s, "/namespaces/probe/objects").await?;
    let names: Vec<&str> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{v}");
    let (_, v) = get(&c, &s, "/namespaces/probe/objects?prefix=alpha-").await?;
    let mut found: Vec<&str> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    found.sort();
    assert_eq!(found, ["alpha-1", "alpha-2"]);
    assert_eq!(v["next"], Value::Null);
    let alpha1 = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "alpha-1")
        .unwrap()
        .clone();
    assert_eq!(alpha1["live"], true);
    assert!(alpha1["kv_keys"].as_u64().unwrap() >= 2, "{alpha1}");
    assert!(alpha1["kv_bytes"].as_u64().unwrap() > 0);

    // Paging: one object per page, three pages, then none.
    let mut after = String::new();
    let mut seen = 0;
    loop {
        let (_, v) = get(
            &c,
            &s,
            &format!("/namespaces/probe/objects?limit=1&after={after}"),
        )
        .await?;
        seen += v["objects"].as_array().unwrap().len();
        match v["next"].as_str() {
            Some(n) => after = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 3);

    let (_, keys) = get(&c, &s, "/objects/probe/alpha-1/keys").await?;
    let listed: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&"remembered"), "{keys}");
    let (_, keys) = get(&c, &s, "/objects/probe/alpha-1/keys?prefix=remem").await?;
    assert_eq!(keys["keys"][0]["value"], json!(["a"]));
    assert_eq!(keys["keys"][0]["json"], true);

    // An edit, then the object's own code sees it (not its in-memory copy).
    let (st, v) = send(
        &c,
        &s,
        Method::POST,
        "/objects/probe/alpha-1/storage",
        json!({"put": {"remembered": ["edited"], "added": {"n": 1}}, "delete": ["greeting"]}),
    )
    .await?;
    assert_eq!((st, &v), (200, &json!({"put": 2, "deleted": 1})));
    let (_, v) = call(&c, Method::GET, s.url("/probe/alpha-1/remember")).await?;
    assert_eq!(v["memory"], json!(["edited"]), "{v}");
    let (_, v) = call(&c, Method::GET, s.url("/probe/alpha-1/get?key=added")).await?;
    assert_eq!(v["value"], json!({"n": 1}));
    let (_, v) = call(&c, Method::GET, s.url("/probe/alpha-1/get?key=greeting")).await?;
    assert_eq!(v["value"], Value::Null);

    // A refused edit keeps nothing of itself.
    let big = "k".repeat(3000);
    let (st, v) = send(
        &c,
        &s,
        Method::POST,
        "/objects/probe/alpha-1/storage",
        json!({"put": {"fine": 1, big.clone(): 2}}),
    )
    .await?;
    assert_eq!(st, 400);
    assert_eq!(
        v["error"],
        "the edit was refused, nothing changed: key is 3000 bytes, over the limit of 2048 bytes"
    );
    let (_, v) = call(&c, Method::GET, s.url("/probe/alpha-1/get?key=fine")).await?;
    assert_eq!(v["value"], Value::Null, "nothing of a refused edit is kept");
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_a_clear_error() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let cases: Vec<(Method, &str, Option<Value>, u16, &str)> = vec![
        (
            Method::GET,
            "/namespaces/nope/objects",
            None,
            404,
            "no binding named `nope`",
        ),
        (
            Method::GET,
            "/namespaces/probe/objects?limit=0",
            None,
            400,
            "limit must be at least 1",
        ),
        (
            Method::GET,
            "/namespaces/probe/objects?limit=5000",
            None,
            400,
            "limit 5000 is over the most of 1000 per page",
        ),
        (
            Method::POST,
            "/objects/probe/x/storage",
            Some(json!({})),
            400,
            "nothing to do: give `put` (an object of keys to JSON values) or `delete` (a list of keys)",
        ),
        (
            Method::PUT,
            "/objects/probe/x/alarm",
            Some(json!({"alarm": "soon"})),
            400,
            "",
        ),
        (
            Method::POST,
            "/objects/sqler/x/sql",
            Some(json!({"query": "SELEC 1"})),
            400,
            "the edit was refused, nothing changed: near \"SELEC\": syntax error",
        ),
        (
            Method::POST,
            "/objects/sqler/x/sql",
            Some(json!({"query": "SELECT ?", "params": [[1]]})),
            400,
            "a SQL parameter must be null, a boolean, a number or a string, not [1]",
        ),
        (
            Method::GET,
            "/logs?binding=probe",
            None,
            400,
            "give the object: `binding` and its `name` or `id` (for a namespace or everything, follow /_/admin/tail)",
        ),
        (
            Method::GET,
            "/logs?name=x",
            None,
            400,
            "`name` and `id` need the object's `binding` too",
        ),
    ];
    for (method, path, body, status, message) in cases {
        let (st, v) = match body {
            Some(b) => send(&c, &s, method.clone(), path, b).await?,
            None => admin(&c, &s, method.clone(), path).await?,
        };
        assert_eq!(st, status, "{method} {path}: {v}");
        let e = v["error"].as_str().unwrap_or_default();
        if message.is_empty() {
            assert!(e.starts_with("invalid request body: "), "{e}");
        } else {
            assert!(e.starts_with(message), "{method} {path}: {e}");
        }
    }
    // A refused SQL statement leaves the object as it was: no database was made.
    let (_, v) = get(&c, &s, "/objects/sqler/x").await?;
    assert_eq!(v["sql_bytes"], 0);
    Ok(())
}

#[tokio::test]
async fn the_api_needs_the_token_and_refuses_cross_site_changes() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let r = c.get(s.url("/_/admin/namespaces")).send().await?;
    assert_eq!(r.status(), 401);
    let r = c
        .get(s.url("/_/admin/namespaces"))
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await?["error"], "wrong admin token");

    // With the token but sent from another site's page: refused, and nothing changed.
    let edit = json!({"put": {"k": 1}});
    let r = c
        .post(s.url("/_/admin/objects/probe/victim/storage"))
        .bearer_auth(ADMIN_TOKEN)
        .header("origin", "http://evil.example")
        .json(&edit)
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await?["error"],
        format!(
            "cross-site request refused: its Origin `http://evil.example` is not this server (`{}`)",
            s.addr
        )
    );
    let r = c
        .post(s.url("/_/admin/objects/probe/victim/storage"))
        .bearer_auth(ADMIN_TOKEN)
        .header("sec-fetch-site", "cross-site")
        .json(&edit)
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await?["error"],
        "cross-site request refused: the browser says it comes from a cross-site page (Sec-Fetch-Site)"
    );
    let (_, v) = get(&c, &s, "/objects/probe/victim/keys").await?;
    assert_eq!(v["keys"], json!([]));
    // The same edit from the server's own origin goes through.
    let r = c
        .post(s.url("/_/admin/objects/probe/victim/storage"))
        .bearer_auth(ADMIN_TOKEN)
        .header("origin", format!("http://{}", s.addr))
        .header("sec-fetch-site", "same-origin")
        .json(&edit)
        .send()
        .await?;
    assert_eq!(r.status(), 200);

    // The page needs no token to load (it holds no data), and is disabled with the admin API.
    let r = c.get(s.url("/_/inspector")).send().await?;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str()?.to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let off = Server::start(&class(
        "probe",
        "Probe",
        &built("target/js-guests/probe.wasm"),
    ))?;
    let r = c.get(off.url("/_/inspector")).send().await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

#[tokio::test]
async fn alarm_sql_sockets_and_logs_of_an_object() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    // Alarm: set, read, run now (the handler records it), delete.
    let at = holdfast_tests::now_ms() + 3_600_000;
    let (st, v) = send(
        &c,
        &s,
        Method::PUT,
        "/objects/probe/clock/alarm",
        json!({"alarm": at}),
    )
    .await?;
    assert_eq!((st, v["alarm"].as_i64()), (200, Some(at)));
    let (_, v) = call(&c, Method::GET, s.url("/probe/clock/alarm-get")).await?;
    assert_eq!(v["alarm"].as_i64(), Some(at), "the object sees the alarm");
    let (st, v) = send(
        &c,
        &s,
        Method::POST,
        "/objects/probe/clock/alarm/run",
        json!({}),
    )
    .await?;
    assert_eq!((st, v["ran"].as_bool()), (200, Some(true)), "{v}");
    let (_, v) = call(&c, Method::GET, s.url("/probe/clock/alarm-get")).await?;
    assert_eq!(v["fired"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["alarm"], Value::Null, "a run alarm is consumed");
    send(
        &c,
        &s,
        Method::PUT,
        "/objects/probe/clock/alarm",
        json!({"alarm": at}),
    )
    .await?;
    let (st, v) = send(
        &c,
        &s,
        Method::DELETE,
        "/objects/probe/clock/alarm",
        json!({}),
    )
    .await?;
    assert_eq!((st, &v["alarm"]), (200, &Value::Null));
    let (_, v) = get(&c, &s, "/objects/probe/clock/alarm").await?;
    assert_eq!(v["alarm"], Value::Null);

    // SQL: create and fill a table from the console; the object's own code reads it.
    let (st, v) = send(
        &c,
        &s,
        Method::POST,
        "/objects/sqler/db/sql",
        json!({"query": "CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'one'), (2, ?)", "params": ["two"]}),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = send(
        &c,
        &s,
        Method::POST,
        "/objects/sqler/db/sql",
        json!({"query": "SELECT a, b FROM t ORDER BY a"}),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["columns"], json!(["a", "b"]));
    assert_eq!(v["rows"], json!([[1, "one"], [2, "two"]]));
    let r = c
        .post(s.url("/sqler/db/ops"))
        .body(json!([{"exec": ["SELECT count(*) AS n FROM t", []]}]).to_string())
        .send()
        .await?;
    let body: Value = r.json().await?;
    assert_eq!(body["results"][0]["rows"], json!([[2]]), "{body}");
    let (_, v) = get(&c, &s, "/objects/sqler/db").await?;
    assert!(v["sql_bytes"].as_u64().unwrap() > 0, "{v}");
    // Reset: everything of the object goes.
    let (st, _) = send(&c, &s, Method::POST, "/objects/sqler/db/reset", json!({})).await?;
    assert_eq!(st, 200);
    let (_, v) = send(
        &c,
        &s,
        Method::POST,
        "/objects/sqler/db/sql",
        json!({"query": "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 't'"}),
    )
    .await?;
    assert_eq!(v["rows"], json!([[0]]), "the table is gone: {v}");

    // Logs: what the object printed, to stdout and stderr, kept for the inspector.
    let (st, _) = call(&c, Method::GET, s.url("/probe/talker/log?text=hello")).await?;
    assert_eq!(st, 200);
    let v = eventually(Duration::from_secs(5), || async {
        let (_, v) = get(&c, &s, "/logs?binding=probe&name=talker").await?;
        Ok(v["lines"]
            .as_array()
            .is_some_and(|l| l.len() >= 2)
            .then_some(v))
    })
    .await?;
    let texts: Vec<(&str, &str)> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["stream"].as_str().unwrap(), l["text"].as_str().unwrap()))
        .collect();
    assert!(texts.contains(&("stdout", "out: hello")), "{texts:?}");
    assert!(texts.contains(&("stderr", "err: hello")), "{texts:?}");
    let (_, v) = get(&c, &s, "/objects/probe/talker").await?;
    assert_eq!(v["logs"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["logs"][0]["label"], "probe/talker");
    Ok(())
}

#[tokio::test]
async fn holdfast_tail_follows_one_object() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let mut tail = Command::new(holdfast_bin())
        .args(["tail", "probe/talker", "--url", &s.url("")])
        .env("HOLDFAST_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = tail.stderr.take().unwrap();
    let mut err_lines = BufReader::new(stderr).lines();
    let first = tokio::task::spawn_blocking(move || err_lines.next()).await?;
    let first = first.context("tail printed nothing")??;
    assert!(
        first.starts_with("[tail] following probe/talker at "),
        "{first}"
    );
    let stdout = tail.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Another object's line is not followed; this one's are.
    call(&c, Method::GET, s.url("/probe/other/log?text=not-me")).await?;
    call(&c, Method::GET, s.url("/probe/talker/log?text=hi")).await?;
    let mut got = Vec::new();
    for _ in 0..2 {
        let line = rx.recv_timeout(Duration::from_secs(10))??;
        got.push(line);
    }
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(
        got[0].ends_with(" probe/talker [stdout] out: hi"),
        "{got:?}"
    );
    assert!(
        got[1].ends_with(" probe/talker [stderr] err: hi"),
        "{got:?}"
    );

    // A wrong token: the server's reason, and a failing exit.
    let out = Command::new(holdfast_bin())
        .args(["tail", "--url", &s.url("")])
        .env("HOLDFAST_ADMIN_TOKEN", "not-the-token-at-all")
        .output()?;
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: the server refused to tail (401): wrong admin token"
    );
    let out = Command::new(holdfast_bin())
        .args(["tail"])
        .env_remove("HOLDFAST_ADMIN_TOKEN")
        .output()?;
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: holdfast tail needs the server's admin token in HOLDFAST_ADMIN_TOKEN: environment variable not found"
    );
    Ok(())
}

/// `document.querySelector(sel)` as a JS expression.
fn q(sel: &str) -> String {
    format!("document.querySelector({})", json!(sel))
}

/// Waits (up to 15 s) until an element matching `sel` is on the page.
async fn appears(b: &mut Browser, page: &Page, sel: &str) -> Result<()> {
    b.wait_for(page, &format!("!!{}", q(sel)), Duration::from_secs(15))
        .await
}

/// Clicks the element matching `sel`.
async fn click(b: &mut Browser, page: &Page, sel: &str) -> Result<()> {
    b.eval(page, &format!("{}.click(); true", q(sel))).await?;
    Ok(())
}

#[tokio::test]
async fn the_inspector_page_finds_an_object_edits_a_key_and_runs_its_alarm() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    for name in ["shop-cart-17", "shop-cart-18", "user-ann"] {
        put(&c, &s, name, "items", json!({"apples": 1, "pears": 2})).await?;
    }
    let at = holdfast_tests::now_ms() + 3_600_000;
    send(
        &c,
        &s,
        Method::PUT,
        "/objects/probe/shop-cart-17/alarm",
        json!({"alarm": at}),
    )
    .await?;
    call(
        &c,
        Method::GET,
        s.url("/probe/shop-cart-17/log?text=checkout"),
    )
    .await?;

    let mut b = Browser::start().await?;
    let page = b.open(&s.url("/_/inspector")).await?;
    b.set_viewport(&page, 1280, 900).await?;
    let wait = Duration::from_secs(15);
    appears(&mut b, &page, "#login").await?;
    // The page's script is deferred: #login exists before its click handler does.
    b.wait_for(&page, "document.readyState === 'complete'", wait)
        .await?;
    b.eval(
        &page,
        &format!(
            "{}.value = {}; {}.click(); true",
            q("#token"),
            json!(ADMIN_TOKEN),
            q("#login")
        ),
    )
    .await?;
    // Find the object by name prefix.
    appears(&mut b, &page, "[data-binding=\"probe\"]").await?;
    click(&mut b, &page, "[data-binding=\"probe\"]").await?;
    appears(&mut b, &page, "tr[data-name=\"user-ann\"]").await?;
    b.eval(
        &page,
        &format!(
            "{}.value = 'shop-'; {}.click(); true",
            q("#search"),
            q("#search-go")
        ),
    )
    .await?;
    b.wait_for(
        &page,
        &format!(
            "!{} && !!{}",
            q("tr[data-name=\"user-ann\"]"),
            q("tr[data-name=\"shop-cart-17\"]")
        ),
        wait,
    )
    .await?;
    click(&mut b, &page, "tr[data-name=\"shop-cart-17\"]").await?;
    appears(&mut b, &page, "tr[data-key=\"items\"] .edit").await?;
    // Edit the key in the editor; the object serves the new value over HTTP.
    click(&mut b, &page, "tr[data-key=\"items\"] .edit").await?;
    appears(&mut b, &page, "#value-editor").await?;
    b.eval(
        &page,
        &format!(
            "{}.value = '{{\"apples\": 3}}'; {}.click(); true",
            q("#value-editor"),
            q("#save-value")
        ),
    )
    .await?;
    eventually(wait, || async {
        let (_, v) = call(&c, Method::GET, s.url("/probe/shop-cart-17/get?key=items")).await?;
        Ok((v["value"] == json!({"apples": 3})).then_some(()))
    })
    .await?;
    b.wait_for(
        &page,
        &format!(
            "{}.textContent.includes('apples')",
            q("tr[data-key=\"items\"]")
        ),
        wait,
    )
    .await?;
    // Run its alarm now: the object's handler runs and the alarm is consumed.
    b.wait_for(
        &page,
        &format!("{}.textContent.includes('{at}')", q("#alarm-current")),
        wait,
    )
    .await?;
    click(&mut b, &page, "#run-alarm").await?;
    eventually(wait, || async {
        let (_, v) = call(&c, Method::GET, s.url("/probe/shop-cart-17/alarm-get")).await?;
        Ok((v["fired"].as_array().map(Vec::len) == Some(1)).then_some(()))
    })
    .await?;
    b.wait_for(
        &page,
        &format!("{}.textContent.includes('out: checkout')", q("#logs")),
        wait,
    )
    .await?;
    // The charts draw from the stats the page polls each second: a rate needs two samples.
    // Traffic meanwhile, so that the events chart has something to show.
    for i in 0..20 {
        put(&c, &s, "user-ann", &format!("k{i}"), json!(i)).await?;
    }
    b.wait_for(
        &page,
        &format!(
            "{}.getAttribute('points').trim().split(' ').length >= 3",
            q("svg[data-chart=\"events\"] polyline")
        ),
        wait,
    )
    .await?;
    let live = b
        .eval(
            &page,
            &format!(
                "{}.closest('.chart').querySelector('.chart-value').textContent",
                q("svg[data-chart=\"live\"]")
            ),
        )
        .await?;
    assert_eq!(
        live,
        json!("3"),
        "the live-objects chart shows the three objects"
    );
    // History: the newest commit is the alarm's run (it recorded `fired`); restoring to before
    // it from its row undoes that. Then a fork into a new object copies what the object holds.
    click(&mut b, &page, "#refresh-history").await?;
    b.wait_for(
        &page,
        &format!(
            "{}.textContent.includes('alarm')",
            q("#history tbody tr:first-child")
        ),
        wait,
    )
    .await?;
    click(&mut b, &page, "#history tbody tr:first-child button").await?;
    eventually(wait, || async {
        let (_, v) = call(&c, Method::GET, s.url("/probe/shop-cart-17/alarm-get")).await?;
        Ok(v["fired"]
            .as_array()
            .is_none_or(Vec::is_empty)
            .then_some(()))
    })
    .await?;
    b.eval(
        &page,
        &format!(
            "{}.value = 'shop-copy'; {}.click(); true",
            q("#fork-name"),
            q("#fork")
        ),
    )
    .await?;
    eventually(wait, || async {
        let (_, v) = call(&c, Method::GET, s.url("/probe/shop-copy/get?key=items")).await?;
        Ok((v["value"] == json!({"apples": 3})).then_some(()))
    })
    .await?;
    let token_in_url: bool = b
        .eval(
            &page,
            &format!("location.href.includes({})", json!(ADMIN_TOKEN)),
        )
        .await?
        .as_bool()
        .unwrap_or(true);
    assert!(!token_in_url, "the token never appears in a URL");
    b.screenshot(&page, &root().join("target/screenshots/inspector.png"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_admin_api_and_the_inspector_can_have_their_own_listener() -> Result<()> {
    let config = format!(
        "{}listen = \"127.0.0.1:0\"\n{}",
        admin_config(),
        kv_class("probe", "Probe", &built("target/js-guests/probe.wasm")),
    );
    let s = Server::start(&config)?;
    let admin_addr = s
        .admin_addr
        .context("the server names its admin listener")?;
    assert_ne!(admin_addr, s.addr);
    let admin_url = |path: &str| format!("http://{admin_addr}{path}");
    let c = client();
    put(&c, &s, "alice", "k", json!(7)).await?;

    // On the main listener: the objects, but neither the admin API nor the page.
    for path in ["/_/admin/namespaces", "/_/inspector", "/_/inspector/app.js"] {
        let r = c.get(s.url(path)).bearer_auth(ADMIN_TOKEN).send().await?;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(
            r.json::<Value>().await?["error"],
            "the admin API and the inspector are served on the admin listener ([admin] listen), not here"
        );
    }
    // On the admin listener: the API (with its guard) and the page, but no object routes.
    let r = c
        .get(admin_url("/_/admin/objects/probe/alice/keys?prefix=k"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let keys = r.json::<Value>().await?;
    assert_eq!(keys["keys"][0]["key"], "k", "{keys}");
    let r = c.get(admin_url("/_/admin/namespaces")).send().await?;
    assert_eq!(r.status(), 401);
    let r = c.get(admin_url("/_/inspector")).send().await?;
    assert_eq!(r.status(), 200);
    let r = c.get(admin_url("/probe/alice/get?key=k")).send().await?;
    assert_eq!(r.status(), 404);
    let r = c.get(admin_url("/_/health")).send().await?;
    assert_eq!(r.status(), 200);
    Ok(())
}
