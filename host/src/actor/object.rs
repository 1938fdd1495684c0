//! One object's actor: a tokio task that owns the object's instance and storage view and runs
//! its events one at a time, in mailbox order.
//!
//! After an event succeeds, its write set goes to the committer and the actor moves on to the
//! next event at once (which sees the written state); the outcome is held by the committer until
//! the commit containing those writes is durable. An event without writes answers directly when
//! nothing of the object is in flight and no commit of it failed since the event began, and
//! otherwise queues behind its in-flight writes.
//!
//! A failed event (the guest's error or exception, a trap, a response the host refuses, a
//! storage failure) discards the instance as well as the event's writes: the next event runs on
//! a freshly constructed instance, so the object's memory never holds state its storage lost.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::oneshot;

use super::classes::{Served, view_limits};
use super::event::{Edit, Event, EventError, EventResult, Msg, Outcome};
use super::hosts::{Home, Hosts};
use super::response::check_response;
use super::services::Services;
use super::slots::{Mailbox, Shared, Slots};
use crate::runtime::{
    CallError, CallLimits, Chain, Class, Delivered, GuestFailure, HandlerCall, Identity, Live,
    Outbound, Output, Reach, StartError, types,
};
use crate::sockets::WsEffects;
use crate::store::{CommitError, CommitState, Job, ObjectKey, ObjectStorage, WriteSet};

pub(super) struct Actor {
    pub slots: Arc<Slots>,
    pub services: Arc<Services>,
    /// Where the instance's calls to other objects go.
    pub outbound: Arc<dyn Outbound>,
    pub class: Arc<Class>,
    pub key: ObjectKey,
    pub identity: Identity,
    pub shared: Arc<Shared>,
    /// The commit generation the cached state belongs to.
    pub generation: u64,
    pub live: Option<Live>,
    /// The storage view while no instance holds it (always, between events, for an object
    /// hosted by a shared instance).
    pub spare: Option<ObjectStorage>,
    /// The class's shared instances, if it hosts many objects per instance.
    pub hosts: Option<Arc<Hosts>>,
    /// Where the activation lives among them (placed at its first event).
    pub home: Option<Home>,
    /// Whether the object's name is known to be stored.
    pub name_recorded: bool,
    /// Whether this activation holds the object (cluster mode: took it with an epoch not yet
    /// found superseded; always, once the first event ran, on one node).
    pub owned: bool,
}

impl Drop for Actor {
    /// Gives the object's slot in a shared instance back, whether the actor ended or panicked
    /// (a host bug: the actor is started anew, and its object placed again).
    fn drop(&mut self) {
        if let (Some(hosts), Some(home)) = (&self.hosts, self.home.take()) {
            hosts.release(home);
        }
    }
}

/// Why an event did not reach the guest's handler, or ended its instance.
pub(super) enum Undelivered {
    /// No instance could be made (the pool stayed full, or instantiation failed).
    Start(EventError),
    /// A trap or a store failure ended the instance; with the event's effects to undo.
    Ended(CallError, WsEffects),
}

/// Attempts to instantiate while the pool is full before giving up.
const POOL_FULL_ATTEMPTS: u32 = 2000;

