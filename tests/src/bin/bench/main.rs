//! `holdfast-bench`: the core benchmark. Starts the real release binary on 127.0.0.1 serving the
//! counter example, drives it from one core with keep-alive HTTP/1.1 connections, and prints the
//! figures the README quotes:
//!
//! - hot: durable increments on one object (req/s, p50/p99), checked against the final value;
//! - many: durable increments spread uniformly over `--objects` objects;
//! - cold: activation (instantiate + first event) p50/p99, measured by the host
//!   (`holdfast_activation_seconds` at /_/metrics) over sequential first requests to fresh objects,
//!   and the client-side latency of those requests next to warm ones;
//! - memory: resident memory per live idle object after creating `--objects` objects;
//! - alarms (the trapper test guest) and WebSockets (the chat room, ws.rs);
//! - languages: the counter built from Rust, Python and JavaScript side by side (languages.rs);
//! - calls: worker -> object increments (Rust and JavaScript workers) beside the direct route,
//!   the object-to-object RPC round trip and the cycle error's latency (calls.rs);
//! - sql: a SQL counter beside a key-value one, point selects, bulk inserts, cold activation of
//!   an object with a 100 MiB database, memory per object with SQL open (sql.rs);
//! - history: point-in-time recovery's cost on increments, restore time, disk per write
//!   (history.rs);
//! - startup: time to the first answer with every example class, and idle memory (startup.rs).
//!
//! Run with `scripts/bench.sh` (builds first). Every figure line starts with `FIG`.

