//! Links between sessions, the rules: copied prefixes (resume into a new id, fork), first lines that continue
//! another session, compaction boundaries pointing into another session, subagent transcripts, transcripts
//! named by another id, and `/clear` in `history.jsonl`. Pure: a backend fetches the evidence through
//! [`LinkEvidenceSource`] (a session's lines, then the owners of the uuids they point to, …) and
//! [`session_links`] decides, so every backend links sessions the same way.
//!
//! Which side of a copied prefix is the copy: lines copied by 2.1.330+ carry `requestSessionId` (the origin);
//! old versions start a resumed file with a `summary` whose leaf is the last replayed message; otherwise a fork
//! copies the whole conversation so far, so the copy's own first message comes before any message the origin
//! added after the copied part; 2.0.x keeps the origin's `sessionId` on the copied user lines, so lines of the
//! origin sitting in the file named by the other session make that one the copy.
//!
//! Only sessions are linked ([`crate::is_session`]): an id carried only by start-up Warmup sidechains (2.0.x) is
//! not one, and Warmup transcripts are not subagents a user spawned.

use crate::chain::is_warmup_prompt;
use crate::report::{Link, LinkKind};
use crate::store::StoreError;
use std::collections::{BTreeSet, HashMap, HashSet};

/// The `from` of a dangling link: the session it continues was never indexed.
pub const UNKNOWN_SESSION: &str = "unknown";

/// A line's `type`, as far as sessiondb's rules tell them apart (links, the session fold, which lines are
/// markers). Lines keep their `type` as text (a new Claude Code type is stored as it is); this is read from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LineKind {
    User,
    Assistant,
    /// A compaction summary of a leaf (a marker).
    Summary,
    /// `/rename`'s title (a marker).
    CustomTitle,
    /// A title Claude Code generated (a marker).
    AiTitle,
    /// A subagent's name (a marker).
    AgentName,
    /// The last prompt of a session (a marker).
    LastPrompt,
    /// Claude Code's own cost totals (a marker).
    CostState,
    /// Anything else (`system`, `progress`, …).
    #[default]
    Other,
}

impl LineKind {
    /// The kind of a line whose `type` is `text` (as stored).
    pub fn from_type(text: &str) -> LineKind {
        match text {
            "user" => LineKind::User,
            "assistant" => LineKind::Assistant,
            "summary" => LineKind::Summary,
            "custom-title" => LineKind::CustomTitle,
            "ai-title" => LineKind::AiTitle,
            "agent-name" => LineKind::AgentName,
            "last-prompt" => LineKind::LastPrompt,
            "cost-state" => LineKind::CostState,
            _ => LineKind::Other,
        }
    }

    /// A line a store also keeps as a marker (titles, names, cost totals): it describes the session rather
    /// than continue its conversation.
    pub fn is_marker(self) -> bool {
        matches!(
            self,
            LineKind::Summary
                | LineKind::CustomTitle
                | LineKind::AiTitle
                | LineKind::AgentName
                | LineKind::LastPrompt
                | LineKind::CostState
        )
    }

    /// A user or assistant line.
    pub fn is_conversation(self) -> bool {
        matches!(self, LineKind::User | LineKind::Assistant)
    }
}

/// The fields of one line that link rules look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkLine {
    pub uuid: Option<String>,
    pub parent_uuid: Option<String>,
    pub logical_parent_uuid: Option<String>,
    /// A `summary` line's leaf.
    pub leaf_uuid: Option<String>,
    pub kind: LineKind,
    /// Epoch ms, 0 when the line has none.
    pub timestamp_ms: i64,
    /// 2.1.330+: the session a copied line was copied from.
    pub request_session_id: Option<String>,
    /// The agent a tool result reports (the `agent-<id>` transcript it spawned).
    pub spawned_agent_id: Option<String>,
    pub is_sidechain: bool,
    /// The file the line sits in.
    pub path: String,
    /// The text of a user line without a parent (a prompt that starts a thread); `None` for any other line.
    pub root_prompt: Option<String>,
}

impl LinkLine {
    fn in_agent_file(&self) -> bool {
        is_agent_file(&self.path)
    }
}

/// Which pointer of another session's line leads into a session (see [`LinkEvidenceSource::pointers_into`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pointer {
    /// A compaction boundary's `logicalParentUuid`.
    LogicalParent,
    /// The parent of a session's first line (its root parent).
    RootParent,
}

/// A line of another session that points into the session asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingPointer {
    /// The session pointing.
    pub from: String,
    /// The uuid pointed at, a line of the session asked about.
    pub uuid: String,
    pub via: Pointer,
    /// Whether `from` holds a line with that uuid itself (a copy of it).
    pub from_holds_uuid: bool,
}

/// What the store knows of an id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdFacts {
    /// It is a session (a row the store keeps, decided by [`crate::is_session`]).
    pub is_session: bool,
    /// It has user or assistant lines.
    pub has_conversation: bool,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryLine {
    pub session: Option<String>,
    pub display: Option<String>,
}

