//! The SQL tables of the redb file and their reads and writes.
//!
//! - `sql_pages`: prefix ++ page number (u32, big-endian) ++ chunk (u8) → a quarter of a page
//!   ([`CHUNK`] bytes); a chunk of zeros is not stored
//! - `sql_size`: prefix → the database file's size in bytes (absent: no database)
//!
//! An object's SQLite database is these rows; no file of its own exists anywhere. Pages are
//! kept in quarters because a whole 4 KiB page with its key does not fit a 4 KiB redb page: redb
//! would give each its own 8 KiB page, doubling the file; three quarters share a leaf, and the
//! zero quarters of half-empty pages cost nothing.

use redb::{ReadOnlyTable, ReadableDatabase, TableDefinition, WriteTransaction};

use crate::store::db::Db;
use crate::store::error::StoreError;
use crate::store::key::ObjectKey;

/// Bytes of one SQLite page (set when a database is created; every page is this size).
pub const PAGE_SIZE: usize = 4096;
/// Bytes of one stored piece of a page.
pub const CHUNK: usize = 1024;
const CHUNKS: u8 = (PAGE_SIZE / CHUNK) as u8;

pub(in crate::store) const SQL_PAGES: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("sql_pages");
pub(in crate::store) const SQL_SIZE: TableDefinition<&[u8], u64> = TableDefinition::new("sql_size");

/// What one event (or run of events) changed in an object's database file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SqlWrites {
    /// Page number → its new bytes.
    pub pages: std::collections::BTreeMap<u32, Vec<u8>>,
    /// The file's size afterwards, in bytes.
    pub size: u64,
    /// The fewest pages the file was cut to meanwhile: stored pages from this number on are
    /// removed before `pages` are written.
    pub cut: Option<u32>,
}

impl SqlWrites {
    /// Bytes it writes.
    pub fn bytes(&self) -> usize {
        self.pages.len() * (PAGE_SIZE + 8 * CHUNKS as usize)
    }
}

fn chunk_row(obj: &ObjectKey, page: u32, chunk: u8) -> Vec<u8> {
    let p = page.to_be_bytes();
    obj.row(&[p[0], p[1], p[2], p[3], chunk])
}

/// The committed size of `obj`'s database file (0 without one).
pub(in crate::store) fn size(db: &Db, obj: &ObjectKey) -> Result<u64, StoreError> {
    if let Some(pg) = db.pg() {
        return Ok(pg.pool.sql_size(obj)?);
    }
    let tx = db.database()?.begin_read()?;
    let t = tx.open_table(SQL_SIZE)?;
    Ok(t.get(obj.as_bytes())?.map_or(0, |v| v.value()))
}

/// A snapshot of the committed pages, held for the length of one statement run.
///
/// In cluster mode each page is read on its own (no snapshot across pages): only the node that
/// owns the object commits for it (the epoch fence), and its own commits in flight are still
/// in the page file's pending layer, so committed pages cannot change under a statement.
pub(in crate::store) enum PageReader {
    Redb(ReadOnlyTable<&'static [u8], &'static [u8]>),
    Postgres(super::super::pg::Pool),
}

impl std::fmt::Debug for PageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageReader")
    }
}

impl PageReader {
    pub(in crate::store) fn open(db: &Db) -> Result<PageReader, StoreError> {
        if let Some(pg) = db.pg() {
            return Ok(PageReader::Postgres(pg.pool.clone()));
        }
        let tx = db.database()?.begin_read()?;
        Ok(PageReader::Redb(tx.open_table(SQL_PAGES)?))
    }

