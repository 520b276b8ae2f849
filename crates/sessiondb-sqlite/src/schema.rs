//! Schema migrations, append-only: each entry upgrades from the previous version, all pending ones run in one
//! transaction at open, and a database newer than this code is refused untouched.

/// Lookup indexes on `entries` that a bulk load drops and builds once at its end (sorting is much faster than
/// inserting random keys row by row). `open` recreates any that an interrupted bulk load left missing.
/// (The same definitions as in the migrations, which created the older ones; a load writes nothing that needs
/// them.)
/// (Lines are found by uuid through the table `entry_uuids`, which a first load fills at its end too: see
/// `uuid_lookup`.)
pub(crate) const BULK_ENTRY_INDEXES: &[&str] =
    &["CREATE INDEX IF NOT EXISTS entries_session ON entries (session_key, timestamp_ms)"];

/// The same for the secondary indexes of `responses` (its key index is [`RESPONSE_KEY_INDEX`]).
pub(crate) const BULK_RESPONSE_INDEXES: &[&str] =
    &["CREATE INDEX IF NOT EXISTS responses_session ON responses (session_key)"];

/// Indexes that only the purge of a rewritten file reads (`purge::purge_file`): the copies of its responses
/// by `message_id`, and its response rows by file. A first load drops them and does not build them (0.1 s per
/// GiB of transcripts, for an event most databases never see); the first purge builds them, and from then on
/// they are kept up to date like any other index. (Migration 4's comment, "open builds it", predates this.)
pub(crate) const ON_DEMAND_INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS entries_message ON entries (message_id) WHERE message_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS responses_file ON responses (file_id)",
];

/// The unique index of `responses` on its key, which a first load also drops and builds at its end (it elects
/// responses in memory meanwhile: `election::HeldResponses`). Built by `election::ensure_response_key_index`.
pub(crate) const RESPONSE_KEY_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS responses_key ON responses (dedup_key)";

/// The names of the indexes a bulk load builds at its end: [`RESPONSE_KEY_INDEX`], [`BULK_RESPONSE_INDEXES`] and
/// [`BULK_ENTRY_INDEXES`] (`open` builds whichever is missing).
pub(crate) const END_OF_LOAD_INDEX_NAMES: &[&str] =
    &["responses_key", "responses_session", "entries_session"];

pub(crate) const BULK_INDEX_NAMES: &[&str] = &[
    "responses_key",
    "entries_message",
    "entries_session",
    "responses_session",
    "responses_file",
];

/// Migrations in order; `MIGRATIONS[i]` upgrades from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every file a source found. `consumed` is the committed byte offset: rows of the bytes before it are indexed.
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner_session TEXT,
    inode BIGINT,
    size BIGINT NOT NULL DEFAULT 0,
    mtime_ns BIGINT NOT NULL DEFAULT 0,
    consumed BIGINT NOT NULL DEFAULT 0,
    head_hash BIGINT NOT NULL DEFAULT 0,
    head_len BIGINT NOT NULL DEFAULT 0,
    line_count BIGINT NOT NULL DEFAULT 0,
    rewrites BIGINT NOT NULL DEFAULT 0,
    on_disk INTEGER NOT NULL DEFAULT 1,
    first_seen_ms BIGINT,
    last_changed_ms BIGINT,
    missing_since_ms BIGINT,
    agent_type TEXT,
    agent_description TEXT,
    agent_tool_use_id TEXT
);

-- One row per transcript line (every type, known or not).
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    file_id BIGINT NOT NULL,
    line_offset BIGINT NOT NULL,
    line_length BIGINT NOT NULL,
    session_key TEXT,
    kind TEXT NOT NULL,
    subtype TEXT,
    role TEXT,
    uuid TEXT,
    parent_uuid TEXT,
    logical_parent_uuid TEXT,
    leaf_uuid TEXT,
    request_session_id TEXT,
    timestamp_ms BIGINT,
    cwd TEXT,
    git_branch TEXT,
    version TEXT,
    is_sidechain INTEGER NOT NULL DEFAULT 0,
    is_meta INTEGER NOT NULL DEFAULT 0,
    is_compact_summary INTEGER NOT NULL DEFAULT 0,
    agent_id TEXT,
    spawned_agent_id TEXT,
    dedup_key TEXT,
    message_id TEXT,
    request_id TEXT,
    model TEXT,
    response_origin INTEGER,
    response_timestamp_ms BIGINT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cache_creation_tokens BIGINT,
    cache_read_tokens BIGINT,
    cache_write_5m_tokens BIGINT,
    cache_write_1h_tokens BIGINT,
    cost_usd DOUBLE PRECISION,
    price_state INTEGER,
    claude_cost_usd DOUBLE PRECISION,
    text TEXT,
    details TEXT
);
CREATE INDEX entries_session ON entries (session_key, timestamp_ms);
CREATE INDEX entries_logical_parent ON entries (logical_parent_uuid) WHERE logical_parent_uuid IS NOT NULL;

