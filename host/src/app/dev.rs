//! `holdfast dev`: build every class, serve, watch the sources, rebuild what changed and update
//! the running code ([`Reloader`]) without a restart.
//!
//! What is watched: the config file; each class's `watch` paths (rebuilt with its `build`
//! command); each component file (reloaded when something else rebuilt it); a Cloudflare
//! project's directory (the reload rebuilds its module). Changes under `target/`,
//! `node_modules/`, `.holdfast/` and `.git/` do not count. Changes are gathered for a moment
//! (`SETTLE`) so that an editor's save, or a build writing many files, is one rebuild. A build
//! that fails prints its output as the compiler gave it, and the last good version keeps serving.
//! Progress goes to stderr as `[dev] ...` lines, with the seconds each step took.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use super::Reloader;
use super::build::{ClassBuildError, build_class, say};
use crate::config::Config;

/// How long changes are gathered before a rebuild starts.
const SETTLE: Duration = Duration::from_millis(300);

/// Path parts whose changes never trigger anything (build outputs and data).
const IGNORED: [&str; 4] = ["target", "node_modules", ".holdfast", ".git"];

/// Why `holdfast dev` could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(transparent)]
    Build(#[from] ClassBuildError),
    #[error("cannot watch `{path}`: {message}")]
    Watch { path: String, message: String },
}

/// What the watcher looks at, and what a change under each path means.
#[derive(Debug, Default)]
struct Watched {
    /// (path, binding): a change under `path` rebuilds the class.
    sources: Vec<(PathBuf, String)>,
    /// Component files, the config file and a project's directory: a change reloads.
    reload: Vec<PathBuf>,
}

impl Watched {
    fn of(config: &Config) -> Watched {
        let mut w = Watched::default();
        w.reload.push(config.path.clone());
        for c in &config.classes {
            w.reload.push(c.component.clone());
            if let Some(b) = &c.build {
                for p in &b.watch {
                    w.sources.push((p.clone(), c.binding.clone()));
                }
            }
        }
        if let Some(worker) = &config.worker {
            w.reload.push(worker.component.clone());
        }
        if let Some(build) = &config.build {
            w.reload.push(build.project.clone());
        }
        w
    }

    /// Every path to watch, and whether to watch it recursively: a directory with what is
    /// under it; a file through its directory alone (editors replace files by renaming).
    fn roots(&self) -> BTreeSet<(PathBuf, bool)> {
        let root = |p: &Path| {
            let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            if p.is_dir() {
                (p, true)
            } else {
                let dir = p
                    .parent()
                    .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
                (dir, false)
            }
        };
        self.sources
            .iter()
            .map(|(p, _)| root(p))
            .chain(self.reload.iter().map(|p| root(p)))
            .collect()
    }
}

fn ignored(path: &Path) -> bool {
    path.components()
        .any(|c| IGNORED.iter().any(|i| c.as_os_str() == *i))
}

fn under(path: &Path, root: &Path) -> bool {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    path.starts_with(&root)
}

/// The sources of a project being watched (see the module's doc).
pub struct DevWatch {
    config: Config,
    watcher: notify::RecommendedWatcher,
    changes: mpsc::Receiver<Vec<PathBuf>>,
    watched: Watched,
    roots: BTreeSet<(PathBuf, bool)>,
}

fn add_watch(
    watcher: &mut notify::RecommendedWatcher,
    (path, recursive): &(PathBuf, bool),
) -> Result<(), DevError> {
    let mode = if *recursive {
        RecursiveMode::Recursive
    } else {
        RecursiveMode::NonRecursive
    };
    watcher.watch(path, mode).map_err(|e| DevError::Watch {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

impl DevWatch {
    /// Starts watching `config`'s sources (before the server serves, so that no edit made once
    /// it listens is missed).
    pub fn start(config: Config) -> Result<DevWatch, DevError> {
        let (tx, changes) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            // Reads (of the config by an update, of sources by a build) change nothing.
            if let Ok(e) = e
                && !e.kind.is_access()
            {
                let _ = tx.send(e.paths);
            }
        })
        .map_err(|e| DevError::Watch {
            path: config.path.display().to_string(),
            message: e.to_string(),
        })?;
        let watched = Watched::of(&config);
        let roots = watched.roots();
        for r in &roots {
            add_watch(&mut watcher, r)?;
        }
        say("watching for changes");
        Ok(DevWatch {
            config,
            watcher,
            changes,
            watched,
            roots,
        })
    }

    /// Rebuilds and updates on every change until the process ends. Runs on its own thread
    /// (builds block); `runtime` runs the updates.
    pub fn run(mut self, reloader: Arc<Reloader>, runtime: tokio::runtime::Handle) {
        while let Some(changed) = self.next_change() {
            self.apply(&changed, &reloader, &runtime);
        }
    }

    /// The next batch of changes that count, gathered for `SETTLE`; `None` once watching ended.
    fn next_change(&self) -> Option<Vec<PathBuf>> {
        loop {
            let mut changed = self.changes.recv().ok()?;
            let deadline = Instant::now() + SETTLE;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match self.changes.recv_timeout(left) {
                    Ok(more) => changed.extend(more),
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                }
            }
            changed.retain(|p| !ignored(p));
            if !changed.is_empty() {
                return Some(changed);
            }
        }
    }

    fn apply(
        &mut self,
        changed: &[PathBuf],
        reloader: &Reloader,
        runtime: &tokio::runtime::Handle,
    ) {
        let rebuild: BTreeSet<String> = self
            .watched
            .sources
            .iter()
            .filter(|(root, _)| changed.iter().any(|p| under(p, root)))
            .map(|(_, b)| b.clone())
            .collect();
        let reload = !rebuild.is_empty()
            || changed
                .iter()
                .any(|p| self.watched.reload.iter().any(|r| under(p, r)));
        if !reload {
            return;
        }
        tracing::debug!(?changed, "sources changed");
        for binding in &rebuild {
            let class = self.config.classes.iter().find(|c| &c.binding == binding);
            if let Some(c) = class
                && let Err(e) = build_class(c)
            {
                say(&format!("{e}\n[dev] the last good version keeps serving"));
                return;
            }
        }
        say("updating the running code");
        let started = Instant::now();
        match runtime.block_on(reloader.reload()) {
            Ok(r) => {
                say(&format!(
                    "serving the new code in {:.1} s (replaced: {}; added: {}; removed: {})",
                    started.elapsed().as_secs_f64(),
                    list(&r.classes.replaced),
                    list(&r.classes.added),
                    list(&r.classes.removed),
                ));
                // The config served now may name other sources.
                let next = runtime.block_on(reloader.config());
                self.watched = Watched::of(&next);
                let roots = self.watched.roots();
                for r in roots.difference(&self.roots) {
                    if let Err(e) = add_watch(&mut self.watcher, r) {
                        say(&e.to_string());
                    }
                }
                self.roots = roots;
                self.config = next;
            }
            Err(e) => say(&format!("{e}\n[dev] the last good version keeps serving")),
        }
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
