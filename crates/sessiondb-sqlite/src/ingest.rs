//! Writing batches: lines, deduplicated responses, markers, history, raw chunks and issues, with the file's new
//! offset, in one transaction.
//!
//! Response deduplication: every copy of a response (same `message.id` + `requestId`) is kept in `entries`;
//! `responses` holds the winning copy, chosen by core's [`ResponseRank`] so that the winner does not depend on the
//! order files are read in (an incremental sync and a rebuild agree). The key is stored as its text
//! ([`sessiondb_core::ResponseKey::as_str`]).

use crate::backend;
use crate::borrowing_insert::{BorrowingInsert, Value};
use crate::first_load::{ElectedResponse, FirstLoadFacts};
use crate::uuid_lookup;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sessiondb_core::{
    BatchOutcome, FileKind, FileState, IngestBatch, Pricer, ResponseKey, ResponseRank, StoreError,
};
use sessiondb_format::{ResponseOrigin, MAX_TOKENS_PER_FIELD};
use sessiondb_pricing::{Cost, TokenCounts};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn file_states(conn: &Connection) -> Result<Vec<FileState>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT path, kind, inode, size, mtime_ns, consumed, head_hash, head_len, on_disk, device, ctime_ns,
                tail_hash, tail_len
             FROM files",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |row| {
            let kind: String = row.get(1)?;
            Ok(FileState {
                path: row.get(0)?,
                kind: FileKind::parse(&kind).unwrap_or(FileKind::Transcript),
                inode: row.get::<_, Option<i64>>(2)?.map(|v| v as u64),
                size: row.get::<_, i64>(3)? as u64,
                mtime_ns: row.get(4)?,
                consumed: row.get::<_, i64>(5)? as u64,
                head_hash: row.get::<_, i64>(6)? as u64,
                head_len: row.get::<_, i64>(7)? as u64,
                on_disk: row.get::<_, i64>(8)? != 0,
                device: row.get::<_, Option<i64>>(9)?.map(|v| v as u64),
                ctime_ns: row.get(10)?,
                tail_hash: row.get::<_, i64>(11)? as u64,
                tail_len: row.get::<_, i64>(12)? as u64,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

/// A token count as stored: at most [`MAX_TOKENS_PER_FIELD`]. Parsed counts never exceed it (bigger ones are
/// recorded as implausible and not counted); the clamp keeps that true of every row, so that the SQL sums over
/// them (`usage_rollup`, `sessions`, `show`) cannot overflow SQLite's 64-bit integers.
fn stored_tokens(n: u64) -> i64 {
    n.min(MAX_TOKENS_PER_FIELD) as i64
}

/// A stored count or offset as the rank reads it (stored ones are never negative).
fn stored_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn price_columns(cost: Cost) -> (f64, i64) {
    match cost {
        Cost::Usd(usd) => (usd, 0),
        Cost::Free => (0.0, 1),
        Cost::Unpriced => (0.0, 2),
    }
}

fn origin_code(origin: ResponseOrigin) -> i64 {
    match origin {
        ResponseOrigin::AssistantLine => 2,
        ResponseOrigin::EmbeddedInProgress => 1,
    }
}

/// The origin a stored code names ([`origin_code`]); a code no line is written with ranks as an embedded copy.
fn origin_of_code(code: i64) -> ResponseOrigin {
    match code {
        2 => ResponseOrigin::AssistantLine,
        _ => ResponseOrigin::EmbeddedInProgress,
    }
}

/// One copy of a response, as a candidate for its key's `responses` row. Its strings borrow from the batch
/// being applied (a copy read back from the database owns them): an assistant line allocates nothing here.
#[derive(Debug, Clone)]
struct Candidate<'a> {
    entry_id: i64,
    file_id: i64,
    path: Cow<'a, str>,
    line_offset: i64,
    session_key: Option<Cow<'a, str>>,
    agent_id: Option<Cow<'a, str>>,
    git_branch: Option<Cow<'a, str>>,
    model: Cow<'a, str>,
    timestamp_ms: i64,
    origin: ResponseOrigin,
    is_sidechain: bool,
    /// A copy made by `--fork-session` that names another session as its origin (`requestSessionId`).
    copied: bool,
    tokens: [i64; 6],
    cost_usd: f64,
    price_state: i64,
    reported_cost_usd: Option<f64>,
}

impl Candidate<'_> {
    /// What the first load's usage rollup keeps of this copy once it is the response's row.
    fn elected(&self) -> ElectedResponse<'_> {
        ElectedResponse {
            session_key: self.session_key.as_deref(),
            model: &self.model,
            git_branch: self.git_branch.as_deref(),
            timestamp_ms: self.timestamp_ms,
            tokens: [
                self.tokens[0],
                self.tokens[1],
                self.tokens[2],
                self.tokens[3],
                self.total(),
            ],
            cost_usd: self.cost_usd,
            unpriced: self.price_state == 2,
            reported_cost_usd: self.reported_cost_usd,
        }
    }

    fn total(&self) -> i64 {
        self.tokens[..4]
            .iter()
            .fold(0i64, |sum, &n| sum.saturating_add(n))
    }

    /// Which copy of a response counts: see [`ResponseRank`].
    fn rank(&self) -> ResponseRank<'_> {
        ResponseRank {
            origin: self.origin,
            is_sidechain: self.is_sidechain,
            total_tokens: stored_count(self.total()),
            copied: self.copied,
            timestamp_ms: self.timestamp_ms,
            offset: stored_count(self.line_offset),
            path: &self.path,
        }
    }
}

