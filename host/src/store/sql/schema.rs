//! The SQL tables of the redb file and their reads and writes.
//!
//! - `sql_pages`: prefix ++ page number (u32, big-endian) → one page ([`PAGE_SIZE`] bytes)
//! - `sql_size`: prefix → the database file's size in bytes (absent: no database)
//!
//! An object's SQLite database is these rows; no file of its own exists anywhere.

use redb::{ReadOnlyTable, ReadableDatabase, TableDefinition, WriteTransaction};

use crate::store::db::Db;
use crate::store::error::StoreError;
use crate::store::key::ObjectKey;

/// Bytes of one SQLite page (set when a database is created; every page is this size).
pub const PAGE_SIZE: usize = 4096;

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
        self.pages.len() * (PAGE_SIZE + 8)
    }
}

fn page_row(obj: &ObjectKey, page: u32) -> Vec<u8> {
    obj.row(&page.to_be_bytes())
}

/// The committed size of `obj`'s database file (0 without one).
pub(in crate::store) fn size(db: &Db, obj: &ObjectKey) -> Result<u64, StoreError> {
    let tx = db.database()?.begin_read()?;
    let t = tx.open_table(SQL_SIZE)?;
    Ok(t.get(obj.as_bytes())?.map_or(0, |v| v.value()))
}

/// A snapshot of the committed pages, held for the length of one statement run.
pub(in crate::store) struct PageReader {
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl std::fmt::Debug for PageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageReader")
    }
}

impl PageReader {
    pub(in crate::store) fn open(db: &Db) -> Result<PageReader, StoreError> {
        let tx = db.database()?.begin_read()?;
        Ok(PageReader {
            table: tx.open_table(SQL_PAGES)?,
        })
    }

    /// Copies the committed page into `out` (zeros if it was never written).
    pub(in crate::store) fn read(
        &self,
        obj: &ObjectKey,
        page: u32,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        match self.table.get(page_row(obj, page).as_slice())? {
            Some(v) => {
                let v = v.value();
                let n = v.len().min(out.len());
                out[..n].copy_from_slice(&v[..n]);
                out[n..].fill(0);
            }
            None => out.fill(0),
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
        let lo = page_row(obj, cut);
        let hi = page_row(obj, u32::MAX);
        pages.retain_in::<&[u8], _>(lo.as_slice()..=hi.as_slice(), |_, _| false)?;
    }
    for (no, bytes) in &w.pages {
        pages.insert(page_row(obj, *no).as_slice(), bytes.as_slice())?;
    }
    let mut sizes = tx.open_table(SQL_SIZE)?;
    if w.size == 0 {
        sizes.remove(obj.as_bytes())?;
    } else {
        sizes.insert(obj.as_bytes(), w.size)?;
    }
    Ok(())
}
