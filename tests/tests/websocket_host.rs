//! WebSockets as the host runs them, through the test guest tests/guests/trapper: a socket
//! accepted by a failing event, the limits, pinned sockets and what a trap does to them. The
//! chat-room contract is in websockets.rs.

use std::time::Duration;

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use holdfast_tests::{
    Server, admin, admin_config, call, class, client, guest, metric, ws_connect, ws_refused,
};
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Serves the test guest as `trap`, with `extra` after its class section.
fn trap_config(extra: &str) -> String {
    format!(
        "{}{}{extra}",
        admin_config(),
        class("trap", "Trapper", &guest("trapper"))
    )
}

#[tokio::test]
async fn a_socket_accepted_by_a_trapping_event_is_not_kept() -> Result<()> {
    let s = Server::start(&trap_config(""))?;
    let c = client();
    let err =
        tokio_tungstenite::connect_async(format!("ws://{}/trap/w/ws-accept-then-trap", s.addr))
            .await;
    match err {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 500),
        other => panic!("expected a 500 instead of an upgrade, got {other:?}"),
    }
    assert_eq!(metric(&c, &s, "holdfast_websockets").await?, 0.0);
    let (_, body) = call(&c, Method::GET, s.url("/trap/w/ws-count")).await?;
    assert_eq!(body, json!({"sockets": 0}));
    Ok(())
}

#[tokio::test]
async fn socket_limits_give_clear_errors() -> Result<()> {
    let s = Server::start(&trap_config("[websockets]\nmax_sockets_per_object = 2\n"))?;
    let eleven = (0..11)
        .map(|i| format!("t{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let (status, body) = ws_refused(&s, &format!("/trap/l/ws-accept?tags={eleven}")).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("11 tags, over the limit of 10"))
    );
    let long = "x".repeat(257);
    let (status, body) = ws_refused(&s, &format!("/trap/l/ws-accept?tags={long}")).await?;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "a tag of 257 characters is over the limit of 256"
    );

    let (status, body) = ws_refused(&s, "/trap/l/ws-accept?tags=a&attachment=16384").await?;
    assert_eq!(status, 500);
    assert_eq!(
        body["error"],
        "attachment of 16386 bytes is over the limit of 16384 bytes"
    );
    let _ok = ws_connect(&s, "/trap/l/ws-accept?tags=a&attachment=16382").await?;
    let _second = ws_connect(&s, "/trap/l/ws-accept?tags=b").await?;
    let (status, body) = ws_refused(&s, "/trap/l/ws-accept?tags=c").await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "the object has 2 open sockets, the limit");
    let c = client();
    assert_eq!(
        call(&c, Method::GET, s.url("/trap/l/ws-count")).await?.1,
        json!({"sockets": 2})
    );
    Ok(())
}

#[tokio::test]
async fn a_pinned_socket_keeps_its_object_in_memory_and_pings_are_answered() -> Result<()> {
    let s = Server::start(&trap_config("[class.limits]\nidle_timeout_ms = 150\n"))?;
    let c = client();
    let mut pinned = ws_connect(&s, "/trap/p/ws-accept?tags=x&pinned=1").await?;
    let mut hibernating = ws_connect(&s, "/trap/h/ws-accept?tags=x").await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, list) = admin(&c, &s, Method::GET, "/objects").await?;
    let names: Vec<_> = list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, [json!("p")], "only the pinned object stays resident");
    for ws in [&mut pinned, &mut hibernating] {
        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await?;
        let pong = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await?
            .unwrap()?;
        assert_eq!(pong, Message::Pong(b"are you there".to_vec().into()));
    }
    assert_eq!(metric(&c, &s, "holdfast_live_objects").await?, 1.0);
    // Once the pinned socket closes, its object may leave too.
    pinned.close(None).await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(metric(&c, &s, "holdfast_live_objects").await?, 0.0);
    Ok(())
}

/// A trap discards the instance, and with it what its pinned sockets' code kept in memory: those
/// sockets close with 1011 (as an object's reset disconnects them on Cloudflare). Hibernatable
/// sockets of the same object stay open.
#[tokio::test]
async fn a_trap_closes_the_pinned_sockets_and_keeps_the_hibernatable_ones() -> Result<()> {
    let s = Server::start(&trap_config(""))?;
    let c = client();
    let mut pinned = ws_connect(&s, "/trap/t/ws-accept?tags=p&pinned=1").await?;
    let mut hibernating = ws_connect(&s, "/trap/t/ws-accept?tags=h").await?;
    let (status, _) = call(&c, Method::POST, s.url("/trap/t/write-then-trap?key=k")).await?;
    assert_eq!(status, 500);

    let frame = tokio::time::timeout(Duration::from_secs(5), pinned.next())
        .await?
        .unwrap()?;
    let Message::Close(Some(close)) = frame else {
        panic!("expected a close frame, got {frame:?}");
    };
    assert_eq!(u16::from(close.code), 1011);
    assert_eq!(
        close.reason.as_str(),
        "the object was reset after a failure"
    );

    hibernating
        .send(Message::Ping(b"still here".to_vec().into()))
        .await?;
    let pong = tokio::time::timeout(Duration::from_secs(5), hibernating.next())
        .await?
        .unwrap()?;
    assert_eq!(pong, Message::Pong(b"still here".to_vec().into()));
    let (_, count) = call(&c, Method::GET, s.url("/trap/t/ws-count")).await?;
    assert_eq!(
        count,
        json!({"sockets": 1}),
        "only the hibernatable socket is left"
    );
    Ok(())
}