pub(crate) fn apply_batches(
    conn: &mut Connection,
    inserts: &mut Inserts,
    mut first_load: Option<&mut FirstLoadFacts>,
    batches: &mut dyn Iterator<Item = IngestBatch>,
    applied: &mut dyn FnMut(IngestBatch, BatchOutcome),
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    if let Some(facts) = first_load.as_deref_mut() {
        // Only another sync builds the key index while this load holds responses in memory, and it may have
        // changed rows this load holds since its last transaction: from now on the index decides.
        if facts.held.is_some() && response_key_index_exists(&tx)? {
            tracing::debug!("another sync built the response key index: electing through it");
            facts.held = None;
        }
        // Pairs of a transaction that did not commit.
        facts.uuids.roll_back();
    }
    // Outside a first load each line gets its `entry_uuids` row as it is written, and lines are looked up by
    // uuid (summary leaves): the table is made complete first, then stays so.
    let incremental = first_load.is_none();
    if incremental {
        uuid_lookup::catch_up(&tx)?;
    }
    for batch in batches {
        let outcome = apply_one(&tx, inserts, &batch, first_load.as_deref_mut())?;
        applied(batch, outcome);
    }
    if incremental {
        uuid_lookup::mark_complete(&tx, uuid_lookup::last_entry_id(&tx)?)?;
    }
    tx.commit().map_err(backend)?;
    if let Some(facts) = first_load {
        facts.uuids.commit();
    }
    Ok(())
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

fn mark_dirty(tx: &Transaction<'_>, session_key: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO dirty_sessions (session_key) VALUES (?1) ON CONFLICT (session_key) DO NOTHING",
    )
    .map_err(backend)?
    .execute([session_key])
    .map_err(backend)?;
    Ok(())
}

fn text(value: Option<&str>) -> Value<'_> {
    value.map_or(Value::Null, Value::Text)
}

fn int(value: Option<i64>) -> Value<'static> {
    value.map_or(Value::Null, Value::Int)
}

