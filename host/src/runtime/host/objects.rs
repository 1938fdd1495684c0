//! `holdfast:object/objects`: the namespaces of this host and their IDs.

use wasmtime::Result;

use crate::runtime::bindings::objects;
use crate::runtime::store_data::Reach;

impl objects::Host for Reach {
    fn namespaces(&mut self) -> Result<Vec<String>> {
        Ok(self.namespaces.names())
    }

    fn id_from_name(
        &mut self,
        namespace: String,
        name: String,
    ) -> Result<std::result::Result<String, String>> {
        Ok(self
            .namespaces
            .key(&namespace)
            .map(|k| k.id_from_name(&name).to_string())
            .map_err(|e| e.to_string()))
    }

    fn new_unique_id(&mut self, namespace: String) -> Result<std::result::Result<String, String>> {
        Ok(self
            .namespaces
            .key(&namespace)
            .map(|k| k.new_unique_id().to_string())
            .map_err(|e| e.to_string()))
    }

    fn id_from_string(
        &mut self,
        namespace: String,
        id: String,
    ) -> Result<std::result::Result<String, String>> {
        Ok(self
            .namespaces
            .parse(&namespace, &id)
            .map(|id| id.to_string())
            .map_err(|e| e.to_string()))
    }
}
