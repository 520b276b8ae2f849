//! Reads the new bytes of one file into [`IngestBatch`]es, piece by piece, by byte offset.
//!
//! Only complete lines are consumed: a trailing partial line is left for the next sync. Memory is bounded by the
//! piece size plus the longest line up to `max_line_bytes`; a longer line is streamed (through the compressor,
//! when the batch carries the archive) without being held whole, and recorded as an issue.
//!
//! A file the store captured (see [`sessiondb_core::Store::file_capturer`]) is read without compressing
//! anything: the store archives it from its capture later. Otherwise each batch carries the zstd frames of its
//! bytes.

use sessiondb_core::{
    FileKind, FileUpdate, IndexedHistory, IndexedLine, IngestBatch, IngestIssue, IssueKind,
    PricedResponse, RawChunk,
};
use sessiondb_format::{
    parse_history_line, parse_subagent_meta, parse_transcript_line, LineError, Response,
};
use sessiondb_pricing::{PriceTable, RateMemo, TokenCounts};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Mutex;
use xxhash_rust::xxh3::xxh3_64;

use crate::source::SourceFile;

/// How many leading bytes identify a file's content (to tell an append from a rewrite).
pub const HEAD_LEN: u64 = 4096;

/// How many bytes just before the committed offset are hashed too (an edit after the head, a file replaced by
/// one that starts the same).
pub const TAIL_LEN: u64 = 4096;

/// Tuning of the reader.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Bytes read per batch.
    pub piece_bytes: usize,
    /// Lines per batch at most: a piece of tiny lines is cut after this many, so a batch's parsed lines (a few
    /// hundred bytes each, whatever the line's length) stay about the size of a piece of ordinary ones.
    pub piece_lines: usize,
    /// Longer lines are archived but not parsed.
    pub max_line_bytes: usize,
    /// zstd level of the raw archive.
    pub zstd_level: i32,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            piece_bytes: 4 << 20,
            piece_lines: 2048,
            max_line_bytes: sessiondb_core::MAX_LINE_BYTES,
            zstd_level: 1,
        }
    }
}

/// Read buffers handed back once their piece is parsed, for the next piece or file to reuse.
///
/// A fresh buffer costs the kernel a zeroed page (with transparent huge pages, a zeroed 2 MiB page) for every
/// page `read` fills, so a sync that read each file into new memory would zero as many bytes as it reads. One
/// pool per sync keeps a few piece-sized buffers warm; it is dropped, and its memory freed, with the sync.
///
/// It also keeps the emptied line vectors of applied batches ([`ReadBuffers::give_lines`]): a batch's lines
/// take about a megabyte, and a new vector for each batch cost the same zeroed pages again.
#[derive(Debug, Default)]
pub struct ReadBuffers {
    free: Mutex<Vec<Vec<u8>>>,
    free_lines: Mutex<Vec<Vec<IndexedLine>>>,
}

impl ReadBuffers {
    /// Buffers kept for reuse: enough for every reader thread's pieces in flight on a few cores.
    const MAX_FREE: usize = 4 * (PIECES_IN_FLIGHT + 1);
    /// Line vectors kept for reuse: one window of pieces for each of two readers.
    const MAX_FREE_LINES: usize = 2 * PIECES_IN_FLIGHT;

