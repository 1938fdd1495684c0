//! ID → live object. Guarantees at most one actor per (namespace, id) on this host.
//!
//! Sends happen under the shard lock, and an actor leaves only under the same lock and only when
//! its mailbox is empty, so a message can never land in the mailbox of an actor that is leaving,
//! and a new actor for the ID is only created after the old one is gone from the map.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::alarm::AlarmWaker;
use crate::commit::{CommitState, Committer};
use crate::engine::{Class, Engine};
use crate::id::ObjectId;
use crate::instance::Identity;
use crate::metrics::Metrics;
use crate::namespaces::Namespaces;
use crate::object::{Actor, Event, EventResult, Msg};
use crate::object_storage::ObjectStorage;
use crate::storage::{Db, ObjectKey};
use crate::websocket::Hub;

const SHARDS: usize = 32;

/// The host services every object uses.
pub struct Services {
    pub engine: Engine,
    pub db: Db,
    pub committer: Committer,
    pub namespaces: Namespaces,
    pub metrics: Metrics,
    /// Every object's WebSockets (they outlive the objects' activations).
    pub hub: Arc<Hub>,
    /// Wakes the alarm scheduler.
    pub alarm_waker: Arc<AlarmWaker>,
    /// Every class, by binding (= namespace).
    pub classes: HashMap<String, Arc<Class>>,
}

/// State an actor shares with the registry and the committer.
#[derive(Debug, Default)]
pub struct Shared {
    pub commit: Arc<CommitState>,
    /// Milliseconds since the registry started, at the last event (for LRU eviction).
    last_used: AtomicU64,
    /// The object's name once known (set once by the actor; read by the admin API).
    pub name: std::sync::OnceLock<String>,
}

impl Shared {
    pub fn touch(&self, registry: &Registry) {
        self.last_used.store(
            registry.started.elapsed().as_millis() as u64,
            Ordering::Relaxed,
        );
    }
}

struct Handle {
    tx: mpsc::UnboundedSender<Msg>,
    shared: Arc<Shared>,
}

/// Live objects of every namespace.
pub struct Registry {
    shards: Box<[Mutex<HashMap<ObjectKey, Handle>>]>,
    hasher: RandomState,
    /// Live actors (entries in all shards).
    live: AtomicUsize,
    /// Resident cap: past it the least recently used object is asked to leave.
    cap: usize,
    started: Instant,
    services: Services,
}

