//! The bank's worker: every HTTP request arrives here and goes to the objects by RPC.
//!
//! ```text
//! GET  /accounts/{name}              {"name", "balance"}
//! POST /accounts/{name}/deposit      {"cents"}        → {"name", "balance"}
//! POST /accounts/{name}/withdraw     {"cents"}        → {"name", "balance"}
//! POST /accounts/{name}/transfer     {"to", "cents"}  → {"name", "balance"}
//! GET  /audit?names=a,b,...          the Python auditor's report over those accounts
//! ```
//!
//! An account's refusal (insufficient funds, a bad amount, a transfer to itself) is 409 with
//! the account's message; a malformed request is 400.

use holdfast_sdk::{
    CallError, CallErrorKind, Env, Method, Request, Response, Result, Worker, worker,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[worker]
struct Gateway {
    env: Env,
}

#[derive(Deserialize)]
struct Amount {
    cents: i64,
}

#[derive(Deserialize)]
struct Transfer {
    to: String,
    cents: i64,
}

impl Worker for Gateway {
    fn new(env: Env) -> Self {
        Gateway { env }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        let accounts = self.env.binding("accounts");
        let answer = |name: &str, r: std::result::Result<i64, CallError>| match r {
            Ok(balance) => Response::json(&json!({ "name": name, "balance": balance })),
            Err(e) => refused(&e),
        };
        Ok(match (req.method(), req.segments().as_slice()) {
            (Method::Get, ["accounts", name]) => {
                answer(name, accounts.get_by_name(name)?.call("balance", ()))
            }
            (Method::Post, ["accounts", name, op @ ("deposit" | "withdraw")]) => {
                let Ok(a) = serde_json::from_slice::<Amount>(req.body()) else {
                    return Ok(bad_request("expected {\"cents\": n}"));
                };
                answer(name, accounts.get_by_name(name)?.call(op, (a.cents,)))
            }
            (Method::Post, ["accounts", name, "transfer"]) => {
                let Ok(t) = serde_json::from_slice::<Transfer>(req.body()) else {
                    return Ok(bad_request("expected {\"to\": name, \"cents\": n}"));
                };
                answer(
                    name,
                    accounts
                        .get_by_name(name)?
                        .call("transfer", (t.to, t.cents)),
                )
            }
            (Method::Get, ["audit"]) => {
                let names: Vec<String> = req
                    .query("names")
                    .unwrap_or_default()
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                let auditor = self.env.binding("auditor").get_by_name("main")?;
                match auditor.call::<_, Value>("audit", (names,)) {
                    Ok(report) => Response::json(&report),
                    Err(e) => refused(&e),
                }
            }
            _ => Response::json(&json!({ "error": "not found" })).with_status(404),
        })
    }
}

fn bad_request(message: &str) -> Response {
    Response::json(&json!({ "error": message })).with_status(400)
}

/// An object's refusal: 409 with its message; a host-side failure (overloaded, timed out): 503.
fn refused(e: &CallError) -> Response {
    let status = match e.kind {
        CallErrorKind::CalleeFailed | CallErrorKind::Cycle | CallErrorKind::NoSuchMethod => 409,
        CallErrorKind::Overloaded | CallErrorKind::Timeout | CallErrorKind::Unavailable => 503,
        _ => 500,
    };
    Response::json(&json!({ "error": e.message })).with_status(status)
}
