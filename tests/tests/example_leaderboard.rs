//! examples/leaderboard (Rust) and examples/js-leaderboard (JavaScript, Cloudflare's
//! `ctx.storage.sql`): one contract, checked on both, served from the repository's holdfast.toml
//! classes. Scores are an event log with a projection of totals; ranks are SQL.

use anyhow::Result;
use holdfast_tests::{Server, built, class, client, guest};
use reqwest::Method;
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "{}{}",
        class("leaderboard", "Leaderboard", &guest("leaderboard")),
        class(
            "js-leaderboard",
            "Leaderboard",
            &built("target/js-leaderboard/js_leaderboard.wasm")
        ),
    )
}

async fn call(
    c: &reqwest::Client,
    s: &Server,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value)> {
    let mut r = c.request(method, s.url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await?;
    Ok((r.status().as_u16(), r.json().await?))
}

async fn contract(c: &reqwest::Client, s: &Server, route: &str) -> Result<()> {
    let base = format!("/{route}/season-1");
    let score = |player: &str, points: i64| {
        (
            format!("{base}/scores"),
            json!({"player": player, "points": points}),
        )
    };
    for (player, points) in [
        ("ada", 30),
        ("grace", 50),
        ("linus", 30),
        ("ada", 25),
        ("ken", 5),
    ] {
        let (path, body) = score(player, points);
        let (status, got) = call(c, s, Method::POST, &path, Some(body)).await?;
        assert_eq!(status, 200, "{route}: {got}");
    }
    let (status, top) = call(c, s, Method::GET, &format!("{base}/top?limit=3"), None).await?;
    assert_eq!(status, 200);
    assert_eq!(
        top["top"],
        json!([
            {"rank": 1, "player": "ada", "total": 55},
            {"rank": 2, "player": "grace", "total": 50},
            {"rank": 3, "player": "linus", "total": 30}
        ]),
        "{route}"
    );
    let (_, ada) = call(c, s, Method::GET, &format!("{base}/players/ada"), None).await?;
    assert_eq!(
        ada,
        json!({"player": "ada", "total": 55, "rank": 1, "recent": [25, 30]}),
        "{route}"
    );
    let (_, linus) = call(c, s, Method::GET, &format!("{base}/players/linus"), None).await?;
    assert_eq!(linus["rank"], 3);
    // Deleting a player removes its events too (ON DELETE CASCADE), in one event.
    let (status, _) = call(c, s, Method::DELETE, &format!("{base}/players/grace"), None).await?;
    assert_eq!(status, 200);
    let (_, stats) = call(c, s, Method::GET, &format!("{base}/stats"), None).await?;
    assert_eq!(
        (stats["players"].clone(), stats["events"].clone()),
        (json!(3), json!(4)),
        "{route}: {stats}"
    );
    assert!(
        stats["database_bytes"].as_u64().unwrap() >= 4096 * 4,
        "{stats}"
    );
    let (_, linus) = call(c, s, Method::GET, &format!("{base}/players/linus"), None).await?;
    assert_eq!(linus["rank"], 2, "{route}");

    // Bad input: clear errors, nothing written.
    for (body, message) in [
        (
            json!({"player": "", "points": 1}),
            "player must be 1 to 64 characters",
        ),
        (
            json!({"player": "x", "points": 2_000_000}),
            "points must be between -1000000 and 1000000",
        ),
    ] {
        let (status, got) = call(c, s, Method::POST, &format!("{base}/scores"), Some(body)).await?;
        assert_eq!(
            (status, got["error"].as_str().unwrap()),
            (400, message),
            "{route}"
        );
    }
    let (status, got) = call(c, s, Method::GET, &format!("{base}/top?limit=0"), None).await?;
    assert_eq!(
        (status, got["error"].as_str().unwrap()),
        (400, "limit must be an integer from 1 to 100, got `0`")
    );
    let (status, got) = call(c, s, Method::GET, &format!("{base}/players/nobody"), None).await?;
    assert_eq!(
        (status, got["error"].as_str().unwrap()),
        (404, "no player `nobody`")
    );
    // Another leaderboard is another database.
    let (_, other) = call(c, s, Method::GET, &format!("/{route}/season-2/top"), None).await?;
    assert_eq!(other["top"], json!([]));
    Ok(())
}

#[tokio::test]
async fn the_rust_and_javascript_leaderboards_keep_one_contract_across_a_restart() -> Result<()> {
    let s = Server::start(&config())?;
    let c = client();
    contract(&c, &s, "leaderboard").await?;
    contract(&c, &s, "js-leaderboard").await?;
    let s = s.restart()?;
    for route in ["leaderboard", "js-leaderboard"] {
        let (_, top) = call(&c, &s, Method::GET, &format!("/{route}/season-1/top"), None).await?;
        assert_eq!(
            top["top"][0],
            json!({"rank": 1, "player": "ada", "total": 55}),
            "{route}"
        );
    }
    Ok(())
}
