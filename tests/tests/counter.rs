//! The counter example's HTTP contract, its durability, and single activation under concurrency.

use std::collections::HashSet;

use anyhow::Result;
use holdfast_tests::{Server, built, call, class, client, default_config, guest};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn counter_contract() -> Result<()> {
    contract(&default_config()).await
}

/// The same contract against the counter built with `cargo component build` (wasm32-wasip1 plus
/// the preview1 adapter: four core instances instead of three). Needs cargo-component, which
/// takes about 20 minutes to install: `WITH_CARGO_COMPONENT=1 scripts/test.sh` runs it.
#[tokio::test]
#[ignore = "needs cargo-component: WITH_CARGO_COMPONENT=1 scripts/test.sh runs it"]
async fn counter_contract_built_with_cargo_component() -> Result<()> {
    contract_of("Counter", "target/wasm32-wasip1/release/counter.wasm").await
}

/// The same contract against the counter written in Python (examples/py-counter, built with
/// componentize-py and the Python SDK).
#[tokio::test]
async fn counter_contract_in_python() -> Result<()> {
    contract_of("PyCounter", "target/py-counter/py_counter.wasm").await
}

/// The same contract against the counter written in JavaScript the Cloudflare way
/// (examples/js-counter, built with the JS SDK and componentize-js).
#[tokio::test]
async fn counter_contract_in_javascript() -> Result<()> {
    contract_of("Counter", "target/js-counter/js_counter.wasm").await
}

/// The contract against another build of the counter, served as `counter` beside the test guest.
async fn contract_of(class_name: &str, wasm: &str) -> Result<()> {
    contract(&format!(
        "{}{}",
        class("counter", class_name, &built(wasm)),
        class("trap", "Trapper", &guest("trapper"))
    ))
    .await
}

async fn contract(config: &str) -> Result<()> {
    let s = Server::start(config)?;
    let c = client();
    let get = |p: &str| call(&c, Method::GET, s.url(p));
    let post = |p: &str| call(&c, Method::POST, s.url(p));

    assert_eq!(get("/counter/alice").await?, (200, json!({"value": 0})));
    assert_eq!(
        post("/counter/alice/increment").await?,
        (200, json!({"value": 1}))
    );
    assert_eq!(
        post("/counter/alice/increment?amount=5").await?,
        (200, json!({"value": 6}))
    );
    assert_eq!(
        post("/counter/alice/decrement").await?,
        (200, json!({"value": 5}))
    );
    assert_eq!(
        post("/counter/alice/decrement?amount=7").await?,
        (200, json!({"value": -2}))
    );
    assert_eq!(get("/counter/alice").await?, (200, json!({"value": -2})));
    assert_eq!(get("/counter/alice/").await?, (200, json!({"value": -2})));
    assert_eq!(
        post("/counter/alice/reset").await?,
        (200, json!({"value": 0}))
    );
    assert_eq!(get("/counter/alice").await?, (200, json!({"value": 0})));

    // Errors: non-integer amount, unknown routes, wrong methods. Nothing changes.
    post("/counter/alice/increment?amount=3").await?;
    let (status, body) = post("/counter/alice/increment?amount=x").await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "amount must be an integer, got `x`");
    let (status, body) = post("/counter/alice/increment?amount=1.5").await?;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get("/counter/alice/nope").await?;
    assert_eq!(status, 404);
    assert!(body["error"].is_string(), "{body}");
    let (status, _) = get("/counter/alice/increment").await?;
    assert_eq!(status, 404);
    let (status, _) = call(&c, Method::DELETE, &s.url("/counter/alice")).await?;
    assert_eq!(status, 404);
    assert_eq!(get("/counter/alice").await?, (200, json!({"value": 3})));

    // The same object by its hex ID.
    let (_, who) = get("/trap/alice/whoami").await?;
    assert_eq!(who["name"], "alice");
    let (status, _) = get(&format!(
        "/_/id/trap/{}/whoami",
        who["id"].as_str().unwrap()
    ))
    .await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn names_never_share_keys() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    for _ in 0..3 {
        call(&c, Method::POST, &s.url("/counter/a/increment")).await?;
    }
    call(&c, Method::POST, &s.url("/counter/b/increment?amount=10")).await?;
    assert_eq!(
        call(&c, Method::GET, &s.url("/counter/a")).await?.1,
        json!({"value": 3})
    );
    assert_eq!(
        call(&c, Method::GET, &s.url("/counter/b")).await?.1,
        json!({"value": 10})
    );
    // Similar names (prefixes of each other) are distinct objects.
    assert_eq!(
        call(&c, Method::GET, &s.url("/counter/aa")).await?.1,
        json!({"value": 0})
    );
    // The test guest lists every key it can see: only its own.
    let ops = |k: &str| json!([{"op": "put", "key": k, "value": "v"}, {"op": "list"}]);
    let one = c
        .post(s.url("/trap/one/ops"))
        .json(&ops("k1"))
        .send()
        .await?;
    let one: serde_json::Value = one.json().await?;
    let two = c
        .post(s.url("/trap/two/ops"))
        .json(&ops("k2"))
        .send()
        .await?;
    let two: serde_json::Value = two.json().await?;
    assert_eq!(one["results"][1], json!([["k1", "v"]]));
    assert_eq!(two["results"][1], json!([["k2", "v"]]));
    Ok(())
}

