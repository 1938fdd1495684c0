//! Calls between objects and workers: a counter increment through a Rust worker and through a
//! JavaScript worker beside the direct route (same run, same connections); the round trip of an
//! object-to-object RPC inside one event (a loop of calls, measured by the caller); and the time
//! from a call to its cycle error.

use std::time::Duration;

use anyhow::{Result, bail};
use holdfast_tests::{Server, built, class, guest};

use super::{fig, load, report};

pub async fn run(connections: usize, d: Duration) -> Result<()> {
    let caller = class("caller", "Caller", &guest("caller"));
    let other = class("other", "Caller", &guest("caller"));
    // Direct: POST /caller/hot/increment (the object's fetch).
    let s = Server::start(&format!("{caller}{other}"))?;
    let direct = load(s.addr, connections, d, |_| "/caller/hot/increment".into()).await?;
    report("calls_direct_incr", &direct);
    // RPC loops inside one event, and cycle refusals, measured by the guest.
    let mut per_call = Vec::new();
    let mut cycle = Vec::new();
    for _ in 0..5 {
        per_call.push(guest_figures(s.addr, r#"[{"loop":["other","b",1000]}]"#).await?);
        cycle.push(guest_figures(s.addr, r#"[{"cycle_loop":1000}]"#).await?);
    }
    drop(s);
    let med = |v: &mut Vec<(f64, f64)>| {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v[v.len() / 2]
    };
    let (p50, p99) = med(&mut per_call);
    fig("calls_rpc_roundtrip_p50_us", p50 / 1000.0, "us");
    fig("calls_rpc_roundtrip_p99_us", p99 / 1000.0, "us");
    let (p50, p99) = med(&mut cycle);
    fig("calls_cycle_error_p50_us", p50 / 1000.0, "us");
    fig("calls_cycle_error_p99_us", p99 / 1000.0, "us");
    // Through the Rust worker: POST /count/hot -> caller/hot.increment(1) (RPC). This machine's
    // speed drifts between phases, so the ratio to the direct route comes from three rounds of
    // the two, alternating, each on its own server: the median of the rounds' ratios.
    let w = Server::start(&format!(
        "[worker]\ncomponent = \"{}\"\n{caller}",
        guest("router").display()
    ))?;
    let rust = load(w.addr, connections, d, |_| "/count/hot".into()).await?;
    report("calls_rust_worker_incr", &rust);
    let s = Server::start(&format!("{caller}{other}"))?;
    let rate = |r: &super::LoadResult| r.ok as f64 / r.elapsed.as_secs_f64();
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let direct = load(s.addr, connections, d, |_| "/caller/hot/increment".into()).await?;
        let worker = load(w.addr, connections, d, |_| "/count/hot".into()).await?;
        rounds.push(rate(&worker) / rate(&direct) * 100.0);
    }
    rounds.sort_by(f64::total_cmp);
    fig(
        "calls_rust_worker_vs_direct_alternating_pct",
        rounds[1],
        "%",
    );
    drop((s, w));
    // Through the JavaScript worker: POST /counter/hot/increment -> COUNTER.increment(1).
    let app = built("target/js-guests/app.wasm");
    let s = Server::start(&format!(
        "[worker]\ncomponent = \"{}\"\n[vars]\nLIMIT = \"1\"\n{}{}",
        app.display(),
        class("COUNTER", "Counter", &app),
        class("LIMITER", "Limiter", &app),
    ))?;
    let js = load(s.addr, connections, d, |_| "/counter/hot/increment".into()).await?;
    report("calls_js_worker_incr", &js);
    let ratio = |r: &super::LoadResult| r.ok as f64 / direct.ok.max(1) as f64 * 100.0;
    fig("calls_rust_worker_vs_direct_pct", ratio(&rust), "%");
    fig("calls_js_worker_vs_direct_pct", ratio(&js), "%");
    Ok(())
}

/// Runs a timing script on caller/a; its (p50, p99) in ns.
async fn guest_figures(addr: std::net::SocketAddr, script: &str) -> Result<(f64, f64)> {
    let (status, body) = post_json(addr, "/caller/a/run", script).await?;
    if status != 200 {
        bail!(
            "timing script failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let f = |k: &str| v[0][k].as_f64().unwrap_or(f64::NAN);
    Ok((f("p50_ns"), f("p99_ns")))
}

async fn post_json(addr: std::net::SocketAddr, path: &str, body: &str) -> Result<(u16, Vec<u8>)> {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .body(body.to_owned())
        .send()
        .await?;
    Ok((r.status().as_u16(), r.bytes().await?.to_vec()))
}
