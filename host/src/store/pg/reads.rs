//! Committed-state reads, each one statement (one snapshot) on a pooled connection.

use std::ops::Bound;

use super::Pool;
use super::pool::PoolError;
use crate::store::db::DueAlarm;
use crate::store::key::ObjectKey;

impl Pool {
    pub fn get(&self, obj: &ObjectKey, key: &[u8]) -> Result<Option<Vec<u8>>, PoolError> {
        let (o, k) = (obj.as_bytes().to_vec(), key.to_vec());
        self.run(move |c| {
            let row = c.query_opt(
                "SELECT value FROM hf_kv WHERE object = $1 AND key = $2",
                &[&o, &k],
            )?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// Entries of `obj` within the user-key bounds, in key order (or reverse), at most `max`.
    pub fn scan(
        &self,
        obj: &ObjectKey,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, PoolError> {
        let mut sql = String::from("SELECT key, value FROM hf_kv WHERE object = $1");
        let mut params: Vec<Vec<u8>> = vec![obj.as_bytes().to_vec()];
        for (bound, incl, excl) in [(lower, ">=", ">"), (upper, "<=", "<")] {
            let (op, k) = match bound {
                Bound::Included(k) => (incl, k),
                Bound::Excluded(k) => (excl, k),
                Bound::Unbounded => continue,
            };
            params.push(k.to_vec());
            sql.push_str(&format!(" AND key {op} ${}", params.len()));
        }
        // bytea orders byte-wise, as redb's keys do.
        sql.push_str(if reverse {
            " ORDER BY key DESC"
        } else {
            " ORDER BY key"
        });
        let limit = max.min(i64::MAX as usize) as i64;
        sql.push_str(&format!(" LIMIT {limit}"));
        self.run(move |c| {
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                .collect();
            let rows = c.query(sql.as_str(), &refs)?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    pub fn alarm(&self, obj: &ObjectKey) -> Result<Option<i64>, PoolError> {
        let o = obj.as_bytes().to_vec();
        self.run(move |c| {
            let row = c.query_opt("SELECT at FROM hf_alarms WHERE object = $1", &[&o])?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    pub fn name(&self, obj: &ObjectKey) -> Result<Option<String>, PoolError> {
        let o = obj.as_bytes().to_vec();
        self.run(move |c| {
            let row = c.query_opt("SELECT name FROM hf_names WHERE object = $1", &[&o])?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// The committed bytes of page `page` of `obj`'s SQL database (`None`: zeros).
    pub fn sql_page(&self, obj: &ObjectKey, page: u32) -> Result<Option<Vec<u8>>, PoolError> {
        let o = obj.as_bytes().to_vec();
        self.run(move |c| {
            let row = c.query_opt(
                "SELECT data FROM hf_sql_pages WHERE object = $1 AND page = $2",
                &[&o, &i64::from(page)],
            )?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// The committed size of `obj`'s SQL database in bytes (0 without one).
    pub fn sql_size(&self, obj: &ObjectKey) -> Result<u64, PoolError> {
        let o = obj.as_bytes().to_vec();
        self.run(move |c| {
            let row = c.query_opt("SELECT size FROM hf_sql_size WHERE object = $1", &[&o])?;
            Ok(row.map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
        })
    }

    /// Due alarms, earliest first, at most `max_scan` of them (the caller filters).
    pub fn due_alarms(&self, now_ms: i64, max_scan: usize) -> Result<Vec<DueAlarm>, PoolError> {
        let limit = max_scan.min(i64::MAX as usize) as i64;
        self.run(move |c| {
            let rows = c.query(
                "SELECT object, at, retries FROM hf_alarms WHERE at <= $1 ORDER BY at, object LIMIT $2",
                &[&now_ms, &limit],
            )?;
            Ok(rows
                .into_iter()
                .filter_map(|r| {
                    let object: Vec<u8> = r.get(0);
                    Some(DueAlarm {
                        scheduled_time: r.get(1),
                        object: ObjectKey::from_stored(&object)?,
                        retries: r.get::<_, i32>(2).max(0) as u32,
                    })
                })
                .collect())
        })
    }

    pub fn next_alarm(&self) -> Result<Option<i64>, PoolError> {
        self.run(|c| {
            let row = c.query_one("SELECT min(at) FROM hf_alarms", &[])?;
            Ok(row.get(0))
        })
    }

    /// The namespace's ID secret: the first node to ask stores a random one; every node reads
    /// the same.
    pub fn namespace_secret(&self, namespace: &str) -> Result<Vec<u8>, PoolError> {
        let key = format!("secret/{namespace}");
        let candidate: [u8; 32] = rand::random();
        self.run(move |c| {
            c.execute(
                "INSERT INTO hf_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &candidate.as_slice()],
            )?;
            let row = c.query_one("SELECT value FROM hf_meta WHERE key = $1", &[&key])?;
            Ok(row.get(0))
        })
    }
}
