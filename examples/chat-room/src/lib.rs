//! A chat room per name over hibernatable WebSockets: the Holdfast WebSocket example.
//!
//! The host serves each room under `/chat/{room}`; paths below are relative to it. Open
//! `/chat/{room}/` in a browser for the chat page.
//!
//! | Request                                | Response                                          |
//! |----------------------------------------|---------------------------------------------------|
//! | `GET /`                                | the chat page (`text/html`)                       |
//! | `GET /ws?name=N`, a WebSocket upgrade  | `101`: joins as `N` (trimmed, 1 to 32 characters) |
//! | `GET /ws` without an upgrade           | `400 {"error": "expected a WebSocket upgrade"}`   |
//! | `GET /ws` with a missing or bad `name` | `400 {"error": "..."}`, no socket accepted        |
//! | `GET /history`                         | `[message, ...]`: the last 100, oldest first      |
//! | anything else                          | `404 {"error": "not found"}`                      |
//!
//! A stored message is `{"name", "text", "timestamp"}`; timestamps are milliseconds since the
//! Unix epoch. On the socket, every frame is a JSON text message with a `type`:
//!
//! | From → to       | Message                                                                 |
//! |-----------------|-------------------------------------------------------------------------|
//! | client → room   | `{"type": "message", "text": "..."}`, text of 1 to 4096 bytes           |
//! | room → joiner   | `{"type": "history", "messages": [...]}`: the last 50, oldest first     |
//! | room → everyone | `{"type": "join", "name", "timestamp"}`, the joiner included            |
//! | room → everyone | `{"type": "message", "name", "text", "timestamp"}`, the sender included |
//! | room → the rest | `{"type": "leave", "name", "timestamp"}` when a socket closes (or fails) |
//! | room → sender   | `{"type": "error", "message": "..."}` for a bad or binary frame         |
//! | client → host   | the text `ping`: the host answers `pong` without waking the room        |
//!
//! Sockets are accepted hibernatable with the tag `member` and the attachment `{"name": N}`, so
//! the room may leave memory between messages. Messages are stored under `msg/{seq:020}` (`seq`
//! holds the last number); only the last 100 are kept.

use std::time::{SystemTime, UNIX_EPOCH};

use holdfast_sdk::{
    DurableObject, ListOptions, Message, Method, Request, Response, Result, State, Storage,
    WebSocket, durable_object,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const PAGE: &str = include_str!("page.html");
/// The tag of every accepted socket.
const MEMBER: &str = "member";
/// The keep-alive the host answers by itself, and its answer.
const PING: &str = "ping";
const PONG: &str = "pong";
const MSG: &str = "msg/";
/// The number of the last stored message, a `u64` (messages are numbered from 1).
const SEQ: &str = "seq";
const KEEP: u64 = 100;
const HISTORY_ON_JOIN: u64 = 50;
const MAX_NAME_CHARS: usize = 32;
const MAX_TEXT_BYTES: usize = 4096;
/// The most keys one `delete_many` call may name.
const DELETE_BATCH: usize = 128;

#[durable_object]
struct ChatRoom {
    state: State,
}

/// A stored message, as `/history` and the `history` event show it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Chat {
    name: String,
    text: String,
    timestamp: i64,
}

/// The attachment of a member's socket; it survives hibernation.
#[derive(Serialize, Deserialize)]
struct Member {
    name: String,
}

impl DurableObject for ChatRoom {
    fn new(state: State) -> Self {
        ChatRoom { state }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        match (req.method(), req.segments().as_slice()) {
            (Method::Get, []) => {
                Ok(Response::text(PAGE).with_header("content-type", "text/html; charset=utf-8"))
            }
            (Method::Get, ["ws"]) => self.join(&req),
            (Method::Get, ["history"]) => Ok(Response::json(&recent(&self.storage(), KEEP)?)),
            _ => Ok(Response::not_found()),
        }
    }

    fn websocket_message(&mut self, ws: WebSocket, msg: Message) -> Result<()> {
        let text = match msg {
            Message::Text(frame) => parse_message(&frame),
            Message::Binary(_) => Err("binary messages are not supported: send JSON text".into()),
        };
        // A bad frame is answered, and the event still succeeds.
        let text = match text {
            Ok(text) => text,
            Err(message) => return reply_error(ws, &message),
        };
        let Some(Member { name }) = ws.attachment()? else {
            return reply_error(ws, "this socket has not joined the room");
        };
        let chat = Chat {
            name,
            text,
            timestamp: now_ms()?,
        };
        store(&self.storage(), &chat)?;
        let event = json!({
            "type": "message", "name": chat.name, "text": chat.text, "timestamp": chat.timestamp
        });
        broadcast(self.state.websockets_with_tag(MEMBER), &event)
    }

    fn websocket_close(&mut self, ws: WebSocket, _: u16, _: String, _: bool) -> Result<()> {
        self.leave(ws)
    }

    /// Nothing to do: the close event that always follows a failure announces the leave.
    fn websocket_error(&mut self, _: WebSocket, _: String) -> Result<()> {
        Ok(())
    }
}

