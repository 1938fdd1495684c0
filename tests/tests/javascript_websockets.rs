//! The standard WebSocket API of the JavaScript SDK (`new WebSocketPair()`, `server.accept()`,
//! listeners) through the test guest tests/js-guests/echo.js.

use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use holdfast_tests::{
    Server, Ws, admin, admin_config, built, call, class, client, eventually, metric, ws_connect,
    ws_refused,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn get(c: &reqwest::Client, s: &Server, path: &str) -> Result<(u16, Value)> {
    call(c, Method::GET, s.url(path)).await
}

/// The echo guest (tests/js-guests/echo.js, the standard WebSocket API) as `echo`, with `extra`
/// in its class section.
fn echo_config(extra: &str) -> String {
    format!(
        "{}{}{extra}",
        admin_config(),
        class("echo", "Echo", &built("target/js-guests/echo.wasm"))
    )
}

/// The next frame that is not a ping or pong, within 5 s.
async fn next_frame(ws: &mut Ws) -> Result<Message> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await?
            .context("the WebSocket ended")??;
        if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
            return Ok(msg);
        }
    }
}

async fn echoed(ws: &mut Ws, text: &str) -> Result<String> {
    ws.send(Message::Text(text.into())).await?;
    match next_frame(ws).await? {
        Message::Text(t) => Ok(t.as_str().to_owned()),
        other => anyhow::bail!("expected a text frame, got {other:?}"),
    }
}

#[tokio::test]
async fn standard_websockets_round_trip_and_listener_writes_are_durable() -> Result<()> {
    let s = Server::start(&echo_config(""))?;
    let c = client();
    let mut ws = ws_connect(&s, "/echo/e/ws").await?;
    assert_eq!(echoed(&mut ws, "hello").await?, "echo 1: hello");
    assert_eq!(echoed(&mut ws, "again").await?, "echo 2: again");
    // Binary frames arrive as an ArrayBuffer; a typed array goes out as binary.
    ws.send(Message::Binary(vec![1, 2, 3].into())).await?;
    assert_eq!(
        next_frame(&mut ws).await?,
        Message::Binary(vec![3, 2, 1].into())
    );
    // A listener that throws fails its event: its write is rolled back, and the instance is
    // discarded with the listeners in its memory, so the socket closes with 1011.
    ws.send(Message::Text("fail".into())).await?;
    match next_frame(&mut ws).await? {
        Message::Close(Some(frame)) => assert_eq!(
            (u16::from(frame.code), frame.reason.as_str()),
            (1011, "the object was reset after a failure")
        ),
        other => anyhow::bail!("expected a close frame, got {other:?}"),
    }
    assert_eq!(
        get(&c, &s, "/echo/e/state").await?.1,
        json!({"received": 0, "count": 3, "last": "again", "closed": null})
    );
    let mut ws = ws_connect(&s, "/echo/e/ws").await?;
    assert_eq!(echoed(&mut ws, "after").await?, "echo 4: after");
    assert_eq!(
        get(&c, &s, "/echo/e/state").await?.1,
        json!({"received": 1, "count": 4, "last": "after", "closed": null})
    );

    // The close listener runs (its write kept, its own close() of the ended socket harmless).
    ws.close(Some(CloseFrame {
        code: CloseCode::Library(4001),
        reason: "done".into(),
    }))
    .await?;
    let closed = eventually(Duration::from_secs(5), || async {
        let (_, state) = get(&c, &s, "/echo/e/state").await?;
        Ok((!state["closed"].is_null()).then_some(state["closed"].clone()))
    })
    .await?;
    assert_eq!(
        closed,
        json!({"code": 4001, "reason": "done", "wasClean": true})
    );

    // The object closes a socket itself: the client gets its close frame.
    let mut ws = ws_connect(&s, "/echo/e/ws").await?;
    ws.send(Message::Text("close".into())).await?;
    match next_frame(&mut ws).await? {
        Message::Close(Some(frame)) => {
            assert_eq!(
                (u16::from(frame.code), frame.reason.as_str()),
                (4000, "closed by the object")
            );
        }
        other => anyhow::bail!("expected a close frame, got {other:?}"),
    }

    // Everything the listeners wrote is durable, across a restart.
    let s = s.restart()?;
    assert_eq!(
        get(&c, &s, "/echo/e/state").await?.1,
        json!({"received": 0, "count": 5, "last": "close", "closed": {"code": 4001, "reason": "done", "wasClean": true}})
    );
    Ok(())
}

#[tokio::test]
async fn a_standard_websocket_keeps_its_object_in_memory() -> Result<()> {
    let s = Server::start(&echo_config("[class.limits]\nidle_timeout_ms = 150\n"))?;
    let c = client();
    let mut ws = ws_connect(&s, "/echo/resident/ws").await?;
    assert_eq!(echoed(&mut ws, "one").await?, "echo 1: one");
    get(&c, &s, "/echo/idle/state").await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let live = |list: Value| -> Vec<Value> {
        list["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].clone())
            .collect()
    };
    let (_, list) = admin(&c, &s, Method::GET, "/objects").await?;
    assert_eq!(
        live(list),
        [json!("resident")],
        "only the socket's object stays"
    );
    // The same instance: its listeners and in-memory state are intact.
    assert_eq!(echoed(&mut ws, "two").await?, "echo 2: two");
    assert_eq!(get(&c, &s, "/echo/resident/state").await?.1["received"], 2);

    // Once the socket closes, the object may leave memory; a new instance starts from storage.
    ws.close(None).await?;
    eventually(Duration::from_secs(5), || async {
        let (_, list) = admin(&c, &s, Method::GET, "/objects").await?;
        Ok(live(list).is_empty().then_some(()))
    })
    .await?;
    let (_, state) = get(&c, &s, "/echo/resident/state").await?;
    assert_eq!(
        (state["received"].clone(), state["count"].clone()),
        (json!(0), json!(2))
    );
    Ok(())
}

#[tokio::test]
async fn standard_websocket_mistakes_give_clear_errors() -> Result<()> {
    let s = Server::start(&echo_config(""))?;
    let c = client();
    // A 101 response whose server end was never accepted.
    let (status, body) = ws_refused(&s, "/echo/m/no-accept").await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            500,
            Some(
                "TypeError: a 101 response needs the client end of a WebSocketPair whose server \
                 end was accepted (ctx.acceptWebSocket(server) or server.accept())"
            )
        )
    );
    // The same without an upgrade request.
    let (status, body) = get(&c, &s, "/echo/m/no-accept").await?;
    assert_eq!(status, 500);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("TypeError: a 101 response needs the client end"),
        "{body}"
    );
    // Accepting, then answering something else than the 101: the event fails, no socket.
    let (status, body) = ws_refused(&s, "/echo/m/accept-then-refuse").await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            500,
            Some(
                "TypeError: fetch() accepted a WebSocket but returned status 400: return new \
                 Response(null, {status: 101, webSocket: client}), or answer before accepting"
            )
        )
    );
    assert_eq!(
        get(&c, &s, "/echo/m/send-before-accept").await?,
        (
            500,
            json!({"error": "TypeError: WebSocket.send() before the socket was accepted: call \
                             ctx.acceptWebSocket(server) or server.accept() first"})
        )
    );
    // The Upgrade header is visible to the object, as on Cloudflare: a plain GET is turned down.
    let r = c.get(s.url("/echo/m/ws")).send().await?;
    assert_eq!(r.status(), 426);
    assert_eq!(metric(&c, &s, "holdfast_websockets").await?, 0.0);
    Ok(())
}
