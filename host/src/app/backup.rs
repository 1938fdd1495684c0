//! `holdfast backup` and `holdfast restore`.
//!
//! `backup --data DIR --to FILE`: if no server has DIR's database open, the file is read
//! directly (one snapshot); if one does, the backup is asked of that server
//! (`GET /_/admin/backup`, found through `DIR/server.json`, which a server writes when it starts,
//! or `--url`; the admin token from `HOLDFAST_ADMIN_TOKEN`) and downloaded. Either way the
//! result is checked to be a complete backup before it is renamed to FILE, and progress goes to
//! stderr every tenth of the way.
//!
//! `restore FILE --data DIR [--force]`: [`crate::store::restore`].

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::store::{self, BackupInfo, DB_FILE, RestoreError};

/// Where a running server said it listens (`DATA/server.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct ServerFile {
    pub url: String,
    /// Where the admin API is (the same as `url` unless `[admin] listen` is set).
    pub admin_url: String,
}

/// The file a server writes into its data directory.
pub(super) const SERVER_FILE: &str = "server.json";

/// Why a backup was not made (FILE was not written).
#[derive(Debug, thiserror::Error)]
pub enum BackupCliError {
    #[error("no database in `{0}` (holdfast.redb): is it a server's data directory?")]
    NoDatabase(PathBuf),
    #[error(transparent)]
    Backup(#[from] store::BackupError),
    #[error(
        "a server has `{0}` open, and its address is unknown (no server.json there): pass --url"
    )]
    NoAddress(PathBuf),
    #[error(
        "a server has the database open, so the backup is asked of it, which needs its admin token in HOLDFAST_ADMIN_TOKEN"
    )]
    NoToken,
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the server refused the backup ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("cannot write `{path}`: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("the downloaded backup is not whole: {0}")]
    Incomplete(RestoreError),
}

/// Prints `what N%` each time another tenth is done.
struct Tenths {
    what: &'static str,
    shown: u64,
}

impl Tenths {
    fn new(what: &'static str) -> Tenths {
        Tenths { what, shown: 0 }
    }

    fn at(&mut self, done: u64, total: u64, detail: impl FnOnce() -> String) {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if pct >= self.shown + 10 || (pct == 100 && self.shown < 100) {
            self.shown = pct - pct % 10;
            eprintln!("[{}] {pct:>3}% {}", self.what, detail());
        }
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `holdfast backup`: writes a backup of the data directory `data` to `to`.
pub async fn backup(
    data: &Path,
    to: &Path,
    url: Option<&str>,
    token: Option<String>,
) -> Result<BackupInfo, BackupCliError> {
    let db = data.join(DB_FILE);
    if !db.is_file() {
        return Err(BackupCliError::NoDatabase(data.to_owned()));
    }
    if url.is_none() && !store::in_use(&db) {
        let (db, to) = (db.clone(), to.to_owned());
        let mut tenths = Tenths::new("backup");
        return tokio::task::spawn_blocking(move || {
            store::backup_file(&db, &to, &mut |p| {
                tenths.at(p.rows, p.total_rows, || {
                    format!(
                        "{} of {} rows, {}",
                        p.rows,
                        p.total_rows,
                        megabytes(p.bytes)
                    )
                })
            })
        })
        .await
        .expect("the backup thread does not panic")
        .map_err(BackupCliError::from);
    }
    let admin = match url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let file = std::fs::read(data.join(SERVER_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice::<ServerFile>(&b).ok())
                .ok_or_else(|| BackupCliError::NoAddress(data.to_owned()))?;
            file.admin_url
        }
    };
    let token = token.ok_or(BackupCliError::NoToken)?;
    download(&format!("{admin}/_/admin/backup"), &token, to).await
}

/// Bytes of a download written between two syncs.
const SYNC_BYTES: usize = 2 << 20;

/// Downloads a backup from a running server to `to` (through `to.partial`).
async fn download(url: &str, token: &str, to: &Path) -> Result<BackupInfo, BackupCliError> {
    let unreachable = |e: reqwest::Error| BackupCliError::Unreachable {
        url: url.to_owned(),
        reason: e.to_string(),
    };
    eprintln!("[backup] asking {url} (the server copies a snapshot first)");
    let mut r = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(unreachable)?;
    if !r.status().is_success() {
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(body);
        return Err(BackupCliError::Refused { status, message });
    }
    let total = r.content_length().unwrap_or(0);
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let partial = to.with_file_name(name);
    let write_err = |e: std::io::Error| BackupCliError::Write {
        path: to.to_owned(),
        reason: e.to_string(),
    };
    let result = async {
        let mut file = std::fs::File::create(&partial).map_err(write_err)?;
        let (mut got, mut unsynced) = (0u64, 0usize);
        let mut tenths = Tenths::new("backup");
        while let Some(chunk) = r.chunk().await.map_err(unreachable)? {
            file.write_all(&chunk).map_err(write_err)?;
            got += chunk.len() as u64;
            // Synced as it arrives, as the server writes its copy: one sync of gigabytes at the
            // end would stall the commits of a server on the same disk behind its writeback.
            unsynced += chunk.len();
            if unsynced >= SYNC_BYTES {
                file.sync_data().map_err(write_err)?;
                unsynced = 0;
            }
            tenths.at(got, total, || {
                format!("{} of {} downloaded", megabytes(got), megabytes(total))
            });
        }
        file.sync_all().map_err(write_err)?;
        drop(file);
        let info = store::backup_info(&partial).map_err(BackupCliError::Incomplete)?;
        std::fs::rename(&partial, to).map_err(write_err)?;
        Ok(info)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// `holdfast restore`: makes the backup `from` the database of `data`.
pub fn restore(from: &Path, data: &Path, force: bool) -> Result<BackupInfo, RestoreError> {
    let mut tenths = Tenths::new("restore");
    store::restore(from, data, force, &mut |done, total| {
        tenths.at(done, total, || {
            format!("{} of {}", megabytes(done), megabytes(total))
        })
    })
}

/// Records where the server listens in its data directory, for `holdfast backup`.
pub(super) fn write_server_file(data: &Path, file: &ServerFile) {
    let path = data.join(SERVER_FILE);
    let text = serde_json::to_vec_pretty(file).expect("plain strings");
    if let Err(e) = std::fs::write(&path, text) {
        tracing::warn!(path = %path.display(), error = %e, "cannot record the server's address");
    }
}