/// The evidence link rules read, fetched by a backend. [`session_links`] asks for it in rounds, a few ids or
/// uuids at a time, so a store answers each with an indexed lookup and never reads the whole database.
pub trait LinkEvidenceSource {
    /// Every line of `session`, by time (lines without one first), then in the order they were stored.
    fn lines_of(&self, session: &str) -> Result<Vec<LinkLine>, StoreError>;
    /// The other sessions holding a line with the uuid of one of `session`'s lines.
    fn sessions_sharing_lines(&self, session: &str) -> Result<Vec<String>, StoreError>;
    /// The sessions holding a line with this uuid.
    fn sessions_holding(&self, uuid: &str) -> Result<Vec<String>, StoreError>;
    /// The other sessions' pointers to lines of `session`: compaction boundaries, and root parents.
    fn pointers_into(&self, session: &str) -> Result<Vec<IncomingPointer>, StoreError>;
    /// The transcript files holding lines of `session`, by path.
    fn transcript_paths(&self, session: &str) -> Result<Vec<String>, StoreError>;
    /// The text of a user line without a parent whose uuid is `uuid`, in any session.
    fn root_prompt(&self, uuid: &str) -> Result<Option<String>, StoreError>;
    /// What the store knows of an id.
    fn id_facts(&self, id: &str) -> Result<IdFacts, StoreError>;
    /// The `history.jsonl` lines of every project `session` has history lines in, by time, then in file order.
    fn history_around(&self, session: &str) -> Result<Vec<HistoryLine>, StoreError>;
}

/// Every link of `session` to another session or subagent, both directions, ordered.
pub fn session_links(
    source: &dyn LinkEvidenceSource,
    session: &str,
) -> Result<Vec<Link>, StoreError> {
    let lines = source.lines_of(session)?;
    let mut links = BTreeSet::new();

    // Sessions sharing messages with this one: a copied prefix.
    let sharing = source.sessions_sharing_lines(session)?;
    for other in &sharing {
        let other_lines = source.lines_of(other)?;
        links.extend(copy_link(session, &lines, other, &other_lines));
    }
    let copied: HashSet<&str> = sharing.iter().map(String::as_str).collect();

    // This session's lines pointing into another one, and other sessions pointing into this one.
    let mut owners: HashMap<&str, Vec<String>> = HashMap::new();
    for (pointer, _) in outgoing_pointers(&lines) {
        if !owners.contains_key(pointer) {
            owners.insert(pointer, source.sessions_holding(pointer)?);
        }
    }
    links.extend(outgoing_links(session, &lines, &owners, &copied));
    links.extend(incoming_links(
        session,
        &source.pointers_into(session)?,
        &copied,
    ));

    // Subagents and transcripts named by another id.
    let paths = source.transcript_paths(session)?;
    let mut warmups = HashSet::new();
    for path in paths.iter().filter(|p| is_agent_file(p)) {
        let prompt = match first_prompt_in(&lines, path) {
            FirstPrompt::Here(text) => text.map(str::to_owned),
            FirstPrompt::Under(parent) => source.root_prompt(parent)?,
            FirstPrompt::Unknown => None,
        };
        if prompt.as_deref().is_some_and(is_warmup_prompt) {
            warmups.insert(path.as_str());
        }
    }
    links.extend(subagent_links(session, &lines, &paths, &warmups));

    let mut facts: HashMap<String, IdFacts> = HashMap::new();
    let mut facts_of = |id: &str| -> Result<IdFacts, StoreError> {
        if let Some(known) = facts.get(id) {
            return Ok(*known);
        }
        let known = source.id_facts(id)?;
        facts.insert(id.to_owned(), known);
        Ok(known)
    };
    let mut sessions_named = HashSet::new();
    for (_, stem) in named_files(session, &paths) {
        if facts_of(stem)?.is_session {
            sessions_named.insert(stem);
        }
    }
    links.extend(named_file_links(session, &lines, &paths, &sessions_named));

    links.extend(clear_links(session, &source.history_around(session)?));

    let mut kept = Vec::with_capacity(links.len());
    for link in links {
        if !is_not_a_session(facts_of(&link.from)?) && !is_not_a_session(facts_of(&link.to)?) {
            kept.push(link);
        }
    }
    Ok(kept)
}

/// An id with conversation lines but no session: one that only start-up sidechains carry (see
/// [`crate::is_session`]). A file stem whose lines keep another session's id (1.0.x, 2.0.x resumed into a new
/// file) has at most `summary` lines of its own and stays a link end.
fn is_not_a_session(facts: IdFacts) -> bool {
    facts.has_conversation && !facts.is_session
}

/// Whether `path` is a subagent transcript (`agent-<id>.jsonl`).
pub fn is_agent_file(path: &str) -> bool {
    std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("agent-") && n.ends_with(".jsonl"))
}

fn file_stem(path: &str) -> Option<&str> {
    std::path::Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
}

