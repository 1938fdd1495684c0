//! `GET /_/admin/backup`: a consistent backup of the running database, streamed.
//!
//! The backup is first written beside the database (`backup-*.redb.partial` in the data
//! directory, from one read snapshot, so writers go on meanwhile), then streamed from the open,
//! already unlinked file. Its response headers say what it holds: `x-holdfast-backup-taken-ms`
//! (when the snapshot was taken) and `x-holdfast-backup-seq` (the last batch in it). One backup
//! runs at a time; another asked meanwhile gets 409. A backup that fails (a full disk) leaves
//! nothing behind and answers 500 with the reason.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::error;
use super::state::AppState;

/// Bytes per chunk of the streamed file.
const CHUNK: usize = 1 << 20;

pub(super) async fn backup(State(st): State<Arc<AppState>>) -> Response {
    let Ok(_running) = st.backup_running.clone().try_acquire_owned() else {
        return error(
            StatusCode::CONFLICT,
            "a backup is already running: wait for it to finish",
        );
    };
    let db = st.directory.services().db.clone();
    let pace = st.backup_pace;
    let made = tokio::task::spawn_blocking(move || {
        let dir = db.dir().to_owned();
        let path = dir.join(format!("backup-{:016x}.redb", rand::random::<u64>()));
        let started = std::time::Instant::now();
        let mut last = 0u64;
        let info = db.backup(&path, pace, &mut |p| {
            let pct = p.rows * 100 / p.total_rows.max(1);
            if pct >= last + 10 {
                last = pct;
                tracing::info!(
                    rows = p.rows,
                    total = p.total_rows,
                    bytes = p.bytes,
                    "backup {pct}%"
                );
            }
        })?;
        tracing::info!(
            rows = info.rows,
            bytes = info.file_bytes,
            seconds = started.elapsed().as_secs_f64(),
            "backup written"
        );
        // Streamed from the open file; the name goes at once, so nothing is left if we die.
        // Open for writing too: it is freed by truncating it in steps (`Copy`).
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path);
        let _ = std::fs::remove_file(&path);
        let file = file.map_err(|e| crate::store::BackupError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok::<_, crate::store::BackupError>((info, file))
    })
    .await;
    let (info, file) = match made {
        Ok(Ok(made)) => made,
        Ok(Err(e)) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the backup failed: {e}"),
            );
        }
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the backup failed: {e}"),
            );
        }
    };
    let copy = Copy {
        file: Some(file),
        _running,
    };
    let stream = futures_util::stream::unfold(Some(copy), |copy| async move {
        let mut copy = copy?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; CHUNK];
            let n = copy
                .file
                .as_mut()
                .expect("held until dropped")
                .read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((buf, copy))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match read {
            Ok((buf, _)) if buf.is_empty() => None,
            Ok((buf, copy)) => Some((Ok(bytes::Bytes::from(buf)), Some(copy))),
            Err(e) => Some((Err(e), None)),
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, info.file_bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"holdfast-{}.redb\"", info.taken_ms),
            ),
        ],
        [
            ("x-holdfast-backup-taken-ms", info.taken_ms.to_string()),
            ("x-holdfast-backup-seq", info.seq.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Bytes of the streamed copy freed at a time.
const RELEASE_STEP: u64 = 32 << 20;

/// The streamed copy (unlinked) and the one-backup-at-a-time permit, held until the stream
/// ends or the client goes; then freed on a thread of its own.
struct Copy {
    file: Option<std::fs::File>,
    _running: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Copy {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            std::thread::spawn(move || release(&file));
        }
    }
}

/// Frees the streamed copy a step at a time: closing a file of gigabytes at once frees all
/// its blocks in one journal transaction, and the server's own commit syncs wait behind it (a
/// stall of a few hundred milliseconds on ext4).
fn release(file: &std::fs::File) {
    let Ok(mut len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    while len > 0 {
        len = len.saturating_sub(RELEASE_STEP);
        if file.set_len(len).is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
