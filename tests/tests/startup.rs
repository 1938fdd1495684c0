//! Start-up: compiling into the code cache once (`holdfast compile`), saying so when it
//! compiles, and several servers starting together on a cold cache compiling each component
//! once, mapping compiled components from the cache, and refusing a damaged or untrusted one.

use anyhow::Result;
use holdfast_tests::{Server, built, call, class, client, guest, run_cli, run_expecting_failure};
use reqwest::Method;

#[tokio::test]
async fn servers_starting_together_on_a_cold_cache_compile_a_component_once() -> Result<()> {
    let cache = tempfile::tempdir()?;
    let config = format!(
        "[server]\ncache = \"{}\"\n{}",
        cache.path().display(),
        class(
            "js-counter",
            "Counter",
            &built("target/js-counter/js_counter.wasm")
        )
    );
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || Server::start(&config))
        })
        .collect();
    let servers = starts
        .into_iter()
        .map(|t| t.join().expect("start thread"))
        .collect::<Result<Vec<_>>>()?;
    let logs: Vec<String> = servers.iter().map(Server::log).collect();
    let compiled = logs
        .iter()
        .filter(|l| l.contains("compiling component (first use; cached in"))
        .count();
    assert_eq!(compiled, 1, "{logs:#?}");
    assert!(
        logs.iter().any(
            |l| l.contains("waiting for another holdfast process compiling the same component")
        ),
        "{logs:#?}"
    );
    let c = client();
    for s in &servers {
        let (status, body) = call(&c, Method::POST, s.url("/js-counter/a/increment")).await?;
        assert_eq!((status, &body["value"]), (200, &serde_json::json!(1)));
    }
    // A later start finds it cached and says nothing of compiling.
    assert_starts_from_the_cache(&config)?;
    Ok(())
}

#[tokio::test]
async fn holdfast_compile_fills_the_cache_and_names_a_bad_component() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cache = dir.path().join("cache");
    let path = dir.path().join("holdfast.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ncache = \"{}\"\n{}",
            cache.display(),
            class("counter", "Counter", &guest("counter"))
        ),
    )?;
    let (ok, err) = run_cli(&["compile", "--config", path.to_str().expect("utf-8")])?;
    assert!(ok, "{err}");
    assert!(err.contains("1 class of"), "{err}");
    assert!(err.contains("ready in the code cache"), "{err}");
    assert!(err.contains("compiling component"), "{err}");
    let (ok, err) = run_cli(&["compile", "--config", path.to_str().expect("utf-8")])?;
    assert!(ok && !err.contains("compiling component"), "{err}");

    std::fs::write(
        &path,
        class("broken", "Broken", &dir.path().join("missing.wasm")),
    )?;
    let (ok, err) = run_cli(&["compile", "--config", path.to_str().expect("utf-8")])?;
    assert!(!ok);
    assert!(
        err.contains("class `Broken` (binding `broken`): cannot read component"),
        "{err}"
    );
    Ok(())
}

/// Starts a server with `config` and checks that it compiled nothing (its code was cached).
fn assert_starts_from_the_cache(config: &str) -> Result<()> {
    let log = Server::start(config)?.log();
    assert!(!log.contains("compiling component"), "{log}");
    Ok(())
}

/// The config of a Rust counter whose code cache is `cache`.
fn cached_counter(cache: &std::path::Path) -> String {
    format!(
        "[server]\ncache = \"{}\"\n{}",
        cache.display(),
        class("counter", "Counter", &guest("counter"))
    )
}

#[tokio::test]
async fn a_damaged_compiled_component_is_compiled_again() -> Result<()> {
    let cache = tempfile::tempdir()?;
    let config = cached_counter(cache.path());
    drop(Server::start(&config)?);
    // Cut every artifact in half (as a disk fault could): it is refused, not mapped.
    let mut damaged = 0;
    for e in std::fs::read_dir(cache.path().join("artifacts"))? {
        let path = e?.path();
        if path.extension().is_none_or(|x| x != "cwasm") {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        std::fs::write(&path, &bytes[..bytes.len() / 2])?;
        damaged += 1;
    }
    assert_eq!(damaged, 1);
    let s = Server::start(&config)?;
    let log = s.log();
    assert!(
        log.contains("compiled component refused; compiling it again"),
        "{log}"
    );
    assert!(
        log.contains("compiling component (first use; cached in"),
        "{log}"
    );
    let (status, body) = call(&client(), Method::POST, s.url("/counter/a/increment")).await?;
    assert_eq!((status, &body["value"]), (200, &serde_json::json!(1)));
    // It was written whole again.
    assert_starts_from_the_cache(&config)?;
    Ok(())
}

#[tokio::test]
async fn a_cache_directory_other_users_can_write_is_not_used() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let cache = tempfile::tempdir()?;
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777))?;
    let config = cached_counter(cache.path());
    let s = Server::start(&config)?;
    let log = s.log();
    assert!(
        log.contains(&format!(
            "compiled-code cache off: {} can be written by other users (mode 777); make it private: chmod go-w {}",
            cache.path().display(),
            cache.path().display()
        )),
        "{log}"
    );
    assert!(
        log.contains("compiling component (first use; not cached)"),
        "{log}"
    );
    let (status, _) = call(&client(), Method::POST, s.url("/counter/a/increment")).await?;
    assert_eq!(status, 200);
    // Nothing was written there, and the next start compiles again.
    let artifacts = std::fs::read_dir(cache.path().join("artifacts"))?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        })
        .count();
    assert_eq!(artifacts, 0);
    let again = Server::start(&config)?;
    assert!(
        again.log().contains("compiling component"),
        "{}",
        again.log()
    );
    Ok(())
}

#[tokio::test]
async fn a_component_file_changed_in_place_is_read_again() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let wasm = dir.path().join("counter.wasm");
    std::fs::copy(guest("counter"), &wasm)?;
    let config = format!(
        "[server]\ncache = \"{}\"\n{}",
        dir.path().join("cache").display(),
        class("counter", "Counter", &wasm)
    );
    drop(Server::start(&config)?);
    // Same path and inode: the start after it must not map the old file's compiled code.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&wasm, b"not a component any more")?;
    let (ok, err) = run_expecting_failure(&config)?;
    assert!(!ok);
    assert!(
        err.contains("is not a valid WebAssembly component"),
        "{err}"
    );
    Ok(())
}
