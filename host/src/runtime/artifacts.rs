//! The compiled-code cache: one uncompressed artifact per component, mapped from its file.
//!
//! A component is compiled once per machine (per cache directory and engine settings) and its
//! compiled form is written to `<cache>/artifacts/<key>.cwasm`, where the key is the BLAKE3 hash
//! of the component's bytes and wasmtime's compatibility hash of the engine. Loading maps that
//! file (`Component::deserialize_file`): its pages are shared by every process using it and read
//! lazily, so a class costs little memory and start-up time until its code runs.
//!
//! # Trust model
//!
//! Mapping an artifact runs its machine code without validating it: anyone who can write the
//! cache directory can run code as Holdfast. So the directory is created private (mode 0700),
//! and a directory that other users can write (group- or world-writable, or owned by another
//! user) is not used: components are then compiled in memory at every start, with a warning.
//! An artifact is written under a temporary name and renamed into place once complete, so a
//! crash never leaves a partial file under its final name; wasmtime still checks the header
//! (version, engine settings) and a file it refuses is compiled again and replaced.
//!
//! # Bounds
//!
//! At most [`MAX_ARTIFACTS`] artifacts are kept: after writing one, the least recently used
//! beyond that are removed (each load refreshes its file's modification time). A removed file
//! that a running process has mapped stays valid for it. `keys/` remembers, for at most
//! [`MAX_KEYS`] component files (by path, inode, size and modification time), their content
//! key, so that a start maps the artifacts without reading and hashing the components.
//!
//! This is the one module of the host that uses `unsafe`: the two calls to
//! `Component::deserialize_file`, on files this module wrote.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use wasmtime::component::Component;

/// How many artifacts the cache keeps (a JavaScript or Python class's is 40-50 MB).
pub const MAX_ARTIFACTS: usize = 64;

/// How many file versions the cache remembers the content key of.
pub const MAX_KEYS: usize = 1024;

/// Where compiled components live, and whether they may be mapped from there.
pub(super) struct Artifacts {
    /// `<cache>/artifacts`, or `None` when the cache directory cannot be trusted or created
    /// (then every start compiles in memory).
    dir: Option<PathBuf>,
    /// `<cache>/locks`: one lock file per key, so that processes starting together compile a
    /// component once.
    locks: PathBuf,
}

impl Artifacts {
    /// Opens (creating, private) the cache under `cache_dir`. Never fails: an unusable directory
    /// is reported and caching is off.
    pub(super) fn open(cache_dir: &Path) -> Artifacts {
        let dir = cache_dir.join("artifacts");
        let usable = create_private(cache_dir)
            .and_then(|()| create_private(&dir))
            .and_then(|()| trusted(cache_dir))
            .and_then(|()| trusted(&dir));
        let dir = match usable {
            Ok(()) => {
                remove_stale_temporaries(&dir);
                remove_earlier_layout(cache_dir);
                Some(dir)
            }
            Err(why) => {
                tracing::warn!(
                    "compiled-code cache off: {why}; every start compiles each component again"
                );
                None
            }
        };
        Artifacts {
            dir,
            locks: cache_dir.join("locks"),
        }
    }

    /// The component of `bytes` (whose cache key is `key`): mapped from its artifact, else
    /// compiled (once across processes sharing the cache), written and mapped.
    pub(super) fn load(
        &self,
        engine: &wasmtime::Engine,
        key: &str,
        bytes: &[u8],
        what: &Described<'_>,
    ) -> wasmtime::Result<Component> {
        let Some(dir) = &self.dir else {
            return compile(engine, bytes, what, None);
        };
        let file = dir.join(format!("{key}.cwasm"));
        if let Some(c) = map(engine, &file) {
            return Ok(c);
        }
        let _lock = self.lock(key, what);
        if let Some(c) = map(engine, &file) {
            return Ok(c);
        }
        let component = compile(engine, bytes, what, Some(dir))?;
        match write(dir, &file, &component.serialize()?) {
            Ok(()) => {
                evict_beyond(dir, MAX_ARTIFACTS, Some("cwasm"));
                // Mapped from the file rather than kept from the compiler: its pages are then
                // shared with other processes and can be dropped by the kernel when unused.
                Ok(map(engine, &file).unwrap_or(component))
            }
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot write the compiled component");
                Ok(component)
            }
        }
    }

    /// The artifact of content key `key`, if there is one wasmtime accepts.
    pub(super) fn mapped(&self, engine: &wasmtime::Engine, key: &str) -> Option<Component> {
        map(engine, &self.dir.as_ref()?.join(format!("{key}.cwasm")))
    }

    /// The content key recorded for the file version `stamp` (see `Engine::read_and_compile`).
    pub(super) fn recorded_key(&self, stamp: &str) -> Option<String> {
        let file = self.dir.as_ref()?.join("keys").join(stamp);
        let key = std::fs::read_to_string(file).ok()?;
        // A key names a file: only hex digits and the one dash.
        key.chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-')
            .then_some(key)
    }

    /// Records that the file version `stamp` has content key `key` (at most [`MAX_KEYS`] are
    /// kept, the least recently written removed first).
    pub(super) fn record_key(&self, stamp: &str, key: &str) {
        let Some(dir) = &self.dir else { return };
        let keys = dir.join("keys");
        let file = keys.join(stamp);
        if std::fs::read_to_string(&file).is_ok_and(|k| k == key) {
            return;
        }
        let written = create_private(&keys)
            .map_err(std::io::Error::other)
            .and_then(|()| write(&keys, &file, key.as_bytes()));
        match written {
            Ok(()) => evict_beyond(&keys, MAX_KEYS, None),
            Err(e) => tracing::debug!(error = %e, "cannot record the component's key"),
        }
    }

    /// Takes the compile lock of `key`, waiting for another process holding it (`None` if the
    /// lock file cannot be made: then this process compiles regardless).
    fn lock(&self, key: &str, what: &Described<'_>) -> Option<std::fs::File> {
        let path = self.locks.join(format!("{key}.lock"));
        let file = std::fs::create_dir_all(&self.locks).and_then(|()| std::fs::File::create(&path));
        match file {
            Ok(file) => {
                if file.try_lock().is_err() {
                    tracing::info!(class = %what.class, binding = %what.binding, "waiting for another holdfast process compiling the same component");
                    if let Err(e) = file.lock() {
                        tracing::warn!(error = %e, "cannot take the compile lock; compiling anyway");
                    }
                }
                Some(file)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the compile lock; compiling anyway");
                None
            }
        }
    }
}

