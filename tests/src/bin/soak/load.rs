//! The soak's load generators and the final check of acknowledged writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use holdfast_tests::{Server, client, now_ms};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::Args;

/// What the load saw.
pub struct Stats {
    /// Acknowledged (200) increments per counter object.
    pub acked: Vec<AtomicU64>,
    pub ok: AtomicU64,
    /// 503 because storage was failed (the documented answer during the disk-full episode).
    pub storage_503: AtomicU64,
    /// 503 because an object's mailbox was full (documented).
    pub overloaded: AtomicU64,
    /// Anything else: must stay 0.
    pub errors: AtomicU64,
    pub ws_delivered: AtomicU64,
    /// 1 once the room announced that the member that never reads left.
    pub lazy_closed: AtomicU64,
    pub alarms_set: AtomicU64,
}

impl Stats {
    pub fn new(objects: usize) -> Self {
        Stats {
            acked: (0..objects).map(|_| AtomicU64::new(0)).collect(),
            ok: AtomicU64::new(0),
            storage_503: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            ws_delivered: AtomicU64::new(0),
            lazy_closed: AtomicU64::new(0),
            alarms_set: AtomicU64::new(0),
        }
    }

    pub fn line(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "ok {}  storage-503 {}  overloaded {}  errors {}  ws {}  lazy-closed {}  alarms-set {}",
            g(&self.ok),
            g(&self.storage_503),
            g(&self.overloaded),
            g(&self.errors),
            g(&self.ws_delivered),
            g(&self.lazy_closed),
            g(&self.alarms_set)
        )
    }

    /// Counts an answer; returns whether it was a 200.
    fn classify(&self, status: u16, body: &str) -> bool {
        match status {
            200 => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                true
            }
            503 if body.contains(r#""error":"storage"#) => {
                self.storage_503.fetch_add(1, Ordering::Relaxed);
                false
            }
            503 if body.contains("Durable Object is overloaded") => {
                self.overloaded.fetch_add(1, Ordering::Relaxed);
                false
            }
            _ => {
                if self.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("soak: unexpected answer {status}: {body}");
                }
                false
            }
        }
    }
}

/// Starts every load generator; they run until `stop` is set.
pub async fn start(
    server: &Server,
    args: &Args,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    let http = client();
    for _ in 0..args.connections {
        let (c, stats, stop, base) = (
            http.clone(),
            stats.clone(),
            stop.clone(),
            server.url("/counter"),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let i = rand::random_range(0..stats.acked.len());
                let r = c.post(format!("{base}/o{i}/increment")).send().await;
                match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        if stats.classify(status, &body) {
                            stats.acked[i].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("soak: request failed: {e}");
                    }
                }
            }
        }));
    }
    tasks.extend(websockets(server, args, stats.clone(), stop.clone()).await?);
    let (c, stats, stop, base, rate) = (
        http.clone(),
        stats.clone(),
        stop.clone(),
        server.url("/trap"),
        args.alarm_rate.max(1),
    );
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
        let mut j = 0u64;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            j += 1;
            let url = format!("{base}/t{}/alarm?at={}", j % 1000, now_ms() + 500);
            if let Ok(r) = c.post(url).send().await {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                if stats.classify(status, &body) {
                    stats.alarms_set.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }));
    Ok(tasks)
}

/// The chat room: readers, one member that never reads, and a paced sender.
async fn websockets(
    server: &Server,
    args: &Args,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    let url = |name: &str| format!("ws://{}/chat/soak/ws?name={name}", server.addr);
    // The member that never reads: a tiny receive buffer, and nothing read after the handshake.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(server.addr).await?;
    let (lazy, _) = tokio_tungstenite::client_async(url("lazy"), stream)
        .await
        .context("the lazy member's upgrade")?;
    let hold = stop.clone();
    tasks.push(tokio::spawn(async move {
        while !hold.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(lazy);
    }));
    for i in 0..args.ws_clients.saturating_sub(1) {
        let (ws, _) = tokio_tungstenite::connect_async(url(&format!("m{i}"))).await?;
        let (mut sink, mut stream) = ws.split();
        let (stats, stop) = (stats.clone(), stop.clone());
        if i == 0 {
            let (stop, rate) = (stop.clone(), args.ws_rate.max(1));
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
                let text = "y".repeat(1000);
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let msg = serde_json::json!({"type": "message", "text": text}).to_string();
                    if sink.send(Message::Text(msg.into())).await.is_err() {
                        break;
                    }
                }
            }));
        }
        tasks.push(tokio::spawn(async move {
            loop {
                let next = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match next {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        stats.ws_delivered.fetch_add(1, Ordering::Relaxed);
                        if i == 0 && t.contains(r#""type":"leave""#) && t.contains(r#""lazy""#) {
                            stats.lazy_closed.store(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Some(Ok(_))) | Err(_) => {}
                    Ok(None) | Ok(Some(Err(_))) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("soak: member m{i} was disconnected");
                        break;
                    }
                }
            }
        }));
    }
    Ok(tasks)
}

/// Reads every counter after the restart: returns (objects checked, acknowledged increments
/// missing).
pub async fn verify(server: &Server, stats: &Stats) -> Result<(usize, u64)> {
    let c = client();
    let mut missing = 0;
    let mut checked = 0;
    for (i, acked) in stats.acked.iter().enumerate() {
        let acked = acked.load(Ordering::Relaxed);
        if acked == 0 {
            continue;
        }
        let body: serde_json::Value = c
            .get(server.url(&format!("/counter/o{i}")))
            .send()
            .await?
            .json()
            .await?;
        let value = body["value"].as_u64().unwrap_or(0);
        if value < acked {
            missing += acked - value;
            eprintln!("soak: counter o{i} is {value}, {acked} increments were acknowledged");
        }
        checked += 1;
    }
    Ok((checked, missing))
}
