//! What a sync hands to a [`crate::Store`]: one batch per piece of one file, committed atomically with the file's
//! new byte offset.

use crate::dedup::ResponseKey;
use sessiondb_format::{HistoryEntry, NumberAnomaly, SubagentMeta, TranscriptEntry};
use sessiondb_pricing::Cost;

/// The longest line a sync parses and a reader of the archive returns; a longer one is archived, recorded as
/// too long and shown by its size only, so that no single line can make a process hold it whole.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// What kind of file a source found; decides how its lines are parsed. Stored and serialized as its text
/// ([`FileKind::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A session transcript or subagent transcript (JSONL, append-only).
    Transcript,
    /// `history.jsonl` (JSONL, append-only).
    History,
    /// `agent-<id>.meta.json` (small JSON, read whole when it changes).
    SubagentMeta,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Transcript => "transcript",
            FileKind::History => "history",
            FileKind::SubagentMeta => "subagent-meta",
        }
    }

    pub fn parse(text: &str) -> Option<FileKind> {
        match text {
            "transcript" => Some(FileKind::Transcript),
            "history" => Some(FileKind::History),
            "subagent-meta" => Some(FileKind::SubagentMeta),
            _ => None,
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for FileKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What the store remembers of one file between syncs: the evidence a sync compares with the file's stat and
/// bytes to tell an unchanged file, an append and a rewrite apart (`sessiondb_ingest::change` holds the rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub path: String,
    pub kind: FileKind,
    /// The file system the file was on; `None` where the platform has none, or in a row from before it was kept.
    pub device: Option<u64>,
    pub inode: Option<u64>,
    /// Size, mtime and ctime seen at the last sync: when all are unchanged (and the inode is the same) the file is
    /// not opened.
    pub size: u64,
    pub mtime_ns: i64,
    /// `None` where the platform has none, or in a row from before it was kept (then only the mtime is compared).
    pub ctime_ns: Option<i64>,
    /// Bytes read and committed; everything before this offset is in the index.
    pub consumed: u64,
    /// Hash of the first `head_len` bytes, to tell an append from a rewrite.
    pub head_hash: u64,
    pub head_len: u64,
    /// Hash of the `tail_len` bytes just before `consumed` (`tail_len` is `min(consumed, 4 KiB)`; 0 with bytes
    /// consumed: a row from before it was kept, not compared).
    pub tail_hash: u64,
    pub tail_len: u64,
    pub on_disk: bool,
}

/// The new state of a file after a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpdate {
    pub path: String,
    /// The config dir the file was found under.
    pub root: String,
    pub kind: FileKind,
    /// The session the file belongs to when its lines do not say (file stem, or the parent dir of `subagents/`).
    pub owner_session: Option<String>,
    pub device: Option<u64>,
    pub inode: Option<u64>,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: Option<i64>,
    /// The offset this batch starts at; the store refuses the batch if its committed offset differs
    /// (another sync got there first), so a batch is never applied twice.
    pub start_offset: u64,
    /// The committed offset after this batch: the end of the last complete line.
    pub consumed: u64,
    pub head_hash: u64,
    pub head_len: u64,
    /// Hash and length of the window just before `consumed` (see [`FileState::tail_hash`]).
    pub tail_hash: u64,
    pub tail_len: u64,
    /// The file was rewritten (see `sessiondb_ingest::change`): drop what was indexed from it first.
    pub rewrite: bool,
}

/// A response with its cost and dedup key, both settled when it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedResponse {
    /// Boxed: most lines have none, and an indexed line stays small to move.
    pub response: Box<sessiondb_format::Response>,
    pub cost: Cost,
    /// What its copies share: see [`PricedResponse::dedup_key_of`].
    pub dedup_key: ResponseKey,
}

impl PricedResponse {
    /// The key one API response's lines and copies share across files (see [`ResponseKey`]): its
    /// `message.id` and `requestId`. Without both ids a line cannot be matched with its copies and counts once
    /// on its own, keyed by where it is.
    pub fn dedup_key_of(
        response: &sessiondb_format::Response,
        path: &str,
        offset: u64,
    ) -> ResponseKey {
        ResponseKey::of_response(response, path, offset)
    }
}

