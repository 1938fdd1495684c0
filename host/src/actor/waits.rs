//! Who waits for whom: the wait-for graph of calls between objects on this host.
//!
//! An object's event that calls another object waits, inside a host call, until the callee has
//! run the call; its component instance cannot be entered meanwhile. So a call that would make an
//! object wait, directly or through others, for an object that waits for it can never finish.
//! Each event runs one call at a time, so every object waits for at most one other: the graph is
//! a set of chains, and adding an edge closes a circle exactly when walking from the callee leads
//! back to the caller. The walk is done under one lock when the call is made, so the circle is
//! refused at once, before anything is queued.
//!
//! An edge lasts from the call until the callee has *run* the call's event (not until its commit
//! is durable: a callee whose event is over no longer needs anything from the caller).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::ObjectKey;

/// One object waiting for another.
#[derive(Debug, Clone)]
struct Edge {
    /// Tells this wait from a later one of the same object.
    serial: u64,
    to: ObjectKey,
    /// The chain of calls it belongs to.
    chain: u64,
    /// How messages name the callee.
    to_label: Arc<str>,
}

#[derive(Debug, Default)]
struct Graph {
    edges: HashMap<ObjectKey, Edge>,
    next_serial: u64,
}

/// The graph, shared by every actor.
#[derive(Debug, Default)]
pub struct WaitGraph {
    inner: Mutex<Graph>,
}

/// A call that would wait in a circle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Circle {
    /// Every wait in the circle belongs to the caller's own chain (A -> B -> A).
    Cycle(Vec<Arc<str>>),
    /// The circle joins waits of different chains.
    Deadlock(Vec<Arc<str>>),
}

impl std::fmt::Display for Circle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Circle::Cycle(path) => write!(
                f,
                "call cycle: {} (an object waiting in a call cannot be called again until that call returns)",
                path.join(" -> ")
            ),
            Circle::Deadlock(path) => write!(
                f,
                "deadlock: {} (objects waiting for each other from different chains of calls)",
                path.join(" -> ")
            ),
        }
    }
}

/// The circle a call of `chain` to `to` closes when `to` waits in that very chain for a call
/// that left this node (the walk from it stops at an object of another node): the chain's
/// calls run one at a time, so `to` cannot run it until its own call returns.
fn returning(
    g: &Graph,
    from: &Arc<str>,
    to: (&ObjectKey, &Arc<str>),
    chain: u64,
) -> Option<Circle> {
    let e = g.edges.get(to.0).filter(|e| e.chain == chain)?;
    let mut path = vec![from.clone(), to.1.clone(), e.to_label.clone()];
    if e.to_label != *from {
        path.extend([Arc::from("…"), from.clone()]);
    }
    Some(Circle::Cycle(path))
}

/// The caller's wait for one call; removing it (on drop) is idempotent. The callee drops its copy
/// once the call's event has run, the caller once the answer came (or the call timed out).
#[derive(Debug)]
pub struct Wait {
    graph: Arc<WaitGraph>,
    from: ObjectKey,
    serial: u64,
}

impl Drop for Wait {
    fn drop(&mut self) {
        let mut g = self.graph.inner.lock().expect("wait graph lock");
        if g.edges
            .get(&self.from)
            .is_some_and(|e| e.serial == self.serial)
        {
            g.edges.remove(&self.from);
        }
    }
}

impl WaitGraph {
    /// A call of `chain` from `from` (an object on another node) to `to`, which waits here in
    /// that chain: refused as a cycle (see [`returning`]).
    pub fn arriving(
        &self,
        from: &Arc<str>,
        to: (&ObjectKey, &Arc<str>),
        chain: u64,
    ) -> Result<(), Circle> {
        let g = self.inner.lock().expect("wait graph lock");
        returning(&g, from, to, chain).map_or(Ok(()), Err)
    }

    /// Records that `from` waits for `to` in `chain`, unless that closes a circle. Returns the
    /// wait twice: one for the caller, one to travel with the call to the callee.
    pub fn wait(
        self: &Arc<Self>,
        from: (&ObjectKey, &Arc<str>),
        to: (&ObjectKey, &Arc<str>),
        chain: u64,
    ) -> Result<(Wait, Wait), Circle> {
        let mut g = self.inner.lock().expect("wait graph lock");
        // Walk from the callee along the waits; reaching the caller closes a circle.
        let mut path = vec![from.1.clone(), to.1.clone()];
        let mut same_chain = true;
        let mut closed = to.0 == from.0;
        let mut at = to.0;
        while !closed {
            let Some(e) = g.edges.get(at) else {
                break;
            };
            same_chain &= e.chain == chain;
            path.push(e.to_label.clone());
            closed = &e.to == from.0;
            at = &e.to;
        }
        if !closed && let Some(circle) = returning(&g, from.1, to, chain) {
            return Err(circle);
        }
        if !closed {
            let serial = g.next_serial;
            g.next_serial += 1;
            g.edges.insert(
                from.0.clone(),
                Edge {
                    serial,
                    to: to.0.clone(),
                    chain,
                    to_label: to.1.clone(),
                },
            );
            drop(g);
            let wait = || Wait {
                graph: self.clone(),
                from: from.0.clone(),
                serial,
            };
            return Ok((wait(), wait()));
        }
        Err(if same_chain {
            Circle::Cycle(path)
        } else {
            Circle::Deadlock(path)
        })
    }

