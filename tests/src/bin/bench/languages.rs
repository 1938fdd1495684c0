//! The counter in each guest language side by side: the same HTTP contract (`POST /increment`
//! returns the new value, `GET /` the value) built from Rust (examples/counter), Python
//! (examples/py-counter) and JavaScript (examples/js-counter), each measured the same way:
//!
//! - hot: durable increments on one object for `--duration` (req/s, p50/p99), checked against
//!   the final value;
//! - cold: `--lang-cold` sequential first requests to fresh objects; activation p50/p99 as the
//!   host measures it (`holdfast_activation_seconds`);
//! - memory: resident memory per live idle object at each count of `--lang-objects` live (RSS,
//!   as the core memory figure, and PSS, which counts a page shared by several instances once);
//!   JavaScript and Python objects share instances (objects_per_instance), Rust ones do not.
//!
//! Figures are printed as `FIG {language}_{figure}`; [`print_table`] prints the README table.
//! The core phases of main.rs share [`hot`] and [`cold_and_memory`] (with an empty prefix).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use hdrhistogram::Histogram;
use holdfast_tests::{Server, class, root};

use crate::{Args, Conn, activation_figures, fig, load, load_n, metric_value, report, request};

/// A guest language with a build of the counter example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    /// The prefix of its FIG names and its name in the `--languages` list.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Lang::Rust => "Counter",
            Lang::Python => "PyCounter",
            Lang::Js => "Counter",
        }
    }

    /// The component, relative to the repository root.
    fn component(self) -> &'static str {
        match self {
            Lang::Rust => "target/wasm32-wasip2/release/counter.wasm",
            Lang::Python => "target/py-counter/py_counter.wasm",
            Lang::Js => "target/js-counter/js_counter.wasm",
        }
    }

    /// The command that builds [`Lang::component`].
    fn build(self) -> &'static str {
        match self {
            Lang::Rust => "cargo build --release --locked --target wasm32-wasip2 -p counter",
            Lang::Python => "examples/py-counter/build.sh",
            Lang::Js => "examples/js-counter/build.sh",
        }
    }

    fn path(self) -> PathBuf {
        root().join(self.component())
    }

    /// The counter served as `counter`, kept resident for the whole memory phase (a slow
    /// language must not lose its first objects to the idle timeout before RSS is read), with
    /// room for the largest count of `--lang-objects`.
    fn config(self) -> String {
        format!(
            "[runtime]\nmax_live_objects = 10050\n{}[class.limits]\nidle_timeout_ms = 600000\n",
            class("counter", self.class(), &self.path())
        )
    }
}

/// Checked before any phase runs: fails, naming every missing file and the command that builds
/// it, unless each language's component has been built; and the object counts must fit.
pub fn check(args: &Args) -> Result<()> {
    anyhow::ensure!(
        args.lang_objects.windows(2).all(|w| w[0] < w[1]),
        "--lang-objects ({:?}) must rise",
        args.lang_objects
    );
    anyhow::ensure!(
        args.lang_objects
            .first()
            .is_some_and(|&n| args.lang_cold < n),
        "--lang-cold ({}) must be smaller than the first of --lang-objects ({:?})",
        args.lang_cold,
        args.lang_objects
    );
    let missing: Vec<String> = args
        .languages
        .iter()
        .filter(|l| !l.path().exists())
        .map(|l| {
            format!(
                "  {} counter: {} is missing; build it with `{}` (scripts/setup.sh builds every guest)",
                l.title(),
                l.path().display(),
                l.build()
            )
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "--languages needs the counter built in each language:\n{}\n(or leave the language out, e.g. --languages rust,python)",
            missing.join("\n")
        );
    }
    Ok(())
}

/// Every phase for every language of `--languages`, one language after another.
pub async fn compare(args: &Args) -> Result<()> {
    let d = Duration::from_secs(args.duration);
    for &lang in &args.languages {
        let name = lang.name();
        println!("# language {name}: {}", lang.component());
        let s = Server::start(&lang.config())?;
        hot(s.addr, &format!("{name}_"), args.connections, d).await?;
        drop(s);
        cold_and_memory(
            &lang.config(),
            &format!("{name}_"),
            args.lang_cold,
            &args.lang_objects,
            args.connections,
        )
        .await?;
    }
    Ok(())
}

/// `{prefix}hot_incr_*`: increments of one object for `d`; the object must then hold exactly the
/// number of acknowledged increments.
pub async fn hot(addr: SocketAddr, prefix: &str, connections: usize, d: Duration) -> Result<()> {
    let hot = load(addr, connections, d, |_| "/counter/hot/increment".into()).await?;
    report(&format!("{prefix}hot_incr"), &hot);
    let (_, body) = request(addr, "GET", "/counter/hot").await?;
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    if v["value"].as_u64() != Some(hot.ok) {
        bail!(
            "{prefix}hot object holds {} but {} increments were acknowledged",
            v["value"],
            hot.ok
        );
    }
    Ok(())
}

