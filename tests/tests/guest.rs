//! What a guest sees of itself and the host: context, object IDs, captured output.

use anyhow::Result;
use holdfast_tests::{Server, call, client, default_config};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn context_and_ids_agree_with_routing() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    let get = |p: &str| call(&c, Method::GET, s.url(p));

    let (_, who) = get("/trap/alice/whoami").await?;
    assert_eq!(who["name"], "alice");
    assert_eq!(who["namespace"], "trap");
    let id = who["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );

    // id-from-name inside a guest gives the ID the router used; other namespaces differ.
    let (_, same) = get("/trap/bob/id-from-name?ns=trap&name=alice").await?;
    assert_eq!(same["id"], id);
    let (_, other) = get("/trap/bob/id-from-name?ns=counter&name=alice").await?;
    assert_ne!(other["id"], id);

    // A unique ID parses, is addressable by /_/id, and has no name.
    let (_, unique) = get("/trap/bob/new-unique-id?ns=trap").await?;
    let unique = unique["id"].as_str().unwrap().to_owned();
    let (status, parsed) = get(&format!("/trap/bob/id-from-string?ns=trap&id={unique}")).await?;
    assert_eq!(
        (status, parsed["id"].as_str()),
        (200, Some(unique.as_str()))
    );
    let (status, who) = get(&format!("/_/id/trap/{unique}/whoami")).await?;
    assert_eq!(status, 200);
    assert_eq!(
        who,
        json!({"id": unique, "name": null, "namespace": "trap"})
    );

    let (status, body) = get("/trap/bob/id-from-string?ns=trap&id=ABC").await?;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("expected 64 lowercase hex"),
        "{body}"
    );

    // IDs from names are stable across restarts (the namespace secret is in the database), and
    // an object that wrote something keeps its name for access by ID.
    call(&c, Method::POST, s.url("/trap/alice/put?key=k&len=1")).await?;
    let s = s.restart()?;
    let (_, who) = call(&c, Method::GET, s.url(&format!("/_/id/trap/{id}/whoami"))).await?;
    assert_eq!(who, json!({"id": id, "name": "alice", "namespace": "trap"}));
    Ok(())
}

#[tokio::test]
async fn guest_output_goes_to_the_host_log_tagged_with_the_object() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    let (status, _) = call(
        &c,
        Method::POST,
        s.url("/trap/loud/stdout?text=hello-from-guest"),
    )
    .await?;
    assert_eq!(status, 200);
    let mut log = String::new();
    for _ in 0..50 {
        log = s.log();
        if log.matches("hello-from-guest").count() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let lines: Vec<_> = log
        .lines()
        .filter(|l| l.contains("hello-from-guest"))
        .collect();
    assert_eq!(lines.len(), 2, "stdout and stderr lines: {log}");
    assert!(lines.iter().all(|l| l.contains("trap/loud")), "{lines:?}");
    Ok(())
}

/// A Python exception fails the event like a Rust error: 500 with its message, nothing kept.
#[tokio::test]
async fn a_python_exception_rolls_the_event_back() -> Result<()> {
    let wasm = holdfast_tests::built("target/py-guests/failer.wasm");
    let s = Server::start(&holdfast_tests::kv_class("py", "Failer", &wasm))?;
    let c = client();
    let (status, body) = call(&c, Method::POST, s.url("/py/f/write-then-raise?key=lost")).await?;
    assert_eq!(status, 500);
    assert_eq!(body["error"], "deliberate failure after writing lost");
    assert_eq!(
        call(&c, Method::GET, s.url("/py/f/get?key=lost")).await?.1,
        json!({"value": null})
    );
    let (status, body) = call(&c, Method::POST, s.url("/py/f/long-key")).await?;
    assert_eq!(status, 500);
    assert_eq!(
        body["error"],
        "key is 2049 bytes, over the limit of 2048 bytes"
    );
    Ok(())
}
