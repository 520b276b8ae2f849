//! sessiondb's domain model: what an ingest batch holds, the [`Store`] trait every backend implements, and the
//! usage and session reports built on top of it.
//!
//! This crate decides nothing about where files or databases live and never prints: callers pass paths and
//! settings in and get values back.

pub mod batch;
pub mod blocks;
pub mod chain;
pub mod dedup;
pub mod fold;
pub mod links;
pub mod registry;
pub mod report;
pub mod session_id;
pub mod startup;
pub mod store;
pub mod usage;
pub mod workflow;

pub use batch::{
    FileKind, FileState, FileUpdate, IndexedHistory, IndexedLine, IngestBatch, IngestIssue,
    IssueKind, PricedResponse, RawChunk, MAX_LINE_BYTES,
};
pub use blocks::{build_blocks, Block, UsageEvent, BLOCK_MS};
pub use chain::{build_chain, is_session, is_warmup_prompt, newest_resumable_session};
pub use dedup::{ResponseKey, ResponseKeyError, ResponseRank};
pub use fold::{FolderMatch, LineOrder, SessionFacts, SessionFold};
pub use links::{
    session_links, HistoryLine, IdFacts, IncomingPointer, LineKind, LinkEvidenceSource, LinkLine,
    Pointer, UNKNOWN_SESSION,
};
pub use registry::Registry;
pub use report::{
    ArchiveReport, Chain, DoctorReport, FileSummary, IssueSummary, Latest, Link, LinkKind,
    ModelUsage, NotSessionUsage, ProjectSummary, RefreshedSession, SessionDetail, SessionFilter,
    SessionSort, SessionState, SessionSummary, Transition,
};
pub use session_id::{pick_session_id, resolve_session_id, SessionIdError, MIN_ID_PREFIX};
pub use startup::{warmup_started_for, Neighbour, StartupSpan, WARMUP_TO_TURN_MS};
pub use store::{BatchOutcome, FileCapturer, Pricer, RawLine, Store, StoreError};
pub use usage::{
    build_usage_report, Grouping, Period, UsageBucket, UsageQuery, UsageReport, UsageRow,
    UsageTotals,
};
pub use workflow::{
    WorkflowCounts, WorkflowFilter, WorkflowFolderState, WorkflowProject, WorkflowRecord,
    WorkflowRow,
};
