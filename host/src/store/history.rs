//! Point-in-time recovery: every commit keeps, per object, what it overwrote (an undo record),
//! for the retention window; restoring an object to a bookmark applies its undo records newer
//! than the bookmark, newest first, as one ordinary commit (so a restore is itself undone by
//! restoring to the bookmark taken just before it).
//!
//! Tables:
//! - `history`: prefix ++ time (8, big-endian) ++ position (8) → the undo record (postcard)
//! - `history_time`: (time, position) → prefix — the records in time order, for reclaiming
//!
//! A *position* counts writes host-wide: batch number × 4096 + the job's index in its batch, so
//! it grows with every commit. A bookmark names (time, position, object): "the object's state
//! made of its commits before this position". Times are the committer's clock, kept from going
//! backwards (`Stamp`), so an object's records sort by time and by position alike, and a
//! bookmark's string (fixed-width hex, time first) compares in time order as on Cloudflare.
//!
//! What a record holds: the previous value (or absence) of every key-value row, SQL page chunk
//! row and SQL size the commit changed, and the previous alarm. Names are not history (an
//! object's name never changes); alarm retry counts restart from zero.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::db::{ALARMS, HISTORY, HISTORY_TIME, KV};
use super::error::StoreError;
use super::key::{ObjectKey, successor};
use super::sql::schema::{CHUNK, PAGE_SIZE, SQL_PAGES, SQL_SIZE, SqlWrites};
use super::write_set::WriteSet;

/// Jobs per batch that positions leave room for (a batch holds at most 4096).
pub(super) const JOBS_PER_BATCH: u64 = 4096;
/// Records reclaimed per commit at most (the rest go with the next ones).
const RECLAIM_PER_COMMIT: usize = 4096;

/// What one commit overwrote in one object.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Undo {
    /// User key → its value before (`None`: absent).
    kv: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// SQL page chunk row (without the object prefix) → its bytes before.
    sql_rows: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The SQL database's size before, if the commit changed it (0: none).
    sql_size: Option<u64>,
    /// The alarm before, if the commit changed it.
    alarm: Option<Option<i64>>,
}

/// A point in an object's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bookmark {
    pub time_ms: i64,
    pub position: u64,
    /// Which object it belongs to (the first bytes of a hash of its prefix).
    pub tag: u32,
}

/// Why a bookmark or a time was refused (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum BookmarkError {
    #[error(
        "`{0}` is not a bookmark (a bookmark is three groups of hex digits, as getCurrentBookmark() returns)"
    )]
    Malformed(String),
    #[error("the bookmark `{0}` belongs to another object")]
    Foreign(String),
    #[error("{what} is in the future")]
    Future { what: String },
    #[error("{what} is older than the history kept ({kept}): that history was reclaimed")]
    Expired { what: String, kept: String },
    #[error("point-in-time recovery is off on this server ([history] retention_seconds = 0)")]
    Off,
    #[error("`{0}` is not a snapshot (a snapshot is the string snapshot() returns)")]
    NotASnapshot(String),
    #[error(
        "the snapshot is of an object of class `{snapshot}` and this object is of class `{here}`: a snapshot restores only into an object of its own class"
    )]
    OtherClass { snapshot: String, here: String },
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl std::fmt::Display for Bookmark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:016x}-{:016x}-{:08x}",
            self.time_ms.max(0),
            self.position,
            self.tag
        )
    }
}

impl Bookmark {
    pub fn parse(text: &str) -> Result<Bookmark, BookmarkError> {
        let bad = || BookmarkError::Malformed(text.chars().take(80).collect());
        let mut parts = text.split('-');
        let (Some(t), Some(p), Some(g), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if t.len() != 16 || p.len() != 16 || g.len() != 8 {
            return Err(bad());
        }
        let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| bad());
        Ok(Bookmark {
            time_ms: i64::try_from(hex(t)?).map_err(|_| bad())?,
            position: hex(p)?,
            tag: u32::try_from(hex(g)?).map_err(|_| bad())?,
        })
    }
}

