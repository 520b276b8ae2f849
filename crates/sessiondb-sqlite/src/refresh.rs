//! Recomputes the derived `sessions` and `projects` rows for the sessions a sync touched (`dirty_sessions`).
//!
//! Set-based SQL over the dirty set, so a cold sync refreshes every session in a few passes and a small append
//! refreshes one. The dirty set is written in the same transactions as the batches, so a crash between a batch
//! and its refresh is healed by the next sync.
//!
//! The rule for a session's facts from its lines (times, counts, first prompt, project dir, branch, root parent,
//! version) is `sessiondb_core::SessionFold`. A first load folds its lines as it writes them and inserts the
//! facts (`first_load.rs`). Incremental syncs keep this SQL, the same rule in set-based form: the fold there
//! would have to read each dirty session's lines back out of SQLite into Rust on every sync (this SQL reads them
//! too, but inside SQLite, a few passes for the whole dirty set), or keep each session's fold state in the
//! database (a migration, and a state to keep in step with purges). Neither was measured faster, so the SQL
//! stays. `first_load_facts_match_the_sql` holds the two to the same rows: a change to one fact goes in both.

use crate::backend;
use crate::first_load::FirstLoadFacts;
use rusqlite::{params, Connection};
use sessiondb_core::usage::TIME_BUCKET_MS;
use sessiondb_core::{RefreshedSession, SessionState, StoreError};
use sessiondb_pricing::SYNTHETIC_MODEL;
use std::collections::BTreeMap;

const CONVERSATION: &str = "kind IN ('user', 'assistant')";

/// A session's first prompt and project from history.jsonl, for sessions whose lines name none.
const HISTORY_DISPLAY: &str =
    "(SELECT h.display FROM history h WHERE h.session_key = sessions.session_key
    AND h.display IS NOT NULL ORDER BY h.timestamp_ms, h.id LIMIT 1)";
const HISTORY_PROJECT: &str =
    "(SELECT h.project FROM history h WHERE h.session_key = sessions.session_key
    AND h.project IS NOT NULL ORDER BY h.timestamp_ms, h.id LIMIT 1)";

/// Which of a session's marker lines of one kind is its latest: the last in its own transcript, which sorts first
/// by the shortest path (subagent files live below it), then by path. By content, not row id: row ids follow the
/// order files were read in, and a rebuild must pick what incremental syncs picked. Markers are `m`, their lines
/// `e`, their files `f`.
macro_rules! latest_marker_order {
    () => {
        "ORDER BY length(f.path), f.path, e.line_offset DESC LIMIT 1"
    };
}

/// The joins [`latest_marker_order!`] needs.
macro_rules! markers_with_lines {
    () => {
        "markers m JOIN entries e ON e.id = m.entry_id JOIN files f ON f.id = m.file_id"
    };
}

/// [`latest_marker_order!`] and [`markers_with_lines!`] for queries outside this module.
pub(crate) const LATEST_MARKER_ORDER: &str = latest_marker_order!();
pub(crate) const MARKERS_WITH_LINES: &str = markers_with_lines!();

/// Claude Code's own cost total of a session, from its latest cost-state line.
const CLAUDE_COST: &str = concat!(
    "(SELECT m.amount FROM ",
    markers_with_lines!(),
    " WHERE m.session_key = sessions.session_key AND m.kind = 'cost-state' ",
    latest_marker_order!(),
    ")"
);

/// A session's latest custom title, else its latest AI title.
const MARKER_TITLE: &str = concat!(
    "COALESCE((SELECT m.text FROM ",
    markers_with_lines!(),
    " WHERE m.session_key = sessions.session_key AND m.kind = 'custom-title' AND m.text IS NOT NULL ",
    latest_marker_order!(),
    "), (SELECT m.text FROM ",
    markers_with_lines!(),
    " WHERE m.session_key = sessions.session_key AND m.kind = 'ai-title' AND m.text IS NOT NULL ",
    latest_marker_order!(),
    "))"
);

/// Whether any of a session's transcript files is still on disk.
const ON_DISK: &str = "CASE WHEN EXISTS (SELECT 1 FROM session_files sf JOIN files f ON f.id = sf.file_id
    WHERE sf.session_key = sessions.session_key AND f.on_disk = 1 AND f.kind = 'transcript') THEN 1 ELSE 0 END";

/// Inserts the dirty sessions known only from history.jsonl (after those with conversation lines).
const HISTORY_ONLY_SESSIONS: &str =
    "INSERT INTO sessions (session_key, started_at_ms, last_activity_ms, state)
    SELECT h.session_key, MIN(h.timestamp_ms), MAX(h.timestamp_ms), 'history_only'
    FROM history h
    WHERE h.session_key IN (SELECT session_key FROM dirty_sessions)
      AND h.session_key NOT IN (SELECT session_key FROM sessions)
    GROUP BY h.session_key";

