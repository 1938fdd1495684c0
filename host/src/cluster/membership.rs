//! The lease loop: renew this node's lease every third of the lease time, read the live nodes,
//! and drop the objects no longer placed here.
//!
//! A node counts its own lease from *before* it sent the renewal that succeeded, by its own
//! monotonic clock; the database counts it from when it ran the statement. So a node gives its
//! objects up no later than the others may start taking them (given clocks that run at about
//! the same rate; their settings never matter). Writes never depend on this: the epoch fence
//! refuses a former owner's commits whatever its clock says. What the lease bounds is how long
//! a node cut off from the database may still answer reads from its memory.

use std::sync::Arc;
use std::time::Instant;

use super::Cluster;
use super::placement::{Place, View};
use crate::actor::Directory;
use crate::store::{Db, StoreError};

/// Takes the lease and reads the members once, before the node serves.
pub async fn join(cluster: &Cluster, db: &Db) -> Result<(), StoreError> {
    let sent = Instant::now();
    db.renew_lease(&cluster.advertise, lease_ms(cluster))
        .await?;
    let members = db.live_members().await?;
    tracing::info!(node = %cluster.node, members = members.len(), "joined the cluster");
    cluster.view.store(Arc::new(View {
        members,
        held_until: Some(sent + cluster.lease),
    }));
    Ok(())
}

fn lease_ms(cluster: &Cluster) -> u64 {
    cluster.lease.as_millis().min(u64::MAX as u128) as u64
}

/// Keeps the lease and the view until the process ends.
pub async fn run(cluster: Arc<Cluster>, directory: Arc<Directory>) {
    let db = directory.services().db.clone();
    let every = cluster.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let old = cluster.view.load_full();
        let sent = Instant::now();
        let renewed = tokio::time::timeout(
            cluster.lease,
            db.renew_lease(&cluster.advertise, lease_ms(&cluster)),
        )
        .await;
        let held_until = match renewed {
            Ok(Ok(())) => Some(sent + cluster.lease),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot renew the cluster lease");
                old.held_until
            }
            Err(_) => {
                tracing::warn!("renewing the cluster lease got no answer");
                old.held_until
            }
        };
        let members = match tokio::time::timeout(cluster.lease, db.live_members()).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the cluster's members");
                old.members.clone()
            }
            Err(_) => old.members.clone(),
        };
        let view = View {
            members,
            held_until,
        };
        let (was, is) = (old.held(), view.held());
        if was && !is {
            tracing::error!(node = %cluster.node, "this node's cluster lease ran out: it serves no object until it renews");
        } else if !was && is {
            tracing::info!(node = %cluster.node, "the cluster lease holds again");
        }
        let changed = old.members != view.members || was != is;
        if old.members != view.members {
            let names: Vec<&str> = view.members.iter().map(|m| m.node.as_str()).collect();
            tracing::info!(members = ?names, "cluster members changed");
        }
        cluster.view.store(Arc::new(view));
        if changed {
            drop_misplaced(&cluster, &directory);
        }
    }
}

/// Asks every live object placed elsewhere now to leave memory (it finishes its commits first;
/// one pinned by sockets leaves when they close).
fn drop_misplaced(cluster: &Cluster, directory: &Directory) {
    let mut dropped = 0;
    for (key, _, _) in directory.live_objects() {
        if cluster.place(&key) != Place::Here && directory.evict(&key).is_some() {
            dropped += 1;
        }
    }
    if dropped > 0 {
        tracing::info!(objects = dropped, "dropping objects placed on other nodes");
    }
}
