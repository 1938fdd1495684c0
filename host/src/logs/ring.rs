//! [`Logs`]: the per-object rings and the feed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whose output a line is: an object (its namespace and hex ID) or a worker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogSource {
    /// How messages name it: `namespace/name`, `namespace/id`, or `worker`.
    pub label: Arc<str>,
    /// `(namespace, hex id)` for an object; `None` for a worker.
    pub object: Option<(Arc<str>, Arc<str>)>,
}

/// One line a guest printed.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// Numbers every line of this process, from 1 (a gap in a feed is lines it skipped).
    pub seq: u64,
    /// Milliseconds since the Unix epoch when the line was complete.
    pub time_ms: i64,
    pub label: String,
    /// The object's namespace (`null` for a worker).
    pub namespace: Option<String>,
    /// The object's hex ID (`null` for a worker).
    pub id: Option<String>,
    pub stream: Stream,
    pub text: String,
}

/// How much is kept.
#[derive(Clone, Copy, Debug)]
pub struct LogBounds {
    /// Lines kept per object (the oldest goes first).
    pub lines_per_object: usize,
    /// Objects with a ring; past it, the ring of the object that printed least recently goes.
    pub objects: usize,
    /// Lines a feed's reader may fall behind before it skips (and is told how many it skipped).
    pub feed: usize,
}

impl Default for LogBounds {
    fn default() -> Self {
        LogBounds {
            lines_per_object: 100,
            objects: 1000,
            feed: 4096,
        }
    }
}

type ObjectName = (Arc<str>, Arc<str>);

#[derive(Default)]
struct Rings {
    next_seq: u64,
    by_object: HashMap<ObjectName, VecDeque<Arc<LogLine>>>,
    /// Each ring's newest line number → its object: the least recently printing ring is first.
    recency: BTreeMap<u64, ObjectName>,
}

/// Every object's recent lines and the live feed. Shared by every instance's output streams.
pub struct Logs {
    bounds: LogBounds,
    /// Held only to append a line or copy a ring out; never across an await.
    rings: Mutex<Rings>,
    /// The live feed; a reader that falls `bounds.feed` lines behind skips ahead.
    feed: broadcast::Sender<Arc<LogLine>>,
}

impl Logs {
    pub fn new(bounds: LogBounds) -> Logs {
        let (feed, _) = broadcast::channel(bounds.feed.max(1));
        Logs {
            bounds,
            rings: Mutex::new(Rings {
                next_seq: 1,
                ..Rings::default()
            }),
            feed,
        }
    }

    /// Records one complete line of `source`'s output.
    pub fn record(&self, source: &LogSource, stream: Stream, text: String) {
        let mut r = self.rings.lock().expect("log rings lock");
        let seq = r.next_seq;
        r.next_seq += 1;
        let line = Arc::new(LogLine {
            seq,
            time_ms: now_ms(),
            label: source.label.to_string(),
            namespace: source.object.as_ref().map(|o| o.0.to_string()),
            id: source.object.as_ref().map(|o| o.1.to_string()),
            stream,
            text,
        });
        if let Some(object) = &source.object {
            let ring = r.by_object.entry(object.clone()).or_default();
            let previous = ring.back().map(|l| l.seq);
            ring.push_back(line.clone());
            if ring.len() > self.bounds.lines_per_object {
                ring.pop_front();
            }
            if let Some(p) = previous {
                r.recency.remove(&p);
            }
            r.recency.insert(seq, object.clone());
            while r.by_object.len() > self.bounds.objects {
                let Some((_, oldest)) = r.recency.pop_first() else {
                    break;
                };
                r.by_object.remove(&oldest);
            }
        }
        drop(r);
        // No reader is not an error: the feed only serves whoever listens now.
        let _ = self.feed.send(line);
    }

    /// The kept lines of one object, oldest first.
    pub fn recent(&self, namespace: &str, id: &str) -> Vec<Arc<LogLine>> {
        let r = self.rings.lock().expect("log rings lock");
        r.by_object
            .get(&(Arc::from(namespace), Arc::from(id)))
            .map(|ring| ring.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every line from now on (see [`LogBounds::feed`] for a reader that falls behind).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogLine>> {
        self.feed.subscribe()
    }
}

impl Default for Logs {
    fn default() -> Self {
        Logs::new(LogBounds::default())
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(n: &str) -> LogSource {
        LogSource {
            label: format!("Ns/{n}").into(),
            object: Some(("Ns".into(), n.into())),
        }
    }

    #[test]
    fn a_ring_keeps_the_newest_lines_of_its_object() {
        let logs = Logs::new(LogBounds {
            lines_per_object: 3,
            objects: 10,
            feed: 16,
        });
        for i in 0..5 {
            logs.record(&object("a"), Stream::Stdout, format!("a{i}"));
        }
        logs.record(&object("b"), Stream::Stderr, "b0".into());
        let a: Vec<_> = logs
            .recent("Ns", "a")
            .iter()
            .map(|l| l.text.clone())
            .collect();
        assert_eq!(a, ["a2", "a3", "a4"]);
        assert_eq!(logs.recent("Ns", "b")[0].stream, Stream::Stderr);
        assert!(logs.recent("Ns", "c").is_empty());
    }

    #[test]
    fn past_the_object_bound_the_least_recently_printing_ring_goes() {
        let logs = Logs::new(LogBounds {
            lines_per_object: 3,
            objects: 2,
            feed: 16,
        });
        logs.record(&object("a"), Stream::Stdout, "1".into());
        logs.record(&object("b"), Stream::Stdout, "2".into());
        logs.record(&object("a"), Stream::Stdout, "3".into());
        logs.record(&object("c"), Stream::Stdout, "4".into());
        assert_eq!(logs.recent("Ns", "a").len(), 2);
        assert!(
            logs.recent("Ns", "b").is_empty(),
            "b printed least recently"
        );
        assert_eq!(logs.recent("Ns", "c").len(), 1);
    }

    #[test]
    fn a_reader_that_falls_behind_the_feed_is_told_how_far() {
        let logs = Logs::new(LogBounds {
            lines_per_object: 3,
            objects: 2,
            feed: 4,
        });
        let mut rx = logs.subscribe();
        for i in 0..10 {
            logs.record(&object("a"), Stream::Stdout, format!("{i}"));
        }
        match rx.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(n)) => assert_eq!(n, 6),
            other => panic!("expected a lag, got {other:?}"),
        }
        assert_eq!(rx.try_recv().expect("a line").text, "6");
    }
}
