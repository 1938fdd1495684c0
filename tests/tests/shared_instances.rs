//! Many objects per instance (JavaScript and Python classes): what must still hold when objects
//! share an instance, each broken on purpose through the test guest tests/js-guests/tenant.js,
//! served with every object in one instance (`instances = 1`).

use std::time::Duration;

use anyhow::Result;
use holdfast_tests::{
    Server, admin, admin_config, built, client, eventually, guest, metric, root,
    run_expecting_failure, ws_connect, ws_json, ws_send,
};
use reqwest::Method;
use serde_json::{Value, json};

/// The tenant class as `TENANT` (routes `/tenant/{name}/...`), all objects in one instance.
fn config(limits: &str) -> String {
    format!(
        "{}[[class]]\nbinding = \"TENANT\"\nclass = \"Tenant\"\nroute = \"tenant\"\ncomponent = \"{}\"\nobjects_per_instance = 100\ninstances = 1\n[class.limits]\n{limits}",
        admin_config(),
        built("target/js-guests/tenant.wasm").display()
    )
}

async fn get(c: &reqwest::Client, s: &Server, path: &str) -> Result<(u16, String)> {
    let r = c.get(s.url(path)).send().await?;
    Ok((r.status().as_u16(), r.text().await?))
}

async fn json(c: &reqwest::Client, s: &Server, path: &str) -> Result<Value> {
    let (status, body) = get(c, s, path).await?;
    assert_eq!(status, 200, "{path}: {body}");
    Ok(serde_json::from_str(&body)?)
}

#[tokio::test]
async fn a_failed_event_discards_only_the_failing_objects_memory() -> Result<()> {
    let s = Server::start(&config(""))?;
    let c = client();
    json(&c, &s, "/tenant/a/bump").await?;
    assert_eq!(json(&c, &s, "/tenant/a/bump").await?["count"], 2);
    let b = json(&c, &s, "/tenant/b/bump").await?;
    assert_eq!(b["count"], 1);
    // b was the second object this instance constructed: they share it.
    assert_eq!(b["constructedAs"], 2);

    let (status, body) = get(&c, &s, "/tenant/a/fail").await?;
    assert_eq!(status, 500);
    assert!(body.contains("this event fails on purpose"), "{body}");
    // Its write is gone, its memory is made anew; b keeps its own.
    let a = json(&c, &s, "/tenant/a/whoami").await?;
    assert_eq!(a["keys"], serde_json::json!([]), "{a}");
    assert_eq!(a["count"], 0, "{a}");
    assert_eq!(json(&c, &s, "/tenant/a/bump").await?["constructedAs"], 3);
    assert_eq!(json(&c, &s, "/tenant/b/bump").await?["count"], 2);
    assert_eq!(metric(&c, &s, "holdfast_shared_instances").await?, 1.0);
    Ok(())
}

