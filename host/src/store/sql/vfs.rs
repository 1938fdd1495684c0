//! The SQLite VFS named `holdfast`: every database it opens is an object's [`PageFile`], handed
//! to it under a one-time name just before the connection opens. It opens no OS file, ever: a
//! live object with SQL costs no file descriptor, and any other file SQLite asks for (a journal,
//! `ATTACH`, `VACUUM INTO`) is refused (journals and temporary files are kept in memory by the
//! connection's settings).
//!
//! Written against `sqlite-plugin`'s safe `Vfs` trait (the crate holds the `unsafe` glue to
//! SQLite's C interface), so this crate keeps `unsafe_code = "forbid"`.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use sqlite_plugin::flags::{AccessFlags, LockLevel, OpenKind, OpenOpts};
use sqlite_plugin::vars;
use sqlite_plugin::vfs::{RegisterOpts, Vfs, VfsHandle, VfsResult, register_static};

use super::pages::{FileFault, PageFile};

/// The VFS's name, passed to `Connection::open_with_flags_and_vfs`.
pub(super) const NAME: &std::ffi::CStr = c"holdfast";

/// Files waiting to be opened, by their one-time name. Why a lock: connections open on any
/// tokio worker thread; the map is touched once per open.
#[derive(Default)]
struct Waiting {
    files: Mutex<HashMap<String, Arc<Mutex<PageFile>>>>,
}

static WAITING: OnceLock<Arc<Waiting>> = OnceLock::new();
static NEXT_NAME: AtomicU64 = AtomicU64::new(0);

/// Registers the VFS (once per process) and hands `file` to the next open of the returned name.
pub(super) fn offer(file: Arc<Mutex<PageFile>>) -> Result<String, i32> {
    let waiting = match WAITING.get() {
        Some(w) => w.clone(),
        None => {
            let w = Arc::new(Waiting::default());
            // Two threads may race here: only the first registration is kept.
            if WAITING.set(w.clone()).is_ok() {
                register_static(
                    CString::from(NAME),
                    PageVfs { waiting: w.clone() },
                    RegisterOpts {
                        make_default: false,
                    },
                )?;
            }
            WAITING.get().expect("set above").clone()
        }
    };
    let name = format!("object-{}", NEXT_NAME.fetch_add(1, Ordering::Relaxed));
    waiting
        .files
        .lock()
        .expect("vfs lock")
        .insert(name.clone(), file);
    Ok(name)
}

/// Forgets a file that was offered but never opened (the open failed).
pub(super) fn withdraw(name: &str) {
    if let Some(w) = WAITING.get() {
        w.files.lock().expect("vfs lock").remove(name);
    }
}

struct PageVfs {
    waiting: Arc<Waiting>,
}

/// An open database file. Why the lock: the object's storage view takes the event's pages out
/// of the same file between statements; SQLite and the view never use it at once.
pub(super) struct Handle {
    file: Arc<Mutex<PageFile>>,
}

impl VfsHandle for Handle {
    fn readonly(&self) -> bool {
        false
    }
    fn in_memory(&self) -> bool {
        false
    }
}

impl Handle {
    fn file(&self) -> std::sync::MutexGuard<'_, PageFile> {
        self.file.lock().expect("page file lock")
    }
}

impl Vfs for PageVfs {
    type Handle = Handle;

    fn open(&self, path: Option<&str>, opts: OpenOpts) -> VfsResult<Handle> {
        if opts.kind() != OpenKind::MainDb {
            return Err(vars::SQLITE_CANTOPEN);
        }
        let file = path
            .and_then(|p| self.waiting.files.lock().expect("vfs lock").remove(p))
            .ok_or(vars::SQLITE_CANTOPEN)?;
        Ok(Handle { file })
    }

    fn delete(&self, _path: &str) -> VfsResult<()> {
        Ok(())
    }

    fn access(&self, _path: &str, _flags: AccessFlags) -> VfsResult<bool> {
        // No journal or WAL file ever exists next to a database.
        Ok(false)
    }

    fn file_size(&self, h: &mut Handle) -> VfsResult<usize> {
        Ok(h.file().size() as usize)
    }

    fn truncate(&self, h: &mut Handle, size: usize) -> VfsResult<()> {
        h.file().truncate(size as u64);
        Ok(())
    }

    fn write(&self, h: &mut Handle, offset: usize, data: &[u8]) -> VfsResult<usize> {
        let mut f = h.file();
        match f.write(offset as u64, data) {
            Ok(()) => Ok(data.len()),
            Err(fault) => {
                let code = match fault {
                    FileFault::EventTooLarge { .. } => vars::SQLITE_FULL,
                    FileFault::Store(_) => vars::SQLITE_IOERR_WRITE,
                };
                f.fault = Some(fault);
                Err(code)
            }
        }
    }

    fn read(&self, h: &mut Handle, offset: usize, buf: &mut [u8]) -> VfsResult<usize> {
        let mut f = h.file();
        let size = f.size();
        match f.read(offset as u64, buf) {
            Ok(true) => Ok(buf.len()),
            Ok(false) => Ok(size.saturating_sub(offset as u64) as usize),
            Err(e) => {
                f.fault = Some(FileFault::Store(e));
                Err(vars::SQLITE_IOERR_READ)
            }
        }
    }

    fn lock(&self, _h: &mut Handle, _level: LockLevel) -> VfsResult<()> {
        // The object's actor is the only user of its database: nothing to lock against.
        Ok(())
    }

    fn unlock(&self, _h: &mut Handle, _level: LockLevel) -> VfsResult<()> {
        Ok(())
    }

    fn check_reserved_lock(&self, _h: &mut Handle) -> VfsResult<bool> {
        Ok(false)
    }

    fn close(&self, _h: Handle) -> VfsResult<()> {
        Ok(())
    }
}
