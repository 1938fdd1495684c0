//! Test guest for calls between objects. `POST /run` takes a script (a JSON array of steps) and
//! answers the list of the steps' results; the public method `run` does the same, so scripts
//! nest: a step can call another object's `run` with a script of its own.
//!
//! Steps: `{"call": [ns, name, method, args]}` (a failed call's result is
//! `{"error": {"kind", "message"}}` and the script goes on), `{"fetch": [ns, name, path]}`,
//! `{"call_id": [ns, id, method, args]}` (by ID), `{"id": [ns, name]}`, `{"put": [key, value]}`, `{"get": key}`, `{"sleep": ms}` (waits without using CPU),
//! `{"http": url}` (holdfast_sdk::fetch: `{status, body}` or `{error: {kind, message}}`),
//! `{"spin": true}` (runs until the CPU limit), `{"fail": message}` (fails the event),
//! `{"panic": message}`, `{"instance": true}` (this instance's serial), and
//! `{"loop": [ns, name, n]}` (n calls of `get`; answers the median and p99 per call in ns),
//! `{"cycle_loop": n}` (n calls of itself, each refused as a cycle; the same figures).

use std::time::{Duration, Instant};

use holdfast_sdk::{
    CallError, DurableObject, Error, Method, Request, Response, Result, State, durable_object,
    methods,
};
use serde_json::{Value, json};

#[durable_object]
struct Caller {
    state: State,
    /// A random number drawn at construction: tells one instance from the next.
    serial: u64,
}

impl DurableObject for Caller {
    fn new(state: State) -> Self {
        let serial = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Caller { state, serial }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        match (req.method(), req.segments().as_slice()) {
            (Method::Post, ["run"]) => {
                let steps: Vec<Value> = req.json()?;
                Ok(Response::json(&self.run(steps)?))
            }
            (Method::Get, ["value"]) => Ok(Response::json(&self.get())),
            (Method::Post, ["increment"]) => {
                Ok(Response::json(&json!({ "value": self.increment(1)? })))
            }
            (Method::Get, ["echo", rest @ ..]) => Ok(Response::json(&json!({
                "object": self.state.name(),
                "path": rest.join("/"),
                "header": req.header("x-test"),
            }))),
            (Method::Get, ["status", code]) => {
                Ok(Response::error(code.parse().unwrap_or(500), "as asked"))
            }
            _ => Ok(Response::not_found()),
        }
    }
}

/// `{"calls", "p50_ns", "p99_ns"}` of per-call times in ns (at least one).
fn percentiles(mut times: Vec<u64>) -> Value {
    times.sort_unstable();
    let n = times.len();
    json!({ "calls": n, "p50_ns": times[n / 2], "p99_ns": times[(n * 99 / 100).min(n - 1)] })
}

fn error_value(e: &CallError) -> Value {
    json!({ "error": { "kind": format!("{:?}", e.kind), "message": e.message } })
}

#[methods]
impl Caller {
    /// Adds `by` to the counter and returns the new value.
    pub fn increment(&mut self, by: i64) -> Result<i64> {
        let storage = self.state.storage();
        let value = storage.get::<i64>("value")?.unwrap_or(0) + by;
        storage.put("value", &value)?;
        Ok(value)
    }

    /// The counter.
    pub fn get(&self) -> i64 {
        self.state
            .storage()
            .get("value")
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Concatenates its arguments (several parameters of several types).
    pub fn describe(&self, text: String, n: u32, flag: bool) -> String {
        format!("{text}:{n}:{flag}")
    }

    /// Runs a script (see the crate's documentation).
    pub fn run(&mut self, steps: Vec<Value>) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for step in steps {
            out.push(self.step(step)?);
        }
        Ok(out)
    }

