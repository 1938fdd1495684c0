//! How WebSocket connections end when something goes wrong: a client that never reads, a
//! client's close frame, an upgrade abandoned before the 101. Each reaches the object as a close
//! event and leaves no socket behind.

use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use holdfast_tests::{
    Server, admin, admin_config, call, class, client, eventually, guest, metric, set_faults,
    ws_connect, ws_json, ws_send,
};
use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

fn config(extra: &str) -> String {
    format!(
        "{}{extra}{}{}",
        admin_config(),
        class("chat", "ChatRoom", &guest("chat_room")),
        class("trap", "Trapper", &guest("trapper"))
    )
}

/// The bug it guards against: the outbox of a client that never reads grew without bound.
#[tokio::test]
async fn a_client_that_never_reads_is_closed_with_1008_and_the_room_hears_it() -> Result<()> {
    let s = Server::start(&config("[websockets]\nmax_outbox_bytes = 262144\n"))?;
    let mut alice = ws_connect(&s, "/chat/r/ws?name=Alice").await?;
    ws_json(&mut alice).await?; // history
    ws_json(&mut alice).await?; // her join
    // A client with a tiny receive buffer that reads nothing after the handshake.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(s.addr).await?;
    let (lazy, _) =
        tokio_tungstenite::client_async(format!("ws://{}/chat/r/ws?name=Lazy", s.addr), stream)
            .await?;
    let text = "x".repeat(4000);
    let mut left = false;
    'sending: for _ in 0..400 {
        for _ in 0..10 {
            ws_send(
                &mut alice,
                &json!({"type": "message", "text": text}).to_string(),
            )
            .await?;
        }
        for _ in 0..10 {
            let m = ws_json(&mut alice).await?;
            if m["type"] == "leave" && m["name"] == "Lazy" {
                left = true;
                break 'sending;
            }
        }
    }
    if !left {
        // The leave may come after the messages already sent.
        for _ in 0..200 {
            let m = ws_json(&mut alice).await?;
            if m["type"] == "leave" && m["name"] == "Lazy" {
                left = true;
                break;
            }
        }
    }
    assert!(left, "the room never heard that the lazy client was closed");
    let c = client();
    eventually(Duration::from_secs(5), || async {
        Ok((metric(&c, &s, "holdfast_websockets").await? == 1.0).then_some(()))
    })
    .await?;
    drop(lazy);
    Ok(())
}

/// Fails against the binary before the fix: the host never answered the client's close frame.
#[tokio::test]
async fn a_clients_close_frame_gets_a_close_reply() -> Result<()> {
    let s = Server::start(&config(""))?;
    let mut ws = ws_connect(&s, "/chat/c/ws?name=Ann").await?;
    ws_json(&mut ws).await?;
    ws_json(&mut ws).await?;
    ws.send(Message::Close(Some(CloseFrame {
        code: 1000u16.into(),
        reason: "bye".into(),
    })))
    .await?;
    let reply = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(m) = ws.next().await {
            if let Message::Close(frame) = m? {
                return Ok::<_, anyhow::Error>(frame);
            }
        }
        anyhow::bail!("the connection ended without a close reply")
    })
    .await
    .context("no close reply within 5 s")??;
    assert_eq!(reply.map(|f| u16::from(f.code)), Some(1000));
    Ok(())
}

/// The bug it guards against: the socket the object accepted stayed listed (and pinned its
/// object) after the client left before the 101.
#[tokio::test]
async fn an_upgrade_abandoned_before_the_101_leaves_no_socket() -> Result<()> {
    let s = Server::start_with_faults(&config(""))?;
    let c = client();
    // A slow commit in flight holds the upgrade's answer back (it queues behind the write).
    set_faults(&c, &s, json!({ "sync_delay_ms": 1500 })).await?;
    let write = tokio::spawn({
        let (c, url) = (c.clone(), s.url("/trap/u/put?key=k&len=1"));
        async move { call(&c, Method::POST, url).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await?;
    let request = format!(
        "GET /trap/u/ws-accept?tags=t&pinned=1 HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        s.addr
    );
    tcp.write_all(request.as_bytes()).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(tcp); // gone before the 101
    assert_eq!(write.await??.0, 200);
    set_faults(&c, &s, json!({})).await?;
    eventually(Duration::from_secs(5), || async {
        let (_, body) = call(&c, Method::GET, s.url("/trap/u/ws-count")).await?;
        Ok((body["sockets"] == 0).then_some(()))
    })
    .await?;
    let (_, evicted) = admin(&c, &s, Method::POST, "/objects/trap/u/evict").await?;
    assert_eq!(
        evicted["evicted"], true,
        "a pinned socket was left behind: {evicted}"
    );
    Ok(())
}
