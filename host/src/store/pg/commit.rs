//! One batch of write sets as one serializable transaction, fenced by epochs.
//!
//! The batch's write sets are first folded per object in queue order (a later job's writes
//! win, a clear drops the earlier puts), so the transaction is a handful of statements however
//! many jobs it carries: the fence, then one statement per kind of change over arrays.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::store::key::ObjectKey;
use crate::store::sql::SqlWrites;
use crate::store::write_set::WriteSet;

/// The objects of a batch whose epoch was no longer theirs: another node took them. Nothing
/// of theirs was written; the other objects of the batch were.
#[derive(Debug, Default)]
pub(in crate::store) struct Fenced(pub HashSet<ObjectKey>);

/// One object's writes in a batch, folded in queue order.
#[derive(Default)]
struct Folded {
    epoch: u64,
    cleared: bool,
    puts: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    alarm: Option<Option<i64>>,
    /// `Some(n)`: the alarm's retry count becomes `n`.
    retries: Option<u32>,
    name: Option<String>,
    sql: Option<SqlWrites>,
}

/// `later`'s database changes after `earlier`'s, as one: pages the later cut removes go, the
/// later pages win, the fewer pages of the two cuts is the cut.
fn fold_sql(earlier: &mut SqlWrites, later: &SqlWrites) {
    if let Some(cut) = later.cut {
        earlier.pages.retain(|no, _| *no < cut);
        earlier.cut = Some(earlier.cut.map_or(cut, |c| c.min(cut)));
    }
    earlier
        .pages
        .extend(later.pages.iter().map(|(no, p)| (*no, p.clone())));
    earlier.size = later.size;
}

