//! Test guest for nested transactions: `POST /ops` runs a JSON script of storage calls, where
//! `{"tx": [...]}` runs its ops inside `Storage::transaction`.
//!
//! - `POST /ops` with a list of [`Op`]s: `{"results": [...]}` (one entry per `get`,
//!   `get_alarm`, `catch` and point-in-time recovery call); an error escaping the script fails the event (500 with it).
//! - `GET /all`: `{"entries": {key: value, ...}}`; `GET /alarm`: `{"alarm": ms or null}`.
//! - `alarm(info)` counts its deliveries under `alarms_seen`.

use holdfast_sdk::{
    AlarmInfo, DurableObject, Error, Method, Request, Response, Result, State, Storage,
    durable_object,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[durable_object]
struct Transactor {
    state: State,
}

/// One step of a script, written `{"put": ["k", 1]}`, `{"delete_all": null}`, ...
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Op {
    Put(String, Value),
    Get(String),
    Delete(String),
    DeleteAll,
    Alarm(i64),
    GetAlarm,
    DeleteAlarm,
    /// Returns `Err` with this message.
    Fail(String),
    /// Panics (traps the event) with this message.
    Panic(String),
    /// Runs the ops in `Storage::transaction`, which rolls them back if they fail.
    Tx(Vec<Op>),
    /// Runs the ops and records `{"caught": message, "kind": storage error kind or null}` if
    /// they fail, instead of failing.
    Catch(Vec<Op>),
    /// Records `Storage::get_current_bookmark`.
    Bookmark,
    /// Records `Storage::get_bookmark_for_time` of this time.
    BookmarkAt(i64),
    /// Records the undo bookmark of `Storage::on_next_session_restore_bookmark`.
    RestoreTo(String),
    /// Records `Storage::snapshot`.
    Snapshot,
    /// Records the undo bookmark of `Storage::on_next_session_restore`.
    RestoreSnapshot(String),
    /// `n` nested transactions, transaction `i` putting `depth{i}`.
    Nest(u32),
}

impl DurableObject for Transactor {
    fn new(state: State) -> Self {
        Transactor { state }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        let storage = self.state.storage();
        match (req.method(), req.segments().as_slice()) {
            (Method::Post, ["ops"]) => {
                let ops: Vec<Op> = match req.json() {
                    Ok(ops) => ops,
                    Err(error) => return Ok(Response::error(400, error)),
                };
                let mut results = Vec::new();
                run(&storage, ops, &mut results)?;
                Ok(Response::json(&json!({ "results": results })))
            }
            (Method::Get, ["all"]) => {
                let entries: Vec<(String, Value)> = storage.list(Default::default())?;
                let entries: Map<String, Value> = entries.into_iter().collect();
                Ok(Response::json(&json!({ "entries": entries })))
            }
            (Method::Get, ["alarm"]) => {
                Ok(Response::json(&json!({ "alarm": storage.get_alarm() })))
            }
            _ => Ok(Response::not_found()),
        }
    }

    fn alarm(&mut self, _info: AlarmInfo) -> Result<()> {
        let storage = self.state.storage();
        let seen: u64 = storage.get("alarms_seen")?.unwrap_or(0);
        storage.put("alarms_seen", &(seen + 1))
    }
}

fn run(storage: &Storage, ops: Vec<Op>, results: &mut Vec<Value>) -> Result<()> {
    for op in ops {
        match op {
            Op::Put(key, value) => storage.put(&key, &value)?,
            Op::Get(key) => results.push(storage.get::<Value>(&key)?.unwrap_or(Value::Null)),
            Op::Delete(key) => {
                storage.delete(&key)?;
            }
            Op::DeleteAll => storage.delete_all(),
            Op::Alarm(at) => storage.set_alarm(at),
            Op::GetAlarm => results.push(json!(storage.get_alarm())),
            Op::DeleteAlarm => storage.delete_alarm(),
            Op::Fail(message) => return Err(Error::msg(message)),
            Op::Panic(message) => panic!("{message}"),
            Op::Tx(ops) => storage.transaction(|tx| run(tx, ops, results))?,
            Op::Catch(ops) => {
                if let Err(error) = run(storage, ops, results) {
                    let kind = error.storage_error().map(|e| e.kind.as_str());
                    results.push(json!({ "caught": error.to_string(), "kind": kind }));
                }
            }
            Op::Nest(depth) => nest(storage, 1, depth)?,
            Op::Bookmark => results.push(json!(storage.get_current_bookmark()?)),
            Op::BookmarkAt(t) => results.push(json!(storage.get_bookmark_for_time(t)?)),
            Op::RestoreTo(b) => results.push(json!(storage.on_next_session_restore_bookmark(&b)?)),
            Op::Snapshot => results.push(json!(storage.snapshot()?)),
            Op::RestoreSnapshot(s) => results.push(json!(storage.on_next_session_restore(&s)?)),
        }
    }
    Ok(())
}

fn nest(storage: &Storage, level: u32, depth: u32) -> Result<()> {
    if level > depth {
        return Ok(());
    }
    storage.transaction(|tx| {
        tx.put(&format!("depth{level}"), &level)?;
        nest(tx, level + 1, depth)
    })
}
