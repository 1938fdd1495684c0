//! Hibernatable WebSockets through the chat-room example and the test guest: broadcast,
//! hibernation, auto-response, limits, abrupt disconnects, transactions, and the web page in a
//! real browser. The chat-room contract runs against both builds of it: the Rust one
//! (examples/chat-room) and the JavaScript one written the Cloudflare way
//! (examples/js-chat-room), each test body shared by the two.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use holdfast_tests::cdp::Browser;
use holdfast_tests::{
    Server, Ws, admin, admin_config, built, call, class, client, guest, metric, ws_connect,
    ws_json, ws_refused, ws_send,
};
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// A build of the chat-room contract.
#[derive(Debug, Clone, Copy)]
enum Chat {
    /// examples/chat-room
    Rust,
    /// examples/js-chat-room: the same contract in JavaScript with Cloudflare's API
    JavaScript,
}

impl Chat {
    fn component(self) -> PathBuf {
        match self {
            Chat::Rust => guest("chat_room"),
            Chat::JavaScript => built("target/js-chat-room/js_chat_room.wasm"),
        }
    }
}

/// Serves `chat` as `chat` (with `extra` in its class section) beside the test guest `trap`.
fn chat_config(chat: Chat, extra: &str) -> String {
    chat_config_as(chat, "chat", extra)
}

/// Like [`chat_config`], with the room under `binding`.
fn chat_config_as(chat: Chat, binding: &str, extra: &str) -> String {
    format!(
        "{}{}{extra}{}",
        admin_config(),
        class(binding, "ChatRoom", &chat.component()),
        class("trap", "Trapper", &guest("trapper"))
    )
}

/// Joins `room` as `name`: returns the socket after its history and its own join.
async fn join(s: &Server, room: &str, name: &str) -> Result<(Ws, serde_json::Value)> {
    let mut ws = ws_connect(s, &format!("/chat/{room}/ws?name={name}")).await?;
    let history = ws_json(&mut ws).await?;
    assert_eq!(history["type"], "history", "{history}");
    let joined = ws_json(&mut ws).await?;
    assert_eq!(
        (joined["type"].as_str(), joined["name"].as_str()),
        (Some("join"), Some(name))
    );
    Ok((ws, history))
}

#[tokio::test]
async fn chat_broadcasts_to_every_member_and_keeps_history() -> Result<()> {
    broadcasts_and_keeps_history(Chat::Rust).await
}

#[tokio::test]
async fn chat_broadcasts_to_every_member_and_keeps_history_in_javascript() -> Result<()> {
    broadcasts_and_keeps_history(Chat::JavaScript).await
}

