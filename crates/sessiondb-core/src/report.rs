//! What queries return: session summaries and details, and the `doctor` report. Serialized as the CLI's `--json`.

use crate::batch::{FileKind, IssueKind};
use serde::Serialize;

/// Where a session's transcript stands on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// At least one of its files is still on disk.
    OnDisk,
    /// Its files were indexed and have since been deleted (Claude Code's 30-day cleanup): kept from the archive.
    Deleted,
    /// Known only from `history.jsonl`: the transcript was never indexed.
    HistoryOnly,
}

impl SessionState {
    pub const ALL: [SessionState; 3] = [
        SessionState::OnDisk,
        SessionState::Deleted,
        SessionState::HistoryOnly,
    ];

    /// Its text, as JSON shows it and a store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::OnDisk => "on_disk",
            SessionState::Deleted => "deleted",
            SessionState::HistoryOnly => "history_only",
        }
    }

    pub fn parse(text: &str) -> Option<SessionState> {
        SessionState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One session as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub project_dir: Option<String>,
    /// custom title > AI title > summary of its leaf > first prompt.
    pub title: Option<String>,
    pub first_prompt: Option<String>,
    pub git_branch: Option<String>,
    pub models: Vec<String>,
    pub started_at: Option<String>,
    pub last_activity_at: Option<String>,
    /// User and assistant lines of the main thread (not sidechains).
    pub message_count: u64,
    pub subagent_message_count: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
    pub unpriced_tokens: u64,
    /// Claude Code's own total from its last `cost-state` line, when it wrote one.
    pub claude_cost_usd: Option<f64>,
    pub on_disk: bool,
    pub state: SessionState,
    pub claude_version: Option<String>,
}

/// Usage of one model within a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelUsage {
    pub model: String,
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_5m_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub total_tokens: u64,
    /// `None` when the model has no price.
    pub cost_usd: Option<f64>,
    /// The sum of `costUSD` written by old Claude Code versions, shown beside the computed cost.
    pub reported_cost_usd: Option<f64>,
}

/// A file that holds lines of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSummary {
    pub path: String,
    pub kind: FileKind,
    pub size: u64,
    pub consumed: u64,
    pub lines: u64,
    pub on_disk: bool,
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    pub agent_description: Option<String>,
}

/// How a link continues a session. Serialized as its lowercase name. Declared in the order of those names, so
/// links sort as they did when the kind was its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// `/clear`, from `history.jsonl`.
    Clear,
    /// A boundary whose `logicalParentUuid` is in the other session.
    Compaction,
    /// A new id that copied the prefix while the old one went on.
    Fork,
    /// A new id that replayed the old conversation, or whose first line continues it.
    Resume,
    /// A subagent's transcript, or sidechain lines inline in the session's file.
    Subagent,
}

impl LinkKind {
    pub const ALL: [LinkKind; 5] = [
        LinkKind::Clear,
        LinkKind::Compaction,
        LinkKind::Fork,
        LinkKind::Resume,
        LinkKind::Subagent,
    ];

    /// Its text, as JSON shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Clear => "clear",
            LinkKind::Compaction => "compaction",
            LinkKind::Fork => "fork",
            LinkKind::Resume => "resume",
            LinkKind::Subagent => "subagent",
        }
    }

    pub fn parse(text: &str) -> Option<LinkKind> {
        LinkKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so widths and alignment (`{:<10}`) apply as they do to text.
        f.pad(self.as_str())
    }
}

/// How one session continues another, rebuilt from the files (the rules: [`crate::links`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Link {
    /// The older side.
    pub from: String,
    /// The newer side: a session id, or `agent-<id>` for a subagent transcript.
    pub to: String,
    pub kind: LinkKind,
    /// The last message of `from` that `to` continues from, when the files hold one.
    pub junction_uuid: Option<String>,
}

/// One session with everything `show` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionDetail {
    #[serde(flatten)]
    pub summary: SessionSummary,
    pub usage_by_model: Vec<ModelUsage>,
    pub files: Vec<FileSummary>,
    pub links: Vec<Link>,
    /// Per-model totals from Claude Code's last `cost-state` line.
    pub claude_cost_state: Option<serde_json::Value>,
}

/// A conversation across session ids: its sessions, the links between them, and its head.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// Stable id: the chain's root, the oldest session no other member continues.
    pub chain_id: String,
    /// The session to resume: the member with the newest activity that is still on disk.
    pub head: Option<String>,
    /// Members, oldest first.
    pub sessions: Vec<SessionSummary>,
    pub links: Vec<Link>,
}

/// How a session list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SessionSort {
    #[default]
    LastActivity,
    Started,
    Cost,
    Tokens,
    Messages,
}

/// Filters, order and page of a session list (`ls`, `GET /api/sessions`), applied by the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    /// Only sessions whose project dir is this dir or below it.
    pub project_dir: Option<String>,
    /// Only sessions active at or after this instant (epoch ms).
    pub since_ms: Option<i64>,
    /// Only sessions started before this instant (epoch ms).
    pub until_ms: Option<i64>,
    /// Only sessions that used a model whose name contains this.
    pub model: Option<String>,
    pub branch: Option<String>,
    pub min_cost_usd: Option<f64>,
    pub state: Option<SessionState>,
    pub sort: SessionSort,
    /// Oldest / cheapest first instead of newest / costliest first.
    pub ascending: bool,
    pub offset: u64,
    pub limit: Option<u64>,
}

