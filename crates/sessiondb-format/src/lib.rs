//! Parses the lines Claude Code writes (transcripts, `history.jsonl`, subagent `.meta.json`) into typed records.
//!
//! The only crate that knows Claude Code's JSON shapes. Parsing is lenient and never fails as a whole: a line
//! either yields a [`TranscriptEntry`] (possibly with a [`LineWarning`]) or a [`LineError`] that says why it was
//! skipped; fields of an unexpected type are dropped one by one instead of failing the line. Unknown line types are
//! kept with their `type` string, so the raw archive and the index never lose a kind of line.
//!
//! This crate does no I/O: callers hand it byte slices.

mod fields;
mod history;
mod layout;
mod meta;
pub mod numbers;
mod scan;
mod time;
mod transcript;

pub use history::{parse_history_line, HistoryEntry};
pub use layout::{cwd_names_folder_of, project_folder_name, project_folder_of};
pub use meta::{parse_subagent_meta, SubagentMeta};
pub use numbers::{
    Implausible, NumberAnomaly, NumberField, MAX_COST_USD_PER_LINE, MAX_TOKENS_PER_FIELD,
};
pub use time::parse_timestamp_ms;
pub use transcript::{
    parse_transcript_line, CostState, ModelCostState, ParsedLine, Response, ResponseOrigin,
    TranscriptEntry, Usage,
};

/// Why a line could not be read at all. The caller records it (file, byte offset, reason) and carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The bytes are not JSON (truncated write, garbage, a partial line that was later appended to).
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// Valid JSON, but not an object (a bare string, number or array).
    #[error("not a JSON object")]
    NotAnObject,
}

/// Something odd about a line that was still indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineWarning {
    /// The line held bytes that are not UTF-8; they were replaced by U+FFFD before parsing.
    InvalidUtf8,
}

impl std::fmt::Display for LineWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineWarning::InvalidUtf8 => f.write_str("non-UTF-8 bytes replaced with U+FFFD"),
        }
    }
}

/// Longest prompt or title text kept in the index (the full line stays in the raw archive).
pub const MAX_TEXT_CHARS: usize = 500;
