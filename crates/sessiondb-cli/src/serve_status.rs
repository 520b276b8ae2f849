//! What a running `serve` tells `doctor`: its sync status, written to a small file in the runtime directory
//! (not beside the database, whose disk may be the one that is full or read-only) whenever it changes.

use serde::{Deserialize, Serialize};
use sessiondb_server::SyncStatus;
use std::path::{Path, PathBuf};

/// The status file of a `serve` over `db`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServeStatus {
    pub pid: u32,
    pub db: String,
    pub listen: String,
    pub syncs: u64,
    pub last_finished_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub failures_in_a_row: u64,
    /// Filled in by [`read`]: whether that process still runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}

/// Where the status of a `serve` over `db` is kept: `$XDG_RUNTIME_DIR` (else the temp dir), named by a hash of
/// the database path.
pub fn path_for(db: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    db.hash(&mut hasher);
    dirs::runtime_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("sessiondb-serve-{:016x}.json", hasher.finish()))
}

impl ServeStatus {
    pub fn from_sync(db: &Path, listen: &str, sync: &SyncStatus) -> ServeStatus {
        ServeStatus {
            pid: std::process::id(),
            db: db.display().to_string(),
            listen: listen.to_owned(),
            syncs: sync.syncs,
            last_finished_at: sync.last_finished_at.clone(),
            last_error: sync.last_error.clone(),
            last_error_at: sync.last_error_at.clone(),
            failures_in_a_row: sync.failures_in_a_row,
            running: None,
        }
    }
}

/// Writes the status (whole, then renamed into place); a failure is only logged: it must not stop serving.
pub fn write(path: &Path, status: &ServeStatus) {
    let temp = path.with_extension(format!("{}.tmp", std::process::id()));
    let written = serde_json::to_vec_pretty(status)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&temp, bytes))
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(err) = written {
        tracing::debug!(%err, path = %path.display(), "cannot write serve's status file");
    }
}

/// Keeps the status file of this `serve` current: written when the status changes (a sync ran, failed or
/// recovered), never while the server idles.
pub async fn publish(live: sessiondb_server::LiveSync, db: PathBuf, listen: String) {
    let path = path_for(&db);
    let mut written: Option<ServeStatus> = None;
    loop {
        let now = ServeStatus::from_sync(&db, &listen, &live.status());
        if written.as_ref() != Some(&now) {
            let (path, status) = (path.clone(), now.clone());
            let _ = tokio::task::spawn_blocking(move || write(&path, &status)).await;
            written = Some(now);
        }
        live.status_changed().await;
    }
}

/// The status a `serve` over `db` left, if any, with whether it still runs.
pub fn read(db: &Path) -> Option<ServeStatus> {
    let text = std::fs::read(path_for(db)).ok()?;
    let mut status: ServeStatus = serde_json::from_slice(&text).ok()?;
    status.running = Some(Path::new(&format!("/proc/{}", status.pid)).exists());
    Some(status)
}