impl Registry {
    pub fn new(services: Services, cap: usize) -> Arc<Registry> {
        Arc::new(Registry {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            live: AtomicUsize::new(0),
            cap,
            started: Instant::now(),
            services,
        })
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Live objects right now.
    pub fn live_count(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    fn shard(&self, key: &ObjectKey) -> &Mutex<HashMap<ObjectKey, Handle>> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// Delivers an event to the object `id` of `class`, activating it if needed. The receiver
    /// yields the outcome once it may be released.
    pub fn send(
        self: &Arc<Self>,
        class: &Arc<Class>,
        id: ObjectId,
        name: Option<String>,
        event: Event,
    ) -> oneshot::Receiver<EventResult> {
        self.send_upgrade(class, id, name, event, false)
    }

    /// Like [`Registry::send`], for a fetch that may be a WebSocket upgrade.
    pub fn send_upgrade(
        self: &Arc<Self>,
        class: &Arc<Class>,
        id: ObjectId,
        name: Option<String>,
        event: Event,
        upgrade: bool,
    ) -> oneshot::Receiver<EventResult> {
        let (reply, rx) = oneshot::channel();
        let key = ObjectKey::new(&class.config.binding, &id);
        let mut msg = Msg::Event {
            event,
            name,
            upgrade,
            reply,
        };
        let mut created = false;
        {
            let mut shard = self.shard(&key).lock().expect("registry lock");
            loop {
                match shard.entry(key.clone()) {
                    Entry::Occupied(e) => match e.get().tx.send(msg) {
                        Ok(()) => break,
                        Err(mpsc::error::SendError(m)) => {
                            // The actor died without leaving (a host bug): replace it.
                            tracing::error!("object actor vanished; starting a new one");
                            e.remove();
                            self.live.fetch_sub(1, Ordering::SeqCst);
                            msg = m;
                        }
                    },
                    Entry::Vacant(v) => {
                        let handle = self.spawn(class, key.clone(), id);
                        if handle.tx.send(msg).is_err() {
                            unreachable!("a new mailbox is open");
                        }
                        v.insert(handle);
                        self.live.fetch_add(1, Ordering::SeqCst);
                        created = true;
                        break;
                    }
                }
            }
        }
        if created && self.live_count() > self.cap {
            self.make_room();
        }
        rx
    }

    fn spawn(self: &Arc<Self>, class: &Arc<Class>, key: ObjectKey, id: ObjectId) -> Handle {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        shared.touch(self);
        let actor = Actor {
            registry: self.clone(),
            class: class.clone(),
            identity: Identity {
                namespace: class.config.binding.clone(),
                id,
                name: None,
            },
            shared: shared.clone(),
            generation: 0,
            live: None,
            spare: Some(ObjectStorage::new(
                self.services.db.clone(),
                key.clone(),
                class.config.limits,
            )),
            name_recorded: false,
            key,
        };
        tokio::spawn(actor.run(rx));
        Handle { tx, shared }
    }

    /// Removes the actor of `key` if its mailbox is empty and none of its commits are in flight.
    /// Returns whether it may now end.
    pub(crate) fn retire(
        &self,
        key: &ObjectKey,
        shared: &Shared,
        rx: &mpsc::UnboundedReceiver<Msg>,
    ) -> bool {
        let mut shard = self.shard(key).lock().expect("registry lock");
        if !rx.is_empty()
            || shared.commit.in_flight.load(Ordering::SeqCst) != 0
            || self.services.hub.pinned(key)
        {
            return false;
        }
        if shard.remove(key).is_some() {
            self.live.fetch_sub(1, Ordering::SeqCst);
            self.services
                .metrics
                .evictions
                .fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// The class of a namespace.
    pub fn class(&self, namespace: &str) -> Option<&Arc<Class>> {
        self.services.classes.get(namespace)
    }

    /// Asks the object to leave memory; answers whether it did (`None` if it was not live).
    pub fn evict(&self, key: &ObjectKey) -> Option<oneshot::Receiver<bool>> {
        let shard = self.shard(key).lock().expect("registry lock");
        let handle = shard.get(key)?;
        let (tx, rx) = oneshot::channel();
        handle.tx.send(Msg::Evict(Some(tx))).ok()?;
        Some(rx)
    }

    /// Every live object with its name (if known) and the milliseconds since its last event.
    pub fn live_objects(&self) -> Vec<(ObjectKey, Option<String>, u64)> {
        let now = self.started.elapsed().as_millis() as u64;
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock().expect("registry lock");
            for (k, h) in shard.iter() {
                let last = h.shared.last_used.load(Ordering::Relaxed);
                let name = h.shared.name.get().cloned();
                out.push((k.clone(), name, now.saturating_sub(last)));
            }
        }
        out
    }

    /// Asks the least recently used object to leave memory.
    pub(crate) fn make_room(&self) {
        let mut oldest: Option<(u64, mpsc::UnboundedSender<Msg>)> = None;
        for shard in self.shards.iter() {
            let shard = shard.lock().expect("registry lock");
            for h in shard.values() {
                let t = h.shared.last_used.load(Ordering::Relaxed);
                if oldest.as_ref().is_none_or(|(o, _)| t < *o) {
                    oldest = Some((t, h.tx.clone()));
                }
            }
        }
        if let Some((_, tx)) = oldest {
            let _ = tx.send(Msg::Evict(None));
        }
    }
}
