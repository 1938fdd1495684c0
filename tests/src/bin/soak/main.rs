//! `holdfast-soak`: mixed load on the real binary for `--minutes` (default 10) while its
//! resident memory is sampled, with a disk-full episode in the middle (the storage fault seam),
//! then a kill -9 and a restart after which every acknowledged increment must be there.
//!
//! The load: durable increments over `--objects` counters (more than the resident cap, so
//! objects are evicted and re-activated all along), a chat room with `--ws-clients` members of
//! which one never reads (it must be closed with 1008 when its outbox is full, not buffered
//! without end), and alarms set and fired on trapper objects. Every answer other than 200 must
//! be a documented one: 503 while storage is failed, 503 overloaded.
//!
//! Run with `scripts/soak.sh` (builds first). Figure lines start with `FIG`.

mod load;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Parser;
use holdfast_tests::{Server, admin_config, class, client, guest, set_faults};
use serde_json::json;

#[derive(Parser, Clone, Debug)]
#[command(about = "Holdfast soak benchmark (see scripts/soak.sh)")]
pub struct Args {
    /// Minutes of load.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Counter objects the increments spread over.
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// Resident cap of the server (below `objects`: evictions and re-activations all along).
    #[arg(long, default_value_t = 2_000)]
    live_cap: u32,
    /// Concurrent HTTP connections of the increment load.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Members of the chat room (one of them never reads).
    #[arg(long, default_value_t = 100)]
    ws_clients: usize,
    /// Messages per second sent to the room.
    #[arg(long, default_value_t = 20)]
    ws_rate: u32,
    /// Alarms set per second (on trapper objects, due half a second later).
    #[arg(long, default_value_t = 20)]
    alarm_rate: u32,
    /// When the disk-full episode starts, as a fraction of the run.
    #[arg(long, default_value_t = 0.5)]
    disk_full_at: f64,
    /// How long the disk stays full, in seconds (0: no episode).
    #[arg(long, default_value_t = 20)]
    disk_full_secs: u64,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 10)]
    sample_secs: u64,
}

fn config(args: &Args) -> String {
    format!(
        "[runtime]\nmax_live_objects = {}\n[websockets]\nmax_outbox_bytes = 262144\n{}{}{}{}",
        args.live_cap,
        admin_config(),
        class("counter", "Counter", &guest("counter")),
        class("chat", "ChatRoom", &guest("chat_room")),
        class("trap", "Trapper", &guest("trapper")),
    )
}

fn fig(name: &str, value: f64, unit: &str) {
    println!("FIG {name} {value:.1} {unit}");
}

fn main() -> Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let server = Server::start_with_faults(&config(&args))?;
    let c = client();
    let stats = Arc::new(load::Stats::new(args.objects));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let started = Instant::now();
    eprintln!(
        "soak: {:.1} min, {} counters (cap {}), {} WebSocket members, pid {}",
        args.minutes,
        args.objects,
        args.live_cap,
        args.ws_clients,
        server.pid()
    );
    let mut tasks = load::start(&server, &args, stats.clone(), stop.clone()).await?;

    // Memory samples, and the disk-full episode.
    let full_from = total.mul_f64(args.disk_full_at);
    let full_until = full_from + Duration::from_secs(args.disk_full_secs);
    let mut full = false;
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut next_sample = Duration::ZERO;
    while started.elapsed() < total {
        let t = started.elapsed();
        if args.disk_full_secs > 0 && !full && t >= full_from && t < full_until {
            eprintln!("soak: {:.0} s: the disk is full", t.as_secs_f64());
            set_faults(&c, &server, json!({ "fail": "full" })).await?;
            full = true;
        }
        if full && t >= full_until {
            eprintln!("soak: {:.0} s: the disk has room again", t.as_secs_f64());
            set_faults(&c, &server, json!({})).await?;
            full = false;
        }
        if t >= next_sample {
            let rss = server.rss_kib()?;
            samples.push((t.as_secs_f64() / 60.0, rss));
            eprintln!(
                "soak: {:5.1} min  RSS {:7} KiB  {}",
                t.as_secs_f64() / 60.0,
                rss,
                stats.line()
            );
            next_sample += Duration::from_secs(args.sample_secs);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if full {
        set_faults(&c, &server, json!({})).await?;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks.drain(..) {
        let _ = t.await;
    }
    let s = &stats;
    let alarms = holdfast_tests::metric(&c, &server, "holdfast_alarms_total").await?;
    let evictions = holdfast_tests::metric(&c, &server, "holdfast_evictions_total").await?;

    // Every acknowledged increment survives a crash.
    let server = server.kill9_and_restart()?;
    let (checked, missing) = load::verify(&server, s).await?;

    let rss_at = |min: f64| {
        samples
            .iter()
            .min_by(|a, b| (a.0 - min).abs().total_cmp(&(b.0 - min).abs()))
            .map_or(0, |s| s.1)
    };
    let early = rss_at(2.0_f64.min(args.minutes * 0.2));
    let end = samples.last().map_or(0, |s| s.1);
    let growth = if early > 0 {
        (end as f64 - early as f64) / early as f64 * 100.0
    } else {
        0.0
    };
    println!("RSS samples (minute, KiB): {samples:?}");
    fig("soak_minutes", args.minutes, "min");
    fig(
        "soak_increments_ok",
        s.ok.load(Ordering::Relaxed) as f64,
        "requests",
    );
    fig(
        "soak_storage_503",
        s.storage_503.load(Ordering::Relaxed) as f64,
        "requests",
    );
    fig(
        "soak_overloaded_503",
        s.overloaded.load(Ordering::Relaxed) as f64,
        "requests",
    );
    fig(
        "soak_errors",
        s.errors.load(Ordering::Relaxed) as f64,
        "requests",
    );
    fig(
        "soak_ws_delivered",
        s.ws_delivered.load(Ordering::Relaxed) as f64,
        "messages",
    );
    fig(
        "soak_ws_lazy_closed_with_1008",
        s.lazy_closed.load(Ordering::Relaxed) as f64,
        "",
    );
    fig(
        "soak_alarms_set",
        s.alarms_set.load(Ordering::Relaxed) as f64,
        "alarms",
    );
    fig("soak_alarms_fired", alarms, "alarms");
    fig("soak_evictions", evictions, "objects");
    fig("soak_rss_early_kib", early as f64, "KiB");
    fig("soak_rss_end_kib", end as f64, "KiB");
    fig("soak_rss_growth", growth, "%");
    fig("soak_acked_checked", checked as f64, "objects");
    fig("soak_acked_missing", missing as f64, "increments");
    let errors = s.errors.load(Ordering::Relaxed);
    if missing > 0 || errors > 0 {
        bail!("{missing} acknowledged increments missing, {errors} undocumented errors");
    }
    Ok(())
}