#[tokio::test]
async fn concurrent_increments_on_one_object_are_serialized() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    let url = s.url("/counter/hot/increment");
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let c = c.clone();
            let url = url.clone();
            tokio::spawn(async move { call(&c, Method::POST, &url).await })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        let (status, body) = t.await??;
        assert_eq!(status, 200, "{body}");
        assert!(
            seen.insert(body["value"].as_i64().unwrap()),
            "duplicate {body}"
        );
    }
    assert_eq!(seen, (1..=200).collect::<HashSet<i64>>());
    assert_eq!(
        call(&c, Method::GET, &s.url("/counter/hot")).await?.1,
        json!({"value": 200})
    );
    Ok(())
}

#[tokio::test]
async fn values_survive_a_clean_restart() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    for name in ["x", "y"] {
        call(
            &c,
            Method::POST,
            &s.url(&format!("/counter/{name}/increment?amount=7")),
        )
        .await?;
    }
    let s = s.restart()?;
    assert_eq!(
        call(&c, Method::GET, &s.url("/counter/x")).await?.1,
        json!({"value": 7})
    );
    assert_eq!(
        call(&c, Method::GET, &s.url("/counter/y")).await?.1,
        json!({"value": 7})
    );
    Ok(())
}

/// Every increment that got a 200 before SIGKILL is there afterwards, including those acked
/// while others were still in flight.
#[tokio::test]
async fn acknowledged_increments_survive_kill_9() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mut tasks = Vec::new();
    for w in 0..16 {
        let c = c.clone();
        let url = s.url(&format!("/counter/k{}/increment", w % 4));
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                match call(&c, Method::POST, &url).await {
                    Ok((200, body)) => {
                        acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        mine.push(body["value"].as_i64().unwrap());
                    }
                    _ => return mine,
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let s = s.kill9_and_restart()?;
    let mut max_acked = [0i64; 4];
    for (w, t) in tasks.into_iter().enumerate() {
        let values = t.await?;
        let m = values.into_iter().max().unwrap_or(0);
        max_acked[w % 4] = max_acked[w % 4].max(m);
    }
    assert!(
        acked.load(std::sync::atomic::Ordering::SeqCst) > 100,
        "the load ran"
    );
    for (i, acked_max) in max_acked.iter().enumerate() {
        let (_, body) = call(&c, Method::GET, &s.url(&format!("/counter/k{i}"))).await?;
        let stored = body["value"].as_i64().unwrap();
        assert!(
            stored >= *acked_max,
            "k{i}: a 200 said {acked_max} but after kill -9 the value is {stored}"
        );
    }
    Ok(())
}

/// Compiled code goes to the configured cache directory, so a restart (even with another data
/// directory) loads it instead of compiling again.
#[tokio::test]
async fn compiled_code_is_cached_on_disk() -> Result<()> {
    let cache = tempfile::tempdir()?;
    let config = format!(
        "[server]\ncache = \"{}\"\n{}",
        cache.path().display(),
        default_config()
    );
    let files = |dir: &std::path::Path| -> usize {
        fn walk(d: &std::path::Path) -> usize {
            std::fs::read_dir(d).map_or(0, |rd| {
                rd.flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() {
                            walk(&p)
                        } else if p.extension().is_some_and(|x| x == "stats" || x == "lock") {
                            // wasmtime's usage statistics (written in the background on every
                            // hit) and the compile locks are not compiled code.
                            0
                        } else {
                            1
                        }
                    })
                    .sum()
            })
        }
        walk(dir)
    };
    let s = Server::start(&config)?;
    let after_first = files(cache.path());
    assert!(
        after_first >= 2,
        "{after_first} files cached for two classes"
    );
    drop(s);
    let s = Server::start(&config)?;
    assert_eq!(
        files(cache.path()),
        after_first,
        "nothing was compiled again"
    );
    assert!(!s.log().contains("compiling component"), "{}", s.log());
    let c = client();
    assert_eq!(
        call(&c, Method::POST, s.url("/counter/c/increment"))
            .await?
            .0,
        200
    );
    Ok(())
}
