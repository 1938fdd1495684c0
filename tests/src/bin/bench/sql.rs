//! SQL storage (the `sql_bench` guest): a hot object's SQL counter (`UPDATE ... RETURNING`)
//! beside its key-value counter, in alternating rounds on one server; 1,000 point `SELECT`s in
//! one event (timed by the guest); bulk inserts of 1,000 rows per event; the cold activation of
//! an object with a 100 MiB database followed by one indexed query; memory per live object with
//! its database open.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use holdfast_tests::{ADMIN_TOKEN, Server, admin_config, class, guest};

use super::{Conn, fig, load, median_of, report};

fn config() -> String {
    format!(
        "{}[runtime]\nmax_live_objects = 5000\n{}",
        admin_config(),
        class("sql", "SqlBench", &guest("sql_bench"))
    )
}

async fn ok(conn: &mut Conn, method: &str, path: &str) -> Result<serde_json::Value> {
    let (status, body) = conn.send(method, path).await?;
    if status != 200 {
        bail!(
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(serde_json::from_slice(&body)?)
}

pub async fn run(connections: usize, d: Duration) -> Result<()> {
    let s = Server::start(&config())?;
    let mut conn = Conn::open(s.addr).await?;
    ok(&mut conn, "POST", "/sql/hot/sql-increment").await?;

    // The hot counter: SQL and key-value alternately, three rounds; the median round's ratio.
    let rate = |r: &super::LoadResult| r.ok as f64 / r.elapsed.as_secs_f64();
    let mut ratios = Vec::new();
    for round in 0..3 {
        let kv = load(s.addr, connections, d, |_| "/sql/hot/kv-increment".into()).await?;
        let sql = load(s.addr, connections, d, |_| "/sql/hot/sql-increment".into()).await?;
        if round == 1 {
            report("sql_kv_counter_incr", &kv);
            report("sql_counter_incr", &sql);
        }
        ratios.push(rate(&sql) / rate(&kv) * 100.0);
    }
    fig("sql_counter_vs_kv_pct", median_of(&mut ratios), "%");
    // The server closed the idle connection meanwhile (its header timeout).
    let mut conn = Conn::open(s.addr).await?;

    // 1,000 point selects in one event (the N+1 pattern), timed inside the guest.
    let mut per_query = Vec::new();
    for _ in 0..7 {
        let v = ok(&mut conn, "POST", "/sql/points/point-selects?n=1000").await?;
        per_query.push(v["ns_per_query"].as_f64().unwrap_or(f64::NAN) / 1000.0);
    }
    fig("sql_point_select_us", median_of(&mut per_query), "us");

    // Bulk insert: 100 events of 1,000 single-row INSERTs each, one after another.
    let started = Instant::now();
    for _ in 0..100 {
        ok(&mut conn, "POST", "/sql/bulk/insert?rows=1000").await?;
    }
    fig(
        "sql_bulk_insert_rows_per_s",
        100_000.0 / started.elapsed().as_secs_f64(),
        "rows/s",
    );

    // Cold activation of an object with a 100 MiB database, then one indexed query.
    for _ in 0..10 {
        ok(&mut conn, "POST", "/sql/large/fill?mib=10").await?;
    }
    let size = fs_size(&s)?;
    fig("sql_large_file_mib", size as f64 / (1 << 20) as f64, "MiB");
    let client = reqwest::Client::new();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..21 {
        let r = client
            .post(s.url("/_/admin/objects/sql/large/evict"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("evict: {}", r.status());
        }
        let key = format!("{:012X}", (i * 0x1234_5678_9ABCu64) % 0xFFFF_FFFF_FFFF);
        let t = Instant::now();
        let v = ok(&mut conn, "GET", &format!("/sql/large/lookup?key={key}")).await?;
        cold.push(t.elapsed().as_secs_f64() * 1e6);
        if v["id"].is_null() && i == 0 {
            bail!("lookup found nothing");
        }
        let t = Instant::now();
        ok(&mut conn, "GET", &format!("/sql/large/lookup?key={key}0")).await?;
        warm.push(t.elapsed().as_secs_f64() * 1e6);
    }
    fig("sql_cold_100mib_query_p50_us", median_of(&mut cold), "us");
    fig("sql_warm_query_p50_us", median_of(&mut warm), "us");
    drop(conn);
    drop(s);

    // Memory per live object with its database open (one small table each).
    let s = Server::start(&config())?;
    let mut conn = Conn::open(s.addr).await?;
    ok(&mut conn, "POST", "/sql/warmup/sql-increment").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = s.rss_kib()?;
    let n = 1000;
    for i in 0..n {
        ok(&mut conn, "POST", &format!("/sql/m{i}/sql-increment")).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = s.rss_kib()?;
    fig(
        "sql_rss_per_live_object_kib",
        (after.saturating_sub(before)) as f64 / n as f64,
        "KiB",
    );
    Ok(())
}

/// Bytes of the server's database file.
fn fs_size(s: &Server) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(&s.data)? {
        let e = e?;
        if e.path().extension().is_some_and(|x| x == "redb") {
            total += e.metadata()?.len();
        }
    }
    Ok(total)
}
