//! WebSocket connections: completing the upgrade of a socket an object accepted, and the
//! connection task, with a reader that turns frames into events in the object's mailbox (or
//! answers the auto-response itself, without waking the object) and a writer that sends what
//! the object's committed events sent. Ping/pong is answered by the WebSocket layer.
//!
//! Every way a connection ends reaches the object as one close event: the client's close frame
//! (answered with a close frame), a dropped connection (1006), a message over the size limit
//! (1009), a client that does not read its outbox (1008), and an upgrade abandoned before the
//! 101 or failed after it (1006).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};

use crate::actor::{Directory, Event};
use crate::id::ObjectId;
use crate::runtime::{Class, types};
use crate::sockets::{OutboxReceiver, Outgoing};
use crate::store::{ObjectKey, now_ms};

/// Close code for a message over the size limit.
const MESSAGE_TOO_BIG: u16 = 1009;
/// Close code reported when the connection ended without a close frame.
const ABNORMAL: u16 = 1006;
/// Close code reported for a close frame without a code.
const NO_STATUS: u16 = 1005;
/// How long the writer tries to send a final close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A socket an object accepted whose connection has not started. Dropped without
/// [`PendingSocket::started`] (the client left before the 101, or the upgrade failed), it
/// forgets the socket and gives the object its close event.
pub(super) struct PendingSocket {
    directory: Arc<Directory>,
    class: Arc<Class>,
    id: ObjectId,
    /// The accepted socket, once the object's answer came.
    pub socket: Option<u64>,
}

impl PendingSocket {
    pub fn new(directory: Arc<Directory>, class: Arc<Class>, id: ObjectId) -> Self {
        PendingSocket {
            directory,
            class,
            id,
            socket: None,
        }
    }

    fn key(&self) -> ObjectKey {
        self.class.key(&self.id)
    }

    /// The connection started: it now owns the socket's end.
    fn started(mut self) -> (Arc<Directory>, Arc<Class>, ObjectId, Option<u64>) {
        let socket = self.socket.take();
        (self.directory.clone(), self.class.clone(), self.id, socket)
    }
}

impl Drop for PendingSocket {
    fn drop(&mut self) {
        let Some(socket) = self.socket.take() else {
            return;
        };
        let key = self.key();
        if self.directory.services().hub.abandon(&key, socket) {
            tracing::debug!(socket, "upgrade abandoned before the connection started");
            let close = Event::WsClose {
                socket,
                code: ABNORMAL,
                reason: "the client left before the upgrade completed".into(),
                was_clean: false,
            };
            let rx = self.directory.send(&self.class, self.id, None, close);
            let directory = self.directory.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let _ = rx.await;
                directory.services().hub.remove(&key, socket);
            });
        }
    }
}

/// Completes the upgrade of the socket the object accepted; its connection then runs in
/// [`serve`].
pub(super) fn accept_socket(
    directory: &Directory,
    upgrade: WebSocketUpgrade,
    pending: PendingSocket,
) -> Response {
    let limits = directory.services().hub.limits;
    upgrade
        .max_message_size(limits.max_message_bytes)
        // tungstenite's default buffers are 128 KiB each per connection; idle hibernated
        // connections should cost little.
        .read_buffer_size(4 << 10)
        .write_buffer_size(4 << 10)
        .on_failed_upgrade(|e| {
            tracing::warn!(error = %e, "WebSocket upgrade failed after the object accepted it");
        })
        .on_upgrade(move |ws| {
            let (directory, class, id, socket) = pending.started();
            async move {
                if let Some(socket) = socket {
                    serve(ws, directory, class, id, socket).await;
                }
            }
        })
}

/// Why the reader stopped.
struct Ended {
    code: u16,
    reason: String,
    was_clean: bool,
    error: Option<String>,
    /// The client sent a close frame (the writer answers it).
    client_closed: bool,
}

