//! One sync run: discover files, decide what to read from each (new bytes, a rewrite, nothing), read them in
//! parallel and write the batches from one writer, then refresh the derived session rows.

use crate::change::{judge, Verdict, Windows};
use crate::reader::{
    read_file, window_hash, FileStat, ReadBuffers, ReadLimits, ReadStart, HEAD_LEN,
};
use crate::source::{Source, SourceFile};
use sessiondb_core::{
    BatchOutcome, FileCapturer, FileKind, FileState, FileUpdate, IngestBatch, IngestIssue,
    IssueKind, Store, StoreError,
};
use sessiondb_pricing::{PriceTable, PRICE_TABLE_VERSION};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Sync settings.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    pub limits: ReadLimits,
    /// Reader threads; 0 lets rayon decide (one per core).
    pub threads: usize,
    /// Batches per write transaction at most (0: no limit).
    pub batches_per_transaction: usize,
    /// Input bytes per write transaction at most (0: the default, 256 MiB).
    pub transaction_bytes: u64,
    /// Leave the session summaries to a later [`Store::refresh_sessions`] (the touched sessions stay marked):
    /// the new lines are queryable as soon as they commit. A live syncer uses this to refresh less often.
    pub defer_refresh: bool,
}

/// Progress callbacks; the library never prints.
pub trait SyncObserver: Sync {
    /// Called once the work is known: files and bytes to read.
    fn planned(&self, _files: u64, _bytes: u64) {}
    /// Called after each committed transaction with running totals.
    fn progress(&self, _files_done: u64, _bytes_done: u64) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl SyncObserver for Quiet {}

/// A path a walk could not enter, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnreadablePath {
    pub path: String,
    pub detail: String,
}

/// Why a root was left alone (see [`UnavailableRoot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unavailable {
    /// The root is not a directory (deleted, or a disk not mounted).
    Missing,
    /// The root holds no session files.
    Empty,
}

/// A root the index knows session files under but where this sync found none: its files were not marked
/// deleted on disk (they keep their state until the root is back).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnavailableRoot {
    pub root: String,
    pub reason: Unavailable,
    /// Files indexed under it and on disk at the last sync that saw them.
    pub known_files: u64,
}

/// What a sync did; serialized as `sync --json` and the body of `POST /api/sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    pub roots: Vec<String>,
    pub files_seen: u64,
    pub files_read: u64,
    pub files_unchanged: u64,
    pub files_rewritten: u64,
    pub files_missing: u64,
    pub bytes_read: u64,
    pub lines: u64,
    pub issues: u64,
    /// Of `issues`, the implausible numbers (a negative, non-numeric or out-of-bound token count or cost): each
    /// one's response was not counted.
    pub implausible_numbers: u64,
    /// Batches another sync had already applied.
    pub stale_batches: u64,
    /// Paths a walk could not enter.
    pub discovery_issues: Vec<UnreadablePath>,
    /// Roots that looked missing or emptied: nothing under them was marked deleted.
    pub unavailable_roots: Vec<UnavailableRoot>,
    /// Sessions whose summary changed (new lines, new session, deleted on disk). Not in the JSON: a first
    /// sync would list every session.
    #[serde(skip)]
    pub sessions_changed: Vec<sessiondb_core::RefreshedSession>,
}

/// Errors that stop a sync (bad lines never do).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reader thread failed: {0}")]
    Worker(String),
}

struct Work {
    file: SourceFile,
    stat: FileStat,
    start: ReadStart,
    bytes: u64,
}

#[cfg(unix)]
pub(crate) fn stat_of(meta: &std::fs::Metadata) -> FileStat {
    use std::os::unix::fs::MetadataExt;
    FileStat {
        device: Some(meta.dev()),
        inode: Some(meta.ino()),
        size: meta.len(),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        ctime_ns: Some(meta.ctime() * 1_000_000_000 + meta.ctime_nsec()),
    }
}

