//! Rendezvous (highest-random-weight) hashing: an object goes to the live node whose hash of
//! (node name, object key) is highest. Every node computes the same answer from the same member
//! list, and when a node leaves only its own objects move.

use std::time::Instant;

use crate::store::{Member, ObjectKey};

/// The live nodes as this node last read them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct View {
    pub members: Vec<Member>,
    /// Until when this node's lease holds by its own clock (the time before it sent the renewal
    /// that succeeded, plus the lease). Past it the node serves nothing: others may already
    /// have taken its objects. Checked at every placement, not only when the view is renewed.
    pub held_until: Option<Instant>,
}

/// Where an object is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Here,
    There(Member),
    /// This node's lease does not hold, or no node is live: nobody can be named.
    Unplaced,
}

impl View {
    /// Whether the lease holds now.
    pub fn held(&self) -> bool {
        self.held_until.is_some_and(|t| Instant::now() < t)
    }

    pub fn place(&self, key: &ObjectKey, me: &str) -> Place {
        if !self.held() {
            return Place::Unplaced;
        }
        match owner(&self.members, key) {
            None => Place::Unplaced,
            Some(m) if m.node == me => Place::Here,
            Some(m) => Place::There(m.clone()),
        }
    }
}

/// The member `key` belongs to.
pub fn owner<'a>(members: &'a [Member], key: &ObjectKey) -> Option<&'a Member> {
    members.iter().max_by_key(|m| score(&m.node, key))
}

fn score<'a>(node: &'a str, key: &ObjectKey) -> (u64, &'a str) {
    let mut h = blake3::Hasher::new();
    h.update(&(node.len() as u64).to_le_bytes());
    h.update(node.as_bytes());
    h.update(key.as_bytes());
    let b = h.finalize();
    let first: [u8; 8] = b.as_bytes()[..8].try_into().expect("8 bytes");
    // The name breaks (vanishingly unlikely) ties the same way everywhere.
    (u64::from_le_bytes(first), node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;

    fn members(names: &[&str]) -> Vec<Member> {
        names
            .iter()
            .map(|n| Member {
                node: (*n).into(),
                addr: format!("http://{n}"),
            })
            .collect()
    }

    fn keys(n: usize) -> Vec<ObjectKey> {
        (0..n)
            .map(|i| {
                let mut b = [0u8; 32];
                b[..8].copy_from_slice(&(i as u64).to_le_bytes());
                ObjectKey::new("ns", &ObjectId::from_bytes(*blake3::hash(&b).as_bytes()))
            })
            .collect()
    }

    #[test]
    fn objects_spread_evenly_and_only_a_leaving_nodes_objects_move() {
        let three = members(&["a", "b", "c"]);
        let two = members(&["a", "c"]);
        let ks = keys(3000);
        let mut counts = std::collections::HashMap::new();
        for k in &ks {
            let before = owner(&three, k).unwrap();
            *counts.entry(before.node.clone()).or_insert(0) += 1;
            let after = owner(&two, k).unwrap();
            if before.node != "b" {
                assert_eq!(before, after, "an object of a node that stayed moved");
            }
        }
        for n in ["a", "b", "c"] {
            let c = counts[n];
            assert!((800..1200).contains(&c), "{n} got {c} of 3000");
        }
        // The order of the member list does not matter.
        let shuffled = members(&["c", "a", "b"]);
        for k in &ks {
            assert_eq!(owner(&three, k), owner(&shuffled, k));
        }
    }

    #[test]
    fn a_node_without_its_lease_places_nothing() {
        let v = View {
            members: members(&["a", "b"]),
            held_until: Some(Instant::now()),
        };
        assert_eq!(v.place(&keys(1)[0], "a"), Place::Unplaced);
        let v = View {
            held_until: Some(Instant::now() + std::time::Duration::from_secs(60)),
            ..v
        };
        assert_ne!(v.place(&keys(1)[0], "a"), Place::Unplaced);
    }
}
