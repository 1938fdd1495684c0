//! What every store carries, whatever runs in it (a class's instance or a worker's): WASI with
//! clocks, random and captured stdout/stderr only, the memory limiter, and the CPU budget of the
//! running call; and the setup, re-arming and trap description that go with them.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView};

use super::guest_log::{GuestOutput, Stream};
use crate::logs::{LogSource, Logs};

/// How often the epoch advances: the granularity of CPU deadlines and of guest yields.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(1);

/// Limits of one call into the guest (an event, a worker request).
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Epoch ticks (1 ms each) the guest's own code may run; see [`EPOCH_TICK`].
    pub cpu_ms: u64,
    pub memory_bytes: usize,
}

/// A memory growth past the class's limit (the trap's typed cause).
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit_bytes} bytes exceeded (growing to {desired} bytes)")]
pub struct MemoryLimitExceeded {
    pub limit_bytes: usize,
    pub desired: usize,
}

/// Traps growth past the class's memory limit with [`MemoryLimitExceeded`].
#[derive(Debug)]
struct Limiter {
    memory_bytes: usize,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(MemoryLimitExceeded {
                limit_bytes: self.memory_bytes,
                desired,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// The part of a store's data every kind of store has.
pub struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    /// The guest's stderr (its tail explains traps).
    stderr: GuestOutput,
    stdout: GuestOutput,
    /// Epoch ticks left before the running call is interrupted.
    ticks_left: u64,
}

impl Sandbox {
    /// A sandbox whose output lines are `source`'s (recorded in `logs`), with
    /// `limits.memory_bytes` of memory.
    pub fn new(source: LogSource, logs: &Arc<Logs>, limits: &CallLimits) -> Sandbox {
        let stderr = GuestOutput::new(Stream::Stderr, source.clone(), logs.clone());
        let stdout = GuestOutput::new(Stream::Stdout, source, logs.clone());
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        Sandbox {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes: limits.memory_bytes,
            },
            stderr,
            stdout,
            ticks_left: 0,
        }
    }

    /// Attributes the guest's next output lines to `source` (the object whose event runs next).
    pub fn set_source(&self, source: LogSource) {
        self.stdout.set_source(source.clone());
        self.stderr.set_source(source);
    }

    /// WASI's view of it (for `WasiView` of the store data).
    pub fn wasi_view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Store data with a [`Sandbox`].
pub trait Sandboxed: Send + 'static {
    fn sandbox(&mut self) -> &mut Sandbox;
    fn sandbox_ref(&self) -> &Sandbox;
}

/// A store for `data`: the memory limiter, and the CPU budget counted in epoch ticks while the
/// guest's code runs (it yields to tokio at each tick), armed for a first call.
pub fn new_store<T: Sandboxed>(
    engine: &wasmtime::Engine,
    data: T,
    limits: &CallLimits,
) -> Store<T> {
    let mut store = Store::new(engine, data);
    store.limiter(|d| &mut d.sandbox().limiter);
    store.epoch_deadline_callback(|mut ctx| {
        let s = ctx.data_mut().sandbox();
        if s.ticks_left == 0 {
            return Ok(UpdateDeadline::Interrupt);
        }
        s.ticks_left -= 1;
        Ok(UpdateDeadline::Yield(1))
    });
    arm(&mut store, limits);
    store
}

/// Re-arms the CPU deadline and clears the kept stderr before a call.
pub fn arm<T: Sandboxed>(store: &mut Store<T>, limits: &CallLimits) {
    let ticks = (limits.cpu_ms / EPOCH_TICK.as_millis() as u64).max(1);
    let s = store.data_mut().sandbox();
    s.ticks_left = ticks;
    s.stderr.clear_tail();
    store.set_epoch_deadline(1);
}

/// A trap as a sentence: which limit, if one, and what the guest printed to stderr.
pub fn describe<T: Sandboxed>(
    e: &wasmtime::Error,
    store: &Store<T>,
    limits: &CallLimits,
) -> String {
    let base = if let Some(m) = e.downcast_ref::<MemoryLimitExceeded>() {
        format!("exceeded the memory limit of {} MiB", m.limit_bytes >> 20)
    } else {
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                format!(
                    "exceeded the CPU time limit of {} ms per event",
                    limits.cpu_ms
                )
            }
            Some(Trap::StackOverflow) => "stack overflow".to_owned(),
            _ => format!("{e:#}").lines().next().unwrap_or("trap").to_owned(),
        }
    };
    let stderr = store.data().sandbox_ref().stderr.tail();
    let printed = stderr
        .lines()
        .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect::<Vec<_>>()
        .join(" ");
    if printed.is_empty() {
        base
    } else {
        format!("{base}; guest stderr: {printed}")
    }
}