fn real(value: Option<f64>) -> Value<'static> {
    value.map_or(Value::Null, Value::Real)
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
    inserts: &mut Inserts,
    batch: &IngestBatch,
    mut first_load: Option<&mut FirstLoadFacts>,
) -> Result<BatchOutcome, StoreError> {
    // In a first load the lookup indexes are built at its end, and every session is new, hence dirty.
    let bulk_load = first_load.is_some();
    let file = &batch.file;
    let (file_id, consumed) = file_row(tx, batch)?;
    let expected_start = if file.rewrite { 0 } else { consumed };
    if file.start_offset != expected_start {
        return Ok(BatchOutcome::Stale { found: consumed });
    }
    if file.rewrite {
        purge_file(tx, inserts, file_id)?;
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
            let entry_id = inserts.entry.run(&values)?.ok_or_else(|| {
                StoreError::Backend(format!(
                    "line at {} of {} was not inserted",
                    line.offset, file.path
                ))
            })?;
            match first_load.as_deref_mut() {
                Some(facts) => facts.observe(entry_id, line, &file.path),
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
            if is_marker(&e.kind) {
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
        upsert_response(
            tx,
            inserts,
            key,
            candidate,
            &mut dirty,
            first_load.as_deref_mut(),
        )?;
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

/// Records a skipped or lost stretch of a file, for `doctor`.
fn record_issue(
    tx: &Transaction<'_>,
    file_id: i64,
    issue: &sessiondb_core::IngestIssue,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO ingest_issues (file_id, line_offset, line_length, kind, detail, recorded_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(backend)?
    .execute(params![
        file_id,
        issue.offset as i64,
        issue.length as i64,
        issue.kind.as_str(),
        issue.detail,
        now_ms()
    ])
    .map_err(backend)?;
    Ok(())
}

fn is_marker(kind: &str) -> bool {
    matches!(
        kind,
        "summary" | "custom-title" | "ai-title" | "agent-name" | "last-prompt" | "cost-state"
    )
}

/// The hashing of the writer's maps and sets of response keys, session ids and names: xxh3, where std's SipHash
/// of a 60-byte key was a tenth of a first load's election. (The keys come from the user's own transcripts, so
/// hash flooding is not a threat worth SipHash's cost.)
pub(crate) type KeyHashing = std::hash::BuildHasherDefault<KeyHasher>;

#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    /// The end marker a `str` hashes after its bytes: mixed in without a second pass of xxh3 (the bytes'
    /// hash is already uniform, and a rotation keeps it so).
    fn write_u8(&mut self, byte: u8) {
        self.0 = self.0.rotate_left(8) ^ u64::from(byte);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The responses a first load wrote, by key, with what ranks them: a first load elects here instead of through
/// `responses_key`, which it builds at its end with the other lookup indexes (looking up and inserting random
/// 60-byte keys in it was a tenth of the writer's time). Memory is about 150 bytes a response; past
/// [`HeldResponses::LIMIT`] responses the load builds the index and goes on through it.
#[derive(Debug)]
pub(crate) struct HeldResponses {
    rows: HashMap<String, HeldResponse, KeyHashing>,
    /// Paths by file id, for the rank's last tiebreak.
    paths: HashMap<i64, String>,
    /// How many responses to hold before handing election to the key index.
    limit: usize,
}

/// What ranks one held response row (see [`Candidate::rank`]).
#[derive(Debug, Clone, Copy)]
struct HeldResponse {
    rowid: i64,
    file_id: i64,
    origin: ResponseOrigin,
    is_sidechain: bool,
    total: i64,
    copied: bool,
    timestamp_ms: i64,
    line_offset: i64,
}

impl HeldResponses {
    /// Responses held before the load hands election to the key index, by default (about 150 MB).
    pub(crate) const LIMIT: usize = 1_000_000;

    pub(crate) fn with_limit(limit: usize) -> HeldResponses {
        HeldResponses {
            rows: HashMap::default(),
            paths: HashMap::new(),
            limit,
        }
    }

    /// Elects `candidate` for `key` in memory and writes the outcome; `false` when election must go through
    /// the key index instead: the load reached its limit, or another sync wrote the key meanwhile (and
    /// built the index). Either way the index exists when it returns `false`.
    fn elect(
        &mut self,
        tx: &Transaction<'_>,
        inserts: &mut Inserts,
        key: &str,
        candidate: &Candidate<'_>,
        facts: &mut FirstLoadFacts,
    ) -> Result<bool, StoreError> {
        let held = HeldResponse {
            rowid: 0,
            file_id: candidate.file_id,
            origin: candidate.origin,
            is_sidechain: candidate.is_sidechain,
            total: candidate.total(),
            copied: candidate.copied,
            timestamp_ms: candidate.timestamp_ms,
            line_offset: candidate.line_offset,
        };
        if let Some(current) = self.rows.get(key).copied() {
            let current_path = self.paths.get(&current.file_id).map_or("", String::as_str);
            if current.rank(current_path) >= candidate.rank() {
                return Ok(true);
            }
            write_response(
                tx,
                inserts,
                key,
                candidate,
                ResponseWrite::Overwrite(current.rowid),
            )?;
            self.paths
                .entry(candidate.file_id)
                .or_insert_with(|| candidate.path.clone().into_owned());
            self.rows.insert(
                key.to_owned(),
                HeldResponse {
                    rowid: current.rowid,
                    ..held
                },
            );
            facts.elect(current.rowid, candidate.elected());
            return Ok(true);
        }
        if self.rows.len() >= self.limit {
            tracing::debug!(
                held = self.rows.len(),
                "first load: building the response key index early"
            );
            ensure_response_key_index(tx)?;
            return Ok(false);
        }
        let Some(rowid) = write_response(tx, inserts, key, candidate, ResponseWrite::Append)?
        else {
            // Ignored: the key index exists and has the key, so another sync wrote it. (`apply_batches` hands
            // election to the index at the first transaction after another sync built it; this is the
            // second line of defence.)
            return Ok(false);
        };
        self.paths
            .entry(candidate.file_id)
            .or_insert_with(|| candidate.path.clone().into_owned());
        self.rows
            .insert(key.to_owned(), HeldResponse { rowid, ..held });
        facts.elect(rowid, candidate.elected());
        Ok(true)
    }
}

impl HeldResponse {
    /// Which copy of a response counts: see [`ResponseRank`].
    fn rank<'a>(&self, path: &'a str) -> ResponseRank<'a> {
        ResponseRank {
            origin: self.origin,
            is_sidechain: self.is_sidechain,
            total_tokens: stored_count(self.total),
            copied: self.copied,
            timestamp_ms: self.timestamp_ms,
            offset: stored_count(self.line_offset),
            path,
        }
    }
}

fn response_key_index_exists(conn: &Connection) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = 'responses_key')",
        [],
        |row| row.get(0),
    )
    .map_err(backend)
}

/// Builds `responses_key`, the unique index on `dedup_key`, unless it exists. Two syncs that each took an
/// empty database for their first load may both have written a key; then each key keeps its best copy (by
/// [`ResponseRank`]), the sessions of the others are refreshed, and the index is built.
pub(crate) fn ensure_response_key_index(conn: &Connection) -> Result<(), StoreError> {
    match conn.execute_batch(crate::schema::RESPONSE_KEY_INDEX) {
        Ok(()) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(err, _))
            if err.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            tracing::warn!(
                "responses written twice by two first loads at once: keeping each key's best copy"
            );
            keep_best_copy_of_each_response(conn)?;
            conn.execute_batch(crate::schema::RESPONSE_KEY_INDEX)
                .map_err(backend)
        }
        Err(err) => Err(backend(err)),
    }
}

