//! The WebSocket phases: fan-out in one chat room (burst and paced) and the memory of idle
//! hibernated connections.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use holdfast_tests::{Server, Ws, class, guest, ws_connect};
use tokio_tungstenite::tungstenite::Message;

use crate::{fig, metric_value};

/// Joins `room` as `name` and returns the socket (its history and join not yet read).
async fn join(s: &Server, room: &str, name: &str) -> Result<Ws> {
    ws_connect(s, &format!("/chat/{room}/ws?name={name}")).await
}

/// Deliveries and latencies shared by the reader tasks.
#[derive(Default)]
struct Tally {
    received: Cell<u64>,
    last: Cell<Option<Instant>>,
    latency_us: RefCell<Option<Histogram<u64>>>,
}

/// `clients` members of one room; one of them sends `messages` chat messages, as fast as
/// possible and then paced at `rate` per second.
pub async fn fanout(clients: usize, messages: usize, rate: u32) -> Result<()> {
    let s = Server::start(&class("chat", "ChatRoom", &guest("chat_room")))?;
    let epoch = Instant::now();
    let tally = Rc::new(Tally::default());
    let mut sender = None;
    let mut readers = Vec::new();
    for i in 0..clients {
        let ws = join(&s, "bench", &format!("c{i}")).await?;
        let (sink, mut stream) = ws.split();
        if i == 0 {
            sender = Some(sink);
        }
        let tally = tally.clone();
        readers.push(tokio::task::spawn_local(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let v: serde_json::Value = serde_json::from_str(text.as_str())?;
                if v["type"] != "message" {
                    continue;
                }
                let sent: u64 = v["text"].as_str().context("text")?.parse()?;
                let now = Instant::now();
                let us = now.duration_since(epoch).as_micros() as u64;
                if let Some(h) = tally.latency_us.borrow_mut().as_mut() {
                    h.record(us.saturating_sub(sent).max(1))?;
                }
                tally.received.set(tally.received.get() + 1);
                tally.last.set(Some(now));
            }
            anyhow::Ok(())
        }));
    }
    let mut sender = sender.context("no clients")?;
    for (name, pace) in [
        ("burst", None),
        ("paced", Some(Duration::from_secs(1) / rate)),
    ] {
        tally.received.set(0);
        *tally.latency_us.borrow_mut() = Some(Histogram::new(3)?);
        let start = Instant::now();
        for _ in 0..messages {
            let sent = Instant::now().duration_since(epoch).as_micros();
            let text = format!(r#"{{"type":"message","text":"{sent}"}}"#);
            sender.send(Message::Text(text.into())).await?;
            if let Some(p) = pace {
                tokio::time::sleep(p).await;
            }
        }
        let expected = (clients * messages) as u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while tally.received.get() < expected {
            if Instant::now() > deadline {
                bail!(
                    "{name}: only {} of {expected} deliveries",
                    tally.received.get()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = tally
            .last
            .get()
            .context("a delivery")?
            .duration_since(start);
        let h = tally.latency_us.borrow_mut().take().context("histogram")?;
        fig(&format!("ws_{name}_delivered"), expected as f64, "msgs");
        fig(
            &format!("ws_{name}_deliveries_per_s"),
            expected as f64 / took.as_secs_f64(),
            "msgs/s",
        );
        fig(
            &format!("ws_{name}_p50_ms"),
            h.value_at_quantile(0.5) as f64 / 1000.0,
            "ms",
        );
        fig(
            &format!("ws_{name}_p99_ms"),
            h.value_at_quantile(0.99) as f64 / 1000.0,
            "ms",
        );
    }
    for r in readers {
        r.abort();
    }
    Ok(())
}

/// `connections` idle sockets in rooms of 10 whose objects have hibernated: resident memory
/// per connection.
pub async fn hibernated(connections: usize) -> Result<()> {
    let config = format!(
        "{}[class.limits]\nidle_timeout_ms = 1000\n",
        class("chat", "ChatRoom", &guest("chat_room"))
    );
    let s = Server::start(&config)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = s.rss_kib()?;
    let mut sockets = Vec::with_capacity(connections);
    for i in 0..connections {
        sockets.push(join(&s, &format!("room{}", i / 10), &format!("m{i}")).await?);
    }
    // Let every room leave memory; the sockets stay open.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if metric_value(s.addr, "holdfast_live_objects").await? == 0.0 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "rooms did not hibernate");
    }
    let open = metric_value(s.addr, "holdfast_websockets").await?;
    anyhow::ensure!(
        open as usize == connections,
        "{open} of {connections} sockets open"
    );
    let after = s.rss_kib()?;
    fig("ws_hibernated_connections", open, "sockets");
    fig(
        "ws_rss_per_hibernated_connection_kib",
        (after - before) as f64 / connections as f64,
        "KiB",
    );
    drop(sockets);
    Ok(())
}