mod backup;
mod calls;
mod cluster;
mod dev;
mod history;
mod languages;
mod sql;
mod startup;
mod update;
mod ws;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use holdfast_tests::{Server, class, guest};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Parser, Clone)]
#[command(about = "Holdfast core benchmark (see scripts/bench.sh)")]
struct Args {
    /// Repetitions of the whole suite; with more than one, the median of each figure is printed
    /// at the end (this machine is noisy: quote medians).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Seconds of load per throughput phase.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Objects in the spread and memory phases.
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// Fresh objects activated one after another in the cold phase.
    #[arg(long, default_value_t = 2_000)]
    cold: usize,
    /// Skip the throughput phases (hot, many).
    #[arg(long)]
    skip_throughput: bool,
    /// Skip the cold-activation and memory phases.
    #[arg(long)]
    skip_cold: bool,
    /// Skip the alarm phase.
    #[arg(long)]
    skip_alarms: bool,
    /// Objects whose alarms fall due at the same moment in the alarm phase.
    #[arg(long, default_value_t = 10_000)]
    alarms: usize,
    /// Skip the WebSocket phases.
    #[arg(long)]
    skip_websockets: bool,
    /// Members of the fan-out room.
    #[arg(long, default_value_t = 100)]
    ws_clients: usize,
    /// Messages sent in each fan-out run.
    #[arg(long, default_value_t = 1_000)]
    ws_messages: usize,
    /// Messages per second in the paced fan-out run.
    #[arg(long, default_value_t = 100)]
    ws_rate: u32,
    /// Idle connections in the hibernation memory phase.
    #[arg(long, default_value_t = 10_000)]
    ws_idle: usize,
    /// Guest languages whose counters are compared side by side (hot object, cold activation,
    /// memory per object), comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rust,python,js"
    )]
    languages: Vec<languages::Lang>,
    /// Skip the language comparison.
    #[arg(long)]
    skip_languages: bool,
    /// Skip the calls phase (workers, RPC between objects).
    #[arg(long)]
    skip_calls: bool,
    /// Run only the calls phase.
    #[arg(long, conflicts_with = "skip_calls")]
    calls_only: bool,
    /// Skip the SQL phase.
    #[arg(long)]
    skip_sql: bool,
    /// Run only the SQL phase.
    #[arg(long, conflicts_with = "skip_sql")]
    sql_only: bool,
    /// Skip the start-up phase.
    #[arg(long)]
    skip_startup: bool,
    /// Run only the start-up phase.
    #[arg(long, conflicts_with = "skip_startup")]
    startup_only: bool,
    /// Skip the developer's-loop phase (edit to new code served, per language).
    #[arg(long)]
    skip_dev: bool,
    /// Run only the developer's-loop phase.
    #[arg(long, conflicts_with = "skip_dev")]
    dev_only: bool,
    /// Skip the code-update phase.
    #[arg(long)]
    skip_update: bool,
    /// Run only the code-update phase.
    #[arg(long, conflicts_with = "skip_update")]
    update_only: bool,
    /// Skip the backup phase.
    #[arg(long)]
    skip_backup: bool,
    /// Run only the backup phase.
    #[arg(long, conflicts_with = "skip_backup")]
    backup_only: bool,
    /// Megabytes of data in the database the backup phase backs up.
    #[arg(long, default_value_t = 1000)]
    backup_mb: usize,
    /// Increments per second served while the backup phase runs.
    #[arg(long, default_value_t = 1000)]
    backup_rate: u64,
    /// `[backup] max_mib_per_second` of the server in the backup phase (0: unpaced; default:
    /// the server's default).
    #[arg(long)]
    backup_pace: Option<u64>,
    /// Skip the point-in-time recovery phase.
    #[arg(long)]
    skip_history: bool,
    /// Run only cluster mode's figures (cluster.rs; needs root and PostgreSQL).
    #[arg(long)]
    cluster_only: bool,
    /// Kill -9 trials of the cluster phase's failover figure.
    #[arg(long, default_value_t = 10)]
    failover_trials: usize,
    /// Run only the point-in-time recovery phase (history.rs).
    #[arg(long, conflicts_with = "skip_history")]
    history_only: bool,
    /// Alternating rounds of the history-on/history-off increment comparison.
    #[arg(long, default_value_t = 3)]
    history_rounds: usize,
    /// Megabytes of data in the object the restore figure restores.
    #[arg(long, default_value_t = 100)]
    pitr_mb: usize,
    /// Key writes in that object's history.
    #[arg(long, default_value_t = 1_000_000)]
    pitr_writes: usize,
    /// Increments for the bytes-per-write figure (history on, then off).
    #[arg(long, default_value_t = 100_000)]
    pitr_disk_writes: u64,
    /// Hibernated WebSockets connected while the code-update phase updates the code.
    #[arg(long, default_value_t = 10_000)]
    update_sockets: usize,
    /// Run only the language comparison (skip every other phase).
    #[arg(long, conflicts_with = "skip_languages")]
    languages_only: bool,
    /// Live objects per language at which the comparison's memory phase measures, in rising
    /// order (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    lang_objects: Vec<usize>,
    /// Fresh objects activated one after another per language in the comparison's cold phase
    /// (they count towards --lang-objects).
    #[arg(long, default_value_t = 500)]
    lang_cold: usize,
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    // `--X-only` runs that phase alone: every other phase is skipped.
    let only = [
        args.startup_only,
        args.sql_only,
        args.calls_only,
        args.languages_only,
        args.update_only,
        args.dev_only,
        args.backup_only,
        args.history_only,
        args.cluster_only,
    ];
    if only.contains(&true) {
        args.skip_startup = !args.startup_only;
        args.skip_sql = !args.sql_only;
        args.skip_calls = !args.calls_only;
        args.skip_languages = !args.languages_only;
        args.skip_update = !args.update_only;
        args.skip_dev = !args.dev_only;
        args.skip_backup = !args.backup_only;
        args.skip_history = !args.history_only;
        args.skip_throughput = true;
        args.skip_cold = true;
        args.skip_alarms = true;
        args.skip_websockets = true;
    }
    if !args.skip_languages {
        languages::check(&args)?;
    }
    // The load generator gets one core; the server has the rest.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for run_no in 1..=args.runs {
        println!("# run {run_no} of {}", args.runs);
        rt.block_on(run(args.clone()))?;
    }
    if args.runs > 1 {
        print_medians();
    }
    if !args.skip_languages {
        languages::print_table(&args.languages, args.runs, &args.lang_objects);
    }
    Ok(())
}