    /// How many objects wait right now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().expect("wait graph lock").edges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;

    fn key(n: u8) -> (ObjectKey, Arc<str>) {
        (
            ObjectKey::new("ns", &ObjectId::from_bytes([n; 32])),
            format!("ns/{n}").into(),
        )
    }

    fn r(k: &(ObjectKey, Arc<str>)) -> (&ObjectKey, &Arc<str>) {
        (&k.0, &k.1)
    }

    #[test]
    fn a_chain_of_waits_is_allowed_and_removed_when_dropped() {
        let g = Arc::new(WaitGraph::default());
        let (a, b, c) = (key(1), key(2), key(3));
        let ab = g.wait(r(&a), r(&b), 1).unwrap();
        let bc = g.wait(r(&b), r(&c), 1).unwrap();
        assert_eq!(g.len(), 2);
        drop(bc);
        assert_eq!(g.len(), 1);
        drop(ab.0);
        assert_eq!(g.len(), 0, "either copy removes the wait");
        drop(ab.1);
    }

    #[test]
    fn a_call_back_to_a_waiting_object_of_the_same_chain_is_a_cycle() {
        let g = Arc::new(WaitGraph::default());
        let (a, b, c) = (key(1), key(2), key(3));
        let _ab = g.wait(r(&a), r(&b), 7).unwrap();
        let _bc = g.wait(r(&b), r(&c), 7).unwrap();
        let err = g.wait(r(&c), r(&a), 7).unwrap_err();
        assert_eq!(
            err.to_string(),
            "call cycle: ns/3 -> ns/1 -> ns/2 -> ns/3 (an object waiting in a call cannot be called again until that call returns)"
        );
        assert_eq!(g.len(), 2, "a refused wait is not recorded");
    }

    #[test]
    fn a_call_to_itself_is_a_cycle() {
        let g = Arc::new(WaitGraph::default());
        let a = key(1);
        assert!(matches!(g.wait(r(&a), r(&a), 1), Err(Circle::Cycle(p)) if p.len() == 2));
    }

    #[test]
    fn waits_of_two_chains_closing_a_circle_are_a_deadlock() {
        let g = Arc::new(WaitGraph::default());
        let (a, b) = (key(1), key(2));
        let _ab = g.wait(r(&a), r(&b), 1).unwrap();
        let err = g.wait(r(&b), r(&a), 2).unwrap_err();
        assert!(matches!(err, Circle::Deadlock(_)));
        assert_eq!(
            err.to_string(),
            "deadlock: ns/2 -> ns/1 -> ns/2 (objects waiting for each other from different chains of calls)"
        );
    }

    #[test]
    fn a_stale_copy_does_not_remove_a_newer_wait() {
        let g = Arc::new(WaitGraph::default());
        let (a, b, c) = (key(1), key(2), key(3));
        let (first, stale) = g.wait(r(&a), r(&b), 1).unwrap();
        drop(first);
        let _second = g.wait(r(&a), r(&c), 1).unwrap();
        drop(stale);
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn a_chain_coming_back_through_another_node_is_a_cycle() {
        // a (here) waits in chain 5 for b, which lives on another node (no edge of b here);
        // c, here too, is called from there in chain 5 and calls a.
        let g = Arc::new(WaitGraph::default());
        let (a, b, c) = (key(1), key(2), key(3));
        let _ab = g.wait(r(&a), r(&b), 5).unwrap();
        let err = g.wait(r(&c), r(&a), 5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "call cycle: ns/3 -> ns/1 -> ns/2 -> … -> ns/3 (an object waiting in a call cannot be called again until that call returns)"
        );
        // b itself calling a from the other node: the circle is closed.
        let err = g.arriving(&b.1, r(&a), 5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "call cycle: ns/2 -> ns/1 -> ns/2 (an object waiting in a call cannot be called again until that call returns)"
        );
        // Another chain's call queues as before.
        assert!(g.arriving(&b.1, r(&a), 6).is_ok());
        assert!(g.wait(r(&c), r(&a), 6).is_ok());
    }
}