    /// Not exposed: private.
    fn step(&mut self, step: Value) -> Result<Value> {
        let Value::Object(map) = step else {
            return Err(Error::msg("a step is an object"));
        };
        let (op, arg) = map
            .into_iter()
            .next()
            .ok_or_else(|| Error::msg("empty step"))?;
        let storage = self.state.storage();
        Ok(match (op.as_str(), arg) {
            ("call", Value::Array(a)) if a.len() == 4 => {
                let ns = a[0].as_str().unwrap_or_default();
                let name = a[1].as_str().unwrap_or_default();
                let method = a[2].as_str().unwrap_or_default();
                let stub = self.state.binding(ns).get_by_name(name)?;
                match stub.call::<_, Value>(method, a[3].clone()) {
                    Ok(v) => json!({ "ok": v }),
                    Err(e) => error_value(&e),
                }
            }
            ("call_id", Value::Array(a)) if a.len() == 4 => {
                let ns = a[0].as_str().unwrap_or_default();
                let id = a[1].as_str().unwrap_or_default();
                let method = a[2].as_str().unwrap_or_default();
                match self
                    .state
                    .binding(ns)
                    .get(id)
                    .call::<_, Value>(method, a[3].clone())
                {
                    Ok(v) => json!({ "ok": v }),
                    Err(e) => error_value(&e),
                }
            }
            ("id", Value::Array(a)) if a.len() == 2 => {
                let ns = a[0].as_str().unwrap_or_default();
                json!(
                    self.state
                        .binding(ns)
                        .id_from_name(a[1].as_str().unwrap_or_default())?
                )
            }
            ("fetch", Value::Array(a)) if a.len() == 3 => {
                let ns = a[0].as_str().unwrap_or_default();
                let name = a[1].as_str().unwrap_or_default();
                let path = a[2].as_str().unwrap_or_default();
                let stub = self.state.binding(ns).get_by_name(name)?;
                let req = Request::new(Method::Get, path).with_header("x-test", "relayed");
                match stub.fetch(req) {
                    Ok(r) => json!({
                        "status": r.status(),
                        "body": String::from_utf8_lossy(r.body()),
                    }),
                    Err(e) => error_value(&e),
                }
            }
            ("loop", Value::Array(a)) if a.len() == 3 => {
                let ns = a[0].as_str().unwrap_or_default();
                let name = a[1].as_str().unwrap_or_default();
                let n = a[2].as_u64().unwrap_or(1).max(1) as usize;
                let stub = self.state.binding(ns).get_by_name(name)?;
                let mut times = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    stub.call::<_, i64>("get", ())?;
                    times.push(t.elapsed().as_nanos() as u64);
                }
                percentiles(times)
            }
            ("cycle_loop", Value::Number(n)) => {
                // Calls itself n times: each call is refused as a cycle; times the refusals.
                let n = n.as_u64().unwrap_or(1).max(1) as usize;
                let me = self
                    .state
                    .binding(&self.state.namespace())
                    .get(&self.state.id());
                let mut times = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    let r = me.call::<_, i64>("get", ());
                    times.push(t.elapsed().as_nanos() as u64);
                    if !matches!(&r, Err(e) if e.kind == holdfast_sdk::CallErrorKind::Cycle) {
                        return Err(Error::msg(format!("expected a cycle, got {r:?}")));
                    }
                }
                percentiles(times)
            }
            ("put", Value::Array(a)) if a.len() == 2 => {
                storage.put(a[0].as_str().unwrap_or_default(), &a[1])?;
                Value::Null
            }
            ("get", Value::String(k)) => storage.get::<Value>(&k)?.unwrap_or(Value::Null),
            ("http", Value::String(url)) => {
                match holdfast_sdk::fetch(Request::new(Method::Get, url)) {
                    Ok(r) => {
                        json!({ "status": r.status(), "body": String::from_utf8_lossy(r.body()) })
                    }
                    Err(e) => {
                        json!({ "error": { "kind": format!("{:?}", e.kind), "message": e.message } })
                    }
                }
            }
            ("sleep", Value::Number(ms)) => {
                std::thread::sleep(Duration::from_millis(ms.as_u64().unwrap_or(0)));
                Value::Null
            }
            ("spin", _) => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            ("fail", Value::String(m)) => return Err(Error::msg(m)),
            ("panic", Value::String(m)) => panic!("{m}"),
            ("instance", _) => json!(self.serial),
            (op, arg) => return Err(Error::msg(format!("bad step {op}: {arg}"))),
        })
    }
}
