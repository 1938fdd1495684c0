//! Workers: with a `[worker]` in the config, every request outside `/_/` goes to the worker,
//! which routes to objects through stubs; instances are reused; the client's address arrives as
//! `cf-connecting-ip`; vars are strings; a worker's failures are clear errors.

use anyhow::Result;
use holdfast_tests::{Server, call, class, client, guest, run_expecting_failure};
use reqwest::Method;
use serde_json::{Value, json};

fn config(extra: &str) -> String {
    format!(
        "[worker]\ncomponent = \"{}\"\n{extra}\n[vars]\nGREETING = \"hello\"\n{}",
        guest("router").display(),
        class("caller", "Caller", &guest("caller")),
    )
}

#[tokio::test]
async fn the_worker_routes_requests_to_objects_and_instances_are_reused() -> Result<()> {
    let s = Server::start(&config(""))?;
    let c = client();
    for expected in 1..=3 {
        let (status, body) = call(&c, Method::POST, s.url("/count/alice")).await?;
        assert_eq!((status, body), (200, json!({ "value": expected })));
    }
    // The object's writes are durable and its direct ID route still works.
    let (_, id) = call(&c, Method::GET, s.url("/ip")).await?;
    assert_eq!(id["ip"], "127.0.0.1");
    assert!(
        id["served"].as_u64().unwrap() > 1,
        "one instance served several requests: {id}"
    );
    let r = c
        .get(s.url("/object/bob/echo/a/b"))
        .header("cf-connecting-ip", "6.6.6.6")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let echoed: Value = r.json().await?;
    assert_eq!(
        echoed,
        json!({ "object": "bob", "path": "a/b", "header": "from the worker" })
    );
    let (status, _) = call(&c, Method::GET, s.url("/object/bob/status/409")).await?;
    assert_eq!(status, 409, "the object's status passes through the worker");
    assert_eq!(
        call(&c, Method::GET, s.url("/var/GREETING")).await?.1,
        json!("hello")
    );
    assert_eq!(
        call(&c, Method::GET, s.url("/var/NOPE")).await?.1,
        Value::Null
    );
    // The host's own routes stay; the direct object routes are the worker's to decide.
    assert_eq!(c.get(s.url("/_/health")).send().await?.text().await?, "ok");
    let (status, _) = call(&c, Method::GET, s.url("/caller/alice/value")).await?;
    assert_eq!(
        status, 404,
        "with a worker, /{{binding}}/{{name}} is the worker's path"
    );
    let s = s.kill9_and_restart()?;
    let (_, body) = call(&c, Method::POST, s.url("/count/alice")).await?;
    assert_eq!(body, json!({ "value": 4 }));
    Ok(())
}

#[tokio::test]
async fn a_failing_worker_answers_500_with_its_message_and_the_next_request_is_served() -> Result<()>
{
    let s = Server::start(&config("[worker.limits]\ncpu_ms = 200"))?;
    let c = client();
    assert_eq!(
        call(&c, Method::GET, s.url("/fail")).await?,
        (500, json!({ "error": "the worker failed on purpose" }))
    );
    let (status, body) = call(&c, Method::GET, s.url("/panic")).await?;
    assert_eq!(status, 500);
    let m = body["error"].as_str().unwrap();
    assert!(m.starts_with("the worker trapped: "), "{m}\n{}", s.log());
    assert!(
        m.contains("the worker panicked on purpose"),
        "{m}\n{}",
        s.log()
    );
    let (status, body) = call(&c, Method::GET, s.url("/spin")).await?;
    assert_eq!(
        (status, body),
        (
            500,
            json!({ "error": "the worker trapped: exceeded the CPU time limit of 200 ms per event" })
        )
    );
    let (status, _) = call(&c, Method::POST, s.url("/count/x")).await?;
    assert_eq!(status, 200, "a new instance replaces a trapped one");
    Ok(())
}

