//! `holdfast:object/worker-context`: a worker's request says it deferred work, so the host
//! runs `wait-until` after the response. A class's event has no such thing: from there it traps.

use wasmtime::Result;

use crate::runtime::bindings::worker::holdfast::object::worker_context;
use crate::runtime::store_data::{StoreData, WorkerData};

impl worker_context::Host for WorkerData {
    fn defer(&mut self) -> Result<()> {
        self.deferred = true;
        Ok(())
    }
}

impl worker_context::Host for StoreData {
    fn defer(&mut self) -> Result<()> {
        Err(wasmtime::format_err!(
            "worker-context.defer (ctx.waitUntil) is a worker's; an object's event ends with its own work"
        ))
    }
}
