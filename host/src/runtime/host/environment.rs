//! `holdfast:object/environment`: the configured vars.

use wasmtime::Result;

use crate::runtime::bindings::environment;
use crate::runtime::store_data::Reach;

impl environment::Host for Reach {
    fn vars(&mut self) -> Result<Vec<(String, String)>> {
        Ok(self.vars.to_vec())
    }
}