/// Runs the connection of `socket` until it ends, then tells the object.
async fn serve(
    ws: WebSocket,
    directory: Arc<Directory>,
    class: Arc<Class>,
    id: ObjectId,
    socket: u64,
) {
    let key = class.key(&id);
    let hub = directory.services().hub.clone();
    let Some(outbox) = hub.claim(&key, socket) else {
        return;
    };
    let mut severed = outbox.severed.clone();
    let severed_now = outbox.severed.clone();
    let (sink, mut stream) = ws.split();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(write(sink, outbox, done_rx));
    let ended = loop {
        let frame = tokio::select! {
            f = stream.next() => f,
            // A dropped sender (the hub forgot the socket) disables this branch.
            Ok(_) = severed.wait_for(Option::is_some) => {
                let s = severed_now.borrow().clone().expect("waited for it");
                break Ended { code: s.code, reason: s.reason, was_clean: false, error: None, client_closed: false };
            }
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                if !hub.auto_respond(&key, socket, text.as_str(), now_ms()) {
                    let msg = types::Message::Text(text.as_str().to_owned());
                    deliver(&directory, &class, id, socket, msg).await;
                }
            }
            Some(Ok(Message::Binary(bytes))) => {
                let msg = types::Message::Binary(bytes.to_vec());
                deliver(&directory, &class, id, socket, msg).await;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = match frame {
                    Some(f) => (f.code, f.reason.as_str().to_owned()),
                    None => (NO_STATUS, String::new()),
                };
                break Ended {
                    code,
                    reason,
                    was_clean: true,
                    error: None,
                    client_closed: true,
                };
            }
            Some(Err(e)) => {
                let inner = e.into_inner();
                if let Some(tungstenite::Error::Capacity(_)) =
                    inner.downcast_ref::<tungstenite::Error>()
                {
                    let reason = format!(
                        "message over the limit of {} bytes",
                        hub.limits.max_message_bytes
                    );
                    hub.send_now(
                        &key,
                        socket,
                        Outgoing::Close(MESSAGE_TOO_BIG, reason.clone()),
                    );
                    break Ended {
                        code: MESSAGE_TOO_BIG,
                        reason,
                        was_clean: false,
                        error: None,
                        client_closed: false,
                    };
                }
                break Ended {
                    code: ABNORMAL,
                    reason: String::new(),
                    was_clean: false,
                    error: Some(inner.to_string()),
                    client_closed: false,
                };
            }
            None => {
                break Ended {
                    code: ABNORMAL,
                    reason: String::new(),
                    was_clean: false,
                    error: None,
                    client_closed: false,
                };
            }
        }
    };
    if ended.client_closed {
        // The writer answers the client's close frame and ends.
        let _ = done_tx.send(());
    }
    if hub.mark_closed(&key, socket) {
        if let Some(error) = ended.error {
            let _ = directory
                .send(&class, id, None, Event::WsError { socket, error })
                .await;
        }
        let close = Event::WsClose {
            socket,
            code: ended.code,
            reason: ended.reason,
            was_clean: ended.was_clean,
        };
        let _ = directory.send(&class, id, None, close).await;
    }
    hub.remove(&key, socket);
    let _ = writer.await;
}

/// A message from the client to the object, waiting while the object's mailbox is full.
async fn deliver(
    directory: &Directory,
    class: &Arc<Class>,
    id: ObjectId,
    socket: u64,
    msg: types::Message,
) {
    // Fire and forget: the mailbox keeps this socket's messages in order.
    drop(
        directory
            .send_when_room(class, id, Event::WsMessage { socket, msg })
            .await,
    );
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// Sends what the object's committed events queued. Ends when the hub forgets the socket, when
/// the host severs it (a writer stuck on a client that does not read is abandoned then), or
/// when the reader is done (the client closed): then it flushes what the WebSocket layer queued
/// (the reply to the client's close frame), within [`CLOSE_GRACE`].
async fn write(
    mut sink: Sink,
    mut outbox: OutboxReceiver,
    done: tokio::sync::oneshot::Receiver<()>,
) {
    let mut severed = outbox.severed.clone();
    let work = async {
        tokio::pin!(done);
        loop {
            let first = tokio::select! {
                f = outbox.recv() => f,
                _ = &mut done => None,
            };
            let Some(first) = first else { return };
            // Everything queued goes out with one flush: a broadcast burst costs one write per
            // socket per wake-up, not one per message.
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
                next = outbox.try_recv();
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    };
    let severed_now = tokio::select! {
        () = work => false,
        Ok(_) = severed.wait_for(Option::is_some) => true,
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if severed_now {
            let s = severed.borrow().clone().expect("severed");
            let frame = CloseFrame {
                code: s.code,
                reason: s.reason.into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        // Flushing writes what the WebSocket layer queued: the reply to a client's close
        // frame. The connection itself ends when both halves are dropped.
        let _ = sink.flush().await;
    })
    .await;
}
