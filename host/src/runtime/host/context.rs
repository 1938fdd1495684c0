//! `holdfast:object/context`: who the running object is.

use wasmtime::Result;

use crate::runtime::bindings::context;
use crate::runtime::store_data::StoreData;

impl context::Host for StoreData {
    fn id(&mut self) -> Result<String> {
        Ok(self.identity.id.to_string())
    }

    fn name(&mut self) -> Result<Option<String>> {
        Ok(self.identity.name.clone())
    }

    fn namespace(&mut self) -> Result<String> {
        Ok(self.identity.binding.clone())
    }

    fn class_name(&mut self) -> Result<String> {
        Ok(self.identity.class.to_string())
    }
}
