//! Fork: one object's storage (key-value rows, SQL database, alarm) as it was at a history
//! position, copied over another object's, as one commit of the destination.
//!
//! The copy is worked out inside the commit's transaction: the source's current rows with its
//! undo records since the position laid over them (`history::fold_since`), so a snapshot names a
//! state by a bookmark and costs nothing until it is restored. Restoring reads and writes the
//! whole source object once (time and memory grow with its size; the database's size does not
//! matter). The destination's commit keeps its own undo record, so a fork is undone by
//! restoring the destination to the bookmark just before it.

use std::collections::BTreeMap;

use redb::{ReadableTable, WriteTransaction};

use super::db::{ALARMS, KV};
use super::error::StoreError;
use super::history::{chunk_rows_of_page, fold_since};
use super::key::{ObjectKey, successor};
use super::sql::schema::{CHUNK, PAGE_SIZE, SQL_PAGES, SQL_SIZE, SqlWrites};
use super::write_set::WriteSet;

/// Rows of `obj` in `table` (the object prefix cut off).
fn rows_of(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    obj: &ObjectKey,
) -> Result<BTreeMap<Vec<u8>, Option<Vec<u8>>>, StoreError> {
    let n = obj.as_bytes().len();
    let lo = obj.as_bytes().to_vec();
    let rows = match successor(obj.as_bytes()) {
        Some(hi) => table.range::<&[u8]>(lo.as_slice()..hi.as_slice())?,
        None => table.range::<&[u8]>(lo.as_slice()..)?,
    };
    let mut out = BTreeMap::new();
    for row in rows {
        let (k, v) = row?;
        out.insert(k.value()[n..].to_vec(), Some(v.value().to_vec()));
    }
    Ok(out)
}

/// The write set that makes `dst` a copy of `src` as it was before history `position`.
pub(super) fn fork_set(
    tx: &WriteTransaction,
    src: &ObjectKey,
    dst: &ObjectKey,
    position: u64,
) -> Result<WriteSet, StoreError> {
    let then = fold_since(tx, src, position)?;
    let mut kv = rows_of(&tx.open_table(KV)?, src)?;
    kv.extend(then.kv);
    let alarm = match then.alarm {
        Some(a) => a,
        None => tx
            .open_table(ALARMS)?
            .get(src.as_bytes())?
            .map(|v| v.value()),
    };
    let mut chunks = rows_of(&tx.open_table(SQL_PAGES)?, src)?;
    chunks.extend(then.sql_rows);
    let size = match then.sql_size {
        Some(s) => s,
        None => tx
            .open_table(SQL_SIZE)?
            .get(src.as_bytes())?
            .map_or(0, |v| v.value()),
    };
    let dst_size = tx
        .open_table(SQL_SIZE)?
        .get(dst.as_bytes())?
        .map_or(0, |v| v.value());
    let sql = (size > 0 || dst_size > 0).then(|| {
        let n = dst.as_bytes().len();
        let mut pages = BTreeMap::new();
        let count = size.div_ceil(PAGE_SIZE as u64) as u32;
        for page in 0..count {
            let mut bytes = vec![0u8; PAGE_SIZE];
            for (c, row) in chunk_rows_of_page(dst, page).iter().enumerate() {
                if let Some(Some(v)) = chunks.get(&row[n..]) {
                    let len = v.len().min(CHUNK);
                    bytes[c * CHUNK..c * CHUNK + len].copy_from_slice(&v[..len]);
                }
            }
            pages.insert(page, bytes);
        }
        SqlWrites {
            pages,
            size,
            cut: Some(0),
        }
    });
    Ok(WriteSet {
        cleared: true,
        puts: kv
            .into_iter()
            .filter_map(|(k, v)| Some((k, Some(v?))))
            .collect(),
        alarm: Some(alarm),
        sql,
        ..WriteSet::default()
    })
}