    /// Copies the committed page into `out` (zeros where it was never written).
    pub(in crate::store) fn read(
        &self,
        obj: &ObjectKey,
        page: u32,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        out.fill(0);
        let table = match self {
            PageReader::Redb(table) => table,
            PageReader::Postgres(pool) => {
                if let Some(bytes) = pool.sql_page(obj, page)? {
                    let n = bytes.len().min(out.len());
                    out[..n].copy_from_slice(&bytes[..n]);
                }
                return Ok(());
            }
        };
        let lo = chunk_row(obj, page, 0);
        let hi = chunk_row(obj, page, CHUNKS - 1);
        for item in table.range::<&[u8]>(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = item?;
            let chunk = *k.value().last().expect("a chunk row ends in its number") as usize;
            let at = chunk * CHUNK;
            let v = v.value();
            let n = v.len().min(CHUNK).min(out.len().saturating_sub(at));
            out[at..at + n].copy_from_slice(&v[..n]);
        }
        Ok(())
    }
}

/// Applies one object's database changes inside a write transaction.
pub(in crate::store) fn apply(
    tx: &WriteTransaction,
    obj: &ObjectKey,
    w: &SqlWrites,
) -> Result<(), StoreError> {
    let mut pages = tx.open_table(SQL_PAGES)?;
    if let Some(cut) = w.cut {
        let lo = chunk_row(obj, cut, 0);
        let hi = chunk_row(obj, u32::MAX, CHUNKS - 1);
        pages.retain_in::<&[u8], _>(lo.as_slice()..=hi.as_slice(), |_, _| false)?;
    }
    for (no, bytes) in &w.pages {
        for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
            let row = chunk_row(obj, *no, i as u8);
            if chunk.iter().all(|&b| b == 0) {
                pages.remove(row.as_slice())?;
            } else {
                pages.insert(row.as_slice(), chunk)?;
            }
        }
    }
    let mut sizes = tx.open_table(SQL_SIZE)?;
    if w.size == 0 {
        sizes.remove(obj.as_bytes())?;
    } else {
        sizes.insert(obj.as_bytes(), w.size)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;

    #[test]
    fn pages_are_stored_in_quarters_without_the_zero_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("p.redb"), 1 << 20, None).unwrap();
        let obj = ObjectKey::new("ns", &ObjectId::from_bytes([1; 32]));
        let mut page = vec![0u8; PAGE_SIZE];
        page[..10].fill(7);
        page[PAGE_SIZE - 10..].fill(9);
        let mut w = SqlWrites {
            size: 2 * PAGE_SIZE as u64,
            ..Default::default()
        };
        w.pages.insert(0, page.clone());
        w.pages.insert(1, vec![5; PAGE_SIZE]);
        let tx = db.begin_write().unwrap();
        apply(&tx, &obj, &w).unwrap();
        tx.commit().unwrap();
        let rows = {
            let tx = db.database().unwrap().begin_read().unwrap();
            let t = tx.open_table(SQL_PAGES).unwrap();
            redb::ReadableTableMetadata::len(&t).unwrap()
        };
        assert_eq!(
            rows,
            2 + 4,
            "the two zero quarters of page 0 are not stored"
        );
        let reader = PageReader::open(&db).unwrap();
        let mut out = vec![1u8; PAGE_SIZE];
        reader.read(&obj, 0, &mut out).unwrap();
        assert_eq!(out, page);
        reader.read(&obj, 1, &mut out).unwrap();
        assert_eq!(out, vec![5; PAGE_SIZE]);
        reader.read(&obj, 2, &mut out).unwrap();
        assert_eq!(
            out,
            vec![0; PAGE_SIZE],
            "a page never written reads as zeros"
        );
        assert_eq!(size(&db, &obj).unwrap(), 2 * PAGE_SIZE as u64);

        // Cutting the file to one page removes the rest; rewriting page 0 with zeros where it
        // had data removes those quarters.
        let mut w = SqlWrites {
            size: PAGE_SIZE as u64,
            cut: Some(1),
            ..Default::default()
        };
        w.pages.insert(0, vec![0; PAGE_SIZE]);
        let tx = db.begin_write().unwrap();
        apply(&tx, &obj, &w).unwrap();
        tx.commit().unwrap();
        let tx = db.database().unwrap().begin_read().unwrap();
        let t = tx.open_table(SQL_PAGES).unwrap();
        assert_eq!(redb::ReadableTableMetadata::len(&t).unwrap(), 0);
    }
}
