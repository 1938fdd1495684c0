//! Object lifecycle and containment: idle eviction, the resident cap, and hostile guests (endless
//! loop, memory bomb, huge writes) that must not hurt well-behaved objects.

use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use holdfast_tests::{
    Server, admin, admin_config, call, class, client, default_config, guest, metric,
};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn idle_objects_leave_memory_and_come_back_with_their_storage() -> Result<()> {
    let config = format!(
        "{}{}[class.limits]\nidle_timeout_ms = 200\n",
        admin_config(),
        class("counter", "Counter", &guest("counter"))
    );
    let s = Server::start(&config)?;
    let c = client();
    call(
        &c,
        Method::POST,
        s.url("/counter/sleepy/increment?amount=4"),
    )
    .await?;
    assert_eq!(metric(&c, &s, "holdfast_live_objects").await?, 1.0);
    let (_, list) = admin(&c, &s, Method::GET, "/objects").await?;
    assert_eq!(list["objects"][0]["name"], "sleepy");

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(metric(&c, &s, "holdfast_live_objects").await?, 0.0);
    assert_eq!(
        admin(&c, &s, Method::GET, "/objects").await?.1,
        json!({"objects": []})
    );
    assert_eq!(metric(&c, &s, "holdfast_evictions_total").await?, 1.0);

    assert_eq!(
        call(&c, Method::GET, s.url("/counter/sleepy")).await?.1,
        json!({"value": 4})
    );
    assert_eq!(metric(&c, &s, "holdfast_activations_total").await?, 2.0);
    Ok(())
}

#[tokio::test]
async fn admin_evicts_on_demand() -> Result<()> {
    let s = Server::start(&format!("{}{}", admin_config(), default_config()))?;
    let c = client();
    call(&c, Method::POST, s.url("/counter/e/increment")).await?;
    let (status, body) = admin(&c, &s, Method::POST, "/objects/counter/e/evict").await?;
    assert_eq!(
        (status, body),
        (200, json!({"evicted": true, "live": false}))
    );
    let (_, body) = admin(&c, &s, Method::POST, "/objects/counter/e/evict").await?;
    assert_eq!(body, json!({"evicted": false, "live": false}));
    assert_eq!(
        call(&c, Method::GET, s.url("/counter/e")).await?.1,
        json!({"value": 1})
    );
    Ok(())
}

