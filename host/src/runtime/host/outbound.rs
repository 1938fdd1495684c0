//! `holdfast:object/outbound`: HTTP requests outside Holdfast, checked against the allow-list
//! and sent by the class's (or worker's) [`Egress`](crate::runtime::egress::Egress); the guest's
//! fiber waits without using its CPU budget.

use wasmtime::Result;

use crate::runtime::bindings::{outbound, types};
use crate::runtime::store_data::Reach;

impl outbound::Host for Reach {
    async fn fetch(
        &mut self,
        req: types::Request,
    ) -> Result<std::result::Result<types::Response, outbound::FetchError>> {
        let _waiting = self.waiting();
        Ok(self.egress.fetch(req).await)
    }
}
