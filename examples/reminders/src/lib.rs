//! Reminders that fire later: several timers per object, driven by its single alarm.
//!
//! The host serves each object under `/reminders/{name}`; paths below are relative to it. Times
//! are milliseconds since the Unix epoch.
//!
//! | Request                                   | Response                                          |
//! |-------------------------------------------|---------------------------------------------------|
//! | `POST /` `{"in_ms": n, "message": "..."}` | `201 {"id": "7", "due": ms}`                      |
//! | `GET /`                                   | `{"pending": [...], "fired": [...]}`, see below   |
//! | a bad body, `in_ms`, or `message`         | `400 {"error": "..."}`, nothing written           |
//! | anything else                             | `404 {"error": "not found"}`                      |
//!
//! `pending` holds `{"id", "message", "due"}` in due order; `fired` holds the last 100 fired
//! reminders, `{"id", "message", "due", "fired_at"}` in firing order. `in_ms` must be between 0
//! and one year; `message` between 1 and 1000 bytes.
//!
//! Each pending reminder is its own key, `pending/{due:020}/{id:020}`, so listing the prefix
//! yields them in due order, and the alarm is always set to the first of them. When it fires,
//! every reminder that is due moves to `fired/{n:020}` and the alarm moves to the next one.

use std::time::{SystemTime, UNIX_EPOCH};

use holdfast_sdk::{
    AlarmInfo, DurableObject, ListOptions, Method, Request, Response, Result, State, Storage,
    durable_object,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const PENDING: &str = "pending/";
const FIRED: &str = "fired/";
/// The id of the next reminder, a `u64` (ids start at 1).
const NEXT_ID: &str = "next_id";
/// The number of the next fired entry, a `u64` (from 1, in firing order).
const NEXT_FIRED: &str = "next_fired";
const MAX_IN_MS: i64 = 365 * 24 * 60 * 60 * 1000;
const MAX_MESSAGE_BYTES: usize = 1000;
const KEEP_FIRED: u64 = 100;
/// The most keys one `delete_many` call may name.
const DELETE_BATCH: usize = 128;

#[durable_object]
struct Reminders {
    state: State,
}

#[derive(Deserialize)]
struct NewReminder {
    in_ms: i64,
    message: String,
}

#[derive(Serialize, Deserialize)]
struct Reminder {
    id: String,
    message: String,
    due: i64,
}

#[derive(Serialize, Deserialize)]
struct Fired {
    #[serde(flatten)]
    reminder: Reminder,
    fired_at: i64,
}

#[derive(Serialize)]
struct Created {
    id: String,
    due: i64,
}

#[derive(Serialize)]
struct Listing {
    pending: Vec<Reminder>,
    fired: Vec<Fired>,
}

impl DurableObject for Reminders {
    fn new(state: State) -> Self {
        Reminders { state }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        let storage = self.state.storage();
        match (req.method(), req.segments().as_slice()) {
            (Method::Get, []) => Ok(Response::json(&Listing {
                pending: values(&storage, PENDING)?,
                fired: values(&storage, FIRED)?,
            })),
            (Method::Post, []) => schedule(&storage, &req),
            _ => Ok(Response::not_found()),
        }
    }

    fn alarm(&mut self, _info: AlarmInfo) -> Result<()> {
        // The alarm may come a little early or be a retry: the clock decides what is due.
        let storage = self.state.storage();
        let now = now_ms()?;
        let due_before = format!("{PENDING}{:020}", now + 1);
        let due: Vec<(String, Reminder)> =
            storage.list(ListOptions::new().prefix(PENDING).end(due_before))?;
        if !due.is_empty() {
            let mut next: u64 = storage.get(NEXT_FIRED)?.unwrap_or(1);
            for (key, reminder) in due {
                storage.delete(&key)?;
                let fired = Fired {
                    reminder,
                    fired_at: now,
                };
                storage.put(&format!("{FIRED}{next:020}"), &fired)?;
                next += 1;
            }
            storage.put(NEXT_FIRED, &next)?;

            // Keep the last KEEP_FIRED entries: drop every one numbered below next - KEEP_FIRED.
            let keep_from = format!("{FIRED}{:020}", next.saturating_sub(KEEP_FIRED));
            let old = storage.list_bytes(ListOptions::new().prefix(FIRED).end(keep_from))?;
            let old: Vec<String> = old.into_iter().map(|(key, _)| key).collect();
            for batch in old.chunks(DELETE_BATCH) {
                storage.delete_many(batch)?;
            }
        }
        // The host deletes a fired alarm unless the handler sets a new one.
        reschedule(&storage)
    }
}

/// `POST /`: validates the body, stores the reminder and moves the alarm if it is the earliest.
fn schedule(storage: &Storage, req: &Request) -> Result<Response> {
    let new: NewReminder = match req.json() {
        Ok(new) => new,
        Err(e) => return Ok(Response::error(400, e)),
    };
    if !(0..=MAX_IN_MS).contains(&new.in_ms) {
        let message = format!("in_ms must be between 0 and {MAX_IN_MS}");
        return Ok(Response::error(400, message));
    }
    if new.message.is_empty() || new.message.len() > MAX_MESSAGE_BYTES {
        let message = format!("message must be between 1 and {MAX_MESSAGE_BYTES} bytes");
        return Ok(Response::error(400, message));
    }

    let id: u64 = storage.get(NEXT_ID)?.unwrap_or(1);
    storage.put(NEXT_ID, &(id + 1))?;
    let due = now_ms()? + new.in_ms;
    let reminder = Reminder {
        id: id.to_string(),
        message: new.message,
        due,
    };
    storage.put(&format!("{PENDING}{due:020}/{id:020}"), &reminder)?;
    reschedule(storage)?;
    let created = Created {
        id: reminder.id,
        due,
    };
    Ok(Response::json(&created).with_status(201))
}

/// Sets the alarm to the earliest pending reminder, or deletes it when none is left.
fn reschedule(storage: &Storage) -> Result<()> {
    let first: Vec<(String, Reminder)> =
        storage.list(ListOptions::new().prefix(PENDING).limit(1))?;
    match first.first() {
        Some((_, reminder)) => storage.set_alarm(reminder.due),
        None => storage.delete_alarm(),
    }
    Ok(())
}

/// The values of every key under `prefix`, in key order.
fn values<T: DeserializeOwned>(storage: &Storage, prefix: &str) -> Result<Vec<T>> {
    let entries = storage.list(ListOptions::new().prefix(prefix))?;
    Ok(entries.into_iter().map(|(_, value)| value).collect())
}

/// Milliseconds since the Unix epoch, from the WASI wall clock.
fn now_ms() -> Result<i64> {
    Ok(i64::try_from(
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis(),
    )?)
}
