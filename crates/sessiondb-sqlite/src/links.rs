//! Links between sessions, rebuilt from the lines: copied prefixes (resume into a new id, fork), first lines
//! that continue another session, compaction boundaries pointing into another session, subagent transcripts,
//! and `/clear` in `history.jsonl`.
//!
//! Which side of a copied prefix is the copy: lines copied by 2.1.330+ carry `requestSessionId` (the origin);
//! old versions start a resumed file with a `summary` whose leaf is the last replayed message; otherwise a fork
//! copies the whole conversation so far, so the copy's own first message comes before any message the origin
//! added after the copied part; 2.0.x keeps the origin's `sessionId` on the copied user lines, so lines of the
//! origin sitting in the file named by the other session make that one the copy.
//!
//! Only sessions are linked (`sessiondb_core::is_session`): an id carried only by start-up Warmup sidechains
//! (2.0.x) is not one, and Warmup transcripts are not subagents a user spawned.

use crate::backend;
use rusqlite::{params, Connection, OptionalExtension};
use sessiondb_core::{Link, StoreError};
use std::collections::{BTreeSet, HashSet};

/// The `from` of a dangling link: the session it continues was never indexed.
pub const UNKNOWN_SESSION: &str = "unknown";

/// The fields of one line that link rules look at.
struct Line {
    uuid: Option<String>,
    parent_uuid: Option<String>,
    logical_parent_uuid: Option<String>,
    leaf_uuid: Option<String>,
    kind: String,
    timestamp_ms: i64,
    request_session_id: Option<String>,
    spawned_agent_id: Option<String>,
    is_sidechain: bool,
    in_agent_file: bool,
    path: String,
}

impl Line {
    fn is_conversation(&self) -> bool {
        self.kind == "user" || self.kind == "assistant"
    }
}

fn is_agent_file(path: &str) -> bool {
    std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("agent-") && n.ends_with(".jsonl"))
}

