//! Cluster mode's figures (`--cluster-only`; needs root and PostgreSQL, as the cluster tests):
//! - durable increments of one node on PostgreSQL against one node on redb, same run (hot and
//!   spread over `--objects`; history off on both, as cluster mode has it);
//! - the cost of forwarding: sequential reads through one node, split by whether that node
//!   forwarded them (its `forwarded_total` before and after each);
//! - failover: kill -9 of the node an object is placed on, until a survivor answers for it
//!   (`--failover-trials` times; the node is restarted between trials).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use hdrhistogram::Histogram;
use holdfast_tests::cluster::{Netns, Node, Postgres, node_config, wait_members};
use holdfast_tests::{Server, class, client, guest};

use crate::{fig, load, report};

const PORT: u16 = 8787;
const LEASE_MS: u64 = 1500;

fn counter() -> String {
    class("counter", "Counter", &guest("counter"))
}

fn config(net: &Netns, pg: &Postgres, i: usize) -> String {
    node_config(net, pg, i, PORT, LEASE_MS, "", &counter())
}

async fn forwarded(c: &reqwest::Client, node: &Node) -> Result<f64> {
    let text = c.get(node.url("/_/metrics")).send().await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("holdfast_forwarded_total "))
        .context("forwarded_total")?
        .trim()
        .parse()
        .context("a number")
}

pub async fn run(connections: usize, d: Duration, objects: usize, trials: usize) -> Result<()> {
    ensure!(
        Netns::available(),
        "the cluster phase needs root (network namespaces)"
    );
    let net = Netns::create(3)?;
    let pg = Postgres::start(&[&net.bridge_ip()])?;
    let n = objects as u64;
    // One node on redb, then one on PostgreSQL: the same load. redb with history off, as
    // cluster mode has it (the default keeps history, whose cost is measured apart).
    let s = Server::start(&format!("[history]\nretention_seconds = 0\n{}", counter()))?;
    let hot = load(s.addr, connections, d, |_| "/counter/hot/increment".into()).await?;
    let many = load(s.addr, connections, d, move |r| {
        format!("/counter/m{}/increment", r % n)
    })
    .await?;
    drop(s);
    report("cluster_redb_hot_incr", &hot);
    report("cluster_redb_many_incr", &many);
    let mut nodes = vec![Node::start(&net, 0, &config(&net, &pg, 0), PORT)?];
    let addr: SocketAddr = format!("{}:{PORT}", net.node_ip(0)).parse()?;
    let hot_pg = load(addr, connections, d, |_| "/counter/hot/increment".into()).await?;
    let many_pg = load(addr, connections, d, move |r| {
        format!("/counter/m{}/increment", r % n)
    })
    .await?;
    report("cluster_pg_hot_incr", &hot_pg);
    report("cluster_pg_many_incr", &many_pg);
    let rate = |r: &crate::LoadResult| r.ok as f64 / r.elapsed.as_secs_f64();
    fig(
        "cluster_pg_vs_redb_hot_ratio",
        rate(&hot_pg) / rate(&hot),
        "x",
    );
    fig(
        "cluster_pg_vs_redb_many_ratio",
        rate(&many_pg) / rate(&many),
        "x",
    );

    // Three nodes.
    for i in 1..3 {
        nodes.push(Node::start(&net, i, &config(&net, &pg, i), PORT)?);
    }
    let c = client();
    wait_members(&nodes, 3, Duration::from_secs(20)).await?;
    let (mut local, mut remote) = (Histogram::<u64>::new(3)?, Histogram::<u64>::new(3)?);
    // Objects placed on node 2 (read through it without forwarding), for the failover trials.
    let mut on_2 = Vec::new();
    for round in 0..2 {
        for o in 0..300 {
            let url = nodes[0].url(&format!("/counter/f{o}"));
            let before = forwarded(&c, &nodes[0]).await?;
            let t = Instant::now();
            let r = c.get(&url).send().await?;
            let us = t.elapsed().as_micros() as u64;
            ensure!(r.status() == 200, "reading f{o}: {}", r.status());
            let after = forwarded(&c, &nodes[0]).await?;
            // The first round activates every object; the second measures.
            if round == 1 {
                if after > before {
                    remote.record(us)?;
                } else {
                    local.record(us)?;
                }
            }
            if round == 0 && on_2.len() < trials {
                let b2 = forwarded(&c, &nodes[2]).await?;
                c.get(nodes[2].url(&format!("/counter/f{o}")))
                    .send()
                    .await?;
                if forwarded(&c, &nodes[2]).await? == b2 {
                    on_2.push(o);
                }
            }
        }
    }
    for (name, h) in [("local", &local), ("forwarded", &remote)] {
        fig(
            &format!("cluster_read_{name}_samples"),
            h.len() as f64,
            "reads",
        );
        fig(
            &format!("cluster_read_{name}_p50_us"),
            h.value_at_quantile(0.5) as f64,
            "us",
        );
        fig(
            &format!("cluster_read_{name}_p99_us"),
            h.value_at_quantile(0.99) as f64,
            "us",
        );
    }
    fig(
        "cluster_forwarding_extra_p50_us",
        remote.value_at_quantile(0.5) as f64 - local.value_at_quantile(0.5) as f64,
        "us",
    );
    fig(
        "cluster_forwarding_extra_p99_us",
        remote.value_at_quantile(0.99) as f64 - local.value_at_quantile(0.99) as f64,
        "us",
    );

    // Failover.
    ensure!(!on_2.is_empty(), "no object was placed on node 2");
    let mut times = Vec::new();
    for t in 0..trials {
        let o = on_2[t % on_2.len()];
        let url = nodes[0].url(&format!("/counter/f{o}/increment"));
        let r = c.post(&url).send().await?;
        ensure!(r.status() == 200, "before the kill: {}", r.status());
        nodes[2].kill9();
        let killed = Instant::now();
        loop {
            if let Ok(r) = c.post(&url).send().await
                && r.status() == 200
            {
                break;
            }
            ensure!(
                killed.elapsed() < Duration::from_secs(30),
                "f{o} never came back"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        times.push(killed.elapsed().as_secs_f64() * 1000.0);
        nodes[2].restart()?;
        wait_members(&nodes, 3, Duration::from_secs(20)).await?;
    }
    times.sort_by(f64::total_cmp);
    println!("# failover times (ms): {times:?}");
    fig("cluster_failover_p50_ms", times[times.len() / 2], "ms");
    fig(
        "cluster_failover_max_ms",
        *times.last().expect("one trial"),
        "ms",
    );
    Ok(())
}
