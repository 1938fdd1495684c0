//! Cluster mode: three `holdfast serve` processes over one real PostgreSQL 15 server, each node
//! in a network namespace of its own (`ip netns`, veth), so that one can be killed or cut off.
//!
//! Needs root (for `ip netns`) and PostgreSQL's server binaries (Debian's `postgresql`
//! package; `scripts/test.sh` installs it). Without them the tests say why and pass vacuously,
//! so that a developer machine without root still runs the rest of the suite; with
//! `HOLDFAST_REQUIRE_CLUSTER_TESTS` set (`scripts/test.sh` sets it as root, so CI does) they
//! fail instead.

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use holdfast_tests::cluster::{Netns, Node, Postgres, node_config, wait_members};
use holdfast_tests::{call, class, client, guest, root, ws_json, ws_send};
use reqwest::Method;
use serde_json::json;

const PORT: u16 = 8787;
const LEASE_MS: u64 = 1500;

/// A cluster of `n` nodes; `None` (with the reason printed) where this machine cannot make one.
struct Cluster {
    nodes: Vec<Node>,
    net: Netns,
    pg: Postgres,
}

async fn cluster(n: usize, classes: &str) -> Result<Option<Cluster>> {
    cluster_with(n, "", classes).await
}

/// A cluster whose nodes' configs also hold `extra` (TOML tables, before the classes).
async fn cluster_with(n: usize, extra: &str, classes: &str) -> Result<Option<Cluster>> {
    let required = std::env::var_os("HOLDFAST_REQUIRE_CLUSTER_TESTS").is_some();
    if !Netns::available() {
        if required {
            bail!("HOLDFAST_REQUIRE_CLUSTER_TESTS is set but `ip netns` is not available here");
        }
        eprintln!("skipped: `ip netns` is not available here (the cluster tests need root)");
        return Ok(None);
    }
    let net = Netns::create(n)?;
    let pg = match Postgres::start(&[&net.bridge_ip()]) {
        Ok(pg) => pg,
        Err(e) if !required => {
            eprintln!("skipped: {e:#}");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let mut nodes = Vec::new();
    for i in 0..n {
        nodes.push(Node::start(
            &net,
            i,
            &node_config(
                &net,
                &pg,
                i,
                PORT,
                LEASE_MS,
                &format!("audit = true\n{extra}"),
                classes,
            ),
            PORT,
        )?);
    }
    // Until every node sees every other, nodes place objects differently (safe, but their
    // requests then meet the fence and are answered 503).
    wait_members(&nodes, n, Duration::from_millis(LEASE_MS * 4)).await?;
    Ok(Some(Cluster { nodes, net, pg }))
}

/// Two namespaces of the calls test guest: callers (`caller/…`) and callees (`other/…`).
fn callers() -> String {
    format!(
        "{}{}",
        class("caller", "Caller", &guest("caller")),
        class("other", "Caller", &guest("caller"))
    )
}

fn counter() -> String {
    class("counter", "Counter", &guest("counter"))
}

/// Sum of a metric over the nodes.
async fn metric_sum(c: &reqwest::Client, nodes: &[Node], name: &str) -> Result<f64> {
    let mut sum = 0.0;
    for n in nodes {
        let text = c.get(n.url("/_/metrics")).send().await?.text().await?;
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("holdfast_{name} ")))
            .with_context(|| format!("no {name} in {text}"))?;
        sum += line.rsplit(' ').next().unwrap_or("0").parse::<f64>()?;
    }
    Ok(sum)
}

