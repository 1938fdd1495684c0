//! Durable alarms: firing on evicted objects and after restarts, retries with backoff, deletion,
//! transactions, and the admin controls.

use std::time::{Duration, Instant};

use anyhow::Result;
use holdfast_tests::{
    ADMIN_TOKEN, Server, admin, admin_config, call, class, client, default_config, eventually,
    guest, now_ms,
};
use reqwest::Method;
use serde_json::{Value, json};

/// The JSON value the trapper stored under `key` (its `/get` returns the raw text).
async fn stored(c: &reqwest::Client, s: &Server, object: &str, key: &str) -> Result<Value> {
    let (_, body) = call(
        c,
        Method::GET,
        s.url(&format!("/trap/{object}/get?key={key}")),
    )
    .await?;
    Ok(match body["value"].as_str() {
        Some(text) => serde_json::from_str(text)?,
        None => Value::Null,
    })
}

async fn wait_seen(
    c: &reqwest::Client,
    s: &Server,
    object: &str,
    n: u64,
    within: Duration,
) -> Result<()> {
    eventually(within, || async {
        Ok((stored(c, s, object, "alarms_seen").await? == json!(n)).then_some(()))
    })
    .await
}

async fn alarm_of(c: &reqwest::Client, s: &Server, object: &str) -> Result<Value> {
    Ok(
        call(c, Method::GET, s.url(&format!("/trap/{object}/alarm")))
            .await?
            .1["alarm"]
            .clone(),
    )
}

#[tokio::test]
async fn an_alarm_fires_on_an_evicted_object_and_is_consumed() -> Result<()> {
    let s = Server::start(&format!("{}{}", admin_config(), default_config()))?;
    let c = client();
    let at = now_ms() + 400;
    call(&c, Method::POST, s.url(&format!("/trap/a/alarm?at={at}"))).await?;
    assert_eq!(alarm_of(&c, &s, "a").await?, json!(at));
    assert_eq!(
        admin(&c, &s, Method::GET, "/objects/trap/a/alarm").await?.1,
        json!({"alarm": at})
    );
    assert_eq!(
        admin(&c, &s, Method::POST, "/objects/trap/a/evict")
            .await?
            .1["evicted"],
        true
    );

    wait_seen(&c, &s, "a", 1, Duration::from_secs(5)).await?;
    assert!(now_ms() >= at);
    let info = stored(&c, &s, "a", "last_alarm").await?;
    assert_eq!(
        info,
        json!({"scheduled_time": at, "retry_count": 0, "is_retry": false})
    );
    assert_eq!(alarm_of(&c, &s, "a").await?, Value::Null);
    // It does not fire twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stored(&c, &s, "a", "alarms_seen").await?, json!(1));
    Ok(())
}

#[tokio::test]
async fn alarms_survive_kill_9_and_fire_after_restart() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    // One due during the downtime, one due after the restart.
    let soon = now_ms() + 200;
    let later = now_ms() + 2500;
    call(
        &c,
        Method::POST,
        s.url(&format!("/trap/soon/alarm?at={soon}")),
    )
    .await?;
    call(
        &c,
        Method::POST,
        s.url(&format!("/trap/later/alarm?at={later}")),
    )
    .await?;
    // Killed before either fires; the first falls due while the server is down.
    let s = s.kill9_and_restart_after(Duration::from_millis(500))?;
    let restarted = Instant::now();
    wait_seen(&c, &s, "soon", 1, Duration::from_secs(5)).await?;
    eprintln!(
        "alarm due during downtime fired {:?} after restart",
        restarted.elapsed()
    );
    wait_seen(&c, &s, "later", 1, Duration::from_secs(6)).await?;
    assert!(now_ms() >= later);
    Ok(())
}

