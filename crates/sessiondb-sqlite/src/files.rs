//! The `files` table outside a batch: the states a sync plans from, files gone from disk (or back), and
//! compressing what only captures hold into `raw_chunks`.

use crate::backend;
use crate::columns::{now_ms, record_issue};
use rusqlite::{params, Connection, OptionalExtension};
use sessiondb_core::{FileKind, FileState, StoreError};

pub(crate) fn file_states(conn: &Connection) -> Result<Vec<FileState>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT path, kind, inode, size, mtime_ns, consumed, head_hash, head_len, on_disk, device, ctime_ns,
                tail_hash, tail_len
             FROM files",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |row| {
            let kind: String = row.get(1)?;
            Ok(FileState {
                path: row.get(0)?,
                kind: FileKind::parse(&kind).unwrap_or(FileKind::Transcript),
                inode: row.get::<_, Option<i64>>(2)?.map(|v| v as u64),
                size: row.get::<_, i64>(3)? as u64,
                mtime_ns: row.get(4)?,
                consumed: row.get::<_, i64>(5)? as u64,
                head_hash: row.get::<_, i64>(6)? as u64,
                head_len: row.get::<_, i64>(7)? as u64,
                on_disk: row.get::<_, i64>(8)? != 0,
                device: row.get::<_, Option<i64>>(9)?.map(|v| v as u64),
                ctime_ns: row.get(10)?,
                tail_hash: row.get::<_, i64>(11)? as u64,
                tail_len: row.get::<_, i64>(12)? as u64,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

/// Compresses what only captures hold, one file per transaction (a sync may interleave).
pub(crate) fn archive_captures(
    conn: &mut Connection,
    captures: &std::path::Path,
) -> Result<sessiondb_core::ArchiveReport, StoreError> {
    let files: Vec<(i64, String, Option<i64>, i64)> = {
        let mut stmt = conn
            .prepare("SELECT id, path, inode, consumed FROM files WHERE on_disk = 1 ORDER BY path")
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    let mut report = sessiondb_core::ArchiveReport::default();
    for (file_id, path, inode, consumed) in files {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        // Re-read under the write lock: a sync may have moved the file on meanwhile.
        let current: Option<i64> = tx
            .query_row(
                "SELECT consumed FROM files WHERE id = ?1 AND on_disk = 1",
                [file_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        let consumed = current.unwrap_or(consumed).max(0) as u64;
        let (bytes, outcome) =
            crate::capture::archive_live_file(&tx, captures, file_id, &path, inode, consumed)?;
        tx.commit().map_err(backend)?;
        if bytes > 0 {
            report.files += 1;
            report.bytes += bytes;
        }
        if let crate::capture::Archived::Lost(lost) = outcome {
            report.unreadable_bytes += lost;
        }
    }
    Ok(report)
}

/// Marks files deleted on disk (or back). A deleted file's indexed bytes that only its capture held are
/// compressed into `raw_chunks` in the same transaction; its capture is removed once that commits.
pub(crate) fn set_on_disk(
    conn: &mut Connection,
    captures: &std::path::Path,
    paths: &[String],
    on_disk: bool,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let missing_since = if on_disk { None } else { Some(now_ms()) };
    let mut archived_captures = Vec::new();
    for path in paths {
        if !on_disk {
            let file: Option<(i64, Option<i64>, i64)> = tx
                .query_row(
                    "SELECT id, inode, consumed FROM files WHERE path = ?1 AND on_disk = 1",
                    [path],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(backend)?;
            if let Some((file_id, inode, consumed)) = file {
                match crate::capture::archive_from_capture(
                    &tx,
                    captures,
                    file_id,
                    path,
                    inode,
                    consumed.max(0) as u64,
                )? {
                    crate::capture::Archived::Complete => {}
                    crate::capture::Archived::Lost(bytes) => record_issue(
                        &tx,
                        file_id,
                        &sessiondb_core::IngestIssue {
                            offset: 0,
                            length: bytes,
                            kind: sessiondb_core::IssueKind::ArchiveLost,
                            detail: format!(
                                "the file vanished and {bytes} indexed bytes were in neither the archive nor a capture: its rows stay, those raw lines are gone"
                            ),
                        },
                    )?,
                }
                archived_captures.push(crate::capture::link_path(captures, path));
            }
        }
        tx.execute(
            "UPDATE files SET on_disk = ?2, missing_since_ms = ?3 WHERE path = ?1",
            params![path, on_disk, missing_since],
        )
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO dirty_sessions (session_key)
             SELECT sf.session_key FROM session_files sf JOIN files f ON f.id = sf.file_id WHERE f.path = ?1
             ON CONFLICT (session_key) DO NOTHING",
            [path],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)?;
    for link in archived_captures {
        // A link left behind (say, by a crash before this point) only costs disk until the path is captured again.
        let _ = std::fs::remove_file(link);
    }
    Ok(())
}
