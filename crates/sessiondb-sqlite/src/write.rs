//! Writing batches: lines, deduplicated responses (see [`crate::election`]), markers, history, raw chunks and
//! issues, with the file's new offset, in one transaction.
//!
//! [`Writer`] is the store's one writer, on both paths: incremental batches, and a first load into an empty
//! database, which carries a [`BulkLoad`] from `begin_bulk_load` to `end_bulk_load` (the lines and rows written
//! are the same; what differs is how responses are elected, how `entry_uuids` is filled and how the refresh
//! learns the sessions' facts).

use crate::backend;
use crate::borrowing_insert::BorrowingInsert;
use crate::borrowing_insert::Value;
use crate::bulk_load::BulkLoad;
use crate::columns::{
    int, mark_dirty, now_ms, origin_code, price_columns, real, record_issue, stored_tokens, text,
    KeyHashing,
};
use crate::election::{upsert_response, Candidate, HeldResponses, ResponseInserts};
use crate::first_load::FirstLoadFacts;
use crate::purge::purge_file;
use crate::uuid_lookup;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sessiondb_core::{BatchOutcome, IngestBatch, LineKind, StoreError};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// The store's writer: its prepared inserts, and the first load under way, if any.
pub(crate) struct Writer {
    /// Prepared on the first batch (see [`BorrowingInsert`]).
    statements: Option<Statements>,
    /// A first load under way: between `begin_bulk_load` on an empty database and `end_bulk_load`.
    load: Option<BulkLoad>,
    /// The facts of a first load that ended, for the refresh that follows it.
    loaded: Option<FirstLoadFacts>,
    /// How many responses a first load elects in memory before it builds the key index and goes on through it.
    response_limit: usize,
}

/// The writer's prepared statements.
struct Statements {
    entry: BorrowingInsert,
    responses: ResponseInserts,
}

impl Default for Writer {
    fn default() -> Writer {
        Writer {
            statements: None,
            load: None,
            loaded: None,
            response_limit: HeldResponses::LIMIT,
        }
    }
}

impl Writer {
    /// Sets how many responses a first load elects in memory (see `SqliteStore::set_first_load_response_limit`).
    pub(crate) fn set_response_limit(&mut self, responses: usize) {
        self.response_limit = responses;
    }

    /// Starts a first load (the caller found the database empty and dropped its lookup indexes), or, when
    /// `empty` is false, makes sure none is under way.
    pub(crate) fn begin_bulk_load(&mut self, empty: bool) {
        self.loaded = None;
        self.load = empty.then(|| BulkLoad::new(self.response_limit));
    }

    /// Ends the first load under way, if any: returns its uuid pairs, for the caller to fill `entry_uuids` from
    /// as it builds the indexes, and keeps its facts for the next refresh.
    pub(crate) fn end_bulk_load(&mut self) -> Option<crate::uuid_lookup::UuidPairs> {
        let (uuids, facts) = self.load.take()?.finish();
        self.loaded = Some(facts);
        Some(uuids)
    }

    /// The facts of the first load that ended (or is under way, which then goes on as incremental batches),
    /// for the refresh; `None` outside a first load.
    pub(crate) fn take_first_load_facts(&mut self) -> Option<FirstLoadFacts> {
        self.loaded
            .take()
            .or_else(|| self.load.take().map(|load| load.finish().1))
    }

