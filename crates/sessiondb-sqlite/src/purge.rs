//! A rewritten file's purge: its rows are dropped, and the responses it held are re-elected from the copies
//! left in other files.

use crate::backend;
use crate::columns::{mark_dirty, origin_of_code};
use crate::election::{upsert_response, Candidate, ResponseInserts};
use crate::uuid_lookup;
use rusqlite::Transaction;
use sessiondb_core::{ResponseKey, StoreError};
use std::borrow::Cow;
use std::collections::HashSet;

/// Deletes the `entries` rows of file `?1`, found through `entries_session`: `entries` has no index by file (a
/// first load would build one more), and a scan of the whole table for each rewritten file took 80 ms per GiB
/// of transcripts, for every subagent meta file Claude Code rewrote. Every line of a file is filed under a session
/// listed for the file in `session_files` (`apply_one` writes both in one transaction), or under none.
pub(crate) const DELETE_FILE_ENTRIES_SQL: &str = "DELETE FROM entries WHERE file_id = ?1
     AND (session_key IN (SELECT session_key FROM session_files WHERE file_id = ?1) OR session_key IS NULL)";

/// The keys of the responses whose winning row file `?1` holds.
pub(crate) const RESPONSES_OF_FILE_SQL: &str = "SELECT dedup_key FROM responses WHERE file_id = ?1";

/// Drops everything indexed from a rewritten file, and re-elects the responses it held from the copies left
/// in other files. Builds the indexes only this needs first (`schema::ON_DEMAND_INDEXES`).
pub(crate) fn purge_file(
    tx: &Transaction<'_>,
    inserts: &mut ResponseInserts,
    file_id: i64,
) -> Result<(), StoreError> {
    for sql in crate::schema::ON_DEMAND_INDEXES {
        tx.execute_batch(sql).map_err(backend)?;
    }
    let keys: Vec<String> = {
        let mut stmt = tx.prepare(RESPONSES_OF_FILE_SQL).map_err(backend)?;
        let rows = stmt
            .query_map([file_id], |row| row.get(0))
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    tx.execute(
        "INSERT INTO dirty_sessions (session_key)
         SELECT session_key FROM session_files WHERE file_id = ?1
         ON CONFLICT (session_key) DO NOTHING",
        [file_id],
    )
    .map_err(backend)?;
    tx.execute(uuid_lookup::DELETE_FILE_ROWS_SQL, [file_id])
        .map_err(backend)?;
    tx.execute(DELETE_FILE_ENTRIES_SQL, [file_id])
        .map_err(backend)?;
    for table in [
        "responses",
        "markers",
        "history",
        "raw_chunks",
        "ingest_issues",
        "session_files",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE file_id = ?1"),
            [file_id],
        )
        .map_err(backend)?;
    }
    tx.execute(
        "UPDATE files SET consumed = 0, line_count = 0, head_hash = 0, head_len = 0, tail_hash = 0, tail_len = 0
         WHERE id = ?1",
        [file_id],
    )
    .map_err(backend)?;
    let mut dirty = HashSet::default();
    for text in keys {
        let key = match ResponseKey::parse(&text) {
            Ok(key) => key,
            Err(err) => {
                // No line has such a key, so it has no copies to re-elect.
                tracing::warn!(%err, "a stored response key is not one");
                continue;
            }
        };
        for candidate in copies_of(tx, &key)? {
            upsert_response(tx, inserts, key.as_str(), &candidate, &mut dirty)?;
            // `upsert_response` marks only the session a row is taken from: the copy's own session gains it.
            if let Some(session) = &candidate.session_key {
                dirty.insert(session.clone().into_owned());
            }
        }
    }
    for session in dirty {
        mark_dirty(tx, &session)?;
    }
    Ok(())
}

/// The lines with message id `?1` and request id `?2`, as [`Candidate`]s (see [`copies_of`]).
pub(crate) const COPIES_OF_SQL: &str =
    "SELECT e.id, e.file_id, f.path, e.line_offset, e.session_key, e.agent_id, e.git_branch, e.model,
            COALESCE(e.response_timestamp_ms, e.timestamp_ms, 0), e.response_origin, e.is_sidechain,
            e.input_tokens, e.output_tokens, e.cache_creation_tokens, e.cache_read_tokens,
            e.cache_write_5m_tokens, e.cache_write_1h_tokens, e.cost_usd, e.price_state, e.claude_cost_usd,
            e.request_session_id IS NOT NULL AND e.request_session_id <> COALESCE(e.session_key, '')
     FROM entries e JOIN files f ON f.id = e.file_id WHERE e.message_id = ?1 AND e.request_id = ?2";

/// Every indexed copy of one response: the lines whose `message.id:requestId` is `key`.
///
/// A key built from where a line is (`line:…`, for a line without both ids) has no copies: such a line's
/// `request_id` or `message_id` is NULL, so no split below matches it. The key's text is tried at each split
/// ([`ResponseKey::id_splits`]), as an id may itself hold a `:`; a row matches at most one split (its
/// `message_id` fixes where).
pub(crate) fn copies_of(
    tx: &Transaction<'_>,
    key: &ResponseKey,
) -> Result<Vec<Candidate<'static>>, StoreError> {
    let mut stmt = tx.prepare_cached(COPIES_OF_SQL).map_err(backend)?;
    let mut copies = Vec::new();
    for (message_id, request_id) in key.id_splits() {
        let rows = stmt
            .query_map([message_id, request_id], |row| {
                Ok(Candidate {
                    entry_id: row.get(0)?,
                    file_id: row.get(1)?,
                    path: Cow::Owned(row.get(2)?),
                    line_offset: row.get(3)?,
                    session_key: row.get::<_, Option<String>>(4)?.map(Cow::Owned),
                    agent_id: row.get::<_, Option<String>>(5)?.map(Cow::Owned),
                    git_branch: row.get::<_, Option<String>>(6)?.map(Cow::Owned),
                    model: Cow::Owned(row.get::<_, Option<String>>(7)?.unwrap_or_default()),
                    timestamp_ms: row.get(8)?,
                    origin: origin_of_code(row.get::<_, Option<i64>>(9)?.unwrap_or(0)),
                    is_sidechain: row.get::<_, i64>(10)? != 0,
                    tokens: [
                        row.get::<_, Option<i64>>(11)?.unwrap_or(0),
                        row.get::<_, Option<i64>>(12)?.unwrap_or(0),
                        row.get::<_, Option<i64>>(13)?.unwrap_or(0),
                        row.get::<_, Option<i64>>(14)?.unwrap_or(0),
                        row.get::<_, Option<i64>>(15)?.unwrap_or(0),
                        row.get::<_, Option<i64>>(16)?.unwrap_or(0),
                    ],
                    cost_usd: row.get::<_, Option<f64>>(17)?.unwrap_or(0.0),
                    price_state: row.get::<_, Option<i64>>(18)?.unwrap_or(2),
                    reported_cost_usd: row.get(19)?,
                    copied: row.get::<_, i64>(20)? != 0,
                })
            })
            .map_err(backend)?;
        for row in rows {
            copies.push(row.map_err(backend)?);
        }
    }
    Ok(copies)
}