/// The tag of `obj`'s bookmarks.
pub fn tag_of(obj: &ObjectKey) -> u32 {
    let h = blake3::hash(obj.as_bytes());
    u32::from_be_bytes(h.as_bytes()[..4].try_into().expect("4 bytes"))
}

fn history_row(obj: &ObjectKey, time_ms: i64, position: u64) -> Vec<u8> {
    let mut row = obj.as_bytes().to_vec();
    row.extend_from_slice(&(time_ms.max(0) as u64).to_be_bytes());
    row.extend_from_slice(&position.to_be_bytes());
    row
}

pub(super) fn chunk_rows_of_page(obj: &ObjectKey, page: u32) -> [Vec<u8>; PAGE_SIZE / CHUNK] {
    std::array::from_fn(|c| {
        let p = page.to_be_bytes();
        obj.row(&[p[0], p[1], p[2], p[3], c as u8])
    })
}

/// What `ws` is about to overwrite in `obj`: read inside the commit's transaction, before the
/// write set is applied.
pub(super) fn capture(
    tx: &WriteTransaction,
    obj: &ObjectKey,
    ws: &WriteSet,
) -> Result<Undo, StoreError> {
    let mut undo = Undo::default();
    let n = obj.as_bytes().len();
    if ws.cleared || !ws.puts.is_empty() {
        let kv = tx.open_table(KV)?;
        let mut seen = BTreeMap::new();
        if ws.cleared {
            let lo = obj.row(b"");
            let rows = match successor(obj.as_bytes()) {
                Some(hi) => kv.range::<&[u8]>(lo.as_slice()..hi.as_slice())?,
                None => kv.range::<&[u8]>(lo.as_slice()..)?,
            };
            for row in rows {
                let (k, v) = row?;
                seen.insert(k.value()[n..].to_vec(), Some(v.value().to_vec()));
            }
        }
        for k in ws.puts.keys() {
            if !seen.contains_key(k) {
                let old = kv.get(obj.row(k).as_slice())?.map(|v| v.value().to_vec());
                seen.insert(k.clone(), old);
            }
        }
        undo.kv = seen.into_iter().collect();
    }
    if ws.alarm.is_some() {
        let alarms = tx.open_table(ALARMS)?;
        undo.alarm = Some(alarms.get(obj.as_bytes())?.map(|v| v.value()));
    }
    if let Some(sql) = &ws.sql {
        let pages = tx.open_table(SQL_PAGES)?;
        let mut rows = BTreeMap::new();
        if let Some(cut) = sql.cut {
            let lo = chunk_rows_of_page(obj, cut)[0].clone();
            let hi = chunk_rows_of_page(obj, u32::MAX)[PAGE_SIZE / CHUNK - 1].clone();
            for row in pages.range::<&[u8]>(lo.as_slice()..=hi.as_slice())? {
                let (k, v) = row?;
                rows.insert(k.value()[n..].to_vec(), Some(v.value().to_vec()));
            }
        }
        for page in sql.pages.keys() {
            for row in chunk_rows_of_page(obj, *page) {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    rows.entry(row[n..].to_vec())
                {
                    slot.insert(pages.get(row.as_slice())?.map(|v| v.value().to_vec()));
                }
            }
        }
        undo.sql_rows = rows.into_iter().collect();
        let sizes = tx.open_table(SQL_SIZE)?;
        undo.sql_size = Some(sizes.get(obj.as_bytes())?.map_or(0, |v| v.value()));
    }
    Ok(undo)
}

/// Keeps `undo` as `obj`'s record at (time, position).
pub(super) fn record(
    tx: &WriteTransaction,
    obj: &ObjectKey,
    time_ms: i64,
    position: u64,
    undo: &Undo,
) -> Result<(), StoreError> {
    let bytes = postcard::to_allocvec(undo).expect("an undo record serializes");
    let row = history_row(obj, time_ms, position);
    tx.open_table(HISTORY)?
        .insert(row.as_slice(), bytes.as_slice())?;
    tx.open_table(HISTORY_TIME)?
        .insert((time_ms, position), obj.as_bytes())?;
    Ok(())
}

