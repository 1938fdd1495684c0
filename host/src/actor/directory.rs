//! ID → live object: guarantees at most one actor per (namespace, id) on this host, starts
//! actors on first use, and admits events into their mailboxes (bounded for requests).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::classes::{ClassTable, Served, view_limits};
use super::event::{Event, EventError, EventResult, Msg, Origin};
use super::object::Actor;
use super::remote::Remote;
use super::services::Services;
use super::slots::{Handle, Mailbox, Shared, Slots};
use super::waits::WaitGraph;
use crate::id::ObjectId;
use crate::runtime::{Class, Identity, Outbound};
use crate::store::{CommitState, ObjectKey, ObjectStorage};

/// The object's mailbox is full.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "Durable Object is overloaded: {queued} events are waiting for it, the limit is {limit}; retry later"
)]
pub struct Overloaded {
    pub queued: usize,
    pub limit: usize,
}

/// A bounded send that did not fit, with what it would have sent.
struct Refused {
    overloaded: Overloaded,
    shared: Arc<Shared>,
    event: Event,
}

/// How a send treats a full mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Refuse past the bound (requests from clients).
    Bounded,
    /// Always admit (host events bounded by other means: one alarm per object, one close per
    /// socket).
    Always,
}

/// Live objects of every namespace.
pub struct Directory {
    slots: Arc<Slots>,
    services: Arc<Services>,
    /// Delivers the calls of every instance (it refers back to this directory weakly).
    router: Arc<dyn Outbound>,
    /// Who waits for whom among the calls between objects.
    pub(super) waits: Arc<WaitGraph>,
    /// Cluster mode: where calls to objects on other nodes go. Set once at start-up, before
    /// the first request.
    remote: std::sync::OnceLock<Arc<dyn Remote>>,
}

impl Directory {
    /// The directory, with the port its instances' calls go through (made from a weak
    /// reference to the directory itself; see `calls.rs`, which builds it with the router).
    pub(super) fn with_router(
        services: Services,
        cap: usize,
        router: impl FnOnce(std::sync::Weak<Directory>) -> Arc<dyn Outbound>,
    ) -> Arc<Directory> {
        Arc::new_cyclic(|me| Directory {
            slots: Arc::new(Slots::new(cap)),
            services: Arc::new(services),
            router: router(me.clone()),
            waits: Arc::default(),
            remote: std::sync::OnceLock::new(),
        })
    }

    /// Sets the port for calls to objects on other nodes (once, at start-up).
    pub fn set_remote(&self, remote: Arc<dyn Remote>) {
        if self.remote.set(remote).is_err() {
            tracing::error!("the remote call port was set twice; keeping the first");
        }
    }

    pub(super) fn remote(&self) -> Option<&dyn Remote> {
        self.remote.get().map(|r| &**r)
    }

