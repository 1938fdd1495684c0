//! Calls between objects across the SDKs: JavaScript (Cloudflare's `stub.method(...)` RPC and
//! `stub.fetch`), Python (`stub.method(...)`, `stub.fetch`) and Rust calling each other, with
//! the errors each language's caller gets.

use anyhow::Result;
use holdfast_tests::{Server, built, call, class, client, guest};
use reqwest::Method;
use serde_json::{Value, json};

fn start() -> Result<Server> {
    Server::start(&format!(
        "{}{}{}",
        class("caller", "Caller", &guest("caller")),
        class("js", "Rpc", &built("target/js-guests/rpc.wasm")),
        class("py", "PyRpc", &built("target/py-guests/rpc.wasm")),
    ))
}

async fn get(c: &reqwest::Client, s: &Server, path: &str) -> Result<Value> {
    let (status, body) = call(c, Method::GET, s.url(path)).await?;
    assert_eq!(status, 200, "{path}: {body}");
    Ok(body)
}

/// Runs `steps` on caller/`name` (the Rust test guest).
async fn rust_run(c: &reqwest::Client, s: &Server, name: &str, steps: Value) -> Result<Value> {
    let r = c
        .post(s.url(&format!("/caller/{name}/run")))
        .json(&steps)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    Ok(r.json().await?)
}

#[tokio::test]
async fn javascript_calls_public_methods_with_cloudflares_rpc() -> Result<()> {
    let s = start()?;
    let c = client();
    assert_eq!(
        get(&c, &s, "/js/a/call/js/b/increment?args=[5]").await?,
        json!({ "ok": 5 })
    );
    assert_eq!(
        get(&c, &s, "/js/a/call/js/b/get").await?,
        json!({ "ok": 5 })
    );
    // JavaScript -> Rust, and the Rust method's result comes back as a JS value.
    assert_eq!(
        get(&c, &s, "/js/a/call/caller/r/increment?args=[3]").await?,
        json!({ "ok": 3 })
    );
    assert_eq!(
        get(&c, &s, "/js/a/call/caller/r/describe?args=[\"t\",2,false]").await?,
        json!({ "ok": "t:2:false" })
    );
    // stub.fetch: the callee's response, whatever its status.
    let fetched = get(&c, &s, "/js/a/fetch/js/b/echo/x").await?;
    assert_eq!(fetched["status"], 200);
    let body: Value = serde_json::from_str(fetched["body"].as_str().unwrap())?;
    assert_eq!(body, json!({ "path": "/echo/x?q=1", "header": "js" }));
    let fetched = get(&c, &s, "/js/a/fetch/caller/r/status/404").await?;
    assert_eq!(fetched["status"], 404);
    Ok(())
}

#[tokio::test]
async fn javascript_callers_get_the_rejections_cloudflare_gives() -> Result<()> {
    let s = start()?;
    let c = client();
    // The callee's exception: its type and message; its writes are discarded.
    assert_eq!(
        get(&c, &s, "/js/a/call/js/b/boom?args=[\"too%20far\"]").await?,
        json!({ "error": { "name": "RangeError", "kind": "callee-failed", "message": "too far" } })
    );
    assert_eq!(get(&c, &s, "/js/b/value").await?, json!(0));
    assert_eq!(
        get(&c, &s, "/js/a/call/js/b/nothing").await?,
        json!({ "error": { "name": "Error", "kind": "no-such-method", "message": "Rpc has no public method nothing()" } })
    );
    for hidden in ["alarm", "webSocketMessage", "secret", "%23secret"] {
        let out = get(&c, &s, &format!("/js/a/call/js/b/{hidden}")).await?;
        assert_eq!(out["error"]["kind"], "no-such-method", "{hidden}: {out}");
    }
    // Arguments that cannot be encoded: refused in the caller, nothing sent.
    assert_eq!(
        get(&c, &s, "/js/a/bad/js/b").await?,
        json!({ "error": { "name": "TypeError", "message": "cannot send the arguments of increment(): the value[0] is a function, which cannot be serialized" } })
    );
    // A cycle through JavaScript objects: a -> b -> a.
    let out = rust_run(
        &c,
        &s,
        "r",
        json!([{ "fetch": ["js", "a", "/call/caller/r/get"] }]),
    )
    .await?;
    let body: Value = serde_json::from_str(out[0]["body"].as_str().unwrap())?;
    assert_eq!(body["error"]["kind"], "cycle");
    assert_eq!(
        body["error"]["message"],
        "call cycle: js/a -> caller/r -> js/a (an object waiting in a call cannot be called again until that call returns)"
    );
    Ok(())
}

