//! Chains: the sessions one conversation spans (resumes and forks into new ids, compactions, subagents,
//! `/clear`), found by following [`Store::session_links`] from any member, and the head to resume.

use crate::report::{Chain, SessionFilter, SessionState, SessionSummary};
use crate::store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Whether an id is a session: something a user could resume or read. It has a main-thread user or assistant
/// line, or a sidechain conversation of its own that is not a start-up Warmup (a subagent whose parent's file is
/// gone can still be read). Not sessions (observed on Claude Code 2.0.x, see the 2.0.76 fixture): the empty
/// `<id>.jsonl` every start leaves when it resumes another session or fails, a file of `summary` lines only
/// (titles for leaves in other files), and an id that only the start-up `Warmup` sidechains carry. Their usage
/// still counts (it was paid for): under the session the sidechain lines name, else under the session the
/// start-up was for when the files show it ([`crate::warmup_started_for`]), and always under their project.
///
/// `sidechain_prompts` counts the sidechain user lines with no parent whose text is not [`is_warmup_prompt`].
pub fn is_session(main_thread_messages: u64, sidechain_prompts: u64) -> bool {
    main_thread_messages > 0 || sidechain_prompts > 0
}

/// Whether a sidechain's first prompt is Claude Code 2.0.x's start-up `Warmup` (two such transcripts at every
/// start, no tool call asked for them): not a subagent the user spawned. Exact text, as the store's SQL
/// compares it.
pub fn is_warmup_prompt(text: &str) -> bool {
    text == "Warmup"
}

/// Whether a session can be handed to `claude --resume`: its transcript is on disk and holds conversation.
fn resumable(session: &SessionSummary) -> bool {
    session.state == SessionState::OnDisk && session.message_count > 0
}

/// The chain `session_id` belongs to, or `None` if the session is unknown.
pub fn build_chain(store: &dyn Store, session_id: &str) -> Result<Option<Chain>, StoreError> {
    let Some(start) = store.session_summary(session_id)? else {
        return Ok(None);
    };
    let mut members: BTreeMap<String, SessionSummary> = BTreeMap::new();
    let mut links = BTreeSet::new();
    let mut queue = VecDeque::from([start.session_id.clone()]);
    members.insert(start.session_id.clone(), start);
    while let Some(current) = queue.pop_front() {
        for link in store.session_links(&current)? {
            for end in [&link.from, &link.to] {
                if members.contains_key(end) {
                    continue;
                }
                // Subagent transcripts (`agent-…`) are ends of links, not sessions of their own.
                if let Some(summary) = store.session_summary(end)? {
                    members.insert(end.clone(), summary);
                    queue.push_back(end.clone());
                }
            }
            links.insert(link);
        }
    }
    let mut sessions: Vec<SessionSummary> = members.into_values().collect();
    sessions.sort_by(|a, b| {
        (a.started_at.as_deref(), &a.session_id).cmp(&(b.started_at.as_deref(), &b.session_id))
    });
    let head = sessions
        .iter()
        .filter(|s| resumable(s))
        .max_by(|a, b| {
            (a.last_activity_at.as_deref(), &a.session_id)
                .cmp(&(b.last_activity_at.as_deref(), &b.session_id))
        })
        .map(|s| s.session_id.clone());
    // The root names the chain: the oldest member nothing links into (a fork starts at the same time as the
    // session it copied, so age alone cannot tell them apart).
    let continued: BTreeSet<&str> = links
        .iter()
        .filter(|l| l.from != l.to)
        .map(|l| l.to.as_str())
        .collect();
    let chain_id = sessions
        .iter()
        .find(|s| !continued.contains(s.session_id.as_str()))
        .unwrap_or(&sessions[0])
        .session_id
        .clone();
    Ok(Some(Chain {
        chain_id,
        head,
        sessions,
        links: links.into_iter().collect(),
    }))
}

/// The session `claude --continue` would take in `project_dir`: the newest resumable session whose project
/// dir it is.
pub fn newest_resumable_session(
    store: &dyn Store,
    project_dir: &str,
) -> Result<Option<SessionSummary>, StoreError> {
    let dir = project_dir.trim_end_matches('/');
    let sessions = store.sessions(&SessionFilter {
        project_dir: Some(dir.to_owned()),
        ..SessionFilter::default()
    })?;
    // `sessions` is newest first; the filter also matches subdirectories, the head is this dir's own.
    Ok(sessions
        .into_iter()
        .filter(|s| s.project_dir.as_deref() == Some(dir))
        .find(resumable))
}
