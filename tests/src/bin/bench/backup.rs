//! A backup under load (`--backup-only`): a database of `--backup-mb` MB (1.5 MB values written
//! through the admin API into objects of the JavaScript probe class), `--backup-rate` increments per second sent at a fixed rate to 100
//! counters (open loop: each request leaves on its tick whether or not earlier ones answered),
//! and a backup taken with `holdfast backup` (which asks the server: `GET /_/admin/backup`). It reports the backup's duration
//! and size, and the p50/p99 latency of the increments in the 10 s before it and while it ran.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use holdfast_tests::{ADMIN_TOKEN, Server, admin_config, built, class, client, guest, root};

use crate::fig;

/// (when it was sent, relative to the start; how long it took), per increment.
type Samples = Rc<RefCell<Vec<(Duration, Duration)>>>;

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

pub async fn run(mb: usize, rate: u64, pace: Option<u64>) -> Result<()> {
    let pace = pace.map_or(String::new(), |p| {
        format!("[backup]\nmax_mib_per_second = {p}\n")
    });
    let s = Server::start(&format!(
        "[server]\nmax_body_bytes = 4000000\n{pace}{}{}{}",
        admin_config(),
        class("counter", "Counter", &guest("counter")),
        class("probe", "Probe", &built("target/js-guests/probe.wasm")),
    ))?;
    let c = client();
    let value = "x".repeat(1_500_000);
    let filled = Instant::now();
    for i in 0..(mb * 2 / 3).max(1) {
        let r = c
            .post(s.url(&format!("/_/admin/objects/probe/big{}/storage", i % 50)))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "put": { format!("pad{i}"): value } }))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "fill: {}", r.text().await?);
    }
    let db_bytes = std::fs::metadata(s.data.join("holdfast.redb"))?.len();
    println!(
        "# backup: filled {:.0} MB in {:.1} s",
        db_bytes as f64 / 1e6,
        filled.elapsed().as_secs_f64()
    );

    let samples: Samples = Rc::new(RefCell::new(Vec::new()));
    let failed = Rc::new(RefCell::new(0u64));
    let stop = Rc::new(RefCell::new(false));
    let t0 = Instant::now();
    let load = {
        let (samples, failed, stop, c, base) = (
            samples.clone(),
            failed.clone(),
            stop.clone(),
            c.clone(),
            s.url(""),
        );
        tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut i = 0u64;
            while !*stop.borrow() {
                tick.tick().await;
                i += 1;
                let url = format!("{base}/counter/c{}/increment", i % 100);
                let (samples, failed, c) = (samples.clone(), failed.clone(), c.clone());
                tokio::task::spawn_local(async move {
                    let sent = Instant::now();
                    match c.post(&url).send().await {
                        Ok(r) if r.status() == 200 => {
                            samples.borrow_mut().push((sent - t0, sent.elapsed()))
                        }
                        _ => *failed.borrow_mut() += 1,
                    }
                });
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started = t0.elapsed();
    // The backup as a user takes it: `holdfast backup`, a process of its own, which asks the
    // server and writes the file (synced as it arrives).
    let dir = tempfile::tempdir_in(&s.data)?;
    let file = dir.path().join("host.backup");
    let backup_start = Instant::now();
    let mut cli = std::process::Command::new(root().join("target/release/holdfast"));
    cli.arg("backup")
        .arg("--data")
        .arg(&s.data)
        .arg("--to")
        .arg(&file)
        .env("HOLDFAST_ADMIN_TOKEN", ADMIN_TOKEN)
        .stderr(std::process::Stdio::inherit());
    let out = tokio::task::spawn_blocking(move || cli.output()).await??;
    anyhow::ensure!(
        out.status.success(),
        "holdfast backup: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let got = std::fs::metadata(&file)?.len();
    let took = backup_start.elapsed();
    let ended = t0.elapsed();
    *stop.borrow_mut() = true;
    load.await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let all = samples.borrow();
    let before: Vec<f64> = all
        .iter()
        .filter(|(at, _)| *at >= started.saturating_sub(Duration::from_secs(10)) && *at < started)
        .map(|(_, l)| ms(*l))
        .collect();
    let during: Vec<f64> = all
        .iter()
        .filter(|(at, _)| *at >= started && *at < ended)
        .map(|(_, l)| ms(*l))
        .collect();
    // Where the slow ones fall (seconds after the backup started), to tell the server's copy
    // from the download.
    let mut slow: Vec<(f64, f64)> = all
        .iter()
        .filter(|(at, _)| *at >= started && *at < ended)
        .map(|(at, l)| (ms(*l), (*at - started).as_secs_f64()))
        .collect();
    slow.sort_by(|a, b| b.0.total_cmp(&a.0));
    let worst: Vec<String> = slow
        .iter()
        .take(12)
        .map(|(l, at)| format!("{l:.0} ms at {at:.1} s"))
        .collect();
    println!(
        "# backup: slowest increments during it: {}",
        worst.join(", ")
    );
    for line in s.log().lines().filter(|l| l.contains("backup")) {
        println!("# server: {line}");
    }
    println!(
        "# backup: started at {} ms since the epoch",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
            - (t0.elapsed() - started).as_millis()
    );
    fig("backup_db_mb", db_bytes as f64 / 1e6, "MB");
    fig("backup_file_mb", got as f64 / 1e6, "MB");
    fig("backup_seconds", took.as_secs_f64(), "s");
    fig(
        "backup_increments_per_s_before",
        before.len() as f64 / 10.0,
        "req/s",
    );
    fig(
        "backup_p50_before_ms",
        percentile(before.clone(), 0.5),
        "ms",
    );
    fig("backup_p99_before_ms", percentile(before, 0.99), "ms");
    fig("backup_increments_during", during.len() as f64, "requests");
    fig(
        "backup_p50_during_ms",
        percentile(during.clone(), 0.5),
        "ms",
    );
    fig("backup_p99_during_ms", percentile(during, 0.99), "ms");
    fig(
        "backup_increments_failed",
        *failed.borrow() as f64,
        "requests",
    );
    Ok(())
}
