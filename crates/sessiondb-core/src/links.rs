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

/// A line's `type`, as far as link rules tell them apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LineKind {
    User,
    Assistant,
    Summary,
    /// Anything else (`system`, `progress`, markers, …).
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
            _ => LineKind::Other,
        }
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
