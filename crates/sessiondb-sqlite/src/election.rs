//! Response election: which copy of a response is its key's `responses` row.
//!
//! Every copy of a response (same `message.id` + `requestId`) is kept in `entries`; `responses` holds the
//! winning copy, chosen by core's [`ResponseRank`] so that the winner does not depend on the order files are read
//! in (an incremental sync and a rebuild agree). The key is stored as its text
//! ([`sessiondb_core::ResponseKey::as_str`]). Incremental batches elect through the unique index `responses_key`;
//! a first load elects in memory ([`HeldResponses`]) until it builds that index at its end.

use crate::backend;
use crate::borrowing_insert::{BorrowingInsert, Value};
use crate::columns::{origin_code, origin_of_code, real, stored_count, text, KeyHashing};
use crate::first_load::ElectedResponse;
use rusqlite::{Connection, OptionalExtension, Transaction};
use sessiondb_core::{ResponseRank, StoreError};
use sessiondb_format::ResponseOrigin;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// One copy of a response, as a candidate for its key's `responses` row. Its strings borrow from the batch
/// being applied (a copy read back from the database owns them): an assistant line allocates nothing here.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<'a> {
    pub(crate) entry_id: i64,
    pub(crate) file_id: i64,
    pub(crate) path: Cow<'a, str>,
    pub(crate) line_offset: i64,
    pub(crate) session_key: Option<Cow<'a, str>>,
    pub(crate) agent_id: Option<Cow<'a, str>>,
    pub(crate) git_branch: Option<Cow<'a, str>>,
    pub(crate) model: Cow<'a, str>,
    pub(crate) timestamp_ms: i64,
    pub(crate) origin: ResponseOrigin,
    pub(crate) is_sidechain: bool,
    /// A copy made by `--fork-session` that names another session as its origin (`requestSessionId`).
    pub(crate) copied: bool,
    pub(crate) tokens: [i64; 6],
    pub(crate) cost_usd: f64,
    pub(crate) price_state: i64,
    pub(crate) reported_cost_usd: Option<f64>,
}

impl Candidate<'_> {
    /// What the first load's usage rollup keeps of this copy once it is the response's row.
    pub(crate) fn elected(&self) -> ElectedResponse<'_> {
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
    pub(crate) fn rank(&self) -> ResponseRank<'_> {
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
pub(crate) struct HeldResponse {
    rowid: i64,
    file_id: i64,
    origin: ResponseOrigin,
    is_sidechain: bool,
    total: i64,
    copied: bool,
    timestamp_ms: i64,
    line_offset: i64,
}

/// What [`HeldResponses::elect`] did with a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeldElection {
    /// The held row outranks it: nothing was written.
    Lost,
    /// It is the key's row now, at this rowid.
    Won(i64),
    /// Nothing was written: elect it, and every later candidate, through the key index.
    HandOff,
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

    /// Elects `candidate` for `key` in memory and writes the outcome. [`HeldElection::HandOff`] when election
    /// must go through the key index instead: the load reached its limit, or another sync wrote the key
    /// meanwhile (and built the index). Either way the index exists when it hands off.
    pub(crate) fn elect(
        &mut self,
        tx: &Transaction<'_>,
        inserts: &mut ResponseInserts,
        key: &str,
        candidate: &Candidate<'_>,
    ) -> Result<HeldElection, StoreError> {
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
                return Ok(HeldElection::Lost);
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
            return Ok(HeldElection::Won(current.rowid));
        }
        if self.rows.len() >= self.limit {
            tracing::debug!(
                held = self.rows.len(),
                "first load: building the response key index early"
            );
            ensure_response_key_index(tx)?;
            return Ok(HeldElection::HandOff);
        }
        let Some(rowid) = write_response(tx, inserts, key, candidate, ResponseWrite::Append)?
        else {
            // Ignored: the key index exists and has the key, so another sync wrote it. (`apply_batches` hands
            // election to the index at the first transaction after another sync built it; this is the
            // second line of defence.)
            return Ok(HeldElection::HandOff);
        };
        self.paths
            .entry(candidate.file_id)
            .or_insert_with(|| candidate.path.clone().into_owned());
        self.rows
            .insert(key.to_owned(), HeldResponse { rowid, ..held });
        Ok(HeldElection::Won(rowid))
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