fn looks_like_uuid(text: &str) -> bool {
    text.len() == 36
        && text.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The uuids this session's main-thread lines point to outside the session: a parent (a first line that
/// continues another session: a resume) or a compaction boundary's logical parent. A sidechain line's parent is
/// in its own sidechain: 2.0.x Warmup transcripts switch ids between their two lines (start-up id, then the
/// resumed session's), which is not a resume.
pub fn outgoing_pointers(lines: &[LinkLine]) -> Vec<(&str, LinkKind)> {
    let own: HashSet<&str> = lines.iter().filter_map(|l| l.uuid.as_deref()).collect();
    let mut pointers = Vec::new();
    for line in lines.iter().filter(|l| !l.is_sidechain) {
        for (pointer, kind) in [
            (&line.parent_uuid, LinkKind::Resume),
            (&line.logical_parent_uuid, LinkKind::Compaction),
        ] {
            if let Some(pointer) = pointer.as_deref().filter(|p| !own.contains(p)) {
                pointers.push((pointer, kind));
            }
        }
    }
    pointers
}

/// Links from the sessions owning what this session's lines point to (`owners`: the sessions holding each
/// uuid of [`outgoing_pointers`]); none for a resume from a session it shares copied lines with (`copied`: that
/// link is the copy's).
pub fn outgoing_links(
    session: &str,
    lines: &[LinkLine],
    owners: &HashMap<&str, Vec<String>>,
    copied: &HashSet<&str>,
) -> Vec<Link> {
    let mut links = Vec::new();
    for (pointer, kind) in outgoing_pointers(lines) {
        let owners = owners.get(pointer).map(Vec::as_slice).unwrap_or_default();
        if owners.is_empty() && kind == LinkKind::Compaction {
            // Dangling: the message it continues is in no indexed file (deleted before it was seen).
            // (A `parentUuid` with no owner is usually a line that was skipped as malformed: not a link.)
            links.push(Link {
                from: UNKNOWN_SESSION.to_owned(),
                to: session.to_owned(),
                kind,
                junction_uuid: Some(pointer.to_owned()),
            });
        }
        for owner in owners.iter().filter(|o| *o != session) {
            if kind == LinkKind::Resume && copied.contains(owner.as_str()) {
                continue;
            }
            links.push(Link {
                from: owner.clone(),
                to: session.to_owned(),
                kind,
                junction_uuid: Some(pointer.to_owned()),
            });
        }
    }
    links
}

/// Links to the sessions pointing into this one: a compaction boundary, or a first line that continues it
/// (a resume). A pointer to a line the pointing session holds too is into a copy of its own, not a link.
pub fn incoming_links(
    session: &str,
    pointers: &[IncomingPointer],
    copied: &HashSet<&str>,
) -> Vec<Link> {
    pointers
        .iter()
        .filter(|p| !p.from_holds_uuid)
        .filter_map(|p| {
            let kind = match p.via {
                Pointer::LogicalParent => LinkKind::Compaction,
                Pointer::RootParent => LinkKind::Resume,
            };
            if kind == LinkKind::Resume && copied.contains(p.from.as_str()) {
                return None;
            }
            Some(Link {
                from: session.to_owned(),
                to: p.from.clone(),
                kind,
                junction_uuid: Some(p.uuid.clone()),
            })
        })
        .collect()
}

/// Where the first prompt of a session's lines in one file is, as far as those lines tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstPrompt<'a> {
    /// The first line is a user line without a parent: its text.
    Here(Option<&'a str>),
    /// The first line has this parent: the prompt is that line (which may carry another id: 2.0.x's start-up
    /// id).
    Under(&'a str),
    /// Neither.
    Unknown,
}

/// The first prompt of `lines` in the file at `path`.
pub fn first_prompt_in<'a>(lines: &'a [LinkLine], path: &str) -> FirstPrompt<'a> {
    match lines.iter().find(|l| l.path == path) {
        Some(first) => match (&first.parent_uuid, first.kind) {
            (Some(parent), _) => FirstPrompt::Under(parent),
            (None, LineKind::User) => FirstPrompt::Here(first.root_prompt.as_deref()),
            _ => FirstPrompt::Unknown,
        },
        None => FirstPrompt::Unknown,
    }
}

/// Subagents: their own transcripts (`paths`, except the start-up Warmup ones in `warmups`: 2.0.x writes two
/// at every start, whose first prompt is `Warmup`, asked by no tool call), or sidechain lines inline in the
/// parent's file (1.x), a link of the session to itself.
pub fn subagent_links(
    session: &str,
    lines: &[LinkLine],
    paths: &[String],
    warmups: &HashSet<&str>,
) -> Vec<Link> {
    let mut links = Vec::new();
    for path in paths.iter().filter(|p| is_agent_file(p)) {
        let Some(stem) = file_stem(path) else {
            continue;
        };
        if warmups.contains(path.as_str()) {
            continue;
        }
        let agent_id = stem.trim_start_matches("agent-");
        // The tool result that reports the agent sits under the assistant line that spawned it.
        let junction = lines
            .iter()
            .find(|l| l.spawned_agent_id.as_deref() == Some(agent_id) && !l.in_agent_file())
            .and_then(|l| l.parent_uuid.clone());
        links.push(Link {
            from: session.to_owned(),
            to: stem.to_owned(),
            kind: LinkKind::Subagent,
            junction_uuid: junction,
        });
    }
    if lines
        .iter()
        .any(|l| l.is_sidechain && !l.in_agent_file() && l.kind.is_conversation())
    {
        links.push(Link {
            from: session.to_owned(),
            to: session.to_owned(),
            kind: LinkKind::Subagent,
            junction_uuid: None,
        });
    }
    links
}

