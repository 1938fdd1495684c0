//! Point-in-time recovery (`--history-only`):
//!
//! - its cost on the commit path: hot and spread durable increments of the counter with history
//!   kept (the default) and with `[history] retention_seconds = 0`, alternating servers in one
//!   run (`history_on_*`, `history_off_*`);
//! - restore time: an object of the JavaScript probe class filled with `--pitr-mb` MB (1 KB JSON
//!   values) by `--pitr-writes` key writes through the admin API (so that most writes overwrite),
//!   then restored to its empty start (every write undone) and to the bookmark halfway, each
//!   checked by counting the keys after;
//! - disk overhead: the database file after `--pitr-disk-writes` increments on one object with
//!   history kept and with it off, and the bytes per write that makes; 30 days at 100 writes/s
//!   (259,200,000 writes) is that times the writes, because records are reclaimed after the
//!   window (the history stays as large as the window's writes). Then a steady 100 writes/s
//!   with a 20 s window for 60 s, the file sampled every 10 s, shows that it stops growing.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use holdfast_tests::{ADMIN_TOKEN, Server, admin_config, built, class, client, guest};
use serde_json::{Value, json};

use crate::{fig, load, report};

fn counter(extra: &str) -> String {
    format!("{}{extra}", class("counter", "Counter", &guest("counter")))
}

const OFF: &str = "[history]\nretention_seconds = 0\n";

pub async fn cost(connections: usize, d: Duration, objects: usize, rounds: usize) -> Result<()> {
    for round in 0..rounds {
        for (mode, extra) in [("on", ""), ("off", OFF)] {
            let s = Server::start(&counter(extra))?;
            let hot = load(s.addr, connections, d, |_| "/counter/hot/increment".into()).await?;
            ensure!(hot.errors == 0, "{} hot increments failed", hot.errors);
            let n = objects as u64;
            let many = load(s.addr, connections, d, move |r| {
                format!("/counter/m{}/increment", r % n)
            })
            .await?;
            ensure!(many.errors == 0, "{} spread increments failed", many.errors);
            println!(
                "# history cost round {} of {rounds}: history {mode}",
                round + 1
            );
            report(&format!("history_{mode}_hot_incr"), &hot);
            report(&format!("history_{mode}_many_incr"), &many);
        }
    }
    Ok(())
}

async fn admin_json(
    c: &reqwest::Client,
    s: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut r = c
        .request(method, s.url(&format!("/_/admin{path}")))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await?;
    let status = r.status();
    let v: Value = r.json().await?;
    ensure!(status == 200, "{path}: {status} {v}");
    Ok(v)
}

/// How many keys the object holds (the admin API's pages of 1000).
async fn count_keys(c: &reqwest::Client, s: &Server, name: &str) -> Result<usize> {
    let mut n = 0;
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/objects/probe/{name}/keys?limit=1000&after={a}"),
            None => format!("/objects/probe/{name}/keys?limit=1000"),
        };
        let v = admin_json(c, s, reqwest::Method::GET, &path, None).await?;
        n += v["keys"].as_array().map_or(0, Vec::len);
        match v["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok(n),
        }
    }
}

