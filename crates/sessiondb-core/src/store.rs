//! The storage trait: one coarse, domain-level interface that every backend (SQLite now, PostgreSQL later)
//! implements with portable SQL.

use crate::batch::{FileState, IngestBatch};
use crate::report::{
    ArchiveReport, DoctorReport, Link, SessionDetail, SessionFilter, SessionSummary, Transition,
};
use crate::usage::{Grouping, UsageBucket};
use sessiondb_pricing::{Cost, TokenCounts};

/// Errors from a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file was written by a newer sessiondb; it is left untouched.
    #[error("database schema version {found} is newer than this sessiondb supports ({supported}); upgrade sessiondb")]
    SchemaTooNew { found: i64, supported: i64 },
    /// The backend failed (I/O, locking, constraint).
    #[error("database error: {0}")]
    Backend(String),
}

/// Captures one file, given its path and the inode its stat found; returns whether it did (see
/// [`Store::file_capturer`]). Safe to call from several threads at once.
pub type FileCapturer = dyn Fn(&str, Option<u64>) -> bool + Send + Sync;

/// What happened to one batch of [`Store::apply_batches`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    Applied,
    /// Skipped: the store's committed offset for the file was `found`, not the batch's start.
    Stale {
        found: u64,
    },
}

/// One line of a session as the archive gives it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawLine {
    /// The line's bytes.
    Bytes(Vec<u8>),
    /// A line over [`crate::MAX_LINE_BYTES`]: not read (a sync archives it without parsing it too).
    TooLong { length: u64 },
    /// In neither the archive nor a capture or its file (the capture was removed, the file rewritten since).
    Missing { length: u64 },
}

/// A price function: model name and tokens to a cost.
pub type Pricer<'a> = &'a dyn Fn(&str, &TokenCounts) -> Cost;

/// Everything sessiondb stores and asks. Batches are atomic: a batch and its file offset commit together.
pub trait Store: Send {
    /// What is known about every indexed file.
    fn file_states(&self) -> Result<Vec<FileState>, StoreError>;

    /// Applies every batch `batches` yields in one transaction: each batch and its file offset commit together.
    /// A batch whose `file.start_offset` is not the file's committed offset (another sync applied it already) is
    /// skipped and reported as [`BatchOutcome::Stale`]. `applied` gets each batch back as soon as it is applied,
    /// before the commit, so memory stays bounded by one batch, not one transaction (and the caller may free it
    /// on another thread).
    fn apply_batches(
        &mut self,
        batches: &mut dyn Iterator<Item = IngestBatch>,
        applied: &mut dyn FnMut(IngestBatch, BatchOutcome),
    ) -> Result<(), StoreError>;

    /// Records that these files are no longer on disk (their rows stay: the archive outlives the files), or
    /// are back.
    fn set_on_disk(&mut self, paths: &[String], on_disk: bool) -> Result<(), StoreError>;

    /// What keeps the bytes of a file reachable without copying them (the SQLite store makes a hard link), so a
    /// sync need not compress its lines into batches as it reads them: the store archives them from the capture
    /// when the file disappears. Reader threads call it, each on the file it is about to read, with the inode
    /// its stat found; it returns false when it cannot (another file system, no inode): batches of that file
    /// must then carry their [`crate::RawChunk`]s. `None`: this store captures nothing.
    fn file_capturer(&mut self) -> Result<Option<Box<FileCapturer>>, StoreError> {
        Ok(None)
    }

    /// Compresses into the store every indexed byte that only a capture (or the file itself) holds, so the
    /// store alone is the archive, e.g. before it is copied to another machine. Captures stay: they cost
    /// nothing while their files exist. Returns what was compressed.
    fn archive_captures(&mut self) -> Result<ArchiveReport, StoreError> {
        Ok(ArchiveReport::default())
    }

