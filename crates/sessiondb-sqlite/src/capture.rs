//! Captures: hard links that keep a source file's bytes reachable, so lines need not be compressed as they are
//! read.
//!
//! The raw archive of a file is the union of its `raw_chunks` (zstd frames in the database) and its capture, a
//! hard link in `<db>-captures/` named after a hash of the file's path. A link shares the file's inode: it costs
//! no copy and no CPU, it sees every append, and it keeps the bytes alive when Claude Code deletes the file. When
//! a sync finds a file gone, the ranges no chunk covers are compressed from the capture into `raw_chunks` in the
//! same transaction that marks the file deleted, and the link is removed: from then on the database alone holds
//! the file. A link is trusted only while its inode is the one recorded for the file.
//!
//! Where a link cannot be made (another file system, no hard links), the reader compresses lines into the batch
//! as it reads them, as for every file before captures existed.

use crate::backend;
use rusqlite::{params, Transaction};
use sessiondb_core::StoreError;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

/// zstd level of chunks compressed from captures (the reader's default).
const ZSTD_LEVEL: i32 = 1;

/// Chunks cut from a capture hold about this many bytes (ending at a line end), so reading one line back
/// decompresses a bounded amount.
const CHUNK_BYTES: u64 = 4 << 20;

/// The capture directory of the database at `db_path`.
pub(crate) fn capture_dir(db_path: &Path) -> PathBuf {
    let mut name = db_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push("-captures");
    db_path.with_file_name(name)
}

/// Where the capture of the file at `path` lives.
pub(crate) fn link_path(dir: &Path, path: &str) -> PathBuf {
    dir.join(format!("{:016x}.capture", xxh3_64(path.as_bytes())))
}

#[cfg(unix)]
fn inode_of(meta: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(meta.ino())
}

#[cfg(not(unix))]
fn inode_of(_meta: &std::fs::Metadata) -> Option<u64> {
    None
}

/// What captures files into `dir` (see [`capture`]), for reader threads to call on the files they are about to
/// read, several at once. `None` when the directory cannot be made: nothing can be captured then.
pub(crate) fn capturer(dir: &Path) -> Option<impl Fn(&str, Option<u64>) -> bool + Send + Sync> {
    if let Err(err) = create_private_dir(dir) {
        tracing::debug!(dir = %dir.display(), %err, "cannot create the capture directory");
        return None;
    }
    let dir = dir.to_path_buf();
    Some(move |path: &str, inode: Option<u64>| capture(&dir, path, inode))
}