pub async fn restore(mb: usize, writes: usize) -> Result<()> {
    let s = Server::start(&format!(
        "{}{}",
        admin_config(),
        class("probe", "Probe", &built("target/js-guests/probe.wasm"))
    ))?;
    let c = client();
    let keys = mb * 1000;
    let value = "v".repeat(1000 - 2);
    let per_edit = 500;
    let bookmarks = |v: &Value| v["current"].as_str().unwrap_or_default().to_owned();
    let path = "/objects/probe/big/bookmarks?limit=1";
    let start = bookmarks(&admin_json(&c, &s, reqwest::Method::GET, path, None).await?);
    let mut half = String::new();
    let filled = Instant::now();
    let mut written = 0;
    while written < writes {
        let mut put = serde_json::Map::new();
        for i in written..(written + per_edit).min(writes) {
            put.insert(format!("k{:07}", i % keys), Value::String(value.clone()));
        }
        written += put.len();
        admin_json(
            &c,
            &s,
            reqwest::Method::POST,
            "/objects/probe/big/storage",
            Some(json!({ "put": put })),
        )
        .await?;
        if half.is_empty() && written >= writes / 2 {
            half = bookmarks(&admin_json(&c, &s, reqwest::Method::GET, path, None).await?);
        }
    }
    let db_mb = std::fs::metadata(s.data.join("holdfast.redb"))?.len() as f64 / 1e6;
    println!(
        "# history restore: {written} writes over {keys} keys in {:.1} s; database {db_mb:.0} MB",
        filled.elapsed().as_secs_f64()
    );
    ensure!(count_keys(&c, &s, "big").await? == keys.min(writes));
    let restore_to = |bookmark: String| {
        let (c, s) = (&c, &s);
        async move {
            let t = Instant::now();
            let v = admin_json(
                c,
                s,
                reqwest::Method::POST,
                "/objects/probe/big/restore",
                Some(json!({ "bookmark": bookmark })),
            )
            .await?;
            Ok::<_, anyhow::Error>((
                t.elapsed(),
                v["undo"].as_str().unwrap_or_default().to_owned(),
            ))
        }
    };
    let (all, undo) = restore_to(start).await?;
    ensure!(
        count_keys(&c, &s, "big").await? == 0,
        "restored to the start"
    );
    fig("pitr_restore_all_writes_s", all.as_secs_f64(), "s");
    let (back, _) = restore_to(undo).await?;
    ensure!(count_keys(&c, &s, "big").await? == keys.min(writes));
    fig("pitr_undo_restore_s", back.as_secs_f64(), "s");
    let (mid, _) = restore_to(half).await?;
    ensure!(count_keys(&c, &s, "big").await? == keys.min(writes / 2));
    fig("pitr_restore_half_writes_s", mid.as_secs_f64(), "s");
    Ok(())
}

fn db_bytes(s: &Server) -> Result<u64> {
    Ok(std::fs::metadata(s.data.join("holdfast.redb"))?.len())
}

pub async fn disk(writes: u64, connections: usize) -> Result<()> {
    let mut sizes = Vec::new();
    for (mode, extra) in [("on", ""), ("off", OFF)] {
        let s = Server::start(&counter(extra))?;
        let before = db_bytes(&s)?;
        let r = crate::load_n(s.addr, connections, writes, |_| {
            "/counter/hot/increment".into()
        })
        .await?;
        ensure!(r.errors == 0, "{} increments failed", r.errors);
        let grown = db_bytes(&s)?.saturating_sub(before);
        println!("# history {mode}: the database grew {grown} bytes over {writes} increments");
        sizes.push(grown);
    }
    let per_write = sizes[0].saturating_sub(sizes[1]) as f64 / writes as f64;
    fig("history_bytes_per_write", per_write, "B");
    fig(
        "history_30_days_at_100_per_s_gb",
        per_write * 100.0 * 86_400.0 * 30.0 / 1e9,
        "GB",
    );

    // The window, compressed: 20 s of retention at 100 writes/s for 60 s.
    let s = Server::start(&counter("[history]\nretention_seconds = 20\n"))?;
    let c = client();
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut samples = Vec::new();
    let mut next_sample = Duration::from_secs(10);
    while t0.elapsed() < Duration::from_secs(60) {
        tick.tick().await;
        let r = c.post(s.url("/counter/steady/increment")).send().await?;
        ensure!(r.status() == 200, "steady increment: {}", r.status());
        if t0.elapsed() >= next_sample {
            samples.push(db_bytes(&s)?);
            next_sample += Duration::from_secs(10);
        }
    }
    let mb: Vec<String> = samples
        .iter()
        .map(|b| format!("{:.2}", *b as f64 / 1e6))
        .collect();
    println!(
        "# history steady 100 writes/s, 20 s window: database MB every 10 s: {}",
        mb.join(", ")
    );
    fig(
        "history_steady_last_vs_30s_mb",
        (*samples.last().unwrap_or(&0) as f64 - samples.get(2).copied().unwrap_or(0) as f64) / 1e6,
        "MB",
    );
    Ok(())
}
