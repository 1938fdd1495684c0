//! One object's database file as SQLite sees it through the VFS: the running event's pages over
//! pages earlier events of this activation wrote (kept until durable) over committed pages.
//!
//! SQLite's own page cache is the object's read cache; this layer holds only what redb does not
//! have yet. SQLite writes here only when a transaction commits (or spills its cache), so the
//! event's layer is exactly what the event changed; a failed event rolls SQLite back (which
//! writes the original pages back, into the same layer) and the layer is dropped.

use std::collections::BTreeMap;

use super::schema::{PAGE_SIZE, PageReader, SqlWrites};
use crate::store::db::Db;
use crate::store::error::StoreError;
use crate::store::key::ObjectKey;

/// A page written by an earlier event of this activation, not yet known durable.
#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    /// The storage view's event number that wrote it.
    written: u64,
}

/// Why a file operation failed, kept so the caller can tell the guest (or the host) precisely.
#[derive(Debug)]
pub(in crate::store) enum FileFault {
    /// Reading committed pages failed: a host failure.
    Store(StoreError),
    /// The running event wrote more pages than its budget allows.
    EventTooLarge { bytes: usize, limit: usize },
}

/// The file of one object's database.
#[derive(Debug)]
pub(in crate::store) struct PageFile {
    db: Db,
    object: ObjectKey,
    /// Pages the running event wrote.
    event: BTreeMap<u32, Vec<u8>>,
    /// The fewest pages the running event cut the file to.
    event_cut: Option<u32>,
    /// The file size at the start of the running event.
    event_start_size: u64,
    /// Pages of earlier events of this activation, until their commit is released.
    pending: BTreeMap<u32, Pending>,
    /// The fewest pages a non-durable earlier event cut the file to (and that event's number):
    /// committed pages from it on are stale until that event is durable.
    pending_cut: Option<(u32, u64)>,
    /// The current size in bytes (the running event's writes included).
    size: u64,
    /// Bytes of pages the running event may write.
    event_budget: usize,
    /// Committed pages, for the length of one statement run.
    reader: Option<PageReader>,
    /// The failure behind the last I/O error SQLite saw.
    pub(in crate::store) fault: Option<FileFault>,
}

impl PageFile {
    pub(in crate::store) fn open(
        db: Db,
        object: ObjectKey,
        size: u64,
        event_budget: usize,
    ) -> PageFile {
        PageFile {
            db,
            object,
            event: BTreeMap::new(),
            event_cut: None,
            event_start_size: size,
            pending: BTreeMap::new(),
            pending_cut: None,
            size,
            event_budget,
            reader: None,
            fault: None,
        }
    }

    pub(in crate::store) fn size(&self) -> u64 {
        self.size
    }

    /// Drops the snapshot of committed pages (at the end of each statement run, so a later
    /// read sees commits released since).
    pub(in crate::store) fn release_reader(&mut self) {
        self.reader = None;
    }

    fn committed(&mut self, page: u32, out: &mut [u8]) -> Result<(), StoreError> {
        if self.reader.is_none() {
            self.reader = Some(PageReader::open(&self.db)?);
        }
        let reader = self.reader.as_ref().expect("opened above");
        reader.read(&self.object, page, out)
    }

    /// Reads `out.len()` bytes at `offset`; false if the file ends before (the rest is zeros).
    pub(in crate::store) fn read(
        &mut self,
        offset: u64,
        out: &mut [u8],
    ) -> Result<bool, StoreError> {
        let mut done = 0;
        let mut page_buf = Vec::new();
        while done < out.len() {
            let at = offset + done as u64;
            if at >= self.size {
                out[done..].fill(0);
                return Ok(false);
            }
            let no = (at / PAGE_SIZE as u64) as u32;
            let within = (at % PAGE_SIZE as u64) as usize;
            let n = (PAGE_SIZE - within).min(out.len() - done);
            let dst = &mut out[done..done + n];
            if let Some(p) = self.event.get(&no) {
                dst.copy_from_slice(&p[within..within + n]);
            } else if self.event_cut.is_some_and(|c| no >= c) {
                dst.fill(0);
            } else if let Some(p) = self.pending.get(&no) {
                dst.copy_from_slice(&p.bytes[within..within + n]);
            } else if self.pending_cut.is_some_and(|(c, _)| no >= c) {
                dst.fill(0);
            } else if within == 0 && n == PAGE_SIZE {
                self.committed(no, dst)?;
            } else {
                page_buf.resize(PAGE_SIZE, 0);
                self.committed(no, &mut page_buf)?;
                dst.copy_from_slice(&page_buf[within..within + n]);
            }
            done += n;
        }
        Ok(true)
    }

