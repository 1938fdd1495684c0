//! A guest's stdout and stderr: each complete line goes to the host's log (tracing), tagged with
//! the namespace and object, and to the object's ring and the live feed of [`Logs`]; the last
//! lines of stderr are kept so that a trap's error can say what the guest printed (a Rust panic
//! prints its message there).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::logs::{LogSource, Logs};

/// Most bytes of stderr kept for a trap message.
const TAIL: usize = 2048;
/// A line longer than this is logged in pieces.
const MAX_LINE: usize = 16 * 1024;

pub use crate::logs::Stream;

struct Buffers {
    /// The object whose event runs (or the worker), for log lines.
    source: LogSource,
    /// The incomplete last line.
    line: Vec<u8>,
    /// Recent stderr output, at most `TAIL` bytes, cleared at each event start.
    tail: Vec<u8>,
}

/// One object's output stream (cheap to clone; clones share buffers).
#[derive(Clone)]
pub struct GuestOutput {
    stream: Stream,
    logs: Arc<Logs>,
    /// Shared by the WASI stream objects of this store; the mutex is held only to append bytes.
    buf: Arc<Mutex<Buffers>>,
}

impl GuestOutput {
    pub fn new(stream: Stream, source: LogSource, logs: Arc<Logs>) -> Self {
        GuestOutput {
            stream,
            logs,
            buf: Arc::new(Mutex::new(Buffers {
                source,
                line: Vec::new(),
                tail: Vec::new(),
            })),
        }
    }

    /// Attributes the next lines to `source` (an instance hosting many objects: the running one).
    pub fn set_source(&self, source: LogSource) {
        self.buf.lock().expect("guest output lock").source = source;
    }

    /// Forgets the kept stderr (called when an event starts).
    pub fn clear_tail(&self) {
        self.buf.lock().expect("guest output lock").tail.clear();
    }

    /// What the guest wrote to stderr during the current event (lossy UTF-8, trimmed).
    pub fn tail(&self) -> String {
        let b = self.buf.lock().expect("guest output lock");
        let mut s = String::from_utf8_lossy(&b.tail).into_owned();
        if !b.line.is_empty() {
            s.push_str(&String::from_utf8_lossy(&b.line));
        }
        s.trim().to_owned()
    }

    fn write(&self, bytes: &[u8]) {
        let mut b = self.buf.lock().expect("guest output lock");
        if matches!(self.stream, Stream::Stderr) {
            b.tail.extend_from_slice(bytes);
            if b.tail.len() > TAIL {
                let cut = b.tail.len() - TAIL;
                b.tail.drain(..cut);
            }
        }
        for &byte in bytes {
            if byte == b'\n' || b.line.len() >= MAX_LINE {
                let line = std::mem::take(&mut b.line);
                self.emit(&b.source, &line);
                if byte == b'\n' {
                    continue;
                }
            }
            b.line.push(byte);
        }
    }

    fn emit(&self, source: &LogSource, line: &[u8]) {
        let text = String::from_utf8_lossy(line).into_owned();
        let tag = &source.label;
        match self.stream {
            Stream::Stdout => tracing::info!(target: "guest", object = %tag, "{text}"),
            Stream::Stderr => tracing::warn!(target: "guest", object = %tag, "{text}"),
        }
        self.logs.record(source, self.stream, text);
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        GuestOutput::write(self, &bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        GuestOutput::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
