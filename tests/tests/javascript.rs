//! The JavaScript SDK (guest-sdk/js) against Cloudflare's Durable Object API, through the test
//! guest tests/js-guests/probe.js (the older plain-class style, `constructor(state, env)`). The
//! standard WebSocket API is in javascript_websockets.rs; the hibernation API is tested through
//! examples/js-chat-room in websockets.rs.

use std::time::Duration;

use anyhow::Result;
use holdfast_tests::{
    Server, admin, admin_config, built, call, class, client, eventually, kv_class, now_ms,
};
use reqwest::Method;
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "{}[alarms]\nretry_base_ms = 20\n{}{}",
        admin_config(),
        kv_class("probe", "Probe", &built("target/js-guests/probe.wasm")),
        class(
            "counter",
            "Counter",
            &built("target/js-counter/js_counter.wasm")
        )
    )
}

async fn post(c: &reqwest::Client, s: &Server, path: &str, body: Value) -> Result<(u16, Value)> {
    let r = c.post(s.url(path)).body(body.to_string()).send().await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

async fn list(c: &reqwest::Client, s: &Server, options: Value) -> Result<(u16, Value)> {
    post(c, s, "/probe/store/list", options).await
}

async fn get(c: &reqwest::Client, s: &Server, path: &str) -> Result<(u16, Value)> {
    call(c, Method::GET, s.url(path)).await
}

#[tokio::test]
async fn storage_api_as_on_cloudflare() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let p = "/probe/store";

    post(
        &c,
        &s,
        &format!("{p}/put?key=a"),
        json!({"x": [1, "two", null]}),
    )
    .await?;
    post(
        &c,
        &s,
        &format!("{p}/put-many"),
        json!({"b": 2, "c": "three", "d": false}),
    )
    .await?;
    assert_eq!(
        get(&c, &s, &format!("{p}/get?key=a")).await?,
        (200, json!({"value": {"x": [1, "two", null]}}))
    );
    assert_eq!(
        get(&c, &s, &format!("{p}/get?key=zz")).await?.1,
        json!({"value": null})
    );
    // get([keys]) is a Map of the keys that exist.
    assert_eq!(
        post(&c, &s, &format!("{p}/get-many"), json!(["b", "nope", "c"]))
            .await?
            .1,
        json!({"b": 2, "c": "three"})
    );
    // list() returns a Map in key order; the options are Cloudflare's.
    let keys = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e[0].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        keys(list(&c, &s, json!({})).await?.1),
        ["a", "b", "c", "constructions", "d"]
    );
    assert_eq!(
        keys(
            list(&c, &s, json!({"start": "b", "end": "d", "reverse": true}))
                .await?
                .1
        ),
        ["constructions", "c", "b"]
    );
    assert_eq!(
        keys(
            list(&c, &s, json!({"startAfter": "b", "limit": 2}))
                .await?
                .1
        ),
        ["c", "constructions"]
    );
    assert_eq!(
        keys(list(&c, &s, json!({"prefix": "con"})).await?.1),
        ["constructions"]
    );
    assert_eq!(
        list(&c, &s, json!({"prefix": "b"})).await?.1,
        json!([["b", 2]])
    );
    // delete(key) says whether it existed; delete([keys]) counts.
    assert_eq!(
        post(&c, &s, &format!("{p}/delete"), json!("a")).await?.1,
        json!({"deleted": true})
    );
    assert_eq!(
        post(&c, &s, &format!("{p}/delete"), json!("a")).await?.1,
        json!({"deleted": false})
    );
    assert_eq!(
        post(&c, &s, &format!("{p}/delete"), json!(["b", "c", "x"]))
            .await?
            .1,
        json!({"deleted": 2})
    );
    // The synchronous kv API.
    assert_eq!(
        get(&c, &s, &format!("{p}/kv")).await?.1,
        json!({"got": {"n": 1}, "missing": true, "deleted": true, "list": [["kv-a", {"n": 1}]]})
    );
    // Everything above is durable, across a restart.
    let s = s.restart()?;
    assert_eq!(
        keys(list(&c, &s, json!({})).await?.1),
        ["constructions", "d", "kv-a"]
    );
    post(&c, &s, &format!("{p}/delete-all"), json!(null)).await?;
    assert_eq!(keys(list(&c, &s, json!({})).await?.1), Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn structured_clone_values_are_stored_tagged_and_read_back_as_they_were() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let (status, out) = get(&c, &s, "/probe/clones/clones-write").await?;
    assert_eq!((status, out), (200, json!({"ok": true})));
    // From disk, by a new activation: the tags decode to the values Cloudflare would give back.
    let s = s.restart()?;
    let (status, out) = get(&c, &s, "/probe/clones/clones-read").await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({
            "bigint": "1180591620717411303424n",
            "buffer": "ArrayBuffer(7,8)",
            "bytes": "Uint8Array(1,2,255)",
            "date": "Date(2026-12-01T10:00:00.250Z)",
            "dollar": "{$date: \"not a tag\"}",
            "error": "RangeError(out of range) true",
            "event": "{type: \"created\", data: undefined, at: Date(1970-01-01T00:00:00.000Z)}",
            "instance": "{x: 1, y: 2}",
            "map": "Map(\"a\"=>1, 2=>{b: undefined})",
            "numbers": "[NaN, Infinity, -Infinity, -0, 1.5]",
            "regexp": "RegExp(/a+b/gi)",
            "set": "Set(\"x\", 3)",
            "sparse": "[1, undefined, 3]",
            "undefined": "undefined",
        })
    );
    Ok(())
}