/// The transcripts among `paths` named by another session-like id than `session`, with that id: candidates for
/// [`named_file_links`].
pub fn named_files<'a>(session: &str, paths: &'a [String]) -> Vec<(&'a str, &'a str)> {
    let mut named: Vec<&str> = paths
        .iter()
        .filter(|p| !is_agent_file(p))
        .map(String::as_str)
        .collect();
    named.dedup();
    named
        .into_iter()
        .filter_map(|path| Some((path, file_stem(path)?)))
        .filter(|(_, stem)| *stem != session && looks_like_uuid(stem))
        .collect()
}

/// A transcript named by another id whose lines keep this session's id (1.0.x resumed into a new file, 2.0.x
/// `--continue`): `claude --resume <that name>` loads it, so it is a resume target of its own, unless that name
/// is a session itself (`sessions_named`).
pub fn named_file_links(
    session: &str,
    lines: &[LinkLine],
    paths: &[String],
    sessions_named: &HashSet<&str>,
) -> Vec<Link> {
    named_files(session, paths)
        .into_iter()
        .filter(|(_, stem)| !sessions_named.contains(stem))
        .map(|(path, stem)| Link {
            from: session.to_owned(),
            to: stem.to_owned(),
            kind: LinkKind::Resume,
            junction_uuid: lines
                .iter()
                .find(|l| l.path == path && l.kind.is_conversation() && !l.is_sidechain)
                .and_then(|l| l.parent_uuid.clone()),
        })
        .collect()
}

/// Decides which of two sessions sharing messages copied the other, and how.
pub fn copy_link(a: &str, a_lines: &[LinkLine], b: &str, b_lines: &[LinkLine]) -> Option<Link> {
    let a_uuids: HashSet<&str> = a_lines.iter().filter_map(|l| l.uuid.as_deref()).collect();
    let shared: HashSet<&str> = b_lines
        .iter()
        .filter_map(|l| l.uuid.as_deref())
        .filter(|u| a_uuids.contains(u))
        .collect();
    if shared.is_empty() {
        return None;
    }
    let is_shared = |l: &LinkLine| l.uuid.as_deref().is_some_and(|u| shared.contains(u));
    let marks = |lines: &[LinkLine], origin: &str| {
        lines
            .iter()
            .any(|l| is_shared(l) && l.request_session_id.as_deref() == Some(origin))
    };
    let opens_with_summary = |lines: &[LinkLine]| {
        lines.iter().any(|l| {
            l.kind == LineKind::Summary
                && l.leaf_uuid.as_deref().is_some_and(|u| shared.contains(u))
        })
    };
    let first_own = |lines: &[LinkLine]| {
        lines
            .iter()
            .filter(|l| l.kind.is_conversation() && !l.is_sidechain && !is_shared(l))
            .map(|l| l.timestamp_ms)
            .min()
    };
    let (fa, fb) = (first_own(a_lines), first_own(b_lines));
    // Lines of one session sitting in the file the other is named after: copies that kept the origin's id.
    let copied_into = |lines: &[LinkLine], other: &str| {
        lines
            .iter()
            .any(|l| l.kind.is_conversation() && file_stem(&l.path) == Some(other))
    };
    // (origin, copy, kind)
    let (origin, copy, kind) = if marks(b_lines, a) {
        (a, b, LinkKind::Fork)
    } else if marks(a_lines, b) {
        (b, a, LinkKind::Fork)
    } else if copied_into(a_lines, b) && !copied_into(b_lines, a) {
        (a, b, LinkKind::Fork)
    } else if copied_into(b_lines, a) && !copied_into(a_lines, b) {
        (b, a, LinkKind::Fork)
    } else if opens_with_summary(b_lines) && !opens_with_summary(a_lines) {
        (a, b, LinkKind::Resume)
    } else if opens_with_summary(a_lines) && !opens_with_summary(b_lines) {
        (b, a, LinkKind::Resume)
    } else {
        match (fa, fb) {
            (None, Some(_)) => (a, b, LinkKind::Resume),
            (Some(_), None) => (b, a, LinkKind::Resume),
            (Some(x), Some(y)) if y < x => (a, b, LinkKind::Fork),
            (Some(x), Some(y)) if x < y => (b, a, LinkKind::Fork),
            _ if a <= b => (a, b, LinkKind::Fork),
            _ => (b, a, LinkKind::Fork),
        }
    };
    let (copy_lines, origin_lines) = if copy == a {
        (a_lines, b_lines)
    } else {
        (b_lines, a_lines)
    };
    // The copy's first own message continues from the last copied one (which, in 2.0.x, may be a copy that
    // kept the origin's id, hence a line of the origin's).
    let junction = copy_lines
        .iter()
        .find(|l| l.kind.is_conversation() && !l.is_sidechain && !is_shared(l))
        .and_then(|l| l.parent_uuid.clone())
        .filter(|p| {
            shared.contains(p.as_str()) || origin_lines.iter().any(|l| l.uuid.as_deref() == Some(p))
        })
        .or_else(|| {
            copy_lines
                .iter()
                .rev()
                .find(|l| is_shared(l))
                .and_then(|l| l.uuid.clone())
        });
    Some(Link {
        from: origin.to_owned(),
        to: copy.to_owned(),
        kind,
        junction_uuid: junction,
    })
}