    /// The port through which workers' instances call objects.
    pub fn outbound(&self) -> Arc<dyn Outbound> {
        self.router.clone()
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Live objects right now.
    pub fn live_count(&self) -> usize {
        self.slots.live_count()
    }

    /// Every live object with its name (if known) and the milliseconds since its last event.
    pub fn live_objects(&self) -> Vec<(ObjectKey, Option<String>, u64)> {
        self.slots.live_objects()
    }

    /// Whether the object is in memory now (its actor runs).
    pub fn is_live(&self, key: &ObjectKey) -> bool {
        self.slots.shard(key).get(key).is_some()
    }

    /// Objects that left memory so far.
    pub fn evictions(&self) -> u64 {
        self.slots.evictions.load(Ordering::Relaxed)
    }

    /// The class of a binding (now: a code update may replace it).
    pub fn class(&self, binding: &str) -> Option<Arc<Class>> {
        self.services.classes.load().class(binding).cloned()
    }

    /// The class whose objects are stored under `namespace` (what an [`ObjectKey`] names).
    pub fn class_of_namespace(&self, namespace: &str) -> Option<Arc<Class>> {
        let table = self.services.classes.load();
        table
            .served_in_namespace(namespace)
            .map(|s| s.class.clone())
    }

    /// The class served under the direct route `/{route}/...`.
    pub fn class_of_route(&self, route: &str) -> Option<Arc<Class>> {
        self.services.classes.load().class_of_route(route).cloned()
    }

    /// Delivers a host event (alarm, socket close) to the object, activating it if needed.
    /// The receiver yields the outcome once it may be released.
    pub fn send(
        &self,
        class: &Arc<Class>,
        id: ObjectId,
        name: Option<String>,
        event: Event,
    ) -> oneshot::Receiver<EventResult> {
        match self.post(
            class,
            id,
            name,
            event,
            false,
            Admission::Always,
            Origin::new(),
        ) {
            Ok(rx) => rx,
            Err(_) => unreachable!("host events are always admitted"),
        }
    }

    /// Delivers a client's request, refusing it when the object's mailbox is full.
    pub fn request(
        &self,
        class: &Arc<Class>,
        id: ObjectId,
        name: Option<String>,
        event: Event,
        upgrade: bool,
    ) -> Result<oneshot::Receiver<EventResult>, Overloaded> {
        self.post(
            class,
            id,
            name,
            event,
            upgrade,
            Admission::Bounded,
            Origin::new(),
        )
        .map_err(|r| r.overloaded)
    }

    /// Delivers a socket message, waiting while the object's mailbox is full (the client's
    /// connection is not read meanwhile: backpressure instead of buffering).
    pub async fn send_when_room(
        &self,
        class: &Arc<Class>,
        id: ObjectId,
        event: Event,
    ) -> oneshot::Receiver<EventResult> {
        let mut event = event;
        loop {
            let refused = match self.post(
                class,
                id,
                None,
                event,
                false,
                Admission::Bounded,
                Origin::new(),
            ) {
                Ok(rx) => return rx,
                Err(r) => r,
            };
            let shared = refused.shared;
            let notified = shared.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.queued.load(Ordering::SeqCst) >= self.services.max_queued_events {
                notified.await;
            }
            event = refused.event;
        }
    }

    /// Delivers a call from another object (or a worker), refusing it when the mailbox is full.
    pub(super) fn call(
        &self,
        class: &Arc<Class>,
        id: ObjectId,
        name: Option<String>,
        event: Event,
        upgrade: bool,
        origin: Origin,
    ) -> Result<oneshot::Receiver<EventResult>, Overloaded> {
        self.post(class, id, name, event, upgrade, Admission::Bounded, origin)
            .map_err(|r| r.overloaded)
    }

    #[allow(clippy::too_many_arguments)]
    fn post(
        &self,
        class: &Arc<Class>,
        id: ObjectId,
        name: Option<String>,
        event: Event,
        upgrade: bool,
        admission: Admission,
        origin: Origin,
    ) -> Result<oneshot::Receiver<EventResult>, Refused> {
        let (reply, rx) = oneshot::channel();
        let key = class.key(&id);
        let created;
        {
            let mut shard = self.slots.shard(&key);
            if let Some(h) = shard.get(&key) {
                let limit = self.services.max_queued_events;
                let queued = h.shared.queued.load(Ordering::SeqCst);
                if admission == Admission::Bounded && queued >= limit {
                    self.services
                        .metrics
                        .overloaded
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(Refused {
                        overloaded: Overloaded { queued, limit },
                        shared: h.shared.clone(),
                        event,
                    });
                }
            }
            let msg = Msg::Event {
                event,
                name,
                upgrade,
                origin,
                reply,
            };
            // The commit state a new actor starts from: that of an actor that died without
            // leaving (a host bug), so the new one never reads around commits still in flight.
            let mut carried = None;
            let msg = match shard.get(&key) {
                None => msg,
                Some(h) => match h.send(msg) {
                    Ok(()) => return Ok(rx),
                    Err(m) => {
                        tracing::error!(namespace = %class.config.binding, object = %id, "object actor vanished; starting a new one");
                        carried = Some(h.shared.commit.clone());
                        m
                    }
                },
            };
            if carried.is_some() {
                shard.remove(&key);
                self.slots.removed();
            }
            created = carried.is_none();
            // A new activation runs the class served now: `class` may be from before a code
            // update (a socket's connection task, an alarm run, a caller hold one).
            let table = self.services.classes.load();
            let Some(served) = table.served_in_namespace(&class.config.namespace) else {
                let Msg::Event { reply, .. } = msg else {
                    unreachable!("an event was posted")
                };
                let _ = reply.send(Err(EventError::Removed {
                    class: class.config.class.as_str().into(),
                    binding: class.config.binding.clone(),
                }));
                return Ok(rx);
            };
            let handle = self.spawn(served, key.clone(), id, carried.unwrap_or_default());
            if handle.send(msg).is_err() {
                unreachable!("a new mailbox is open");
            }
            shard.insert(key.clone(), handle);
            self.slots.added();
        }
        if created && self.slots.live_count() > self.slots.cap {
            self.slots.make_room();
        }
        Ok(rx)
    }

    fn spawn(
        &self,
        served: &Served,
        key: ObjectKey,
        id: ObjectId,
        commit: Arc<CommitState>,
    ) -> Handle {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            commit,
            ..Shared::default()
        });
        self.slots.touch(&shared);
        let seed = Seed {
            slots: self.slots.clone(),
            services: self.services.clone(),
            outbound: self.router.clone(),
            served: served.clone(),
            key,
            id,
            shared: shared.clone(),
        };
        tokio::spawn(supervise(seed, rx));
        Handle { tx, shared }
    }

    /// Asks the object to leave memory; answers whether it did (`None` if it was not live).
    pub fn evict(&self, key: &ObjectKey) -> Option<oneshot::Receiver<bool>> {
        let shard = self.slots.shard(key);
        let handle = shard.get(key)?;
        let (tx, rx) = oneshot::channel();
        handle.send(Msg::Evict(Some(tx))).ok()?;
        Some(rx)
    }

    /// Serves `table` from now on (a code update). Events admitted before run on the classes
    /// they were admitted to; each live object of a replaced class moves to the new one after
    /// them (its next event constructs it anew), and each of a removed class leaves.
    pub fn update(&self, table: ClassTable) -> Update {
        let new = Arc::new(table);
        let old = self.services.classes.swap(new.clone());
        let mut report = Update::default();
        let mut moving: HashMap<String, Option<Served>> = HashMap::new();
        for (binding, was) in old.iter() {
            match new.served(binding) {
                Some(now) if Arc::ptr_eq(&now.class, &was.class) => {
                    report.unchanged.push(binding.clone())
                }
                Some(now) => {
                    report.replaced.push(binding.clone());
                    moving.insert(was.class.config.namespace.clone(), Some(now.clone()));
                }
                None => {
                    report.removed.push(binding.clone());
                    moving.insert(was.class.config.namespace.clone(), None);
                }
            }
        }
        report.added = new
            .iter()
            .filter(|(b, _)| old.served(b).is_none())
            .map(|(b, _)| b.clone())
            .collect();
        if !moving.is_empty() {
            report.objects_moved = self.slots.tell_each(|key| {
                let (namespace, _) = key.parts();
                Some(Msg::Update(moving.get(namespace)?.clone()))
            });
        }
        for list in [
            &mut report.unchanged,
            &mut report.replaced,
            &mut report.added,
            &mut report.removed,
        ] {
            list.sort();
        }
        report
    }

    /// Test seam: makes the object's actor panic (as a host bug would). Whether it was live.
    pub fn panic_object(&self, key: &ObjectKey) -> bool {
        let shard = self.slots.shard(key);
        let Some(handle) = shard.get(key) else {
            return false;
        };
        handle.send(Msg::Panic).is_ok()
    }
}