/// Bumps `name`'s durable counter `n` times, concurrently with whatever else runs; returns how
/// many answered 200 (every one must: a neighbour's trap loses no event of another object).
async fn incr_all(c: &reqwest::Client, s: &Server, name: &str, n: usize) -> Result<usize> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (c, url) = (c.clone(), s.url(&format!("/tenant/{name}/incr")));
        tasks.push(tokio::spawn(async move {
            let r = c.get(url).send().await?;
            let status = r.status().as_u16();
            let body = r.text().await?;
            anyhow::Ok((status, body))
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (status, body) = t.await??;
        assert_eq!(
            status, 200,
            "an event of {name} was answered wrongly: {body}"
        );
        ok += 1;
    }
    Ok(ok)
}

#[tokio::test]
async fn a_trap_discards_the_instance_and_every_object_it_hosted_starts_afresh() -> Result<()> {
    let s = Server::start(&config("cpu_ms = 300\n"))?;
    let c = client();
    json(&c, &s, "/tenant/a/bump").await?;
    json(&c, &s, "/tenant/a/bump").await?;
    json(&c, &s, "/tenant/b/bump").await?;

    // c runs out of memory while a's and b's events queue for the same instance.
    let (oom, a_ok, b_ok) = tokio::join!(
        get(&c, &s, "/tenant/c/oom"),
        incr_all(&c, &s, "a", 20),
        incr_all(&c, &s, "b", 20)
    );
    let (status, body) = oom?;
    assert_eq!(status, 500);
    assert!(body.contains("trapped"), "{body}");
    assert_eq!((a_ok?, b_ok?), (20, 20));
    // Every event of a and b committed exactly once, whichever instance ran it.
    assert_eq!(json(&c, &s, "/tenant/a/incr").await?["n"], 21);
    assert_eq!(json(&c, &s, "/tenant/b/incr").await?["n"], 21);
    assert!(metric(&c, &s, "holdfast_shared_instances_lost_total").await? >= 1.0);

    // Over its CPU time: the same; the objects' memory is made anew.
    json(&c, &s, "/tenant/a/bump").await?;
    let (status, body) = get(&c, &s, "/tenant/c/spin").await?;
    assert_eq!(status, 500);
    assert!(body.contains("CPU time limit"), "{body}");
    let a = json(&c, &s, "/tenant/a/bump").await?;
    assert_eq!(a["count"], 1, "a's memory was in the lost instance: {a}");
    assert_eq!(
        a["constructedAs"], 1,
        "a new instance constructed it first: {a}"
    );
    Ok(())
}

#[tokio::test]
async fn calls_between_objects_of_one_instance_do_not_deadlock() -> Result<()> {
    let s = Server::start(&config("")).map(|s| s)?;
    let c = client();
    // a and b live in the one instance; a's call to b waits there, so b moves.
    json(&c, &s, "/tenant/b/bump").await?;
    json(&c, &s, "/tenant/a/bump").await?;
    let answer = tokio::time::timeout(Duration::from_secs(10), json(&c, &s, "/tenant/a/call?to=b"))
        .await
        .expect("a call to an object of the same instance must not deadlock")?;
    assert_eq!(answer["caller"], 1, "{answer}");
    assert!(answer["callee"]["count"].as_i64().unwrap() >= 1, "{answer}");
    assert!(metric(&c, &s, "holdfast_shared_moves_total").await? >= 1.0);
    // And back, many times, both ways at once: no deadlock, every call answered.
    let mut calls = Vec::new();
    for i in 0..20 {
        let (from, to) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
        let (c, url) = (c.clone(), s.url(&format!("/tenant/{from}/call?to={to}")));
        calls.push(tokio::spawn(async move {
            let r = c.get(url).send().await?;
            anyhow::Ok((r.status().as_u16(), r.text().await?))
        }));
    }
    for call in calls {
        let (status, body) = tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .expect("no call may hang")??;
        // A call that would wait in a circle (a calls b while b calls a) is refused, not hung.
        assert!(
            status == 200 || body.contains("deadlock") || body.contains("call cycle"),
            "{status}: {body}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn objects_of_one_instance_cannot_reach_each_others_storage_sockets_or_identity() -> Result<()>
{
    let s = Server::start(&config(""))?;
    let c = client();
    json(&c, &s, "/tenant/a/put?key=secret&value=a-only").await?;
    let mut ws = ws_connect(&s, "/tenant/a/ws").await?;
    ws_send(&mut ws, "hi").await?;
    let echo = ws_json(&mut ws).await?;
    assert_eq!(echo["echo"], "hi");

    let b = json(&c, &s, "/tenant/b/whoami").await?;
    assert_eq!(b["name"], "b");
    assert_eq!(b["keys"], serde_json::json!([]), "{b}");
    assert_eq!(b["sockets"], 0, "{b}");
    // The instance ran a's event just before: they do share it.
    assert_eq!(b["previousWasOther"], true, "{b}");
    assert_ne!(b["id"], echo["id"]);

    let a = json(&c, &s, "/tenant/a/whoami").await?;
    assert_eq!(a["keys"], serde_json::json!(["secret"]), "{a}");
    assert_eq!(a["sockets"], 1, "{a}");
    assert_eq!(a["id"], echo["id"]);
    // a's socket still reaches a, with a's memory.
    ws_send(&mut ws, "again").await?;
    let again = ws_json(&mut ws).await?;
    assert_eq!(again["id"], echo["id"]);
    assert_eq!(again["count"], 2, "{again}");
    Ok(())
}

#[test]
fn objects_per_instance_above_one_needs_the_hosting_export() -> Result<()> {
    let config = format!(
        "[[class]]\nbinding = \"counter\"\nclass = \"Counter\"\ncomponent = \"{}\"\nobjects_per_instance = 10\n",
        guest("counter").display()
    );
    let (ok, out) = run_expecting_failure(&config)?;
    assert!(!ok);
    assert!(
        out.contains(
            "class `Counter` (binding `counter`): objects_per_instance = 10 needs a component that exports holdfast:object/hosting"
        ),
        "{out}"
    );
    let zero = config.replace("= 10", "= 0");
    let (ok, out) = run_expecting_failure(&zero)?;
    assert!(!ok);
    assert!(
        out.contains("class[0].objects_per_instance: must be at least 1"),
        "{out}"
    );
    Ok(())
}

#[tokio::test]
async fn python_objects_of_one_instance_keep_their_own_memory() -> Result<()> {
    let config = format!(
        "[[class]]\nbinding = \"failer\"\nclass = \"Failer\"\ncomponent = \"{}\"\nobjects_per_instance = 100\ninstances = 1\n",
        built("target/py-guests/failer.wasm").display()
    );
    let s = Server::start(&config)?;
    let c = client();
    json(&c, &s, "/failer/a/bump").await?;
    let a = json(&c, &s, "/failer/a/bump").await?;
    assert_eq!(a["count"], 2, "{a}");
    let b = json(&c, &s, "/failer/b/bump").await?;
    assert_eq!(b["count"], 1, "{b}");
    assert_ne!(a["id"], b["id"]);
    // a's failed event makes a anew; b keeps its memory.
    let r = c
        .post(s.url("/failer/a/write-then-raise?key=k"))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 500);
    assert!(
        r.text()
            .await?
            .contains("deliberate failure after writing k")
    );
    assert_eq!(json(&c, &s, "/failer/a/bump").await?["count"], 1);
    assert_eq!(json(&c, &s, "/failer/b/bump").await?["count"], 2);
    assert_eq!(metric(&c, &s, "holdfast_shared_instances").await?, 1.0);
    Ok(())
}

/// bench/peer-js.toml, the config the peer bench runs the JavaScript classes with, serves the
/// JS counter on `/counter` (on shared instances: the default for a JS class).
#[tokio::test]
async fn the_peer_bench_js_config_serves_the_js_counter() -> Result<()> {
    built("target/js-counter/js_counter.wasm");
    built("target/js-chat-room/js_chat_room.wasm");
    let text = std::fs::read_to_string(root().join("bench/peer-js.toml"))?;
    let target = root().join("target");
    let s = Server::start(&text.replace("../target", &target.display().to_string()))?;
    let c = client();
    for expected in 1..=3 {
        let r = c.post(s.url("/counter/peer/increment")).send().await?;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.json::<Value>().await?["value"], expected);
    }
    assert_eq!(json(&c, &s, "/counter/peer").await?["value"], 3);
    assert_eq!(metric(&c, &s, "holdfast_shared_instances").await?, 1.0);
    Ok(())
}

/// A panicking actor (a host bug, triggered by the test seam) gives its slot back: its object is
/// placed again, and once every object has left, the shared instance is dropped.
#[tokio::test]
async fn a_panicked_actor_gives_its_slot_back() -> Result<()> {
    let s = Server::start_with_faults(&config(""))?;
    let c = client();
    assert_eq!(json(&c, &s, "/tenant/a/bump").await?["count"], 1);
    assert_eq!(json(&c, &s, "/tenant/b/bump").await?["count"], 1);
    let (status, body) = admin(&c, &s, Method::POST, "/objects/TENANT/a/panic").await?;
    assert_eq!((status, &body["panicked"]), (200, &json!(true)), "{body}");
    // The replacement actor places the object again: it is made anew; b keeps its memory.
    assert_eq!(json(&c, &s, "/tenant/a/bump").await?["count"], 1);
    assert_eq!(json(&c, &s, "/tenant/b/bump").await?["count"], 2);
    for name in ["a", "b"] {
        let (status, body) = admin(
            &c,
            &s,
            Method::POST,
            &format!("/objects/TENANT/{name}/evict"),
        )
        .await?;
        assert_eq!((status, &body["evicted"]), (200, &json!(true)), "{body}");
    }
    // No slot leaked: with no object left, the instance is gone (its release follows the
    // evictions' answers, so it is waited for).
    eventually(Duration::from_secs(10), || async {
        Ok((metric(&c, &s, "holdfast_shared_instances").await? == 0.0).then_some(()))
    })
    .await?;
    Ok(())
}
