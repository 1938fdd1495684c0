//! Ownership (epochs) and membership (leases).
//!
//! Taking an object bumps its epoch in one statement; the row stays locked until that
//! statement's transaction ends, and every commit for the object updates the same row where
//! the epoch is the committer's (`commit.rs`). So a takeover waits for a commit in flight and
//! every later commit of the former owner finds another epoch and is refused: correctness
//! rests on the database's row locks, not on clocks. Leases only tell who is alive (placement
//! uses them); they are kept in the database's clock (`now()`), so the nodes' clocks never
//! meet.

use super::Pool;
use super::pool::PoolError;
use crate::store::key::ObjectKey;

/// A live node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub node: String,
    /// Where other nodes forward its objects' requests (`http://host:port`).
    pub addr: String,
}

impl Pool {
    /// Makes `node` the owner of `obj` with a new epoch, and returns that epoch.
    /// One statement, so it is its own transaction; tried again on a serialization failure
    /// (serializable databases report contention so).
    pub async fn take_ownership(&self, obj: &ObjectKey, node: &str) -> Result<u64, PoolError> {
        let (o, n) = (obj.as_bytes().to_vec(), node.to_owned());
        self.run_async(move |c| {
            let mut attempt = 0;
            loop {
                match c.query_one(
                    "INSERT INTO hf_owners (object, node, epoch) VALUES ($1, $2, 1)
                     ON CONFLICT (object) DO UPDATE SET epoch = hf_owners.epoch + 1, node = excluded.node
                     RETURNING epoch",
                    &[&o, &n],
                ) {
                    Ok(row) => return Ok(row.get::<_, i64>(0) as u64),
                    Err(e) if attempt < 10 && super::retryable(&e) => attempt += 1,
                    Err(e) => return Err(e),
                }
            }
        })
        .await
    }

    /// Renews (or takes) the node's lease for `lease_ms` from now in the database's clock.
    pub async fn renew_lease(
        &self,
        node: &str,
        addr: &str,
        lease_ms: u64,
    ) -> Result<(), PoolError> {
        let (n, a) = (node.to_owned(), addr.to_owned());
        let ms = lease_ms as f64;
        self.run_async(move |c| {
            c.execute(
                "INSERT INTO hf_members (node, addr, lease_until)
                 VALUES ($1, $2, now() + $3 * interval '1 millisecond')
                 ON CONFLICT (node) DO UPDATE SET addr = excluded.addr, lease_until = excluded.lease_until",
                &[&n, &a, &ms],
            )?;
            Ok(())
        })
        .await
    }

    /// Nodes whose lease has not run out, by name.
    pub async fn live_members(&self) -> Result<Vec<Member>, PoolError> {
        self.run_async(|c| {
            let rows = c.query(
                "SELECT node, addr FROM hf_members WHERE lease_until > now() ORDER BY node",
                &[],
            )?;
            Ok(rows
                .into_iter()
                .map(|r| Member {
                    node: r.get(0),
                    addr: r.get(1),
                })
                .collect())
        })
        .await
    }

    /// Gives the lease up (a clean shutdown), so the node's objects move at once.
    pub async fn leave(&self, node: &str) -> Result<(), PoolError> {
        let n = node.to_owned();
        self.run_async(move |c| {
            c.execute("DELETE FROM hf_members WHERE node = $1", &[&n])?;
            Ok(())
        })
        .await
    }
}