#[tokio::test]
async fn values_that_cannot_be_stored_and_api_mistakes_are_refused_with_the_reason() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let (status, out) = get(&c, &s, "/probe/r/refusals").await?;
    assert_eq!(status, 200, "{out}");
    let expect = [
        (
            "fn",
            "TypeError: cannot store key \"refused-fn\": the value is a function, which cannot be serialized",
        ),
        (
            "symbol",
            "TypeError: cannot store key \"refused-symbol\": the value.s is a symbol, which cannot be serialized",
        ),
        (
            "typed",
            "TypeError: cannot store key \"refused-typed\": the value is a typed array (Int32Array); of binary values, Uint8Array and ArrayBuffer are stored",
        ),
        (
            "promise",
            "TypeError: cannot store key \"refused-promise\": the value.p is a Promise, which cannot be serialized",
        ),
        (
            "cycle",
            "TypeError: cannot store key \"refused-cycle\": the value.self refers back to itself (a cycle)",
        ),
        (
            "keyTooLarge",
            "StorageError key-too-large: key is 3000 bytes, over the limit of 2048 bytes",
        ),
        (
            "badList",
            "StorageError invalid-argument: invalid argument: `start` and `start-after` cannot both be set",
        ),
        (
            "numberKey",
            "TypeError: storage keys are strings, got number",
        ),
        (
            "zeroLimit",
            "TypeError: list() option limit must be a positive integer, got 0",
        ),
        (
            "badPrefix",
            "TypeError: list() option prefix must be a string",
        ),
        (
            "badAlarm",
            "TypeError: setAlarm() takes a Date or milliseconds since the epoch, got tomorrow",
        ),
        (
            "tooMany",
            "StorageError too-many-keys: 129 keys in one call, over the limit of 128",
        ),
        (
            "tooLarge",
            "StorageError value-too-large: value of key `refused-big` is 200002 bytes, over the limit of 131072 bytes",
        ),
        (
            "putNothing",
            "TypeError: put() takes a key and a value, or an object of entries",
        ),
        (
            "asyncInSync",
            "TypeError: transactionSync() takes a synchronous function; use transaction() for async ones",
        ),
        (
            "acceptNotAPair",
            "TypeError: only the server end of a new WebSocketPair() can be accepted",
        ),
        (
            "acceptBadTags",
            "TypeError: WebSocket tags must be an array of strings",
        ),
        (
            "sendUnaccepted",
            "TypeError: WebSocket.send() before the socket was accepted: call ctx.acceptWebSocket(server) or server.accept() first",
        ),
        (
            "sql",
            "Error not-sqlite: SQL storage is not available: namespace `probe` is key-value backed; declare its class in `new_sqlite_classes` (wrangler) or set `storage = \"sqlite\"` on its [[class]] (holdfast.toml)",
        ),
    ];
    for (case, message) in expect {
        assert_eq!(out[case], message, "{case}");
    }
    assert_eq!(out["kept"], 0);
    Ok(())
}

#[tokio::test]
async fn a_thrown_exception_fails_the_event_and_keeps_nothing() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let p = "/probe/err";
    // The first event constructs the object; its blockConcurrencyWhile write commits with it.
    assert_eq!(
        get(&c, &s, &format!("{p}/whoami")).await?.1["constructions"],
        1
    );
    let (status, body) = get(&c, &s, &format!("{p}/fail-after-write")).await?;
    assert_eq!(
        (status, body),
        (500, json!({"error": "RangeError: failed on purpose"}))
    );
    let (status, body) = get(&c, &s, &format!("{p}/throw-object")).await?;
    assert_eq!(
        (status, body),
        (
            500,
            json!({"error": "uncaught {\"reason\":\"a plain object\"}"})
        )
    );
    let (status, body) = get(&c, &s, &format!("{p}/not-a-response")).await?;
    assert_eq!(
        (status, body),
        (
            500,
            json!({"error": "TypeError: fetch() must return a Response, got Object"})
        )
    );
    assert_eq!(
        get(&c, &s, &format!("{p}/get?key=doomed")).await?.1,
        json!({"value": null})
    );
    // A failed event discards the instance (stronger than Cloudflare, where it lives on): the
    // next event constructs the object anew. The constructor's write within a failed event is
    // discarded with it, so only the construction of the `get` above counted.
    assert_eq!(
        get(&c, &s, &format!("{p}/whoami")).await?.1["constructions"],
        2
    );
    // ctx.abort() fails the event and starts the object afresh: the constructor runs again.
    let (status, body) = get(&c, &s, &format!("{p}/abort")).await?;
    assert_eq!(
        (status, body),
        (500, json!({"error": "Error: aborted on purpose"}))
    );
    let (_, who) = get(&c, &s, &format!("{p}/whoami")).await?;
    assert_eq!(who["constructions"], 3);
    assert_eq!(
        get(&c, &s, &format!("{p}/get?key=doomed")).await?.1,
        json!({"value": null})
    );
    Ok(())
}