/// What a code update changed, by binding.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Update {
    pub replaced: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Live objects told to move to their new class (or to leave, for a removed one).
    pub objects_moved: usize,
}

/// What an object's actor is made from, kept to make it again after a panic.
struct Seed {
    slots: Arc<Slots>,
    services: Arc<Services>,
    outbound: Arc<dyn Outbound>,
    /// The class it was started with; a restart after a panic takes the one served then.
    served: Served,
    key: ObjectKey,
    id: ObjectId,
    shared: Arc<Shared>,
}

impl Seed {
    fn grow(&self) -> Actor {
        let served = self
            .services
            .classes
            .load()
            .served_in_namespace(&self.served.class.config.namespace)
            .cloned()
            .unwrap_or_else(|| self.served.clone());
        let class = served.class;
        let commit = self.shared.commit.clone();
        Actor {
            slots: self.slots.clone(),
            services: self.services.clone(),
            outbound: self.outbound.clone(),
            identity: Identity {
                binding: class.config.binding.clone(),
                key: class.key(&self.id),
                id: self.id,
                name: None,
                class: class.config.class.as_str().into(),
            },
            shared: self.shared.clone(),
            generation: commit.generation.load(Ordering::SeqCst),
            live: None,
            spare: Some(ObjectStorage::new(
                self.services.db.clone(),
                self.key.clone(),
                view_limits(&class),
                commit,
                self.services.committer.clone(),
            )),
            name_recorded: false,
            owned: false,
            key: self.key.clone(),
            hosts: served.hosts,
            class,
            home: None,
        }
    }
}

/// Runs the object's actor; if it panics (a host bug), logs it and starts a new one on the same
/// mailbox, so the events waiting there are not lost (the one being handled fails with "the
/// object went away"). The new actor starts from storage and waits for the old one's commits.
async fn supervise(seed: Seed, mut rx: Mailbox) {
    loop {
        let actor = seed.grow();
        match AssertUnwindSafe(actor.run(&mut rx)).catch_unwind().await {
            Ok(()) => return,
            Err(_) => {
                tracing::error!(namespace = %seed.served.class.config.binding, object = %seed.id, "object actor panicked; starting it anew on its mailbox");
                // Its instance is gone, and with it the listeners of its pinned sockets.
                seed.services.hub.close_pinned(&seed.key);
            }
        }
    }
}
