//! One accepted WebSocket connection: a reader that turns frames into events in the object's
//! mailbox (or answers the auto-response itself, without waking the object), and a writer that
//! sends what the object's committed events sent. Ping/pong is answered by the WebSocket layer.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};

use crate::alarm::now_ms;
use crate::bindings::types;
use crate::engine::Class;
use crate::id::ObjectId;
use crate::object::Event;
use crate::registry::Registry;
use crate::storage::ObjectKey;
use crate::websocket::Outgoing;

/// Close code for a message over the size limit.
const MESSAGE_TOO_BIG: u16 = 1009;
/// Close code reported when the connection ended without a close frame.
const ABNORMAL: u16 = 1006;
/// Close code reported for a close frame without a code.
const NO_STATUS: u16 = 1005;

/// Runs the connection of `socket` until it ends, then tells the object.
pub async fn serve(
    ws: WebSocket,
    registry: Arc<Registry>,
    class: Arc<Class>,
    id: ObjectId,
    socket: u64,
) {
    let key = ObjectKey::new(&class.config.binding, &id);
    let hub = &registry.services().hub;
    let Some(mut outgoing) = hub.claim(&key, socket) else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        // Everything queued goes out with one flush: a broadcast burst costs one write per
        // socket per wake-up, not one per message.
        while let Some(first) = outgoing.recv().await {
            let mut next = Some(first);
            while let Some(out) = next.take() {
                let msg = match out {
                    Outgoing::Text(t) => Message::Text(t.into()),
                    Outgoing::Binary(b) => Message::Binary(b.into()),
                    Outgoing::Close(code, reason) => {
                        let frame = CloseFrame {
                            code,
                            reason: reason.into(),
                        };
                        let _ = sink.send(Message::Close(Some(frame))).await;
                        return;
                    }
                };
                if sink.feed(msg).await.is_err() {
                    return;
                }
                next = outgoing.try_recv().ok();
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let deliver = |msg: types::Message| {
        // Fire and forget: the mailbox keeps this socket's messages in order.
        drop(registry.send(&class, id, None, Event::WsMessage { socket, msg }));
    };
    let ended = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                if !hub.auto_respond(&key, socket, text.as_str(), now_ms()) {
                    deliver(types::Message::Text(text.as_str().to_owned()));
                }
            }
            Some(Ok(Message::Binary(bytes))) => deliver(types::Message::Binary(bytes.to_vec())),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                break match frame {
                    Some(f) => (f.code, f.reason.as_str().to_owned(), true, None),
                    None => (NO_STATUS, String::new(), true, None),
                };
            }
            Some(Err(e)) => {
                let text = e.to_string();
                let too_big = text.contains("too long")
                    || text.contains("too big")
                    || text.contains("Space limit");
                if too_big {
                    let reason = format!(
                        "message over the limit of {} bytes",
                        hub.limits.max_message_bytes
                    );
                    hub.send_now(
                        &key,
                        socket,
                        Outgoing::Close(MESSAGE_TOO_BIG, reason.clone()),
                    );
                    break (MESSAGE_TOO_BIG, reason, false, None);
                }
                break (ABNORMAL, String::new(), false, Some(text));
            }
            None => break (ABNORMAL, String::new(), false, None),
        }
    };
    let (code, reason, was_clean, error) = ended;
    if hub.mark_closed(&key, socket) {
        if let Some(error) = error {
            let _ = registry
                .send(&class, id, None, Event::WsError { socket, error })
                .await;
        }
        let close = Event::WsClose {
            socket,
            code,
            reason,
            was_clean,
        };
        let _ = registry.send(&class, id, None, close).await;
    }
    hub.remove(&key, socket);
    let _ = writer.await;
}