    /// An empty buffer with room for `capacity` bytes: the smallest free one that has it, or a new one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let mut free = lock(&self.free);
        let fitting = free
            .iter()
            .enumerate()
            .filter(|(_, buffer)| buffer.capacity() >= capacity)
            .min_by_key(|(_, buffer)| buffer.capacity())
            .map(|(i, _)| i);
        match fitting {
            Some(i) => free.swap_remove(i),
            None => Vec::with_capacity(capacity),
        }
    }

    /// An empty line vector, one an applied batch left if there is one.
    pub fn take_lines(&self) -> Vec<IndexedLine> {
        lock(&self.free_lines).pop().unwrap_or_default()
    }

    /// Hands back the line vector of an applied batch (emptied here, so the caller's thread frees the lines).
    pub fn give_lines(&self, mut lines: Vec<IndexedLine>) {
        lines.clear();
        if lines.capacity() == 0 {
            return;
        }
        let mut free = lock(&self.free_lines);
        if free.len() < Self::MAX_FREE_LINES {
            free.push(lines);
        }
    }

    /// Hands `buffer` back. When the pool is full it keeps the larger buffers, which fit any piece.
    pub fn give(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let mut free = lock(&self.free);
        if free.len() < Self::MAX_FREE {
            free.push(buffer);
            return;
        }
        if let Some(smallest) = free.iter_mut().min_by_key(|kept| kept.capacity()) {
            if smallest.capacity() < buffer.capacity() {
                *smallest = buffer;
            }
        }
    }
}

/// Locks one of the pools. A thread that panicked holding it left a vector of empty vectors, still usable.
fn lock<T>(pool: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where to start reading a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStart {
    pub offset: u64,
    pub rewrite: bool,
    /// Hash and length of the head already committed (kept until the head grows to [`HEAD_LEN`]).
    pub head_hash: u64,
    pub head_len: u64,
    /// Hash and length of the committed window before `offset` (kept when nothing more is read).
    pub tail_hash: u64,
    pub tail_len: u64,
}

/// Stat facts stored with the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStat {
    pub device: Option<u64>,
    pub inode: Option<u64>,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: Option<i64>,
}

/// Hash of the first `len` bytes of `file`, or `None` if it has fewer.
pub fn head_hash(file: &mut File, len: u64) -> std::io::Result<Option<u64>> {
    window_hash(file, 0, len)
}

/// Hash of the `len` bytes of `file` at `start`, or `None` if it has fewer.
pub fn window_hash(file: &mut File, start: u64, len: u64) -> std::io::Result<Option<u64>> {
    Ok(read_window(file, start, len)?.map(|bytes| xxh3_64(&bytes)))
}

/// The `len` bytes of `file` at `start`, or `None` if it has fewer.
fn read_window(file: &mut File, start: u64, len: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    file.seek(SeekFrom::Start(start))?;
    let mut filled = 0;
    while filled < buf.len() {
        let n = match file.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if n == 0 {
            return Ok(None);
        }
        filled += n;
    }
    Ok(Some(buf))
}

/// Hash and length of the window of [`TAIL_LEN`] bytes (fewer near the start) that ends at `consumed`: from
/// `piece`, the bytes read that end there, and from the file for what lies before the piece. The read position
/// is kept. A window that cannot be read gets a hash no file will match, so the next sync re-reads the file.
fn tail_of(file: &mut File, piece: &[u8], consumed: u64) -> (u64, u64) {
    let len = consumed.min(TAIL_LEN);
    let in_piece = (piece.len() as u64).min(len);
    let from_piece = &piece[piece.len() - in_piece as usize..];
    if in_piece == len {
        return (xxh3_64(from_piece), len);
    }
    let position = file.stream_position().ok();
    let window = read_window(file, consumed - len, len - in_piece);
    if let Some(position) = position {
        // Restore the read position; a failure here surfaces on the next read.
        let _ = file.seek(SeekFrom::Start(position));
    }
    match window {
        Ok(Some(mut bytes)) => {
            bytes.extend_from_slice(from_piece);
            (xxh3_64(&bytes), len)
        }
        _ => (UNREADABLE_WINDOW, len),
    }
}

/// The tail hash recorded when the window could not be read back.
const UNREADABLE_WINDOW: u64 = 0;