-- The deduplicated API responses: one row per (message.id, requestId), holding the winning copy.
CREATE TABLE responses (
    dedup_key TEXT PRIMARY KEY,
    entry_id BIGINT NOT NULL,
    file_id BIGINT NOT NULL,
    line_offset BIGINT NOT NULL,
    session_key TEXT,
    agent_id TEXT,
    git_branch TEXT,
    model TEXT NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    origin INTEGER NOT NULL,
    is_sidechain INTEGER NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_creation_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_5m_tokens BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    price_state INTEGER NOT NULL,
    reported_cost_usd DOUBLE PRECISION
);
CREATE INDEX responses_time ON responses (timestamp_ms);
CREATE INDEX responses_session ON responses (session_key);
CREATE INDEX responses_file ON responses (file_id);

-- Rare lines that name or price a session: summary, custom-title, ai-title, agent-name, last-prompt, cost-state.
CREATE TABLE markers (
    entry_id BIGINT PRIMARY KEY,
    file_id BIGINT NOT NULL,
    session_key TEXT,
    kind TEXT NOT NULL,
    leaf_uuid TEXT,
    text TEXT,
    amount DOUBLE PRECISION,
    details TEXT
);
CREATE INDEX markers_session ON markers (session_key);
CREATE INDEX markers_leaf ON markers (leaf_uuid);
CREATE INDEX markers_file ON markers (file_id);

CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    file_id BIGINT NOT NULL,
    line_offset BIGINT NOT NULL,
    session_key TEXT,
    project TEXT,
    display TEXT,
    timestamp_ms BIGINT,
    UNIQUE (file_id, line_offset)
);
CREATE INDEX history_session ON history (session_key);

CREATE TABLE session_files (
    session_key TEXT NOT NULL,
    file_id BIGINT NOT NULL,
    PRIMARY KEY (session_key, file_id)
);
CREATE INDEX session_files_file ON session_files (file_id);