/// What a component is, for the log lines about compiling it.
pub(super) struct Described<'a> {
    pub class: &'a str,
    pub binding: &'a str,
}

fn compile(
    engine: &wasmtime::Engine,
    bytes: &[u8],
    what: &Described<'_>,
    cached_in: Option<&Path>,
) -> wasmtime::Result<Component> {
    let after = match cached_in {
        Some(dir) => format!("cached in {} afterwards", dir.display()),
        None => "not cached".to_owned(),
    };
    tracing::info!(
        class = %what.class,
        binding = %what.binding,
        megabytes = format!("{:.1}", bytes.len() as f64 / 1e6),
        "compiling component (first use; {after})"
    );
    let started = Instant::now();
    let component = Component::new(engine, bytes)?;
    tracing::info!(class = %what.class, binding = %what.binding, seconds = format!("{:.1}", started.elapsed().as_secs_f64()), "compiled");
    Ok(component)
}

/// Maps the artifact at `file`, if there is one wasmtime accepts (refreshing its use time).
fn map(engine: &wasmtime::Engine, file: &Path) -> Option<Component> {
    if !file.exists() {
        return None;
    }
    // SAFETY: files under the artifacts directory are written only by `write` below, from
    // `Component::serialize` of this same wasmtime, and renamed into place only when complete;
    // the directory is private to this user (see the module's trust model), so nobody else can
    // have put or changed a file there. wasmtime checks the header and refuses artifacts of
    // another version or engine configuration.
    match unsafe { Component::deserialize_file(engine, file) } {
        Ok(c) => {
            let now = std::fs::File::options()
                .write(true)
                .open(file)
                .and_then(|f| f.set_modified(SystemTime::now()));
            if let Err(e) = now {
                tracing::debug!(error = %e, "cannot refresh the artifact's use time");
            }
            Some(c)
        }
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %format!("{e:#}"), "compiled component refused; compiling it again");
            None
        }
    }
}

/// Writes `bytes` to `file` under a temporary name first, then renames it into place.
fn write(dir: &Path, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("artifact"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Removes temporaries older than an hour (left by a process killed while writing).
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if name.to_string_lossy().ends_with(".tmp") && stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Removes what earlier versions kept in the cache directory (wasmtime's compressed cache and
/// its markers), which nothing reads any more.
fn remove_earlier_layout(cache_dir: &Path) {
    for old in ["wasmtime", "compiled"] {
        let path = cache_dir.join(old);
        if path.is_dir() {
            tracing::info!(dir = %path.display(), "removing the code cache of an earlier Holdfast version");
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!(dir = %path.display(), error = %e, "cannot remove it");
            }
        }
    }
}

/// Keeps the `keep` most recently used files of `dir` (those with extension `ext`, or every
/// file without one), removing the others.
fn evict_beyond(dir: &Path, keep: usize, ext: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| match ext {
            Some(ext) => e.path().extension().is_some_and(|x| x == ext),
            None => e.path().extension().is_none(),
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort_by(|a, b| b.0.cmp(&a.0));
    for (_, path) in files.into_iter().skip(keep) {
        tracing::debug!(file = %path.display(), "removing the least recently used cache entry");
        let _ = std::fs::remove_file(path);
    }
}

/// Creates `dir` (mode 0700 for what it creates).
fn create_private(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Whether only this user can write into `dir`.
fn trusted(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    // This process's effective user owns /proc/self (no libc call needed to ask).
    let me = std::fs::metadata("/proc/self").map(|p| p.uid()).ok();
    if me.is_some_and(|uid| uid != m.uid()) {
        return Err(format!(
            "{} belongs to another user (uid {})",
            dir.display(),
            m.uid()
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!(
            "{} can be written by other users (mode {:o}); make it private: chmod go-w {}",
            dir.display(),
            m.mode() & 0o777,
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_others_can_write_is_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("c");
        create_private(&d).unwrap();
        assert!(trusted(&d).is_ok());
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = trusted(&d).unwrap_err();
        assert!(
            why.contains("can be written by other users (mode 777)"),
            "{why}"
        );
    }

    #[test]
    fn only_the_most_recently_used_artifacts_are_kept() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..5u64 {
            let f = t.path().join(format!("{i}.cwasm"));
            std::fs::write(&f, b"x").unwrap();
            let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i);
            std::fs::File::options()
                .write(true)
                .open(&f)
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
        std::fs::write(t.path().join("other.lock"), b"").unwrap();
        evict_beyond(t.path(), 2, Some("cwasm"));
        let mut left: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["3.cwasm", "4.cwasm", "other.lock"]);
    }
}
