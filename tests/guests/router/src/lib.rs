//! Test guest: a worker in Rust. Routes:
//! `POST /count/{name}` (calls `increment(1)` on caller/{name}), `ANY /object/{name}/{rest}`
//! (forwards the request to caller/{name} with stub.fetch), `GET /ip` (the client address the
//! host gave), `GET /var/{name}`, `GET /fail`, `GET /panic`, `GET /spin`.

use holdfast_sdk::{Env, Error, Method, Request, Response, Result, Worker, worker};
use serde_json::json;

#[worker]
struct Router {
    env: Env,
    /// Requests this instance served (shows that instances are reused).
    served: u64,
}

impl Worker for Router {
    fn new(env: Env) -> Self {
        Router { env, served: 0 }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        self.served += 1;
        let objects = self.env.binding("caller");
        match (req.method(), req.segments().as_slice()) {
            (Method::Post, ["count", name]) => {
                let value: i64 = objects.get_by_name(name)?.call("increment", (1,))?;
                Ok(Response::json(&json!({ "value": value })))
            }
            (_, ["object", name, rest @ ..]) => {
                let forwarded = Request::new(req.method(), format!("/{}", rest.join("/")))
                    .with_header("x-test", "from the worker")
                    .with_body(req.body().to_vec());
                Ok(objects.get_by_name(name)?.fetch(forwarded)?)
            }
            (Method::Get, ["http"]) => {
                let url = req.query("url").unwrap_or_default();
                Ok(match holdfast_sdk::fetch(Request::new(Method::Get, url)) {
                    Ok(r) => Response::json(&json!({
                        "status": r.status(),
                        "body": String::from_utf8_lossy(r.body()),
                    })),
                    Err(e) => Response::json(&json!({ "error": e.message })),
                })
            }
            (Method::Get, ["ip"]) => Ok(Response::json(&json!({
                "ip": req.header("cf-connecting-ip"),
                "served": self.served,
            }))),
            (Method::Get, ["var", name]) => Ok(Response::json(&self.env.var(name))),
            (Method::Get, ["fail"]) => Err(Error::msg("the worker failed on purpose")),
            (Method::Get, ["panic"]) => panic!("the worker panicked on purpose"),
            (Method::Get, ["spin"]) => loop {
                std::hint::black_box(self.served);
            },
            _ => Ok(Response::not_found()),
        }
    }
}