#[tokio::test]
async fn nested_transactions_undo_only_their_own_writes() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let (status, body) = get(&c, &s, "/probe/t/transaction").await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"keys": ["constructions", "outer", "sync-kept"], "alarm": null, "innerAfter": null})
    );
    // Transactions that close out of order fail the whole event.
    let (status, body) = get(&c, &s, "/probe/t/overlapping-transactions").await?;
    assert_eq!(status, 500);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Error: storage transactions overlapped"),
        "{body}"
    );
    assert_eq!(
        get(&c, &s, "/probe/t/get?key=fast").await?.1,
        json!({"value": null})
    );
    Ok(())
}

#[tokio::test]
async fn identity_env_and_platform_apis() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let (status, who) = get(&c, &s, "/probe/alice/whoami").await?;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["name"], "alice");
    assert_eq!(who["constructions"], 1);
    assert_eq!(who["bindings"], json!(["counter", "probe"]));
    assert_eq!(who["sameId"], true);
    assert_eq!(who["id"].as_str().unwrap().len(), 64);

    // IDs from the env match the router's; stub.fetch reaches the object.
    let (_, other) = get(&c, &s, "/probe/other/whoami").await?;
    let (_, stub) = get(&c, &s, "/probe/alice/stub").await?;
    assert_eq!(stub["id"], other["id"]);
    assert_eq!(stub["name"], "other");
    assert_eq!(stub["unique"], true);
    assert_eq!(stub["fetched"], "reached");
    assert!(
        stub["bad"].as_str().unwrap().starts_with("TypeError: "),
        "{stub}"
    );

    let r = c
        .post(s.url("/probe/alice/platform?a=b%20c"))
        .header("x-echo", "hello")
        .send()
        .await?;
    let p: Value = r.json().await?;
    let uuid = p["uuid"].as_str().unwrap();
    assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"), "{uuid}");
    let now = now_ms();
    assert!((p["now"].as_f64().unwrap() - now as f64).abs() < 60_000.0);
    assert_eq!(p["encoded"], json!([104, 195, 169]));
    assert_eq!(p["decoded"], "hé");
    assert_eq!(p["random"], true);
    assert_eq!(p["header"], "1, 2");
    assert_eq!(p["method"], "POST");
    assert_eq!(p["echo"], "hello");
    assert_eq!(p["query"], "b c");

    // waitUntil work finishes within the event and commits with it.
    get(&c, &s, "/probe/alice/wait-until").await?;
    assert_eq!(
        get(&c, &s, "/probe/alice/get?key=waited").await?.1,
        json!({"value": true})
    );

    // After eviction the class is constructed again (blockConcurrencyWhile in the constructor
    // read and wrote storage before the event).
    let (status, _) = admin(&c, &s, Method::POST, "/objects/probe/alice/evict").await?;
    assert_eq!(status, 200);
    assert_eq!(
        get(&c, &s, "/probe/alice/whoami").await?.1["constructions"],
        2
    );
    Ok(())
}

#[tokio::test]
async fn alarms_fire_and_retry_with_cloudflare_alarm_info() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let p = "/probe/alarmed";
    let at = now_ms() + 3_600_000;
    let (_, body) = get(&c, &s, &format!("{p}/alarm?at={at}&date=1")).await?;
    assert_eq!(body["alarm"], at);
    let (_, body) = get(&c, &s, &format!("{p}/alarm-delete")).await?;
    assert_eq!(body["alarm"], Value::Null);

    // An alarm in the past fires at once; the handler sees Cloudflare's alarmInfo.
    post(&c, &s, &format!("{p}/put?key=fail-alarms"), json!(true)).await?;
    get(&c, &s, &format!("{p}/alarm?at={}", at - 7_200_000)).await?;
    let fired = eventually(Duration::from_secs(10), || async {
        let (_, body) = get(&c, &s, &format!("{p}/alarm-get")).await?;
        Ok(
            (body["fired"].as_array().unwrap().len() == 1 && body["alarm"].is_null())
                .then_some(body),
        )
    })
    .await?;
    // The first delivery threw: its write was rolled back; only the retry's is kept.
    assert_eq!(
        fired["fired"],
        json!([{"retryCount": 1, "isRetry": true, "scheduledTime": at - 7_200_000}])
    );
    Ok(())
}