/// Ten times more objects than the resident cap: every request succeeds, every value is kept,
/// and the number of live objects stays near the cap.
#[tokio::test]
async fn a_burst_over_the_resident_cap_keeps_working() -> Result<()> {
    let cap = 20;
    let config = format!("[runtime]\nmax_live_objects = {cap}\n{}", default_config());
    let s = Server::start(&config)?;
    let c = client();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let c = c.clone();
        let urls: Vec<String> = (0..200)
            .filter(|i| i % 16 == w)
            .map(|i| s.url(&format!("/counter/obj{i}/increment?amount={i}")))
            .collect();
        tasks.push(tokio::spawn(async move {
            for url in urls {
                let (status, body) = call(&c, Method::POST, url).await?;
                anyhow::ensure!(status == 200, "{status} {body}");
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let live = metric(&c, &s, "holdfast_live_objects").await?;
    assert!(
        live <= (cap + 16) as f64,
        "{live} live objects with a cap of {cap}"
    );
    for i in 0..200 {
        let (_, body) = call(&c, Method::GET, s.url(&format!("/counter/obj{i}"))).await?;
        assert_eq!(body, json!({"value": i}));
    }
    assert!(metric(&c, &s, "holdfast_evictions_total").await? >= 180.0);
    Ok(())
}

/// Latency of sequential requests to a well-behaved object until `done` says stop.
async fn probe(c: &reqwest::Client, url: String, until: Instant) -> Result<Histogram<u64>> {
    let mut h = Histogram::<u64>::new(3)?;
    while Instant::now() < until {
        let t = Instant::now();
        let (status, body) = call(c, Method::POST, url.as_str()).await?;
        anyhow::ensure!(status == 200, "well-behaved object failed: {status} {body}");
        h.record(t.elapsed().as_micros() as u64)?;
    }
    Ok(h)
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_cpu_deadline_and_others_keep_answering() -> Result<()> {
    let config = format!(
        "{}{}[class.limits]\ncpu_ms = 1500\n",
        class("counter", "Counter", &guest("counter")),
        class("trap", "Trapper", &guest("trapper"))
    );
    let s = Server::start(&config)?;
    let c = client();
    let url = s.url("/counter/calm/increment");
    let quiet = probe(&c, url.clone(), Instant::now() + Duration::from_millis(500)).await?;

    let started = Instant::now();
    let spin = tokio::spawn({
        let c = c.clone();
        let u = s.url("/trap/spinner/spin");
        async move { call(&c, Method::POST, u).await }
    });
    let second_spin = tokio::spawn({
        let c = c.clone();
        let u = s.url("/trap/spinner2/spin");
        async move { call(&c, Method::POST, u).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy = probe(&c, url, Instant::now() + Duration::from_millis(1200)).await?;
    let (status, body) = spin.await??;
    second_spin.await??;
    assert_eq!(status, 500);
    assert_eq!(
        body["error"],
        "object trapped: exceeded the CPU time limit of 1500 ms per event"
    );
    assert!(started.elapsed() >= Duration::from_millis(1400));
    eprintln!(
        "well-behaved p50/p99 while two guests spin: {}/{} µs (quiet: {}/{} µs)",
        busy.value_at_quantile(0.5),
        busy.value_at_quantile(0.99),
        quiet.value_at_quantile(0.5),
        quiet.value_at_quantile(0.99)
    );
    assert!(
        busy.len() > 10,
        "only {} requests answered while spinning",
        busy.len()
    );
    // The spinning object gets a fresh instance and works again.
    let (status, _) = call(&c, Method::GET, s.url("/trap/spinner/whoami")).await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn a_memory_bomb_traps_at_the_limit_and_keeps_nothing() -> Result<()> {
    let config = format!(
        "{}{}[class.limits]\nmemory_mib = 32\n",
        class("counter", "Counter", &guest("counter")),
        class("trap", "Trapper", &guest("trapper"))
    );
    let s = Server::start(&config)?;
    let c = client();
    assert_eq!(
        call(&c, Method::POST, s.url("/trap/bomb/alloc?mb=8"))
            .await?
            .0,
        200
    );
    let (status, body) = call(&c, Method::POST, s.url("/trap/bomb/alloc?mb=64")).await?;
    assert_eq!(status, 500);
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.starts_with("object trapped: exceeded the memory limit of 32 MiB"),
        "{msg}"
    );
    assert_eq!(
        call(&c, Method::POST, s.url("/counter/fine/increment"))
            .await?
            .0,
        200
    );
    assert_eq!(
        call(&c, Method::POST, s.url("/trap/bomb/alloc?mb=8"))
            .await?
            .0,
        200
    );
    Ok(())
}

#[tokio::test]
async fn huge_writes_in_one_event_are_contained_and_durable() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    let big = tokio::spawn({
        let c = c.clone();
        let u = s.url("/trap/hog/put-huge?count=400"); // 50 MiB in one event
        async move { call(&c, Method::POST, u).await }
    });
    let probe = probe(
        &c,
        s.url("/counter/calm/increment"),
        Instant::now() + Duration::from_millis(800),
    )
    .await?;
    let (status, body) = big.await??;
    assert_eq!(status, 200, "{body}");
    eprintln!(
        "well-behaved p50/p99 during a 50 MiB event: {}/{} µs",
        probe.value_at_quantile(0.5),
        probe.value_at_quantile(0.99)
    );
    let s = s.kill9_and_restart()?;
    let ops = json!([{"op": "list", "prefix": "huge39", "limit": 2}]);
    let r: serde_json::Value = c
        .post(s.url("/trap/hog/ops"))
        .json(&ops)
        .send()
        .await?
        .json()
        .await?;
    let listed = r["results"][0].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0][1].as_str().unwrap().len(), 128 * 1024);
    Ok(())
}
