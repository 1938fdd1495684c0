//! A durable counter per name. `holdfast dev` serves each object under `/counter/{name}`:
//!
//! - `GET  /counter/{name}`           → `{"value": n}`
//! - `POST /counter/{name}/increment` → `{"value": n}`, the new value

use holdfast_sdk::{DurableObject, Method, Request, Response, Result, State, durable_object};
use serde::Serialize;

#[durable_object]
struct Counter {
    state: State,
}

#[derive(Serialize)]
struct Value {
    value: i64,
}

impl DurableObject for Counter {
    fn new(state: State) -> Self {
        Counter { state }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let value: i64 = storage.get("value")?.unwrap_or(0);
        match (req.method(), req.segments().as_slice()) {
            (Method::Get, []) => Ok(Response::json(&Value { value })),
            (Method::Post, ["increment"]) => {
                // Durable before the response leaves: the event is one transaction.
                storage.put("value", &(value + 1))?;
                Ok(Response::json(&Value { value: value + 1 }))
            }
            _ => Ok(Response::not_found()),
        }
    }
}