/// Skipped lines of one kind in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueSummary {
    pub path: String,
    pub kind: IssueKind,
    pub count: u64,
    /// The first few occurrences: (byte offset, length, detail).
    pub examples: Vec<(u64, u64, String)>,
}

/// What [`crate::Store::archive_captures`] did; printed by `sessiondb archive`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveReport {
    /// Files whose missing bytes were compressed.
    pub files: u64,
    /// Bytes compressed into the store.
    pub bytes: u64,
    /// Indexed bytes that could be read neither from a capture nor from the file (recorded as `archive-lost`
    /// once the file is gone).
    pub unreadable_bytes: u64,
}

/// What `doctor` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorReport {
    pub db_path: String,
    pub db_bytes: u64,
    pub schema_version: i64,
    pub price_table_version: Option<String>,
    pub files: u64,
    pub files_missing_on_disk: u64,
    pub lines: u64,
    pub responses: u64,
    pub sessions: u64,
    /// Raw bytes compressed into the database (the archive that outlives the files).
    pub raw_bytes_archived: u64,
    pub raw_bytes_compressed: u64,
    /// Raw bytes of files still on disk that the archive holds through a capture (a hard link), not yet
    /// compressed: they are compressed when the file disappears.
    pub raw_bytes_captured: u64,
    /// Where the captures live.
    pub capture_dir: String,
    /// Files whose last bytes are not yet a complete line: (path, bytes waiting).
    pub pending_partial_lines: Vec<(String, u64)>,
    pub issues: Vec<IssueSummary>,
    /// Of the lines in `issues`, the implausible numbers (`implausible-number`): token counts or costs that were
    /// negative, not numbers or beyond the bounds of `sessiondb_format::numbers`, whose responses are not counted.
    pub implausible_numbers: u64,
    pub last_sync_at: Option<String>,
    /// Usage whose lines name an id that is not a session (`is_session`: start-up Warmup sidechains of 2.0.x):
    /// counted in totals and under its project, and under the session it was started for when the files show
    /// one ([`crate::warmup_started_for`]; the `attributed_` fields), else under no session.
    pub not_session_usage: NotSessionUsage,
}

/// Usage under ids that are not sessions (see [`DoctorReport::not_session_usage`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NotSessionUsage {
    /// How many such ids carry usage.
    pub ids: u64,
    pub responses: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
    /// Of those, the ids, tokens and cost counted under the session their Warmup was started for.
    pub attributed_ids: u64,
    pub attributed_tokens: u64,
    pub attributed_cost_usd: f64,
}

/// One recorded move of a registry key from one session to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub id: i64,
    pub key: String,
    /// The key's head before this transition (`None` for the first).
    pub previous_session_id: Option<String>,
    pub session_id: String,
    /// Who reported it: `build`, `metadata`, `compact`, `chat_plan`, `run`, …
    pub source: String,
    pub note: Option<String>,
    pub recorded_at: String,
}

/// The answer of `latest`: the session to resume for a key or directory, checked against the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Latest {
    /// The session to resume, if any is valid (or the stale one, when nothing valid was found).
    pub session_id: Option<String>,
    pub chain_id: Option<String>,
    /// Whether `session_id` exists on disk with a conversation, i.e. `claude --resume` can load it.
    pub valid: bool,
    /// Why this session: `recorded head is valid`, or what was wrong with it and what replaced it.
    pub reason: String,
    /// The session the key recorded, when it differs from `session_id`.
    pub recorded_session_id: Option<String>,
}

/// A session whose summary a sync recomputed, with its state before and after (`None`: no row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshedSession {
    pub session_id: String,
    pub previous_state: Option<SessionState>,
    pub state: Option<SessionState>,
}

/// A project dir with what its sessions add up to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectSummary {
    pub project_dir: Option<String>,
    pub session_count: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
    pub unpriced_tokens: u64,
    pub last_activity_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kinds are typed in Rust and their text at the JSON edge is what it was when they were strings.
    #[test]
    fn kinds_serialize_as_the_text_they_were() {
        let json = |value: &dyn erased::Json| value.json();
        for (state, text) in [
            (SessionState::OnDisk, "on_disk"),
            (SessionState::Deleted, "deleted"),
            (SessionState::HistoryOnly, "history_only"),
        ] {
            assert_eq!(json(&state), format!("\"{text}\""));
            assert_eq!(state.as_str(), text);
            assert_eq!(SessionState::parse(text), Some(state));
        }
        for (kind, text) in [
            (FileKind::Transcript, "transcript"),
            (FileKind::History, "history"),
            (FileKind::SubagentMeta, "subagent-meta"),
        ] {
            assert_eq!(json(&kind), format!("\"{text}\""));
        }
        for kind in IssueKind::ALL {
            assert_eq!(json(&kind), format!("\"{}\"", kind.as_str()));
            assert_eq!(IssueKind::parse(kind.as_str()), Some(kind));
        }
        let issue = IssueSummary {
            path: "/p/a.jsonl".into(),
            kind: IssueKind::MalformedJson,
            count: 2,
            examples: vec![(10, 3, "bad".into())],
        };
        assert_eq!(
            json(&issue),
            r#"{"path":"/p/a.jsonl","kind":"malformed-json","count":2,"examples":[[10,3,"bad"]]}"#
        );
        assert!(issue.kind == "malformed-json");
    }

    mod erased {
        pub trait Json {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Json for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }
}