/// Removes records older than `cutoff_ms` (at most [`RECLAIM_PER_COMMIT`]); how many.
pub(super) fn reclaim(tx: &WriteTransaction, cutoff_ms: i64) -> Result<usize, StoreError> {
    let mut order = tx.open_table(HISTORY_TIME)?;
    let mut old = Vec::new();
    for row in order.range::<(i64, u64)>(..)? {
        let (k, v) = row?;
        let (time, position) = k.value();
        if time >= cutoff_ms || old.len() >= RECLAIM_PER_COMMIT {
            break;
        }
        old.push((time, position, v.value().to_vec()));
    }
    let mut history = tx.open_table(HISTORY)?;
    for (time, position, prefix) in &old {
        order.remove((*time, *position))?;
        let mut row = prefix.clone();
        row.extend_from_slice(&(*time as u64).to_be_bytes());
        row.extend_from_slice(&position.to_be_bytes());
        history.remove(row.as_slice())?;
    }
    Ok(old.len())
}

/// What `obj`'s records at or after a position overwrote, folded newest first (so the oldest
/// one's "before" wins for each row): laid over the current state, the state before it.
#[derive(Debug, Default)]
pub(super) struct Folded {
    /// User key → its value then (`None`: absent).
    pub kv: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// SQL page chunk row (without the object prefix) → its bytes then.
    pub sql_rows: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The SQL database's size then, if it changed since.
    pub sql_size: Option<u64>,
    /// The alarm then, if it changed since.
    pub alarm: Option<Option<i64>>,
}

/// `obj`'s records at or after `position`, folded.
pub(super) fn fold_since(
    tx: &WriteTransaction,
    obj: &ObjectKey,
    position: u64,
) -> Result<Folded, StoreError> {
    let n = obj.as_bytes().len();
    let history = tx.open_table(HISTORY)?;
    let lo = obj.as_bytes().to_vec();
    let hi = successor(obj.as_bytes());
    let rows = match &hi {
        Some(hi) => history.range::<&[u8]>(lo.as_slice()..hi.as_slice())?,
        None => history.range::<&[u8]>(lo.as_slice()..)?,
    };
    let mut f = Folded::default();
    for row in rows.rev() {
        let (k, v) = row?;
        let key = k.value();
        let pos = u64::from_be_bytes(key[n + 8..n + 16].try_into().expect("a history row"));
        if pos < position {
            break;
        }
        let undo: Undo = postcard::from_bytes(v.value()).map_err(|e| StoreError::History {
            reason: e.to_string(),
        })?;
        f.kv.extend(undo.kv);
        f.sql_rows.extend(undo.sql_rows);
        if undo.sql_size.is_some() {
            f.sql_size = undo.sql_size;
        }
        if undo.alarm.is_some() {
            f.alarm = undo.alarm;
        }
    }
    Ok(f)
}

/// The write set that brings `obj` back to its state before `position`.
pub(super) fn restore_set(
    tx: &WriteTransaction,
    obj: &ObjectKey,
    position: u64,
) -> Result<WriteSet, StoreError> {
    let f = fold_since(tx, obj, position)?;
    let mut ws = WriteSet {
        puts: f.kv,
        alarm: f.alarm,
        ..WriteSet::default()
    };
    if f.sql_size.is_some() || !f.sql_rows.is_empty() {
        ws.sql = Some(sql_pages(tx, obj, f.sql_rows, f.sql_size)?);
    }
    Ok(ws)
}

