//! One object's actor: a tokio task that owns the object's instance and storage view and runs
//! its events one at a time, in mailbox order.
//!
//! After an event succeeds, its write set goes to the committer and the actor moves on to the
//! next event at once (which sees the written state); the outcome is held by the committer until
//! the commit containing those writes is durable. An event without writes answers directly when
//! nothing of the object is in flight, and otherwise queues behind its in-flight writes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::bindings::types;
use crate::commit::{CommitError, Job};
use crate::engine::Class;
use crate::instance::{GuestEvent, GuestFailure, Identity, Live, Output};
use crate::object_storage::ObjectStorage;
use crate::registry::{Registry, Shared};
use crate::storage::{ObjectKey, WriteSet};
use crate::websocket::WsEffects;

/// Why an event produced no outcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Guest(#[from] GuestFailure),
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// What an object is asked to handle.
#[derive(Debug)]
pub enum Event {
    Fetch(types::Request),
    /// The alarm set for `scheduled_time` is due. Skipped (answered `Skipped`) if the object's
    /// alarm has since changed.
    Alarm {
        scheduled_time: i64,
        retry_count: u32,
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
}

/// What a handled event produced.
#[derive(Debug)]
pub enum Outcome {
    /// A fetch's response, and the socket it accepted if it was an upgrade request.
    Response(types::Response, Option<u64>),
    /// The alarm ran (or was dropped) and its effects are durable.
    Done,
    /// The alarm event no longer matched the object's alarm; nothing ran.
    Skipped,
}

pub type EventResult = Result<Outcome, EventError>;

/// A mailbox entry.
pub enum Msg {
    Event {
        event: Event,
        /// The name the object was addressed by, if any.
        name: Option<String>,
        /// A fetch of a WebSocket upgrade request (the object may accept the socket).
        upgrade: bool,
        reply: oneshot::Sender<EventResult>,
    },
    /// Leave memory now if idle. Answers whether the object left.
    Evict(Option<oneshot::Sender<bool>>),
}

pub(crate) struct Actor {
    pub registry: Arc<Registry>,
    pub class: Arc<Class>,
    pub key: ObjectKey,
    pub identity: Identity,
    pub shared: Arc<Shared>,
    /// The commit generation the cached state belongs to.
    pub generation: u64,
    pub live: Option<Live>,
    /// The storage view while no instance holds it.
    pub spare: Option<ObjectStorage>,
    /// Whether the object's name is known to be stored.
    pub name_recorded: bool,
}

/// How often an idle object whose commits are still in flight checks again before leaving.
const RETIRE_RETRY: std::time::Duration = std::time::Duration::from_millis(5);

impl Actor {
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let idle = self.class.config.limits.idle_timeout();
        let mut wait = idle;
        loop {
            let msg = match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => {
                    if self.registry.retire(&self.key, &self.shared, &rx) {
                        break;
                    }
                    wait = RETIRE_RETRY;
                    continue;
                }
            };
            wait = idle;
            match msg {
                Msg::Event {
                    event,
                    name,
                    upgrade,
                    reply,
                } => {
                    self.shared.touch(&self.registry);
                    self.learn_name(name);
                    self.handle(event, upgrade, reply).await;
                }
                Msg::Evict(reply) => {
                    let left = self.registry.retire(&self.key, &self.shared, &rx);
                    if let Some(r) = reply {
                        let _ = r.send(left);
                    }
                    if left {
                        break;
                    }
                }
            }
        }
        tracing::debug!(namespace = %self.identity.namespace, object = %self.identity.id, "object left memory");
    }

    fn storage(&mut self) -> &mut ObjectStorage {
        match &mut self.live {
            Some(l) => l.storage(),
            None => self
                .spare
                .as_mut()
                .expect("storage is in the instance or spare"),
        }
    }

    /// Takes the name the object was addressed by; on activation by ID, the recorded one.
    fn learn_name(&mut self, name: Option<String>) {
        if self.identity.name.is_some() {
            return;
        }
        let name = match name {
            Some(n) => Some(n),
            None if self.live.is_none() => match self.registry.services().db.name(&self.key) {
                Ok(n) => {
                    self.name_recorded = n.is_some();
                    n
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read an object's name");
                    None
                }
            },
            None => None,
        };
        if let Some(n) = name {
            let _ = self.shared.name.set(n.clone());
            self.identity.name = Some(n.clone());
            if let Some(l) = &mut self.live {
                l.set_name(n);
            }
        }
    }

    /// Drops cached state if a commit of this object failed since the last event.
    fn check_generation(&mut self) {
        let g = self.shared.commit.generation.load(Ordering::SeqCst);
        if g != self.generation {
            tracing::warn!(namespace = %self.identity.namespace, object = %self.identity.id, "resetting object after a failed commit");
            self.generation = g;
            if let Some(l) = self.live.take() {
                self.spare = Some(l.into_storage());
                self.registry.services().hub.close_pinned(&self.key);
            }
            self.storage().reset();
            self.name_recorded = false;
        }
    }

    async fn ensure_live(&mut self) -> Result<Live, GuestFailure> {
        if let Some(l) = self.live.take() {
            return Ok(l);
        }
        let mut storage = self.spare.take().expect("storage is spare when not live");
        let mut attempts = 0;
        loop {
            let started = Live::start(
                &self.registry.services().engine,
                &self.class,
                storage,
                self.identity.clone(),
                self.registry.services().namespaces.clone(),
                self.registry.services().hub.clone(),
            )
            .await;
            match started {
                Ok(l) => return Ok(l),
                Err((s, GuestFailure::Instantiate(m)))
                    if m.contains("maximum concurrent") && attempts < 2000 =>
                {
                    // The pool is momentarily full: evicted objects free their slots shortly.
                    storage = s;
                    attempts += 1;
                    self.registry.make_room();
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err((s, f)) => {
                    self.spare = Some(s);
                    return Err(f);
                }
            }
        }
    }

    async fn handle(&mut self, event: Event, upgrade: bool, reply: oneshot::Sender<EventResult>) {
        self.check_generation();
        let registry = self.registry.clone();
        let metrics = &registry.services().metrics;
        metrics.events.fetch_add(1, Ordering::Relaxed);
        let guest_event = match event {
            Event::Fetch(req) => GuestEvent::Fetch(req, upgrade),
            Event::WsMessage { socket, msg } => GuestEvent::WsMessage(socket, msg),
            Event::WsClose {
                socket,
                code,
                reason,
                was_clean,
            } => GuestEvent::WsClose(socket, code, reason, was_clean),
            Event::WsError { socket, error } => GuestEvent::WsError(socket, error),
            Event::Alarm {
                scheduled_time,
                retry_count,
            } => {
                if !self.alarm_is(scheduled_time) {
                    return self.release(None, None, reply, Ok(Outcome::Skipped));
                }
                GuestEvent::Alarm(types::AlarmInfo {
                    scheduled_time,
                    retry_count,
                    is_retry: retry_count > 0,
                })
            }
            Event::DropAlarm { scheduled_time } => {
                if !self.alarm_is(scheduled_time) {
                    return self.release(None, None, reply, Ok(Outcome::Skipped));
                }
                let storage = self.storage();
                storage.set_alarm(None);
                let writes = storage.finish_event();
                return self.release(writes, None, reply, Ok(Outcome::Done));
            }
        };
        let is_alarm = matches!(guest_event, GuestEvent::Alarm(_));
        let cold_start = self.live.is_none().then(Instant::now);
        let live = match self.ensure_live().await {
            Ok(l) => l,
            Err(f) => return self.release(None, None, reply, Err(f.into())),
        };
        let limits = self.class.config.limits;
        let delivered = live.deliver(&limits, guest_event).await;
        if let Some(t) = cold_start {
            metrics.record_activation(t.elapsed());
        }
        let hub = &registry.services().hub;
        match delivered {
            Ok((mut live, Ok((out, fx)))) => {
                let storage = live.storage();
                if is_alarm {
                    metrics.alarms.fetch_add(1, Ordering::Relaxed);
                    if !storage.event_sets_alarm() {
                        // A successful alarm handler consumes its alarm unless it set a new one.
                        storage.set_alarm(None);
                    }
                }
                let mut writes = storage.finish_event();
                self.live = Some(live);
                if let Some(ws) = &mut writes
                    && !self.name_recorded
                    && self.identity.name.is_some()
                {
                    ws.name = self.identity.name.clone();
                    self.name_recorded = true;
                }
                let outcome = match out {
                    Output::Response(r) => Outcome::Response(r, fx.accepted),
                    Output::Done => Outcome::Done,
                };
                self.release(writes, Some(fx), reply, Ok(outcome));
            }
            Ok((mut live, Err((f, fx)))) => {
                live.storage().abort_event();
                hub.abort(&self.key, fx);
                self.live = Some(live);
                self.release(None, None, reply, Err(f.into()));
            }
            Err((mut storage, f, fx)) => {
                hub.abort(&self.key, fx);
                // The instance is gone, and with it the listeners of its pinned sockets.
                hub.close_pinned(&self.key);
                metrics.traps.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(namespace = %self.identity.namespace, object = %self.identity.id, "{f}");
                storage.abort_event();
                self.spare = Some(storage);
                self.release(None, None, reply, Err(f.into()));
            }
        }
    }

    /// Whether the object's alarm is still set for `scheduled_time`. On a database failure
    /// (logged) the answer is no: the alarm stays stored and the scheduler offers it again.
    fn alarm_is(&mut self, scheduled_time: i64) -> bool {
        match self.storage().get_alarm() {
            Ok(a) => a == Some(scheduled_time),
            Err(e) => {
                tracing::error!(error = %e, "cannot read an object's alarm");
                false
            }
        }
    }

    /// Sends the outcome once it is safe: after `writes` (and any earlier writes of this object)
    /// are durable.
    fn release(
        &mut self,
        writes: Option<WriteSet>,
        effects: Option<WsEffects>,
        reply: oneshot::Sender<EventResult>,
        outcome: EventResult,
    ) {
        let effects = effects.filter(|fx| !fx.is_empty());
        let registry = self.registry.clone();
        let key = self.key.clone();
        let apply = move |r: Result<(), CommitError>| {
            if let Some(fx) = effects {
                let hub = &registry.services().hub;
                match r {
                    Ok(()) => hub.commit(&key, fx),
                    Err(_) => hub.abort(&key, fx),
                }
            }
            let _ = reply.send(r.map_err(EventError::from).and(outcome));
        };
        if writes.is_none() && self.shared.commit.in_flight.load(Ordering::SeqCst) == 0 {
            return apply(Ok(()));
        }
        self.registry.services().committer.submit(Job {
            object: self.key.clone(),
            state: self.shared.commit.clone(),
            generation: self.generation,
            writes,
            release: Box::new(apply),
        });
    }
}
