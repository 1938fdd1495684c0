//! A failed event keeps nothing: not its writes, not the instance's memory, and not a response
//! the host cannot send (checked before anything is committed).

use anyhow::Result;
use holdfast_tests::{Server, built, call, class, client, guest, kv_class};
use reqwest::Method;
use serde_json::json;

fn config() -> String {
    format!(
        "{}{}",
        class("trap", "Trapper", &guest("trapper")),
        kv_class("probe", "Probe", &built("target/js-guests/probe.wasm"))
    )
}

/// Fails against the binary before the fix: the response was refused after its write had committed, and the
/// client was told of a failure while the write stayed.
#[tokio::test]
async fn a_response_the_host_refuses_fails_the_event_before_commit() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let (status, body) = call(&c, Method::POST, s.url("/trap/a/respond?key=r&status=1000")).await?;
    assert_eq!(status, 500);
    assert_eq!(
        body["error"],
        "object returned an invalid status code 1000 (use 100-599); nothing of the event was kept"
    );
    let (status, body) = call(&c, Method::POST, s.url("/trap/a/respond-bad-header?key=h")).await?;
    assert_eq!(status, 500);
    assert_eq!(
        body["error"],
        "object returned an invalid header name `bad header`; nothing of the event was kept"
    );
    for key in ["r", "h"] {
        let (_, got) = call(&c, Method::GET, s.url(&format!("/trap/a/get?key={key}"))).await?;
        assert_eq!(got["value"], serde_json::Value::Null, "{key} was kept");
    }
    let (status, _) = call(&c, Method::POST, s.url("/trap/a/respond?key=ok&status=201")).await?;
    assert_eq!(status, 201);
    Ok(())
}

/// Fails against the binary before the fix: the instance lived on after the failed event with the item in its
/// memory, although storage had rolled it back.
#[tokio::test]
async fn after_a_failed_event_memory_agrees_with_storage_in_rust() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let url = |q: &str| s.url(&format!("/trap/m/remember{q}"));
    assert_eq!(call(&c, Method::POST, url("?item=a&fail=0")).await?.0, 200);
    let (status, body) = call(&c, Method::POST, url("?item=b&fail=1")).await?;
    assert_eq!(
        (status, &body["error"]),
        (500, &json!("failed after remembering"))
    );
    let (_, got) = call(&c, Method::GET, url("")).await?;
    assert_eq!(got, json!({ "memory": ["a"], "stored": ["a"] }));
    Ok(())
}

/// The same in JavaScript: a refused `put` (uncaught) and a thrown exception both leave the
/// object constructed anew, without the item pushed before them.
#[tokio::test]
async fn after_a_failed_event_memory_agrees_with_storage_in_javascript() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    let url = |q: &str| s.url(&format!("/probe/m/remember{q}"));
    assert_eq!(call(&c, Method::POST, url("?item=a")).await?.0, 200);
    let (status, body) = call(&c, Method::POST, url("?item=b&big=1")).await?;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("over the limit"),
        "{body}"
    );
    let (status, _) = call(&c, Method::POST, url("?item=c&fail=1")).await?;
    assert_eq!(status, 500);
    let (_, got) = call(&c, Method::GET, url("")).await?;
    assert_eq!(got, json!({ "memory": ["a"], "stored": ["a"] }));
    Ok(())
}

#[tokio::test]
async fn an_event_over_its_write_budget_gets_a_storage_error_and_writes_nothing() -> Result<()> {
    let config = format!(
        "[limits]\nmax_event_write_bytes = 10000\nmax_event_write_keys = 50\n{}",
        class("trap", "Trapper", &guest("trapper"))
    );
    let s = Server::start(&config)?;
    let c = client();
    let (status, body) = call(&c, Method::POST, s.url("/trap/b/fill?n=20&len=1000")).await?;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "this event would write 10110 bytes, over the limit of 10000 bytes per event; the call wrote nothing"
    );
    let (status, body) = call(&c, Method::POST, s.url("/trap/b/fill?n=60&len=1")).await?;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "this event would write 51 keys, over the limit of 50 keys per event; the call wrote nothing"
    );
    let (_, got) = call(&c, Method::GET, s.url("/trap/b/get?key=fill-000000")).await?;
    // The refused calls wrote nothing, and the route answered (the event's earlier puts commit).
    assert_eq!(got["value"], "x");
    assert_eq!(
        call(&c, Method::POST, s.url("/trap/b/fill?n=5&len=1000"))
            .await?
            .0,
        200
    );
    Ok(())
}