fn lines_of(conn: &Connection, session: &str) -> Result<Vec<Line>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT e.uuid, e.parent_uuid, e.logical_parent_uuid, e.leaf_uuid, e.kind,
                    COALESCE(e.timestamp_ms, 0), e.request_session_id, e.spawned_agent_id, e.is_sidechain, f.path
             FROM entries e JOIN files f ON f.id = e.file_id
             WHERE e.session_key = ?1 ORDER BY e.timestamp_ms, e.id",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([session], |row| {
            Ok(Line {
                uuid: row.get(0)?,
                parent_uuid: row.get(1)?,
                logical_parent_uuid: row.get(2)?,
                leaf_uuid: row.get(3)?,
                kind: row.get(4)?,
                timestamp_ms: row.get(5)?,
                request_session_id: row.get(6)?,
                spawned_agent_id: row.get(7)?,
                is_sidechain: row.get::<_, i64>(8)? != 0,
                in_agent_file: is_agent_file(&row.get::<_, String>(9)?),
                path: row.get(9)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

fn strings(conn: &Connection, sql: &str, arg: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let rows = stmt.query_map([arg], |row| row.get(0)).map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

/// Sessions holding a copy of one of `?1`'s lines (the same uuid).
pub(crate) const SESSIONS_SHARING_LINES_SQL: &str = concat!(
    "SELECT DISTINCT o.session_key FROM entries e JOIN entries o ON ",
    same_uuid!("o", "e.uuid"),
    " WHERE e.session_key = ?1 AND e.uuid IS NOT NULL AND o.session_key IS NOT NULL
       AND o.session_key <> ?1"
);

/// Sessions holding the line with uuid `?1`.
pub(crate) const SESSIONS_HOLDING_UUID_SQL: &str = concat!(
    "SELECT DISTINCT session_key FROM entries WHERE ",
    same_uuid!("entries", "?1"),
    " AND session_key IS NOT NULL"
);

/// Other sessions pointing into `?1`: compaction boundaries, and sessions whose first line continues it.
pub(crate) const SESSIONS_POINTING_INTO_SQL: &str = concat!(
    "SELECT DISTINCT e.session_key, e.logical_parent_uuid, 'compaction' FROM entries e
                JOIN entries p ON ",
    same_uuid!("p", "e.logical_parent_uuid"),
    " WHERE e.logical_parent_uuid IS NOT NULL AND p.session_key = ?1 AND e.session_key <> ?1
               AND NOT EXISTS (SELECT 1 FROM entries c WHERE ",
    same_uuid!("c", "e.logical_parent_uuid"),
    " AND c.session_key = e.session_key)
             UNION
             SELECT DISTINCT s.session_key, s.root_parent_uuid, 'resume' FROM sessions s
                JOIN entries p ON ",
    same_uuid!("p", "s.root_parent_uuid"),
    " WHERE p.session_key = ?1 AND s.session_key <> ?1
               AND NOT EXISTS (SELECT 1 FROM entries c WHERE ",
    same_uuid!("c", "s.root_parent_uuid"),
    " AND c.session_key = s.session_key)"
);

/// Every link of `session` to another session or subagent, both directions.
pub(crate) fn session_links(conn: &Connection, session: &str) -> Result<Vec<Link>, StoreError> {
    let lines = lines_of(conn, session)?;
    let own: HashSet<&str> = lines.iter().filter_map(|l| l.uuid.as_deref()).collect();
    let mut links = BTreeSet::new();

    // Sessions sharing messages with this one: a copied prefix.
    let sharing = strings(conn, SESSIONS_SHARING_LINES_SQL, session)?;
    let mut copied_from_or_to: HashSet<String> = HashSet::new();
    for other in &sharing {
        let other_lines = lines_of(conn, other)?;
        if let Some(link) = copy_link(session, &lines, other, &other_lines) {
            links.insert(link);
        }
        copied_from_or_to.insert(other.clone());
    }

    // This session's lines pointing into another one (not into a copy of its own messages).
    for line in &lines {
        // A sidechain line's parent is in its own sidechain: 2.0.x Warmup transcripts switch ids between
        // their two lines (start-up id, then the resumed session's), which is not a resume.
        if line.is_sidechain {
            continue;
        }
        for (pointer, kind) in [
            (&line.parent_uuid, "resume"),
            (&line.logical_parent_uuid, "compaction"),
        ] {
            let Some(pointer) = pointer.as_deref() else {
                continue;
            };
            if own.contains(pointer) {
                continue;
            }
            let owners = strings(conn, SESSIONS_HOLDING_UUID_SQL, pointer)?;
            if owners.is_empty() && kind == "compaction" {
                // Dangling: the message it continues is in no indexed file (deleted before it was seen).
                // (A `parentUuid` with no owner is usually a line that was skipped as malformed: not a link.)
                links.insert(Link {
                    from: UNKNOWN_SESSION.to_owned(),
                    to: session.to_owned(),
                    kind: kind.to_owned(),
                    junction_uuid: Some(pointer.to_owned()),
                });
            }
            for owner in owners.into_iter().filter(|o| o != session) {
                if kind == "resume" && copied_from_or_to.contains(&owner) {
                    continue;
                }
                links.insert(Link {
                    from: owner,
                    to: session.to_owned(),
                    kind: kind.to_owned(),
                    junction_uuid: Some(pointer.to_owned()),
                });
            }
        }
    }

    // Other sessions pointing into this one: compaction boundaries, and sessions whose first line continues it.
    let mut stmt = conn
        .prepare_cached(SESSIONS_POINTING_INTO_SQL)
        .map_err(backend)?;
    let incoming = stmt
        .query_map([session], |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .map_err(backend)?;
    for row in incoming {
        let (other, junction, kind) = row.map_err(backend)?;
        let Some(other) = other else { continue };
        if kind == "resume" && copied_from_or_to.contains(&other) {
            continue;
        }
        links.insert(Link {
            from: session.to_owned(),
            to: other,
            kind,
            junction_uuid: Some(junction),
        });
    }

    // Subagents: their own transcripts, or sidechain lines inline in the parent's file (1.x).
    let agent_files = strings(
        conn,
        "SELECT f.path FROM session_files sf JOIN files f ON f.id = sf.file_id
         WHERE sf.session_key = ?1 AND f.kind = 'transcript' ORDER BY f.path",
        session,
    )?;
    for path in agent_files.iter().filter(|p| is_agent_file(p)) {
        let Some(stem) = std::path::Path::new(path)
            .file_stem()
            .and_then(|s| s.to_str())
        else {
            continue;
        };
        if is_warmup_file(conn, session, path)? {
            continue;
        }
        let agent_id = stem.trim_start_matches("agent-");
        // The tool result that reports the agent sits under the assistant line that spawned it.
        let junction = lines
            .iter()
            .find(|l| l.spawned_agent_id.as_deref() == Some(agent_id) && !l.in_agent_file)
            .and_then(|l| l.parent_uuid.clone());
        links.insert(Link {
            from: session.to_owned(),
            to: stem.to_owned(),
            kind: "subagent".into(),
            junction_uuid: junction,
        });
    }
    if lines
        .iter()
        .any(|l| l.is_sidechain && !l.in_agent_file && l.is_conversation())
    {
        links.insert(Link {
            from: session.to_owned(),
            to: session.to_owned(),
            kind: "subagent".into(),
            junction_uuid: None,
        });
    }

    // A transcript named by another id whose lines keep this session's id (1.0.x resumed into a new file,
    // 2.0.x `--continue`): `claude --resume <that name>` loads it, so it is a resume target of its own.
    let mut named_files: Vec<&str> = agent_files
        .iter()
        .filter(|p| !is_agent_file(p))
        .map(String::as_str)
        .collect();
    named_files.dedup();
    for path in named_files {
        let Some(stem) = std::path::Path::new(path)
            .file_stem()
            .and_then(|s| s.to_str())
        else {
            continue;
        };
        if stem == session || !looks_like_uuid(stem) {
            continue;
        }
        let stem_is_a_session: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sessions WHERE session_key = ?1)",
                [stem],
                |row| row.get(0),
            )
            .map_err(backend)?;
        if stem_is_a_session {
            continue;
        }
        let junction = lines
            .iter()
            .find(|l| l.path == path && l.is_conversation() && !l.is_sidechain)
            .and_then(|l| l.parent_uuid.clone());
        links.insert(Link {
            from: session.to_owned(),
            to: stem.to_owned(),
            kind: "resume".into(),
            junction_uuid: junction,
        });
    }

    for link in clear_links(conn, session)? {
        links.insert(link);
    }
    let mut kept = Vec::with_capacity(links.len());
    for link in links {
        if !is_not_a_session(conn, &link.from)? && !is_not_a_session(conn, &link.to)? {
            kept.push(link);
        }
    }
    Ok(kept)
}

/// An id with conversation lines but no session: one that only start-up sidechains carry (see
/// `sessiondb_core::is_session`). A file stem whose lines keep another session's id (1.0.x, 2.0.x resumed into
/// a new file) has at most `summary` lines of its own and stays a link end.
fn is_not_a_session(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM entries WHERE session_key = ?1 AND kind IN ('user', 'assistant'))
            AND NOT EXISTS (SELECT 1 FROM sessions WHERE session_key = ?1)",
        [id],
        |row| row.get(0),
    )
    .map_err(backend)
}

/// Whether the agent transcript at `path` is a start-up Warmup sidechain (2.0.x writes two at every start):
/// its first prompt is `Warmup`, asked by no tool call. That prompt may carry another id than `session`'s (the
/// start-up id), so it is found through the parent of `session`'s first line in the file.
fn is_warmup_file(conn: &Connection, session: &str, path: &str) -> Result<bool, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT e.kind, e.parent_uuid, e.text FROM entries e JOIN files f ON f.id = e.file_id
             WHERE e.session_key = ?1 AND f.path = ?2 ORDER BY e.timestamp_ms, e.id LIMIT 1",
        )
        .map_err(backend)?;
    let first: Option<(String, Option<String>, Option<String>)> = stmt
        .query_row([session, path], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()
        .map_err(backend)?;
    let prompt = match first {
        Some((kind, None, text)) if kind == "user" => text,
        Some((_, Some(parent), _)) => {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT text FROM entries WHERE ",
                    same_uuid!("entries", "?1"),
                    " AND kind = 'user' AND parent_uuid IS NULL LIMIT 1"
                ))
                .map_err(backend)?;
            stmt.query_row([parent], |row| row.get::<_, Option<String>>(0))
                .optional()
                .map_err(backend)?
                .flatten()
        }
        _ => None,
    };
    Ok(prompt
        .as_deref()
        .is_some_and(sessiondb_core::is_warmup_prompt))
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

