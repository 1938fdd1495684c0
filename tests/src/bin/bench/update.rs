//! A code update under load (`--update-only`): `--update-sockets` hibernatable WebSockets in
//! rooms of 10 of the JavaScript test class `Versioned` (version 1), requests running the whole
//! time; then version 2 is renamed over the component and `POST /_/admin/reload` applied. It
//! measures the sockets dropped (target 0), the time from the update to every room answering
//! with the new code (each socket sends one message and must get version 2's answer), and the
//! requests that failed during the update (target 0).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use holdfast_tests::{
    ADMIN_TOKEN, Server, Ws, admin_config, built, class, client, ws_connect, ws_json, ws_send,
};

use crate::{fig, metric_value};

pub async fn run(sockets: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let component = dir.path().join("versioned.wasm");
    let version = |v: u32| built(&format!("target/js-guests/versioned-v{v}.wasm"));
    std::fs::copy(version(1), &component)?;
    let s = Server::start(&format!(
        "{}{}",
        admin_config(),
        class("versioned", "Versioned", &component)
    ))?;
    let mut open: Vec<Ws> = Vec::with_capacity(sockets);
    for i in 0..sockets {
        open.push(ws_connect(&s, &format!("/versioned/room{}/hibernate", i / 10)).await?);
    }

    // Requests to 100 objects the whole time, from a task of their own.
    let (served, failed, stop) = (
        Rc::new(Cell::new(0u64)),
        Rc::new(Cell::new(0u64)),
        Rc::new(Cell::new(false)),
    );
    let c = client();
    let load = {
        let (served, failed, stop, c, base) = (
            served.clone(),
            failed.clone(),
            stop.clone(),
            c.clone(),
            s.url(""),
        );
        tokio::task::spawn_local(async move {
            let mut i = 0u64;
            while !stop.get() {
                i += 1;
                let url = format!("{base}/versioned/busy{}/version", i % 100);
                match c.get(&url).send().await {
                    Ok(r) if r.status() == 200 => served.set(served.get() + 1),
                    _ => failed.set(failed.get() + 1),
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = served.get();

    let tmp = component.with_extension("new");
    std::fs::copy(version(2), &tmp)?;
    std::fs::rename(&tmp, &component)?;
    let started = Instant::now();
    let r = c
        .post(s.url("/_/admin/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "reload: {}", r.text().await?);
    let reload_ms = started.elapsed().as_secs_f64() * 1e3;

    let mut dropped = 0usize;
    for (i, ws) in open.iter_mut().enumerate() {
        if ws_send(ws, &format!("m{i}")).await.is_err() {
            dropped += 1;
        }
    }
    let mut stale = 0usize;
    for ws in open.iter_mut() {
        match ws_json(ws).await {
            Ok(v) if v["version"] == 2 => {}
            Ok(_) => stale += 1,
            Err(_) => dropped += 1,
        }
    }
    let all_new_ms = started.elapsed().as_secs_f64() * 1e3;
    stop.set(true);
    load.await?;
    let still_open = metric_value(s.addr, "holdfast_websockets")
        .await
        .context("websockets metric")?;
    anyhow::ensure!(stale == 0, "{stale} sockets were answered by the old code");
    fig("update_sockets", sockets as f64, "sockets");
    fig("update_sockets_dropped", dropped as f64, "sockets");
    fig("update_sockets_open_after", still_open, "sockets");
    fig("update_reload_ms", reload_ms, "ms");
    fig("update_until_all_sockets_new_code_ms", all_new_ms, "ms");
    fig(
        "update_requests_during",
        (served.get() - before) as f64,
        "requests",
    );
    fig("update_requests_failed", failed.get() as f64, "requests");
    Ok(())
}
