//! Whole-host backup and restore on the real binary: a backup of a running server under load
//! holds every write acknowledged before it started and no event by halves; `holdfast backup`
//! or `holdfast restore` killed midway leaves the old state whole; every refusal says why.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use holdfast_tests::{
    ADMIN_TOKEN, Server, admin_config, built, class, client, holdfast_bin, probe_get as get,
    probe_put_many as put_many,
};
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "[server]\nmax_body_bytes = 4000000\n{}{}",
        admin_config(),
        class("probe", "Probe", &built("target/js-guests/probe.wasm"))
    )
}

/// Runs `holdfast ARGS` to its end; (success, stdout + stderr).
fn cli(args: &[&str], token: bool) -> Result<(bool, String)> {
    let mut c = Command::new(holdfast_bin());
    c.args(args);
    if token {
        c.env("HOLDFAST_ADMIN_TOKEN", ADMIN_TOKEN);
    } else {
        c.env_remove("HOLDFAST_ADMIN_TOKEN");
    }
    let out = c.output()?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The stored size of a filled value (read through the admin API, as the fill wrote it).
async fn big_value_bytes(c: &reqwest::Client, s: &Server, name: &str, key: &str) -> Result<u64> {
    let r: Value = c
        .get(s.url(&format!("/_/admin/objects/probe/{name}/keys?prefix={key}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    r["keys"][0]["bytes"]
        .as_u64()
        .with_context(|| format!("no {key} in {name}"))
}

/// Fills `objects` objects with `mb` MB of 1.5 MB values (through the admin API's edits: no
/// guest holds them).
async fn fill(c: &reqwest::Client, s: &Server, objects: usize, mb: usize) -> Result<()> {
    let value = "x".repeat(1_500_000);
    for i in 0..(mb * 2 / 3).max(1) {
        let r = c
            .post(s.url(&format!(
                "/_/admin/objects/probe/big{}/storage",
                i % objects
            )))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "put": { format!("pad{i}"): value } }))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "fill: {}", r.text().await?);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_holds_every_acknowledged_write_and_no_half_event() -> Result<()> {
    let s = Arc::new(Server::start(&config())?);
    let c = client();
    fill(&c, &s, 4, 60).await?;

    // Writers: each event writes `a` and `b` together; `acked[i]` is the last one answered.
    const WRITERS: usize = 6;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (s, c, stop, acked) = (s.clone(), c.clone(), stop.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                put_many(&c, &s, &format!("w{w}"), json!({"a": n, "b": n})).await?;
                acked[w].store(n, Ordering::SeqCst);
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("host.backup");
    let before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    let data = s.data.clone();
    let file2 = file.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        cli(
            &["backup", "--data", path(&data), "--to", path(&file2)],
            true,
        )
    })
    .await??;
    // The writers kept going while it ran.
    let during: Vec<u64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await??;
    }
    assert!(ok, "{out}");
    assert!(
        out.contains("[backup] asking http://"),
        "through the server: {out}"
    );
    assert!(out.contains("[backup] 100% "), "progress: {out}");
    assert!(out.contains("backed up "), "{out}");
    assert!(
        before.iter().zip(&during).any(|(b, d)| d > b),
        "writes went on during the backup: {before:?} {during:?}"
    );

    // Restored into a fresh directory: every write acknowledged before the backup started is
    // there, and each event's two keys are there together.
    let restored = dir.path().join("restored");
    let (ok, out) = cli(&["restore", path(&file), "--data", path(&restored)], false)?;
    assert!(ok, "{out}");
    assert!(out.contains("[restore] 100% "), "{out}");
    let r = Server::start_on(&config(), &restored)?;
    let mut behind = 0;
    for w in 0..WRITERS {
        let name = format!("w{w}");
        let a = get(&c, &r, &name, "a").await?.as_u64().unwrap_or(0);
        let b = get(&c, &r, &name, "b").await?.as_u64().unwrap_or(0);
        assert_eq!(a, b, "{name}: an event is all there or not at all");
        assert!(
            a >= before[w],
            "{name}: {a} lost writes acknowledged before the backup ({})",
            before[w]
        );
        behind += acked[w].load(Ordering::SeqCst) - a;
    }
    assert!(behind > 0, "the writes after the snapshot are not in it");
    assert_eq!(big_value_bytes(&c, &r, "big0", "pad0").await?, 1_500_002);
    Ok(())
}