#[tokio::test]
async fn failed_alarms_are_retried_with_backoff_and_then_dropped() -> Result<()> {
    let config = format!(
        "[alarms]\nretry_base_ms = 100\nmax_retries = 3\n{}",
        default_config()
    );
    let s = Server::start(&config)?;
    let c = client();
    // Fails on the first two deliveries, succeeds on retry 2.
    call(
        &c,
        Method::POST,
        s.url("/trap/flaky/put?key=alarm_fail&len=0"),
    )
    .await?;
    let ops = json!([{"op": "put", "key": "alarm_fail", "value": "2"}]);
    c.post(s.url("/trap/flaky/ops")).json(&ops).send().await?;
    let start = Instant::now();
    call(
        &c,
        Method::POST,
        s.url(&format!("/trap/flaky/alarm?at={}", now_ms())),
    )
    .await?;
    wait_seen(&c, &s, "flaky", 1, Duration::from_secs(5)).await?;
    let took = start.elapsed();
    let info = stored(&c, &s, "flaky", "last_alarm").await?;
    assert_eq!(info["retry_count"], 2);
    assert_eq!(info["is_retry"], true);
    // Two waits: 100 ms and 200 ms, each with at most 25% jitter.
    assert!(
        took >= Duration::from_millis(225),
        "retried after only {took:?}"
    );
    assert_eq!(alarm_of(&c, &s, "flaky").await?, Value::Null);

    // Always failing: three retries, then dropped with an error in the log.
    let ops = json!([{"op": "put", "key": "alarm_fail", "value": "99"}]);
    c.post(s.url("/trap/doomed/ops")).json(&ops).send().await?;
    call(
        &c,
        Method::POST,
        s.url(&format!("/trap/doomed/alarm?at={}", now_ms())),
    )
    .await?;
    eventually(Duration::from_secs(5), || async {
        Ok(alarm_of(&c, &s, "doomed").await?.is_null().then_some(()))
    })
    .await?;
    let log = s.log();
    assert_eq!(
        log.matches("alarm failed; will retry").count(),
        2 + 3,
        "{log}"
    );
    assert!(
        log.contains("alarm failed after its last retry; dropping it"),
        "{log}"
    );
    assert!(log.contains("deliberate alarm failure at retry 3"), "{log}");
    assert_eq!(stored(&c, &s, "doomed", "alarms_seen").await?, Value::Null);
    Ok(())
}

#[tokio::test]
async fn delete_alarm_cancels_and_a_trapping_event_sets_none() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    let at = now_ms() + 300;
    call(&c, Method::POST, s.url(&format!("/trap/d/alarm?at={at}"))).await?;
    call(&c, Method::DELETE, s.url("/trap/d/alarm")).await?;
    assert_eq!(alarm_of(&c, &s, "d").await?, Value::Null);

    let (status, _) = call(
        &c,
        Method::POST,
        s.url(&format!("/trap/t/alarm-then-trap?at={at}")),
    )
    .await?;
    assert_eq!(status, 500);
    assert_eq!(alarm_of(&c, &s, "t").await?, Value::Null);

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(stored(&c, &s, "d", "alarms_seen").await?, Value::Null);
    assert_eq!(stored(&c, &s, "t", "alarms_seen").await?, Value::Null);
    Ok(())
}