/// Makes sure `dir` (which exists) holds a link to the file at `path` whose inode is `inode`. Returns false
/// when no such link can be made (the caller then archives the bytes itself).
fn capture(dir: &Path, path: &str, inode: Option<u64>) -> bool {
    // Without inodes a link cannot be told from a stale one.
    let Some(inode) = inode else { return false };
    let link = link_path(dir, path);
    // Link first: on a first load there is nothing to replace, and that is two system calls per file.
    if let Err(err) = std::fs::hard_link(path, &link) {
        if err.kind() != std::io::ErrorKind::AlreadyExists {
            // EXDEV (another file system), EPERM, no hard links on this file system: archive inline instead.
            tracing::debug!(path, %err, "cannot capture; its lines are compressed as they are read");
            return false;
        }
        match std::fs::metadata(&link) {
            Ok(meta) if inode_of(&meta) == Some(inode) => return true,
            _ => {}
        }
        // A stale capture (the path now names another file): replace it.
        if let Err(err) = std::fs::remove_file(&link) {
            tracing::debug!(link = %link.display(), %err, "cannot replace a stale capture");
            return false;
        }
        if let Err(err) = std::fs::hard_link(path, &link) {
            tracing::debug!(path, %err, "cannot capture; its lines are compressed as they are read");
            return false;
        }
    }
    // The file may have been replaced between its stat and the link: only the stat'ed inode is trusted.
    match std::fs::metadata(&link) {
        Ok(meta) if inode_of(&meta) == Some(inode) => true,
        _ => {
            let _ = std::fs::remove_file(&link);
            false
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// The capture of `path` opened for reading, if it is still the file with `inode`.
pub(crate) fn open_capture(dir: &Path, path: &str, inode: Option<i64>) -> Option<File> {
    open_if_inode(&link_path(dir, path), inode)
}

/// Opens `path` if it is the file with `inode` (never without an inode to check).
fn open_if_inode(path: &Path, inode: Option<i64>) -> Option<File> {
    let inode = inode? as u64;
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    (inode_of(&meta) == Some(inode)).then_some(file)
}

/// Opens the best live copy of a file's bytes: its capture, else the file itself if it is still the same inode.
pub(crate) fn open_live_copy(dir: &Path, path: &str, inode: Option<i64>) -> Option<File> {
    open_capture(dir, path, inode).or_else(|| open_if_inode(Path::new(path), inode))
}

/// Reads `length` bytes at `offset`; `None` if the file is shorter.
pub(crate) fn read_at(file: &mut File, offset: u64, length: u64) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(length).ok()?];
    file.seek(SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut bytes).ok()?;
    Some(bytes)
}

/// The bytes from `start` up to about [`CHUNK_BYTES`], ending at a line end (or at `end`); `None` if the file
/// is shorter than `end`.
fn read_piece(file: &mut File, start: u64, end: u64) -> Option<Vec<u8>> {
    let first = (end - start).min(CHUNK_BYTES);
    let mut piece = read_at(file, start, first)?;
    if start + first == end {
        return Some(piece);
    }
    if let Some(nl) = memchr::memrchr(b'\n', &piece) {
        piece.truncate(nl + 1);
        return Some(piece);
    }
    // One line longer than a piece: read on to its end.
    loop {
        let at = start + piece.len() as u64;
        let more = read_at(file, at, (end - at).min(CHUNK_BYTES))?;
        match memchr::memchr(b'\n', &more) {
            Some(nl) => {
                piece.extend_from_slice(&more[..=nl]);
                return Some(piece);
            }
            None => piece.extend_from_slice(&more),
        }
        if start + piece.len() as u64 >= end {
            return Some(piece);
        }
    }
}

/// The ranges of `[0, consumed)` that no chunk of `file_id` covers.
fn gaps(tx: &Transaction<'_>, file_id: i64, consumed: u64) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT start_offset, end_offset FROM raw_chunks WHERE file_id = ?1 ORDER BY start_offset",
        )
        .map_err(backend)?;
    let chunks = stmt
        .query_map([file_id], |row| {
            Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let mut gaps = Vec::new();
    let mut covered_to = 0u64;
    for (start, end) in chunks {
        if start > covered_to {
            gaps.push((covered_to, start.min(consumed)));
        }
        covered_to = covered_to.max(end);
    }
    if covered_to < consumed {
        gaps.push((covered_to, consumed));
    }
    gaps.retain(|(start, end)| start < end);
    Ok(gaps)
}

/// What archiving a vanished file from its capture did.
pub(crate) enum Archived {
    /// Every indexed byte is in `raw_chunks` now (possibly nothing was missing); the capture can go.
    Complete,
    /// Some indexed bytes were neither in chunks nor in a capture: recorded as an issue.
    Lost(u64),
}

/// Compresses the indexed bytes of a file that no chunk covers from its capture into `raw_chunks`.
pub(crate) fn archive_from_capture(
    tx: &Transaction<'_>,
    dir: &Path,
    file_id: i64,
    path: &str,
    inode: Option<i64>,
    consumed: u64,
) -> Result<Archived, StoreError> {
    archive_gaps(tx, open_capture(dir, path, inode), file_id, path, consumed)
        .map(|(_, archived)| archived)
}

/// Compresses the indexed bytes of a file still on disk that no chunk covers, from its capture or the file
/// itself. Returns the bytes compressed and the outcome.
pub(crate) fn archive_live_file(
    tx: &Transaction<'_>,
    dir: &Path,
    file_id: i64,
    path: &str,
    inode: Option<i64>,
    consumed: u64,
) -> Result<(u64, Archived), StoreError> {
    archive_gaps(
        tx,
        open_live_copy(dir, path, inode),
        file_id,
        path,
        consumed,
    )
}

fn archive_gaps(
    tx: &Transaction<'_>,
    source: Option<File>,
    file_id: i64,
    path: &str,
    consumed: u64,
) -> Result<(u64, Archived), StoreError> {
    let gaps = gaps(tx, file_id, consumed)?;
    if gaps.is_empty() {
        return Ok((0, Archived::Complete));
    }
    let missing: u64 = gaps.iter().map(|(s, e)| e - s).sum();
    let Some(mut file) = source else {
        return Ok((0, Archived::Lost(missing)));
    };
    let mut lost = 0u64;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO raw_chunks (file_id, start_offset, end_offset, codec, data) VALUES (?1, ?2, ?3, 'zstd', ?4)",
        )
        .map_err(backend)?;
    for (start, end) in gaps {
        // Piece by piece, each cut at a line end so that every line sits inside one chunk: memory stays
        // bounded by the piece size plus the longest line, not by the file.
        let mut position = start;
        while position < end {
            let Some(piece) = read_piece(&mut file, position, end) else {
                lost += end - position;
                break;
            };
            let zstd = zstd::bulk::compress(&piece, ZSTD_LEVEL)
                .map_err(|e| StoreError::Backend(format!("cannot compress {path}: {e}")))?;
            let piece_end = position + piece.len() as u64;
            insert
                .execute(params![file_id, position as i64, piece_end as i64, zstd])
                .map_err(backend)?;
            position = piece_end;
        }
    }
    Ok((
        missing - lost,
        if lost == 0 {
            Archived::Complete
        } else {
            Archived::Lost(lost)
        },
    ))
}

/// Removes every capture (a new database starts with none).
pub(crate) fn clear(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "capture") {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(dir: &Path, path: &str, inode: Option<u64>) -> bool {
        capturer(dir).is_some_and(|capture| capture(path, inode))
    }

    #[test]
    fn a_capture_survives_the_file_and_is_trusted_only_for_its_inode() {
        let dir = tempfile::tempdir().unwrap();
        let captures = dir.path().join("db-captures");
        let file = dir.path().join("s.jsonl");
        std::fs::write(&file, b"one\n").unwrap();
        let path = file.to_str().unwrap();
        let inode = inode_of(&std::fs::metadata(&file).unwrap());
        assert!(capture(&captures, path, inode));
        assert!(
            capture(&captures, path, inode),
            "an existing capture is kept"
        );

        // Appends show through the link; deleting the file does not take the bytes.
        use std::io::Write;
        let mut appender = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        appender.write_all(b"two\n").unwrap();
        drop(appender);
        std::fs::remove_file(&file).unwrap();
        let mut held = open_capture(&captures, path, inode.map(|i| i as i64)).unwrap();
        assert_eq!(read_at(&mut held, 4, 4).unwrap(), b"two\n");

        // A file recreated under the same path is another inode: the old capture is not it.
        std::fs::write(&file, b"new\n").unwrap();
        let new_inode = inode_of(&std::fs::metadata(&file).unwrap());
        assert_ne!(new_inode, inode);
        assert!(open_capture(&captures, path, new_inode.map(|i| i as i64)).is_none());
        assert!(capture(&captures, path, new_inode));
        let mut held = open_capture(&captures, path, new_inode.map(|i| i as i64)).unwrap();
        assert_eq!(read_at(&mut held, 0, 4).unwrap(), b"new\n");
    }

    #[test]
    fn many_files_are_captured_in_parallel_each_to_its_own_link() {
        let dir = tempfile::tempdir().unwrap();
        let captures = dir.path().join("db-captures");
        let mut paths = Vec::new();
        for i in 0..700 {
            let file = dir.path().join(format!("{i}.jsonl"));
            std::fs::write(&file, format!("{i}\n")).unwrap();
            paths.push(file.to_str().unwrap().to_owned());
        }
        // Every third file is offered without an inode: it alone must come back uncaptured.
        let requests: Vec<(&str, Option<u64>)> = paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let inode = inode_of(&std::fs::metadata(path).unwrap());
                (path.as_str(), if i % 3 == 0 { None } else { inode })
            })
            .collect();
        // On seven threads at once, as readers capture the files they read.
        let capture = capturer(&captures).unwrap();
        let mut captured = vec![false; requests.len()];
        std::thread::scope(|scope| {
            for (requests, captured) in requests.chunks(100).zip(captured.chunks_mut(100)) {
                let capture = &capture;
                scope.spawn(move || {
                    for ((path, inode), captured) in requests.iter().zip(captured) {
                        *captured = capture(path, *inode);
                    }
                });
            }
        });
        for (i, ((path, inode), captured)) in requests.iter().zip(&captured).enumerate() {
            assert_eq!(*captured, i % 3 != 0, "{path}");
            let link = std::fs::read_to_string(link_path(&captures, path));
            if *captured {
                assert_eq!(link.unwrap(), format!("{i}\n"));
                assert!(open_capture(&captures, path, inode.map(|i| i as i64)).is_some());
            } else {
                assert!(link.is_err(), "{path} was linked");
            }
        }
    }

    #[test]
    fn without_an_inode_nothing_is_captured() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.jsonl");
        std::fs::write(&file, b"one\n").unwrap();
        assert!(!capture(
            &dir.path().join("c"),
            file.to_str().unwrap(),
            None
        ));
    }
}