/// Whole pages (what a write set carries) from restored chunk rows over the current ones.
fn sql_pages(
    tx: &WriteTransaction,
    obj: &ObjectKey,
    rows: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    size: Option<u64>,
) -> Result<SqlWrites, StoreError> {
    let pages_table = tx.open_table(SQL_PAGES)?;
    let current_size = tx
        .open_table(SQL_SIZE)?
        .get(obj.as_bytes())?
        .map_or(0, |v| v.value());
    let size = size.unwrap_or(current_size);
    let mut out = SqlWrites {
        size,
        cut: Some(size.div_ceil(PAGE_SIZE as u64) as u32),
        ..SqlWrites::default()
    };
    // Page → (chunk index, its bytes then).
    type ChunksThen = Vec<(usize, Option<Vec<u8>>)>;
    let mut by_page: BTreeMap<u32, ChunksThen> = BTreeMap::new();
    for (suffix, old) in rows {
        let page = u32::from_be_bytes(suffix[..4].try_into().expect("a chunk row"));
        by_page
            .entry(page)
            .or_default()
            .push((suffix[4] as usize, old));
    }
    for (page, chunks) in by_page {
        if u64::from(page) * PAGE_SIZE as u64 >= size {
            continue; // beyond the restored file: removed by the cut
        }
        let mut bytes = vec![0u8; PAGE_SIZE];
        for (c, row) in chunk_rows_of_page(obj, page).iter().enumerate() {
            if let Some(v) = pages_table.get(row.as_slice())? {
                let v = v.value();
                bytes[c * CHUNK..c * CHUNK + v.len().min(CHUNK)]
                    .copy_from_slice(&v[..v.len().min(CHUNK)]);
            }
        }
        for (c, old) in chunks {
            let part = &mut bytes[c * CHUNK..(c + 1) * CHUNK];
            part.fill(0);
            if let Some(v) = old {
                part[..v.len().min(CHUNK)].copy_from_slice(&v[..v.len().min(CHUNK)]);
            }
        }
        out.pages.insert(page, bytes);
    }
    Ok(out)
}

/// One commit in an object's history, for listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryPoint {
    pub time_ms: i64,
    /// The state just before this commit.
    pub before: String,
    /// The state right after it.
    pub after: String,
    /// Key-value keys it changed.
    pub keys: usize,
    /// SQL page pieces it changed.
    pub sql_rows: usize,
    pub alarm: bool,
}

impl super::db::Db {
    /// The time of the newest history record (0 without one): the committer's clock starts there.
    pub(super) fn last_history_time(&self) -> Result<i64, StoreError> {
        if self.is_cluster() {
            return Ok(0);
        }
        let tx = self.database()?.begin_read()?;
        let t = tx.open_table(HISTORY_TIME)?;
        Ok(t.last()?.map_or(0, |(k, _)| k.value().0))
    }

    /// The bookmark of `obj`'s committed state now (getCurrentBookmark).
    pub fn current_bookmark(&self, obj: &ObjectKey) -> Result<Bookmark, StoreError> {
        let tx = self.database()?.begin_read()?;
        let seq = super::db::seq_in(&tx)?;
        let last = tx
            .open_table(HISTORY_TIME)?
            .last()?
            .map_or(0, |(k, _)| k.value().0);
        Ok(Bookmark {
            time_ms: super::clock::now_ms().max(last),
            position: (seq + 1) * JOBS_PER_BATCH,
            tag: tag_of(obj),
        })
    }

    /// The bookmark of `obj`'s state at `time_ms` (getBookmarkForTime): its commits up to then.
    pub fn bookmark_for_time(
        &self,
        obj: &ObjectKey,
        time_ms: i64,
        retention: Option<std::time::Duration>,
    ) -> Result<Bookmark, BookmarkError> {
        check_time(time_ms, retention, || format!("the time {time_ms}"))?;
        let position = self.first_position_after(obj, time_ms)?;
        Ok(Bookmark {
            time_ms,
            position,
            tag: tag_of(obj),
        })
    }

