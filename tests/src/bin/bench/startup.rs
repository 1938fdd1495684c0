//! Start-up: from spawning `holdfast serve` with every example class of the root holdfast.toml
//! (their code already in the cache) to its first 200 on `/_/health`, and the server's resident
//! memory once it has idled for two seconds; and the start with a pool for 100 live objects
//! instead of the default 10,000. Medians of five starts.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use holdfast_tests::{Server, client, root};

use super::{fig, median_of};

/// The root holdfast.toml's classes, with component paths made absolute and its `[server]`
/// section left out (the test server picks its own address and data directory).
fn examples_config() -> Result<(String, usize)> {
    let text = std::fs::read_to_string(root().join("holdfast.toml"))?;
    let mut out = String::new();
    let mut in_server = false;
    let mut classes = 0;
    for line in text.lines() {
        if line.starts_with('[') {
            in_server = line == "[server]";
            classes += usize::from(line == "[[class]]");
        }
        if in_server {
            continue;
        }
        match line.strip_prefix("component = \"") {
            Some(rest) => out.push_str(&format!("component = \"{}/{rest}\n", root().display())),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok((out, classes))
}

pub async fn run() -> Result<()> {
    let (config, classes) = examples_config()?;
    // The first start may compile what the cache lacks.
    drop(Server::start(&config)?);
    fig("startup_classes", classes as f64, "classes");
    let (mut ms, mut rss) = starts(&config).await?;
    fig("startup_to_health_ms", median_of(&mut ms), "ms");
    fig("startup_idle_rss_mib", median_of(&mut rss), "MiB");
    // The same with a pool for 100 live objects: what the default pool's size costs.
    let small = format!("[runtime]\nmax_live_objects = 100\n{config}");
    let (mut ms, _) = starts(&small).await?;
    fig("startup_pool_100_to_health_ms", median_of(&mut ms), "ms");
    Ok(())
}

/// Five starts with `config`: the milliseconds to the first 200 on `/_/health` and the MiB
/// resident two seconds later, of each.
async fn starts(config: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let c = client();
    let (mut times, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let started = Instant::now();
        let s = Server::start(config)?;
        loop {
            let r = c.get(s.url("/_/health")).send().await;
            if r.is_ok_and(|r| r.status() == 200) {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "no health");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(started.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_secs(2)).await;
        rss.push(s.rss_kib().context("rss")? as f64 / 1024.0);
    }
    Ok((times, rss))
}