#[tokio::test]
async fn python_and_rust_objects_call_each_other() -> Result<()> {
    let s = start()?;
    let c = client();
    assert_eq!(
        get(&c, &s, "/py/a/call/caller/r/increment?args=[4]").await?,
        json!({ "ok": 4 })
    );
    assert_eq!(
        get(&c, &s, "/py/a/call/py/b/increment?args=[2]").await?,
        json!({ "ok": 2 })
    );
    let out = rust_run(
        &c,
        &s,
        "r",
        json!([
            { "call": ["py", "b", "increment", [10]] },
            { "call": ["py", "b", "fail", ["nope"]] },
            { "call": ["py", "b", "_private", []] },
            { "call": ["js", "j", "increment", [1]] },
        ]),
    )
    .await?;
    assert_eq!(out[0], json!({ "ok": 12 }));
    assert_eq!(
        out[1],
        json!({ "error": { "kind": "CalleeFailed", "message": "nope" } })
    );
    assert_eq!(
        out[2],
        json!({ "error": { "kind": "NoSuchMethod", "message": "PyRpc has no public method '_private'" } })
    );
    assert_eq!(out[3], json!({ "ok": 1 }));
    assert_eq!(
        get(&c, &s, "/py/b/value").await?,
        json!(12),
        "the failed call kept nothing"
    );
    let err = get(&c, &s, "/py/a/call/caller/r/nothing").await?;
    assert_eq!(err["error"]["kind"], "no-such-method");
    let fetched = get(&c, &s, "/py/a/fetch/caller/r/echo/p").await?;
    let body: Value = serde_json::from_str(fetched["body"].as_str().unwrap())?;
    assert_eq!(body, json!({ "object": "r", "path": "p", "header": "py" }));
    Ok(())
}

#[tokio::test]
async fn values_json_cannot_hold_cross_languages_in_the_tagged_form() -> Result<()> {
    let s = start()?;
    let c = client();
    // JavaScript's structured-clone values, as Python reads them.
    let (_, out) = call(
        &c,
        Method::GET,
        s.url("/js/j/call/py/p/describe?args=[{\"a\":1}]"),
    )
    .await?;
    assert_eq!(out, json!({ "ok": "a=int(1)" }));
    let out = rust_run(
        &c,
        &s,
        "r",
        json!([
            { "call": ["js", "j", "clones", []] },
            { "call": ["py", "p", "clones", []] },
        ]),
    )
    .await?;
    // The wire (and storage) form, as the Rust caller receives it.
    assert_eq!(
        out[0],
        json!({ "ok": {
            "missing": { "$undefined": true },
            "at": { "$date": "2026-12-01T00:00:00.000Z" },
            "big": { "$bigint": "1180591620717411303424" },
            "names": { "$map": [[1, "one"]] },
            "tags": { "$set": ["a"] },
            "bytes": { "$bytes": "AQI=" },
        }})
    );
    assert_eq!(
        out[1],
        json!({ "ok": {
            "at": { "$date": "2026-12-01T00:00:00.000Z" },
            "big": { "$bigint": "1180591620717411303424" },
            "names": { "$map": [[1, "one"]] },
            "tags": { "$set": ["a"] },
            "bytes": { "$bytes": "AQI=" },
            "nan": { "$number": "NaN" },
        }})
    );
    // Each language decodes the other's: Python's values in JavaScript, JavaScript's in Python.
    let out = rust_run(
        &c,
        &s,
        "r",
        json!([
            { "call": ["js", "j", "describe", [out[1]["ok"].clone()]] },
            { "call": ["py", "p", "describe", [out[0]["ok"].clone()]] },
        ]),
    )
    .await?;
    assert_eq!(
        out[0]["ok"],
        "at=Date(2026-12-01T00:00:00.000Z) big=BigInt(1180591620717411303424) bytes=Uint8Array(1,2) \
         names=Map([[1,\"one\"]]) nan=Number(NaN) tags=Set([\"a\"])"
    );
    assert_eq!(
        out[1]["ok"],
        "at=datetime(datetime.datetime(2026, 12, 1, 0, 0, tzinfo=datetime.timezone.utc)) \
         big=int(1180591620717411303424) bytes=bytes(b'\\x01\\x02') missing=NoneType(None) \
         names=dict({1: 'one'}) tags=set({'a'})"
    );
    Ok(())
}