/// Starts `holdfast ARGS` and SIGKILLs it once `appears` exists; whether it was still running.
fn kill_when(args: &[&str], appears: &Path) -> Result<bool> {
    let mut child = Command::new(holdfast_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !appears.exists() {
        if child.try_wait()?.is_some() || Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    let running = child.try_wait()?.is_none();
    child.kill()?;
    child.wait()?;
    Ok(running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backup_or_restore_leaves_the_old_state_whole() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    fill(&c, &s, 4, 150).await?;
    put_many(&c, &s, "marker", json!({"state": "old"})).await?;
    let (_kept, data) = s.kill9()?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("b.redb");
    let partial = dir.path().join("b.redb.partial");

    // Killed while copying (the server is stopped: the file is read directly): no backup file.
    let running = kill_when(
        &["backup", "--data", path(&data), "--to", path(&file)],
        &partial,
    )?;
    assert!(running, "the backup was killed midway");
    assert!(!file.exists(), "a killed backup leaves no backup");
    let (ok, out) = cli(
        &["backup", "--data", path(&data), "--to", path(&file)],
        false,
    )?;
    assert!(ok, "{out}");
    assert!(out.contains("[backup] 100% "), "{out}");
    assert!(!partial.exists());

    // A second host state, then a restore of the first one into it, killed midway.
    let s = Server::start_on(&config(), &data)?;
    put_many(&c, &s, "marker", json!({"state": "new"})).await?;
    let (_kept, data) = s.kill9()?;
    let restoring = data.join("holdfast.redb.restoring");
    let running = kill_when(
        &["restore", path(&file), "--data", path(&data), "--force"],
        &restoring,
    )?;
    assert!(running, "the restore was killed midway");
    let s = Server::start_on(&config(), &data)?;
    assert_eq!(
        get(&c, &s, "marker", "state").await?,
        "new",
        "the old database, whole"
    );
    assert!(
        !restoring.exists(),
        "start-up removes what the killed restore left"
    );
    let (_kept, data) = s.kill9()?;
    let (ok, out) = cli(
        &["restore", path(&file), "--data", path(&data), "--force"],
        false,
    )?;
    assert!(ok, "{out}");
    let s = Server::start_on(&config(), &data)?;
    assert_eq!(
        get(&c, &s, "marker", "state").await?,
        "old",
        "the backup's state, whole"
    );
    assert_eq!(big_value_bytes(&c, &s, "big3", "pad3").await?, 1_500_002);
    Ok(())
}

#[tokio::test]
async fn bad_backups_and_restores_are_refused_with_the_reason() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    put_many(&c, &s, "a", json!({"k": 1})).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("b.redb");
    let data = s.data.clone();

    // A running server's database needs its token to be backed up.
    let (ok, out) = cli(
        &["backup", "--data", path(&data), "--to", path(&file)],
        false,
    )?;
    assert!(!ok);
    assert!(
        out.contains("error: a server has the database open, so the backup is asked of it, which needs its admin token in HOLDFAST_ADMIN_TOKEN"),
        "{out}"
    );
    let r = c.get(s.url("/_/admin/backup")).send().await?;
    assert_eq!(r.status(), 401);
    // One server per database: a second one on the same data directory is refused.
    let second = dir.path().join("second.toml");
    std::fs::write(&second, config())?;
    let (ok, out) = holdfast_tests::run_cli(&[
        "serve",
        "--config",
        path(&second),
        "--listen",
        "127.0.0.1:0",
        "--data",
        path(&data),
    ])?;
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "the database `{}` is in use by another server (its file is locked): one server per data directory",
            data.join("holdfast.redb").display()
        )),
        "{out}"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    let (ok, out) = cli(
        &["backup", "--data", path(&empty), "--to", path(&file)],
        true,
    )?;
    assert!(!ok);
    assert_eq!(
        out.trim(),
        format!(
            "error: no database in `{}` (holdfast.redb): is it a server's data directory?",
            empty.display()
        )
    );

    // The admin endpoint streams a backup.
    let r = c
        .get(s.url("/_/admin/backup"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-holdfast-backup-seq"));
    std::fs::write(&file, r.bytes().await?)?;
    let leftovers: Vec<_> = std::fs::read_dir(&data)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("backup-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Restoring: not over a running server, not over a database without --force, not a file
    // that is no backup (the database itself is not one), not a missing file.
    let (ok, out) = cli(
        &["restore", path(&file), "--data", path(&data), "--force"],
        false,
    )?;
    assert!(!ok);
    assert_eq!(
        out.trim(),
        format!(
            "error: `{}` is in use by a running server: stop it before restoring into its data directory",
            data.display()
        )
    );
    let (_kept, data) = s.kill9()?;
    let (ok, out) = cli(&["restore", path(&file), "--data", path(&data)], false)?;
    assert!(!ok);
    assert_eq!(
        out.trim(),
        format!(
            "error: refusing to restore into `{}`: it already holds a database (holdfast.redb); pass --force to replace it",
            data.display()
        )
    );
    let db = data.join("holdfast.redb");
    let (ok, out) = cli(&["restore", path(&db), "--data", path(&empty)], false)?;
    assert!(!ok);
    assert_eq!(
        out.trim(),
        format!(
            "error: `{}` is not a Holdfast backup (no backup record in it: an incomplete or foreign file)",
            db.display()
        )
    );
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database")?;
    let (ok, out) = cli(&["restore", path(&text), "--data", path(&empty)], false)?;
    assert!(!ok);
    assert!(out.contains("is not a Holdfast backup"), "{out}");
    let (ok, out) = cli(
        &["restore", "/nonexistent.redb", "--data", path(&empty)],
        false,
    )?;
    assert!(!ok);
    assert!(
        out.contains("error: cannot read `/nonexistent.redb`: "),
        "{out}"
    );
    assert_eq!(std::fs::read_dir(&empty)?.count(), 0, "nothing was written");

    // The streamed backup restores.
    let (ok, out) = cli(&["restore", path(&file), "--data", path(&empty)], false)?;
    assert!(ok, "{out}");
    let r = Server::start_on(&config(), &empty)?;
    assert_eq!(get(&c, &r, "a", "k").await?, 1);
    let _ = std::fs::metadata(&db).context("the old database stays")?;
    Ok(())
}

#[tokio::test]
async fn one_backup_streams_at_a_time() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    // Larger than the socket buffers, so a client that does not read holds the stream open.
    fill(&c, &s, 4, 30).await?;
    let backup = || {
        c.get(s.url("/_/admin/backup"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let first = backup().await?;
    assert_eq!(first.status(), 200);
    // The first is still being streamed (its client reads nothing yet): another is refused.
    let second = backup().await?;
    assert_eq!(second.status(), 409);
    assert_eq!(
        second.json::<Value>().await?["error"],
        "a backup is already running: wait for it to finish"
    );
    // Once the first client has its whole backup, the next one runs.
    let bytes = first.bytes().await?;
    assert!(bytes.len() > 20_000_000, "{} bytes", bytes.len());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let third = backup().await?;
        if third.status() == 200 {
            assert_eq!(third.bytes().await?.len(), bytes.len());
            break;
        }
        assert!(Instant::now() < deadline, "still {}", third.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