#[tokio::test]
async fn admin_runs_an_alarm_now_and_guards_its_routes() -> Result<()> {
    let s = Server::start(&format!("{}{}", admin_config(), default_config()))?;
    let c = client();
    let at = now_ms() + 3_600_000;
    call(&c, Method::POST, s.url(&format!("/trap/r/alarm?at={at}"))).await?;
    let (status, body) = admin(&c, &s, Method::POST, "/objects/trap/r/alarm/run").await?;
    assert_eq!(
        (status, body),
        (200, json!({"ran": true, "scheduled_time": at}))
    );
    assert_eq!(stored(&c, &s, "r", "alarms_seen").await?, json!(1));
    assert_eq!(alarm_of(&c, &s, "r").await?, Value::Null);
    let (status, body) = admin(&c, &s, Method::POST, "/objects/trap/r/alarm/run").await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("the object has no alarm set"))
    );

    // By ID, too.
    let (_, who) = call(&c, Method::GET, s.url("/trap/r/whoami")).await?;
    let id = who["id"].as_str().unwrap();
    let (status, body) = admin(&c, &s, Method::GET, &format!("/ids/trap/{id}/alarm")).await?;
    assert_eq!((status, body), (200, json!({"alarm": null})));
    let (status, body) = admin(&c, &s, Method::GET, "/ids/trap/nothex/alarm").await?;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("invalid object id"),
        "{body}"
    );

    let url = s.url("/_/admin/objects");
    let r = c.get(&url).send().await?;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await?;
    assert_eq!(
        body["error"],
        "the admin API needs an `Authorization: Bearer <token>` header"
    );
    let r = c
        .get(&url)
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await?["error"], "wrong admin token");
    assert_eq!(
        c.get(&url).bearer_auth(ADMIN_TOKEN).send().await?.status(),
        200
    );

    // Without a configured token the admin API is off.
    let off = Server::start(&default_config())?;
    let r = c
        .get(off.url("/_/admin/objects"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await?;
    assert_eq!(
        body["error"],
        "the admin API is disabled: set admin.token in the config or HOLDFAST_ADMIN_TOKEN"
    );
    Ok(())
}

#[tokio::test]
async fn reminders_example_fires_in_due_order() -> Result<()> {
    let s = Server::start(&class("reminders", "Reminders", &guest("reminders")))?;
    let c = client();
    let url = s.url("/reminders/me");
    for (in_ms, message) in [(900, "third"), (300, "first"), (600, "second")] {
        let r = c
            .post(&url)
            .json(&json!({"in_ms": in_ms, "message": message}))
            .send()
            .await?;
        assert_eq!(r.status(), 201);
    }
    let (_, body) = call(&c, Method::GET, &url).await?;
    let pending: Vec<_> = body["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].clone())
        .collect();
    assert_eq!(pending, [json!("first"), json!("second"), json!("third")]);
    assert_eq!(body["fired"], json!([]));

    let body = eventually(Duration::from_secs(5), || async {
        let (_, body) = call(&c, Method::GET, &url).await?;
        Ok((body["fired"].as_array().unwrap().len() == 3).then_some(body))
    })
    .await?;
    let fired: Vec<_> = body["fired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].clone())
        .collect();
    assert_eq!(fired, [json!("first"), json!("second"), json!("third")]);
    for f in body["fired"].as_array().unwrap() {
        assert!(f["fired_at"].as_i64() >= f["due"].as_i64(), "{f}");
    }
    assert_eq!(body["pending"], json!([]));

    let r = c
        .post(&url)
        .json(&json!({"in_ms": -1, "message": "x"}))
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await?["error"],
        "in_ms must be between 0 and 31536000000"
    );
    let r = c.post(&url).body("nope").send().await?;
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().await?["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON request body: ")
    );
    Ok(())
}

/// Fails against the binary before the fix: retry counts lived in memory, so after a crash an always-failing
/// alarm started its retries over.
#[tokio::test]
async fn an_alarms_retry_count_survives_a_crash() -> Result<()> {
    let config = format!(
        "[alarms]\nretry_base_ms = 400\nmax_retries = 3\n{}",
        class("trap", "Trapper", &guest("trapper"))
    );
    let s = Server::start(&config)?;
    let c = client();
    let ops = json!([{"op": "put", "key": "alarm_fail", "value": "99"}]);
    c.post(s.url("/trap/doomed/ops")).json(&ops).send().await?;
    call(
        &c,
        Method::POST,
        s.url(&format!("/trap/doomed/alarm?at={}", now_ms())),
    )
    .await?;
    // Two failures (retry counts 0 and 1) are stored; then the process dies.
    eventually(Duration::from_secs(5), || async {
        Ok((s.log().matches("alarm failed; will retry").count() >= 2).then_some(()))
    })
    .await?;
    let s = s.kill9_and_restart()?;
    eventually(Duration::from_secs(10), || async {
        Ok(alarm_of(&c, &s, "doomed").await?.is_null().then_some(()))
    })
    .await?;
    let log = s.log();
    // After the restart: retry 2 fails (one more "will retry"), retry 3 is the last.
    assert_eq!(log.matches("alarm failed; will retry").count(), 1, "{log}");
    assert!(log.contains("deliberate alarm failure at retry 3"), "{log}");
    assert!(
        !log.contains("deliberate alarm failure at retry 0"),
        "{log}"
    );
    Ok(())
}

/// Fails against the binary before the fix: the scheduler read the first 4096 due alarms, all of a namespace the
/// host no longer served, and never reached the one behind them.
#[tokio::test]
async fn alarms_of_a_namespace_no_longer_served_never_hide_due_ones() -> Result<()> {
    let both = format!(
        "{}{}",
        class("gone", "Trapper", &guest("trapper")),
        class("trap", "Trapper", &guest("trapper"))
    );
    let s = Server::start(&both)?;
    let c = client();
    // Far enough ahead that the 4,200 sets and the restart finish before any of them is due, even on a loaded
    // machine (3 s was not enough in CI); checked below, so a slow run fails with that reason, not a puzzle.
    let due = now_ms() + 20_000;
    let mut sets = Vec::new();
    for chunk in (0..4200).collect::<Vec<_>>().chunks(300) {
        for &i in chunk {
            let url = s.url(&format!("/gone/g{i}/alarm?at={}", due + i / 100));
            let c = c.clone();
            sets.push(tokio::spawn(async move { c.post(url).send().await }));
        }
        for t in sets.drain(..) {
            assert_eq!(t.await??.status(), 200);
        }
    }
    let url = s.url(&format!("/trap/after/alarm?at={}", due + 500));
    assert_eq!(c.post(url).send().await?.status(), 200);
    // The `gone` class leaves the config; its alarms stay stored and due.
    let s = s.restart_with(&class("trap", "Trapper", &guest("trapper")))?;
    assert!(
        now_ms() < due,
        "setting the alarms and restarting took past their due time; the test proves nothing"
    );
    tokio::time::sleep(Duration::from_millis((due + 500 - now_ms()).max(0) as u64)).await;
    wait_seen(&c, &s, "after", 1, Duration::from_secs(5)).await?;
    assert!(
        s.log()
            .contains("alarms of a namespace this host does not serve are left stored"),
        "{}",
        s.log()
    );
    Ok(())
}