    /// The current bytes of page `no` (for a write that covers part of it).
    fn page(&mut self, no: u32) -> Result<Vec<u8>, StoreError> {
        let mut p = vec![0; PAGE_SIZE];
        let start = no as u64 * PAGE_SIZE as u64;
        if start < self.size {
            self.read(start, &mut p)?;
        }
        Ok(p)
    }

    /// Writes `data` at `offset` into the running event's layer.
    pub(in crate::store) fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), FileFault> {
        let mut done = 0;
        while done < data.len() {
            let at = offset + done as u64;
            let no = (at / PAGE_SIZE as u64) as u32;
            let within = (at % PAGE_SIZE as u64) as usize;
            let n = (PAGE_SIZE - within).min(data.len() - done);
            if !self.event.contains_key(&no) {
                let bytes = (self.event.len() + 1) * PAGE_SIZE;
                if bytes > self.event_budget {
                    return Err(FileFault::EventTooLarge {
                        bytes,
                        limit: self.event_budget,
                    });
                }
                let page = if within == 0 && n == PAGE_SIZE {
                    vec![0; PAGE_SIZE]
                } else {
                    self.page(no).map_err(FileFault::Store)?
                };
                self.event.insert(no, page);
            }
            let page = self.event.get_mut(&no).expect("inserted above");
            page[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.size = self.size.max(offset + data.len() as u64);
        Ok(())
    }

    /// Cuts (or extends) the file to `size` bytes.
    pub(in crate::store) fn truncate(&mut self, size: u64) {
        let keep = size.div_ceil(PAGE_SIZE as u64) as u32;
        if size < self.size {
            self.event.retain(|no, _| *no < keep);
            self.event_cut = Some(self.event_cut.map_or(keep, |c| c.min(keep)));
            if size % PAGE_SIZE as u64 != 0
                && let Some(p) = self.event.get_mut(&(keep - 1))
            {
                p[(size % PAGE_SIZE as u64) as usize..].fill(0);
            }
        }
        self.size = size;
    }

    /// Ends the running event successfully: its pages move to the pending layer under event
    /// number `n` and are returned for the commit (`None` if it changed nothing).
    pub(in crate::store) fn finish_event(&mut self, n: u64) -> Option<SqlWrites> {
        self.release_reader();
        let pages = std::mem::take(&mut self.event);
        let cut = self.event_cut.take();
        let start = std::mem::replace(&mut self.event_start_size, self.size);
        if pages.is_empty() && cut.is_none() && start == self.size {
            return None;
        }
        if let Some(c) = cut {
            self.pending.retain(|no, _| *no < c);
            self.pending_cut = Some(match self.pending_cut {
                Some((old, _)) if old <= c => (old, n),
                _ => (c, n),
            });
        }
        for (no, bytes) in &pages {
            self.pending.insert(
                *no,
                Pending {
                    bytes: bytes.clone(),
                    written: n,
                },
            );
        }
        Some(SqlWrites {
            pages,
            size: self.size,
            cut,
        })
    }

    /// Ends the running event with failure: its pages are dropped.
    pub(in crate::store) fn abort_event(&mut self) {
        self.release_reader();
        self.event.clear();
        self.event_cut = None;
        self.size = self.event_start_size;
        self.fault = None;
    }

    /// Forgets pending pages whose events are durable (`durable`: the highest durable event).
    pub(in crate::store) fn trim(&mut self, durable: u64) {
        self.pending.retain(|_, p| p.written > durable);
        if self.pending_cut.is_some_and(|(_, n)| n <= durable) {
            self.pending_cut = None;
        }
    }
}