    /// Called before a sync writes. A store may switch to a faster bulk path when it is empty (the first sync of
    /// a machine), e.g. build some indexes once at the end instead of row by row. Returns whether it did.
    fn begin_bulk_load(&mut self) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Ends what [`Store::begin_bulk_load`] started; must run before any query. A store must also finish an
    /// interrupted bulk load when it is next opened.
    fn end_bulk_load(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Recomputes the per-session summaries touched since the last call, and says which changed how.
    fn refresh_sessions(&mut self) -> Result<Vec<crate::report::RefreshedSession>, StoreError>;

    /// The price table version the stored costs were computed with.
    fn price_table_version(&self) -> Result<Option<String>, StoreError>;

    /// Recomputes every stored cost with `pricer` and records `version`.
    fn reprice(&mut self, version: &str, pricer: Pricer<'_>) -> Result<(), StoreError>;

    /// Marks the end of a sync run.
    fn record_sync(&mut self, finished_at_ms: i64) -> Result<(), StoreError>;

    /// Sessions matching `filter`, in its order, one page.
    fn sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionSummary>, StoreError>;

    /// Project dirs with their session counts, tokens and cost, most recently active first.
    fn projects(&self) -> Result<Vec<crate::report::ProjectSummary>, StoreError>;

    /// How many sessions match `filter` (its page ignored).
    fn count_sessions(&self, filter: &SessionFilter) -> Result<u64, StoreError>;

    /// One session by id (a unique prefix of at least 4 characters is accepted).
    fn session(&self, session_id: &str) -> Result<Option<SessionDetail>, StoreError>;

    /// The first `limit` session ids that start with `prefix`, in order (for
    /// [`crate::session_id::resolve_session_id`], which decides what a prefix names).
    fn session_ids_starting_with(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// Ids of sessions with `text` (case-insensitive) in any prompt typed into them (transcripts and
    /// `history.jsonl`) or in their titles.
    fn search_prompts(&self, text: &str) -> Result<Vec<String>, StoreError>;

    /// A position in the stream of indexed lines: lines indexed later are after it.
    fn line_marker(&self) -> Result<i64, StoreError>;

    /// Sessions that got a compaction boundary indexed after `marker` (for live `session_compacted` events).
    fn compacted_since(&self, marker: i64) -> Result<Vec<String>, StoreError>;

    /// Sessions that got any line indexed after `marker`.
    fn appended_since(&self, marker: i64) -> Result<Vec<String>, StoreError>;

    /// One session's summary (exact id), without the detail of [`Store::session`].
    fn session_summary(&self, session_id: &str) -> Result<Option<SessionSummary>, StoreError>;

    /// Every link between `session_id` and another session or subagent, in both directions.
    fn session_links(&self, session_id: &str) -> Result<Vec<Link>, StoreError>;

    /// Deduplicated usage aggregated for `grouping` within `[since_ms, until_ms)`.
    fn usage_buckets(
        &self,
        grouping: Grouping,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
    ) -> Result<Vec<UsageBucket>, StoreError>;

    /// Every deduplicated response in `[since_ms, until_ms)`, oldest first (for billing blocks, which need each
    /// response's time, not buckets).
    fn usage_events(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
    ) -> Result<Vec<crate::blocks::UsageEvent>, StoreError>;

    /// The raw lines of a session, from the archive, in file order (works after the files are deleted).
    fn session_raw_lines(&self, session_id: &str) -> Result<Vec<Vec<u8>>, StoreError>;

    /// One page of a session's raw lines (only user, assistant, system and summary lines if
    /// `conversation_only`), and how many there are in all. Decompresses only what the page needs; a line over
    /// [`crate::MAX_LINE_BYTES`] is not read but returned as [`RawLine::TooLong`].
    fn session_raw_page(
        &self,
        session_id: &str,
        conversation_only: bool,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<RawLine>), StoreError>;

    /// Moves registry `key` to `session_id` and appends the transition to the audit log, atomically: concurrent
    /// calls for one key are serialized, so each sees the head the previous one left and none is lost.
    fn record_transition(
        &mut self,
        key: &str,
        session_id: &str,
        source: &str,
        note: Option<&str>,
        at_ms: i64,
    ) -> Result<Transition, StoreError>;

    /// The session `key` currently points at, with the transition that put it there.
    fn key_head(&self, key: &str) -> Result<Option<Transition>, StoreError>;

    /// The audit log of `key`, oldest first (all keys if `None`).
    fn transitions(&self, key: Option<&str>) -> Result<Vec<Transition>, StoreError>;

    /// Deletes transitions recorded before `before_ms` (the key heads stay). Returns how many.
    fn prune_transitions(&mut self, before_ms: i64) -> Result<u64, StoreError>;

    /// Health of the index: skipped lines, partial tails, sizes.
    fn doctor(&self, max_examples: usize) -> Result<DoctorReport, StoreError>;

    /// Registers (or renames) the project at canonical `root`; `source` says who asked (`cli`, `config`, `api`).
    fn add_project(
        &mut self,
        name: &str,
        root: &str,
        source: &str,
        at_ms: i64,
    ) -> Result<crate::workflow::WorkflowProject, StoreError>;

    /// Forgets the project at `root` and its indexed workflow sessions; whether it was registered.
    fn remove_project(&mut self, root: &str) -> Result<bool, StoreError>;

    /// Every registered project, by name.
    fn registered_projects(&self) -> Result<Vec<crate::workflow::WorkflowProject>, StoreError>;

    /// What the store knows of each workflow folder of the project at `root`.
    fn workflow_folder_states(
        &self,
        root: &str,
    ) -> Result<Vec<crate::workflow::WorkflowFolderState>, StoreError>;

    /// Writes what one workflow sync found, in one transaction: `records` inserted or updated (a record with
    /// `renamed_from` moves that row to its new slug), and the folders `gone` (root, slug) marked not on disk.
    fn apply_workflow_scan(
        &mut self,
        records: &[crate::workflow::WorkflowRecord],
        gone: &[(String, String)],
    ) -> Result<(), StoreError>;

    /// Workflow sessions matching `filter`, most recently updated first.
    fn workflow_sessions(
        &self,
        filter: &crate::workflow::WorkflowFilter,
    ) -> Result<Vec<crate::workflow::WorkflowRow>, StoreError>;

    /// One workflow session and its last good `state.json` text.
    fn workflow_session(
        &self,
        root: &str,
        slug: &str,
    ) -> Result<Option<(crate::workflow::WorkflowRow, Option<String>)>, StoreError>;

    /// Workflow sessions per project root, by phase.
    fn workflow_counts(&self) -> Result<Vec<crate::workflow::WorkflowCounts>, StoreError>;
}