/// Writes `jobs` (object, its epoch, its writes) in one transaction, after checking each
/// object's epoch in `hf_owners` for this `node`. With `audit`, records the commit in
/// `hf_commit_log`.
pub(in crate::store) fn write_batch(
    client: &mut postgres::Client,
    node: &str,
    audit: bool,
    jobs: &[(&ObjectKey, u64, &WriteSet)],
) -> Result<Fenced, BatchError> {
    let mut order: Vec<&ObjectKey> = Vec::new();
    let mut folded: HashMap<&ObjectKey, Folded> = HashMap::new();
    for (obj, epoch, ws) in jobs {
        let f = folded.entry(obj).or_insert_with(|| {
            order.push(obj);
            Folded::default()
        });
        f.epoch = *epoch;
        if ws.cleared {
            f.cleared = true;
            f.puts.clear();
        }
        f.puts
            .extend(ws.puts.iter().map(|(k, v)| (k.clone(), v.clone())));
        if ws.alarm.is_some() {
            f.alarm = ws.alarm;
        }
        if ws.alarm.is_some() || ws.alarm_retries.is_some() {
            f.retries = Some(ws.alarm_retries.unwrap_or(0));
        }
        if ws.name.is_some() {
            f.name.clone_from(&ws.name);
        }
        if let Some(w) = &ws.sql {
            match &mut f.sql {
                Some(acc) => fold_sql(acc, w),
                None => f.sql = Some(w.clone()),
            }
        }
    }
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::Serializable)
        .start()?;
    let objects: Vec<Vec<u8>> = order.iter().map(|o| o.as_bytes().to_vec()).collect();
    let epochs: Vec<i64> = order.iter().map(|o| folded[o].epoch as i64).collect();
    let mut fenced = Fenced::default();
    if !objects.is_empty() {
        // Row locks: a takeover of one of these objects waits for this transaction, or this
        // one finds the new epoch (or fails to serialize and is tried again).
        let kept: HashSet<Vec<u8>> = tx
            .query(
                "UPDATE hf_owners o SET commits = o.commits + 1
                 FROM unnest($1::bytea[], $2::int8[]) AS t(object, epoch)
                 WHERE o.object = t.object AND o.epoch = t.epoch AND o.node = $3
                 RETURNING o.object",
                &[&objects, &epochs, &node],
            )?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        for o in &order {
            if !kept.contains(o.as_bytes()) {
                fenced.0.insert((*o).clone());
            }
        }
    }
    let mut cleared = Vec::new();
    let (mut put_o, mut put_k, mut put_v) = (Vec::new(), Vec::new(), Vec::new());
    let (mut del_o, mut del_k) = (Vec::new(), Vec::new());
    let (mut set_o, mut set_at, mut set_r) = (Vec::new(), Vec::new(), Vec::new());
    let mut unset = Vec::new();
    let (mut retry_o, mut retry_n) = (Vec::new(), Vec::new());
    let (mut name_o, mut name_v) = (Vec::new(), Vec::new());
    let (mut log_o, mut log_e) = (Vec::new(), Vec::new());
    let mut sql = SqlRows::default();
    for o in order.iter().filter(|o| !fenced.0.contains(**o)) {
        let f = &folded[o];
        let ob = o.as_bytes().to_vec();
        if f.cleared {
            cleared.push(ob.clone());
        }
        for (k, v) in &f.puts {
            match v {
                Some(v) => {
                    put_o.push(ob.clone());
                    put_k.push(k.clone());
                    put_v.push(v.clone());
                }
                None => {
                    del_o.push(ob.clone());
                    del_k.push(k.clone());
                }
            }
        }
        let retries = f.retries.unwrap_or(0).min(i32::MAX as u32) as i32;
        match f.alarm {
            Some(Some(at)) => {
                set_o.push(ob.clone());
                set_at.push(at);
                set_r.push(retries);
            }
            Some(None) => unset.push(ob.clone()),
            None if f.retries.is_some() => {
                retry_o.push(ob.clone());
                retry_n.push(retries);
            }
            None => {}
        }
        if let Some(n) = &f.name {
            name_o.push(ob.clone());
            name_v.push(n.clone());
        }
        if let Some(w) = &f.sql {
            sql.add(&ob, w);
        }
        log_o.push(ob);
        log_e.push(f.epoch as i64);
    }
    sql.write(&mut tx)?;
    if !cleared.is_empty() {
        tx.execute(
            "DELETE FROM hf_kv WHERE object = ANY($1::bytea[])",
            &[&cleared],
        )?;
    }
    if !del_o.is_empty() {
        tx.execute(
            "DELETE FROM hf_kv k USING unnest($1::bytea[], $2::bytea[]) AS t(object, key)
             WHERE k.object = t.object AND k.key = t.key",
            &[&del_o, &del_k],
        )?;
    }
    if !put_o.is_empty() {
        tx.execute(
            "INSERT INTO hf_kv (object, key, value)
             SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[])
             ON CONFLICT (object, key) DO UPDATE SET value = excluded.value",
            &[&put_o, &put_k, &put_v],
        )?;
    }
    if !set_o.is_empty() {
        tx.execute(
            "INSERT INTO hf_alarms (object, at, retries)
             SELECT * FROM unnest($1::bytea[], $2::int8[], $3::int4[])
             ON CONFLICT (object) DO UPDATE SET at = excluded.at, retries = excluded.retries",
            &[&set_o, &set_at, &set_r],
        )?;
    }
    if !unset.is_empty() {
        tx.execute(
            "DELETE FROM hf_alarms WHERE object = ANY($1::bytea[])",
            &[&unset],
        )?;
    }
    if !retry_o.is_empty() {
        tx.execute(
            "UPDATE hf_alarms a SET retries = t.retries
             FROM unnest($1::bytea[], $2::int4[]) AS t(object, retries)
             WHERE a.object = t.object",
            &[&retry_o, &retry_n],
        )?;
    }
    if !name_o.is_empty() {
        tx.execute(
            "INSERT INTO hf_names (object, name)
             SELECT * FROM unnest($1::bytea[], $2::text[])
             ON CONFLICT (object) DO UPDATE SET name = excluded.name",
            &[&name_o, &name_v],
        )?;
    }
    if audit && !log_o.is_empty() {
        tx.execute(
            "INSERT INTO hf_commit_log (object, epoch, node)
             SELECT t.object, t.epoch, $3 FROM unnest($1::bytea[], $2::int8[]) AS t(object, epoch)",
            &[&log_o, &log_e, &node],
        )?;
    }
    // An answer from the server (an error code) means it did not commit; a lost connection
    // leaves the outcome unknown.
    tx.commit().map_err(|e| {
        if e.code().is_some() {
            BatchError::Failed(e)
        } else {
            BatchError::InDoubt(e)
        }
    })?;
    Ok(fenced)
}

