//! Calls between objects (Rust SDK: `Stub::call`, `Stub::fetch`, `#[methods]`), driven by the
//! caller test guest's scripts: results, the callee's own atomic event, failures the caller can
//! catch, cycles and deadlocks refused at once, the depth limit, the timeout, and the caller's
//! CPU budget not counting its wait.

use std::time::Duration;

use anyhow::Result;
use holdfast_tests::{Server, call, class, client, guest};
use reqwest::Method;
use serde_json::{Value, json};

fn config(runtime: &str, cpu_ms: u64) -> String {
    format!(
        "[runtime]\n{runtime}\n[limits]\ncpu_ms = {cpu_ms}\n{}{}",
        class("caller", "Caller", &guest("caller")),
        class("other", "Caller", &guest("caller")),
    )
}

fn start() -> Result<Server> {
    Server::start(&config("", 30_000))
}

/// Runs `steps` on caller/`name`: (status, body).
async fn run(c: &reqwest::Client, s: &Server, name: &str, steps: Value) -> Result<(u16, Value)> {
    let r = c
        .post(s.url(&format!("/caller/{name}/run")))
        .json(&steps)
        .send()
        .await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// Runs `steps` and returns its results, after checking that the event succeeded.
async fn results(c: &reqwest::Client, s: &Server, name: &str, steps: Value) -> Result<Value> {
    let (status, body) = run(c, s, name, steps).await?;
    assert_eq!(status, 200, "{body}");
    Ok(body)
}

/// Runs `steps` on caller/`name` in the background; the handle yields the response body.
fn spawn_run(
    c: &reqwest::Client,
    s: &Server,
    name: &str,
    steps: Value,
) -> tokio::task::JoinHandle<reqwest::Result<Value>> {
    let (c, url) = (c.clone(), s.url(&format!("/caller/{name}/run")));
    tokio::spawn(async move { c.post(url).json(&steps).send().await?.json::<Value>().await })
}

fn call_step(ns: &str, name: &str, method: &str, args: Value) -> Value {
    json!({ "call": [ns, name, method, args] })
}

/// A nested script: `name` runs `steps`.
fn run_on(ns: &str, name: &str, steps: Value) -> Value {
    call_step(ns, name, "run", json!([steps]))
}

async fn value(c: &reqwest::Client, s: &Server, ns: &str, name: &str) -> Result<Value> {
    Ok(call(c, Method::GET, s.url(&format!("/{ns}/{name}/value")))
        .await?
        .1)
}

#[tokio::test]
async fn a_method_call_returns_its_result_and_the_callee_keeps_its_writes() -> Result<()> {
    let s = start()?;
    let c = client();
    let out = results(
        &c,
        &s,
        "a",
        json!([
            call_step("other", "b", "increment", json!([5])),
            call_step("other", "b", "increment", json!([2])),
            call_step("caller", "c", "describe", json!(["x", 7, true])),
        ]),
    )
    .await?;
    assert_eq!(out, json!([{ "ok": 5 }, { "ok": 7 }, { "ok": "x:7:true" }]));
    assert_eq!(value(&c, &s, "other", "b").await?, json!(7));
    // Durable: the callee's writes survive a kill -9 of the host.
    let s = s.kill9_and_restart()?;
    assert_eq!(value(&c, &s, "other", "b").await?, json!(7));
    Ok(())
}

#[tokio::test]
async fn fetch_to_another_object_gets_its_response_whatever_the_status() -> Result<()> {
    let s = start()?;
    let c = client();
    let out = results(
        &c,
        &s,
        "a",
        json!([
            { "fetch": ["other", "b", "/echo/x/y?q=1"] },
            { "fetch": ["other", "b", "/status/418"] },
        ]),
    )
    .await?;
    let echoed: Value = serde_json::from_str(out[0]["body"].as_str().unwrap())?;
    assert_eq!(out[0]["status"], 200);
    assert_eq!(
        echoed,
        json!({ "object": "b", "path": "x/y", "header": "relayed" }),
        "the callee learns its name and sees the request's path and headers"
    );
    assert_eq!(out[1]["status"], 418);
    Ok(())
}

#[tokio::test]
async fn a_failing_callee_gives_the_caller_its_message_and_keeps_nothing() -> Result<()> {
    let s = start()?;
    let c = client();
    let out = results(
        &c,
        &s,
        "a",
        json!([
            run_on("other", "b", json!([{ "put": ["value", 99] }, { "fail": "no more" }])),
            call_step("other", "b", "nope", json!([])),
            call_step("other", "b", "step", json!([{}])),
            call_step("other", "b", "increment", json!(["five"])),
            run_on("other", "b", json!([{ "panic": "boom" }])),
            { "put": ["value", 1] },
        ]),
    )
    .await?;
    assert_eq!(
        out[0],
        json!({ "error": { "kind": "CalleeFailed", "message": "no more" } })
    );
    assert_eq!(
        out[1],
        json!({ "error": { "kind": "NoSuchMethod", "message": "Caller has no public method `nope` (expose methods with #[holdfast_sdk::methods])" } })
    );
    assert_eq!(
        out[2]["error"]["kind"], "NoSuchMethod",
        "private methods are not exposed"
    );
    assert_eq!(out[3]["error"]["kind"], "CalleeFailed");
    assert!(
        out[3]["error"]["message"].as_str().unwrap().starts_with(
            "bad arguments for increment: invalid type: string \"five\", expected i64"
        ),
        "{}",
        out[3]
    );
    assert_eq!(out[4]["error"]["kind"], "CalleeTrapped");
    let trapped = out[4]["error"]["message"].as_str().unwrap();
    assert!(trapped.starts_with("other/b object trapped"), "{trapped}");
    assert!(trapped.contains("boom"), "{trapped}");
    // The callee kept nothing of its failed events; the caller went on and kept its own write.
    assert_eq!(value(&c, &s, "other", "b").await?, json!(0));
    assert_eq!(value(&c, &s, "caller", "a").await?, json!(1));
    Ok(())
}

#[tokio::test]
async fn a_callee_over_its_cpu_limit_is_an_error_the_caller_catches() -> Result<()> {
    let s = Server::start(&config("", 200))?;
    let c = client();
    let out = results(
        &c,
        &s,
        "a",
        json!([run_on("other", "b", json!([{ "spin": true }]))]),
    )
    .await?;
    assert_eq!(out[0]["error"]["kind"], "CalleeTrapped");
    let m = out[0]["error"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("other/b object trapped: exceeded the CPU time limit of 200 ms per event"),
        "{m}"
    );
    Ok(())
}

#[tokio::test]
async fn a_call_back_to_a_waiting_object_fails_at_once_as_a_cycle() -> Result<()> {
    let s = start()?;
    let c = client();
    // a -> b -> a
    let out = results(
        &c,
        &s,
        "a",
        json!([run_on(
            "other",
            "b",
            json!([call_step("caller", "a", "get", json!([]))])
        )]),
    )
    .await?;
    assert_eq!(
        out[0]["ok"][0],
        json!({ "error": { "kind": "Cycle", "message": "call cycle: other/b -> caller/a -> other/b (an object waiting in a call cannot be called again until that call returns)" } })
    );
    // a -> a
    let out = results(
        &c,
        &s,
        "a",
        json!([call_step("caller", "a", "get", json!([]))]),
    )
    .await?;
    assert_eq!(out[0]["error"]["kind"], "Cycle");
    // a -> b -> c -> a
    let out = results(
        &c,
        &s,
        "a",
        json!([run_on(
            "other",
            "b",
            json!([run_on(
                "other",
                "c",
                json!([call_step("caller", "a", "get", json!([]))])
            )])
        )]),
    )
    .await?;
    assert_eq!(
        out[0]["ok"][0]["ok"][0]["error"]["message"],
        "call cycle: other/c -> caller/a -> other/b -> other/c (an object waiting in a call cannot be called again until that call returns)"
    );
    // Nothing is left waiting: the same objects call each other freely afterwards.
    let out = results(
        &c,
        &s,
        "b",
        json!([call_step("caller", "a", "increment", json!([1]))]),
    )
    .await?;
    assert_eq!(out[0]["ok"], 1);
    Ok(())
}

#[tokio::test]
async fn two_chains_waiting_for_each_other_fail_at_once_as_a_deadlock() -> Result<()> {
    let s = start()?;
    let c = client();
    // Chain 1: b waits 400 ms (in a call to c), then calls a.
    let first = spawn_run(
        &c,
        &s,
        "b",
        json!([
            run_on("other", "c", json!([{ "sleep": 400 }])),
            call_step("caller", "a", "get", json!([])),
        ]),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Chain 2: meanwhile a calls b, so a waits for b while b is about to wait for a.
    let second = results(
        &c,
        &s,
        "a",
        json!([call_step("caller", "b", "get", json!([]))]),
    )
    .await?;
    let first = first.await??;
    assert_eq!(
        first[1],
        json!({ "error": { "kind": "Deadlock", "message": "deadlock: caller/b -> caller/a -> caller/b (objects waiting for each other from different chains of calls)" } })
    );
    // a's call to b went through once b's event (which caught the deadlock) finished.
    assert_eq!(second[0], json!({ "ok": 0 }));
    Ok(())
}

#[tokio::test]
async fn a_chain_deeper_than_the_limit_is_refused() -> Result<()> {
    let s = Server::start(&config("max_call_depth = 2", 30_000))?;
    let c = client();
    let leaf = json!([call_step("other", "d", "get", json!([]))]);
    let out = results(
        &c,
        &s,
        "a",
        json!([run_on("other", "b", json!([run_on("other", "c", leaf)]))]),
    )
    .await?;
    assert_eq!(
        out[0]["ok"][0]["ok"][0],
        json!({ "error": { "kind": "TooDeep", "message": "call from other/c to other/d refused: the chain of calls would be 3 deep, deeper than runtime.max_call_depth = 2" } })
    );
    let ok = results(
        &c,
        &s,
        "a",
        json!([run_on(
            "other",
            "b",
            json!([call_step("other", "c", "get", json!([]))])
        )]),
    )
    .await?;
    assert_eq!(ok[0]["ok"][0], json!({ "ok": 0 }), "2 deep is allowed");
    Ok(())
}

#[tokio::test]
async fn a_call_past_the_timeout_fails_and_the_callers_wait_does_not_count_as_cpu() -> Result<()> {
    let s = Server::start(&config("call_timeout_ms = 300", 100))?;
    let c = client();
    let out = results(
        &c,
        &s,
        "a",
        json!([run_on("other", "b", json!([{ "sleep": 1000 }]))]),
    )
    .await?;
    assert_eq!(
        out[0],
        json!({ "error": { "kind": "Timeout", "message": "call from caller/a to other/b timed out: no answer within runtime.call_timeout_ms = 300 ms (the call may still take effect)" } })
    );
    // A wait of 250 ms inside a call, with a CPU limit of 100 ms for the caller: the caller's
    // event succeeds (its budget runs only while its own code runs).
    let out = results(
        &c,
        &s,
        "a",
        json!([run_on("other", "e", json!([{ "sleep": 250 }]))]),
    )
    .await?;
    assert_eq!(out[0], json!({ "ok": [null] }));
    Ok(())
}

#[tokio::test]
async fn bad_addresses_and_arguments_are_named() -> Result<()> {
    let s = start()?;
    let c = client();
    // The SDK's get_by_name refuses an unknown namespace itself (idFromName), failing the event.
    let (status, body) = run(
        &c,
        &s,
        "a",
        json!([call_step("nowhere", "b", "get", json!([]))]),
    )
    .await?;
    assert_eq!(
        (status, body),
        (
            500,
            json!({ "error": "no namespace named `nowhere` on this host" })
        )
    );
    let id = results(&c, &s, "a", json!([{ "id": ["caller", "b"] }])).await?[0].clone();
    let out = results(
        &c,
        &s,
        "a",
        json!([
            { "call_id": ["other", id, "get", []] },
            { "call_id": ["other", "xyz", "get", []] },
            { "call_id": ["nowhere", id, "get", []] },
            call_step("other", "b", "get", json!([1])),
        ]),
    )
    .await?;
    assert_eq!(out[0]["error"]["kind"], "BadAddress");
    let foreign = format!(
        "object id `{}` does not belong to namespace `other`",
        id.as_str().unwrap()
    );
    assert_eq!(out[0]["error"]["message"], foreign.as_str());
    assert_eq!(
        out[1]["error"]["message"],
        "invalid object id `xyz`: expected 64 lowercase hex characters (0-9, a-f), got 3 characters"
    );
    assert_eq!(
        out[2],
        json!({ "error": { "kind": "BadAddress", "message": "no namespace named `nowhere` on this host" } })
    );
    assert_eq!(
        out[3]["error"]["message"],
        "bad arguments for get: it takes none, 1 given"
    );
    Ok(())
}

#[tokio::test]
async fn other_objects_run_while_a_caller_waits_and_the_waiting_object_stays() -> Result<()> {
    let s = Server::start(&format!(
        "[runtime]\nmax_live_objects = 4\n{}{}",
        class("caller", "Caller", &guest("caller")),
        class("other", "Caller", &guest("caller")),
    ))?;
    let c = client();
    let waiting = spawn_run(
        &c,
        &s,
        "a",
        json!([
            { "instance": true },
            run_on("other", "slow", json!([{ "sleep": 1500 }])),
            { "instance": true },
        ]),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Many other objects are activated (and evicted, past the cap of 4) meanwhile.
    for i in 0..20 {
        let (status, _) = run(&c, &s, &format!("x{i}"), json!([{ "put": ["k", i] }])).await?;
        assert_eq!(status, 200);
    }
    assert!(
        !waiting.is_finished(),
        "the other objects answered while the caller waited"
    );
    let out = waiting.await??;
    assert_eq!(
        out[0], out[2],
        "the waiting object kept its instance: {out}"
    );
    Ok(())
}
