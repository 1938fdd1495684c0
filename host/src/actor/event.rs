//! What an object is asked to do, what it answers, and its mailbox entries.

use tokio::sync::oneshot;

use super::classes::Served;
use super::waits::Wait;
use crate::runtime::{Chain, GuestFailure, types};
use crate::store::{
    Bookmark, CommitError, ObjectKey, Refusal, SqlOutput, SqlRefusal, SqlValue, StoreError,
};

/// What an object is asked to handle.
#[derive(Debug)]
pub enum Event {
    Fetch(types::Request),
    /// Another object (or a worker) calls a public method: its name and JSON-array arguments.
    Call {
        method: String,
        args: Vec<u8>,
    },
    /// The alarm set for `scheduled_time` is due. Skipped (answered `Skipped`) if the object's
    /// alarm has since changed.
    Alarm {
        scheduled_time: i64,
        retry_count: u32,
    },
    /// The alarm set for this time failed `retries` times so far: store that count with it (so
    /// a restart continues the back-off), if it is still the current alarm.
    AlarmFailed {
        scheduled_time: i64,
        retries: u32,
    },
    /// The alarm set for this time failed too often: delete it if it is still the current one.
    DropAlarm {
        scheduled_time: i64,
    },
    /// A message arrived on one of the object's sockets.
    WsMessage {
        socket: u64,
        msg: types::Message,
    },
    /// One of the object's sockets closed.
    WsClose {
        socket: u64,
        code: u16,
        reason: String,
        was_clean: bool,
    },
    /// One of the object's sockets failed.
    WsError {
        socket: u64,
        error: String,
    },
    /// A change made from outside the object's code (the inspector, the admin API, test
    /// helpers). It runs in the mailbox like any event, so it is atomic and ordered with the
    /// object's traffic; its code does not run. One that writes restarts the instance (the next
    /// event constructs a fresh one), so no in-memory copy of what was edited survives.
    Edit(Edit),
}

/// What an [`Event::Edit`] does.
#[derive(Debug)]
pub enum Edit {
    /// Puts and deletes, applied together (the deletes after the puts).
    Storage {
        put: Vec<(String, Vec<u8>)>,
        delete: Vec<String>,
    },
    /// Sets the alarm (`Some`) or deletes it.
    Alarm(Option<i64>),
    /// Runs SQL statements on the object's database, as the object's own `sql.exec` would.
    Sql {
        query: String,
        params: Vec<SqlValue>,
    },
    /// Deletes every key, the SQL database and the alarm.
    DeleteAll,
    /// Brings the object's storage (keys, SQL database, alarm) to the state before this
    /// history position of its own history (point-in-time recovery, `store/history.rs`), or,
    /// with `from`, of that object's (a fork: this object becomes a copy, `store/fork.rs`).
    Restore {
        position: u64,
        from: Option<ObjectKey>,
    },
}

/// What an edit did.
#[derive(Debug)]
pub enum Edited {
    Storage {
        put: usize,
        deleted: u32,
    },
    Alarm(Option<i64>),
    Sql(SqlOutput),
    DeletedAll,
    /// Restored; the bookmark of the state just before (restoring to it undoes the restore).
    Restored {
        undo: Bookmark,
    },
}

/// What a handled event produced.
#[derive(Debug)]
pub enum Outcome {
    /// A fetch's response, and the socket it accepted if it was an upgrade request.
    Response(types::Response, Option<u64>),
    /// A method call's encoded result.
    Value(Vec<u8>),
    /// The alarm (or socket event) ran and its effects are durable.
    Done,
    /// The alarm event no longer matched the object's alarm; nothing ran.
    Skipped,
    /// An edit's result (its writes are durable).
    Edited(Edited),
}

/// Why an event produced no outcome.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The guest failed it (its error, exception or trap): nothing of it was kept.
    #[error(transparent)]
    Guest(#[from] GuestFailure),
    /// Storage failed while the event ran (a host failure): nothing of it was kept.
    #[error("storage failed while the event ran, nothing of it was kept: {0}")]
    Store(#[from] StoreError),
    /// The event ran but its writes could not be made durable.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// No instance could be created: every slot of the pool stayed taken (a host condition).
    #[error(
        "no instance slot became free for this object: raise runtime.max_live_objects or retry later"
    )]
    PoolFull,
    /// An edit was refused (a limit, a SQL error); nothing of it was kept.
    #[error("the edit was refused, nothing of it was kept: {0}")]
    EditRefused(#[from] EditRefusal),
    /// A code update removed the object's class before the event reached it.
    #[error("class `{class}` (binding `{binding}`) is no longer served: a code update removed it")]
    Removed { class: String, binding: String },
    /// The object's actor ended before answering (a host bug; logged).
    #[error("the object went away before answering")]
    Gone,
}

pub type EventResult = Result<Outcome, EventError>;

/// Why an edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditRefusal {
    #[error(transparent)]
    Storage(#[from] Refusal),
    #[error(transparent)]
    Sql(#[from] SqlRefusal),
}

/// Where an event comes from: its chain of calls, and for a call the caller's wait (dropped
/// once the event has run, so the wait-for graph forgets it before the commit).
#[derive(Debug)]
pub struct Origin {
    pub chain: Chain,
    pub wait: Option<Wait>,
}

impl Origin {
    /// A client's request or a host event: a new chain.
    pub fn new() -> Origin {
        Origin {
            chain: Chain::start(),
            wait: None,
        }
    }
}

/// A mailbox entry.
pub enum Msg {
    Event {
        event: Event,
        /// The name the object was addressed by, if any.
        name: Option<String>,
        /// A fetch of a WebSocket upgrade request (the object may accept the socket).
        upgrade: bool,
        origin: Origin,
        reply: oneshot::Sender<EventResult>,
    },
    /// Leave memory now if idle. Answers whether the object left.
    Evict(Option<oneshot::Sender<bool>>),
    /// A code update replaced the object's class (`Some`: the class to run from now on) or
    /// removed it (`None`). Comes after the events admitted before the update, which ran on
    /// the old code; the object drops its instance, and its next event constructs one of the new
    /// class. Sockets whose listeners lived in the instance close with 1012; hibernatable ones
    /// stay open (for a removed class they close too).
    Update(Option<Served>),
    /// Test seam (only sent with fault injection on): the actor panics, as a host bug would.
    Panic,
}
