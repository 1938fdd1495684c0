//! `holdfast:object/hosting-context`: which of the objects an instance hosts the running event
//! is for.

use wasmtime::Result;

use crate::runtime::bindings::shared::hosting_context;
use crate::runtime::store_data::StoreData;

impl hosting_context::Host for StoreData {
    fn slot(&mut self) -> Result<u32> {
        Ok(self.slot)
    }
}
