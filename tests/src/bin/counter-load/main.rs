//! Increments counters through a list of nodes and prints every answer, one line each:
//! `ack {object} {value} {node}` for a 200, `fail {object} {reason} {node}` otherwise. The cluster
//! tests run it inside and outside a node's network namespace and check the lines afterwards
//! (every acknowledged value unique per object, none lost).
//!
//! A worker that meets a failure moves to the next node of the list (a client of a dead node
//! reconnecting elsewhere).

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Base URLs of the nodes, comma-separated (`http://10.0.0.11:8787,...`).
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<String>,
    /// Counter names are `{prefix}{i}` for i in 0..objects.
    #[arg(long, default_value = "c")]
    prefix: String,
    #[arg(long, default_value_t = 8)]
    objects: usize,
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// How long to run.
    #[arg(long, default_value_t = 10_000)]
    millis: u64,
    /// Per-request timeout.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(!args.nodes.is_empty(), "--nodes names no node");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(args.timeout_ms))
        .build()?;
    let until = Instant::now() + Duration::from_millis(args.millis);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut tasks = Vec::new();
    for w in 0..args.workers {
        let (client, tx, nodes) = (client.clone(), tx.clone(), args.nodes.clone());
        let object = format!("{}{}", args.prefix, w % args.objects.max(1));
        tasks.push(tokio::spawn(async move {
            let mut n = w % nodes.len();
            while Instant::now() < until {
                let node = &nodes[n];
                let url = format!("{node}/counter/{object}/increment");
                let line = match client.post(&url).send().await {
                    Ok(r) if r.status() == 200 => match r.json::<serde_json::Value>().await {
                        Ok(v) => format!("ack {object} {} {node}", v["value"]),
                        Err(e) => format!("fail {object} body:{e} {node}"),
                    },
                    Ok(r) => format!("fail {object} status:{} {node}", r.status().as_u16()),
                    Err(e) => format!("fail {object} error:{} {node}", short(&e)),
                };
                let failed = line.starts_with("fail");
                let _ = tx.send(line);
                if failed {
                    n = (n + 1) % nodes.len();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    while let Some(line) = rx.recv().await {
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}

fn short(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "other"
    }
}
