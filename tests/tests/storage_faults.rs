//! Storage failures through the fault seam (`HOLDFAST_FAULT_INJECTION=1`): a full disk, failing
//! writes and fsyncs on the real binary, and what clients, `/_/health` and later events see.

use std::time::Duration;

use anyhow::Result;
use holdfast_tests::{
    Server, admin, admin_config, call, class, client, eventually, guest, metric, set_faults,
};
use reqwest::Method;
use serde_json::json;

fn config() -> String {
    format!(
        "{}{}",
        admin_config(),
        class("trap", "Trapper", &guest("trapper"))
    )
}

async fn put(c: &reqwest::Client, s: &Server, key: &str) -> Result<(u16, serde_json::Value)> {
    put_in(c, s, "a", key).await
}

async fn put_in(
    c: &reqwest::Client,
    s: &Server,
    object: &str,
    key: &str,
) -> Result<(u16, serde_json::Value)> {
    let url = s.url(&format!("/trap/{object}/put?key={key}&len=3"));
    call(c, Method::POST, url).await
}

async fn get(c: &reqwest::Client, s: &Server, key: &str) -> Result<serde_json::Value> {
    let (status, body) = get_in(c, s, "a", key).await?;
    anyhow::ensure!(status == 200, "get {key}: {status} {body}\n{}", s.log());
    Ok(body["value"].clone())
}

async fn get_in(
    c: &reqwest::Client,
    s: &Server,
    object: &str,
    key: &str,
) -> Result<(u16, serde_json::Value)> {
    call(
        c,
        Method::GET,
        s.url(&format!("/trap/{object}/get?key={key}")),
    )
    .await
}

/// Waits until `/_/health` says storage can write again.
async fn wait_healthy(c: &reqwest::Client, s: &Server) -> Result<()> {
    eventually(Duration::from_secs(10), || async {
        let r = c.get(s.url("/_/health")).send().await?;
        Ok((r.status() == 200).then_some(()))
    })
    .await
}

