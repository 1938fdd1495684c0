//! The sharded map of live objects' mailboxes, and what an actor shares with it.
//!
//! Sends happen under the shard lock, and an actor leaves only under the same lock and only when
//! its mailbox is empty, so a message can never land in the mailbox of an actor that is leaving,
//! and a new actor for the ID is only created after the old one is gone from the map.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::sync::{Notify, mpsc};

use super::event::Msg;
use crate::store::{CommitState, ObjectKey};

const SHARDS: usize = 32;

/// State an actor shares with the slots (and, through `commit`, with the committer).
#[derive(Debug, Default)]
pub struct Shared {
    pub commit: Arc<CommitState>,
    /// Milliseconds since the slots were made, at the last event (for LRU eviction).
    pub(super) last_used: AtomicU64,
    /// The object's name once known (set once by the actor; read by the admin API).
    pub name: OnceLock<String>,
    /// Messages in the mailbox not yet taken by the actor. Why atomic: senders add on any
    /// thread, the actor subtracts as it takes them; bounded sends compare it with the bound.
    pub queued: AtomicUsize,
    /// Notified when the actor takes a message (senders waiting for room try again).
    pub room: Notify,
    /// The object has sockets that keep it resident (as of its last event).
    pub pinned: AtomicBool,
    /// An eviction request is on its way; another one is not sent until it is handled.
    pub evict_requested: AtomicBool,
}

impl Shared {
    /// Whether the object could leave memory now (as far as others can tell).
    fn evictable(&self) -> bool {
        !self.pinned.load(Ordering::Relaxed)
            && !self.evict_requested.load(Ordering::Relaxed)
            && self.commit.in_flight.load(Ordering::Relaxed) == 0
    }
}

/// An object's mailbox, as its actor reads it. Entries are boxed: the channel allocates its
/// first block of 32 entries when it is made, so with `Msg` inline every live object, however
/// idle, would hold 32 message-sized slots (about 8 KiB); boxed they take 256 bytes.
pub(super) type Mailbox = mpsc::UnboundedReceiver<Box<Msg>>;

/// One live object in the map.
pub(super) struct Handle {
    pub tx: mpsc::UnboundedSender<Box<Msg>>,
    pub shared: Arc<Shared>,
}

impl Handle {
    /// Puts `msg` in the mailbox, counting it in `queued` until the actor takes it; hands it
    /// back if the actor is gone.
    pub fn send(&self, msg: Msg) -> Result<(), Msg> {
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        self.tx
            .send(Box::new(msg))
            .map_err(|mpsc::error::SendError(m)| {
                self.shared.queued.fetch_sub(1, Ordering::SeqCst);
                *m
            })
    }
}

/// Live objects of every namespace, by key.
pub struct Slots {
    shards: Box<[Mutex<HashMap<ObjectKey, Handle>>]>,
    hasher: RandomState,
    /// Live actors (entries in all shards).
    live: AtomicUsize,
    /// Resident cap: past it the least recently used evictable object is asked to leave.
    pub(super) cap: usize,
    started: Instant,
    /// Counts objects that left memory.
    pub(super) evictions: AtomicU64,
}

impl Slots {
    pub fn new(cap: usize) -> Self {
        Slots {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            live: AtomicUsize::new(0),
            cap,
            started: Instant::now(),
            evictions: AtomicU64::new(0),
        }
    }

    pub(super) fn shard(&self, key: &ObjectKey) -> MutexGuard<'_, HashMap<ObjectKey, Handle>> {
        self.shards[self.hasher.hash_one(key) as usize % SHARDS]
            .lock()
            .expect("slots lock")
    }

    pub fn live_count(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub(super) fn added(&self) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn removed(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }

    pub(super) fn touch(&self, shared: &Shared) {
        shared
            .last_used
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Removes the actor of `key` if its mailbox is empty and none of its commits are in flight
    /// (the caller checked that no socket pins it). Returns whether it may now end.
    pub(super) fn retire(&self, key: &ObjectKey, shared: &Shared, rx: &Mailbox) -> bool {
        let mut shard = self.shard(key);
        if !rx.is_empty() || shared.commit.in_flight.load(Ordering::SeqCst) != 0 {
            return false;
        }
        if shard.remove(key).is_some() {
            self.removed();
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Puts a host event into the mailbox of `key` if it is live (its outcome is not awaited);
    /// returns whether it was.
    pub(super) fn post_host_event(&self, key: &ObjectKey, event: super::event::Event) -> bool {
        let shard = self.shard(key);
        let Some(h) = shard.get(key) else {
            return false;
        };
        let (reply, _) = tokio::sync::oneshot::channel();
        let msg = Msg::Event {
            event,
            name: None,
            upgrade: false,
            origin: super::event::Origin::new(),
            reply,
        };
        h.send(msg).is_ok()
    }

    /// Puts `message(key)` into the mailbox of every live object it gives one for; returns how
    /// many got one.
    pub(super) fn tell_each(&self, mut message: impl FnMut(&ObjectKey) -> Option<Msg>) -> usize {
        let mut told = 0;
        for shard in self.shards.iter() {
            let shard = shard.lock().expect("slots lock");
            for (k, h) in shard.iter() {
                if let Some(m) = message(k) {
                    told += usize::from(h.send(m).is_ok());
                }
            }
        }
        told
    }

    /// Every live object with its name (if known) and the milliseconds since its last event.
    pub fn live_objects(&self) -> Vec<(ObjectKey, Option<String>, u64)> {
        let now = self.started.elapsed().as_millis() as u64;
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock().expect("slots lock");
            for (k, h) in shard.iter() {
                let last = h.shared.last_used.load(Ordering::Relaxed);
                let name = h.shared.name.get().cloned();
                out.push((k.clone(), name, now.saturating_sub(last)));
            }
        }
        out
    }

    /// Asks the least recently used object that can leave to do so. Objects pinned by
    /// sockets, with commits in flight or already asked are passed over, so a full cap of
    /// objects that cannot leave costs one scan, not a flood of requests.
    pub fn make_room(&self) {
        let mut oldest: Option<(u64, ObjectKey)> = None;
        for shard in self.shards.iter() {
            let shard = shard.lock().expect("slots lock");
            for (k, h) in shard.iter() {
                if !h.shared.evictable() {
                    continue;
                }
                let t = h.shared.last_used.load(Ordering::Relaxed);
                if oldest.as_ref().is_none_or(|(o, _)| t < *o) {
                    oldest = Some((t, k.clone()));
                }
            }
        }
        let Some((_, key)) = oldest else { return };
        let shard = self.shard(&key);
        if let Some(h) = shard.get(&key) {
            h.shared.evict_requested.store(true, Ordering::Relaxed);
            let _ = h.send(Msg::Evict(None));
        }
    }
}