/// Reads `source` from `start` to its end, handing each batch to `emit` in file order. `emit` returns false
/// to stop early (the writer is gone). With `compress_raw`, each batch carries the zstd frames of its bytes.
/// Read buffers come from, and go back to, `buffers`.
pub fn read_file(
    source: &SourceFile,
    stat: FileStat,
    start: ReadStart,
    limits: ReadLimits,
    compress_raw: bool,
    buffers: &ReadBuffers,
    emit: &mut dyn FnMut(IngestBatch) -> bool,
) {
    let path = source.path.to_string_lossy().into_owned();
    let update =
        |start_offset: u64, consumed: u64, head: (u64, u64), tail: (u64, u64), rewrite: bool| {
            FileUpdate {
                path: path.clone(),
                root: source.root.to_string_lossy().into_owned(),
                kind: source.kind,
                owner_session: source.owner_session.clone(),
                device: stat.device,
                inode: stat.inode,
                size: stat.size,
                mtime_ns: stat.mtime_ns,
                ctime_ns: stat.ctime_ns,
                start_offset,
                consumed,
                head_hash: head.0,
                head_len: head.1,
                tail_hash: tail.0,
                tail_len: tail.1,
                rewrite,
            }
        };
    let committed_tail = (start.tail_hash, start.tail_len);
    let mut file = match File::open(&source.path) {
        Ok(file) => file,
        Err(err) => {
            let mut batch = IngestBatch::new(update(
                start.offset,
                start.offset,
                (start.head_hash, start.head_len),
                committed_tail,
                false,
            ));
            batch.issues.push(IngestIssue {
                offset: start.offset,
                length: 0,
                kind: IssueKind::Io,
                detail: format!("cannot open: {err}"),
            });
            emit(batch);
            return;
        }
    };

    if source.kind == FileKind::SubagentMeta {
        read_meta(&mut file, start, limits, &update, emit);
        return;
    }

    if let Err(err) = file.seek(SeekFrom::Start(start.offset)) {
        let mut batch = IngestBatch::new(update(
            start.offset,
            start.offset,
            (start.head_hash, start.head_len),
            committed_tail,
            start.rewrite,
        ));
        batch.issues.push(io_issue(start.offset, &err));
        emit(batch);
        return;
    }

    let mut offset = start.offset; // file offset of buf[0]
    let mut head = (start.head_hash, start.head_len);
    let mut tail = committed_tail;
    let mut rewrite = start.rewrite;
    let mut buf: Vec<u8> = buffers.take(piece_capacity(limits, stat.size, offset));
    let mut eof = false;
    let mut window: Vec<(IngestBatch, Vec<u8>)> = Vec::with_capacity(PIECES_IN_FLIGHT);
    // The first window is one piece, then two, then `PIECES_IN_FLIGHT`: the writer gets a file's first batch
    // after one piece is parsed, not four. (At the start of a first load both readers opened a big file and the
    // writer waited 30-40 ms for its first batch, then again for the second window.)
    let mut window_pieces = 1;
    // The last piece was cut at its line limit: the buffer still holds complete lines, so read nothing more
    // until they are handed out.
    let mut cut_at_line_limit = false;

    // Every exit breaks out of this loop, so the last buffer goes back to the pool.
    'read: loop {
        // Fill up to one piece (beyond what is buffered).
        let target = if cut_at_line_limit {
            buf.len()
        } else {
            buf.len() + limits.piece_bytes
        };
        let mut io_error = None;
        while buf.len() < target && !eof {
            // `take` + `read_to_end` appends into spare capacity without zero-filling it first.
            let want = (target - buf.len()) as u64;
            match Read::take(&mut file, want).read_to_end(&mut buf) {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => {
                    io_error = Some(err);
                    eof = true;
                }
            }
        }

        let complete = match memchr::memrchr(b'\n', &buf) {
            Some(last) => last + 1,
            None => 0,
        };
        // At most `piece_lines` lines per piece.
        let complete =
            match memchr::memchr_iter(b'\n', &buf[..complete]).nth(limits.piece_lines.max(1) - 1) {
                Some(nth) if nth + 1 < complete => nth + 1,
                _ => complete,
            };
        cut_at_line_limit = complete > 0 && memchr::memchr(b'\n', &buf[complete..]).is_some();
        // The end of the file is reached once nothing complete is left behind.
        let at_end = eof && !cut_at_line_limit;

        if complete == 0 && buf.len() >= limits.max_line_bytes && !eof {
            if !finish_pieces(
                source,
                &mut window,
                limits,
                compress_raw,
                buffers,
                false,
                emit,
            ) {
                break 'read;
            }
            // One line longer than the limit: stream it (to the archive) without holding it.
            let consumed = match skip_long_line(&mut file, &mut buf, offset, limits, compress_raw) {
                Ok(long) => long,
                Err(err) => {
                    let mut batch = IngestBatch::new(update(offset, offset, head, tail, rewrite));
                    batch.issues.push(io_issue(offset, &err));
                    emit(batch);
                    break 'read;
                }
            };
            let Some((line_len, chunk, kind_hint, found_end)) = consumed else {
                continue;
            };
            if !found_end {
                // The file ended inside the long line: a partial write; leave it for the next sync.
                break 'read;
            }
            let new_consumed = offset + line_len;
            head = refreshed_head(&mut file, head, new_consumed);
            tail = tail_of(&mut file, &[], new_consumed);
            let mut batch = IngestBatch::new(update(offset, new_consumed, head, tail, rewrite));
            rewrite = false;
            batch.issues.push(IngestIssue {
                offset,
                length: line_len,
                kind: IssueKind::LineTooLong,
                detail: format!(
                    "{line_len}-byte line (type {}) is over the {}-byte limit: archived, not parsed",
                    kind_hint.as_deref().unwrap_or("unknown"),
                    limits.max_line_bytes
                ),
            });
            if source.kind == FileKind::Transcript {
                batch.lines.push(IndexedLine {
                    offset,
                    length: line_len,
                    entry: sessiondb_format::TranscriptEntry {
                        kind: kind_hint.unwrap_or_default(),
                        details: Some("{\"oversize\":true}".into()),
                        ..Default::default()
                    },
                    session_key: source.owner_session.clone(),
                    response: None,
                });
            }
            batch.raw_chunks.extend(chunk);
            mark_unfinished(&mut batch);
            offset = new_consumed;
            if !emit(batch) {
                break 'read;
            }
            continue;
        }

        if complete > 0 {
            let new_consumed = offset + complete as u64;
            head = if start.offset == 0 && offset == 0 && head.1 < HEAD_LEN {
                let len = (complete as u64).min(HEAD_LEN);
                (xxh3_64(&buf[..len as usize]), len)
            } else {
                refreshed_head(&mut file, head, new_consumed)
            };
            tail = tail_of(&mut file, &buf[..complete], new_consumed);
            let mut batch = IngestBatch::new(update(offset, new_consumed, head, tail, rewrite));
            rewrite = false;
            if let (Some(err), true) = (&io_error, at_end) {
                batch.issues.push(io_issue(new_consumed, err));
            }
            let piece = if cut_at_line_limit {
                // Lines follow in the buffer: copy the piece out and keep them (a piece of tiny lines is small).
                let mut piece = buffers.take(complete);
                piece.extend_from_slice(&buf[..complete]);
                buf.drain(..complete);
                piece
            } else {
                // Hand the piece over without copying it: only the partial line after it moves to a new buffer.
                let mut piece = std::mem::replace(
                    &mut buf,
                    buffers.take(piece_capacity(limits, stat.size, new_consumed)),
                );
                buf.extend_from_slice(&piece[complete..]);
                piece.truncate(complete);
                piece
            };
            window.push((batch, piece));
            offset = new_consumed;
            if window.len() >= window_pieces || at_end {
                window_pieces = (window_pieces * 2).min(PIECES_IN_FLIGHT);
                if !finish_pieces(
                    source,
                    &mut window,
                    limits,
                    compress_raw,
                    buffers,
                    at_end && io_error.is_none(),
                    emit,
                ) {
                    break 'read;
                }
            }
        } else if let Some(err) = &io_error {
            if !finish_pieces(
                source,
                &mut window,
                limits,
                compress_raw,
                buffers,
                false,
                emit,
            ) {
                break 'read;
            }
            let mut batch = IngestBatch::new(update(offset, offset, head, tail, rewrite));
            batch.issues.push(io_issue(offset, err));
            mark_unfinished(&mut batch);
            emit(batch);
            break 'read;
        }

        if at_end {
            if !window.is_empty() {
                finish_pieces(
                    source,
                    &mut window,
                    limits,
                    compress_raw,
                    buffers,
                    true,
                    emit,
                );
            } else if complete == 0 {
                // Nothing (more) complete to read: record the size and mtime that were read to the end, so the
                // next sync skips the file until it changes (and apply a rewrite to nothing).
                emit(IngestBatch::new(update(
                    offset, offset, head, tail, rewrite,
                )));
            }
            break 'read;
        }
    }
    buffers.give(buf);
}

