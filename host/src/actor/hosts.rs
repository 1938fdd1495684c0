//! Instances that host many objects (a class whose component exports `hosting`: JavaScript and
//! Python): which instance an object's activation lives in, its slot there, and the rules that
//! keep sharing invisible to objects.
//!
//! - An object is placed once per activation, on the least loaded of the class's instances that
//!   is not full and not waiting in a call; the first `instances` objects each get an instance of
//!   their own, so events of different objects run in parallel on the cores.
//! - An instance runs one event at a time (its [`HostState`] lock is held across the guest call);
//!   the guest learns the running object's slot from `hosting-context.slot`.
//! - A failed event, an eviction or a move releases the object's slot: the instance is told to
//!   `forget` it before its next event, so the object is constructed anew wherever it runs next,
//!   and its neighbours keep their state.
//! - A trap loses the instance: the next event of any of its objects starts a new one (bumping
//!   the instance's generation tells each hosted object that its state is gone).
//! - An object whose instance waits in a call (its [`Suspension`]) does not wait for it: a call's
//!   event moves at once (it may be the callee the instance waits for), any other event after
//!   [`MOVE_AFTER`] (a call may be queued behind it). This is what keeps calls between objects of
//!   one instance from deadlocking.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::runtime::{Class, Live, Suspension};
use crate::store::ObjectKey;

/// How long an event other than a call waits for an instance suspended in a call before its
/// object moves to another instance.
pub(super) const MOVE_AFTER: Duration = Duration::from_millis(10);

/// The shared instances of one class.
pub struct Hosts {
    class: Arc<Class>,
    /// The class's instances. Why a mutex: placing and releasing objects (once per activation,
    /// and on failures) is short and never held across an await.
    all: Mutex<Vec<Arc<Host>>>,
    /// Numbers instances for log lines and tests.
    next_id: AtomicU64,
    /// Objects moved off an instance suspended in a call (a counter for metrics and tests).
    /// Shared with the instance sets that succeed this one after code updates, so the
    /// Prometheus counter never goes back.
    pub moves: Arc<AtomicU64>,
    /// Instances lost to a trap (shared with successors, as `moves`).
    pub lost: Arc<AtomicU64>,
}

/// One instance hosting objects of a class.
pub struct Host {
    pub id: u64,
    /// Marked by the instance's store while its event waits in a call.
    pub suspension: Arc<Suspension>,
    /// The instance. Why an async mutex: it is held for a whole event, across the guest call.
    pub state: Arc<tokio::sync::Mutex<HostState>>,
    /// Who holds which slot. Why a std mutex: short, never across an await.
    book: Mutex<Book>,
}

/// The instance.
#[derive(Default)]
pub struct HostState {
    /// `None` before the first event and after a trap.
    pub live: Option<Live>,
}

#[derive(Default)]
struct Book {
    hosted: HashMap<u32, ObjectKey>,
    free: Vec<u32>,
    next: u32,
    /// Released slots the instance must forget before its next event.
    forget: Vec<u32>,
    /// Bumped when the instance is lost: state of slots placed before is gone.
    generation: u64,
}

/// Where an object's activation lives.
pub struct Home {
    pub host: Arc<Host>,
    pub slot: u32,
    /// The host's generation when the object last ran there.
    pub generation: u64,
}

impl Hosts {
    pub fn new(class: Arc<Class>) -> Hosts {
        Hosts {
            class,
            all: Mutex::default(),
            next_id: AtomicU64::new(1),
            moves: Arc::default(),
            lost: Arc::default(),
        }
    }

    /// The instance set of `class` replacing `previous` (a code update): it counts on from
    /// `previous`'s counters.
    pub fn succeeding(class: Arc<Class>, previous: &Hosts) -> Hosts {
        Hosts {
            moves: previous.moves.clone(),
            lost: previous.lost.clone(),
            ..Hosts::new(class)
        }
    }

    /// Number of instances now.
    pub fn count(&self) -> usize {
        self.all.lock().expect("hosts lock").len()
    }

    /// Places `key` on an instance: the least loaded one with room that is not suspended in a
    /// call, or a new one while there are fewer than the class's `instances` or none fits.
    pub fn place(&self, key: &ObjectKey) -> Home {
        let mut all = self.all.lock().expect("hosts lock");
        let room = self.class.objects_per_instance as usize;
        let best = all
            .iter()
            .filter(|h| !h.suspension.is_suspended())
            .map(|h| (h.book.lock().expect("book lock").hosted.len(), h))
            .filter(|(n, _)| *n < room)
            .min_by_key(|(n, _)| *n)
            .map(|(n, h)| (n, h.clone()));
        let host = match best {
            Some((n, h)) if n == 0 || all.len() >= self.class.instances as usize => h,
            _ => {
                let h = Arc::new(Host {
                    id: self.next_id.fetch_add(1, Ordering::Relaxed),
                    suspension: Arc::default(),
                    state: Arc::default(),
                    book: Mutex::default(),
                });
                all.push(h.clone());
                h
            }
        };
        let mut book = host.book.lock().expect("book lock");
        let slot = match book.free.pop() {
            Some(s) => s,
            None => {
                book.next += 1;
                book.next - 1
            }
        };
        book.hosted.insert(slot, key.clone());
        let generation = book.generation;
        drop(book);
        Home {
            host,
            slot,
            generation,
        }
    }

    /// Gives `home`'s slot back: the instance forgets it before its next event. An instance that
    /// hosts no object any more is dropped (with its memory).
    pub fn release(&self, home: Home) {
        let mut all = self.all.lock().expect("hosts lock");
        let mut book = home.host.book.lock().expect("book lock");
        book.hosted.remove(&home.slot);
        if home.generation == book.generation {
            book.forget.push(home.slot);
        }
        book.free.push(home.slot);
        if book.hosted.is_empty() {
            all.retain(|h| !Arc::ptr_eq(h, &home.host));
        }
    }

    /// Records that `host`'s instance is lost: its objects start afresh, and what it was to
    /// forget is moot. Returns the other objects it hosted (their in-memory sockets close).
    pub fn lose(&self, host: &Host, state: &mut HostState, except: &ObjectKey) -> Vec<ObjectKey> {
        self.lost.fetch_add(1, Ordering::Relaxed);
        state.live = None;
        let mut book = host.book.lock().expect("book lock");
        book.generation += 1;
        book.forget.clear();
        book.hosted
            .values()
            .filter(|k| *k != except)
            .cloned()
            .collect()
    }
}

impl Host {
    /// The instance's generation (bumped when it is lost).
    pub fn generation(&self) -> u64 {
        self.book.lock().expect("book lock").generation
    }

    /// The slots to forget before the next event (taken: the caller tells the instance).
    pub fn take_forgets(&self) -> Vec<u32> {
        std::mem::take(&mut self.book.lock().expect("book lock").forget)
    }
}