impl ChatRoom {
    fn storage(&self) -> Storage {
        self.state.storage()
    }

    /// `GET /ws`: accepts the socket, sends it the history and tells everyone it joined.
    fn join(&mut self, req: &Request) -> Result<Response> {
        if !req.is_websocket_upgrade() {
            return Ok(Response::error(400, "expected a WebSocket upgrade"));
        }
        let name = match validate_name(req.query("name")) {
            Ok(name) => name,
            Err(message) => return Ok(Response::error(400, message)),
        };
        let ws = self.state.accept_websocket(&[MEMBER])?;
        // Keep-alives are answered by the host without waking the room.
        self.state.set_websocket_auto_response(PING, PONG);
        ws.set_attachment(&Member { name: name.clone() })?;
        let messages = recent(&self.storage(), HISTORY_ON_JOIN)?;
        ws.send_json(&json!({ "type": "history", "messages": messages }))?;

        let mut members = self.state.websockets_with_tag(MEMBER);
        if !members.contains(&ws) {
            members.push(ws);
        }
        let event = json!({ "type": "join", "name": name, "timestamp": now_ms()? });
        broadcast(members, &event)?;
        Ok(Response::websocket_accepted())
    }

    /// A member's socket closed or failed: tells the others, if its name is still readable.
    fn leave(&mut self, ws: WebSocket) -> Result<()> {
        let Ok(Some(Member { name })) = ws.attachment() else {
            return Ok(());
        };
        let others = self.state.websockets_with_tag(MEMBER);
        let others = others.into_iter().filter(|member| *member != ws);
        let event = json!({ "type": "leave", "name": name, "timestamp": now_ms()? });
        broadcast(others, &event)
    }
}

/// Sends `event` to every socket of `members`. A socket whose connection has just ended is
/// skipped (its close event follows) rather than failing the whole event.
fn broadcast(members: impl IntoIterator<Item = WebSocket>, event: &Value) -> Result<()> {
    let text = serde_json::to_string(event)?;
    for member in members {
        let _ = member.send_text(&text);
    }
    Ok(())
}

/// Sends `{"type": "error", "message": ...}` to `ws` alone; the event succeeds.
fn reply_error(ws: WebSocket, message: &str) -> Result<()> {
    let _ = ws.send_json(&json!({ "type": "error", "message": message }));
    Ok(())
}

/// Stores `chat` as the next message and drops all but the last [`KEEP`].
fn store(storage: &Storage, chat: &Chat) -> Result<()> {
    let seq = storage.get::<u64>(SEQ)?.unwrap_or(0) + 1;
    storage.put(SEQ, &seq)?;
    storage.put(&msg_key(seq), chat)?;
    if seq > KEEP {
        let old = ListOptions::new().prefix(MSG).end(msg_key(seq - KEEP + 1));
        let old = storage.list_bytes(old)?;
        let old: Vec<&str> = old.iter().map(|(key, _)| key.as_str()).collect();
        for batch in old.chunks(DELETE_BATCH) {
            storage.delete_many(batch)?;
        }
    }
    Ok(())
}

/// The last `count` stored messages, oldest first.
fn recent(storage: &Storage, count: u64) -> Result<Vec<Chat>> {
    let limit = u32::try_from(count)?;
    let newest_first = storage.list(ListOptions::new().prefix(MSG).reverse(true).limit(limit))?;
    Ok(newest_first
        .into_iter()
        .rev()
        .map(|(_, chat)| chat)
        .collect())
}

fn msg_key(seq: u64) -> String {
    format!("{MSG}{seq:020}")
}

/// The `name` query parameter, trimmed: 1 to 32 characters; otherwise what is wrong with it.
fn validate_name(name: Option<String>) -> std::result::Result<String, String> {
    let name = name.ok_or("the query parameter `name` is required")?;
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(format!("name must be 1 to {MAX_NAME_CHARS} characters"));
    }
    Ok(name.to_string())
}

/// The text of a `{"type": "message", "text": "..."}` frame; otherwise what is wrong with it.
fn parse_message(frame: &str) -> std::result::Result<String, String> {
    let value: Value = serde_json::from_str(frame).map_err(|e| format!("invalid JSON: {e}"))?;
    match value.get("type").and_then(Value::as_str) {
        Some("message") => {}
        Some(other) => return Err(format!("unknown message type `{other}`")),
        None => return Err("a message needs a string `type`".into()),
    }
    let text = value.get("text").and_then(Value::as_str);
    let text = text.ok_or("a message needs a string `text`")?;
    if text.is_empty() || text.len() > MAX_TEXT_BYTES {
        return Err(format!("text must be 1 to {MAX_TEXT_BYTES} bytes"));
    }
    Ok(text.to_string())
}

/// Milliseconds since the Unix epoch, from the WASI wall clock.
fn now_ms() -> Result<i64> {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH)?;
    Ok(i64::try_from(elapsed.as_millis())?)
}

#[cfg(test)]
mod tests;
