//! `holdfast:object/calls`: a call to another object, handed to the [`Outbound`] port; the
//! guest's fiber waits (without running its CPU budget) until the answer may be released.
//!
//! [`Outbound`]: crate::runtime::Outbound

use wasmtime::Result;

use crate::runtime::bindings::{calls, types};
use crate::runtime::call_port::{CallBody, CallReply};
use crate::runtime::store_data::Reach;

type Answer<T> = Result<std::result::Result<T, calls::CallError>>;

fn wit_error(f: crate::runtime::CallFailure) -> calls::CallError {
    calls::CallError {
        kind: f.kind,
        message: f.message,
    }
}

impl calls::Host for Reach {
    async fn fetch(&mut self, to: types::Address, req: types::Request) -> Answer<types::Response> {
        let pending = self.outbound.call(self.caller(), to, CallBody::Fetch(req));
        let _waiting = self.waiting();
        Ok(match pending.await {
            Ok(CallReply::Response(r)) => Ok(r),
            Ok(CallReply::Value(_)) => unreachable!("a fetch is answered with a response"),
            Err(f) => Err(wit_error(f)),
        })
    }

    async fn call(&mut self, to: types::Address, method: String, args: Vec<u8>) -> Answer<Vec<u8>> {
        let pending = self
            .outbound
            .call(self.caller(), to, CallBody::Method { method, args });
        let _waiting = self.waiting();
        Ok(match pending.await {
            Ok(CallReply::Value(v)) => Ok(v),
            Ok(CallReply::Response(_)) => unreachable!("a method call is answered with a value"),
            Err(f) => Err(wit_error(f)),
        })
    }
}
