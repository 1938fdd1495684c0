//! Code updates while serving (`POST /_/admin/reload`, SIGHUP): the next event of every object
//! runs the new code, hibernated sockets stay connected, in-memory ones close with 1012, a
//! component that does not load is refused and the old code keeps serving, a removed class stops
//! getting events and keeps its storage.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use holdfast_tests::{
    Server, Ws, admin, admin_config, built, class, client, eventually, guest, metric, ws_connect,
    ws_json, ws_send,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const LOST: &str = "holdfast_shared_instances_lost_total";

fn version(v: u32) -> PathBuf {
    built(&format!("target/js-guests/versioned-v{v}.wasm"))
}

/// Puts `from` at `to` as a deploy would: a new file renamed over the old one.
fn deploy(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).with_context(|| format!("copying {}", from.display()))?;
    std::fs::rename(&tmp, to)?;
    Ok(())
}

/// A config serving the component at `component` as `versioned`, with the admin API.
fn config(component: &Path) -> String {
    format!(
        "{}{}",
        admin_config(),
        class("versioned", "Versioned", component)
    )
}

async fn get_json(c: &reqwest::Client, s: &Server, path: &str) -> Result<Value> {
    let r = c.get(s.url(path)).send().await?;
    anyhow::ensure!(r.status() == 200, "{path}: {}", r.status());
    Ok(r.json().await?)
}

/// A code update that must be applied: its report.
async fn updated(c: &reqwest::Client, s: &Server) -> Result<Value> {
    let (status, report) = admin(c, s, Method::POST, "/reload").await?;
    anyhow::ensure!(status == 200, "the update answered {status}: {report}");
    Ok(report)
}

/// A code update that must be refused: its error body.
async fn refused(c: &reqwest::Client, s: &Server) -> Result<Value> {
    let (status, body) = admin(c, s, Method::POST, "/reload").await?;
    anyhow::ensure!(status == 422, "the update answered {status}: {body}");
    Ok(body)
}

/// The close frame's code, within 5 s.
async fn close_code(ws: &mut Ws) -> Result<u16> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .context("no close within 5 s")?
            .context("the connection ended without a close frame")??;
        if let Message::Close(frame) = msg {
            return Ok(frame.map_or(1005, |f| u16::from(f.code)));
        }
    }
}

#[tokio::test]
async fn a_hot_update_keeps_hibernated_sockets_and_the_next_event_runs_the_new_code() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let component = dir.path().join("versioned.wasm");
    deploy(&version(1), &component)?;
    let s = Server::start(&config(&component))?;
    let c = client();

    // 100 hibernated sockets over 10 objects, and one in-memory socket.
    let mut sockets = Vec::new();
    for i in 0..100 {
        sockets.push(ws_connect(&s, &format!("/versioned/room{}/hibernate", i % 10)).await?);
    }
    let mut pinned = ws_connect(&s, "/versioned/room0/pinned").await?;
    ws_send(&mut sockets[0], "before").await?;
    assert_eq!(
        ws_json(&mut sockets[0]).await?,
        json!({"version": 1, "echo": "before"})
    );
    for _ in 0..2 {
        get_json(&c, &s, "/versioned/a/version").await?;
    }
    assert_eq!(
        get_json(&c, &s, "/versioned/a/version").await?,
        json!({"version": 1, "count": 3})
    );
    // One instance lost to a trap before the update (object `oom` has its own instance).
    let r = c.get(s.url("/versioned/oom/oom")).send().await?;
    assert_eq!(r.status(), 500);
    assert_eq!(metric(&c, &s, LOST).await?, 1.0);

    // Requests keep coming during the update: none may fail.
    let failed = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (c, url) = (c.clone(), s.url("/versioned/busy/version"));
        let (failed, served, stop) = (failed.clone(), served.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match c.get(&url).send().await {
                    Ok(r) if r.status() == 200 => served.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    deploy(&version(2), &component)?;
    let report = updated(&c, &s).await?;
    assert_eq!(report["replaced"], json!(["versioned"]), "{report}");
    // The class's counters count on across the update (a Prometheus counter never goes back).
    assert_eq!(metric(&c, &s, LOST).await?, 1.0);
    assert_eq!(report["added"], json!([]), "{report}");
    assert_eq!(report["removed"], json!([]), "{report}");
    assert!(report["objects_moved"].as_u64() >= Some(1), "{report}");

    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    load.await?;
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the update"
    );
    assert!(served.load(Ordering::Relaxed) > 0);

    // The in-memory socket's listener lived in the old instance: 1012, service restart.
    assert_eq!(close_code(&mut pinned).await?, 1012);
    // Every hibernated socket is still open, and its next message reaches the new code.
    for (i, ws) in sockets.iter_mut().enumerate() {
        let text = format!("after {i}");
        ws_send(ws, &text).await?;
        assert_eq!(ws_json(ws).await?, json!({"version": 2, "echo": text}));
    }
    // A live object moved too: its next event constructed the new class afresh.
    assert_eq!(
        get_json(&c, &s, "/versioned/a/version").await?,
        json!({"version": 2, "count": 1})
    );
    assert!(s.log().contains("code updated"), "{}", s.log());
    Ok(())
}

