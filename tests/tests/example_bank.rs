//! examples/bank: a Rust worker routing to Rust accounts that call each other, and a Python
//! auditor calling the Rust accounts — served from the example's own holdfast.toml.

use anyhow::Result;
use holdfast_tests::{Server, call, client, root};
use reqwest::Method;
use serde_json::{Value, json};

/// The example's config, its relative component paths made absolute.
fn config() -> Result<String> {
    let text = std::fs::read_to_string(root().join("examples/bank/holdfast.toml"))?;
    Ok(text.replace(
        "\"../../target/",
        &format!("\"{}/target/", root().display()),
    ))
}

async fn post(c: &reqwest::Client, s: &Server, path: &str, body: Value) -> Result<(u16, Value)> {
    let r = c.post(s.url(path)).json(&body).send().await?;
    Ok((r.status().as_u16(), r.json().await?))
}

#[tokio::test]
async fn accounts_transfer_by_rpc_and_the_python_auditor_reads_them() -> Result<()> {
    let s = Server::start(&config()?)?;
    let c = client();
    assert_eq!(
        post(&c, &s, "/accounts/ada/deposit", json!({ "cents": 1000 })).await?,
        (200, json!({ "name": "ada", "balance": 1000 }))
    );
    // Account -> account: ada withdraws and calls bob's deposit.
    assert_eq!(
        post(
            &c,
            &s,
            "/accounts/ada/transfer",
            json!({ "to": "bob", "cents": 250 })
        )
        .await?,
        (200, json!({ "name": "ada", "balance": 750 }))
    );
    assert_eq!(
        call(&c, Method::GET, s.url("/accounts/bob")).await?,
        (200, json!({ "name": "bob", "balance": 250 }))
    );
    // The accounts' refusals, with their messages.
    assert_eq!(
        post(&c, &s, "/accounts/ada/withdraw", json!({ "cents": 5000 })).await?,
        (
            409,
            json!({ "error": "insufficient funds: the balance is 750 cents, 5000 asked" })
        )
    );
    // A transfer to oneself: the withdrawal ran, then the call back to itself is refused as a
    // cycle, so the whole event fails and the withdrawal is not kept.
    let (status, body) = post(
        &c,
        &s,
        "/accounts/ada/transfer",
        json!({ "to": "ada", "cents": 100 }),
    )
    .await?;
    assert_eq!(status, 409, "{body}");
    let m = body["error"].as_str().unwrap();
    assert!(
        m.starts_with("transfer to ada failed: call cycle: accounts/ada -> accounts/ada"),
        "{m}"
    );
    assert_eq!(
        call(&c, Method::GET, s.url("/accounts/ada")).await?.1["balance"],
        750
    );
    assert_eq!(
        post(&c, &s, "/accounts/ada/transfer", json!({ "to": "bob" })).await?,
        (
            400,
            json!({ "error": "expected {\"to\": name, \"cents\": n}" })
        )
    );
    // Python -> Rust: the auditor asks each account.
    let audit = |n: u64| json!({ "accounts": { "ada": 750, "bob": 250, "eve": 0 }, "total": 1000, "audits": n });
    assert_eq!(
        call(&c, Method::GET, s.url("/audit?names=ada,bob,eve")).await?,
        (200, audit(1))
    );
    // Durable, across kill -9.
    let s = s.kill9_and_restart()?;
    assert_eq!(
        call(&c, Method::GET, s.url("/audit?names=ada,bob,eve")).await?,
        (200, audit(2))
    );
    Ok(())
}