/// The `error` of a JSON error body ("" if there is none).
fn error_of(body: &serde_json::Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_full_disk_fails_writes_with_503_then_the_host_recovers_without_a_restart() -> Result<()>
{
    let s = Server::start_with_faults(&config())?;
    let c = client();
    assert_eq!(put(&c, &s, "before").await?.0, 200);
    assert_eq!(put_in(&c, &s, "other", "cached").await?.0, 200);

    set_faults(&c, &s, json!({ "fail": "full" })).await?;
    let (status, body) = put(&c, &s, "during").await?;
    assert_eq!(status, 503, "{body}");
    let e = error_of(&body);
    assert!(
        e.starts_with("storage failed, nothing of this event was kept: "),
        "{e}"
    );
    let health = c.get(s.url("/_/health")).send().await?;
    assert_eq!(health.status(), 503);
    let h: serde_json::Value = health.json().await?;
    assert_eq!(h["status"], "storage failed");
    assert!(error_of(&h).starts_with("storage cannot write: "), "{h}");
    assert_eq!(metric(&c, &s, "holdfast_storage_ok").await?, 0.0);
    // While failed, writes are refused at once, saying so.
    let (status, body) = put(&c, &s, "during2").await?;
    assert_eq!(status, 503, "{body}");
    assert!(
        error_of(&body).starts_with("storage is unavailable, nothing of this event was kept"),
        "{body}"
    );
    // What an untouched object has cached stays readable; a read that needs the database
    // fails as the host's failure (503), not as the guest's.
    let (status, body) = get_in(&c, &s, "other", "cached").await?;
    assert_eq!((status, &body["value"]), (200, &json!("aaa")), "{body}");
    let (status, body) = get_in(&c, &s, "a", "before").await?;
    assert_eq!(status, 503, "{body}");
    assert!(
        error_of(&body).starts_with("storage failed while the event ran, nothing of it was kept: "),
        "{body}"
    );

    set_faults(&c, &s, json!({ "fail": null })).await?;
    wait_healthy(&c, &s).await?;
    assert_eq!(metric(&c, &s, "holdfast_storage_ok").await?, 1.0);
    assert_eq!(put(&c, &s, "after").await?.0, 200);
    assert_eq!(get(&c, &s, "during").await?, serde_json::Value::Null);
    assert!(metric(&c, &s, "holdfast_storage_reopens_total").await? >= 1.0);

    // Every acknowledged write is there after a crash; none of the refused ones.
    let s = s.kill9_and_restart()?;
    assert_eq!(get(&c, &s, "before").await?, "aaa");
    assert_eq!(get(&c, &s, "after").await?, "aaa");
    assert_eq!(get(&c, &s, "during").await?, serde_json::Value::Null);
    assert_eq!(get(&c, &s, "during2").await?, serde_json::Value::Null);
    Ok(())
}

#[tokio::test]
async fn a_passing_fsync_failure_costs_a_retry_not_the_write() -> Result<()> {
    let s = Server::start_with_faults(&config())?;
    let c = client();
    set_faults(&c, &s, json!({ "fail": "sync", "count": 1 })).await?;
    let (status, body) = put(&c, &s, "k").await?;
    assert_eq!(status, 200, "{body}");
    assert!(metric(&c, &s, "holdfast_storage_errors_total").await? >= 1.0);
    assert_eq!(metric(&c, &s, "holdfast_storage_ok").await?, 1.0);
    let s = s.kill9_and_restart()?;
    assert_eq!(get(&c, &s, "k").await?, "aaa");
    Ok(())
}

/// The bug it guards against: the read-only GET, released after the commit of what it read had
/// failed, answered 200 with the lost value.
#[tokio::test]
async fn a_read_only_event_never_releases_state_that_a_failed_commit_lost() -> Result<()> {
    let s = Server::start_with_faults(&config())?;
    let c = client();
    assert_eq!(put(&c, &s, "warm").await?.0, 200);
    // Slow, failing fsyncs: the write below stays in flight, then its commit fails.
    set_faults(&c, &s, json!({ "fail": "sync", "sync_delay_ms": 300 })).await?;
    let write = tokio::spawn({
        let (c, url) = (c.clone(), s.url("/trap/a/put?key=x&len=1"));
        async move { call(&c, Method::POST, url).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Reads the uncommitted x, then runs past the commit's failure.
    let (status, body) = call(&c, Method::GET, s.url("/trap/a/get-slow?key=x&ms=3000")).await?;
    let (wstatus, wbody) = write.await??;
    assert_eq!(wstatus, 503, "{wbody}");
    // The fsync failed after the bytes reached the file: the client is told the truth.
    assert!(
        error_of(&wbody).starts_with("storage failed while making this event durable, so its writes may or may not have been kept: "),
        "{wbody}"
    );
    assert_eq!(status, 503, "the read saw a lost write: {body}");
    assert!(
        error_of(&body).contains("an earlier commit of this object failed"),
        "{body}"
    );
    set_faults(&c, &s, json!({ "fail": null })).await?;
    wait_healthy(&c, &s).await?;
    // Whatever the disk kept, the object reads it again from storage (it was reset).
    let after = get(&c, &s, "x").await?;
    let s = s.kill9_and_restart()?;
    assert_eq!(get(&c, &s, "x").await?, after);
    Ok(())
}

/// The bug it guards against: the replacement of a panicked actor read the database while its
/// predecessor's write was still in flight, and answered with the old value (and a request
/// queued behind the panic was lost with the mailbox).
#[tokio::test]
async fn a_panicked_actors_replacement_waits_for_its_commits() -> Result<()> {
    let s = Server::start_with_faults(&config())?;
    let c = client();
    assert_eq!(put(&c, &s, "warm").await?.0, 200);
    set_faults(&c, &s, json!({ "sync_delay_ms": 500 })).await?;
    let write = tokio::spawn({
        let (c, url) = (c.clone(), s.url("/trap/a/put?key=k&len=2"));
        async move { call(&c, Method::POST, url).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = admin(&c, &s, Method::POST, "/objects/trap/a/panic").await?;
    assert_eq!((status, &body["panicked"]), (200, &json!(true)), "{body}");
    assert_eq!(get(&c, &s, "k").await?, "aa");
    assert_eq!(write.await??.0, 200);
    assert!(
        s.log()
            .contains("object actor panicked; starting it anew on its mailbox"),
        "{}",
        s.log()
    );
    Ok(())
}

#[tokio::test]
async fn the_fault_switch_is_off_unless_the_environment_turns_it_on() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let (status, body) = admin(&c, &s, Method::GET, "/faults").await?;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "fault injection is off: start the server with HOLDFAST_FAULT_INJECTION=1 (tests only)"
    );
    Ok(())
}