/// Marks dirty the sessions of every `responses` row whose key has another row, and lists those rows, by key,
/// with what ranks them (see [`WrittenCopy`]).
const TWICE_WRITTEN_SQL: &str = "
    CREATE TEMP TABLE twice_written AS
        SELECT dedup_key FROM responses GROUP BY dedup_key HAVING COUNT(*) > 1;
    INSERT INTO dirty_sessions (session_key)
        SELECT DISTINCT session_key FROM responses
        WHERE session_key IS NOT NULL AND dedup_key IN (SELECT dedup_key FROM twice_written)
        ON CONFLICT (session_key) DO NOTHING;";
const COPIES_WRITTEN_TWICE_SQL: &str = "
    SELECT r.rowid, r.dedup_key, r.origin, r.is_sidechain, r.total_tokens,
        e.request_session_id IS NOT NULL AND e.request_session_id <> COALESCE(e.session_key, ''),
        r.timestamp_ms, r.line_offset, f.path
    FROM responses r JOIN files f ON f.id = r.file_id JOIN entries e ON e.id = r.entry_id
    WHERE r.dedup_key IN (SELECT dedup_key FROM twice_written)
    ORDER BY r.dedup_key";

/// One of several `responses` rows of a key, as [`keep_best_copy_of_each_response`] reads it.
struct WrittenCopy {
    rowid: i64,
    key: String,
    origin: ResponseOrigin,
    is_sidechain: bool,
    total: i64,
    copied: bool,
    timestamp_ms: i64,
    line_offset: i64,
    path: String,
}

impl WrittenCopy {
    /// Which copy of a response counts: see [`ResponseRank`].
    fn rank(&self) -> ResponseRank<'_> {
        ResponseRank {
            origin: self.origin,
            is_sidechain: self.is_sidechain,
            total_tokens: stored_count(self.total),
            copied: self.copied,
            timestamp_ms: self.timestamp_ms,
            offset: stored_count(self.line_offset),
            path: &self.path,
        }
    }
}