-- zstd frames of the raw bytes, so the index is an archive that outlives the files.
CREATE TABLE raw_chunks (
    id INTEGER PRIMARY KEY,
    file_id BIGINT NOT NULL,
    start_offset BIGINT NOT NULL,
    end_offset BIGINT NOT NULL,
    codec TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX raw_chunks_file ON raw_chunks (file_id, start_offset);

CREATE TABLE ingest_issues (
    id INTEGER PRIMARY KEY,
    file_id BIGINT NOT NULL,
    line_offset BIGINT NOT NULL,
    line_length BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    recorded_ms BIGINT NOT NULL
);
CREATE INDEX ingest_issues_file ON ingest_issues (file_id);

CREATE TABLE dirty_sessions (
    session_key TEXT PRIMARY KEY
);

-- Derived per-session summary, recomputed for dirty sessions after each sync.
CREATE TABLE sessions (
    session_key TEXT PRIMARY KEY,
    project_dir TEXT,
    title TEXT,
    first_prompt TEXT,
    git_branch TEXT,
    models TEXT,
    started_at_ms BIGINT,
    last_activity_ms BIGINT,
    message_count BIGINT NOT NULL DEFAULT 0,
    subagent_message_count BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cache_creation_tokens BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    unpriced_tokens BIGINT NOT NULL DEFAULT 0,
    claude_cost_usd DOUBLE PRECISION,
    on_disk INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    claude_version TEXT,
    -- parentUuid of the first main-thread line: where a session that did not replay its past continues from.
    root_parent_uuid TEXT
);
CREATE INDEX sessions_root_parent ON sessions (root_parent_uuid);
CREATE INDEX sessions_activity ON sessions (last_activity_ms);
CREATE INDEX sessions_project ON sessions (project_dir);

-- Deduplicated usage per session, 15-minute slot, model and branch: what usage reports read. Derived from
-- `responses` for dirty sessions, like `sessions`.
CREATE TABLE usage_rollup (
    session_key TEXT,
    bucket_ms BIGINT NOT NULL,
    model TEXT NOT NULL,
    git_branch TEXT,
    responses BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_creation_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    unpriced_tokens BIGINT NOT NULL,
    reported_cost_usd DOUBLE PRECISION NOT NULL
);
CREATE INDEX usage_rollup_session ON usage_rollup (session_key);

CREATE TABLE projects (
    project_dir TEXT PRIMARY KEY,
    session_count BIGINT NOT NULL,
    last_activity_ms BIGINT
);
"#,
    r#"
-- The registry: apps' own keys (a project, a chat) and the session each currently points at.
CREATE TABLE registry_keys (
    key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    source TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- The audit log of every transition an app reported.
CREATE TABLE registry_transitions (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    previous_session_id TEXT,
    session_id TEXT NOT NULL,
    source TEXT NOT NULL,
    note TEXT,
    recorded_ms BIGINT NOT NULL
);
CREATE INDEX registry_transitions_key ON registry_transitions (key, id);
CREATE INDEX registry_transitions_time ON registry_transitions (recorded_ms);
"#,
    r#"
-- Usage reports read `usage_rollup`, so nothing reads responses by time: the index only cost every insert and
-- a first load's build.
DROP INDEX IF EXISTS responses_time;
"#,
    r#"
-- The copies of a response are found by `message_id` (and `request_id`), which every response line carries
-- anyway: `entries.dedup_key` repeated both in every row and had the larger index. New rows leave it NULL;
-- `entries_message` replaces `entries_dedup` (open builds it).
DROP INDEX IF EXISTS entries_dedup;
"#,
    r#"
-- `entries` is found by uuid through `entries_uuid_prefix` (open builds it), an index on the first 8 characters.
DROP INDEX IF EXISTS entries_uuid;
"#,
    r#"
-- `responses` keyed by a unique index (`responses_key`) instead of its primary key, which no load could drop:
-- a first load elects responses in memory and builds the index at its end. Rowids are kept.
CREATE TABLE responses_keyed (
    dedup_key TEXT NOT NULL,
    entry_id BIGINT NOT NULL,
    file_id BIGINT NOT NULL,
    line_offset BIGINT NOT NULL,
    session_key TEXT,
    agent_id TEXT,
    git_branch TEXT,
    model TEXT NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    origin INTEGER NOT NULL,
    is_sidechain INTEGER NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_creation_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_5m_tokens BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    price_state INTEGER NOT NULL,
    reported_cost_usd DOUBLE PRECISION
);
INSERT INTO responses_keyed (rowid, dedup_key, entry_id, file_id, line_offset, session_key, agent_id, git_branch,
    model, timestamp_ms, origin, is_sidechain, input_tokens, output_tokens, cache_creation_tokens,
    cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, total_tokens, cost_usd, price_state,
    reported_cost_usd)
SELECT rowid, dedup_key, entry_id, file_id, line_offset, session_key, agent_id, git_branch,
    model, timestamp_ms, origin, is_sidechain, input_tokens, output_tokens, cache_creation_tokens,
    cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, total_tokens, cost_usd, price_state,
    reported_cost_usd
FROM responses;
DROP TABLE responses;
ALTER TABLE responses_keyed RENAME TO responses;
CREATE UNIQUE INDEX responses_key ON responses (dedup_key);
"#,
    r#"
-- `entries` is found by uuid through the table `entry_uuids` (see `uuid_lookup`) instead of the expression index
-- `entries_uuid_prefix`: a first load fills the table from pairs it sorted itself, where the index was sorted
-- again in SQLite after every first load. Open fills it from `entries`: `meta.entry_uuids_through`, the highest
-- entry id it covers, is not set yet.
CREATE TABLE entry_uuids (
    uuid_prefix TEXT NOT NULL,
    entry_id BIGINT NOT NULL,
    PRIMARY KEY (uuid_prefix, entry_id)
) WITHOUT ROWID;
DROP INDEX IF EXISTS entries_uuid_prefix;
"#,
    r#"
-- More evidence to tell an unchanged file, an append and a rewrite apart (`sessiondb_ingest::change`): the file
-- system, the ctime (an edit that puts the mtime back still moves it), and a hash of the bytes just before
-- `consumed`. NULL and 0 in rows from before: not compared until the file's next batch fills them in.
ALTER TABLE files ADD COLUMN device BIGINT;
ALTER TABLE files ADD COLUMN ctime_ns BIGINT;
ALTER TABLE files ADD COLUMN tail_hash BIGINT NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN tail_len BIGINT NOT NULL DEFAULT 0;
"#,
    r#"
-- Responses holding numbers the parser now refuses (a count wrapped below 0 or past 10^9 tokens, a costUSD past
-- $10,000: `sessiondb_format::numbers`) were written by older code, and can make the SQL sums overflow. Their
-- files are re-read whole by the next sync: an mtime and a head hash that cannot match make it a rewrite, which
-- drops the file's rows; the parser then leaves those responses uncounted and records each bad number.
UPDATE files SET mtime_ns = -1, head_hash = ~head_hash
WHERE id IN (
    SELECT file_id FROM responses
    WHERE input_tokens NOT BETWEEN 0 AND 1000000000
       OR output_tokens NOT BETWEEN 0 AND 1000000000
       OR cache_creation_tokens NOT BETWEEN 0 AND 1000000000
       OR cache_read_tokens NOT BETWEEN 0 AND 1000000000
       OR cache_write_5m_tokens NOT BETWEEN 0 AND 1000000000
       OR cache_write_1h_tokens NOT BETWEEN 0 AND 1000000000
       OR reported_cost_usd < 0 OR reported_cost_usd > 10000
);
"#,
    r#"
-- Ids that are not sessions (`sessiondb_core::is_session`) but carry usage: Claude Code 2.0.x start-up Warmups.
-- `started_for` is the session the Warmup was started for (`sessiondb_core::warmup_started_for`), NULL when the
-- files do not show one; `first_ms` and `last_ms` are the times of the id's first and last lines. Derived by
-- `refresh_sessions`, which marks the ids a database already holds dirty here so its next sync fills it in.
CREATE TABLE startup_usage (
    session_key TEXT PRIMARY KEY,
    started_for TEXT,
    first_ms BIGINT,
    last_ms BIGINT
);
CREATE INDEX startup_usage_started_for ON startup_usage (started_for);
INSERT OR IGNORE INTO dirty_sessions (session_key)
SELECT DISTINCT r.session_key FROM usage_rollup r
WHERE r.session_key IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_key = r.session_key);
"#,
    r#"
-- Workflow sessions (`sessiondb_core::workflow`): registered project roots, and each folder
-- `<root>/agents/sessions/<slug>/` with its whole last good `state.json` (queryable with json_extract), the
-- columns extracted from it, and the stamps a sync compares (`state_*` NULL after a read error: read again).
-- `IF NOT EXISTS`: tests that put a database back to an older version re-run this migration over its tables.
CREATE TABLE IF NOT EXISTS workflow_projects (
    root TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    added_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS workflow_sessions (
    id INTEGER PRIMARY KEY,
    project_root TEXT NOT NULL,
    slug TEXT NOT NULL,
    state_id TEXT,
    title TEXT NOT NULL,
    phase TEXT,
    status TEXT,
    session_type TEXT,
    created_ms BIGINT,
    updated_ms BIGINT,
    checkpoints_total BIGINT NOT NULL DEFAULT 0,
    checkpoints_done BIGINT NOT NULL DEFAULT 0,
    state_json TEXT,
    state_size BIGINT,
    state_mtime_ns BIGINT,
    state_hash BIGINT,
    spec_size BIGINT,
    spec_mtime_ns BIGINT,
    spec_hash BIGINT,
    plan_size BIGINT,
    plan_mtime_ns BIGINT,
    plan_hash BIGINT,
    error TEXT,
    on_disk INTEGER NOT NULL DEFAULT 1,
    indexed_ms BIGINT NOT NULL,
    UNIQUE (project_root, slug)
);
CREATE INDEX IF NOT EXISTS workflow_sessions_phase ON workflow_sessions (phase);
CREATE INDEX IF NOT EXISTS workflow_sessions_state_id ON workflow_sessions (project_root, state_id);
"#,
];

#[cfg(test)]
mod tests {
    use crate::{election, links, purge, refresh, write, SqliteStore};
    use rusqlite::Connection;

    /// `EXPLAIN QUERY PLAN` of `sql`, one detail line per step.
    fn plan(store: &SqliteStore, sql: &str) -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let unbound = vec![rusqlite::types::Null; stmt.parameter_count()];
        let rows = stmt
            .query_map(rusqlite::params_from_iter(unbound), |row| {
                row.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn every_lookup_by_uuid_goes_through_entry_uuids() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
        let summary_title = format!("SELECT {} 1 FROM sessions", refresh::SUMMARY_TITLE_SQL);
        // Each statement with a uuid condition (`same_uuid!`): every one must search `entry_uuids` by prefix.
        for sql in [
            links::SESSIONS_SHARING_LINES_SQL,
            links::SESSIONS_HOLDING_UUID_SQL,
            links::SESSIONS_POINTING_INTO_SQL,
            refresh::LEAF_HOLDERS_SQL,
            summary_title.as_str(),
            write::MARK_LEAF_HOLDERS_DIRTY_SQL,
        ] {
            let by_uuid = sql.matches("FROM entry_uuids WHERE uuid_prefix").count();
            let steps = plan(&store, sql);
            let through_prefix = steps
                .iter()
                .filter(|step| {
                    step.starts_with("SEARCH entry_uuids USING PRIMARY KEY (uuid_prefix=?")
                })
                .count();
            // A full pass over `entries` or `entry_uuids` (a table or index scan) is what the table is there to
            // avoid.
            let scans: Vec<&String> = steps
                .iter()
                .filter(|step| {
                    let mut words = step.split_whitespace();
                    words.next() == Some("SCAN")
                        && matches!(
                            words.next(),
                            Some("e" | "o" | "p" | "c" | "line" | "entries" | "entry_uuids")
                        )
                })
                .collect();
            assert!(
                by_uuid > 0 && through_prefix == by_uuid && scans.is_empty(),
                "expected {by_uuid} uuid lookups through entry_uuids and no scan of entries:\n{sql}\n{steps:#?}"
            );
        }
    }

    #[test]
    fn the_end_of_load_index_names_are_those_the_load_builds() {
        let mut built: Vec<String> = std::iter::once(super::RESPONSE_KEY_INDEX)
            .chain(super::BULK_RESPONSE_INDEXES.iter().copied())
            .chain(super::BULK_ENTRY_INDEXES.iter().copied())
            .map(|sql| {
                let after = sql.split("IF NOT EXISTS ").nth(1).unwrap();
                after.split_whitespace().next().unwrap().to_owned()
            })
            .collect();
        built.sort();
        let mut named: Vec<String> = super::END_OF_LOAD_INDEX_NAMES
            .iter()
            .map(|name| (*name).to_owned())
            .collect();
        named.sort();
        assert_eq!(built, named);
    }

    #[test]
    fn a_rewritten_file_loses_its_lines_without_a_scan_of_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
        for sql in [
            purge::DELETE_FILE_ENTRIES_SQL,
            crate::uuid_lookup::DELETE_FILE_ROWS_SQL,
        ] {
            let steps = plan(&store, sql);
            assert!(
                steps
                    .iter()
                    .any(|step| step.contains("USING INDEX entries_session"))
                    && !steps.iter().any(|step| step.starts_with("SCAN entr")),
                "{sql}\n{steps:#?}"
            );
        }
    }

    #[test]
    fn a_purge_builds_the_indexes_it_reads_and_then_uses_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
        // As a first load leaves the database: without the on-demand indexes (a new database has none either).
        store
            .conn
            .execute_batch(
                "DROP INDEX IF EXISTS entries_message; DROP INDEX IF EXISTS responses_file;",
            )
            .unwrap();
        let tx = store.conn.transaction().unwrap();
        let mut inserts = election::ResponseInserts::prepare(&tx).unwrap();
        purge::purge_file(&tx, &mut inserts, 1).unwrap();
        drop(inserts);
        tx.commit().unwrap();
        for (sql, index) in [
            (purge::COPIES_OF_SQL, "entries_message"),
            (purge::RESPONSES_OF_FILE_SQL, "responses_file"),
        ] {
            let steps = plan(&store, sql);
            assert!(
                steps.iter().any(|step| step.contains(index)),
                "{index} missing from the plan of\n{sql}\n{steps:#?}"
            );
        }
    }

    #[test]
    fn moving_responses_to_a_key_index_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let insert = "INSERT INTO responses (rowid, dedup_key, entry_id, file_id, line_offset, model, timestamp_ms,
                origin, is_sidechain, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens,
                cache_write_5m_tokens, cache_write_1h_tokens, total_tokens, cost_usd, price_state)
            VALUES (?1, ?2, 1, 1, 0, 'claude-x', 5, 2, 0, 1, 2, 3, 4, 0, 0, 10, 0.5, 0)";
        {
            // A database as the version before the move left it (responses keyed by their primary key).
            let conn = Connection::open(&path).unwrap();
            for migration in &super::MIGRATIONS[..5] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", 5).unwrap();
            conn.execute(insert, rusqlite::params![7, "m1:r1"]).unwrap();
            conn.execute(insert, rusqlite::params![9, "m2:r2"]).unwrap();
        }
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let rows: Vec<(i64, String, i64)> = conn
            .prepare("SELECT rowid, dedup_key, total_tokens FROM responses ORDER BY rowid")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, [(7, "m1:r1".into(), 10), (9, "m2:r2".into(), 10)]);
        assert!(
            conn.execute(insert, rusqlite::params![10, "m1:r1"])
                .is_err(),
            "a key is still unique"
        );
    }
}