/// The SQL database changes of a batch, as arrays for one statement per kind.
#[derive(Default)]
struct SqlRows {
    cut: (Vec<Vec<u8>>, Vec<i64>),
    put: (Vec<Vec<u8>>, Vec<i64>, Vec<Vec<u8>>),
    zero: (Vec<Vec<u8>>, Vec<i64>),
    size: (Vec<Vec<u8>>, Vec<i64>),
    gone: Vec<Vec<u8>>,
}

impl SqlRows {
    fn add(&mut self, ob: &[u8], w: &SqlWrites) {
        if let Some(cut) = w.cut {
            self.cut.0.push(ob.to_vec());
            self.cut.1.push(i64::from(cut));
        }
        for (no, bytes) in &w.pages {
            // A page of zeros reads the same as no row (as in the redb file).
            if bytes.iter().all(|&b| b == 0) {
                self.zero.0.push(ob.to_vec());
                self.zero.1.push(i64::from(*no));
            } else {
                self.put.0.push(ob.to_vec());
                self.put.1.push(i64::from(*no));
                self.put.2.push(bytes.clone());
            }
        }
        if w.size == 0 {
            self.gone.push(ob.to_vec());
        } else {
            self.size.0.push(ob.to_vec());
            self.size.1.push(w.size.min(i64::MAX as u64) as i64);
        }
    }

    fn write(&self, tx: &mut postgres::Transaction<'_>) -> Result<(), postgres::Error> {
        if !self.cut.0.is_empty() {
            tx.execute(
                "DELETE FROM hf_sql_pages p USING unnest($1::bytea[], $2::int8[]) AS t(object, cut)
                 WHERE p.object = t.object AND p.page >= t.cut",
                &[&self.cut.0, &self.cut.1],
            )?;
        }
        if !self.zero.0.is_empty() {
            tx.execute(
                "DELETE FROM hf_sql_pages p USING unnest($1::bytea[], $2::int8[]) AS t(object, page)
                 WHERE p.object = t.object AND p.page = t.page",
                &[&self.zero.0, &self.zero.1],
            )?;
        }
        if !self.put.0.is_empty() {
            tx.execute(
                "INSERT INTO hf_sql_pages (object, page, data)
                 SELECT * FROM unnest($1::bytea[], $2::int8[], $3::bytea[])
                 ON CONFLICT (object, page) DO UPDATE SET data = excluded.data",
                &[&self.put.0, &self.put.1, &self.put.2],
            )?;
        }
        if !self.size.0.is_empty() {
            tx.execute(
                "INSERT INTO hf_sql_size (object, size)
                 SELECT * FROM unnest($1::bytea[], $2::int8[])
                 ON CONFLICT (object) DO UPDATE SET size = excluded.size",
                &[&self.size.0, &self.size.1],
            )?;
        }
        if !self.gone.is_empty() {
            tx.execute(
                "DELETE FROM hf_sql_size WHERE object = ANY($1::bytea[])",
                &[&self.gone],
            )?;
        }
        Ok(())
    }
}

/// Why a batch's transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub(in crate::store) enum BatchError {
    /// Nothing of it was written.
    #[error("{0}")]
    Failed(#[from] postgres::Error),
    /// The connection failed while committing: it may or may not have committed.
    #[error("{0}")]
    InDoubt(postgres::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(cut: Option<u32>, pages: &[(u32, u8)], size: u64) -> SqlWrites {
        SqlWrites {
            pages: pages.iter().map(|(no, b)| (*no, vec![*b; 4])).collect(),
            size,
            cut,
        }
    }

    #[test]
    fn folded_database_changes_equal_applying_them_in_turn() {
        // Pages 0..4 written, then the file cut to 2 pages and page 1 rewritten, then grown
        // again with page 3: the cut removes the earlier 2 and 3, the later 1 and 3 win.
        let mut acc = writes(None, &[(0, 1), (1, 1), (2, 1), (3, 1)], 16);
        fold_sql(&mut acc, &writes(Some(2), &[(1, 2)], 8));
        fold_sql(&mut acc, &writes(None, &[(3, 3)], 16));
        assert_eq!(acc, writes(Some(2), &[(0, 1), (1, 2), (3, 3)], 16));
        // A later, larger cut keeps the fewer pages of the earlier one.
        fold_sql(&mut acc, &writes(Some(3), &[], 12));
        assert_eq!(acc, writes(Some(2), &[(0, 1), (1, 2)], 12));
    }
}