/// On a fresh server with `config`: `cold` first requests to fresh objects one after another
/// (host-measured activation p50/p99, and the client-side latency next to warm requests), then
/// the resident memory per live idle object with each count of `objects` live in all (figures
/// `..._at_{n}`; the last count's also without the suffix).
pub async fn cold_and_memory(
    config: &str,
    prefix: &str,
    cold: usize,
    objects: &[usize],
    connections: usize,
) -> Result<()> {
    let s = Server::start(config)?;
    request(s.addr, "POST", "/counter/warmup/increment").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = s.rss_kib()?;
    let pss_before = pss_kib(&s)?;

    let mut conn = Conn::open(s.addr).await?;
    let mut cold_h = Histogram::<u64>::new(3)?;
    let mut warm_h = Histogram::<u64>::new(3)?;
    for (h, what) in [(&mut cold_h, "cold"), (&mut warm_h, "warm")] {
        for i in 0..cold {
            let t = Instant::now();
            let (status, body) = conn
                .send("POST", &format!("/counter/c{i}/increment"))
                .await?;
            h.record(t.elapsed().as_micros() as u64)?;
            if status >= 400 {
                bail!(
                    "{what} request to c{i} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }
    activation_figures(s.addr, &format!("{prefix}cold_activation")).await?;
    for (h, what) in [(&cold_h, "cold"), (&warm_h, "warm")] {
        for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
            fig(
                &format!("{prefix}{what}_request_client_{label}"),
                h.value_at_quantile(q) as f64,
                "us",
            );
        }
    }

    // Memory: bring the live objects up to each count, let them go idle, read RSS.
    fig(&format!("{prefix}rss_idle_kib"), rss_before as f64, "KiB");
    let mut made = cold + 1;
    for (i, &n) in objects.iter().enumerate() {
        let extra = n.saturating_sub(made);
        let start = made as u64;
        let created = load_n(s.addr, connections, extra as u64, move |r| {
            format!("/counter/c{}/increment", start + r)
        })
        .await?;
        if created.errors > 0 {
            bail!("{} errors while creating objects", created.errors);
        }
        made += extra;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_after = s.rss_kib()?;
        let pss_after = pss_kib(&s)?;
        let live = metric_value(s.addr, "holdfast_live_objects").await?;
        let per = |after: u64, before: u64| (after as f64 - before as f64) / (live - 1.0);
        let last = i + 1 == objects.len();
        for suffix in [Some(format!("_at_{n}")), last.then(String::new)]
            .into_iter()
            .flatten()
        {
            fig(
                &format!("{prefix}rss_with_live_objects_kib{suffix}"),
                rss_after as f64,
                "KiB",
            );
            fig(&format!("{prefix}live_objects{suffix}"), live, "objects");
            fig(
                &format!("{prefix}rss_per_live_object_kib{suffix}"),
                per(rss_after, rss_before),
                "KiB",
            );
            fig(
                &format!("{prefix}pss_per_live_object_kib{suffix}"),
                per(pss_after, pss_before),
                "KiB",
            );
        }
    }
    Ok(())
}

/// The server's proportional set size in KiB: resident memory with each page shared by `n`
/// mappings (e.g. an unwritten page of a component's copy-on-write memory image, mapped into
/// every instance) counted as 1/n.
fn pss_kib(s: &Server) -> Result<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", s.pid()))?;
    let line = rollup
        .lines()
        .find(|l| l.starts_with("Pss:"))
        .ok_or_else(|| anyhow::anyhow!("no Pss in smaps_rollup"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("Pss value"))?
        .parse()?)
}

/// The comparison as a Markdown table (the median of each figure over the runs).
pub fn print_table(langs: &[Lang], runs: usize, objects: &[usize]) {
    let of = if runs > 1 {
        format!("medians of {runs} runs")
    } else {
        "one run".to_owned()
    };
    println!("\n# The counter by guest language ({of}):\n");
    let counts: Vec<String> = objects.iter().map(|&n| thousands(n as f64)).collect();
    println!(
        "| language | durable increments, one hot object | cold activation (host-measured) | {} |",
        counts
            .iter()
            .map(|n| format!("memory per live idle object, {n} live: RSS / PSS"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---:|---:|{}", "---:|".repeat(objects.len()));
    for &lang in langs {
        let m = |figure: &str| crate::median(&format!("{}_{figure}", lang.name()));
        let (Some(rps), Some(p50), Some(p99), Some(c50), Some(c99)) = (
            m("hot_incr_rps"),
            m("hot_incr_p50_ms"),
            m("hot_incr_p99_ms"),
            m("cold_activation_p50"),
            m("cold_activation_p99"),
        ) else {
            continue;
        };
        let memory: Vec<String> = objects
            .iter()
            .map(|n| {
                match (
                    m(&format!("rss_per_live_object_kib_at_{n}")),
                    m(&format!("pss_per_live_object_kib_at_{n}")),
                ) {
                    (Some(rss), Some(pss)) => format!("{} / {}", kib(rss), kib(pss)),
                    _ => "-".to_owned(),
                }
            })
            .collect();
        println!(
            "| {} | {} req/s, p50 {p50:.1} ms, p99 {p99:.1} ms | p50 {}, p99 {} | {} |",
            lang.title(),
            thousands(rps),
            micros(c50),
            micros(c99),
            memory.join(" | "),
        );
    }
}

/// `12,345` from 12345.4.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.round());
    let (sign, digits) = digits
        .strip_prefix('-')
        .map_or(("", digits.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// `235 µs` or `12.3 ms`.
fn micros(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}

/// `91.7 KiB` or `2.4 MiB`.
fn kib(k: f64) -> String {
    if k < 1024.0 {
        format!("{k:.1} KiB")
    } else {
        format!("{:.2} MiB", k / 1024.0)
    }
}