#[tokio::test]
async fn a_component_that_does_not_load_is_refused_and_the_old_code_keeps_serving() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let component = dir.path().join("versioned.wasm");
    deploy(&version(1), &component)?;
    let s = Server::start(&config(&component))?;
    let c = client();
    assert_eq!(
        get_json(&c, &s, "/versioned/a/version").await?,
        json!({"version": 1, "count": 1})
    );

    std::fs::write(&component, b"not a component")?;
    let body = refused(&c, &s).await?;
    let expected = format!(
        "the code update was refused (the running code keeps serving): class `Versioned` (binding `versioned`): `{}` is not a valid WebAssembly component: ",
        component.display()
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&expected),
        "{body}"
    );
    // Nothing changed: the same instance answers (its count goes on).
    assert_eq!(
        get_json(&c, &s, "/versioned/a/version").await?,
        json!({"version": 1, "count": 2})
    );

    // A config that does not parse is refused the same way.
    deploy(&version(2), &component)?;
    s.write_config(&format!("{}\n[[class]\n", config(&component)))?;
    let body = refused(&c, &s).await?;
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(
            "the code update was refused (the running code keeps serving): invalid config file"
        ),
        "{body}"
    );
    assert_eq!(
        get_json(&c, &s, "/versioned/a/version").await?,
        json!({"version": 1, "count": 3})
    );

    // Fixed, and sent SIGHUP instead of the admin call: the new code serves.
    s.write_config(&config(&component))?;
    s.sighup()?;
    let v = eventually(Duration::from_secs(30), || async {
        let v = get_json(&c, &s, "/versioned/a/version").await?;
        Ok((v["version"] == 2).then_some(v))
    })
    .await?;
    assert_eq!(v, json!({"version": 2, "count": 1}));
    // A refused update without the token is not an update at all.
    let r = c.post(s.url("/_/admin/reload")).send().await?;
    assert_eq!(r.status(), 401);
    Ok(())
}

#[tokio::test]
async fn a_removed_class_stops_getting_events_and_keeps_its_storage() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let component = dir.path().join("versioned.wasm");
    deploy(&version(1), &component)?;
    let counter = class("counter", "Counter", &guest("counter"));
    let both = format!("{}{counter}", config(&component));
    let s = Server::start(&both)?;
    let c = client();
    for _ in 0..3 {
        let r = c.post(s.url("/counter/a/increment")).send().await?;
        assert_eq!(r.status(), 200);
    }
    let mut ws = ws_connect(&s, "/versioned/room/hibernate").await?;

    // Without the versioned class: its sockets close with 1012, its routes are gone.
    s.write_config(&format!("{}{counter}", admin_config()))?;
    let report = updated(&c, &s).await?;
    assert_eq!(report["removed"], json!(["versioned"]), "{report}");
    assert_eq!(report["unchanged"], json!(["counter"]), "{report}");
    assert_eq!(close_code(&mut ws).await?, 1012);
    let r = c.get(s.url("/versioned/room/version")).send().await?;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await?;
    assert_eq!(
        body["error"],
        "no route named `versioned` (this host serves: counter)"
    );
    // The unchanged class kept its live object (nothing moved), and serves on.
    let v = get_json(&c, &s, "/counter/a").await?;
    assert_eq!(v["value"], 3);

    // Without the counter, then with it again: its storage stayed.
    s.write_config(&config(&component))?;
    let report = updated(&c, &s).await?;
    assert_eq!(report["added"], json!(["versioned"]), "{report}");
    assert_eq!(report["removed"], json!(["counter"]), "{report}");
    s.write_config(&both)?;
    let report = updated(&c, &s).await?;
    assert_eq!(report["added"], json!(["counter"]), "{report}");
    let v = get_json(&c, &s, "/counter/a").await?;
    assert_eq!(v["value"], 3);
    Ok(())
}