#[tokio::test]
async fn bad_worker_config_is_named() -> Result<()> {
    let (ok, out) = run_expecting_failure(&format!(
        "[worker]\ncomponent = \"{}\"\n",
        "/nonexistent/missing.wasm"
    ))?;
    assert!(!ok);
    assert!(out.contains("cannot read component"), "{out}");
    let (ok, out) = run_expecting_failure(&format!(
        "[worker]\ncomponent = \"{}\"\nmax_instances = 0\n",
        guest("router").display()
    ))?;
    assert!(!ok);
    assert!(
        out.contains("worker.max_instances: must be at least 1"),
        "{out}"
    );
    let (ok, out) = run_expecting_failure("[vars]\nN = 1\n")?;
    assert!(!ok);
    assert!(
        out.contains("vars.N: must be a string (vars reach the code as strings), not a integer"),
        "{out}"
    );
    Ok(())
}

fn js_app() -> Result<Server> {
    let app = holdfast_tests::built("target/js-guests/app.wasm");
    Server::start(&format!(
        "[worker]\ncomponent = \"{}\"\n[vars]\nLIMIT = \"3\"\n{}{}",
        app.display(),
        class("COUNTER", "Counter", &app),
        class("LIMITER", "Limiter", &app),
    ))
}

#[tokio::test]
async fn a_javascript_worker_and_its_classes_run_from_one_component() -> Result<()> {
    let s = js_app()?;
    let c = client();
    for expected in 1..=2 {
        let (status, body) = call(&c, Method::POST, s.url("/counter/alice/increment")).await?;
        assert_eq!((status, body), (200, json!({ "value": expected })));
    }
    // The worker forwards the client's request itself (stub.fetch(request)).
    let (status, body) = call(&c, Method::GET, s.url("/counter/alice")).await?;
    assert_eq!(
        (status, body),
        (200, json!({ "value": 2, "seen": "/counter/alice" }))
    );
    // The rate limiter object, per client address: 3 requests, then 429.
    for _ in 0..3 {
        let (status, _) = call(&c, Method::POST, s.url("/api/counter/bob/increment")).await?;
        assert_eq!(status, 200);
    }
    let r = c.post(s.url("/api/counter/bob/increment")).send().await?;
    assert_eq!(r.status(), 429);
    assert_eq!(r.text().await?, "rate limited");
    let (_, env) = call(&c, Method::GET, s.url("/env")).await?;
    assert_eq!(
        env,
        json!({ "LIMIT": "3", "bindings": ["COUNTER", "LIMIT", "LIMITER"] })
    );
    assert_eq!(
        call(&c, Method::GET, s.url("/throw")).await?,
        (500, json!({ "error": "TypeError: the worker threw" }))
    );
    // ctx.waitUntil work runs after the response.
    let r = c.get(s.url("/later")).send().await?;
    assert_eq!(r.text().await?, "accepted");
    holdfast_tests::eventually(std::time::Duration::from_secs(5), || async {
        let (_, body) = call(&c, Method::GET, s.url("/counter/later")).await?;
        Ok((body["value"] == 1).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_python_worker_routes_to_objects_and_defers_work() -> Result<()> {
    let s = Server::start(&format!(
        "[worker]\ncomponent = \"{}\"\n{}",
        holdfast_tests::built("target/py-guests/worker.wasm").display(),
        class("caller", "Caller", &guest("caller")),
    ))?;
    let c = client();
    for expected in 1..=2 {
        assert_eq!(
            call(&c, Method::POST, s.url("/count/ada")).await?,
            (200, json!({ "value": expected }))
        );
    }
    let (_, ip) = call(&c, Method::GET, s.url("/ip")).await?;
    assert_eq!(ip["ip"], "127.0.0.1");
    assert!(
        ip["served"].as_u64().unwrap() >= 2,
        "one instance, reused: {ip}"
    );
    // wait_until: the answer first, the work after it, before the instance's next request.
    assert_eq!(
        call(&c, Method::POST, s.url("/later")).await?,
        (200, json!({ "deferred": true }))
    );
    holdfast_tests::eventually(std::time::Duration::from_secs(5), || async {
        // Each look adds 1; the deferred work adds 10.
        let (_, v) = call(&c, Method::POST, s.url("/count/later")).await?;
        Ok((v["value"].as_i64().unwrap_or(0) > 10).then_some(()))
    })
    .await?;
    assert_eq!(
        call(&c, Method::GET, s.url("/fail")).await?,
        (
            500,
            json!({ "error": "the Python worker failed on purpose" })
        )
    );
    Ok(())
}