/// One transcript line and where it sits.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedLine {
    pub offset: u64,
    pub length: u64,
    pub entry: TranscriptEntry,
    /// The session this line is filed under: its `sessionId` (moved here from `entry.session_id`, which is then
    /// `None`), else the file's owner.
    pub session_key: Option<String>,
    /// The assistant line's own response, or the one embedded in a progress line.
    pub response: Option<PricedResponse>,
}

/// One `history.jsonl` line and where it sits.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedHistory {
    pub offset: u64,
    pub entry: HistoryEntry,
}

/// What was wrong with a line or a read. Stored, serialized and shown as its text (`IssueKind::as_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// The line's JSON structure is broken (truncated, bytes after the object, …): skipped.
    MalformedJson,
    /// Valid JSON, but not an object: skipped.
    NotAnObject,
    /// Bytes that are not UTF-8 were replaced before parsing; the line was kept.
    InvalidUtf8,
    /// A line over the line limit: archived, not parsed.
    LineTooLong,
    /// Reading the file failed.
    Io,
    /// Compressing a piece for the archive failed.
    Archive,
    /// Raw lines that neither a capture nor the file held any more when the file vanished.
    ArchiveLost,
    /// A number beyond the plausible bounds (see `sessiondb_format::numbers`): its response is not counted.
    ImplausibleNumber,
}

impl IssueKind {
    pub const ALL: [IssueKind; 8] = [
        IssueKind::MalformedJson,
        IssueKind::NotAnObject,
        IssueKind::InvalidUtf8,
        IssueKind::LineTooLong,
        IssueKind::Io,
        IssueKind::Archive,
        IssueKind::ArchiveLost,
        IssueKind::ImplausibleNumber,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::MalformedJson => "malformed-json",
            IssueKind::NotAnObject => "not-an-object",
            IssueKind::InvalidUtf8 => "invalid-utf8",
            IssueKind::LineTooLong => "line-too-long",
            IssueKind::Io => "io",
            IssueKind::Archive => "archive",
            IssueKind::ArchiveLost => "archive-lost",
            IssueKind::ImplausibleNumber => "implausible-number",
        }
    }

    pub fn parse(text: &str) -> Option<IssueKind> {
        IssueKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for IssueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind equals its text (`kind == "archive-lost"`).
impl PartialEq<str> for IssueKind {
    fn eq(&self, text: &str) -> bool {
        self.as_str() == text
    }
}

impl PartialEq<&str> for IssueKind {
    fn eq(&self, text: &&str) -> bool {
        self.as_str() == *text
    }
}

impl PartialEq<String> for IssueKind {
    fn eq(&self, text: &String) -> bool {
        self.as_str() == text
    }
}

impl serde::Serialize for IssueKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A line that was skipped or altered, with why. Kept in the store and shown by `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestIssue {
    pub offset: u64,
    pub length: u64,
    pub kind: IssueKind,
    pub detail: String,
}

impl IngestIssue {
    /// One implausible number of the line at `offset`: its detail names the field, the raw value and why.
    pub fn implausible_number(offset: u64, length: u64, anomaly: &NumberAnomaly) -> IngestIssue {
        IngestIssue {
            offset,
            length,
            kind: IssueKind::ImplausibleNumber,
            detail: anomaly.to_string(),
        }
    }
}

/// The raw bytes of a batch's lines, compressed, so the index doubles as an archive of the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChunk {
    pub start_offset: u64,
    pub end_offset: u64,
    /// zstd frame of the bytes `[start_offset, end_offset)`.
    pub zstd: Vec<u8>,
}

/// Everything read from one piece of one file. Applied in one transaction with the file's new offset.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestBatch {
    pub file: FileUpdate,
    pub lines: Vec<IndexedLine>,
    pub history: Vec<IndexedHistory>,
    pub subagent_meta: Option<SubagentMeta>,
    pub raw_chunks: Vec<RawChunk>,
    pub issues: Vec<IngestIssue>,
}

impl IngestBatch {
    pub fn new(file: FileUpdate) -> Self {
        IngestBatch {
            file,
            lines: Vec::new(),
            history: Vec::new(),
            subagent_meta: None,
            raw_chunks: Vec::new(),
            issues: Vec::new(),
        }
    }
}

#[cfg(test)]
mod issue_kind_tests {
    use super::IssueKind;

    #[test]
    fn every_issue_kind_reads_back_from_its_text() {
        for kind in IssueKind::ALL {
            assert_eq!(IssueKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(IssueKind::parse("nonsense"), None);
    }
}
