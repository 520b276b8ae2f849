//! The evidence link rules read, fetched from the database (`sessiondb_core::links` holds the rules): a
//! session's lines, the sessions sharing or holding a uuid, the pointers into a session, its transcript files,
//! what the store knows of an id, and the `history.jsonl` lines of its projects. Every lookup of a line by uuid
//! goes through `entry_uuids` (`same_uuid!`), so a session's links cost a few indexed lookups.

use crate::backend;
use rusqlite::{Connection, OptionalExtension};
use sessiondb_core::links::{
    HistoryLine, IdFacts, IncomingPointer, LineKind, LinkEvidenceSource, LinkLine, Pointer,
};
use sessiondb_core::{Link, StoreError};

/// Every link of `session` to another session or subagent, both directions (`sessiondb_core::session_links`
/// over this database).
pub(crate) fn session_links(conn: &Connection, session: &str) -> Result<Vec<Link>, StoreError> {
    sessiondb_core::session_links(&Evidence(conn), session)
}

/// The link evidence of one database, fetched on demand.
struct Evidence<'a>(&'a Connection);

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

/// Other sessions pointing into `?1`: their compaction boundaries (`1` in the third column) and root parents
/// (`0`) that are lines of `?1`, and whether the pointing session holds that line too.
pub(crate) const SESSIONS_POINTING_INTO_SQL: &str = concat!(
    "SELECT DISTINCT e.session_key, e.logical_parent_uuid, 1, EXISTS (SELECT 1 FROM entries c WHERE ",
    same_uuid!("c", "e.logical_parent_uuid"),
    " AND c.session_key = e.session_key) FROM entries e
                JOIN entries p ON ",
    same_uuid!("p", "e.logical_parent_uuid"),
    " WHERE e.logical_parent_uuid IS NOT NULL AND p.session_key = ?1 AND e.session_key <> ?1
             UNION
             SELECT DISTINCT s.session_key, s.root_parent_uuid, 0, EXISTS (SELECT 1 FROM entries c WHERE ",
    same_uuid!("c", "s.root_parent_uuid"),
    " AND c.session_key = s.session_key) FROM sessions s
                JOIN entries p ON ",
    same_uuid!("p", "s.root_parent_uuid"),
    " WHERE p.session_key = ?1 AND s.session_key <> ?1"
);

impl LinkEvidenceSource for Evidence<'_> {
    fn lines_of(&self, session: &str) -> Result<Vec<LinkLine>, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT e.uuid, e.parent_uuid, e.logical_parent_uuid, e.leaf_uuid, e.kind,
                        COALESCE(e.timestamp_ms, 0), e.request_session_id, e.spawned_agent_id, e.is_sidechain,
                        f.path, CASE WHEN e.kind = 'user' AND e.parent_uuid IS NULL THEN e.text END
                 FROM entries e JOIN files f ON f.id = e.file_id
                 WHERE e.session_key = ?1 ORDER BY e.timestamp_ms, e.id",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([session], |row| {
                Ok(LinkLine {
                    uuid: row.get(0)?,
                    parent_uuid: row.get(1)?,
                    logical_parent_uuid: row.get(2)?,
                    leaf_uuid: row.get(3)?,
                    kind: LineKind::from_type(row.get_ref(4)?.as_str()?),
                    timestamp_ms: row.get(5)?,
                    request_session_id: row.get(6)?,
                    spawned_agent_id: row.get(7)?,
                    is_sidechain: row.get::<_, i64>(8)? != 0,
                    path: row.get(9)?,
                    root_prompt: row.get(10)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn sessions_sharing_lines(&self, session: &str) -> Result<Vec<String>, StoreError> {
        strings(self.0, SESSIONS_SHARING_LINES_SQL, session)
    }

    fn sessions_holding(&self, uuid: &str) -> Result<Vec<String>, StoreError> {
        strings(self.0, SESSIONS_HOLDING_UUID_SQL, uuid)
    }

    fn pointers_into(&self, session: &str) -> Result<Vec<IncomingPointer>, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(SESSIONS_POINTING_INTO_SQL)
            .map_err(backend)?;
        let rows = stmt
            .query_map([session], |row| {
                Ok((
                    row.get::<_, Option<String>>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, bool>(2)?,
                    row.get::<_, bool>(3)?,
                ))
            })
            .map_err(backend)?;
        let mut pointers = Vec::new();
        for row in rows {
            let (from, uuid, logical, from_holds_uuid) = row.map_err(backend)?;
            let Some(from) = from else { continue };
            pointers.push(IncomingPointer {
                from,
                uuid,
                via: if logical {
                    Pointer::LogicalParent
                } else {
                    Pointer::RootParent
                },
                from_holds_uuid,
            });
        }
        Ok(pointers)
    }

    fn transcript_paths(&self, session: &str) -> Result<Vec<String>, StoreError> {
        strings(
            self.0,
            "SELECT f.path FROM session_files sf JOIN files f ON f.id = sf.file_id
             WHERE sf.session_key = ?1 AND f.kind = 'transcript' ORDER BY f.path",
            session,
        )
    }

    fn root_prompt(&self, uuid: &str) -> Result<Option<String>, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(concat!(
                "SELECT text FROM entries WHERE ",
                same_uuid!("entries", "?1"),
                " AND kind = 'user' AND parent_uuid IS NULL LIMIT 1"
            ))
            .map_err(backend)?;
        Ok(stmt
            .query_row([uuid], |row| row.get::<_, Option<String>>(0))
            .optional()
            .map_err(backend)?
            .flatten())
    }

    fn id_facts(&self, id: &str) -> Result<IdFacts, StoreError> {
        self.0
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sessions WHERE session_key = ?1),
                        EXISTS (SELECT 1 FROM entries WHERE session_key = ?1 AND kind IN ('user', 'assistant'))",
                [id],
                |row| {
                    Ok(IdFacts {
                        is_session: row.get(0)?,
                        has_conversation: row.get(1)?,
                    })
                },
            )
            .map_err(backend)
    }

    fn history_around(&self, session: &str) -> Result<Vec<HistoryLine>, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT h.session_key, h.display FROM history h
                 WHERE h.project IN (SELECT project FROM history WHERE session_key = ?1)
                 ORDER BY h.timestamp_ms, h.id",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([session], |row| {
                Ok(HistoryLine {
                    session: row.get(0)?,
                    display: row.get(1)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }
}
