//! The registry's tables: each app key's current session, and the audit log of every transition.

use crate::backend;
use crate::query::iso;
use rusqlite::{params, Connection, OptionalExtension, Row};
use sessiondb_core::{StoreError, Transition};

fn transition_from_row(row: &Row<'_>) -> rusqlite::Result<Transition> {
    Ok(Transition {
        id: row.get(0)?,
        key: row.get(1)?,
        previous_session_id: row.get(2)?,
        session_id: row.get(3)?,
        source: row.get(4)?,
        note: row.get(5)?,
        recorded_at: iso(Some(row.get(6)?)).unwrap_or_default(),
    })
}

const COLUMNS: &str = "id, key, previous_session_id, session_id, source, note, recorded_ms";

pub(crate) fn record_transition(
    conn: &mut Connection,
    key: &str,
    session_id: &str,
    source: &str,
    note: Option<&str>,
    at_ms: i64,
) -> Result<Transition, StoreError> {
    // IMMEDIATE takes the write lock before reading the head, so two writers cannot read the same head.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let previous: Option<String> = tx
        .query_row(
            "SELECT session_id FROM registry_keys WHERE key = ?1",
            [key],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    tx.execute(
        "INSERT INTO registry_transitions (key, previous_session_id, session_id, source, note, recorded_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![key, previous, session_id, source, note, at_ms],
    )
    .map_err(backend)?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO registry_keys (key, session_id, source, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET session_id = excluded.session_id, source = excluded.source,
            updated_ms = excluded.updated_ms",
        params![key, session_id, source, at_ms],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(Transition {
        id,
        key: key.to_owned(),
        previous_session_id: previous,
        session_id: session_id.to_owned(),
        source: source.to_owned(),
        note: note.map(str::to_owned),
        recorded_at: iso(Some(at_ms)).unwrap_or_default(),
    })
}

pub(crate) fn key_head(conn: &Connection, key: &str) -> Result<Option<Transition>, StoreError> {
    // The head with the transition that set it; if the log was pruned, the head alone.
    let logged = conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM registry_transitions WHERE key = ?1 ORDER BY id DESC LIMIT 1"
            ),
            [key],
            transition_from_row,
        )
        .optional()
        .map_err(backend)?;
    let head = conn
        .query_row(
            "SELECT session_id, source, updated_ms FROM registry_keys WHERE key = ?1",
            [key],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            },
        )
        .optional()
        .map_err(backend)?;
    Ok(match (head, logged) {
        (None, _) => None,
        (Some((session, _, _)), Some(t)) if t.session_id == session => Some(t),
        (Some((session_id, source, updated_ms)), _) => Some(Transition {
            id: 0,
            key: key.to_owned(),
            previous_session_id: None,
            session_id,
            source,
            note: None,
            recorded_at: iso(Some(updated_ms)).unwrap_or_default(),
        }),
    })
}

pub(crate) fn transitions(
    conn: &Connection,
    key: Option<&str>,
) -> Result<Vec<Transition>, StoreError> {
    let sql = match key {
        Some(_) => format!("SELECT {COLUMNS} FROM registry_transitions WHERE key = ?1 ORDER BY id"),
        None => format!("SELECT {COLUMNS} FROM registry_transitions ORDER BY id"),
    };
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let rows = match key {
        Some(key) => stmt.query_map([key], transition_from_row),
        None => stmt.query_map([], transition_from_row),
    }
    .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub(crate) fn prune_transitions(conn: &mut Connection, before_ms: i64) -> Result<u64, StoreError> {
    conn.execute(
        "DELETE FROM registry_transitions WHERE recorded_ms < ?1",
        [before_ms],
    )
    .map(|n| n as u64)
    .map_err(backend)
}