fn parse_state(text: Option<String>) -> Option<SessionState> {
    text.map(|text| SessionState::parse(&text).unwrap_or(SessionState::Deleted))
}

fn states(
    tx: &rusqlite::Transaction<'_>,
) -> Result<BTreeMap<String, Option<SessionState>>, StoreError> {
    let mut stmt = tx
        .prepare(
            "SELECT d.session_key, s.state FROM dirty_sessions d
             LEFT JOIN sessions s ON s.session_key = d.session_key",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        })
        .map_err(backend)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (key, state) = row.map_err(backend)?;
        out.insert(key, parse_state(state));
    }
    Ok(out)
}

/// Up to this many dirty sessions, a summary title is looked up from each session's lines; beyond it, from the
/// summary lines (a first load: joining every session's lines against the summaries took 0.2 s per GiB).
const FEW_SESSIONS: usize = 64;

/// Sets the title of each dirty session that has no custom or AI title but holds the leaf of a summary. Several
/// summaries can point into one session (a resume replays the earlier conversation, leaves included): the one
/// whose leaf is the session's latest line describes the most of it; ties go to the summary line's path and
/// offset. Never the order lines were indexed in, so a rebuild titles sessions as an incremental sync did.
/// Each summary's leaf is looked up once, by uuid.
fn titles_from_summaries(
    tx: &rusqlite::Transaction<'_>,
    dirty: &BTreeMap<String, Option<SessionState>>,
) -> Result<(), StoreError> {
    let summaries: Vec<(String, String, String, i64)> = {
        let mut stmt = tx
            .prepare(
                "SELECT m.leaf_uuid, m.text, f.path, line.line_offset
                 FROM markers m JOIN entries line ON line.id = m.entry_id JOIN files f ON f.id = line.file_id
                 WHERE m.kind = 'summary' AND m.text IS NOT NULL AND m.leaf_uuid IS NOT NULL",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    let mut holders = tx.prepare(LEAF_HOLDERS_SQL).map_err(backend)?;
    // Per session: the best summary so far, ranked by (leaf time, summary path, summary offset).
    let mut best: std::collections::HashMap<String, ((i64, String, i64), String)> =
        Default::default();
    for (leaf, text, path, offset) in summaries {
        let sessions = holders
            .query_map([&leaf], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(backend)?;
        for session in sessions {
            let (session, leaf_ms) = session.map_err(backend)?;
            if !dirty.contains_key(&session) {
                continue;
            }
            let rank = (leaf_ms, path.clone(), offset);
            match best.get(&session) {
                Some((better, _)) if *better >= rank => {}
                _ => {
                    best.insert(session, (rank, text.clone()));
                }
            }
        }
    }
    let mut update = tx
        .prepare(
            "UPDATE sessions SET title = ?2 WHERE session_key = ?1
               AND NOT EXISTS (SELECT 1 FROM markers t WHERE t.session_key = ?1
                   AND t.kind IN ('custom-title', 'ai-title') AND t.text IS NOT NULL)",
        )
        .map_err(backend)?;
    for (session, (_, text)) in best {
        update.execute(params![session, text]).map_err(backend)?;
    }
    Ok(())
}

/// Each session holding the line with uuid `?1` (a summary's leaf), with its latest time.
pub(crate) const LEAF_HOLDERS_SQL: &str = concat!(
    "SELECT session_key, MAX(COALESCE(timestamp_ms, 0)) FROM entries WHERE ",
    same_uuid!("entries", "?1"),
    " AND session_key IS NOT NULL GROUP BY session_key"
);

/// The text of the latest summary whose leaf `sessions.session_key` holds, as a term of a `COALESCE` list.
pub(crate) const SUMMARY_TITLE_SQL: &str = concat!(
            "(SELECT m.text FROM markers m JOIN entries e ON ",
            same_uuid!("e", "m.leaf_uuid"),
            "
                JOIN entries line ON line.id = m.entry_id JOIN files f ON f.id = line.file_id
            WHERE e.session_key = sessions.session_key AND m.kind = 'summary' AND m.text IS NOT NULL
            ORDER BY COALESCE(e.timestamp_ms, 0) DESC, f.path DESC, line.line_offset DESC LIMIT 1),"
        );

pub(crate) fn refresh_sessions(
    conn: &mut Connection,
    facts: Option<FirstLoadFacts>,
) -> Result<Vec<RefreshedSession>, StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    // Titles look summary leaves up by uuid.
    crate::uuid_lookup::catch_up(&tx)?;
    let dirty: i64 = tx
        .query_row("SELECT COUNT(*) FROM dirty_sessions", [], |row| row.get(0))
        .map_err(backend)?;
    if dirty == 0 {
        return Ok(Vec::new());
    }
    let before = states(&tx)?;
    let many = before.len() > FEW_SESSIONS;
    let summary_title = if many { "" } else { SUMMARY_TITLE_SQL };
    let run = |sql: &str| -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        tx.execute(sql, []).map_err(backend)?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            statement = sql.split_whitespace().take(6).collect::<Vec<_>>().join(" "),
            "refresh statement"
        );
        Ok(())
    };
    // Trusted only while the database holds exactly the lines and responses the facts saw.
    let mut facts = match facts {
        Some(facts) if facts.describe_the_database(&tx)? => Some(facts),
        _ => None,
    };
    // Where the dirty sessions' lines were before this refresh: a start-up id near them is attributed again.
    let old_spans = crate::startup::dirty_spans(&tx)?;
    run("DELETE FROM sessions WHERE session_key IN (SELECT session_key FROM dirty_sessions)")?;
    // Sessions with conversation lines: from a first load's own facts, which stand for the aggregate and the
    // per-session look-ups (see `first_load`), else from their lines.
    let from_facts = facts.is_some();
    match &mut facts {
        Some(facts) => {
            let started = std::time::Instant::now();
            facts.insert_sessions(&tx)?;
            tracing::debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "refresh sessions from the first load's facts"
            );
        }
        None => {
            run(&format!(
                "INSERT INTO sessions (session_key, started_at_ms, last_activity_ms, message_count,
                    subagent_message_count, state)
                 SELECT e.session_key, MIN(e.timestamp_ms), MAX(e.timestamp_ms),
                    SUM(CASE WHEN e.is_sidechain = 0 THEN 1 ELSE 0 END),
                    SUM(CASE WHEN e.is_sidechain = 1 THEN 1 ELSE 0 END),
                    'deleted'
                 FROM entries e
                 WHERE e.session_key IN (SELECT session_key FROM dirty_sessions) AND e.{CONVERSATION}
                 GROUP BY e.session_key
                 -- A session has a main-thread message or a sidechain prompt that is not a start-up Warmup
                 -- (`sessiondb_core::is_session`). Its usage stays in the rollup under its own key.
                 HAVING SUM(CASE WHEN e.is_sidechain = 0 THEN 1 ELSE 0 END) > 0
                    OR SUM(CASE WHEN e.is_sidechain = 1 AND e.kind = 'user' AND e.parent_uuid IS NULL
                        AND COALESCE(e.text, '') <> 'Warmup' THEN 1 ELSE 0 END) > 0"
            ))?;
        }
    }
    run(HISTORY_ONLY_SESSIONS)?;
    if from_facts {
        run(&format!(
            "UPDATE sessions SET
                first_prompt = COALESCE(first_prompt, {HISTORY_DISPLAY}),
                project_dir = COALESCE(project_dir, {HISTORY_PROJECT}),
                claude_cost_usd = {CLAUDE_COST},
                on_disk = {ON_DISK}
             WHERE session_key IN (SELECT session_key FROM dirty_sessions)"
        ))?;
    } else {
        run(&format!(
            "UPDATE sessions SET
                first_prompt = COALESCE(
                    (SELECT e.text FROM entries e WHERE e.session_key = sessions.session_key AND e.kind = 'user'
                        AND e.text IS NOT NULL AND e.is_sidechain = 0 AND e.is_compact_summary = 0
                        AND e.text NOT LIKE '<command-%' AND e.text NOT LIKE '<local-command%'
                        ORDER BY e.timestamp_ms, e.id LIMIT 1),
                    {HISTORY_DISPLAY}),
                project_dir = COALESCE(
                    (SELECT e.cwd FROM entries e JOIN files f ON f.id = e.file_id
                        WHERE e.session_key = sessions.session_key AND e.cwd IS NOT NULL AND e.is_sidechain = 0
                        AND cwd_names_folder_of(e.cwd, f.path) ORDER BY e.timestamp_ms, e.id LIMIT 1),
                    (SELECT e.cwd FROM entries e WHERE e.session_key = sessions.session_key AND e.cwd IS NOT NULL
                        AND e.is_sidechain = 0 ORDER BY e.timestamp_ms, e.id LIMIT 1),
                    (SELECT e.cwd FROM entries e WHERE e.session_key = sessions.session_key AND e.cwd IS NOT NULL
                        ORDER BY e.timestamp_ms, e.id LIMIT 1),
                    {HISTORY_PROJECT}),
                git_branch = (SELECT e.git_branch FROM entries e WHERE e.session_key = sessions.session_key
                        AND e.git_branch IS NOT NULL AND e.git_branch <> '' AND e.{CONVERSATION}
                        ORDER BY e.timestamp_ms DESC, e.id DESC LIMIT 1),
                root_parent_uuid = (SELECT e.parent_uuid FROM entries e WHERE e.session_key = sessions.session_key
                        AND e.{CONVERSATION} AND e.is_sidechain = 0 ORDER BY e.timestamp_ms, e.id LIMIT 1),
                claude_version = (SELECT e.version FROM entries e WHERE e.session_key = sessions.session_key
                        AND e.version IS NOT NULL ORDER BY e.timestamp_ms DESC, e.id DESC LIMIT 1),
                claude_cost_usd = {CLAUDE_COST},
                on_disk = {ON_DISK}
             WHERE session_key IN (SELECT session_key FROM dirty_sessions)"
        ))?;
    }
    for sql in [
        "UPDATE sessions SET state = CASE WHEN on_disk = 1 THEN 'on_disk' ELSE 'deleted' END
         WHERE session_key IN (SELECT session_key FROM dirty_sessions) AND state <> 'history_only'"
            .to_owned(),
        // A custom title, else an AI title, else a summary whose leaf the session holds (see
        // `titles_from_summaries`), else the first prompt.
        format!(
            "UPDATE sessions SET title = COALESCE(
                {MARKER_TITLE},
                {summary_title}
                first_prompt)
             WHERE session_key IN (SELECT session_key FROM dirty_sessions)"
        ),
    ] {
        run(&sql)?;
    }
    let started = std::time::Instant::now();
    if many {
        titles_from_summaries(&tx, &before)?;
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "refresh titles from summaries"
    );
    let started = std::time::Instant::now();
    for scope in [
        "session_key IN (SELECT session_key FROM dirty_sessions)",
        "session_key IS NULL",
    ] {
        tx.execute(&format!("DELETE FROM usage_rollup WHERE {scope}"), [])
            .map_err(backend)?;
        if facts.is_some() {
            continue;
        }
        tx.execute(
            &format!(
                "INSERT INTO usage_rollup (session_key, bucket_ms, model, git_branch, responses, input_tokens,
                    output_tokens, cache_creation_tokens, cache_read_tokens, total_tokens, cost_usd,
                    unpriced_tokens, reported_cost_usd)
                 SELECT session_key, (timestamp_ms / {TIME_BUCKET_MS}) * {TIME_BUCKET_MS}, model, git_branch,
                    COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_creation_tokens),
                    SUM(cache_read_tokens), SUM(total_tokens), SUM(cost_usd),
                    SUM(CASE WHEN price_state = 2 THEN total_tokens ELSE 0 END),
                    SUM(COALESCE(reported_cost_usd, 0))
                 FROM responses WHERE {scope} AND model <> '{SYNTHETIC_MODEL}'
                 GROUP BY session_key, (timestamp_ms / {TIME_BUCKET_MS}) * {TIME_BUCKET_MS}, model, git_branch"
            ),
            [],
        )
        .map_err(backend)?;
    }
    // A first load's rollup comes from the responses it elected (`first_load.rs`), not from a GROUP BY over
    // them: every response of the database is in it, as every session is dirty.
    if let Some(facts) = &facts {
        facts.insert_rollup(&tx)?;
    }
    // Usage under ids that are not sessions: the session each start-up Warmup was started for, if the files
    // show it (`startup.rs`). The sessions that gain or lose such usage join the dirty set here, so the totals
    // and model lists below include it.
    crate::startup::attribute(&tx, &old_spans)?;

    // Session totals from the rollup just rebuilt: a tenth of the rows of `responses`, and `ls` and
    // `usage session` agree by construction (`<synthetic>` responses, left out of both, cost nothing). A
    // session's totals include the usage of the start-up ids attributed to it (`startup_usage`).
    for sql in [
        "UPDATE sessions SET input_tokens = 0, output_tokens = 0, cache_creation_tokens = 0,
            cache_read_tokens = 0, total_tokens = 0, cost_usd = 0, unpriced_tokens = 0
         WHERE session_key IN (SELECT session_key FROM dirty_sessions)",
        "UPDATE sessions SET input_tokens = r.input_tokens, output_tokens = r.output_tokens,
            cache_creation_tokens = r.cache_creation_tokens, cache_read_tokens = r.cache_read_tokens,
            total_tokens = r.total_tokens, cost_usd = r.cost_usd, unpriced_tokens = r.unpriced_tokens
         FROM (SELECT session_key, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
                  SUM(cache_creation_tokens) AS cache_creation_tokens, SUM(cache_read_tokens) AS cache_read_tokens,
                  SUM(total_tokens) AS total_tokens, SUM(cost_usd) AS cost_usd,
                  SUM(unpriced_tokens) AS unpriced_tokens
               FROM usage_rollup WHERE session_key IN (SELECT session_key FROM dirty_sessions)
               GROUP BY session_key) r
         WHERE sessions.session_key = r.session_key",
        "UPDATE sessions SET input_tokens = sessions.input_tokens + r.input_tokens,
            output_tokens = sessions.output_tokens + r.output_tokens,
            cache_creation_tokens = sessions.cache_creation_tokens + r.cache_creation_tokens,
            cache_read_tokens = sessions.cache_read_tokens + r.cache_read_tokens,
            total_tokens = sessions.total_tokens + r.total_tokens, cost_usd = sessions.cost_usd + r.cost_usd,
            unpriced_tokens = sessions.unpriced_tokens + r.unpriced_tokens
         FROM (SELECT u.started_for AS session_key, SUM(r.input_tokens) AS input_tokens,
                  SUM(r.output_tokens) AS output_tokens, SUM(r.cache_creation_tokens) AS cache_creation_tokens,
                  SUM(r.cache_read_tokens) AS cache_read_tokens, SUM(r.total_tokens) AS total_tokens,
                  SUM(r.cost_usd) AS cost_usd, SUM(r.unpriced_tokens) AS unpriced_tokens
               FROM startup_usage u JOIN usage_rollup r ON r.session_key = u.session_key
               WHERE u.started_for IN (SELECT session_key FROM dirty_sessions)
               GROUP BY u.started_for) r
         WHERE sessions.session_key = r.session_key",
    ] {
        tx.execute(sql, []).map_err(backend)?;
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "refresh usage rollup and session totals"
    );
    let started = std::time::Instant::now();
    // Model lists, built here rather than with a backend-specific string aggregate, from the rollup just
    // rebuilt (the same responses and the same `<synthetic>` filter, in a tenth of the rows).
    let mut models: BTreeMap<String, Vec<String>> = BTreeMap::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT DISTINCT session_key, model FROM usage_rollup
                 WHERE session_key IN (SELECT session_key FROM dirty_sessions)
                 ORDER BY session_key, model",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(backend)?;
        for row in rows {
            let (session, model) = row.map_err(backend)?;
            models.entry(session).or_default().push(model);
        }
        // And the models of the start-up usage attributed to them (`startup_usage`), in order, once each.
        let mut stmt = tx
            .prepare(
                "SELECT DISTINCT u.started_for, r.model FROM startup_usage u
                 JOIN usage_rollup r ON r.session_key = u.session_key
                 WHERE u.started_for IN (SELECT session_key FROM dirty_sessions)",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(backend)?;
        for row in rows {
            let (session, model) = row.map_err(backend)?;
            let list = models.entry(session).or_default();
            if let Err(at) = list.binary_search(&model) {
                list.insert(at, model);
            }
        }
    }
    {
        // A session marked dirty by `startup::attribute` keeps its row: clear a list it may no longer have.
        tx.execute(
            "UPDATE sessions SET models = NULL
             WHERE models IS NOT NULL AND session_key IN (SELECT session_key FROM dirty_sessions)",
            [],
        )
        .map_err(backend)?;
        let mut stmt = tx
            .prepare("UPDATE sessions SET models = ?2 WHERE session_key = ?1")
            .map_err(backend)?;
        for (session, models) in &models {
            stmt.execute(params![session, models.join(",")])
                .map_err(backend)?;
        }
    }

    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "refresh model lists"
    );
    let started = std::time::Instant::now();
    let after = states(&tx)?;
    tx.execute_batch(
        "DELETE FROM projects;
         INSERT INTO projects (project_dir, session_count, last_activity_ms)
         SELECT project_dir, COUNT(*), MAX(last_activity_ms) FROM sessions
         WHERE project_dir IS NOT NULL GROUP BY project_dir;
         DELETE FROM dirty_sessions;",
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "refresh projects and commit"
    );
    Ok(before
        .into_iter()
        .map(|(session_id, previous_state)| RefreshedSession {
            state: after.get(&session_id).copied().flatten(),
            session_id,
            previous_state,
        })
        .filter(|r| r.previous_state.is_some() || r.state.is_some())
        .collect())
}
