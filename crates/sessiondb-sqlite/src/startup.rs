//! The `startup_usage` table: the ids that are not sessions but carry usage (Claude Code 2.0.x start-up Warmups)
//! and the session each was started for. This module only fetches the evidence (the times of the id's lines and of
//! the main-thread lines of the sessions around them in its project folder) and stores what
//! `sessiondb_core::warmup_started_for` decides; `refresh_sessions` then counts that usage in the session's totals
//! and `query.rs` under the session and its project.
//!
//! Such ids are few (two Warmups per start whose replies came back before the CLI switched ids), so every refresh
//! looks at all of them, and decides again the ones whose evidence a dirty session may have changed.

use crate::backend;
use rusqlite::{params, OptionalExtension, Transaction};
use sessiondb_core::{warmup_started_for, Neighbour, StartupSpan, StoreError, WARMUP_TO_TURN_MS};
use std::collections::BTreeSet;

/// A main-thread conversation line of session `?1`, for the look-ups around a time.
const MAIN_THREAD: &str = "session_key = ?1 AND is_sidechain = 0 AND kind IN ('user', 'assistant')";

/// A `startup_usage` row: the id, the session it is attributed to, its first and last line's times.
type Row = (String, Option<String>, Option<i64>, Option<i64>);

/// The time spans (first, last line) of the dirty sessions, as the `sessions` table holds them now.
pub(crate) fn dirty_spans(tx: &Transaction<'_>) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut stmt = tx
        .prepare(
            "SELECT s.started_at_ms, s.last_activity_ms FROM sessions s
             JOIN dirty_sessions d ON d.session_key = s.session_key
             WHERE s.started_at_ms IS NOT NULL AND s.last_activity_ms IS NOT NULL",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

/// Brings `startup_usage` up to date after the dirty sessions' `sessions` and `usage_rollup` rows were rebuilt:
/// the dirty ids that are not sessions but carry usage are (re)entered, and each id whose evidence may have changed
/// (its own lines, or a dirty session's lines near its time: `old_spans` are the dirty sessions' spans before the
/// rebuild) is attributed again. Sessions that gain or lose attributed usage are marked dirty, so their totals
/// follow.
pub(crate) fn attribute(tx: &Transaction<'_>, old_spans: &[(i64, i64)]) -> Result<(), StoreError> {
    // Attributions that go away with their id (it is a session now, or has no usage left).
    let mut affected: BTreeSet<String> = BTreeSet::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT u.started_for FROM startup_usage u JOIN dirty_sessions d ON d.session_key = u.session_key
                 WHERE u.started_for IS NOT NULL",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(backend)?;
        for row in rows {
            affected.insert(row.map_err(backend)?);
        }
    }
    tx.execute_batch(
        "DELETE FROM startup_usage WHERE session_key IN (SELECT session_key FROM dirty_sessions);
         INSERT INTO startup_usage (session_key)
         SELECT d.session_key FROM dirty_sessions d
         WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_key = d.session_key)
           AND EXISTS (SELECT 1 FROM usage_rollup r WHERE r.session_key = d.session_key);",
    )
    .map_err(backend)?;
    let rows: Vec<Row> = {
        let mut stmt = tx
            .prepare("SELECT session_key, started_for, first_ms, last_ms FROM startup_usage")
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    // Most databases (every one without 2.0.x start-ups) stop here.
    if !rows.is_empty() {
        let dirty: BTreeSet<String> = {
            let mut stmt = tx
                .prepare("SELECT session_key FROM dirty_sessions")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        let mut spans = dirty_spans(tx)?;
        spans.extend_from_slice(old_spans);
        decide(tx, rows, &dirty, &spans, &mut affected)?;
    }
    let mut mark = tx
        .prepare("INSERT OR IGNORE INTO dirty_sessions (session_key) VALUES (?1)")
        .map_err(backend)?;
    for session in affected {
        mark.execute([session]).map_err(backend)?;
    }
    Ok(())
}

/// Attributes again each of `rows` (id, its session so far, its span so far) whose evidence may have changed: the
/// id is dirty, its session is, or a dirty session's lines (`spans`) reach its time. Sessions that gain or lose
/// usage go into `affected`.
fn decide(
    tx: &Transaction<'_>,
    rows: Vec<Row>,
    dirty: &BTreeSet<String>,
    spans: &[(i64, i64)],
    affected: &mut BTreeSet<String>,
) -> Result<(), StoreError> {
    let mut update = tx
        .prepare(
            "UPDATE startup_usage SET started_for = ?2, first_ms = ?3, last_ms = ?4 WHERE session_key = ?1",
        )
        .map_err(backend)?;
    for (id, old, first_ms, last_ms) in rows {
        let near_a_change = |first: i64, last: i64| {
            spans
                .iter()
                .any(|&(from, to)| from <= last.saturating_add(WARMUP_TO_TURN_MS) && to >= first)
        };
        let again = dirty.contains(&id)
            || old.as_ref().is_some_and(|s| dirty.contains(s))
            || match (first_ms, last_ms) {
                (Some(first), Some(last)) => near_a_change(first, last),
                _ => true,
            };
        if !again {
            continue;
        }
        let span = span_of(tx, &id)?;
        let new = match span {
            Some(span) => {
                let neighbours = neighbours(tx, &id, span)?;
                warmup_started_for(span, &neighbours).map(str::to_owned)
            }
            None => None,
        };
        update
            .execute(params![
                id,
                new,
                span.map(|s| s.first_ms),
                span.map(|s| s.last_ms)
            ])
            .map_err(backend)?;
        if old != new {
            affected.extend(old);
            affected.extend(new);
        }
    }
    Ok(())
}

/// The first and last conversation line of `id`.
fn span_of(tx: &Transaction<'_>, id: &str) -> Result<Option<StartupSpan>, StoreError> {
    let (first, last): (Option<i64>, Option<i64>) = tx
        .query_row(
            "SELECT MIN(timestamp_ms), MAX(timestamp_ms) FROM entries
             WHERE session_key = ?1 AND kind IN ('user', 'assistant') AND timestamp_ms IS NOT NULL",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(backend)?;
    Ok(first
        .zip(last)
        .map(|(first_ms, last_ms)| StartupSpan { first_ms, last_ms }))
}

/// The sessions with a file in one of `id`'s project folders (the folders its files sit in) and lines around
/// `span`, each with its main-thread lines just before and just after the span's start.
fn neighbours(
    tx: &Transaction<'_>,
    id: &str,
    span: StartupSpan,
) -> Result<Vec<Neighbour>, StoreError> {
    let folders: BTreeSet<String> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT f.path FROM session_files sf JOIN files f ON f.id = sf.file_id
                 WHERE sf.session_key = ?1 AND f.kind = 'transcript'",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([id], |row| row.get::<_, String>(0))
            .map_err(backend)?;
        let mut folders = BTreeSet::new();
        for path in rows {
            let path = path.map_err(backend)?;
            if let Some(folder) = std::path::Path::new(&path).parent() {
                folders.insert(format!("{}/", folder.display()));
            }
        }
        folders
    };
    let mut sessions: BTreeSet<String> = BTreeSet::new();
    {
        // Sessions with lines at or after the span's start and before the end of the wait.
        let mut stmt = tx
            .prepare_cached(
                "SELECT s.session_key FROM sessions s
                 WHERE s.last_activity_ms >= ?1 AND s.started_at_ms <= ?2
                   AND EXISTS (SELECT 1 FROM session_files sf JOIN files f ON f.id = sf.file_id
                       WHERE sf.session_key = s.session_key AND substr(f.path, 1, length(?3)) = ?3)",
            )
            .map_err(backend)?;
        for folder in &folders {
            let rows = stmt
                .query_map(
                    params![
                        span.first_ms,
                        span.last_ms.saturating_add(WARMUP_TO_TURN_MS),
                        folder
                    ],
                    |row| row.get::<_, String>(0),
                )
                .map_err(backend)?;
            for row in rows {
                sessions.insert(row.map_err(backend)?);
            }
        }
    }
    let mut before = tx
        .prepare_cached(&format!(
            "SELECT timestamp_ms FROM entries WHERE {MAIN_THREAD} AND timestamp_ms < ?2
             ORDER BY timestamp_ms DESC LIMIT 1"
        ))
        .map_err(backend)?;
    let mut after = tx
        .prepare_cached(&format!(
            "SELECT timestamp_ms FROM entries WHERE {MAIN_THREAD} AND timestamp_ms >= ?2
             ORDER BY timestamp_ms LIMIT 1"
        ))
        .map_err(backend)?;
    let mut out = Vec::with_capacity(sessions.len());
    for session_id in sessions {
        let last_before_ms = before
            .query_row(params![session_id, span.first_ms], |row| row.get(0))
            .optional()
            .map_err(backend)?;
        let first_after_ms = after
            .query_row(params![session_id, span.first_ms], |row| row.get(0))
            .optional()
            .map_err(backend)?;
        out.push(Neighbour {
            session_id,
            last_before_ms,
            first_after_ms,
        });
    }
    Ok(out)
}