/// Without inodes and ctimes: a file is told unchanged by its size and mtime alone.
#[cfg(not(unix))]
pub(crate) fn stat_of(meta: &std::fs::Metadata) -> FileStat {
    FileStat {
        device: None,
        inode: None,
        size: meta.len(),
        mtime_ns: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
        ctime_ns: None,
    }
}

/// The stat to record for a file just captured: the capture's hard link moved its ctime, so a stat taken after
/// the link is recorded when it shows the same file with the same size and mtime as the stat the plan took
/// (its bytes are read after this, so a later edit still moves the ctime past the recorded one). Otherwise the
/// plan's stat stays, and the next sync checks the file again.
fn stat_after_capture(path: &Path, planned: FileStat) -> FileStat {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let now = stat_of(&meta);
            if now.device == planned.device
                && now.inode == planned.inode
                && now.size == planned.size
                && now.mtime_ns == planned.mtime_ns
            {
                FileStat {
                    ctime_ns: now.ctime_ns,
                    ..planned
                }
            } else {
                planned
            }
        }
        Err(_) => planned,
    }
}

/// Decides where to start reading a file given what the store knows, or `None` if it is unchanged: the rule is
/// [`judge`]; this gathers its evidence (the file is opened only when the stat alone does not settle it).
fn plan(
    file: &SourceFile,
    stat: FileStat,
    known: Option<&FileState>,
) -> Result<Option<ReadStart>, std::io::Error> {
    let mut verdict = judge(known, file.kind, &stat, None);
    if verdict == Verdict::NeedsWindows {
        let windows = match known {
            Some(known) => {
                let mut handle = File::open(&file.path)?;
                Windows {
                    head: window_hash(&mut handle, 0, known.head_len)?,
                    tail: window_hash(
                        &mut handle,
                        known.consumed - known.tail_len.min(known.consumed),
                        known.tail_len,
                    )?,
                }
            }
            None => Windows {
                head: None,
                tail: None,
            },
        };
        verdict = judge(known, file.kind, &stat, Some(&windows));
    }
    Ok(match verdict {
        Verdict::Skip => None,
        Verdict::Rewrite(reason) => {
            tracing::debug!(path = %file.path.display(), ?reason, "rewritten");
            Some(ReadStart {
                rewrite: true,
                ..ReadStart::default()
            })
        }
        Verdict::ReadFrom(offset) => Some(match known {
            Some(known) if offset > 0 => ReadStart {
                offset,
                rewrite: false,
                head_hash: known.head_hash,
                head_len: known.head_len.min(HEAD_LEN),
                tail_hash: known.tail_hash,
                tail_len: known.tail_len,
            },
            _ => ReadStart {
                offset,
                ..ReadStart::default()
            },
        }),
        // Only asked for without windows.
        Verdict::NeedsWindows => Some(ReadStart {
            rewrite: true,
            ..ReadStart::default()
        }),
    })
}