fn file_stem(path: &str) -> Option<&str> {
    std::path::Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
}

/// Decides which of two sessions sharing messages copied the other, and how.
fn copy_link(a: &str, a_lines: &[Line], b: &str, b_lines: &[Line]) -> Option<Link> {
    let a_uuids: HashSet<&str> = a_lines.iter().filter_map(|l| l.uuid.as_deref()).collect();
    let shared: HashSet<&str> = b_lines
        .iter()
        .filter_map(|l| l.uuid.as_deref())
        .filter(|u| a_uuids.contains(u))
        .collect();
    if shared.is_empty() {
        return None;
    }
    let is_shared = |l: &Line| l.uuid.as_deref().is_some_and(|u| shared.contains(u));
    let marks = |lines: &[Line], origin: &str| {
        lines
            .iter()
            .any(|l| is_shared(l) && l.request_session_id.as_deref() == Some(origin))
    };
    let opens_with_summary = |lines: &[Line]| {
        lines.iter().any(|l| {
            l.kind == "summary" && l.leaf_uuid.as_deref().is_some_and(|u| shared.contains(u))
        })
    };
    let first_own = |lines: &[Line]| {
        lines
            .iter()
            .filter(|l| l.is_conversation() && !l.is_sidechain && !is_shared(l))
            .map(|l| l.timestamp_ms)
            .min()
    };
    let (fa, fb) = (first_own(a_lines), first_own(b_lines));
    // Lines of one session sitting in the file the other is named after: copies that kept the origin's id.
    let copied_into = |lines: &[Line], other: &str| {
        lines
            .iter()
            .any(|l| l.is_conversation() && file_stem(&l.path) == Some(other))
    };
    // (origin, copy, kind)
    let (origin, copy, kind) = if marks(b_lines, a) {
        (a, b, "fork")
    } else if marks(a_lines, b) {
        (b, a, "fork")
    } else if copied_into(a_lines, b) && !copied_into(b_lines, a) {
        (a, b, "fork")
    } else if copied_into(b_lines, a) && !copied_into(a_lines, b) {
        (b, a, "fork")
    } else if opens_with_summary(b_lines) && !opens_with_summary(a_lines) {
        (a, b, "resume")
    } else if opens_with_summary(a_lines) && !opens_with_summary(b_lines) {
        (b, a, "resume")
    } else {
        match (fa, fb) {
            (None, Some(_)) => (a, b, "resume"),
            (Some(_), None) => (b, a, "resume"),
            (Some(x), Some(y)) if y < x => (a, b, "fork"),
            (Some(x), Some(y)) if x < y => (b, a, "fork"),
            _ if a <= b => (a, b, "fork"),
            _ => (b, a, "fork"),
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
        .find(|l| l.is_conversation() && !l.is_sidechain && !is_shared(l))
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
        kind: kind.to_owned(),
        junction_uuid: junction,
    })
}

/// `/clear` starts a new id with no uuid link: `history.jsonl` logs the `/clear` under the old id and the next
/// prompt in the same project under the new one.
fn clear_links(conn: &Connection, session: &str) -> Result<Vec<Link>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT h.session_key, h.display FROM history h
             WHERE h.project IN (SELECT project FROM history WHERE session_key = ?1)
             ORDER BY h.timestamp_ms, h.id",
        )
        .map_err(backend)?;
    let rows: Vec<(Option<String>, Option<String>)> = stmt
        .query_map(params![session], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    let mut links = Vec::new();
    for (i, (from, display)) in rows.iter().enumerate() {
        let (Some(from), Some("/clear")) = (from, display.as_deref().map(str::trim)) else {
            continue;
        };
        let next = rows[i + 1..]
            .iter()
            .find_map(|(s, _)| s.as_ref().filter(|s| *s != from));
        if let Some(to) = next {
            if from == session || to == session {
                links.push(Link {
                    from: from.clone(),
                    to: to.clone(),
                    kind: "clear".into(),
                    junction_uuid: None,
                });
            }
        }
    }
    Ok(links)
}