/// The capacity of a read buffer that starts at `offset`: one piece, or what the stat says is left of the file
/// when that is less (most transcripts are far smaller than a piece). A fresh piece-sized buffer per file costs
/// the kernel a zeroed huge page for bytes never read; a file that grew since its stat just grows the buffer.
fn piece_capacity(limits: ReadLimits, size: u64, offset: u64) -> usize {
    let left = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
    left.min(limits.piece_bytes) + 64 * 1024
}

/// Pieces of one file read ahead and parsed in parallel before being handed on in order.
const PIECES_IN_FLIGHT: usize = 4;

/// Records a batch that did not reach the end of its file with a size and times no stat can match, so the
/// next sync reads on from its offset even if the file did not change (say, after the sync was killed).
fn mark_unfinished(batch: &mut IngestBatch) {
    batch.file.size = batch.file.consumed;
    batch.file.mtime_ns = i64::MIN;
    batch.file.ctime_ns = Some(i64::MIN);
}

/// Parses (and with `compress_raw` compresses) the pieces read so far, in parallel, and emits their batches in
/// file order. Only the last batch of a file that was read to its end (`reached_end`) keeps the file's size and
/// mtime.
fn finish_pieces(
    source: &SourceFile,
    window: &mut Vec<(IngestBatch, Vec<u8>)>,
    limits: ReadLimits,
    compress_raw: bool,
    buffers: &ReadBuffers,
    reached_end: bool,
    emit: &mut dyn FnMut(IngestBatch) -> bool,
) -> bool {
    use rayon::prelude::*;
    if window.is_empty() {
        return true;
    }
    let last = window.len() - 1;
    for (i, (batch, _)) in window.iter_mut().enumerate() {
        if !(reached_end && i == last) {
            mark_unfinished(batch);
        }
    }
    let prices = PriceTable::embedded();
    let batches: Vec<IngestBatch> = std::mem::take(window)
        .into_par_iter()
        .map(|(mut batch, bytes)| {
            let offset = batch.file.start_offset;
            batch.lines = buffers.take_lines();
            parse_lines(source, &bytes, offset, prices, &mut batch);
            if !compress_raw {
                buffers.give(bytes);
                return batch;
            }
            match zstd::bulk::compress(&bytes, limits.zstd_level) {
                Ok(zstd) => batch.raw_chunks.push(RawChunk {
                    start_offset: offset,
                    end_offset: batch.file.consumed,
                    zstd,
                }),
                Err(err) => batch.issues.push(IngestIssue {
                    offset,
                    length: bytes.len() as u64,
                    kind: IssueKind::Archive,
                    detail: format!("could not compress raw bytes: {err}"),
                }),
            }
            buffers.give(bytes);
            batch
        })
        .collect();
    batches.into_iter().all(emit)
}