pub(crate) fn response_key_index_exists(conn: &Connection) -> Result<bool, StoreError> {
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
pub(crate) const TWICE_WRITTEN_SQL: &str = "
    CREATE TEMP TABLE twice_written AS
        SELECT dedup_key FROM responses GROUP BY dedup_key HAVING COUNT(*) > 1;
    INSERT INTO dirty_sessions (session_key)
        SELECT DISTINCT session_key FROM responses
        WHERE session_key IS NOT NULL AND dedup_key IN (SELECT dedup_key FROM twice_written)
        ON CONFLICT (session_key) DO NOTHING;";
pub(crate) const COPIES_WRITTEN_TWICE_SQL: &str = "
    SELECT r.rowid, r.dedup_key, r.origin, r.is_sidechain, r.total_tokens,
        e.request_session_id IS NOT NULL AND e.request_session_id <> COALESCE(e.session_key, ''),
        r.timestamp_ms, r.line_offset, f.path
    FROM responses r JOIN files f ON f.id = r.file_id JOIN entries e ON e.id = r.entry_id
    WHERE r.dedup_key IN (SELECT dedup_key FROM twice_written)
    ORDER BY r.dedup_key";

/// One of several `responses` rows of a key, as [`keep_best_copy_of_each_response`] reads it.
pub(crate) struct WrittenCopy {
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
pub(crate) fn keep_best_copy_of_each_response(conn: &Connection) -> Result<(), StoreError> {
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

/// Makes `candidate` the response's row if it outranks the current one, through the key index; the loser's
/// session is marked dirty so its totals are recomputed. (`dirty` holds the sessions of the batch's lines, the
/// candidate's among them.) Returns the rowid of the row the candidate now is, `None` when it lost.
pub(crate) fn upsert_response(
    tx: &Transaction<'_>,
    inserts: &mut ResponseInserts,
    key: &str,
    candidate: &Candidate<'_>,
    dirty: &mut HashSet<String, KeyHashing>,
) -> Result<Option<i64>, StoreError> {
    // The candidate's own session is already in `dirty`: it is the session of one of the batch's lines.
    // Most responses are seen once: claim the key outright, and compare ranks only when it is taken.
    if let Some(rowid) = write_response(tx, inserts, key, candidate, ResponseWrite::Claim)? {
        return Ok(Some(rowid));
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
            return Ok(None);
        }
        if let Some(session) = current_session {
            dirty.insert(session);
        }
        replaced_rowid = Some(rowid);
    }
    // The statement's rowid is the new row's when it inserts; when it replaces, the replaced row keeps its own.
    let inserted_rowid = write_response(tx, inserts, key, candidate, ResponseWrite::Replace)?;
    Ok(replaced_rowid.or(inserted_rowid))
}

/// The `responses` insert the statements of [`ResponseInserts`] share.
macro_rules! insert_response_sql {
    () => {
        concat!("INSERT INTO responses (dedup_key, entry_id, file_id, line_offset, session_key, agent_id, git_branch, model,
            timestamp_ms, origin, is_sidechain, input_tokens, output_tokens, cache_creation_tokens,
            cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, total_tokens, cost_usd, price_state,
            reported_cost_usd)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)")
    };
}

/// The writer's prepared `responses` writes, made once per store (see [`BorrowingInsert`]).
pub(crate) struct ResponseInserts {
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
pub(crate) enum ResponseWrite {
    Claim,
    Replace,
    Append,
    Overwrite(i64),
}

impl ResponseInserts {
    pub(crate) fn prepare(conn: &Connection) -> Result<ResponseInserts, StoreError> {
        Ok(ResponseInserts {
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
pub(crate) const REPLACE_RESPONSE_SQL: &str = concat!(
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
pub(crate) fn write_response(
    tx: &Transaction<'_>,
    inserts: &mut ResponseInserts,
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
