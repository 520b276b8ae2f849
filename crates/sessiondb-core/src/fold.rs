//! The session fold: the facts of one session (times, counts, first prompt, project dir, branch, root parent,
//! version) from its lines, fed one at a time. A new line updates the facts without reading the others again.
//!
//! Lines may come in any order: each fact is a minimum, a maximum or a sum over the lines, ordered by
//! [`LineOrder`] (timestamp, then the line's sequence number in the store), so the facts are those of the lines
//! sorted that way. "First" is the smallest order with a missing timestamp first (as SQLite sorts NULL),
//! "latest" the largest with a missing timestamp last. The SQLite store's set-based refresh computes the same
//! facts with SQL for incremental syncs (`crates/sessiondb-sqlite/src/refresh.rs`); the integration test
//! `first_load_facts_match_the_sql` holds the two to the same rows.

use crate::chain::{is_session, is_warmup_prompt};
use crate::links::LineKind;
use sessiondb_format::TranscriptEntry;

/// Where a line sorts among a session's lines: (timestamp, sequence number). `None` sorts first.
pub type LineOrder = (Option<i64>, i64);

/// One session's facts so far (see the module doc). `Default` is a session with no lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFold {
    /// Earliest and latest timestamp of a conversation (user or assistant) line.
    started_at_ms: Option<i64>,
    last_activity_ms: Option<i64>,
    message_count: u64,
    subagent_message_count: u64,
    /// Sidechain user lines with no parent that are not a start-up Warmup ([`is_session`]).
    sidechain_prompts: u64,
    first_prompt: Option<(LineOrder, String)>,
    /// First cwd of a main-thread line kept in that cwd's project folder (where `claude --continue` finds the
    /// session: after a move into a git worktree, the worktree), first cwd of a main-thread line, of any line.
    project_in_folder: Option<(LineOrder, String)>,
    project_main: Option<(LineOrder, String)>,
    project_any: Option<(LineOrder, String)>,
    /// Latest non-empty branch of a conversation line.
    git_branch: Option<(LineOrder, String)>,
    /// parentUuid of the first main-thread conversation line.
    root_parent_uuid: Option<(LineOrder, Option<String>)>,
    /// Latest version of any line.
    claude_version: Option<(LineOrder, String)>,
}

/// What [`SessionFold::facts`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFacts {
    pub started_at_ms: Option<i64>,
    pub last_activity_ms: Option<i64>,
    /// User and assistant lines of the main thread.
    pub message_count: u64,
    /// User and assistant lines of sidechains.
    pub subagent_message_count: u64,
    /// Whether the lines make a session ([`is_session`]), not only a start-up Warmup's sidechain.
    pub is_session: bool,
    /// The first main-thread user prompt that is not a command or a compaction summary.
    pub first_prompt: Option<String>,
    pub project_dir: Option<String>,
    pub git_branch: Option<String>,
    pub root_parent_uuid: Option<String>,
    pub claude_version: Option<String>,
}

/// Whether a transcript at a path is kept in a cwd's project folder (`sessiondb_format::cwd_names_folder_of`),
/// remembering the last answer: a file's lines repeat one cwd. One serves any number of folds.
#[derive(Debug, Default)]
pub struct FolderMatch {
    last: Option<(String, String, bool)>,
}

impl FolderMatch {
    pub fn matches(&mut self, cwd: &str, path: &str) -> bool {
        if let Some((last_cwd, last_path, answer)) = &self.last {
            if last_cwd == cwd && last_path == path {
                return *answer;
            }
        }
        let answer = sessiondb_format::cwd_names_folder_of(cwd, path);
        self.last = Some((cwd.to_owned(), path.to_owned(), answer));
        answer
    }
}

fn first<T>(slot: &mut Option<(LineOrder, T)>, order: LineOrder, value: impl FnOnce() -> T) {
    if slot.as_ref().is_none_or(|(best, _)| order < *best) {
        *slot = Some((order, value()));
    }
}

/// `latest` for text, reusing the held string: most lines are a session's latest so far, and repeat its value.
fn latest_text(slot: &mut Option<(LineOrder, String)>, order: LineOrder, value: &str) {
    match slot {
        Some((best, held)) => {
            if order > *best {
                *best = order;
                if held != value {
                    value.clone_into(held);
                }
            }
        }
        None => *slot = Some((order, value.to_owned())),
    }
}