/// `/clear` starts a new id with no uuid link: `history.jsonl` logs the `/clear` under the old id and the next
/// prompt in the same project under the new one. `history`: [`LinkEvidenceSource::history_around`].
pub fn clear_links(session: &str, history: &[HistoryLine]) -> Vec<Link> {
    let mut links = Vec::new();
    for (i, line) in history.iter().enumerate() {
        let (Some(from), Some("/clear")) = (&line.session, line.display.as_deref().map(str::trim))
        else {
            continue;
        };
        let next = history[i + 1..]
            .iter()
            .find_map(|h| h.session.as_ref().filter(|s| *s != from));
        if let Some(to) = next {
            if from == session || to == session {
                links.push(Link {
                    from: from.clone(),
                    to: to.clone(),
                    kind: LinkKind::Clear,
                    junction_uuid: None,
                });
            }
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// An in-memory store of hand-made lines: `(session, line)` in the order they were stored, and
    /// `history.jsonl` lines with their project.
    #[derive(Default)]
    struct Files {
        lines: Vec<(String, LinkLine)>,
        history: Vec<(String, HistoryLine)>,
    }

    impl Files {
        fn file(mut self, path: &str, lines: Vec<(&str, LinkLine)>) -> Files {
            for (session, mut line) in lines {
                line.path = path.to_owned();
                self.lines.push((session.to_owned(), line));
            }
            self
        }

        fn history(mut self, project: &str, session: &str, display: &str) -> Files {
            self.history.push((
                project.to_owned(),
                HistoryLine {
                    session: Some(session.to_owned()),
                    display: Some(display.to_owned()),
                },
            ));
            self
        }

        fn of<'a>(&'a self, session: &'a str) -> impl Iterator<Item = &'a LinkLine> + 'a {
            self.lines
                .iter()
                .filter(move |(s, _)| s == session)
                .map(|(_, l)| l)
        }

        fn holds(&self, session: &str, uuid: &str) -> bool {
            self.of(session).any(|l| l.uuid.as_deref() == Some(uuid))
        }

        /// As the store's refresh decides ([`crate::is_session`]).
        fn is_session(&self, id: &str) -> bool {
            let main = self
                .of(id)
                .filter(|l| l.kind.is_conversation() && !l.is_sidechain)
                .count();
            let prompts = self
                .of(id)
                .filter(|l| {
                    l.is_sidechain
                        && l.root_prompt
                            .as_deref()
                            .is_some_and(|p| !is_warmup_prompt(p))
                })
                .count();
            crate::is_session(main as u64, prompts as u64)
        }

        fn root_parent<'a>(&'a self, id: &'a str) -> Option<&'a str> {
            let mut lines: Vec<&LinkLine> = self
                .of(id)
                .filter(|l| l.kind.is_conversation() && !l.is_sidechain)
                .collect();
            lines.sort_by_key(|l| l.timestamp_ms);
            lines.first()?.parent_uuid.as_deref()
        }

        fn ids(&self) -> BTreeSet<&str> {
            self.lines.iter().map(|(s, _)| s.as_str()).collect()
        }

        fn links(&self, session: &str) -> Vec<(String, String, LinkKind, Option<String>)> {
            session_links(self, session)
                .unwrap()
                .into_iter()
                .map(|l| (l.from, l.to, l.kind, l.junction_uuid))
                .collect()
        }
    }

    impl LinkEvidenceSource for Files {
        fn lines_of(&self, session: &str) -> Result<Vec<LinkLine>, StoreError> {
            let mut lines: Vec<LinkLine> = self.of(session).cloned().collect();
            lines.sort_by_key(|l| l.timestamp_ms);
            Ok(lines)
        }

        fn sessions_sharing_lines(&self, session: &str) -> Result<Vec<String>, StoreError> {
            let own: HashSet<&str> = self.of(session).filter_map(|l| l.uuid.as_deref()).collect();
            let sharing: BTreeSet<&str> = self
                .lines
                .iter()
                .filter(|(s, l)| s != session && l.uuid.as_deref().is_some_and(|u| own.contains(u)))
                .map(|(s, _)| s.as_str())
                .collect();
            Ok(sharing.into_iter().map(str::to_owned).collect())
        }

        fn sessions_holding(&self, uuid: &str) -> Result<Vec<String>, StoreError> {
            let holding: BTreeSet<&str> = self
                .lines
                .iter()
                .filter(|(_, l)| l.uuid.as_deref() == Some(uuid))
                .map(|(s, _)| s.as_str())
                .collect();
            Ok(holding.into_iter().map(str::to_owned).collect())
        }

        fn pointers_into(&self, session: &str) -> Result<Vec<IncomingPointer>, StoreError> {
            let own: HashSet<&str> = self.of(session).filter_map(|l| l.uuid.as_deref()).collect();
            let mut pointers = Vec::new();
            for (from, line) in self.lines.iter().filter(|(s, _)| s != session) {
                if let Some(uuid) = line
                    .logical_parent_uuid
                    .as_deref()
                    .filter(|u| own.contains(u))
                {
                    pointers.push((from.as_str(), uuid, Pointer::LogicalParent));
                }
            }
            for from in self
                .ids()
                .into_iter()
                .filter(|id| *id != session && self.is_session(id))
            {
                if let Some(uuid) = self.root_parent(from).filter(|u| own.contains(u)) {
                    pointers.push((from, uuid, Pointer::RootParent));
                }
            }
            Ok(pointers
                .into_iter()
                .map(|(from, uuid, via)| IncomingPointer {
                    from: from.to_owned(),
                    uuid: uuid.to_owned(),
                    via,
                    from_holds_uuid: self.holds(from, uuid),
                })
                .collect())
        }

        fn transcript_paths(&self, session: &str) -> Result<Vec<String>, StoreError> {
            let paths: BTreeSet<&str> = self.of(session).map(|l| l.path.as_str()).collect();
            Ok(paths.into_iter().map(str::to_owned).collect())
        }

        fn root_prompt(&self, uuid: &str) -> Result<Option<String>, StoreError> {
            Ok(self
                .lines
                .iter()
                .map(|(_, l)| l)
                .find(|l| {
                    l.uuid.as_deref() == Some(uuid)
                        && l.kind == LineKind::User
                        && l.parent_uuid.is_none()
                })
                .and_then(|l| l.root_prompt.clone()))
        }

        fn id_facts(&self, id: &str) -> Result<IdFacts, StoreError> {
            Ok(IdFacts {
                is_session: self.is_session(id),
                has_conversation: self.of(id).any(|l| l.kind.is_conversation()),
            })
        }

        fn history_around(&self, session: &str) -> Result<Vec<HistoryLine>, StoreError> {
            let projects: HashSet<&str> = self
                .history
                .iter()
                .filter(|(_, h)| h.session.as_deref() == Some(session))
                .map(|(p, _)| p.as_str())
                .collect();
            Ok(self
                .history
                .iter()
                .filter(|(p, _)| projects.contains(p.as_str()))
                .map(|(_, h)| h.clone())
                .collect())
        }
    }

    fn line(kind: LineKind, uuid: &str, parent: Option<&str>, minute: i64) -> LinkLine {
        LinkLine {
            uuid: Some(uuid.to_owned()),
            parent_uuid: parent.map(str::to_owned),
            kind,
            timestamp_ms: minute * 60_000,
            root_prompt: (kind == LineKind::User && parent.is_none()).then(|| "hi".to_owned()),
            ..LinkLine::default()
        }
    }

    fn user(uuid: &str, parent: Option<&str>, minute: i64) -> LinkLine {
        line(LineKind::User, uuid, parent, minute)
    }

    fn assistant(uuid: &str, parent: Option<&str>, minute: i64) -> LinkLine {
        line(LineKind::Assistant, uuid, parent, minute)
    }

    fn sidechain(mut line: LinkLine) -> LinkLine {
        line.is_sidechain = true;
        line
    }

    fn prompt(mut line: LinkLine, text: &str) -> LinkLine {
        line.root_prompt = Some(text.to_owned());
        line
    }

    /// A conversation of two messages, `a1` and `a2`, under `session`.
    fn origin(session: &str) -> Vec<(&str, LinkLine)> {
        vec![
            (session, user("a1", None, 0)),
            (session, assistant("a2", Some("a1"), 1)),
        ]
    }

    fn link(
        from: &str,
        to: &str,
        kind: LinkKind,
        junction: Option<&str>,
    ) -> (String, String, LinkKind, Option<String>) {
        (
            from.to_owned(),
            to.to_owned(),
            kind,
            junction.map(str::to_owned),
        )
    }

    /// The links of every id, each found from both ends.
    fn all_links(files: &Files) -> BTreeSet<(String, String, LinkKind, Option<String>)> {
        let mut by_side: BTreeMap<&str, Vec<_>> = BTreeMap::new();
        for id in files.ids() {
            by_side.insert(id, files.links(id));
        }
        let mut all = BTreeSet::new();
        for (side, links) in &by_side {
            for l in links {
                for end in [&l.0, &l.1] {
                    if let Some(other) = by_side.get(end.as_str()) {
                        assert!(
                            other.contains(l),
                            "{l:?} found from {side} but not from {end}"
                        );
                    }
                }
                all.insert(l.clone());
            }
        }
        all
    }

    #[test]
    fn a_replayed_prefix_without_new_messages_in_the_origin_is_a_resume() {
        let files = Files::default().file("p/old.jsonl", origin("old")).file(
            "p/new.jsonl",
            [origin("new"), vec![("new", user("n3", Some("a2"), 5))]].concat(),
        );
        assert_eq!(
            all_links(&files),
            BTreeSet::from([link("old", "new", LinkKind::Resume, Some("a2"))])
        );
    }

    #[test]
    fn a_replayed_prefix_opened_by_a_summary_of_its_leaf_is_a_resume() {
        // The origin went on after the copy was made, which alone would make the copy a fork.
        let mut summary = LinkLine {
            kind: LineKind::Summary,
            leaf_uuid: Some("a2".to_owned()),
            ..LinkLine::default()
        };
        summary.timestamp_ms = 0;
        let files = Files::default()
            .file(
                "p/old.jsonl",
                [origin("old"), vec![("old", user("o3", Some("a2"), 9))]].concat(),
            )
            .file(
                "p/new.jsonl",
                [
                    vec![("new", summary)],
                    origin("new"),
                    vec![("new", user("n3", Some("a2"), 5))],
                ]
                .concat(),
            );
        assert_eq!(
            all_links(&files),
            BTreeSet::from([link("old", "new", LinkKind::Resume, Some("a2"))])
        );
    }

    #[test]
    fn a_first_line_continuing_another_session_is_a_resume_found_from_both_ends() {
        let files = Files::default()
            .file("p/old.jsonl", origin("old"))
            .file("p/new.jsonl", vec![("new", user("n1", Some("a2"), 5))]);
        assert_eq!(
            all_links(&files),
            BTreeSet::from([link("old", "new", LinkKind::Resume, Some("a2"))])
        );
    }

    #[test]
    fn shared_messages_with_new_ones_on_both_sides_are_a_fork_from_the_side_that_went_on_later() {
        let files = Files::default()
            .file(
                "p/orig.jsonl",
                [origin("orig"), vec![("orig", user("o3", Some("a2"), 9))]].concat(),
            )
            .file(
                "p/frk.jsonl",
                [origin("frk"), vec![("frk", user("f1", Some("a2"), 5))]].concat(),
            );
        assert_eq!(
            all_links(&files),
            BTreeSet::from([link("orig", "frk", LinkKind::Fork, Some("a2"))])
        );
    }

    #[test]
    fn copies_naming_their_origin_in_request_session_id_make_a_fork_from_it() {
        // 2.1.330+. By time alone `frk` would be the origin: its own message comes after the origin's.
        let marked = |mut l: LinkLine| {
            l.request_session_id = Some("orig".to_owned());
            l
        };
        let files = Files::default()
            .file(
                "p/orig.jsonl",
                [origin("orig"), vec![("orig", user("o3", Some("a2"), 3))]].concat(),
            )
            .file(
                "p/frk.jsonl",
                vec![
                    ("frk", marked(user("a1", None, 0))),
                    ("frk", marked(assistant("a2", Some("a1"), 1))),
                    ("frk", user("f1", Some("a2"), 9)),
                ],
            );
        assert_eq!(
            all_links(&files),
            BTreeSet::from([link("orig", "frk", LinkKind::Fork, Some("a2"))])
        );
    }

    #[test]
    fn copies_keeping_the_origin_session_id_in_the_fork_file_make_a_fork_from_it() {
        // 2.0.x: the copied user lines keep the origin's id, the copied assistant lines take the fork's; the
        // origin went on before the fork was made, and the fork continues from such a copy.
        let files = Files::default()
            .file(
                "p/orig.jsonl",
                [origin("orig"), vec![("orig", user("o3", Some("a2"), 3))]].concat(),
            )
            .file(
                "p/frk.jsonl",
                vec![
                    ("orig", user("a1", None, 0)),
                    ("frk", assistant("a2", Some("a1"), 1)),
                    ("orig", user("o3", Some("a2"), 3)),
                    ("frk", user("f1", Some("o3"), 5)),
                ],
            );
        assert_eq!(
            all_links(&files),
            BTreeSet::from([link("orig", "frk", LinkKind::Fork, Some("o3"))])
        );
    }

    #[test]
    fn a_compaction_boundary_pointing_into_another_session_links_them_from_both_ends() {
        let boundary = LinkLine {
            uuid: Some("n0".to_owned()),
            logical_parent_uuid: Some("a2".to_owned()),
            timestamp_ms: 600_000,
            ..LinkLine::default()
        };
        let files = Files::default().file("p/old.jsonl", origin("old")).file(
            "p/new.jsonl",
            vec![("new", boundary), ("new", user("n1", Some("n0"), 11))],
        );
        assert_eq!(
            all_links(&files),
            BTreeSet::from([link("old", "new", LinkKind::Compaction, Some("a2"))])
        );
    }

    #[test]
    fn a_compaction_boundary_pointing_into_no_indexed_file_is_a_dangling_link() {
        let boundary = LinkLine {
            uuid: Some("n0".to_owned()),
            logical_parent_uuid: Some("gone".to_owned()),
            ..LinkLine::default()
        };
        let files = Files::default().file(
            "p/late.jsonl",
            vec![("late", boundary), ("late", user("n1", Some("n0"), 1))],
        );
        assert_eq!(
            files.links("late"),
            vec![link(
                UNKNOWN_SESSION,
                "late",
                LinkKind::Compaction,
                Some("gone")
            )]
        );
    }

    #[test]
    fn a_pointer_into_a_line_the_pointing_session_holds_too_is_no_link() {
        let pointers = [
            IncomingPointer {
                from: "copy".to_owned(),
                uuid: "a2".to_owned(),
                via: Pointer::LogicalParent,
                from_holds_uuid: true,
            },
            IncomingPointer {
                from: "next".to_owned(),
                uuid: "a2".to_owned(),
                via: Pointer::LogicalParent,
                from_holds_uuid: false,
            },
        ];
        let links = incoming_links("old", &pointers, &HashSet::new());
        assert_eq!(links.len(), 1);
        assert_eq!(
            (links[0].to.as_str(), links[0].kind),
            ("next", LinkKind::Compaction)
        );
    }

    #[test]
    fn a_subagent_transcript_links_from_the_line_that_spawned_it() {
        let mut report = user("p3", Some("p2"), 2);
        report.spawned_agent_id = Some("abc123".to_owned());
        let files = Files::default()
            .file(
                "p/par.jsonl",
                vec![
                    ("par", user("p1", None, 0)),
                    ("par", assistant("p2", Some("p1"), 1)),
                    ("par", report),
                ],
            )
            .file(
                "p/par/subagents/agent-abc123.jsonl",
                vec![(
                    "par",
                    prompt(sidechain(user("s1", None, 1)), "find the bug"),
                )],
            );
        assert_eq!(
            files.links("par"),
            vec![link("par", "agent-abc123", LinkKind::Subagent, Some("p2"))]
        );
    }

    #[test]
    fn inline_sidechain_lines_are_a_subagent_of_their_own_session() {
        // 1.x wrote subagents' lines into the parent's file.
        let files = Files::default().file(
            "p/par.jsonl",
            [
                origin("par"),
                vec![
                    ("par", sidechain(user("s1", None, 2))),
                    ("par", sidechain(assistant("s2", Some("s1"), 3))),
                ],
            ]
            .concat(),
        );
        assert_eq!(
            files.links("par"),
            vec![link("par", "par", LinkKind::Subagent, None)]
        );
    }

    #[test]
    fn warmup_sidechains_make_no_subagent_no_session_and_no_link() {
        // 2.0.x start-up: Warmup transcripts under the start-up id, one switching to the resumed session's id
        // on its reply.
        let files = Files::default()
            .file(
                "p/res.jsonl",
                [origin("res"), vec![("res", user("r3", Some("a2"), 6))]].concat(),
            )
            .file(
                "p/agent-w1.jsonl",
                vec![
                    ("tmp1", prompt(sidechain(user("w1", None, 5)), "Warmup")),
                    ("res", sidechain(assistant("w2", Some("w1"), 5))),
                ],
            )
            .file(
                "p/agent-w3.jsonl",
                vec![
                    ("tmp2", prompt(sidechain(user("w3", None, 7)), "Warmup")),
                    ("tmp2", sidechain(assistant("w4", Some("w3"), 7))),
                ],
            );
        assert_eq!(all_links(&files), BTreeSet::new());
        // The same transcript asked for by a tool is a subagent.
        let files = Files::default().file("p/res.jsonl", origin("res")).file(
            "p/agent-w1.jsonl",
            vec![(
                "res",
                prompt(sidechain(user("w1", None, 5)), "Warm up the cache"),
            )],
        );
        assert_eq!(
            files.links("res"),
            vec![link("res", "agent-w1", LinkKind::Subagent, None)]
        );
    }

    #[test]
    fn a_file_named_by_another_id_holding_this_sessions_lines_is_a_resume_target() {
        // 1.0.x resumed into a new file whose lines keep the old id.
        let named = "0b7c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3";
        let path = format!("p/{named}.jsonl");
        let files = Files::default().file("p/old.jsonl", origin("old")).file(
            &path,
            vec![
                ("old", user("r1", Some("a2"), 5)),
                ("old", assistant("r2", Some("r1"), 6)),
            ],
        );
        assert_eq!(
            files.links("old"),
            vec![link("old", named, LinkKind::Resume, Some("a2"))]
        );
        // Unless that id is a session of its own.
        let files = files.file(&path, vec![(named, user("x1", None, 7))]);
        assert!(files.links("old").iter().all(|l| l.1 != named));
    }

    #[test]
    fn clear_in_history_links_the_cleared_session_to_the_next_in_its_project() {
        let files = Files::default()
            .file("p/one.jsonl", origin("one"))
            .file("p/two.jsonl", vec![("two", user("t1", None, 7))])
            .file("q/other.jsonl", vec![("other", user("x1", None, 6))])
            .history("/w/p", "one", "hello")
            .history("/w/p", "one", " /clear ")
            .history("/w/q", "other", "elsewhere")
            .history("/w/p", "two", "next");
        assert_eq!(
            all_links(&files),
            BTreeSet::from([link("one", "two", LinkKind::Clear, None)])
        );
    }

    #[test]
    fn link_kinds_read_and_sort_as_their_text() {
        let mut by_text = LinkKind::ALL;
        by_text.sort_by_key(|k| k.as_str());
        assert_eq!(
            by_text,
            LinkKind::ALL,
            "declared in the order of their names"
        );
        for kind in LinkKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
            assert_eq!(LinkKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(format!("{:<10}|", LinkKind::Fork), "fork      |");
        assert_eq!(LinkKind::parse("Fork"), None);
    }
}