    /// Applies `batches` in one transaction, handing each to `applied` with its outcome.
    pub(crate) fn apply_batches(
        &mut self,
        conn: &mut Connection,
        batches: &mut dyn Iterator<Item = IngestBatch>,
        applied: &mut dyn FnMut(IngestBatch, BatchOutcome),
    ) -> Result<(), StoreError> {
        let statements = match &mut self.statements {
            Some(statements) => statements,
            slot => slot.insert(Statements {
                entry: BorrowingInsert::prepare(conn, ENTRY_INSERT_SQL)?,
                responses: ResponseInserts::prepare(conn)?,
            }),
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        if let Some(load) = self.load.as_mut() {
            load.begin_transaction(&tx)?;
        }
        // Outside a first load each line gets its `entry_uuids` row as it is written, and lines are looked up by
        // uuid (summary leaves): the table is made complete first, then stays so.
        let incremental = self.load.is_none();
        if incremental {
            uuid_lookup::catch_up(&tx)?;
        }
        for batch in batches {
            let outcome = apply_one(&tx, statements, &batch, self.load.as_mut())?;
            applied(batch, outcome);
        }
        if incremental {
            uuid_lookup::mark_complete(&tx, uuid_lookup::last_entry_id(&tx)?)?;
        }
        tx.commit().map_err(backend)?;
        if let Some(load) = self.load.as_mut() {
            load.committed();
        }
        Ok(())
    }
}

/// The file's id and committed offset, creating its row if new. A file that was gone from disk and is back
/// gets its sessions refreshed.
fn file_row(tx: &Transaction<'_>, batch: &IngestBatch) -> Result<(i64, u64), StoreError> {
    let file = &batch.file;
    // Cached statements: a cold sync applies thousands of batches, and preparing these three anew for each was
    // 4% of the writer's time.
    let existing: Option<(i64, i64, i64)> = tx
        .prepare_cached("SELECT id, consumed, on_disk FROM files WHERE path = ?1")
        .map_err(backend)?
        .query_row([&file.path], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()
        .map_err(backend)?;
    if let Some((id, consumed, on_disk)) = existing {
        if on_disk == 0 {
            tx.execute(
                "INSERT INTO dirty_sessions (session_key)
                 SELECT session_key FROM session_files WHERE file_id = ?1
                 ON CONFLICT (session_key) DO NOTHING",
                [id],
            )
            .map_err(backend)?;
        }
        return Ok((id, consumed as u64));
    }
    tx.prepare_cached(
        "INSERT INTO files (path, root, kind, owner_session, first_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(backend)?
    .execute(params![file.path, file.root, file.kind.as_str(), file.owner_session, now_ms()])
    .map_err(backend)?;
    Ok((tx.last_insert_rowid(), 0))
}

/// Marks dirty the sessions holding the line with uuid `?1` (a summary's leaf: it titles them).
pub(crate) const MARK_LEAF_HOLDERS_DIRTY_SQL: &str = concat!(
    "INSERT INTO dirty_sessions (session_key)
     SELECT DISTINCT session_key FROM entries WHERE ",
    same_uuid!("entries", "?1"),
    " AND session_key IS NOT NULL
     ON CONFLICT (session_key) DO NOTHING"
);

/// The insert of one `entries` row, in the order `apply_one` lists the values.
const ENTRY_INSERT_SQL: &str =
    "INSERT INTO entries (file_id, line_offset, line_length, session_key, kind, subtype, role, uuid,
        parent_uuid, logical_parent_uuid, leaf_uuid, request_session_id, timestamp_ms, cwd, git_branch,
        version, is_sidechain, is_meta, is_compact_summary, agent_id, spawned_agent_id, message_id, request_id, model, response_origin, response_timestamp_ms, input_tokens,
        output_tokens, cache_creation_tokens, cache_read_tokens, cache_write_5m_tokens,
        cache_write_1h_tokens, cost_usd, price_state, claude_cost_usd, text, details)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
        ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37)";

fn apply_one(
    tx: &Transaction<'_>,
    statements: &mut Statements,
    batch: &IngestBatch,
    mut load: Option<&mut BulkLoad>,
) -> Result<BatchOutcome, StoreError> {
    // In a first load the lookup indexes are built at its end, and every session is new, hence dirty.
    let bulk_load = load.is_some();
    let file = &batch.file;
    let (file_id, consumed) = file_row(tx, batch)?;
    let expected_start = if file.rewrite { 0 } else { consumed };
    if file.start_offset != expected_start {
        return Ok(BatchOutcome::Stale { found: consumed });
    }
    if file.rewrite {
        purge_file(tx, &mut statements.responses, file_id)?;
    }

    let mut sessions: HashSet<&str, KeyHashing> = HashSet::default();
    let mut last_session: Option<&str> = None;
    let mut candidates: HashMap<&str, Candidate<'_>, KeyHashing> = HashMap::default();
    {
        let mut insert_marker = tx
            .prepare_cached(
                "INSERT INTO markers (entry_id, file_id, session_key, kind, leaf_uuid, text, amount, details)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(backend)?;
        for line in &batch.lines {
            let e = &line.entry;
            let key = line.response.as_ref().map(|r| r.dedup_key.as_str());
            let response = line.response.as_ref();
            let usage = response.map(|r| r.response.usage);
            let (cost_usd, price_state) = match response {
                Some(r) => {
                    let (usd, state) = price_columns(r.cost);
                    (Some(usd), Some(state))
                }
                None => (None, None),
            };
            let claude_cost = match &e.cost_state {
                Some(cs) => cs.total_cost_usd,
                None => response.and_then(|r| r.response.reported_cost_usd),
            };
            let values = [
                Value::Int(file_id),
                Value::Int(line.offset as i64),
                Value::Int(line.length as i64),
                text(line.session_key.as_deref()),
                Value::Text(&e.kind),
                text(e.subtype.as_deref()),
                text(e.role.as_deref()),
                text(e.uuid.as_deref()),
                text(e.parent_uuid.as_deref()),
                text(e.logical_parent_uuid.as_deref()),
                text(e.leaf_uuid.as_deref()),
                text(e.request_session_id.as_deref()),
                int(e.timestamp_ms),
                text(e.cwd.as_deref()),
                text(e.git_branch.as_deref()),
                text(e.version.as_deref()),
                Value::Int(i64::from(e.is_sidechain)),
                Value::Int(i64::from(e.is_meta)),
                Value::Int(i64::from(e.is_compact_summary)),
                text(e.agent_id.as_deref()),
                text(e.spawned_agent_id.as_deref()),
                text(response.and_then(|r| r.response.message_id.as_deref())),
                text(response.and_then(|r| r.response.request_id.as_deref())),
                text(response.map(|r| r.response.model.as_deref().unwrap_or("unknown"))),
                int(response.map(|r| origin_code(r.response.origin))),
                int(response.and_then(|r| r.response.timestamp_ms)),
                int(usage.map(|u| stored_tokens(u.input_tokens))),
                int(usage.map(|u| stored_tokens(u.output_tokens))),
                int(usage.map(|u| stored_tokens(u.cache_creation_tokens))),
                int(usage.map(|u| stored_tokens(u.cache_read_tokens))),
                int(usage.map(|u| stored_tokens(u.cache_write_5m))),
                int(usage.map(|u| stored_tokens(u.cache_write_1h))),
                real(cost_usd),
                int(price_state),
                real(claude_cost),
                text(e.text.as_deref()),
                text(e.details.as_deref()),
            ];
            let entry_id = statements.entry.run(&values)?.ok_or_else(|| {
                StoreError::Backend(format!(
                    "line at {} of {} was not inserted",
                    line.offset, file.path
                ))
            })?;
            match load.as_deref_mut() {
                Some(load) => load.observe(entry_id, line, &file.path),
                None => {
                    if let Some(uuid) = e.uuid.as_deref() {
                        tx.prepare_cached(uuid_lookup::INSERT_ONE_SQL)
                            .map_err(backend)?
                            .execute(params![uuid, entry_id])
                            .map_err(backend)?;
                    }
                }
            }
            if let Some(session) = line.session_key.as_deref() {
                // Lines of a batch nearly always share one session: hash only when it changes.
                if last_session != Some(session) {
                    sessions.insert(session);
                    last_session = Some(session);
                }
            }
            if LineKind::from_type(&e.kind).is_marker() {
                let details = e.cost_state.as_ref().map(|cs| {
                    serde_json::json!({
                        "total_cost_usd": cs.total_cost_usd,
                        "has_unknown_model_cost": cs.has_unknown_model_cost,
                        "models": cs.models.iter().map(|m| serde_json::json!({
                            "model": m.model,
                            "input_tokens": m.input_tokens,
                            "output_tokens": m.output_tokens,
                            "cache_creation_tokens": m.cache_creation_tokens,
                            "cache_read_tokens": m.cache_read_tokens,
                            "cost_usd": m.cost_usd,
                        })).collect::<Vec<_>>(),
                    })
                    .to_string()
                });
                insert_marker
                    .execute(params![
                        entry_id,
                        file_id,
                        line.session_key,
                        e.kind,
                        e.leaf_uuid,
                        e.text,
                        e.cost_state.as_ref().and_then(|cs| cs.total_cost_usd),
                        details,
                    ])
                    .map_err(backend)?;
                if let (Some(leaf), false) = (&e.leaf_uuid, bulk_load) {
                    // A summary titles the session that holds its leaf, which may live in another file.
                    // (In a bulk load every session is new, hence dirty, and the uuid index is not built yet.)
                    tx.prepare_cached(MARK_LEAF_HOLDERS_DIRTY_SQL)
                        .map_err(backend)?
                        .execute([leaf])
                        .map_err(backend)?;
                }
            }
            if let (Some(key), Some(priced)) = (key, response) {
                let r = &priced.response;
                let candidate = Candidate {
                    entry_id,
                    file_id,
                    path: Cow::Borrowed(&file.path),
                    line_offset: line.offset as i64,
                    session_key: line.session_key.as_deref().map(Cow::Borrowed),
                    agent_id: e.agent_id.as_deref().map(Cow::Borrowed),
                    git_branch: e.git_branch.as_deref().map(Cow::Borrowed),
                    model: Cow::Borrowed(r.model.as_deref().unwrap_or("unknown")),
                    timestamp_ms: r.timestamp_ms.or(e.timestamp_ms).unwrap_or(0),
                    origin: r.origin,
                    is_sidechain: e.is_sidechain,
                    copied: e
                        .request_session_id
                        .as_ref()
                        .is_some_and(|origin| Some(origin) != line.session_key.as_ref()),
                    tokens: [
                        stored_tokens(r.usage.input_tokens),
                        stored_tokens(r.usage.output_tokens),
                        stored_tokens(r.usage.cache_creation_tokens),
                        stored_tokens(r.usage.cache_read_tokens),
                        stored_tokens(r.usage.cache_write_5m),
                        stored_tokens(r.usage.cache_write_1h),
                    ],
                    cost_usd: cost_usd.unwrap_or(0.0),
                    price_state: price_state.unwrap_or(2),
                    reported_cost_usd: r.reported_cost_usd,
                };
                // Lines of one response sit next to each other: settle them here before touching the table.
                match candidates.entry(key) {
                    Entry::Occupied(mut best) => {
                        if best.get().rank() < candidate.rank() {
                            best.insert(candidate);
                        }
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(candidate);
                    }
                }
            }
        }
    }

    let mut dirty: HashSet<String, KeyHashing> = sessions.iter().map(|s| (*s).to_owned()).collect();
    for (key, candidate) in &candidates {
        let responses = &mut statements.responses;
        match load.as_deref_mut() {
            Some(load) => load.elect(tx, responses, key, candidate, &mut dirty)?,
            None => {
                upsert_response(tx, responses, key, candidate, &mut dirty)?;
            }
        }
    }

    for h in &batch.history {
        tx.prepare_cached(
            "INSERT INTO history (file_id, line_offset, session_key, project, display, timestamp_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (file_id, line_offset) DO NOTHING",
        )
        .map_err(backend)?
        .execute(params![
            file_id,
            h.offset as i64,
            h.entry.session_id,
            h.entry.project,
            h.entry.display,
            h.entry.timestamp_ms,
        ])
        .map_err(backend)?;
        if let Some(session) = &h.entry.session_id {
            dirty.insert(session.clone());
        }
    }

    if let Some(meta) = &batch.subagent_meta {
        tx.execute(
            "UPDATE files SET agent_type = ?2, agent_description = ?3, agent_tool_use_id = ?4 WHERE id = ?1",
            params![file_id, meta.agent_type, meta.description, meta.tool_use_id],
        )
        .map_err(backend)?;
    }

    for chunk in &batch.raw_chunks {
        tx.prepare_cached(
            "INSERT INTO raw_chunks (file_id, start_offset, end_offset, codec, data) VALUES (?1, ?2, ?3, 'zstd', ?4)",
        )
        .map_err(backend)?
        .execute(params![
            file_id,
            chunk.start_offset as i64,
            chunk.end_offset as i64,
            chunk.zstd
        ])
        .map_err(backend)?;
    }

    for issue in &batch.issues {
        record_issue(tx, file_id, issue)?;
    }

    for session in &dirty {
        mark_dirty(tx, session)?;
    }
    // A file belongs to the sessions of its lines; `dirty` also holds sessions that lost a response row to a
    // copy in this file, which must be refreshed but do not own it.
    for session in &sessions {
        tx.prepare_cached(
            "INSERT INTO session_files (session_key, file_id) VALUES (?1, ?2)
             ON CONFLICT (session_key, file_id) DO NOTHING",
        )
        .map_err(backend)?
        .execute(params![session, file_id])
        .map_err(backend)?;
    }

    tx.prepare_cached(
        "UPDATE files SET inode = ?2, size = ?3, mtime_ns = ?4, consumed = ?5, head_hash = ?6, head_len = ?7,
            line_count = line_count + ?8, rewrites = rewrites + ?9, on_disk = 1, missing_since_ms = NULL,
            last_changed_ms = ?10, owner_session = COALESCE(owner_session, ?11), device = ?12, ctime_ns = ?13,
            tail_hash = ?14, tail_len = ?15
         WHERE id = ?1",
    )
    .map_err(backend)?
    .execute(params![
            file_id,
            file.inode.map(|v| v as i64),
            file.size as i64,
            file.mtime_ns,
            file.consumed as i64,
            file.head_hash as i64,
            file.head_len as i64,
            (batch.lines.len() + batch.history.len()) as i64,
            i64::from(file.rewrite),
            now_ms(),
            file.owner_session,
            file.device.map(|v| v as i64),
            file.ctime_ns,
            file.tail_hash as i64,
            file.tail_len as i64,
        ])
    .map_err(backend)?;
    Ok(BatchOutcome::Applied)
}