#[tokio::test]
async fn every_node_serves_every_object_through_its_owner() -> Result<()> {
    let classes = format!(
        "{}{}",
        counter(),
        class("chat", "ChatRoom", &guest("chat_room"))
    );
    let Some(cl) = cluster(3, &classes).await? else {
        return Ok(());
    };
    let c = client();
    // One object, written through every node in turn: one sequence, as on one node.
    for k in 0..30 {
        let node = &cl.nodes[k % 3];
        let (status, body) = call(&c, Method::POST, node.url("/counter/shared/increment")).await?;
        assert_eq!((status, body), (200, json!({"value": k as i64 + 1})));
    }
    // Many objects: each placed on one node, each read back through every node.
    for i in 0..30 {
        let (_, body) = call(
            &c,
            Method::POST,
            cl.nodes[0].url(&format!("/counter/o{i}/increment?amount={i}")),
        )
        .await?;
        assert_eq!(body, json!({"value": i}));
    }
    for node in &cl.nodes {
        for i in 0..30 {
            let (_, body) = call(&c, Method::GET, node.url(&format!("/counter/o{i}"))).await?;
            assert_eq!(body, json!({"value": i}), "o{i} through {}", node.url(""));
        }
    }
    let forwarded = metric_sum(&c, &cl.nodes, "forwarded_total").await?;
    assert!(forwarded >= 40.0, "forwarded {forwarded}");
    // Every object committed under one node's epoch only (nothing moved here).
    let owners = cl.pg.psql(
        "SELECT count(DISTINCT node) FROM hf_commit_log GROUP BY object ORDER BY 1 DESC LIMIT 1",
    )?;
    assert_eq!(owners.trim(), "1");

    // WebSockets through any node reach the one room: two members on two other nodes.
    let ws_url = |i: usize, name: &str| {
        format!(
            "ws://{}:{PORT}/chat/lobby/ws?name={name}",
            cl.net.node_ip(i)
        )
    };
    let (mut alice, _) = tokio_tungstenite::connect_async(ws_url(0, "Alice")).await?;
    assert_eq!(ws_json(&mut alice).await?["type"], "history");
    assert_eq!(ws_json(&mut alice).await?["name"], "Alice");
    let (mut bob, _) = tokio_tungstenite::connect_async(ws_url(1, "Bob")).await?;
    assert_eq!(ws_json(&mut bob).await?["type"], "history");
    assert_eq!(ws_json(&mut bob).await?["name"], "Bob");
    assert_eq!(ws_json(&mut alice).await?["name"], "Bob");
    ws_send(&mut bob, r#"{"type":"message","text":"across nodes"}"#).await?;
    for ws in [&mut alice, &mut bob] {
        let m = ws_json(ws).await?;
        assert_eq!(
            (m["name"].as_str(), m["text"].as_str()),
            (Some("Bob"), Some("across nodes")),
            "{m}"
        );
    }
    Ok(())
}

/// One line of `counter-load`'s output.
struct Answer {
    object: String,
    value: Option<i64>,
}

fn parse(out: &str) -> Vec<Answer> {
    out.lines()
        .filter_map(|l| {
            let mut w = l.split(' ');
            let kind = w.next()?;
            let object = w.next()?.to_owned();
            let value = (kind == "ack").then(|| w.next()?.parse().ok()).flatten();
            Some(Answer { object, value })
        })
        .collect()
}

/// Starts `counter-load` (inside namespace `ns` if given) against `nodes`.
fn load(
    ns: Option<&str>,
    nodes: &[String],
    prefix: &str,
    millis: u64,
) -> Result<std::process::Child> {
    let bin = root().join("target/release/counter-load");
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    cmd.arg("--nodes")
        .arg(nodes.join(","))
        .args(["--prefix", prefix, "--objects", "8", "--workers", "16"])
        .arg("--millis")
        .arg(millis.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn().context("starting counter-load")
}

fn finish(child: std::process::Child) -> Result<Vec<Answer>> {
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "counter-load failed: {}", out.status);
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

/// The linearizability check on counters: every acknowledged value is unique per object (two
/// nodes never incremented from the same state), and the final value of each object is at
/// least its highest acknowledged one and at least the number acknowledged (none lost).
async fn check_counters(c: &reqwest::Client, node: &Node, answers: &[Answer]) -> Result<usize> {
    let mut acked: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for a in answers {
        if let Some(v) = a.value {
            acked.entry(a.object.as_str()).or_default().push(v);
        }
    }
    let mut total = 0;
    for (object, values) in &mut acked {
        values.sort_unstable();
        let n = values.len();
        values.dedup();
        assert_eq!(values.len(), n, "{object}: a value was acknowledged twice");
        let (_, body) = call(c, Method::GET, node.url(&format!("/counter/{object}"))).await?;
        let stored = body["value"].as_i64().context("a value")?;
        let max = *values.last().expect("one at least");
        assert!(
            stored >= max && stored >= n as i64,
            "{object}: {n} increments acknowledged up to {max}, but the stored value is {stored}"
        );
        total += n;
    }
    Ok(total)
}

/// The node that owns the object named `name` now (by `hf_owners` and `hf_names`).
fn owner_of(pg: &Postgres, name: &str) -> Result<usize> {
    let node = pg.psql(&format!(
        "SELECT o.node FROM hf_owners o JOIN hf_names n USING (object) WHERE n.name = '{name}'"
    ))?;
    node_index(&node).with_context(|| format!("no node owns {name} ({node:?})"))
}

/// The node that owns the most objects now (by `hf_owners`), so that killing or cutting it off
/// surely moves objects: a fixed node may by chance own none of the test's objects.
fn busiest(pg: &Postgres) -> Result<usize> {
    let node =
        pg.psql("SELECT node FROM hf_owners GROUP BY node ORDER BY count(*) DESC, node LIMIT 1")?;
    node_index(&node).with_context(|| format!("no node owns an object yet ({node:?})"))
}

/// `i` of a node named `n{i}` (as `node_config` names them).
fn node_index(node: &str) -> Option<usize> {
    node.trim().strip_prefix('n')?.parse().ok()
}

/// No two nodes committed for one object at once: in each object's commit log (in commit
/// order), epochs never go back, and each epoch belongs to one node.
fn check_fencing(pg: &Postgres) -> Result<usize> {
    let rows =
        pg.psql("SELECT encode(object, 'hex'), epoch, node FROM hf_commit_log ORDER BY id")?;
    let mut last: HashMap<String, (i64, String)> = HashMap::new();
    let mut epochs: HashMap<(String, i64), String> = HashMap::new();
    let mut n = 0;
    for line in rows.lines().filter(|l| !l.is_empty()) {
        let mut f = line.split('|');
        let (Some(object), Some(epoch), Some(node)) = (f.next(), f.next(), f.next()) else {
            bail!("unexpected row {line}");
        };
        let epoch: i64 = epoch.parse()?;
        if let Some((e, by)) = last.get(object) {
            assert!(
                epoch >= *e,
                "object {object}: a commit of epoch {epoch} ({node}) after one of epoch {e} ({by})"
            );
        }
        let owner = epochs
            .entry((object.to_owned(), epoch))
            .or_insert_with(|| node.to_owned());
        assert_eq!(
            owner, node,
            "object {object}: epoch {epoch} committed by two nodes"
        );
        last.insert(object.to_owned(), (epoch, node.to_owned()));
        n += 1;
    }
    Ok(n)
}

#[tokio::test]
async fn kill_9_of_a_node_under_load_loses_no_acknowledged_write() -> Result<()> {
    let Some(mut cl) = cluster(3, &counter()).await? else {
        return Ok(());
    };
    let c = client();
    let urls: Vec<String> = (0..3).map(|i| cl.nodes[i].url("")).collect();
    let runner = load(None, &urls, "k", 9000)?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let victim = busiest(&cl.pg)?;
    cl.nodes[victim].kill9();
    let alive = (victim + 1) % 3;
    let killed = Instant::now();
    // Every object answers again through a survivor within the lease plus a margin.
    let mut back = Duration::ZERO;
    for i in 0..8 {
        let url = cl.nodes[alive].url(&format!("/counter/k{i}"));
        loop {
            if let Ok((200, _)) = call(&c, Method::GET, &url).await {
                break;
            }
            assert!(
                killed.elapsed() < Duration::from_millis(LEASE_MS * 4),
                "k{i} not served again {:?} after the kill",
                killed.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        back = back.max(killed.elapsed());
    }
    eprintln!("every object served again {back:?} after kill -9 (lease {LEASE_MS} ms)");
    let answers = finish(runner)?;
    let acked = check_counters(&c, &cl.nodes[alive], &answers).await?;
    assert!(acked > 200, "the load ran ({acked} acknowledged)");
    check_fencing(&cl.pg)?;
    Ok(())
}

#[tokio::test]
async fn a_node_cut_off_never_commits_beside_the_new_owner() -> Result<()> {
    let Some(cl) = cluster(3, &counter()).await? else {
        return Ok(());
    };
    let c = client();
    let urls: Vec<String> = (0..3).map(|i| cl.nodes[i].url("")).collect();
    // Clients on both sides: outside (every node) and inside the node that will be cut off
    // (it alone), which is the one owning the most objects once the load has placed them.
    let outside = load(None, &urls, "p", 12_000)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cut = busiest(&cl.pg)?;
    let inside = load(Some(&cl.net.ns_name(cut)), &urls[cut..=cut], "p", 10_000)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    cl.net.cut(cut)?;
    tokio::time::sleep(Duration::from_millis(LEASE_MS * 3)).await;
    cl.net.heal(cut)?;
    let mut answers = finish(outside)?;
    answers.extend(finish(inside)?);
    let other = (cut + 1) % 3;
    let acked = check_counters(&c, &cl.nodes[other], &answers).await?;
    assert!(acked > 200, "the load ran ({acked} acknowledged)");
    let commits = check_fencing(&cl.pg)?;
    // The objects moved at least once (the cut node's went to the others).
    let moved = cl
        .pg
        .psql("SELECT count(*) FROM hf_owners WHERE epoch > 1")?;
    assert!(moved.trim().parse::<u32>()? > 0, "no object changed owner");
    // The cut node came back: it serves again.
    let (status, _) = call(&c, Method::GET, cl.nodes[cut].url("/counter/p0")).await?;
    assert_eq!(status, 200, "{}", cl.nodes[cut].log());
    eprintln!("{acked} increments acknowledged, {commits} commits checked");
    Ok(())
}

#[tokio::test]
async fn calls_between_objects_reach_the_callees_node() -> Result<()> {
    let classes = callers();
    let Some(cl) = cluster(3, &classes).await? else {
        return Ok(());
    };
    let c = client();
    for i in 0..12 {
        let steps = json!([
            { "put": ["k", 1] },
            { "call": ["other", format!("b{i}"), "increment", [5]] },
            { "fetch": ["other", format!("b{i}"), "/echo/x"] },
        ]);
        let r = c
            .post(cl.nodes[i % 3].url(&format!("/caller/c{i}/run")))
            .json(&steps)
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        let out: serde_json::Value = r.json().await?;
        assert_eq!(out[1], json!({"ok": 5}), "{out}");
        assert_eq!(out[2]["status"], 200, "{out}");
    }
    for i in 0..12 {
        let (_, v) = call(
            &c,
            Method::GET,
            cl.nodes[1].url(&format!("/other/b{i}/value")),
        )
        .await?;
        assert_eq!(v, json!(5));
    }
    // Each callee committed on one node only (its own), and some callee's node was not its
    // caller's: those calls crossed nodes.
    let per_callee = cl.pg.psql(
        "SELECT count(DISTINCT l.node) FROM hf_commit_log l JOIN hf_names n USING (object)
         WHERE n.name LIKE 'b%' GROUP BY n.name ORDER BY 1 DESC LIMIT 1",
    )?;
    assert_eq!(per_callee.trim(), "1");
    let crossed = cl.pg.psql(
        "SELECT count(*) FROM (SELECT DISTINCT n.name, l.node FROM hf_commit_log l JOIN hf_names n USING (object)) b
         JOIN (SELECT DISTINCT n.name, l.node FROM hf_commit_log l JOIN hf_names n USING (object)) a
         ON a.name = 'c' || substr(b.name, 2) AND a.node <> b.node",
    )?;
    assert!(crossed.trim().parse::<u32>()? > 0, "no call crossed nodes");
    // A call back to a caller waiting in the same chain is refused at once as a cycle, across
    // nodes as on one (it would otherwise wait for the call timeout).
    for i in 0..12 {
        let steps = json!([{ "call": ["other", format!("b{i}"), "run", [[
            { "call": ["caller", format!("c{i}"), "get", []] }
        ]]] }]);
        let r = c
            .post(cl.nodes[(i + 1) % 3].url(&format!("/caller/c{i}/run")))
            .json(&steps)
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        let out: serde_json::Value = r.json().await?;
        assert_eq!(
            out[0]["ok"][0]["error"],
            json!({ "kind": "Cycle", "message": format!("call cycle: other/b{i} -> caller/c{i} -> other/b{i} (an object waiting in a call cannot be called again until that call returns)") }),
            "{out}"
        );
    }
    // A longer cycle whose middle is on another node: c -> b (elsewhere) -> c' (on c's node)
    // -> c. The call back to c is local to c's node but the chain left it in between.
    let mut triple = None;
    'found: for ci in 0..12 {
        let x = owner_of(&cl.pg, &format!("c{ci}"))?;
        for bi in 0..12 {
            if owner_of(&cl.pg, &format!("b{bi}"))? == x {
                continue;
            }
            for ki in (0..12).filter(|k| *k != ci) {
                if owner_of(&cl.pg, &format!("c{ki}"))? == x {
                    triple = Some((ci, bi, ki));
                    break 'found;
                }
            }
        }
    }
    let (ci, bi, ki) = triple.context("no two callers on one node with a callee elsewhere")?;
    let steps = json!([{ "call": ["other", format!("b{bi}"), "run", [[
        { "call": ["caller", format!("c{ki}"), "run", [[
            { "call": ["caller", format!("c{ci}"), "get", []] }
        ]]] }
    ]]] }]);
    let r = c
        .post(cl.nodes[0].url(&format!("/caller/c{ci}/run")))
        .json(&steps)
        .send()
        .await?;
    let out: serde_json::Value = r.json().await?;
    assert_eq!(
        out[0]["ok"][0]["ok"][0]["error"],
        json!({ "kind": "Cycle", "message": format!("call cycle: caller/c{ki} -> caller/c{ci} -> other/b{bi} -> … -> caller/c{ki} (an object waiting in a call cannot be called again until that call returns)") }),
        "{out}"
    );
    // The route between nodes refuses a call without the cluster's key.
    let r = c
        .post(cl.nodes[0].url("/_/cluster/call"))
        .body("{}")
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<serde_json::Value>().await?["error"],
        "the cluster key is missing or wrong"
    );
    Ok(())
}

/// Runs the `sqler` script `ops` on object `name` through `node`: its results.
async fn sql_ops(
    c: &reqwest::Client,
    node: &Node,
    name: &str,
    ops: serde_json::Value,
) -> Result<serde_json::Value> {
    let r = c
        .post(node.url(&format!("/sql/{name}/ops")))
        .json(&ops)
        .send()
        .await?;
    let status = r.status();
    let body: serde_json::Value = r.json().await?;
    anyhow::ensure!(status == 200, "{name}: {status} {body}");
    Ok(body["results"].clone())
}

#[tokio::test]
async fn sql_databases_live_in_postgres_and_move_with_their_objects() -> Result<()> {
    let Some(mut cl) = cluster(3, &class("sql", "Sqler", &guest("sqler"))).await? else {
        return Ok(());
    };
    let c = client();
    let pad = "x".repeat(3000);
    // Several events per object, each through another node: rows over many pages, written by
    // events whose commits may still be in flight when the next reads.
    for round in 0..3i64 {
        for i in 0..9usize {
            let mut ops =
                vec![json!({"exec": ["CREATE TABLE IF NOT EXISTS t (n INTEGER, pad TEXT)", []]})];
            for k in 0..4i64 {
                ops.push(json!({"exec": ["INSERT INTO t VALUES (?, ?)", [round * 4 + k, pad]]}));
            }
            sql_ops(
                &c,
                &cl.nodes[(i + round as usize) % 3],
                &format!("s{i}"),
                json!(ops),
            )
            .await?;
        }
    }
    // One object's tables are all dropped (delete-all).
    sql_ops(&c, &cl.nodes[0], "s0", json!([{"delete_all": null}])).await?;
    let pages = cl.pg.psql("SELECT count(*) FROM hf_sql_pages")?;
    assert!(
        pages.trim().parse::<u32>()? >= 8 * 12,
        "pages in PostgreSQL: {pages}"
    );
    // The node owning the most objects dies; the survivors serve its objects' databases.
    let victim = busiest(&cl.pg)?;
    cl.nodes[victim].kill9();
    let alive = &cl.nodes[(victim + 1) % 3];
    for i in 0..9usize {
        let name = format!("s{i}");
        let deadline = Instant::now() + Duration::from_millis(LEASE_MS * 4);
        let got = loop {
            match sql_ops(
                &c,
                alive,
                &name,
                json!([
                    {"try": ["SELECT count(*), sum(n), sum(length(pad)) FROM t", []]},
                    {"size": null},
                ]),
            )
            .await
            {
                Ok(v) => break v,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.context(format!("{name} not served after the kill"))),
            }
        };
        if i == 0 {
            assert_eq!(
                got[0]["error"]["message"]
                    .as_str()
                    .map(|m| m.contains("no such table")),
                Some(true),
                "{got}"
            );
        } else {
            assert_eq!(
                got[0]["rows"],
                json!([[12, 66, 12 * 3000]]),
                "{name}: {got}"
            );
            assert!(
                got[1].as_u64().is_some_and(|s| s >= 12 * 3000),
                "{name}: {got}"
            );
        }
    }
    check_fencing(&cl.pg)?;
    Ok(())
}

#[tokio::test]
async fn a_call_to_a_node_that_goes_away_times_out() -> Result<()> {
    let classes = callers();
    let extra = "[runtime]\ncall_timeout_ms = 1500\n";
    let Some(cl) = cluster_with(3, extra, &classes).await? else {
        return Ok(());
    };
    let c = client();
    // Place (and record the owners of) a few callers and callees.
    for name in [
        "caller/c0",
        "caller/c1",
        "caller/c2",
        "other/b0",
        "other/b1",
        "other/b2",
    ] {
        let r = c
            .post(cl.nodes[0].url(&format!("/{name}/run")))
            .json(&json!([{ "put": ["k", 1] }]))
            .send()
            .await?;
        assert_eq!(r.status(), 200, "{name}");
    }
    let mut pair = None;
    'found: for ci in 0..3 {
        for bi in 0..3 {
            let (x, y) = (
                owner_of(&cl.pg, &format!("c{ci}"))?,
                owner_of(&cl.pg, &format!("b{bi}"))?,
            );
            if x != y {
                pair = Some((ci, x, bi, y));
                break 'found;
            }
        }
    }
    let Some((ci, x, bi, y)) = pair else {
        bail!("every object is on one node");
    };
    // The callee sleeps 5 s; its node is cut off meanwhile. The caller's node answers a
    // timeout at the call timeout (and a second), instead of waiting for a node that is gone.
    let url = cl.nodes[x].url(&format!("/caller/c{ci}/run"));
    let steps = json!([{ "call": ["other", format!("b{bi}"), "run", [[{ "sleep": 5000 }]]] }]);
    let call = tokio::spawn({
        let c = c.clone();
        async move {
            let started = Instant::now();
            let r = c.post(url).json(&steps).send().await?;
            let out: serde_json::Value = r.json().await?;
            anyhow::Ok((out, started.elapsed()))
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cl.net.cut(y)?;
    let (out, took) = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .context("the caller still waits 20 s later")???;
    cl.net.heal(y)?;
    let error = &out[0]["error"];
    assert_eq!(error["kind"], "Timeout", "{out}");
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains(
            "timed out: no answer from its node within runtime.call_timeout_ms = 1500 ms"
        )),
        "{out}"
    );
    assert!(
        took < Duration::from_millis(4500),
        "answered after {took:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_database_crashing_under_load_loses_no_acknowledged_write() -> Result<()> {
    let Some(mut cl) = cluster(3, &counter()).await? else {
        return Ok(());
    };
    let c = client();
    let urls: Vec<String> = (0..3).map(|i| cl.nodes[i].url("")).collect();
    let runner = load(None, &urls, "d", 9000)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cl.pg.crash();
    // While the database is down, a write gets a clear refusal (503 with its reason), not a
    // hang and not an acknowledgement.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = c
        .post(cl.nodes[0].url("/counter/d0/increment"))
        .timeout(Duration::from_secs(20))
        .send()
        .await?;
    let status = r.status();
    let body: serde_json::Value = r.json().await?;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    eprintln!("during the outage: {status} {body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    cl.pg.restart(&[&cl.net.bridge_ip()])?;
    // The nodes take their leases and objects again by themselves.
    wait_members(&cl.nodes, 3, Duration::from_secs(20)).await?;
    let answers = finish(runner)?;
    let acked = check_counters(&c, &cl.nodes[1], &answers).await?;
    assert!(acked > 100, "the load ran ({acked} acknowledged)");
    check_fencing(&cl.pg)?;
    eprintln!(
        "{acked} increments acknowledged around a database crash; {} refused",
        answers.iter().filter(|a| a.value.is_none()).count()
    );
    Ok(())
}
