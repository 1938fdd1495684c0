//! A durable counter per name: the Holdfast tutorial example.
//!
//! The host serves each object under `/counter/{name}`; paths below are relative to it.
//!
//! | Request                              | Response                               |
//! |--------------------------------------|----------------------------------------|
//! | `GET /`                              | `{"value": n}` (0 if never written)    |
//! | `POST /increment[?amount=k]`         | `{"value": n}`, the new value          |
//! | `POST /decrement[?amount=k]`         | `{"value": n}`, the new value          |
//! | `POST /reset`                        | `{"value": 0}`                         |
//! | a non-integer `amount`, or overflow  | `400 {"error": "..."}`                 |
//! | anything else                        | `404 {"error": "not found"}`           |

use holdfast_sdk::{DurableObject, Method, Request, Response, Result, State, durable_object};
use serde::Serialize;

/// The only storage key: the current value, an `i64`.
const KEY: &str = "value";

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
        let current: i64 = storage.get(KEY)?.unwrap_or(0);

        let new = match (req.method(), req.segments().as_slice()) {
            (Method::Get, []) => return Ok(Response::json(&Value { value: current })),
            (Method::Post, ["increment"]) => match amount(&req) {
                Ok(amount) => current.checked_add(amount),
                Err(response) => return Ok(response),
            },
            (Method::Post, ["decrement"]) => match amount(&req) {
                Ok(amount) => current.checked_sub(amount),
                Err(response) => return Ok(response),
            },
            (Method::Post, ["reset"]) => Some(0),
            _ => return Ok(Response::not_found()),
        };
        let Some(new) = new else {
            return Ok(Response::error(400, "the counter would overflow"));
        };

        // Committed atomically with this request; the response is sent after the commit.
        storage.put(KEY, &new)?;
        Ok(Response::json(&Value { value: new }))
    }
}

/// The `amount` query parameter (default 1), or a 400 response saying what is wrong with it.
fn amount(req: &Request) -> std::result::Result<i64, Response> {
    match req.query("amount") {
        None => Ok(1),
        Some(text) => text
            .parse()
            .map_err(|_| Response::error(400, format!("amount must be an integer, got `{text}`"))),
    }
}