/// Syncs `roots` (config dirs) found by `source` into `store`.
pub fn sync(
    store: &mut dyn Store,
    source: &dyn Source,
    roots: &[PathBuf],
    options: &SyncOptions,
    observer: &dyn SyncObserver,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport {
        roots: roots
            .iter()
            .filter(|r| r.is_dir())
            .map(|r| r.display().to_string())
            .collect(),
        ..SyncReport::default()
    };
    if store.price_table_version()?.as_deref() != Some(PRICE_TABLE_VERSION) {
        let prices = PriceTable::embedded();
        store.reprice(PRICE_TABLE_VERSION, &|model, tokens| {
            prices.cost(model, tokens)
        })?;
    }

    let planning = std::time::Instant::now();
    let known: HashMap<String, FileState> = store
        .file_states()?
        .into_iter()
        .map(|state| (state.path.clone(), state))
        .collect();

    let mut work: Vec<Work> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut early_batches: Vec<IngestBatch> = Vec::new();
    let mut session_files_found: Vec<u64> = Vec::with_capacity(roots.len());
    for root in roots {
        let discovering = std::time::Instant::now();
        let (files, issues) = source.discover(root);
        session_files_found
            .push(files.iter().filter(|f| f.kind != FileKind::History).count() as u64);
        tracing::debug!(
            elapsed_ms = discovering.elapsed().as_millis() as u64,
            "discovered"
        );
        for issue in issues {
            tracing::warn!(path = %issue.path.display(), "{}", issue.detail);
            report.discovery_issues.push(UnreadablePath {
                path: issue.path.display().to_string(),
                detail: issue.detail,
            });
        }
        for file in files {
            report.files_seen += 1;
            let path = file.path.to_string_lossy().into_owned();
            seen.insert(path.clone());
            let stat = match std::fs::metadata(&file.path) {
                Ok(meta) => stat_of(&meta),
                Err(err) => {
                    // Vanished between the walk and the stat: the missing-file pass below records it.
                    tracing::debug!(path, %err, "stat failed");
                    seen.remove(&path);
                    continue;
                }
            };
            let known_state = known.get(&path);
            match plan(&file, stat, known_state) {
                Ok(None) => report.files_unchanged += 1,
                Ok(Some(start)) => {
                    if start.rewrite {
                        report.files_rewritten += 1;
                    }
                    let bytes = stat.size.saturating_sub(start.offset);
                    work.push(Work {
                        file,
                        stat,
                        start,
                        bytes,
                    });
                }
                Err(err) => {
                    let consumed = known_state.map(|k| k.consumed).unwrap_or(0);
                    let mut batch = IngestBatch::new(FileUpdate {
                        path: path.clone(),
                        root: file.root.to_string_lossy().into_owned(),
                        kind: file.kind,
                        owner_session: file.owner_session.clone(),
                        device: known_state.and_then(|k| k.device),
                        inode: known_state.and_then(|k| k.inode),
                        size: known_state.map(|k| k.size).unwrap_or(0),
                        mtime_ns: known_state.map(|k| k.mtime_ns).unwrap_or(0),
                        ctime_ns: known_state.and_then(|k| k.ctime_ns),
                        start_offset: consumed,
                        consumed,
                        head_hash: known_state.map(|k| k.head_hash).unwrap_or(0),
                        head_len: known_state.map(|k| k.head_len).unwrap_or(0),
                        tail_hash: known_state.map(|k| k.tail_hash).unwrap_or(0),
                        tail_len: known_state.map(|k| k.tail_len).unwrap_or(0),
                        rewrite: false,
                    });
                    batch.issues.push(IngestIssue {
                        offset: consumed,
                        length: 0,
                        kind: IssueKind::Io,
                        detail: format!("cannot read: {err}"),
                    });
                    early_batches.push(batch);
                }
            }
        }
    }

    tracing::debug!(
        elapsed_ms = planning.elapsed().as_millis() as u64,
        files = work.len(),
        "planned"
    );
    // Files indexed before under these roots that are gone now: keep their rows, mark them deleted on disk;
    // unless their root looks missing or emptied as a whole.
    report.unavailable_roots = unavailable_roots(roots, &session_files_found, &known);
    for spared in &report.unavailable_roots {
        tracing::debug!(root = spared.root, reason = ?spared.reason, "root unavailable; its files keep their state");
    }
    let present: Vec<&PathBuf> = roots
        .iter()
        .filter(|root| {
            !report
                .unavailable_roots
                .iter()
                .any(|u| Path::new(&u.root) == root.as_path())
        })
        .collect();
    let gone: Vec<String> = known
        .values()
        .filter(|state| state.on_disk && !seen.contains(&state.path))
        .filter(|state| {
            present
                .iter()
                .any(|root| Path::new(&state.path).starts_with(root))
        })
        .map(|state| state.path.clone())
        .collect();
    report.files_missing = gone.len() as u64;
    if !gone.is_empty() {
        store.set_on_disk(&gone, false)?;
    }
    if !early_batches.is_empty() {
        report.issues += early_batches.len() as u64;
        store.apply_batches(&mut early_batches.into_iter(), &mut |_, _| {})?;
    }

    // Big files first, so the last file read is not the longest.
    work.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| a.file.path.cmp(&b.file.path))
    });
    let total_bytes: u64 = work.iter().map(|w| w.bytes).sum();
    observer.planned(work.len() as u64, total_bytes);
    report.files_read = work.len() as u64;

    let started = std::time::Instant::now();
    let bulk = !work.is_empty() && store.begin_bulk_load()?;
    let capturer = if work.is_empty() {
        None
    } else {
        store.file_capturer()?
    };
    let written = write_in_parallel(
        store,
        work,
        capturer.as_deref(),
        options,
        observer,
        &mut report,
    );
    if bulk {
        // Also after a failed write: the indexes must exist before anything queries.
        store.end_bulk_load()?;
    }
    written?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        bulk,
        "read and wrote new bytes"
    );
    let started = std::time::Instant::now();
    if !options.defer_refresh {
        report.sessions_changed = store.refresh_sessions()?;
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "refreshed sessions"
    );
    store.record_sync(chrono::Utc::now().timestamp_millis())?;
    Ok(report)
}

