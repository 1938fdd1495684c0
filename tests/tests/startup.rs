//! Start-up: compiling into the code cache once (`holdfast compile`), saying so when it
//! compiles, and several servers starting together on a cold cache compiling each component
//! once.

use anyhow::Result;
use holdfast_tests::{Server, built, call, class, client, guest, run_cli};
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
    let again = Server::start(&config)?;
    assert!(
        !again.log().contains("compiling component"),
        "{}",
        again.log()
    );
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