thread_local! {
    /// Every figure printed so far, in order: (name, value, unit).
    static FIGURES: std::cell::RefCell<Vec<(String, f64, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The median of `v` (sorted in place).
fn median_of(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median of figure `name` over the runs so far.
fn median(name: &str) -> Option<f64> {
    let mut values: Vec<f64> =
        FIGURES.with_borrow(|figs| figs.iter().filter(|f| f.0 == name).map(|f| f.1).collect());
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// One `MEDIAN name value unit (runs: a, b, c)` line per figure, over all runs.
fn print_medians() {
    FIGURES.with_borrow(|figs| {
        let mut names: Vec<&str> = Vec::new();
        for (n, _, _) in figs.iter() {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        for name in names {
            let mut values: Vec<f64> = figs.iter().filter(|f| f.0 == name).map(|f| f.1).collect();
            let unit = &figs.iter().find(|f| f.0 == name).expect("present").2;
            let runs = values
                .iter()
                .map(|v| format!("{v:.1}"))
                .collect::<Vec<_>>()
                .join(", ");
            values.sort_by(f64::total_cmp);
            println!(
                "MEDIAN {name} {:.1} {unit} (runs: {runs})",
                values[values.len() / 2]
            );
        }
    });
}

fn config() -> String {
    class("counter", "Counter", &guest("counter"))
}

async fn run(args: Args) -> Result<()> {
    let d = Duration::from_secs(args.duration);
    if !args.skip_throughput {
        let s = Server::start(&config())?;
        languages::hot(s.addr, "", args.connections, d).await?;
        let n = args.objects;
        let many = load(s.addr, args.connections, d, move |r| {
            format!("/counter/m{}/increment", r % n as u64)
        })
        .await?;
        report("many_incr", &many);
    }
    if !args.skip_cold {
        languages::cold_and_memory(&config(), "", args.cold, &[args.objects], args.connections)
            .await?;
    }
    if !args.skip_alarms {
        alarms(&args).await?;
    }
    if !args.skip_websockets {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(ws::fanout(args.ws_clients, args.ws_messages, args.ws_rate))
            .await?;
        ws::hibernated(args.ws_idle).await?;
    }
    if !args.skip_calls {
        calls::run(args.connections, d).await?;
    }
    if !args.skip_sql {
        sql::run(args.connections, d).await?;
    }
    if !args.skip_languages {
        languages::compare(&args).await?;
    }
    if !args.skip_startup {
        startup::run().await?;
    }
    if !args.skip_dev {
        dev::run().await?;
    }
    if !args.skip_update {
        let local = tokio::task::LocalSet::new();
        local.run_until(update::run(args.update_sockets)).await?;
    }
    if !args.skip_backup {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(backup::run(
                args.backup_mb,
                args.backup_rate,
                args.backup_pace,
            ))
            .await?;
    }
    if args.cluster_only {
        cluster::run(args.connections, d, args.objects, args.failover_trials).await?;
    }
    if !args.skip_history {
        history::cost(args.connections, d, args.objects, args.history_rounds).await?;
        history::disk(args.pitr_disk_writes, args.connections).await?;
        history::restore(args.pitr_mb, args.pitr_writes).await?;
    }
    Ok(())
}

/// `--alarms` objects set their alarm for one moment, leave memory, and are woken by it:
/// alarms fired per second and lateness (fire time - scheduled time) p50/p99, from the time each
/// guest recorded in its handler.
async fn alarms(args: &Args) -> Result<()> {
    let config = format!(
        "{}[class.limits]\nidle_timeout_ms = {}\n",
        class("trap", "Trapper", &guest("trapper")),
        std::env::var("ALARM_IDLE_MS").unwrap_or("1000".into())
    );
    let s = Server::start(&config)?;
    let n = args.alarms as u64;
    let due = now_ms() + 4000 + n as i64 / 5;
    let set = load_n(s.addr, args.connections, n, move |i| {
        format!("/trap/a{i}/alarm?at={due}")
    })
    .await?;
    if set.errors > 0 {
        bail!("{} errors setting alarms", set.errors);
    }
    anyhow::ensure!(
        now_ms() < due,
        "setting the alarms took past their due time"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let fired = metric_value(s.addr, "holdfast_alarms_total").await?;
        if fired as u64 >= n {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {fired} of {n} alarms fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bodies = get_all(s.addr, args.connections, n, |i| {
        format!("/trap/a{i}/get?key=alarm_fired_at")
    })
    .await?;
    let mut late = Histogram::<u64>::new(3)?;
    let mut last = due;
    for (_, body) in bodies {
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let at: i64 = v["value"].as_str().context("fired_at")?.parse()?;
        last = last.max(at);
        late.record((at - due).max(0) as u64)?;
    }
    activation_figures(s.addr, "alarm_activation").await?;
    fig(
        "alarms_fired_per_s",
        n as f64 / ((last - due).max(1) as f64 / 1000.0),
        "alarms/s",
    );
    fig(
        "alarm_lateness_p50",
        late.value_at_quantile(0.5) as f64,
        "ms",
    );
    fig(
        "alarm_lateness_p99",
        late.value_at_quantile(0.99) as f64,
        "ms",
    );
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `{prefix}_p50` and `{prefix}_p99` in µs from the host's activation-time summary.
async fn activation_figures(addr: SocketAddr, prefix: &str) -> Result<()> {
    for (q, label) in [("0.5", "p50"), ("0.99", "p99")] {
        let name = format!("holdfast_activation_seconds{{quantile=\"{q}\"}}");
        fig(
            &format!("{prefix}_{label}"),
            metric_value(addr, &name).await? * 1e6,
            "us",
        );
    }
    Ok(())
}

/// A metric's value from the server's /_/metrics.
async fn metric_value(addr: SocketAddr, name: &str) -> Result<f64> {
    let metrics = String::from_utf8(request(addr, "GET", "/_/metrics").await?.1)?;
    let prefix = format!("{name} ");
    Ok(metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .with_context(|| format!("metric {name}"))?
        .parse()?)
}

fn fig(name: &str, value: f64, unit: &str) {
    println!("FIG {name} {value:.1} {unit}");
    FIGURES.with_borrow_mut(|f| f.push((name.to_owned(), value, unit.to_owned())));
}

fn report(name: &str, r: &LoadResult) {
    fig(
        &format!("{name}_rps"),
        r.ok as f64 / r.elapsed.as_secs_f64(),
        "req/s",
    );
    fig(
        &format!("{name}_p50_ms"),
        r.hist.value_at_quantile(0.5) as f64 / 1000.0,
        "ms",
    );
    fig(
        &format!("{name}_p99_ms"),
        r.hist.value_at_quantile(0.99) as f64 / 1000.0,
        "ms",
    );
    fig(&format!("{name}_errors"), r.errors as f64, "count");
}

struct LoadResult {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    hist: Histogram<u64>,
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn {
            sender,
            host: addr.to_string(),
        })
    }

    async fn send(&mut self, method: &str, path: &str) -> Result<(u16, Vec<u8>)> {
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .body(Empty::new())?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes().to_vec();
        Ok((status, body))
    }
}

async fn request(addr: SocketAddr, method: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    Conn::open(addr).await?.send(method, path).await
}

/// `connections` clients sending POSTs to `path(i)` (i random) until `d` has passed.
async fn load(
    addr: SocketAddr,
    connections: usize,
    d: Duration,
    path: impl Fn(u64) -> String + Clone + 'static,
) -> Result<LoadResult> {
    drive(
        addr,
        connections,
        Some(Instant::now() + d),
        None,
        "POST",
        None,
        move |_, r| path(r),
    )
    .await
}

/// `connections` clients sending `total` POSTs to `path(0..total)`, each index once.
async fn load_n(
    addr: SocketAddr,
    connections: usize,
    total: u64,
    path: impl Fn(u64) -> String + Clone + 'static,
) -> Result<LoadResult> {
    drive(
        addr,
        connections,
        None,
        Some(total),
        "POST",
        None,
        move |i, _| path(i),
    )
    .await
}

/// Response bodies collected by index.
type Bodies = std::rc::Rc<std::cell::RefCell<Vec<(u64, Vec<u8>)>>>;

/// `connections` clients sending `total` GETs to `path(0..total)`; the bodies by index.
async fn get_all(
    addr: SocketAddr,
    connections: usize,
    total: u64,
    path: impl Fn(u64) -> String + Clone + 'static,
) -> Result<Vec<(u64, Vec<u8>)>> {
    let bodies = Bodies::default();
    let r = drive(
        addr,
        connections,
        None,
        Some(total),
        "GET",
        Some(bodies.clone()),
        move |i, _| path(i),
    )
    .await?;
    if r.errors > 0 {
        bail!("{} errors reading results", r.errors);
    }
    Ok(bodies.take())
}

async fn drive(
    addr: SocketAddr,
    connections: usize,
    until: Option<Instant>,
    total: Option<u64>,
    method: &'static str,
    bodies: Option<Bodies>,
    path: impl Fn(u64, u64) -> String + Clone + 'static,
) -> Result<LoadResult> {
    let next = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let local = tokio::task::LocalSet::new();
    for _ in 0..connections {
        let path = path.clone();
        let next = next.clone();
        let bodies = bodies.clone();
        tasks.push(local.spawn_local(async move {
            let mut conn = Conn::open(addr).await?;
            let mut hist = Histogram::<u64>::new(3)?;
            let (mut ok, mut errors) = (0u64, 0u64);
            loop {
                if until.is_some_and(|u| Instant::now() >= u) {
                    break;
                }
                let i = next.get();
                if total.is_some_and(|t| i >= t) {
                    break;
                }
                next.set(i + 1);
                let p = path(i, rand::random::<u64>());
                let t = Instant::now();
                let (status, body) = conn.send(method, &p).await?;
                hist.record(t.elapsed().as_micros().max(1) as u64)?;
                if let Some(b) = &bodies {
                    b.borrow_mut().push((i, body));
                }
                if status < 400 {
                    ok += 1;
                } else {
                    errors += 1;
                }
            }
            anyhow::Ok((ok, errors, hist))
        }));
    }
    let mut result = LoadResult {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        hist: Histogram::new(3)?,
    };
    local
        .run_until(async {
            for t in tasks {
                let (ok, errors, hist) = t.await??;
                result.ok += ok;
                result.errors += errors;
                result.hist.add(hist)?;
            }
            anyhow::Ok(())
        })
        .await?;
    result.elapsed = started.elapsed();
    Ok(result)
}