/// Deletes every `responses` row but the best copy of its key, after marking the sessions of all copies dirty.
fn keep_best_copy_of_each_response(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(TWICE_WRITTEN_SQL).map_err(backend)?;
    let copies: Vec<WrittenCopy> = {
        let mut stmt = conn.prepare(COPIES_WRITTEN_TWICE_SQL).map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(WrittenCopy {
                    rowid: row.get(0)?,
                    key: row.get(1)?,
                    origin: origin_of_code(row.get(2)?),
                    is_sidechain: row.get::<_, i64>(3)? != 0,
                    total: row.get(4)?,
                    copied: row.get::<_, i64>(5)? != 0,
                    timestamp_ms: row.get(6)?,
                    line_offset: row.get(7)?,
                    path: row.get(8)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    let mut delete = conn
        .prepare("DELETE FROM responses WHERE rowid = ?1")
        .map_err(backend)?;
    for same_key in copies.chunk_by(|a, b| a.key == b.key) {
        let best = ResponseRank::best(same_key, |copy| copy.rank()).map(|copy| copy.rowid);
        for copy in same_key {
            if Some(copy.rowid) != best {
                delete.execute([copy.rowid]).map_err(backend)?;
            }
        }
    }
    conn.execute_batch("DROP TABLE twice_written")
        .map_err(backend)
}

/// Makes `candidate` the response's row if it outranks the current one; the loser's session is marked dirty
/// so its totals are recomputed. (`dirty` holds the sessions of the batch's lines, the candidate's among them.)
fn upsert_response(
    tx: &Transaction<'_>,
    inserts: &mut Inserts,
    key: &str,
    candidate: &Candidate<'_>,
    dirty: &mut HashSet<String, KeyHashing>,
    mut first_load: Option<&mut FirstLoadFacts>,
) -> Result<(), StoreError> {
    if let Some(facts) = first_load.as_deref_mut() {
        if let Some(mut held) = facts.held.take() {
            if held.elect(tx, inserts, key, candidate, facts)? {
                facts.held = Some(held);
                return Ok(());
            }
            // Left to the key index from here on (`HeldResponses::elect` says why).
        }
    }
    // The candidate's own session is already in `dirty`: it is the session of one of the batch's lines.
    // Most responses are seen once: claim the key outright, and compare ranks only when it is taken.
    if let Some(rowid) = write_response(tx, inserts, key, candidate, ResponseWrite::Claim)? {
        if let Some(facts) = first_load {
            facts.elect(rowid, candidate.elected());
        }
        return Ok(());
    }
    let current: Option<(Candidate<'_>, Option<String>, i64)> = tx
        .prepare_cached(
            "SELECT r.origin, r.is_sidechain, r.input_tokens, r.output_tokens, r.cache_creation_tokens,
                    r.cache_read_tokens, r.timestamp_ms, r.line_offset, f.path, r.session_key,
                    e.request_session_id IS NOT NULL AND e.request_session_id <> COALESCE(e.session_key, ''),
                    r.rowid
             FROM responses r JOIN files f ON f.id = r.file_id JOIN entries e ON e.id = r.entry_id
             WHERE r.dedup_key = ?1",
        )
        .map_err(backend)?
        .query_row([key], |row| {
            let mut current = candidate.clone();
            current.origin = origin_of_code(row.get(0)?);
            current.is_sidechain = row.get::<_, i64>(1)? != 0;
            current.tokens = [row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, 0, 0];
            current.timestamp_ms = row.get(6)?;
            current.line_offset = row.get(7)?;
            current.path = Cow::Owned(row.get(8)?);
            current.copied = row.get::<_, i64>(10)? != 0;
            Ok((current, row.get(9)?, row.get(11)?))
        })
        .optional()
        .map_err(backend)?;
    let mut replaced_rowid = None;
    if let Some((current, current_session, rowid)) = current {
        if current.rank() >= candidate.rank() {
            return Ok(());
        }
        if let Some(session) = current_session {
            dirty.insert(session);
        }
        replaced_rowid = Some(rowid);
    }
    // The statement's rowid is the new row's when it inserts; when it replaces, the replaced row keeps its own.
    let inserted_rowid = write_response(tx, inserts, key, candidate, ResponseWrite::Replace)?;
    if let (Some(facts), Some(rowid)) = (first_load, replaced_rowid.or(inserted_rowid)) {
        facts.elect(rowid, candidate.elected());
    }
    Ok(())
}

/// The `responses` insert the statements of [`Inserts`] share.
macro_rules! insert_response_sql {
    () => {
        concat!("INSERT INTO responses (dedup_key, entry_id, file_id, line_offset, session_key, agent_id, git_branch, model,
            timestamp_ms, origin, is_sidechain, input_tokens, output_tokens, cache_creation_tokens,
            cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, total_tokens, cost_usd, price_state,
            reported_cost_usd)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)")
    };
}

/// The writer's prepared inserts, made once per store (see [`BorrowingInsert`]).
pub(crate) struct Inserts {
    entry: BorrowingInsert,
    /// Inserts a response row unless its key has one (prepared on first use, like `replace_response`: both
    /// name `responses_key`, which a first load drops until its end).
    claim_response: Option<BorrowingInsert>,
    /// Inserts a response row or replaces its key's.
    replace_response: Option<BorrowingInsert>,
    /// Inserts a response row a first load elected (ignored if the key index exists and has the key).
    append_response: BorrowingInsert,
    /// Overwrites the response row `?22` with the values of a better copy.
    overwrite_response: BorrowingInsert,
}

/// How [`write_response`] writes a candidate.
enum ResponseWrite {
    Claim,
    Replace,
    Append,
    Overwrite(i64),
}

impl Inserts {
    pub(crate) fn prepare(conn: &Connection) -> Result<Inserts, StoreError> {
        Ok(Inserts {
            entry: BorrowingInsert::prepare(conn, ENTRY_INSERT_SQL)?,
            claim_response: None,
            replace_response: None,
            append_response: BorrowingInsert::prepare(
                conn,
                // Without a conflict target: with no key index nothing conflicts (portable, unlike OR IGNORE).
                concat!(insert_response_sql!(), " ON CONFLICT DO NOTHING"),
            )?,
            overwrite_response: BorrowingInsert::prepare(
                conn,
                "UPDATE responses SET dedup_key = ?1, entry_id = ?2, file_id = ?3, line_offset = ?4,
                    session_key = ?5, agent_id = ?6, git_branch = ?7, model = ?8, timestamp_ms = ?9, origin = ?10,
                    is_sidechain = ?11, input_tokens = ?12, output_tokens = ?13, cache_creation_tokens = ?14,
                    cache_read_tokens = ?15, cache_write_5m_tokens = ?16, cache_write_1h_tokens = ?17,
                    total_tokens = ?18, cost_usd = ?19, price_state = ?20, reported_cost_usd = ?21
                 WHERE rowid = ?22",
            )?,
        })
    }

    /// The statement that claims a key (`replace: false`) or replaces its row, prepared on first use; the key
    /// index is built first if a first load left it missing.
    fn keyed(
        &mut self,
        conn: &Connection,
        replace: bool,
    ) -> Result<&mut BorrowingInsert, StoreError> {
        let slot = if replace {
            &mut self.replace_response
        } else {
            &mut self.claim_response
        };
        if let Some(statement) = slot {
            return Ok(statement);
        }
        ensure_response_key_index(conn)?;
        let sql = if replace {
            REPLACE_RESPONSE_SQL
        } else {
            concat!(
                insert_response_sql!(),
                " ON CONFLICT (dedup_key) DO NOTHING"
            )
        };
        Ok(slot.insert(BorrowingInsert::prepare(conn, sql)?))
    }
}

/// Inserts a response row or replaces its key's row.
const REPLACE_RESPONSE_SQL: &str = concat!(
    insert_response_sql!(),
    " ON CONFLICT (dedup_key) DO UPDATE SET entry_id = excluded.entry_id,
        file_id = excluded.file_id, line_offset = excluded.line_offset,
        session_key = excluded.session_key, agent_id = excluded.agent_id,
        git_branch = excluded.git_branch, model = excluded.model,
        timestamp_ms = excluded.timestamp_ms, origin = excluded.origin,
        is_sidechain = excluded.is_sidechain, input_tokens = excluded.input_tokens,
        output_tokens = excluded.output_tokens,
        cache_creation_tokens = excluded.cache_creation_tokens,
        cache_read_tokens = excluded.cache_read_tokens,
        cache_write_5m_tokens = excluded.cache_write_5m_tokens,
        cache_write_1h_tokens = excluded.cache_write_1h_tokens,
        total_tokens = excluded.total_tokens, cost_usd = excluded.cost_usd,
        price_state = excluded.price_state, reported_cost_usd = excluded.reported_cost_usd"
);

/// Writes `c` as its key's response row, as `how` says: `Claim` inserts it unless the key has a row, `Replace`
/// inserts it or replaces the key's row, `Append` inserts it (ignored only if the key index exists and has the
/// key), `Overwrite` writes it over the given row. Returns the rowid of the row it inserted, `None` when it
/// inserted none. (When it replaced or overwrote a row it returns SQLite's last inserted rowid, which is not
/// that row's: the caller knows the row's.)
fn write_response(
    tx: &Transaction<'_>,
    inserts: &mut Inserts,
    key: &str,
    c: &Candidate<'_>,
    how: ResponseWrite,
) -> Result<Option<i64>, StoreError> {
    let values = [
        Value::Text(key),
        Value::Int(c.entry_id),
        Value::Int(c.file_id),
        Value::Int(c.line_offset),
        text(c.session_key.as_deref()),
        text(c.agent_id.as_deref()),
        text(c.git_branch.as_deref()),
        Value::Text(&c.model),
        Value::Int(c.timestamp_ms),
        Value::Int(origin_code(c.origin)),
        Value::Int(i64::from(c.is_sidechain)),
        Value::Int(c.tokens[0]),
        Value::Int(c.tokens[1]),
        Value::Int(c.tokens[2]),
        Value::Int(c.tokens[3]),
        Value::Int(c.tokens[4]),
        Value::Int(c.tokens[5]),
        Value::Int(c.total()),
        Value::Real(c.cost_usd),
        Value::Int(c.price_state),
        real(c.reported_cost_usd),
        Value::Null,
    ];
    match how {
        ResponseWrite::Claim => inserts.keyed(tx, false)?.run(&values[..21]),
        ResponseWrite::Replace => inserts.keyed(tx, true)?.run(&values[..21]),
        ResponseWrite::Append => inserts.append_response.run(&values[..21]),
        ResponseWrite::Overwrite(rowid) => {
            let mut values = values;
            values[21] = Value::Int(rowid);
            inserts.overwrite_response.run(&values)
        }
    }
}

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
    inserts: &mut Inserts,
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
            upsert_response(tx, inserts, key.as_str(), &candidate, &mut dirty, None)?;
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
fn copies_of(
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

/// Compresses what only captures hold, one file per transaction (a sync may interleave).
pub(crate) fn archive_captures(
    conn: &mut Connection,
    captures: &std::path::Path,
) -> Result<sessiondb_core::ArchiveReport, StoreError> {
    let files: Vec<(i64, String, Option<i64>, i64)> = {
        let mut stmt = conn
            .prepare("SELECT id, path, inode, consumed FROM files WHERE on_disk = 1 ORDER BY path")
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    let mut report = sessiondb_core::ArchiveReport::default();
    for (file_id, path, inode, consumed) in files {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        // Re-read under the write lock: a sync may have moved the file on meanwhile.
        let current: Option<i64> = tx
            .query_row(
                "SELECT consumed FROM files WHERE id = ?1 AND on_disk = 1",
                [file_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        let consumed = current.unwrap_or(consumed).max(0) as u64;
        let (bytes, outcome) =
            crate::capture::archive_live_file(&tx, captures, file_id, &path, inode, consumed)?;
        tx.commit().map_err(backend)?;
        if bytes > 0 {
            report.files += 1;
            report.bytes += bytes;
        }
        if let crate::capture::Archived::Lost(lost) = outcome {
            report.unreadable_bytes += lost;
        }
    }
    Ok(report)
}

/// Marks files deleted on disk (or back). A deleted file's indexed bytes that only its capture held are
/// compressed into `raw_chunks` in the same transaction; its capture is removed once that commits.
pub(crate) fn set_on_disk(
    conn: &mut Connection,
    captures: &std::path::Path,
    paths: &[String],
    on_disk: bool,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let missing_since = if on_disk { None } else { Some(now_ms()) };
    let mut archived_captures = Vec::new();
    for path in paths {
        if !on_disk {
            let file: Option<(i64, Option<i64>, i64)> = tx
                .query_row(
                    "SELECT id, inode, consumed FROM files WHERE path = ?1 AND on_disk = 1",
                    [path],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(backend)?;
            if let Some((file_id, inode, consumed)) = file {
                match crate::capture::archive_from_capture(
                    &tx,
                    captures,
                    file_id,
                    path,
                    inode,
                    consumed.max(0) as u64,
                )? {
                    crate::capture::Archived::Complete => {}
                    crate::capture::Archived::Lost(bytes) => record_issue(
                        &tx,
                        file_id,
                        &sessiondb_core::IngestIssue {
                            offset: 0,
                            length: bytes,
                            kind: sessiondb_core::IssueKind::ArchiveLost,
                            detail: format!(
                                "the file vanished and {bytes} indexed bytes were in neither the archive nor a capture: its rows stay, those raw lines are gone"
                            ),
                        },
                    )?,
                }
                archived_captures.push(crate::capture::link_path(captures, path));
            }
        }
        tx.execute(
            "UPDATE files SET on_disk = ?2, missing_since_ms = ?3 WHERE path = ?1",
            params![path, on_disk, missing_since],
        )
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO dirty_sessions (session_key)
             SELECT sf.session_key FROM session_files sf JOIN files f ON f.id = sf.file_id WHERE f.path = ?1
             ON CONFLICT (session_key) DO NOTHING",
            [path],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)?;
    for link in archived_captures {
        // A link left behind (say, by a crash before this point) only costs disk until the path is captured again.
        let _ = std::fs::remove_file(link);
    }
    Ok(())
}

pub(crate) fn reprice(
    conn: &mut Connection,
    version: &str,
    pricer: Pricer<'_>,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    for table in ["entries", "responses"] {
        let select = if table == "entries" {
            "SELECT id, model, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                    cache_read_tokens FROM entries WHERE model IS NOT NULL"
        } else {
            "SELECT rowid, model, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                    cache_read_tokens FROM responses"
        };
        let update = if table == "entries" {
            "UPDATE entries SET cost_usd = ?2, price_state = ?3 WHERE id = ?1"
        } else {
            "UPDATE responses SET cost_usd = ?2, price_state = ?3 WHERE rowid = ?1"
        };
        let rows: Vec<(i64, String, TokenCounts)> = {
            let mut stmt = tx.prepare(select).map_err(backend)?;
            let rows = stmt
                .query_map([], |row| {
                    let get = |i: usize| -> rusqlite::Result<u64> {
                        Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
                    };
                    Ok((
                        row.get(0)?,
                        row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        TokenCounts {
                            input: get(2)?,
                            output: get(3)?,
                            cache_write_5m: get(4)?,
                            cache_write_1h: get(5)?,
                            cache_read: get(6)?,
                        },
                    ))
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        let mut stmt = tx.prepare(update).map_err(backend)?;
        for (id, model, tokens) in rows {
            let (usd, state) = price_columns(pricer(&model, &tokens));
            stmt.execute(params![id, usd, state]).map_err(backend)?;
        }
    }
    tx.execute(
        "INSERT INTO dirty_sessions (session_key) SELECT session_key FROM sessions WHERE true
         ON CONFLICT (session_key) DO NOTHING",
        [],
    )
    .map_err(backend)?;
    crate::SqliteStore::set_meta(&tx, "price_table_version", version)?;
    tx.commit().map_err(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two first loads that each took the database for empty wrote some keys twice: building the key index
    /// keeps each key's best copy by `ResponseRank`, and refreshes the sessions of every copy.
    #[test]
    fn building_the_key_index_after_two_first_loads_keeps_each_keys_best_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
        let conn = &store.conn;
        conn.execute_batch(
            "DROP INDEX responses_key;
             INSERT INTO files (id, path, root, kind) VALUES (1, '/p/a.jsonl', '/p', 'transcript'),
                (2, '/p/b.jsonl', '/p', 'transcript');",
        )
        .unwrap();
        // (rowid, key, file, offset, session, origin, sidechain, total, timestamp, forked copy)
        let rows = [
            (1, "m1:r1", 1, 10, "s1", 1, 0, 900, 5, false),
            (2, "m1:r1", 2, 10, "s2", 2, 0, 100, 5, false),
            (3, "m1:r1", 1, 10, "s3", 2, 0, 100, 5, false),
            (4, "m2:r2", 2, 20, "s4", 2, 1, 100, 1, false),
            (5, "m2:r2", 2, 30, "s5", 2, 0, 100, 9, true),
            (6, "m3:r3", 1, 40, "s6", 2, 0, 100, 9, false),
        ];
        for (rowid, key, file, offset, session, origin, sidechain, total, ts, forked) in rows {
            conn.execute(
                "INSERT INTO entries (id, file_id, line_offset, line_length, session_key, kind,
                    request_session_id)
                 VALUES (?1, ?2, ?3, 1, ?4, 'assistant', ?5)",
                rusqlite::params![rowid, file, offset, session, forked.then_some("s0")],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO responses (rowid, dedup_key, entry_id, file_id, line_offset, session_key, model,
                    timestamp_ms, origin, is_sidechain, input_tokens, output_tokens, cache_creation_tokens,
                    cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, total_tokens, cost_usd,
                    price_state)
                 VALUES (?1, ?2, ?1, ?3, ?4, ?5, 'claude-x', ?6, ?7, ?8, ?9, 0, 0, 0, 0, 0, ?9, 0, 0)",
                rusqlite::params![rowid, key, file, offset, session, ts, origin, sidechain, total],
            )
            .unwrap();
        }

        ensure_response_key_index(conn).unwrap();

        let kept: Vec<(i64, String)> = conn
            .prepare("SELECT rowid, dedup_key FROM responses ORDER BY rowid")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // m1: the assistant lines beat the embedded copy, and of two equal ones the path that sorts first
        // wins; m2: the main thread beats a sidechain even as a forked copy; m3 had one row.
        assert_eq!(
            kept,
            [
                (3, "m1:r1".into()),
                (5, "m2:r2".into()),
                (6, "m3:r3".into())
            ]
        );
        let dirty: Vec<String> = conn
            .prepare("SELECT session_key FROM dirty_sessions ORDER BY session_key")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for session in ["s1", "s2", "s3", "s4", "s5"] {
            assert!(dirty.iter().any(|d| d == session), "{session} in {dirty:?}");
        }
        assert!(
            conn.execute(
                "INSERT INTO responses (dedup_key, entry_id, file_id, line_offset, model, timestamp_ms,
                    origin, is_sidechain, input_tokens, output_tokens, cache_creation_tokens,
                    cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, total_tokens, cost_usd,
                    price_state)
                 VALUES ('m1:r1', 1, 1, 0, 'x', 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
                [],
            )
            .is_err(),
            "the key index exists"
        );
    }
}
