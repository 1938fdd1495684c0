//! A guest's stdout and stderr: each complete line goes to the host's log (tracing), tagged with
//! the namespace and object; the last lines of stderr are kept so that a trap's error can say
//! what the guest printed (a Rust panic prints its message there).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Most bytes of stderr kept for a trap message.
const TAIL: usize = 2048;
/// A line longer than this is logged in pieces.
const MAX_LINE: usize = 16 * 1024;

/// Which stream.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug)]
struct Buffers {
    /// `namespace/id-or-name` of the object whose event runs, for log lines.
    tag: Arc<str>,
    /// The incomplete last line.
    line: Vec<u8>,
    /// Recent stderr output, at most `TAIL` bytes, cleared at each event start.
    tail: Vec<u8>,
}

/// One object's output stream (cheap to clone; clones share buffers).
#[derive(Clone, Debug)]
pub struct GuestOutput {
    stream: Stream,
    /// Shared by the WASI stream objects of this store; the mutex is held only to append bytes.
    buf: Arc<Mutex<Buffers>>,
}

impl GuestOutput {
    pub fn new(stream: Stream, tag: Arc<str>) -> Self {
        GuestOutput {
            stream,
            buf: Arc::new(Mutex::new(Buffers {
                tag,
                line: Vec::new(),
                tail: Vec::new(),
            })),
        }
    }

    /// Tags the next lines with `tag` (an instance hosting many objects: the running one).
    pub fn set_tag(&self, tag: Arc<str>) {
        self.buf.lock().expect("guest output lock").tag = tag;
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
                self.emit(&b.tag, &line);
                if byte == b'\n' {
                    continue;
                }
            }
            b.line.push(byte);
        }
    }

    fn emit(&self, tag: &str, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        match self.stream {
            Stream::Stdout => tracing::info!(target: "guest", object = %tag, "{text}"),
            Stream::Stderr => tracing::warn!(target: "guest", object = %tag, "{text}"),
        }
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