/// `text LIKE prefix || '%'` for an ASCII prefix, as the store's SQL compares: ignoring ASCII case.
fn like_prefix(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

impl SessionFold {
    /// Takes in one line of the session: `seq` orders lines of equal timestamps (a store's row id), `path` is
    /// the file the line sits in, `folders` answers whether that file is in the line's cwd's project folder.
    pub fn add(&mut self, seq: i64, e: &TranscriptEntry, path: &str, folders: &mut FolderMatch) {
        let kind = LineKind::from_type(&e.kind);
        let order = (e.timestamp_ms, seq);
        if kind.is_conversation() {
            if let Some(ts) = e.timestamp_ms {
                self.started_at_ms = Some(self.started_at_ms.map_or(ts, |t| t.min(ts)));
                self.last_activity_ms = Some(self.last_activity_ms.map_or(ts, |t| t.max(ts)));
            }
            if e.is_sidechain {
                self.subagent_message_count += 1;
                if kind == LineKind::User
                    && e.parent_uuid.is_none()
                    && !e.text.as_deref().is_some_and(is_warmup_prompt)
                {
                    self.sidechain_prompts += 1;
                }
            } else {
                self.message_count += 1;
                first(&mut self.root_parent_uuid, order, || e.parent_uuid.clone());
            }
            if let Some(branch) = e.git_branch.as_deref().filter(|b| !b.is_empty()) {
                latest_text(&mut self.git_branch, order, branch);
            }
        }
        if kind == LineKind::User && !e.is_sidechain && !e.is_compact_summary {
            if let Some(text) = e.text.as_deref() {
                if !like_prefix(text, "<command-") && !like_prefix(text, "<local-command") {
                    first(&mut self.first_prompt, order, || text.to_owned());
                }
            }
        }
        if let Some(cwd) = e.cwd.as_deref() {
            if !e.is_sidechain {
                first(&mut self.project_main, order, || cwd.to_owned());
                let earlier = self
                    .project_in_folder
                    .as_ref()
                    .is_none_or(|(best, _)| order < *best);
                if earlier && folders.matches(cwd, path) {
                    self.project_in_folder = Some((order, cwd.to_owned()));
                }
            }
            first(&mut self.project_any, order, || cwd.to_owned());
        }
        if let Some(version) = e.version.as_deref() {
            latest_text(&mut self.claude_version, order, version);
        }
    }

    /// The facts of the lines taken in so far.
    pub fn facts(&self) -> SessionFacts {
        self.clone().into_facts()
    }

    /// The facts of the lines taken in, without copying them.
    pub fn into_facts(self) -> SessionFacts {
        let project = self
            .project_in_folder
            .or(self.project_main)
            .or(self.project_any);
        SessionFacts {
            started_at_ms: self.started_at_ms,
            last_activity_ms: self.last_activity_ms,
            message_count: self.message_count,
            subagent_message_count: self.subagent_message_count,
            is_session: is_session(self.message_count, self.sidechain_prompts),
            first_prompt: self.first_prompt.map(|(_, v)| v),
            project_dir: project.map(|(_, v)| v),
            git_branch: self.git_branch.map(|(_, v)| v),
            root_parent_uuid: self.root_parent_uuid.and_then(|(_, v)| v),
            claude_version: self.claude_version.map(|(_, v)| v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &str, ts: Option<i64>) -> TranscriptEntry {
        TranscriptEntry {
            kind: kind.to_owned(),
            timestamp_ms: ts,
            ..TranscriptEntry::default()
        }
    }

    fn fold(lines: &[(i64, TranscriptEntry)]) -> SessionFacts {
        let mut fold = SessionFold::default();
        let mut folders = FolderMatch::default();
        for (seq, e) in lines {
            fold.add(
                *seq,
                e,
                "/home/u/.claude/projects/-home-u-p/s.jsonl",
                &mut folders,
            );
        }
        fold.into_facts()
    }

    #[test]
    fn like_prefix_ignores_ascii_case_only() {
        assert!(like_prefix("<Command-name>x", "<command-"));
        assert!(!like_prefix("<comm", "<command-"));
        assert!(!like_prefix("x<command-", "<command-"));
    }

    #[test]
    fn first_prefers_a_missing_timestamp_and_latest_avoids_it() {
        let mut early = None;
        first(&mut early, (Some(5), 1), || "a");
        first(&mut early, (None, 9), || "b");
        first(&mut early, (Some(1), 2), || "c");
        assert_eq!(early.map(|(_, v)| v), Some("b"));
        let mut late = None;
        latest_text(&mut late, (Some(5), 1), "a");
        latest_text(&mut late, (None, 9), "b");
        latest_text(&mut late, (Some(5), 3), "c");
        latest_text(&mut late, (Some(5), 2), "d");
        assert_eq!(late, Some(((Some(5), 3), "c".to_owned())));
        latest_text(&mut late, (Some(6), 0), "c");
        assert_eq!(late, Some(((Some(6), 0), "c".to_owned())));
    }

    /// The fold of a session's lines, then one more line: the same facts as folding all of them at once, in
    /// any order.
    #[test]
    fn a_new_line_updates_the_facts_as_a_fold_of_every_line_would() {
        let mut prompt = line("user", Some(10));
        prompt.text = Some("fix the bug".into());
        prompt.cwd = Some("/home/u/p".into());
        prompt.git_branch = Some("main".into());
        prompt.version = Some("2.0.1".into());
        prompt.parent_uuid = Some("p0".into());
        let mut command = line("user", Some(5));
        command.text = Some("<command-name>/clear</command-name>".into());
        let mut answer = line("assistant", Some(20));
        answer.git_branch = Some("feature".into());
        answer.version = Some("2.0.2".into());
        let mut sidechain = line("user", Some(15));
        sidechain.is_sidechain = true;
        sidechain.text = Some("Warmup".into());
        let system = line("system", Some(30));
        let lines = vec![
            (1, command),
            (2, prompt),
            (3, sidechain),
            (4, answer.clone()),
            (5, system),
        ];

        let mut incremental = SessionFold::default();
        let mut folders = FolderMatch::default();
        let path = "/home/u/.claude/projects/-home-u-p/s.jsonl";
        for (seq, e) in &lines[..3] {
            incremental.add(*seq, e, path, &mut folders);
        }
        let before = incremental.facts();
        assert_eq!(before.git_branch.as_deref(), Some("main"));
        assert_eq!(before.last_activity_ms, Some(15));
        for (seq, e) in &lines[3..] {
            incremental.add(*seq, e, path, &mut folders);
        }
        let after = incremental.into_facts();
        let mut reversed = lines.clone();
        reversed.reverse();
        assert_eq!(after, fold(&reversed));
        assert_eq!(
            after,
            SessionFacts {
                started_at_ms: Some(5),
                last_activity_ms: Some(20),
                message_count: 3,
                subagent_message_count: 1,
                is_session: true,
                first_prompt: Some("fix the bug".into()),
                project_dir: Some("/home/u/p".into()),
                git_branch: Some("feature".into()),
                root_parent_uuid: None,
                claude_version: Some("2.0.2".into()),
            }
        );
    }

    /// A Warmup sidechain alone is not a session; a sidechain prompt the user spawned is.
    #[test]
    fn a_warmup_sidechain_alone_is_not_a_session() {
        let mut warmup = line("user", Some(1));
        warmup.is_sidechain = true;
        warmup.text = Some("Warmup".into());
        assert!(!fold(&[(1, warmup.clone())]).is_session);
        let mut spawned = warmup;
        spawned.text = Some("look into it".into());
        assert!(fold(&[(1, spawned)]).is_session);
    }

    /// The project dir is the first main-thread cwd whose project folder holds the transcript, before an earlier
    /// cwd elsewhere.
    #[test]
    fn the_project_is_the_cwd_whose_folder_holds_the_transcript() {
        let mut elsewhere = line("user", Some(1));
        elsewhere.cwd = Some("/tmp/x".into());
        let mut home = line("user", Some(2));
        home.cwd = Some("/home/u/p".into());
        let facts = fold(&[(1, elsewhere), (2, home)]);
        assert_eq!(facts.project_dir.as_deref(), Some("/home/u/p"));
    }
}