/// The roots under which the store knows session files on disk but where this sync found none: a missing,
/// emptied or unmounted config dir (or a path one level off) would otherwise mark every session under it
/// deleted. `found[i]` is how many session files (not history) the walk of `roots[i]` found.
fn unavailable_roots(
    roots: &[PathBuf],
    found: &[u64],
    known: &HashMap<String, FileState>,
) -> Vec<UnavailableRoot> {
    roots
        .iter()
        .zip(found)
        .filter(|(_, found)| **found == 0)
        .filter_map(|(root, _)| {
            let known_files = known
                .values()
                .filter(|state| {
                    state.on_disk
                        && state.kind != FileKind::History
                        && Path::new(&state.path).starts_with(root)
                })
                .count() as u64;
            (known_files > 0).then(|| UnavailableRoot {
                root: root.display().to_string(),
                reason: if root.is_dir() {
                    Unavailable::Empty
                } else {
                    Unavailable::Missing
                },
                known_files,
            })
        })
        .collect()
}

fn write_in_parallel(
    store: &mut dyn Store,
    work: Vec<Work>,
    capturer: Option<&FileCapturer>,
    options: &SyncOptions,
    observer: &dyn SyncObserver,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    if work.is_empty() {
        return Ok(());
    }
    let limits = options.limits;
    let per_transaction = match options.batches_per_transaction {
        0 => usize::MAX,
        n => n,
    };
    let transaction_bytes = match options.transaction_bytes {
        0 => 256 << 20,
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .thread_name(|i| format!("sessiondb-read{i}"))
        .build()
        .map_err(|e| SyncError::Worker(e.to_string()))?;
    // Bounded: readers wait for the writer instead of piling batches up in memory.
    let (sender, receiver) = crossbeam_channel::bounded::<(IngestBatch, bool)>(8);
    let stop = AtomicBool::new(false);
    let buffers = ReadBuffers::default();

    // Applied batches, freed off the writer's thread (bounded: memory stays a few batches).
    let (spent, spent_receiver) = crossbeam_channel::bounded::<IngestBatch>(16);

    std::thread::scope(|scope| -> Result<(), SyncError> {
        let stop = &stop;
        let buffers = &buffers;
        scope.spawn(move || {
            for mut batch in spent_receiver {
                buffers.give_lines(std::mem::take(&mut batch.lines));
            }
        });
        // Every reader takes the biggest file left. (A rayon parallel iterator over the sorted files split them
        // into a few fixed runs: one reader was left alone with the run of big files for the last third of a first
        // load while the other, done with the small ones, had nothing to steal but that reader's pieces.)
        let queue = crossbeam_channel::unbounded::<Work>();
        for item in work {
            let _ = queue.0.send(item);
        }
        drop(queue.0);
        let next_work = queue.1;
        let producer = scope.spawn(move || {
            pool.broadcast(|_| {
                let sender = sender.clone();
                while let Ok(item) = next_work.try_recv() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    // Each reader captures the file it is about to read (a hard link, no copy: a few system
                    // calls, which the writer need not wait for). The small meta files, rewritten in place, are
                    // archived as they are read instead.
                    let compress_raw = match capturer {
                        Some(capture) if item.file.kind != FileKind::SubagentMeta => {
                            !capture(&item.file.path.to_string_lossy(), item.stat.inode)
                        }
                        _ => true,
                    };
                    let stat = if compress_raw {
                        item.stat
                    } else {
                        stat_after_capture(&item.file.path, item.stat)
                    };
                    let mut pending: Option<IngestBatch> = None;
                    let mut emit = |batch: IngestBatch| -> bool {
                        // Hold one batch back so the file's last batch can be flagged as such.
                        if let Some(previous) = pending.replace(batch) {
                            if sender.send((previous, false)).is_err() {
                                return false;
                            }
                        }
                        !stop.load(Ordering::Relaxed)
                    };
                    read_file(
                        &item.file,
                        stat,
                        item.start,
                        limits,
                        compress_raw,
                        buffers,
                        &mut emit,
                    );
                    if let Some(last) = pending {
                        let _ = sender.send((last, true));
                    }
                }
            });
            // The receiver sees the end once every reader's sender is gone.
            drop(sender);
        });

        // One transaction per `transaction_bytes` of input: fewer, larger commits write each hot index page to
        // the WAL fewer times. Batches are applied as they arrive, so memory holds one batch, not a transaction.
        let mut files_done = 0u64;
        let mut bytes_done = 0u64;
        let mut result = Ok(());
        let mut disconnected = false;
        let mut writer_waited = std::time::Duration::ZERO;
        while !disconnected {
            let mut group_bytes = 0u64;
            let mut group_batches = 0usize;
            let mut group_files = 0u64;
            let mut batches = std::iter::from_fn(|| {
                if group_bytes >= transaction_bytes || group_batches >= per_transaction {
                    return None;
                }
                let waiting = std::time::Instant::now();
                let received = receiver.recv();
                writer_waited += waiting.elapsed();
                match received {
                    Ok((batch, last_of_file)) => {
                        group_bytes += batch.file.consumed.saturating_sub(batch.file.start_offset);
                        group_batches += 1;
                        group_files += u64::from(last_of_file);
                        Some(batch)
                    }
                    Err(_) => {
                        disconnected = true;
                        None
                    }
                }
            });
            let outcome = store.apply_batches(&mut batches, &mut |batch, outcome| {
                match outcome {
                    BatchOutcome::Applied => {
                        report.lines += (batch.lines.len() + batch.history.len()) as u64;
                        report.issues += batch.issues.len() as u64;
                        report.implausible_numbers += batch
                            .issues
                            .iter()
                            .filter(|i| i.kind == IssueKind::ImplausibleNumber)
                            .count() as u64;
                        report.bytes_read +=
                            batch.file.consumed.saturating_sub(batch.file.start_offset);
                    }
                    BatchOutcome::Stale { found } => {
                        // Counted in the report, which says so once.
                        tracing::debug!(path = %batch.file.path, found, "batch already applied by another sync");
                        report.stale_batches += 1;
                    }
                }
                // Freeing a batch's many small strings is a tenth of the writer's time: leave it to another
                // thread. (If that thread is gone, the batch is simply dropped here.)
                let _ = spent.send(batch);
            });
            if let Err(err) = outcome {
                stop.store(true, Ordering::Relaxed);
                result = Err(SyncError::Store(err));
                break;
            }
            files_done += group_files;
            bytes_done += group_bytes;
            observer.progress(files_done, bytes_done);
        }
        tracing::debug!(
            waited_ms = writer_waited.as_millis() as u64,
            "writer waited for readers"
        );
        // Unblock readers if the writer stopped early; let the freeing thread finish.
        drop(receiver);
        drop(spent);
        producer
            .join()
            .map_err(|_| SyncError::Worker("a reader thread panicked".into()))?;
        result
    })
}
