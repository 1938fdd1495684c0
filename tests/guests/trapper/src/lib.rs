//! Test guest for the integration tests: misbehaves on purpose (traps, errors, endless loops,
//! memory hogs) and probes every storage, identity and alarm call of the contract.
//!
//! Every route answers JSON. A missing or malformed query parameter is a `400 {"error": ...}`; a
//! refused storage call is a `400 {"error": message, "kind": "key-too-large" | ...}`, returned as
//! `Ok` (the event's earlier writes still commit).

use holdfast_sdk::{
    AlarmInfo, DurableObject, Error, ListOptions, Method, Request, Response, Result, State,
    StorageError, durable_object,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[durable_object]
struct Trapper {
    state: State,
    /// Memory kept alive by `/alloc`.
    hoard: Vec<Vec<u8>>,
    /// Items `/remember` keeps in memory, loaded from storage on first use (compared with what
    /// storage kept).
    memory: Option<Vec<String>>,
}

/// The query parameter `$name` parsed as the type of the binding, or an early `Ok(400)`.
macro_rules! param {
    ($req:expr, $name:literal) => {
        match param(&$req, $name) {
            Ok(value) => value,
            Err(response) => return Ok(response),
        }
    };
}

impl DurableObject for Trapper {
    fn new(state: State) -> Self {
        Trapper {
            state,
            hoard: Vec::new(),
            memory: None,
        }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let ok = || Response::json(&json!({ "ok": true }));
        match (req.method(), req.segments().as_slice()) {
            (Method::Post, ["write-then-trap"]) => {
                let key: String = param!(req, "key");
                storage.put_bytes(&key, b"x")?;
                panic!("deliberate trap after writing {key}");
            }
            (Method::Post, ["write-then-err"]) => {
                let key: String = param!(req, "key");
                storage.put_bytes(&key, b"x")?;
                Err(Error::msg("deliberate error after writing"))
            }
            (Method::Get, ["get"]) => {
                let key: String = param!(req, "key");
                let value = storage.get_bytes(&key)?.map(utf8);
                Ok(Response::json(&json!({ "value": value })))
            }
            (Method::Post, ["put"]) => {
                let (key, len): (String, usize) = (param!(req, "key"), param!(req, "len"));
                Ok(reply(
                    storage.put_bytes(&key, &vec![b'a'; len]).map(|()| ok()),
                ))
            }
            (Method::Post, ["put-key-len"]) => {
                let len: usize = param!(req, "len");
                Ok(reply(
                    storage.put_bytes(&"k".repeat(len), b"v").map(|()| ok()),
                ))
            }
            (Method::Post, ["put-many"]) => {
                let entries: Vec<_> = many_keys(param!(req, "count"))
                    .into_iter()
                    .map(|key| (key, b"v"))
                    .collect();
                Ok(reply(storage.put_many_bytes(&entries).map(|()| ok())))
            }
            (Method::Post, ["delete-many"]) => {
                let keys = many_keys(param!(req, "count"));
                Ok(reply(storage.delete_many(&keys).map(|_| ok())))
            }
            (Method::Post, ["get-many"]) => {
                let keys = many_keys(param!(req, "count"));
                Ok(reply(storage.get_many_bytes(&keys).map(|values| {
                    let found = values.iter().filter(|value| value.is_some()).count();
                    Response::json(&json!({ "found": found }))
                })))
            }
            (Method::Post, ["ops"]) => match req.json::<Vec<Op>>() {
                Ok(ops) => Ok(reply(run_ops(&self.state, ops))),
                Err(error) => Ok(Response::error(400, error)),
            },
            (Method::Get, ["whoami"]) => Ok(Response::json(&json!({
                "id": self.state.id(),
                "name": self.state.name(),
                "namespace": self.state.namespace(),
            }))),
            (Method::Get, ["id-from-name"]) => {
                let (ns, name): (String, String) = (param!(req, "ns"), param!(req, "name"));
                Ok(id_reply(self.state.id_from_name(&ns, &name)))
            }
            (Method::Get, ["id-from-string"]) => {
                let (ns, id): (String, String) = (param!(req, "ns"), param!(req, "id"));
                Ok(id_reply(self.state.id_from_string(&ns, &id)))
            }
            (Method::Get, ["new-unique-id"]) => {
                let ns: String = param!(req, "ns");
                Ok(id_reply(self.state.new_unique_id(&ns)))
            }
            (Method::Post, ["alarm"]) => {
                storage.set_alarm(param!(req, "at"));
                Ok(ok())
            }
            (Method::Get, ["ws-accept-then-trap"]) => {
                self.state.accept_websocket(&["doomed"])?;
                panic!("deliberate trap after accepting a WebSocket");
            }
            (Method::Get, ["ws-accept"]) => {
                // `tags` comma-separated; `pinned` keeps the object resident; `attachment`
                // bytes of attachment to set. A refused call answers 400 instead of upgrading.
                let tags: String = param!(req, "tags");
                let tags: Vec<&str> = tags.split(',').filter(|t| !t.is_empty()).collect();
                let pinned = req.query("pinned").is_some();
                let ws = if pinned {
                    self.state.accept_websocket_pinned(&tags)
                } else {
                    self.state.accept_websocket(&tags)
                };
                let ws = match ws {
                    Ok(ws) => ws,
                    Err(e) => return Ok(Response::error(400, e)),
                };
                if let Some(n) = req.query("attachment") {
                    // A refused attachment fails the event: the socket is not kept.
                    ws.set_attachment(&"a".repeat(n.parse().unwrap_or(0)))?;
                }
                Ok(Response::websocket_accepted())
            }
            (Method::Get, ["ws-count"]) => Ok(Response::json(&json!({
                "sockets": self.state.websockets().len()
            }))),
            (Method::Post, ["alarm-then-trap"]) => {
                storage.set_alarm(param!(req, "at"));
                panic!("deliberate trap after setting the alarm");
            }
            (Method::Post, ["put-huge"]) => {
                // `count` values of the largest allowed size, all in this one event.
                let count: usize = param!(req, "count");
                let value = vec![b'h'; 128 * 1024];
                Ok(reply(
                    (0..count)
                        .try_for_each(|i| storage.put_bytes(&format!("huge{i}"), &value))
                        .map(|()| ok()),
                ))
            }
            (Method::Get, ["alarm"]) => {
                Ok(Response::json(&json!({ "alarm": storage.get_alarm() })))
            }
            (Method::Delete, ["alarm"]) => {
                storage.delete_alarm();
                Ok(ok())
            }
            (Method::Post, ["spin"]) => {
                let mut spins = 0u64;
                loop {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            (Method::Post, ["alloc"]) => {
                let mb: usize = param!(req, "mb");
                let Some(len) = mb.checked_mul(1 << 20) else {
                    return Ok(Response::error(
                        400,
                        format!("{mb} MiB do not fit in memory"),
                    ));
                };
                let mut block = vec![0u8; len];
                // Write every page so the memory is really committed.
                for byte in block.iter_mut().step_by(4096) {
                    *byte = 1;
                }
                self.hoard.push(std::hint::black_box(block));
                Ok(ok())
            }
            (Method::Get, ["get-slow"]) => {
                // Reads, then keeps running for `ms` (so a commit can fail meanwhile).
                let (key, ms): (String, u64) = (param!(req, "key"), param!(req, "ms"));
                let value = storage.get_bytes(&key)?.map(utf8);
                let start = std::time::Instant::now();
                while start.elapsed() < std::time::Duration::from_millis(ms) {
                    std::hint::spin_loop();
                }
                Ok(Response::json(&json!({ "value": value })))
            }
            (Method::Post, ["respond"]) => {
                // Writes, then answers with a status the host may refuse.
                let (key, status): (String, u16) = (param!(req, "key"), param!(req, "status"));
                storage.put_bytes(&key, b"x")?;
                Ok(Response::json(&json!({ "status": status })).with_status(status))
            }
            (Method::Post, ["respond-bad-header"]) => {
                let key: String = param!(req, "key");
                storage.put_bytes(&key, b"x")?;
                Ok(ok().with_header("bad header", "x"))
            }
            (Method::Post, ["remember"]) => {
                // Pushes in memory first, then stores; `fail=1` fails the event afterwards.
                let (item, fail): (String, u8) = (param!(req, "item"), param!(req, "fail"));
                if self.memory.is_none() {
                    self.memory = Some(storage.get("remembered")?.unwrap_or_default());
                }
                let memory = self.memory.get_or_insert_default();
                memory.push(item);
                storage.put("remembered", memory)?;
                if fail == 1 {
                    return Err(Error::msg("failed after remembering"));
                }
                Ok(ok())
            }
            (Method::Get, ["remember"]) => {
                let stored: Vec<String> = storage.get("remembered")?.unwrap_or_default();
                let memory = self.memory.get_or_insert_with(|| stored.clone());
                Ok(Response::json(
                    &json!({ "memory": memory, "stored": stored }),
                ))
            }
            (Method::Post, ["fill"]) => {
                // `n` puts of `len`-byte values, one call each: runs into the event's budget.
                let (n, len): (usize, usize) = (param!(req, "n"), param!(req, "len"));
                for i in 0..n {
                    if let Err(e) = storage.put_bytes(&format!("fill-{i:06}"), &vec![b'x'; len]) {
                        return Ok(reply(Err(e)));
                    }
                }
                Ok(ok())
            }
            (Method::Post, ["stdout"]) => {
                let text: String = param!(req, "text");
                println!("{text}");
                eprintln!("{text}");
                Ok(ok())
            }
            _ => Ok(Response::not_found()),
        }
    }

    /// Counts deliveries under `alarms_seen` and records the last [`AlarmInfo`] under
    /// `last_alarm` (both JSON); fails, discarding both writes, while the retry count is below
    /// the number stored (as text) under `alarm_fail`.
    fn alarm(&mut self, info: AlarmInfo) -> Result<()> {
        let storage = self.state.storage();
        let seen: u64 = storage.get("alarms_seen")?.unwrap_or(0);
        storage.put("alarms_seen", &(seen + 1))?;
        storage.put("last_alarm", &info)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        storage.put("alarm_fired_at", &now)?;
        let fail_until: u32 = storage
            .get_bytes("alarm_fail")?
            .and_then(|v| String::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0);
        if info.retry_count < fail_until {
            return Err(Error::msg(format!(
                "deliberate alarm failure at retry {}",
                info.retry_count
            )));
        }
        Ok(())
    }
}

/// One step of `POST /ops`. Values are UTF-8 strings stored as raw bytes.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Op {
    Put {
        key: String,
        value: String,
    },
    Get {
        key: String,
    },
    Delete {
        key: String,
    },
    DeleteAll,
    List {
        start: Option<String>,
        start_after: Option<String>,
        end: Option<String>,
        prefix: Option<String>,
        #[serde(default)]
        reverse: bool,
        limit: Option<u32>,
    },
}

/// Runs `ops` in order: `{"results": [...]}` with one result per op, or the first refusal.
fn run_ops(state: &State, ops: Vec<Op>) -> std::result::Result<Response, StorageError> {
    let storage = state.storage();
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(match op {
            Op::Put { key, value } => {
                storage.put_bytes(&key, value.as_bytes())?;
                Value::Null
            }
            Op::Get { key } => json!(storage.get_bytes(&key)?.map(utf8)),
            Op::Delete { key } => json!(storage.delete(&key)?),
            Op::DeleteAll => {
                storage.delete_all();
                Value::Null
            }
            Op::List {
                start,
                start_after,
                end,
                prefix,
                reverse,
                limit,
            } => {
                let mut options = ListOptions::new().reverse(reverse);
                if let Some(start) = start {
                    options = options.start(start);
                }
                if let Some(start_after) = start_after {
                    options = options.start_after(start_after);
                }
                if let Some(end) = end {
                    options = options.end(end);
                }
                if let Some(prefix) = prefix {
                    options = options.prefix(prefix);
                }
                if let Some(limit) = limit {
                    options = options.limit(limit);
                }
                let entries = storage.list_bytes(options)?;
                json!(
                    entries
                        .into_iter()
                        .map(|(key, value)| json!([key, utf8(value)]))
                        .collect::<Vec<_>>()
                )
            }
        });
    }
    Ok(Response::json(&json!({ "results": results })))
}

/// The response of a storage probe: its own on success, `400 {"error", "kind"}` when refused.
fn reply(result: std::result::Result<Response, StorageError>) -> Response {
    result.unwrap_or_else(|error| {
        Response::json(&json!({ "error": error.message, "kind": error.kind.as_str() }))
            .with_status(400)
    })
}

/// `{"id": ...}`, or `400 {"error": ...}` when the host refused.
fn id_reply(result: Result<String>) -> Response {
    match result {
        Ok(id) => Response::json(&json!({ "id": id })),
        Err(error) => Response::error(400, error),
    }
}

/// The query parameter `name` parsed as `T`, or a 400 response saying what is wrong.
fn param<T: std::str::FromStr>(req: &Request, name: &str) -> std::result::Result<T, Response> {
    let text = req
        .query(name)
        .ok_or_else(|| Response::error(400, format!("missing query parameter `{name}`")))?;
    text.parse()
        .map_err(|_| Response::error(400, format!("invalid query parameter `{name}`: `{text}`")))
}

/// The keys `m0`, `m1`, ... of the `*-many` probes.
fn many_keys(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("m{i}")).collect()
}

fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}