    /// The position of `obj`'s first commit after `time_ms` (the next position if none).
    fn first_position_after(&self, obj: &ObjectKey, time_ms: i64) -> Result<u64, StoreError> {
        let tx = self.database()?.begin_read()?;
        let history = tx.open_table(HISTORY)?;
        let lo = history_row(obj, time_ms.saturating_add(1), 0);
        let hi = successor(obj.as_bytes());
        let mut rows = match &hi {
            Some(hi) => history.range::<&[u8]>(lo.as_slice()..hi.as_slice())?,
            None => history.range::<&[u8]>(lo.as_slice()..)?,
        };
        let n = obj.as_bytes().len();
        Ok(match rows.next() {
            Some(row) => {
                let (k, _) = row?;
                u64::from_be_bytes(k.value()[n + 8..n + 16].try_into().expect("a history row"))
            }
            None => (super::db::seq_in(&tx)? + 1) * JOBS_PER_BATCH,
        })
    }

    /// The history position a bookmark of `obj` restores to, if it can.
    pub fn restore_position(
        &self,
        obj: &ObjectKey,
        bookmark: &str,
        retention: Option<std::time::Duration>,
    ) -> Result<u64, BookmarkError> {
        let b = Bookmark::parse(bookmark)?;
        if b.tag != tag_of(obj) {
            return Err(BookmarkError::Foreign(bookmark.to_owned()));
        }
        check_time(b.time_ms, retention, || {
            format!("the bookmark `{bookmark}`")
        })?;
        let current = self.current_bookmark(obj)?;
        if b.position > current.position {
            return Err(BookmarkError::Future {
                what: format!("the bookmark `{bookmark}`"),
            });
        }
        Ok(b.position)
    }

    /// `obj`'s commits, newest first: at most `limit`, older than `before_ms` if given.
    pub fn history(
        &self,
        obj: &ObjectKey,
        before_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        let tx = self.database()?.begin_read()?;
        let history = tx.open_table(HISTORY)?;
        let lo = obj.as_bytes().to_vec();
        let hi = match before_ms {
            Some(t) => Some(history_row(obj, t, 0)),
            None => successor(obj.as_bytes()),
        };
        let rows = match &hi {
            Some(hi) => history.range::<&[u8]>(lo.as_slice()..hi.as_slice())?,
            None => history.range::<&[u8]>(lo.as_slice()..)?,
        };
        let n = obj.as_bytes().len();
        let tag = tag_of(obj);
        let mut out = Vec::new();
        for row in rows.rev().take(limit) {
            let (k, v) = row?;
            let k = k.value();
            let time_ms = u64::from_be_bytes(k[n..n + 8].try_into().expect("a history row")) as i64;
            let position = u64::from_be_bytes(k[n + 8..n + 16].try_into().expect("a history row"));
            let undo: Undo = postcard::from_bytes(v.value()).unwrap_or_default();
            let at = |position| {
                Bookmark {
                    time_ms,
                    position,
                    tag,
                }
                .to_string()
            };
            out.push(HistoryPoint {
                time_ms,
                before: at(position),
                after: at(position + 1),
                keys: undo.kv.len(),
                sql_rows: undo.sql_rows.len(),
                alarm: undo.alarm.is_some(),
            });
        }
        Ok(out)
    }
}

/// Refuses a time in the future (past a second of clock skew) or older than the history kept.
fn check_time(
    time_ms: i64,
    retention: Option<std::time::Duration>,
    what: impl Fn() -> String,
) -> Result<(), BookmarkError> {
    let Some(keep) = retention else {
        return Err(BookmarkError::Off);
    };
    let now = super::clock::now_ms();
    if time_ms > now + 1000 {
        return Err(BookmarkError::Future { what: what() });
    }
    if time_ms < now - keep.as_millis().min(i64::MAX as u128) as i64 {
        let s = keep.as_secs();
        let (n, unit) = match s {
            _ if s % 86_400 == 0 => (s / 86_400, "day"),
            _ if s % 3600 == 0 => (s / 3600, "hour"),
            _ => (s, "second"),
        };
        let kept = format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
        return Err(BookmarkError::Expired { what: what(), kept });
    }
    Ok(())
}