impl Actor {
    /// Runs events until the object leaves memory (or its mailbox closes).
    pub async fn run(mut self, rx: &mut Mailbox) {
        // A replacement of a vanished actor waits for its predecessor's commits.
        drain_commits(self.shared.commit.clone()).await;
        let idle = self.class.config.limits.idle_timeout();
        loop {
            let msg = match tokio::time::timeout(idle, rx.recv()).await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => {
                    if Box::pin(self.try_leave(rx)).await {
                        break;
                    }
                    continue;
                }
            };
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            self.shared.room.notify_waiters();
            match *msg {
                Msg::Event {
                    event,
                    name,
                    upgrade,
                    origin,
                    reply,
                } => {
                    self.slots.touch(&self.shared);
                    self.learn_name(name);
                    let closed = match &event {
                        Event::WsClose { socket, .. } => Some(*socket),
                        _ => None,
                    };
                    // Only an accept or a close changes whether sockets pin the object (a stale
                    // `true` only delays an eviction: leaving checks the hub itself), so other
                    // events do not take the hub's lock for it.
                    let pin_may_change = upgrade || closed.is_some();
                    // Boxed: an event's future (the guest call's state included) is large, and
                    // unboxed it would be part of every idle actor's task (6 KiB per object).
                    Box::pin(self.handle(event, upgrade, origin.chain, reply)).await;
                    // The call's event has run: its caller no longer waits for this object
                    // (only for the commit, which needs nothing from the caller).
                    drop(origin.wait);
                    if let Some(socket) = closed {
                        self.services.hub.forget_closed(&self.key, socket);
                    }
                    if pin_may_change {
                        let pinned = self.services.hub.pinned(&self.key);
                        self.shared.pinned.store(pinned, Ordering::Relaxed);
                    }
                }
                Msg::Evict(reply) => {
                    let left = Box::pin(self.try_leave(rx)).await;
                    self.shared.evict_requested.store(false, Ordering::Relaxed);
                    if let Some(r) = reply {
                        let _ = r.send(left);
                    }
                    if left {
                        break;
                    }
                }
                Msg::Update(served) => {
                    if self.update(served) && Box::pin(self.try_leave(rx)).await {
                        break;
                    }
                }
                Msg::Panic => panic!("test seam: object actor panics on request"),
            }
        }
        tracing::debug!(namespace = %self.identity.binding, object = %self.identity.id, "object left memory");
    }

    /// Leaves memory if nothing keeps the object: not pinned by a socket (then it waits for
    /// its next message: a socket's close arrives as one), and once its commits are released
    /// (it waits for them rather than polling).
    async fn try_leave(&mut self, rx: &Mailbox) -> bool {
        if self.services.hub.pinned(&self.key) {
            self.shared.pinned.store(true, Ordering::Relaxed);
            return false;
        }
        drain_commits(self.shared.commit.clone()).await;
        self.slots.retire(&self.key, &self.shared, rx)
    }

    pub(super) fn storage(&mut self) -> &mut ObjectStorage {
        match &mut self.live {
            Some(l) => l.storage(),
            None => self
                .spare
                .as_mut()
                .expect("storage is in the instance or spare"),
        }
    }

    /// Drops the instance (if any), keeping the storage view; the next event constructs a new
    /// one. Sockets whose listeners lived in its memory close with 1011.
    fn discard_instance(&mut self) {
        if self.drop_instance() {
            self.services.hub.close_pinned(&self.key);
        }
    }

    /// Lets go of the object's instance (its own, or its slot in a shared one), taking the
    /// storage view back; whether it had one. The caller closes the sockets that lived there.
    pub(super) fn drop_instance(&mut self) -> bool {
        let mut had = false;
        if let Some(l) = self.live.take() {
            self.spare = Some(l.into_storage());
            had = true;
        }
        if let (Some(hosts), Some(home)) = (&self.hosts, self.home.take()) {
            hosts.release(home);
            had = true;
        }
        had
    }

    /// Moves the object to the class a code update serves now (see `Msg::Update`); returns
    /// whether it should leave (its class was removed).
    fn update(&mut self, served: Option<Served>) -> bool {
        self.drop_instance();
        let hub = &self.services.hub;
        let Some(served) = served else {
            hub.close_all_for_removal(&self.key);
            return true;
        };
        hub.close_pinned_for_update(&self.key);
        self.shared.pinned.store(false, Ordering::Relaxed);
        // The view's limits are the class's: a view of the new class over the same commit
        // state, so nothing in flight is read around.
        self.spare = Some(ObjectStorage::new(
            self.services.db.clone(),
            self.key.clone(),
            view_limits(&served.class),
            self.shared.commit.clone(),
            self.services.committer.clone(),
        ));
        self.identity.class = served.class.config.class.as_str().into();
        self.class = served.class;
        self.hosts = served.hosts;
        false
    }

    /// Takes the name the object was addressed by; on activation by ID, the recorded one.
    fn learn_name(&mut self, name: Option<String>) {
        if self.identity.name.is_some() {
            return;
        }
        let name = match name {
            Some(n) => Some(n),
            None if self.live.is_none() => match self.services.db.name(&self.key) {
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

    /// Takes the object for this node (cluster mode: a new epoch in the database, which every
    /// later commit of another node's activation is refused by).
    async fn take_ownership(&mut self) -> Result<(), EventError> {
        let db = &self.services.db;
        if db.is_cluster() {
            let epoch = db
                .take_ownership(&self.key)
                .await
                .map_err(EventError::Store)?;
            tracing::debug!(namespace = %self.identity.binding, object = %self.identity.id, epoch, "took the object");
            self.shared.commit.epoch.store(epoch, Ordering::SeqCst);
        }
        self.owned = true;
        Ok(())
    }

    /// Drops cached state if a commit of this object failed since the last event (and, in
    /// cluster mode, gives the object up if the failure was another node's takeover).
    fn check_generation(&mut self) {
        // A load first: no atomic write per event on one node, where it is never set.
        let fenced = &self.shared.commit.fenced;
        if fenced.load(Ordering::SeqCst) && fenced.swap(false, Ordering::SeqCst) {
            self.owned = false;
        }
        let g = self.shared.commit.generation.load(Ordering::SeqCst);
        if g != self.generation {
            tracing::warn!(namespace = %self.identity.binding, object = %self.identity.id, "resetting object after a failed commit");
            self.generation = g;
            self.discard_instance();
            self.storage().reset();
            self.name_recorded = false;
        }
    }

    pub(super) fn limits(&self) -> CallLimits {
        let l = &self.class.config.limits;
        CallLimits {
            cpu_ms: l.cpu_ms,
            memory_bytes: l.memory_bytes(),
        }
    }

    async fn ensure_live(&mut self) -> Result<Live, EventError> {
        if let Some(l) = self.live.take() {
            return Ok(l);
        }
        let mut storage = self.spare.take().expect("storage is spare when not live");
        let mut attempts = 0;
        loop {
            let started = Live::start(
                &self.services.engine,
                &self.class,
                storage,
                self.identity.clone(),
                self.reach(),
                self.services.hub.clone(),
                self.limits(),
            )
            .await;
            match started {
                Ok(l) => return Ok(l),
                Err((s, StartError::PoolFull)) => {
                    if !wait_for_pool(&self.slots, &mut attempts).await {
                        self.spare = Some(s);
                        return Err(EventError::PoolFull);
                    }
                    storage = s;
                }
                Err((s, StartError::Guest(f))) => {
                    self.spare = Some(s);
                    return Err(f.into());
                }
            }
        }
    }

    /// What the object's instance reaches beyond itself: IDs, calls, vars, outbound HTTP.
    pub(super) fn reach(&self) -> Reach {
        Reach::new(
            self.services.namespaces.clone(),
            self.outbound.clone(),
            self.services.vars.clone(),
            self.class.egress.clone(),
        )
    }

    async fn handle(
        &mut self,
        event: Event,
        upgrade: bool,
        chain: Chain,
        reply: oneshot::Sender<EventResult>,
    ) {
        self.check_generation();
        if !self.owned
            && let Err(e) = self.take_ownership().await
        {
            return self.release(None, None, reply, Err(e));
        }
        // Bound this object's commits in flight: past the bound, wait for the committer.
        wait_in_flight_below(
            self.shared.commit.clone(),
            self.services.max_in_flight_commits,
        )
        .await;
        // The object starts (an event for its code, no instance): first, a restore its code
        // asked for (store/view_history.rs), before an alarm is checked against the state.
        let starts = !matches!(event, Event::Edit(_)) && self.live.is_none() && self.home.is_none();
        if starts && let Err(e) = self.apply_pending_restore().await {
            return self.release(None, None, reply, Err(e));
        }
        let services = self.services.clone();
        let metrics = &services.metrics;
        metrics.events.fetch_add(1, Ordering::Relaxed);
        let call = match event {
            Event::Fetch(req) => HandlerCall::Fetch(req, upgrade),
            Event::Call { method, args } => HandlerCall::Method(method, args),
            Event::WsMessage { socket, msg } => HandlerCall::WsMessage(socket, msg),
            Event::WsClose {
                socket,
                code,
                reason,
                was_clean,
            } => HandlerCall::WsClose(socket, code, reason, was_clean),
            Event::WsError { socket, error } => HandlerCall::WsError(socket, error),
            Event::Edit(Edit::Restore { position, from }) => {
                return self.restore(position, from, reply).await;
            }
            Event::Edit(edit) => return self.edit(edit, reply),
            Event::Alarm {
                scheduled_time,
                retry_count,
            } => {
                match self.alarm_is(scheduled_time) {
                    Ok(true) => {}
                    Ok(false) => return self.release(None, None, reply, Ok(Outcome::Skipped)),
                    Err(e) => return self.release(None, None, reply, Err(e)),
                }
                HandlerCall::Alarm(types::AlarmInfo {
                    scheduled_time,
                    retry_count,
                    is_retry: retry_count > 0,
                })
            }
            Event::AlarmFailed {
                scheduled_time,
                retries,
            } => {
                match self.alarm_is(scheduled_time) {
                    Ok(true) => {}
                    Ok(false) => return self.release(None, None, reply, Ok(Outcome::Skipped)),
                    Err(e) => return self.release(None, None, reply, Err(e)),
                }
                let storage = self.storage();
                storage.set_alarm_retries(retries);
                let writes = storage.finish_event();
                return self.release(writes, None, reply, Ok(Outcome::Done));
            }
            Event::DropAlarm { scheduled_time } => {
                match self.alarm_is(scheduled_time) {
                    Ok(true) => {}
                    Ok(false) => return self.release(None, None, reply, Ok(Outcome::Skipped)),
                    Err(e) => return self.release(None, None, reply, Err(e)),
                }
                let storage = self.storage();
                storage.set_alarm(None);
                let writes = storage.finish_event();
                return self.release(writes, None, reply, Ok(Outcome::Done));
            }
        };
        let is_alarm = matches!(call, HandlerCall::Alarm(_));
        let limits = self.limits();
        let cold_start = (self.live.is_none() && self.home.is_none()).then(Instant::now);
        let delivered = if self.hosts.is_some() {
            self.deliver_shared(&limits, chain, call).await
        } else {
            self.deliver_own(&limits, chain, call).await
        };
        if let Some(t) = cold_start {
            metrics.record_activation(t.elapsed());
        }
        let hub = &services.hub;
        match delivered {
            Ok((Ok(out), fx)) => {
                // The event's SQL transaction commits (into its write set) before anything
                // else is decided: a deferred constraint or the page budget fails the event.
                let sql_failure = match self.storage().commit_sql() {
                    Ok(Ok(())) => None,
                    Ok(Err(refused)) => Some(Err(GuestFailure::Error(format!(
                        "the event's SQL writes could not commit: {refused}; nothing of the event was kept"
                    )))),
                    Err(e) => Some(Ok(e)),
                };
                if let Some(failure) = sql_failure {
                    self.storage().abort_event();
                    hub.abort(&self.key, fx);
                    self.discard_instance();
                    metrics.failed_events.fetch_add(1, Ordering::Relaxed);
                    let error = match failure {
                        Err(f) => f.into(),
                        Ok(e) => {
                            metrics.store_failures.fetch_add(1, Ordering::Relaxed);
                            EventError::Store(e)
                        }
                    };
                    return self.release(None, None, reply, Err(error));
                }
                let outcome = match out {
                    Output::Response(r) => match check_response(&r) {
                        Ok(()) => Outcome::Response(r, fx.accepted),
                        Err(why) => {
                            // Refused before anything is committed: the event fails whole.
                            self.storage().abort_event();
                            hub.abort(&self.key, fx);
                            self.discard_instance();
                            metrics.failed_events.fetch_add(1, Ordering::Relaxed);
                            let f = GuestFailure::Error(format!(
                                "{why}; nothing of the event was kept"
                            ));
                            return self.release(None, None, reply, Err(f.into()));
                        }
                    },
                    Output::Value(v) => Outcome::Value(v),
                    Output::Done => Outcome::Done,
                };
                let storage = self.storage();
                if is_alarm {
                    metrics.alarms.fetch_add(1, Ordering::Relaxed);
                    if !storage.event_sets_alarm() {
                        // A successful alarm handler consumes its alarm unless it set a new one.
                        storage.set_alarm(None);
                    }
                }
                let mut writes = storage.finish_event();
                if let Some((ws, _)) = &mut writes
                    && !self.name_recorded
                    && self.identity.name.is_some()
                {
                    ws.name = self.identity.name.clone();
                    self.name_recorded = true;
                }
                self.release(writes, Some(fx), reply, Ok(outcome));
            }
            Ok((Err(f), fx)) => {
                self.storage().abort_event();
                hub.abort(&self.key, fx);
                self.discard_instance();
                metrics.failed_events.fetch_add(1, Ordering::Relaxed);
                self.release(None, None, reply, Err(f.into()));
            }
            Err(Undelivered::Start(e)) => self.release(None, None, reply, Err(e)),
            Err(Undelivered::Ended(error, fx)) => {
                hub.abort(&self.key, fx);
                // The instance is gone, and with it the listeners of its pinned sockets.
                hub.close_pinned(&self.key);
                self.storage().abort_event();
                let error = match error {
                    CallError::Guest(f) => {
                        metrics.traps.fetch_add(1, Ordering::Relaxed);
                        metrics.failed_events.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(namespace = %self.identity.binding, object = %self.identity.id, "{f}");
                        EventError::Guest(f)
                    }
                    CallError::Store(e) => {
                        metrics.store_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(namespace = %self.identity.binding, object = %self.identity.id, error = %e, "storage failed during an event");
                        EventError::Store(e)
                    }
                };
                self.release(None, None, reply, Err(error));
            }
        }
    }

    /// Runs the event on the object's own instance (made if needed). Afterwards the storage view
    /// is where `self.storage()` finds it.
    async fn deliver_own(
        &mut self,
        limits: &CallLimits,
        chain: Chain,
        call: HandlerCall,
    ) -> Result<Delivered, Undelivered> {
        let live = self.ensure_live().await.map_err(Undelivered::Start)?;
        match live.deliver(limits, chain, call).await {
            Ok((live, delivered)) => {
                self.live = Some(live);
                Ok(delivered)
            }
            Err((storage, error, fx)) => {
                self.spare = Some(storage);
                Err(Undelivered::Ended(error, fx))
            }
        }
    }

    /// Whether the object's alarm is still set for `scheduled_time`.
    fn alarm_is(&mut self, scheduled_time: i64) -> Result<bool, EventError> {
        Ok(self.storage().get_alarm()? == Some(scheduled_time))
    }

    /// Sends the outcome once it is safe: after `writes` (and any earlier writes of this object)
    /// are durable.
    pub(super) fn release(
        &mut self,
        writes: Option<(WriteSet, u64)>,
        effects: Option<WsEffects>,
        reply: oneshot::Sender<EventResult>,
        outcome: EventResult,
    ) {
        let effects = effects.filter(|fx| !fx.is_empty());
        let hub = self.services.hub.clone();
        let key = self.key.clone();
        let slots = self.slots.clone();
        let apply = move |r: Result<(), CommitError>| {
            if let Some(fx) = effects {
                match r {
                    Ok(()) => hub.commit(&key, fx),
                    Err(_) => hub.abort(&key, fx),
                }
            }
            if let Err(Ok(Outcome::Response(_, Some(socket)))) =
                reply.send(r.map_err(EventError::from).and(outcome))
            {
                // The client left before the answer (no 101 will be sent): forget the socket
                // the object accepted, and tell the object it closed.
                if hub.abandon(&key, socket) {
                    let close = Event::WsClose {
                        socket,
                        code: 1006,
                        reason: "the client left before the upgrade completed".into(),
                        was_clean: false,
                    };
                    slots.post_host_event(&key, close);
                }
            }
        };
        let commit = &self.shared.commit;
        // Fast path for an event without writes: nothing of the object is in flight, and no
        // commit failed since the event began (it may have read writes that were lost). The
        // order matters: the committer bumps the generation before it releases.
        if writes.is_none()
            && commit.in_flight.load(Ordering::SeqCst) == 0
            && commit.generation.load(Ordering::SeqCst) == self.generation
        {
            return apply(Ok(()));
        }
        let (writes, event_no) = match writes {
            Some((w, n)) => (Some(w), n),
            None => (None, 0),
        };
        self.services.committer.submit(Job {
            object: self.key.clone(),
            state: commit.clone(),
            generation: self.generation,
            writes,
            event_no,
            release: Box::new(apply),
        });
    }
}

/// After an instantiation found the pool full (momentarily: evicted objects free their slots
/// shortly): asks an idle object to leave and waits a moment. False once `attempts` reached the
/// bound: the event then fails as overloaded.
pub(super) async fn wait_for_pool(slots: &Slots, attempts: &mut u32) -> bool {
    if *attempts >= POOL_FULL_ATTEMPTS {
        return false;
    }
    *attempts += 1;
    slots.make_room();
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    true
}

/// Waits until none of the object's commits are in flight.
pub(super) async fn drain_commits(commit: Arc<CommitState>) {
    wait_in_flight_below(commit, 1).await;
}

/// Waits until fewer than `bound` of the object's commits are in flight.
async fn wait_in_flight_below(commit: Arc<CommitState>, bound: usize) {
    commit.wait_in_flight_below(bound).await;
}
