//! A socket's outbox: frames committed events sent, waiting for the connection's writer. It is
//! bounded by bytes; a client that stops reading fills it, and then the hub closes the socket
//! (code 1008) instead of buffering without end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{mpsc, watch};

/// A frame for the connection's writer.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
    Close(u16, String),
}

impl Outgoing {
    /// What it counts against the outbox bound.
    fn cost(&self) -> usize {
        64 + match self {
            Outgoing::Text(t) => t.len(),
            Outgoing::Binary(b) => b.len(),
            Outgoing::Close(_, r) => r.len(),
        }
    }
}

/// Why the host ended a connection from its side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Severed {
    pub code: u16,
    pub reason: String,
}

/// The hub's end of an outbox.
#[derive(Debug)]
pub struct OutboxSender {
    tx: mpsc::UnboundedSender<Outgoing>,
    /// Bytes queued and not yet taken by the writer. Why shared: the hub adds (under its lock),
    /// the connection's writer task subtracts.
    queued: Arc<AtomicUsize>,
    limit: usize,
    /// Set once when the host severs the connection; both halves of the connection watch it.
    sever: watch::Sender<Option<Severed>>,
}

/// The connection's end of an outbox.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    queued: Arc<AtomicUsize>,
    /// Resolves when the host severs the connection.
    pub severed: watch::Receiver<Option<Severed>>,
}

/// A new outbox bounded to `limit` bytes.
pub fn outbox(limit: usize) -> (OutboxSender, OutboxReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let (sever, severed) = watch::channel(None);
    (
        OutboxSender {
            tx,
            queued: queued.clone(),
            limit,
            sever,
        },
        OutboxReceiver {
            rx,
            queued,
            severed,
        },
    )
}

/// The frame did not fit: the client is not reading.
#[derive(Debug)]
pub struct Full {
    pub queued: usize,
    pub limit: usize,
}

impl OutboxSender {
    /// Queues a frame; refuses it when the outbox would go over its bound.
    pub fn push(&self, frame: Outgoing) -> Result<(), Full> {
        let cost = frame.cost();
        let queued = self.queued.fetch_add(cost, Ordering::SeqCst) + cost;
        if queued > self.limit && !matches!(frame, Outgoing::Close(..)) {
            self.queued.fetch_sub(cost, Ordering::SeqCst);
            return Err(Full {
                queued,
                limit: self.limit,
            });
        }
        // A closed receiver means the connection ended; its close event is on its way.
        let _ = self.tx.send(frame);
        Ok(())
    }

    /// Ends the connection from the host's side with `code` and `reason`.
    pub fn sever(&self, code: u16, reason: String) {
        self.sever.send_replace(Some(Severed { code, reason }));
    }
}

impl OutboxReceiver {
    /// The next frame, once one is queued; `None` when the hub forgot the socket.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        let f = self.rx.recv().await?;
        self.queued.fetch_sub(f.cost(), Ordering::SeqCst);
        Some(f)
    }

    /// A frame if one is queued now.
    pub fn try_recv(&mut self) -> Option<Outgoing> {
        let f = self.rx.try_recv().ok()?;
        self.queued.fetch_sub(f.cost(), Ordering::SeqCst);
        Some(f)
    }
}
