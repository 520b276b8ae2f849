//! Session facts of a first load, gathered while its lines are written.
//!
//! `refresh_sessions` derives each dirty session's row with SQL over its lines: one aggregate and six ordered
//! look-ups per session, about 0.2 s for a 1 GiB first load, where every session is dirty. A first load sees
//! every line as it inserts it, so it gathers the same facts on the way ([`FirstLoadFacts::observe`]) and the
//! refresh inserts them instead. They are trusted only while the database holds exactly the lines they saw
//! (same count, same last id): if another process wrote lines meanwhile, or a transaction was rolled back, the
//! SQL runs as usual. Each fact mirrors one column of that SQL in `refresh.rs`, with its order: "first" is the
//! smallest (timestamp, id) with a missing timestamp first, "latest" the largest with a missing timestamp last.
//! `first_load_facts_match_the_sql` holds the two to the same rows.

use crate::backend;
use rusqlite::Transaction;
use sessiondb_core::{IndexedLine, StoreError};
use std::collections::HashMap;

/// Where a line sorts among a session's lines: (timestamp, id). `None` sorts first, as NULL does in SQLite.
type Order = (Option<i64>, i64);

/// What `refresh_sessions` derives from one session's lines.
#[derive(Debug, Default)]
pub(crate) struct SessionFacts {
    /// Earliest and latest timestamp of a conversation (user or assistant) line.
    started_at_ms: Option<i64>,
    last_activity_ms: Option<i64>,
    message_count: i64,
    subagent_message_count: i64,
    first_prompt: Option<(Order, String)>,
    /// First cwd of a main-thread line, first cwd of any line.
    project_main: Option<(Order, String)>,
    project_any: Option<(Order, String)>,
    /// Latest non-empty branch of a conversation line.
    git_branch: Option<(Order, String)>,
    /// parentUuid of the first main-thread conversation line.
    root_parent_uuid: Option<(Order, Option<String>)>,
    /// Latest version of any line.
    claude_version: Option<(Order, String)>,
}

fn first<T>(slot: &mut Option<(Order, T)>, order: Order, value: impl FnOnce() -> T) {
    if slot.as_ref().is_none_or(|(best, _)| order < *best) {
        *slot = Some((order, value()));
    }
}

/// `latest` for text, reusing the held string: most lines are a session's latest so far, and repeat its value.
fn latest_text(slot: &mut Option<(Order, String)>, order: Order, value: &str) {
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

/// `text LIKE prefix || '%'` for an ASCII prefix: SQLite's LIKE ignores ASCII case.
fn like_prefix(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The facts of every session a first load wrote lines for.
#[derive(Debug, Default)]
pub(crate) struct FirstLoadFacts {
    sessions: HashMap<String, SessionFacts>,
    /// The session of the last line observed, whose facts the next line (most likely of the same session)
    /// updates without a hash lookup.
    current: Option<(String, SessionFacts)>,
    lines: i64,
    last_id: i64,
}

impl FirstLoadFacts {
    /// Takes in one line just inserted as `entry_id`.
    pub(crate) fn observe(&mut self, entry_id: i64, line: &IndexedLine) {
        self.lines += 1;
        self.last_id = self.last_id.max(entry_id);
        let Some(session) = line.session_key.as_deref() else {
            return;
        };
        if self.current.as_ref().is_none_or(|(key, _)| key != session) {
            if let Some((key, facts)) = self.current.take() {
                self.sessions.insert(key, facts);
            }
            let facts = self.sessions.remove(session).unwrap_or_default();
            self.current = Some((session.to_owned(), facts));
        }
        let Some((_, facts)) = self.current.as_mut() else {
            return;
        };
        let e = &line.entry;
        let order = (e.timestamp_ms, entry_id);
        let conversation = e.kind == "user" || e.kind == "assistant";
        if conversation {
            if let Some(ts) = e.timestamp_ms {
                facts.started_at_ms = Some(facts.started_at_ms.map_or(ts, |t| t.min(ts)));
                facts.last_activity_ms = Some(facts.last_activity_ms.map_or(ts, |t| t.max(ts)));
            }
            if e.is_sidechain {
                facts.subagent_message_count += 1;
            } else {
                facts.message_count += 1;
                first(&mut facts.root_parent_uuid, order, || e.parent_uuid.clone());
            }
            if let Some(branch) = e.git_branch.as_deref().filter(|b| !b.is_empty()) {
                latest_text(&mut facts.git_branch, order, branch);
            }
        }
        if e.kind == "user" && !e.is_sidechain && !e.is_compact_summary {
            if let Some(text) = e.text.as_deref() {
                if !like_prefix(text, "<command-") && !like_prefix(text, "<local-command") {
                    first(&mut facts.first_prompt, order, || text.to_owned());
                }
            }
        }
        if let Some(cwd) = e.cwd.as_deref() {
            if !e.is_sidechain {
                first(&mut facts.project_main, order, || cwd.to_owned());
            }
            first(&mut facts.project_any, order, || cwd.to_owned());
        }
        if let Some(version) = e.version.as_deref() {
            latest_text(&mut facts.claude_version, order, version);
        }
    }

    /// Whether the database holds exactly the lines these facts saw.
    pub(crate) fn describe_the_database(&self, tx: &Transaction<'_>) -> Result<bool, StoreError> {
        let (lines, last_id): (i64, Option<i64>) = tx
            .query_row("SELECT COUNT(*), MAX(id) FROM entries", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(backend)?;
        Ok(lines == self.lines && last_id.unwrap_or(0) == self.last_id)
    }

    /// Inserts the `sessions` row of each session with conversation lines, as the SQL aggregate would.
    pub(crate) fn insert_sessions(self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let mut insert = tx
            .prepare(
                "INSERT INTO sessions (session_key, started_at_ms, last_activity_ms, message_count,
                    subagent_message_count, state, first_prompt, project_dir, git_branch, root_parent_uuid,
                    claude_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'deleted', ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(backend)?;
        for (session, facts) in self.sessions.into_iter().chain(self.current) {
            if facts.message_count + facts.subagent_message_count == 0 {
                continue;
            }
            let project = facts.project_main.or(facts.project_any);
            insert
                .execute(rusqlite::params![
                    session,
                    facts.started_at_ms,
                    facts.last_activity_ms,
                    facts.message_count,
                    facts.subagent_message_count,
                    facts.first_prompt.map(|(_, v)| v),
                    project.map(|(_, v)| v),
                    facts.git_branch.map(|(_, v)| v),
                    facts.root_parent_uuid.and_then(|(_, v)| v),
                    facts.claude_version.map(|(_, v)| v),
                ])
                .map_err(backend)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