async fn broadcasts_and_keeps_history(chat: Chat) -> Result<()> {
    let s = Server::start(&chat_config(chat, ""))?;
    let (mut alice, history) = join(&s, "r1", "Alice").await?;
    assert_eq!(history["messages"], json!([]));
    let (mut bob, _) = join(&s, "r1", "Bob").await?;
    assert_eq!(ws_json(&mut alice).await?["name"], "Bob");

    let mut others = Vec::new();
    for i in 0..20 {
        let (ws, _) = join(&s, "r1", &format!("m{i}")).await?;
        ws_json(&mut alice).await?;
        ws_json(&mut bob).await?;
        for o in others.iter_mut() {
            ws_json(o).await?;
        }
        others.push(ws);
    }
    ws_send(&mut alice, r#"{"type":"message","text":"hello all"}"#).await?;
    for ws in std::iter::once(&mut alice)
        .chain(std::iter::once(&mut bob))
        .chain(others.iter_mut())
    {
        let m = ws_json(ws).await?;
        assert_eq!(
            (m["type"].as_str(), m["name"].as_str(), m["text"].as_str()),
            (Some("message"), Some("Alice"), Some("hello all")),
            "{m}"
        );
        assert!(m["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    }

    // Bad input goes back to the sender alone.
    ws_send(&mut bob, "not json").await?;
    let e = ws_json(&mut bob).await?;
    assert_eq!(e["type"], "error");
    assert!(e["message"].is_string());
    ws_send(&mut bob, r#"{"type":"dance"}"#).await?;
    assert_eq!(ws_json(&mut bob).await?["type"], "error");
    ws_send(&mut bob, r#"{"type":"message","text":"after errors"}"#).await?;
    assert_eq!(ws_json(&mut alice).await?["text"], "after errors");
    assert_eq!(ws_json(&mut bob).await?["text"], "after errors");

    // Leaving is announced; history holds the stored messages; a newcomer sees them.
    bob.close(None).await?;
    let leave = ws_json(&mut alice).await?;
    assert_eq!(
        (leave["type"].as_str(), leave["name"].as_str()),
        (Some("leave"), Some("Bob"))
    );
    let c = client();
    let (status, h) = call(&c, Method::GET, s.url("/chat/r1/history")).await?;
    assert_eq!(status, 200);
    let texts: Vec<_> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("hello all"), json!("after errors")]);
    let (_, history) = join(&s, "r1", "Carol").await?;
    assert_eq!(history["messages"].as_array().unwrap().len(), 2);

    // An ordinary response instead of an upgrade.
    let (status, body) = call(&c, Method::GET, s.url("/chat/r1/ws?name=")).await?;
    assert_eq!(status, 400, "{body}");
    let err = tokio_tungstenite::connect_async(format!("ws://{}/chat/r1/ws", s.addr)).await;
    match err {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 400),
        other => panic!("expected a 400 instead of an upgrade, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn hibernated_rooms_wake_on_the_next_message_with_names_intact() -> Result<()> {
    wakes_with_names_intact(Chat::Rust).await
}

#[tokio::test]
async fn hibernated_rooms_wake_on_the_next_message_with_names_intact_in_javascript() -> Result<()> {
    wakes_with_names_intact(Chat::JavaScript).await
}

async fn wakes_with_names_intact(chat: Chat) -> Result<()> {
    let s = Server::start(&chat_config(chat, ""))?;
    let c = client();
    let (mut alice, _) = join(&s, "h", "Alice").await?;
    let (mut bob, _) = join(&s, "h", "Bob").await?;
    ws_json(&mut alice).await?;
    let (status, body) = admin(&c, &s, Method::POST, "/objects/chat/h/evict").await?;
    assert_eq!((status, body["evicted"].clone()), (200, json!(true)));
    assert_eq!(metric(&c, &s, "holdfast_live_objects").await?, 0.0);
    let before = metric(&c, &s, "holdfast_activations_total").await?;

    ws_send(&mut bob, r#"{"type":"message","text":"still here?"}"#).await?;
    for ws in [&mut alice, &mut bob] {
        let m = ws_json(ws).await?;
        assert_eq!(
            (m["name"].as_str(), m["text"].as_str()),
            (Some("Bob"), Some("still here?"))
        );
    }
    assert_eq!(
        metric(&c, &s, "holdfast_activations_total").await?,
        before + 1.0
    );
    Ok(())
}

#[tokio::test]
async fn idle_timeout_hibernates_a_room_while_its_sockets_stay_open() -> Result<()> {
    idle_timeout_hibernates(Chat::Rust).await
}

#[tokio::test]
async fn idle_timeout_hibernates_a_room_while_its_sockets_stay_open_in_javascript() -> Result<()> {
    idle_timeout_hibernates(Chat::JavaScript).await
}

async fn idle_timeout_hibernates(chat: Chat) -> Result<()> {
    let s = Server::start(&chat_config(
        chat,
        "[class.limits]\nidle_timeout_ms = 200\n",
    ))?;
    let c = client();
    let (mut alice, _) = join(&s, "i", "Alice").await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(metric(&c, &s, "holdfast_live_objects").await?, 0.0);
    ws_send(&mut alice, r#"{"type":"message","text":"wake"}"#).await?;
    assert_eq!(ws_json(&mut alice).await?["text"], "wake");
    Ok(())
}

#[tokio::test]
async fn auto_response_is_answered_without_waking_the_object() -> Result<()> {
    auto_response_while_evicted(Chat::Rust).await
}

#[tokio::test]
async fn auto_response_is_answered_without_waking_the_object_in_javascript() -> Result<()> {
    auto_response_while_evicted(Chat::JavaScript).await
}

async fn auto_response_while_evicted(chat: Chat) -> Result<()> {
    let s = Server::start(&chat_config(chat, ""))?;
    let c = client();
    let (mut alice, _) = join(&s, "a", "Alice").await?;
    admin(&c, &s, Method::POST, "/objects/chat/a/evict").await?;
    let events = metric(&c, &s, "holdfast_events_total").await?;
    for _ in 0..3 {
        ws_send(&mut alice, "ping").await?;
        let reply = tokio::time::timeout(Duration::from_secs(5), alice.next())
            .await?
            .unwrap()?;
        assert_eq!(reply, Message::Text("pong".into()));
    }
    assert_eq!(metric(&c, &s, "holdfast_live_objects").await?, 0.0);
    assert_eq!(metric(&c, &s, "holdfast_events_total").await?, events);
    Ok(())
}

#[tokio::test]
async fn an_oversize_message_closes_with_1009_and_others_carry_on() -> Result<()> {
    oversize_message(Chat::Rust).await
}

#[tokio::test]
async fn an_oversize_message_closes_with_1009_and_others_carry_on_in_javascript() -> Result<()> {
    oversize_message(Chat::JavaScript).await
}

async fn oversize_message(chat: Chat) -> Result<()> {
    let s = Server::start(&chat_config(chat, ""))?;
    let (mut alice, _) = join(&s, "o", "Alice").await?;
    let (mut bob, _) = join(&s, "o", "Bob").await?;
    ws_json(&mut alice).await?;
    let big = format!(r#"{{"type":"message","text":"{}"}}"#, "x".repeat(2 << 20));
    let _ = bob.send(Message::Text(big.into())).await;
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), bob.next()).await? {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(
        u16::from(closed.expect("a close frame with a code").code),
        1009
    );
    let leave = ws_json(&mut alice).await?;
    assert_eq!(
        (leave["type"].as_str(), leave["name"].as_str()),
        (Some("leave"), Some("Bob"))
    );
    ws_send(&mut alice, r#"{"type":"message","text":"fine"}"#).await?;
    assert_eq!(ws_json(&mut alice).await?["text"], "fine");
    Ok(())
}

#[tokio::test]
async fn an_abrupt_disconnect_produces_a_close_event() -> Result<()> {
    abrupt_disconnect(Chat::Rust).await
}

#[tokio::test]
async fn an_abrupt_disconnect_produces_a_close_event_in_javascript() -> Result<()> {
    abrupt_disconnect(Chat::JavaScript).await
}

async fn abrupt_disconnect(chat: Chat) -> Result<()> {
    let s = Server::start(&chat_config(chat, ""))?;
    let (mut alice, _) = join(&s, "d", "Alice").await?;
    let (bob, _) = join(&s, "d", "Bob").await?;
    ws_json(&mut alice).await?;
    drop(bob); // no close frame: the TCP connection just goes away
    let leave = ws_json(&mut alice).await?;
    assert_eq!(
        (leave["type"].as_str(), leave["name"].as_str()),
        (Some("leave"), Some("Bob"))
    );
    Ok(())
}

#[tokio::test]
async fn bad_requests_and_frames_get_the_contract_errors() -> Result<()> {
    bad_requests_and_frames(Chat::Rust).await
}

#[tokio::test]
async fn bad_requests_and_frames_get_the_contract_errors_in_javascript() -> Result<()> {
    bad_requests_and_frames(Chat::JavaScript).await
}

async fn bad_requests_and_frames(chat: Chat) -> Result<()> {
    let s = Server::start(&chat_config(chat, ""))?;
    let c = client();
    let page = c.get(s.url("/chat/e/")).send().await?;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.text().await?.contains("<title>Holdfast chat</title>"));
    for (method, path) in [
        (Method::GET, "/chat/e/nope"),
        (Method::GET, "/chat/e/history/x"),
        (Method::POST, "/chat/e/ws"),
        (Method::POST, "/chat/e/history"),
        (Method::DELETE, "/chat/e/"),
    ] {
        assert_eq!(
            call(&c, method.clone(), s.url(path)).await?,
            (404, json!({"error": "not found"})),
            "{method} {path}"
        );
    }
    assert_eq!(
        call(&c, Method::GET, s.url("/chat/e/ws?name=Al")).await?,
        (400, json!({"error": "expected a WebSocket upgrade"}))
    );
    let too_long = format!("/chat/e/ws?name={}", "%C3%A9".repeat(33));
    for (path, message) in [
        ("/chat/e/ws", "the query parameter `name` is required"),
        (
            "/chat/e/ws?other=x",
            "the query parameter `name` is required",
        ),
        ("/chat/e/ws?name=", "name must be 1 to 32 characters"),
        ("/chat/e/ws?name=+%20+", "name must be 1 to 32 characters"),
        (too_long.as_str(), "name must be 1 to 32 characters"),
    ] {
        assert_eq!(
            ws_refused(&s, path).await?,
            (400, json!({"error": message})),
            "{path}"
        );
    }
    assert_eq!(metric(&c, &s, "holdfast_websockets").await?, 0.0);

    // Names are trimmed; 32 characters of two bytes each are fine.
    let longest = "é".repeat(32);
    let path = format!("/chat/e/ws?name=+{}%20", "%C3%A9".repeat(32));
    let mut ws = ws_connect(&s, &path).await?;
    assert_eq!(
        ws_json(&mut ws).await?,
        json!({"type": "history", "messages": []})
    );
    assert_eq!(ws_json(&mut ws).await?["name"], longest.as_str());

    // Bad frames are answered to the sender, and nothing is stored.
    let too_big = json!({"type": "message", "text": "é".repeat(2049)}).to_string();
    for (frame, message) in [
        (r#"{"type":"dance"}"#, "unknown message type `dance`"),
        (r#"{"text":"x"}"#, "a message needs a string `type`"),
        (
            r#"{"type":7,"text":"x"}"#,
            "a message needs a string `type`",
        ),
        (r#"["message","x"]"#, "a message needs a string `type`"),
        (r#""message""#, "a message needs a string `type`"),
        (r#"{"type":"message"}"#, "a message needs a string `text`"),
        (
            r#"{"type":"message","text":5}"#,
            "a message needs a string `text`",
        ),
        (
            r#"{"type":"message","text":""}"#,
            "text must be 1 to 4096 bytes",
        ),
        (too_big.as_str(), "text must be 1 to 4096 bytes"),
    ] {
        ws_send(&mut ws, frame).await?;
        assert_eq!(
            ws_json(&mut ws).await?,
            json!({"type": "error", "message": message}),
            "{frame}"
        );
    }
    for frame in ["not json", r#"{"type":"message","text":"\ud800"}"#] {
        ws_send(&mut ws, frame).await?;
        let e = ws_json(&mut ws).await?;
        assert_eq!(e["type"], "error");
        let message = e["message"].as_str().unwrap();
        assert!(message.starts_with("invalid JSON: "), "{frame}: {message}");
    }
    ws.send(Message::Binary(b"{}".to_vec().into())).await?;
    assert_eq!(
        ws_json(&mut ws).await?,
        json!({"type": "error", "message": "binary messages are not supported: send JSON text"})
    );
    // The longest text is fine.
    let longest_text = "é".repeat(2048);
    let frame = json!({"type": "message", "text": longest_text}).to_string();
    ws_send(&mut ws, &frame).await?;
    let m = ws_json(&mut ws).await?;
    assert_eq!(
        (m["type"].as_str(), m["name"].as_str()),
        (Some("message"), Some(longest.as_str()))
    );
    assert_eq!(m["text"], longest_text.as_str());
    let (_, history) = call(&c, Method::GET, s.url("/chat/e/history")).await?;
    assert_eq!(
        history,
        json!([{"name": longest, "text": longest_text, "timestamp": m["timestamp"]}])
    );
    Ok(())
}

/// The Rust room's storage read by the JavaScript room.
#[tokio::test]
async fn history_is_bounded_and_its_storage_is_read_by_the_javascript_room() -> Result<()> {
    history_bounded_and_shared(Chat::Rust, Chat::JavaScript).await
}

/// The JavaScript room's storage read by the Rust room.
#[tokio::test]
async fn history_is_bounded_and_its_storage_is_read_by_the_rust_room() -> Result<()> {
    history_bounded_and_shared(Chat::JavaScript, Chat::Rust).await
}

/// `first` keeps the last 100 messages (joiners get 50); then `second`, on the same data,
/// serves the same history and goes on numbering from `seq`, dropping the oldest by key.
async fn history_bounded_and_shared(first: Chat, second: Chat) -> Result<()> {
    let s = Server::start(&chat_config(first, ""))?;
    let c = client();
    let texts = |history: &serde_json::Value| -> Vec<String> {
        history
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };
    let numbered = |range: std::ops::RangeInclusive<u32>| -> Vec<String> {
        range.map(|i| format!("m{i}")).collect()
    };
    let (mut ws, _) = join(&s, "k", "Kay").await?;
    for i in 1..=105 {
        ws_send(&mut ws, &format!(r#"{{"type":"message","text":"m{i}"}}"#)).await?;
    }
    for i in 1..=105 {
        assert_eq!(ws_json(&mut ws).await?["text"], format!("m{i}"));
    }
    let (_, history) = call(&c, Method::GET, s.url("/chat/k/history")).await?;
    assert_eq!(texts(&history), numbered(6..=105));
    let (_, joined) = join(&s, "k", "Lee").await?;
    assert_eq!(texts(&joined["messages"]), numbered(56..=105));
    drop(ws);

    let s = s.restart_with(&chat_config(second, ""))?;
    let (_, again) = call(&c, Method::GET, s.url("/chat/k/history")).await?;
    assert_eq!(again, history, "{second:?} reads what {first:?} stored");
    let (mut ws, joined) = join(&s, "k", "Max").await?;
    assert_eq!(texts(&joined["messages"]), numbered(56..=105));
    ws_send(&mut ws, r#"{"type":"message","text":"m106"}"#).await?;
    assert_eq!(ws_json(&mut ws).await?["text"], "m106");
    let (_, history) = call(&c, Method::GET, s.url("/chat/k/history")).await?;
    assert_eq!(texts(&history), numbered(7..=106));
    Ok(())
}

/// Two browser windows on the chat page: a message typed in one appears in the other.
#[tokio::test]
async fn the_chat_page_works_in_a_real_browser() -> Result<()> {
    page_works_in_a_browser(Chat::Rust, "chat").await
}

/// The same page served by the JavaScript room, under another binding (the page's URLs are
/// relative).
#[tokio::test]
async fn the_chat_page_works_in_a_real_browser_in_javascript() -> Result<()> {
    page_works_in_a_browser(Chat::JavaScript, "js-chat").await
}

async fn page_works_in_a_browser(chat: Chat, binding: &str) -> Result<()> {
    let s = Server::start(&chat_config_as(chat, binding, ""))?;
    let mut browser = Browser::start().await?;
    let url = s.url(&format!("/{binding}/browser-room/"));
    let a = browser.open(&url).await?;
    let b = browser.open(&url).await?;
    for (page, name) in [(&a, "Ann"), (&b, "Ben")] {
        browser
            .wait_for(
                page,
                "document.readyState === 'complete' && !!document.querySelector('#join')",
                Duration::from_secs(10),
            )
            .await?;
        browser
            .eval(page, &format!("document.querySelector('#name').value = '{name}'; document.querySelector('#join').click(); true"))
            .await?;
        browser
            .wait_for(
                page,
                "document.querySelector('#status').textContent.includes('connected')",
                Duration::from_secs(10),
            )
            .await?;
    }
    browser
        .eval(&a, "document.querySelector('#text').value = 'hello from Ann'; document.querySelector('#send').click(); true")
        .await?;
    browser
        .wait_for(
            &b,
            "document.querySelector('#messages').textContent.includes('hello from Ann')",
            Duration::from_secs(10),
        )
        .await?;
    browser
        .wait_for(
            &a,
            "document.querySelector('#messages').textContent.includes('hello from Ann')",
            Duration::from_secs(10),
        )
        .await?;
    Ok(())
}