fn io_issue(offset: u64, err: &std::io::Error) -> IngestIssue {
    IngestIssue {
        offset,
        length: 0,
        kind: IssueKind::Io,
        detail: format!("read failed: {err}"),
    }
}

/// Recomputes the head hash while the committed prefix is shorter than [`HEAD_LEN`].
fn refreshed_head(file: &mut File, head: (u64, u64), consumed: u64) -> (u64, u64) {
    if head.1 >= HEAD_LEN || consumed <= head.1 {
        return head;
    }
    let len = consumed.min(HEAD_LEN);
    let position = file.stream_position().ok();
    let result = match head_hash(file, len) {
        Ok(Some(hash)) => (hash, len),
        _ => head,
    };
    if let Some(position) = position {
        // Restore the read position; a failure here surfaces on the next read.
        let _ = file.seek(SeekFrom::Start(position));
    }
    result
}

type LongLine = (u64, Option<RawChunk>, Option<String>, bool);

/// Reads past a line that starts at `buf[0]` and is longer than the limit, streaming it into a zstd frame with
/// `compress_raw`. Returns the line's length (with its newline), its chunk, the `type` read from its head, and
/// whether its end was found.
fn skip_long_line(
    file: &mut File,
    buf: &mut Vec<u8>,
    offset: u64,
    limits: ReadLimits,
    compress_raw: bool,
) -> std::io::Result<Option<LongLine>> {
    let kind_hint = type_hint(&buf[..buf.len().min(64 * 1024)]);
    let mut encoder = if compress_raw {
        Some(zstd::stream::Encoder::new(Vec::new(), limits.zstd_level)?)
    } else {
        None
    };
    let mut length: u64 = 0;
    let mut chunk = vec![0u8; 1 << 20];
    let mut pending: Vec<u8> = std::mem::take(buf);
    loop {
        if let Some(nl) = memchr::memchr(b'\n', &pending) {
            length += nl as u64 + 1;
            let raw = match encoder {
                Some(mut encoder) => {
                    encoder.write_all(&pending[..=nl])?;
                    Some(RawChunk {
                        start_offset: offset,
                        end_offset: offset + length,
                        zstd: encoder.finish()?,
                    })
                }
                None => None,
            };
            buf.extend_from_slice(&pending[nl + 1..]);
            return Ok(Some((length, raw, kind_hint, true)));
        }
        if let Some(encoder) = encoder.as_mut() {
            encoder.write_all(&pending)?;
        }
        length += pending.len() as u64;
        pending.clear();
        let n = loop {
            match file.read(&mut chunk) {
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Ok(Some((length, None, kind_hint, false)));
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}

/// The `"type":"…"` value near the start of a line, without parsing it.
fn type_hint(head: &[u8]) -> Option<String> {
    let key = b"\"type\":\"";
    let at = memchr::memmem::find(head, key)? + key.len();
    let end = memchr::memchr(b'"', &head[at..])? + at;
    std::str::from_utf8(&head[at..end]).ok().map(str::to_owned)
}

fn priced(
    response: Box<Response>,
    rates: &mut RateMemo<'_>,
    path: &str,
    offset: u64,
) -> PricedResponse {
    let usage = response.usage;
    let tokens = TokenCounts {
        input: usage.input_tokens,
        output: usage.output_tokens,
        cache_write_5m: usage.cache_write_5m,
        cache_write_1h: usage.cache_write_1h,
        cache_read: usage.cache_read_tokens,
    };
    let cost = rates.cost(response.model.as_deref().unwrap_or(""), &tokens);
    let dedup_key = PricedResponse::dedup_key_of(&response, path, offset);
    PricedResponse {
        response,
        cost,
        dedup_key,
    }
}

fn parse_lines(
    source: &SourceFile,
    bytes: &[u8],
    base: u64,
    prices: &PriceTable,
    batch: &mut IngestBatch,
) {
    // Line ends first, so the batch's vectors are sized once: an indexed line is a few hundred bytes, and
    // growing by doubling would move each one twice more.
    let ends: Vec<usize> = memchr::memchr_iter(b'\n', bytes).collect();
    let mut rates = RateMemo::new(prices);
    // The path as the store records it, for the dedup key of a response line without ids.
    let path = batch.file.path.clone();
    match source.kind {
        FileKind::History => batch.history.reserve(ends.len()),
        _ => batch.lines.reserve(ends.len()),
    }
    let mut start = 0usize;
    for nl in ends {
        let line = &bytes[start..nl];
        let offset = base + start as u64;
        let length = (nl - start + 1) as u64;
        start = nl + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match source.kind {
            FileKind::History => match parse_history_line(line) {
                Ok(entry) => batch.history.push(IndexedHistory { offset, entry }),
                Err(err) => batch.issues.push(line_issue(offset, length, &err)),
            },
            _ => match parse_transcript_line(line) {
                Ok(parsed) => {
                    if let Some(warning) = parsed.warning {
                        batch.issues.push(IngestIssue {
                            offset,
                            length,
                            kind: IssueKind::InvalidUtf8,
                            detail: warning.to_string(),
                        });
                    }
                    batch.issues.extend(
                        parsed
                            .anomalies
                            .iter()
                            .map(|a| IngestIssue::implausible_number(offset, length, a)),
                    );
                    let mut entry = parsed.entry;
                    let response = entry
                        .response
                        .take()
                        .or_else(|| entry.embedded_response.take())
                        .map(|r| priced(r, &mut rates, &path, offset));
                    // The line's sessionId moves to the key it is filed under (nothing reads it off the entry).
                    let session_key = entry
                        .session_id
                        .take()
                        .or_else(|| source.owner_session.clone());
                    batch.lines.push(IndexedLine {
                        offset,
                        length,
                        entry,
                        session_key,
                        response,
                    });
                }
                Err(err) => batch.issues.push(line_issue(offset, length, &err)),
            },
        }
    }
}

fn line_issue(offset: u64, length: u64, err: &LineError) -> IngestIssue {
    IngestIssue {
        offset,
        length,
        kind: match err {
            LineError::Malformed(_) => IssueKind::MalformedJson,
            LineError::NotAnObject => IssueKind::NotAnObject,
        },
        detail: err.to_string(),
    }
}

/// Makes a batch's [`FileUpdate`] from its start offset, committed offset, head and tail (hash and length), and
/// whether it starts a rewrite.
type UpdateOf<'a> = dyn Fn(u64, u64, (u64, u64), (u64, u64), bool) -> FileUpdate + 'a;

fn read_meta(
    file: &mut File,
    start: ReadStart,
    limits: ReadLimits,
    update: &UpdateOf<'_>,
    emit: &mut dyn FnMut(IngestBatch) -> bool,
) {
    let mut bytes = Vec::new();
    let read = Read::take(&mut *file, limits.max_line_bytes as u64).read_to_end(&mut bytes);
    let head_len = (bytes.len() as u64).min(HEAD_LEN);
    let head = (xxh3_64(&bytes[..head_len as usize]), head_len);
    // A meta file is small and rewritten whole: every change re-reads it from the start.
    let tail_len = (bytes.len() as u64).min(TAIL_LEN);
    let tail = (xxh3_64(&bytes[bytes.len() - tail_len as usize..]), tail_len);
    let mut batch = IngestBatch::new(update(0, bytes.len() as u64, head, tail, start.offset > 0));
    match read {
        Err(err) => batch.issues.push(io_issue(0, &err)),
        Ok(_) => match parse_subagent_meta(&bytes) {
            Ok(meta) => batch.subagent_meta = Some(meta),
            Err(err) => batch.issues.push(line_issue(0, bytes.len() as u64, &err)),
        },
    }
    if let Ok(zstd) = zstd::bulk::compress(&bytes, limits.zstd_level) {
        batch.raw_chunks.push(RawChunk {
            start_offset: 0,
            end_offset: bytes.len() as u64,
            zstd,
        });
    }
    emit(batch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_hint_reads_the_type_without_parsing() {
        assert_eq!(
            type_hint(br#"{"type":"file-history-snapshot","snapshot":{"#).as_deref(),
            Some("file-history-snapshot")
        );
        assert_eq!(type_hint(b"{\"x\":1"), None);
    }

    #[test]
    fn a_reused_line_vector_comes_back_empty_with_its_room() {
        let buffers = ReadBuffers::default();
        assert_eq!(buffers.take_lines().capacity(), 0, "nothing to reuse yet");
        let line = IndexedLine {
            offset: 0,
            length: 1,
            entry: Default::default(),
            session_key: Some("s".into()),
            response: None,
        };
        let mut lines = Vec::with_capacity(100);
        lines.extend(std::iter::repeat_n(line, 3));
        buffers.give_lines(lines);
        let reused = buffers.take_lines();
        // A batch built on a reused vector must hold only its own lines.
        assert!(reused.is_empty());
        assert!(reused.capacity() >= 100);
        // The pool is bounded: vectors past its size are freed, not kept.
        for _ in 0..ReadBuffers::MAX_FREE_LINES + 5 {
            buffers.give_lines(Vec::with_capacity(1));
        }
        let kept = buffers.free_lines.lock().unwrap().len();
        assert_eq!(kept, ReadBuffers::MAX_FREE_LINES);
    }

    /// A file of tiny lines is read in batches of at most `piece_lines` lines (their parsed form, not their
    /// bytes, is what takes memory), every line exactly once and in order, and only the last batch says the file
    /// was read to its end.
    #[test]
    fn a_piece_of_tiny_lines_is_cut_at_the_line_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut text = String::new();
        for i in 0..2_500 {
            text.push_str(&format!("{{\"type\":\"user\",\"uuid\":\"u{i}\"}}\n"));
        }
        text.push_str("{\"type\":\"user\",\"partial"); // a line still being written
        std::fs::write(&path, &text).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let source = SourceFile {
            path: path.clone(),
            root: dir.path().to_path_buf(),
            kind: FileKind::Transcript,
            owner_session: Some("s".into()),
        };
        let limits = ReadLimits {
            piece_lines: 1_000,
            ..ReadLimits::default()
        };
        let mut batches = Vec::new();
        read_file(
            &source,
            crate::sync::stat_of(&meta),
            ReadStart {
                offset: 0,
                rewrite: false,
                head_hash: 0,
                head_len: 0,
                tail_hash: 0,
                tail_len: 0,
            },
            limits,
            false,
            &ReadBuffers::default(),
            &mut |batch| {
                batches.push(batch);
                true
            },
        );
        let counts: Vec<usize> = batches.iter().map(|b| b.lines.len()).collect();
        assert_eq!(counts, vec![1_000, 1_000, 500]);
        let mut next = 0;
        for batch in &batches {
            assert_eq!(batch.file.start_offset, next);
            assert_eq!(batch.lines[0].offset, next);
            next = batch.file.consumed;
        }
        let complete = text.rfind('\n').unwrap() as u64 + 1;
        assert_eq!(next, complete, "the partial line waits for the next sync");
        // Only the last batch carries the file's real mtime (an interrupted sync resumes from its offset).
        let real_mtime = crate::sync::stat_of(&meta).mtime_ns;
        let finals: Vec<bool> = batches
            .iter()
            .map(|b| b.file.mtime_ns == real_mtime)
            .collect();
        assert_eq!(finals, vec![false, false, true]);
    }
}
