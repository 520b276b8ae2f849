//! How a batch's values become columns and back, shared by the writer's modules: stored token counts, price
//! and origin codes, the `Value`s of a borrowing insert, the hashing of the writer's maps, and the two small
//! writes every path makes (marking a session dirty, recording an issue).

use crate::backend;
use crate::borrowing_insert::Value;
use rusqlite::{params, Transaction};
use sessiondb_core::StoreError;
use sessiondb_format::{ResponseOrigin, MAX_TOKENS_PER_FIELD};
use sessiondb_pricing::Cost;

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A token count as stored: at most [`MAX_TOKENS_PER_FIELD`]. Parsed counts never exceed it (bigger ones are
/// recorded as implausible and not counted); the clamp keeps that true of every row, so that the SQL sums over
/// them (`usage_rollup`, `sessions`, `show`) cannot overflow SQLite's 64-bit integers.
pub(crate) fn stored_tokens(n: u64) -> i64 {
    n.min(MAX_TOKENS_PER_FIELD) as i64
}

/// A stored count or offset as the rank reads it (stored ones are never negative).
pub(crate) fn stored_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn price_columns(cost: Cost) -> (f64, i64) {
    match cost {
        Cost::Usd(usd) => (usd, 0),
        Cost::Free => (0.0, 1),
        Cost::Unpriced => (0.0, 2),
    }
}

pub(crate) fn origin_code(origin: ResponseOrigin) -> i64 {
    match origin {
        ResponseOrigin::AssistantLine => 2,
        ResponseOrigin::EmbeddedInProgress => 1,
    }
}

/// The origin a stored code names ([`origin_code`]); a code no line is written with ranks as an embedded copy.
pub(crate) fn origin_of_code(code: i64) -> ResponseOrigin {
    match code {
        2 => ResponseOrigin::AssistantLine,
        _ => ResponseOrigin::EmbeddedInProgress,
    }
}

pub(crate) fn mark_dirty(tx: &Transaction<'_>, session_key: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO dirty_sessions (session_key) VALUES (?1) ON CONFLICT (session_key) DO NOTHING",
    )
    .map_err(backend)?
    .execute([session_key])
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn text(value: Option<&str>) -> Value<'_> {
    value.map_or(Value::Null, Value::Text)
}

pub(crate) fn int(value: Option<i64>) -> Value<'static> {
    value.map_or(Value::Null, Value::Int)
}

pub(crate) fn real(value: Option<f64>) -> Value<'static> {
    value.map_or(Value::Null, Value::Real)
}

/// Records a skipped or lost stretch of a file, for `doctor`.
pub(crate) fn record_issue(
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
