//! Read queries: session lists and details, usage buckets, raw lines from the archive, and `doctor`.

use crate::{backend, SqliteStore};
use rusqlite::{params, Connection, OptionalExtension, Row};
use sessiondb_core::{
    DoctorReport, FileKind, FileSummary, Grouping, IssueKind, IssueSummary, ModelUsage,
    NotSessionUsage, RawLine, SessionDetail, SessionFilter, SessionSort, SessionState,
    SessionSummary, StoreError, UsageBucket,
};

/// Epoch ms to RFC 3339 with milliseconds, UTC.
pub(crate) fn iso(ms: Option<i64>) -> Option<String> {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

const SESSION_COLUMNS: &str = "session_key, project_dir, title, first_prompt, git_branch, models, started_at_ms,
    last_activity_ms, message_count, subagent_message_count, input_tokens, output_tokens, cache_creation_tokens,
    cache_read_tokens, total_tokens, cost_usd, unpriced_tokens, claude_cost_usd, on_disk, state, claude_version";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionSummary> {
    let models: Option<String> = row.get(5)?;
    let state: String = row.get(19)?;
    let count = |i: usize| -> rusqlite::Result<u64> { Ok(row.get::<_, i64>(i)?.max(0) as u64) };
    Ok(SessionSummary {
        session_id: row.get(0)?,
        project_dir: row.get(1)?,
        title: row.get(2)?,
        first_prompt: row.get(3)?,
        git_branch: row.get(4)?,
        models: models
            .map(|m| {
                m.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        started_at: iso(row.get(6)?),
        last_activity_at: iso(row.get(7)?),
        message_count: count(8)?,
        subagent_message_count: count(9)?,
        input_tokens: count(10)?,
        output_tokens: count(11)?,
        cache_creation_tokens: count(12)?,
        cache_read_tokens: count(13)?,
        total_tokens: count(14)?,
        cost_usd: row.get(15)?,
        unpriced_tokens: count(16)?,
        claude_cost_usd: row.get(17)?,
        on_disk: row.get::<_, i64>(18)? != 0,
        state: SessionState::parse(&state).unwrap_or(SessionState::Deleted),
        claude_version: row.get(20)?,
    })
}

/// The WHERE clause of a session filter and its arguments.
fn session_where(filter: &SessionFilter) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let arg = |args: &mut Vec<rusqlite::types::Value>, value: rusqlite::types::Value| {
        args.push(value);
        args.len()
    };
    if let Some(dir) = &filter.project_dir {
        let dir = dir.trim_end_matches('/').to_owned();
        let n = arg(&mut args, format!("{dir}/").into());
        let m = arg(&mut args, dir.into());
        sql.push_str(&format!(
            " AND (project_dir = ?{m} OR substr(project_dir, 1, length(?{n})) = ?{n})"
        ));
    }
    if let Some(since) = filter.since_ms {
        let n = arg(&mut args, since.into());
        sql.push_str(&format!(" AND last_activity_ms >= ?{n}"));
    }
    if let Some(until) = filter.until_ms {
        let n = arg(&mut args, until.into());
        sql.push_str(&format!(" AND started_at_ms < ?{n}"));
    }
    if let Some(model) = &filter.model {
        let escaped = model
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let n = arg(&mut args, format!("%{escaped}%").into());
        sql.push_str(&format!(" AND models LIKE ?{n} ESCAPE '\\'"));
    }
    if let Some(branch) = &filter.branch {
        let n = arg(&mut args, branch.clone().into());
        sql.push_str(&format!(" AND git_branch = ?{n}"));
    }
    if let Some(min) = filter.min_cost_usd {
        let n = arg(&mut args, min.into());
        sql.push_str(&format!(" AND cost_usd >= ?{n}"));
    }
    if let Some(state) = filter.state {
        let n = arg(&mut args, state.as_str().to_owned().into());
        sql.push_str(&format!(" AND state = ?{n}"));
    }
    (sql, args)
}

pub(crate) fn sessions(
    conn: &Connection,
    filter: &SessionFilter,
) -> Result<Vec<SessionSummary>, StoreError> {
    let (filter_sql, args) = session_where(filter);
    let column = match filter.sort {
        SessionSort::LastActivity => "last_activity_ms",
        SessionSort::Started => "started_at_ms",
        SessionSort::Cost => "cost_usd",
        SessionSort::Tokens => "total_tokens",
        SessionSort::Messages => "message_count",
    };
    let direction = if filter.ascending {
        "ASC NULLS FIRST"
    } else {
        "DESC NULLS LAST"
    };
    let id_direction = if filter.ascending { "ASC" } else { "DESC" };
    let mut sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions{filter_sql} ORDER BY {column} {direction}, session_key {id_direction}"
    );
    match filter.limit {
        Some(limit) => sql.push_str(&format!(" LIMIT {limit} OFFSET {}", filter.offset)),
        None if filter.offset > 0 => sql.push_str(&format!(" LIMIT -1 OFFSET {}", filter.offset)),
        None => {}
    }
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), session_from_row)
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub(crate) fn projects(
    conn: &Connection,
) -> Result<Vec<sessiondb_core::ProjectSummary>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT project_dir, COUNT(*), SUM(total_tokens), SUM(cost_usd), SUM(unpriced_tokens),
                    MAX(last_activity_ms)
             FROM sessions GROUP BY project_dir ORDER BY MAX(last_activity_ms) DESC NULLS LAST, project_dir",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |row| {
            let n = |i: usize| -> rusqlite::Result<u64> {
                Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
            };
            Ok(sessiondb_core::ProjectSummary {
                project_dir: row.get(0)?,
                session_count: n(1)?,
                total_tokens: n(2)?,
                cost_usd: row.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                unpriced_tokens: n(4)?,
                last_activity_at: iso(row.get(5)?),
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub(crate) fn count_sessions(conn: &Connection, filter: &SessionFilter) -> Result<u64, StoreError> {
    let (filter_sql, args) = session_where(filter);
    conn.query_row(
        &format!("SELECT COUNT(*) FROM sessions{filter_sql}"),
        rusqlite::params_from_iter(args),
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
    .map_err(backend)
}

/// The first `limit` session ids starting with `prefix`, in order (a range scan of the primary key).
pub(crate) fn session_ids_starting_with(
    conn: &Connection,
    prefix: &str,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT session_key FROM sessions WHERE session_key >= ?1 ORDER BY session_key",
        )
        .map_err(backend)?;
    let mut rows = stmt.query([prefix]).map_err(backend)?;
    let mut ids = Vec::new();
    while ids.len() < limit {
        let Some(row) = rows.next().map_err(backend)? else {
            break;
        };
        let id: String = row.get(0).map_err(backend)?;
        if !id.starts_with(prefix) {
            break;
        }
        ids.push(id);
    }
    Ok(ids)
}

/// The full id for an id or a unique prefix, by [`sessiondb_core::pick_session_id`]; `None` when it names no
/// single session.
fn resolve_session_id(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    let candidates =
        session_ids_starting_with(conn, id, sessiondb_core::session_id::MAX_ID_CANDIDATES + 1)?;
    match sessiondb_core::pick_session_id(id, &candidates) {
        Ok(id) => Ok(Some(id)),
        Err(sessiondb_core::SessionIdError::Store(err)) => Err(err),
        Err(_) => Ok(None),
    }
}

pub(crate) fn search_prompts(conn: &Connection, text: &str) -> Result<Vec<String>, StoreError> {
    // LIKE with its wildcards escaped: the text is matched literally.
    let pattern = format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let mut stmt = conn
        .prepare(
            "SELECT DISTINCT session_key FROM entries
               WHERE kind = 'user' AND text IS NOT NULL AND text LIKE ?1 ESCAPE '\\' AND session_key IS NOT NULL
             UNION SELECT session_key FROM history
               WHERE display LIKE ?1 ESCAPE '\\' AND session_key IS NOT NULL
             UNION SELECT session_key FROM markers
               WHERE text LIKE ?1 ESCAPE '\\' AND session_key IS NOT NULL",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([pattern], |row| row.get(0))
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub(crate) fn session_summary(
    conn: &Connection,
    id: &str,
) -> Result<Option<SessionSummary>, StoreError> {
    conn.query_row(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_key = ?1"),
        [id],
        session_from_row,
    )
    .optional()
    .map_err(backend)
}

pub(crate) fn session(conn: &Connection, id: &str) -> Result<Option<SessionDetail>, StoreError> {
    let Some(id) = resolve_session_id(conn, id)? else {
        return Ok(None);
    };
    let summary = conn
        .query_row(
            &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_key = ?1"),
            [&id],
            session_from_row,
        )
        .map_err(backend)?;

    let usage_by_model = {
        let mut stmt = conn
            .prepare(
                "SELECT model, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_creation_tokens),
                    SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens),
                    SUM(total_tokens), SUM(cost_usd), MAX(price_state), SUM(reported_cost_usd)
                 FROM responses WHERE session_key = ?1
                    OR session_key IN (SELECT session_key FROM startup_usage WHERE started_for = ?1)
                 GROUP BY model ORDER BY SUM(cost_usd) DESC, model",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([&id], |row| {
                let n = |i: usize| -> rusqlite::Result<u64> {
                    Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
                };
                let price_state: i64 = row.get(10)?;
                Ok(ModelUsage {
                    model: row.get(0)?,
                    responses: n(1)?,
                    input_tokens: n(2)?,
                    output_tokens: n(3)?,
                    cache_creation_tokens: n(4)?,
                    cache_read_tokens: n(5)?,
                    cache_write_5m_tokens: n(6)?,
                    cache_write_1h_tokens: n(7)?,
                    total_tokens: n(8)?,
                    cost_usd: if price_state == 2 {
                        None
                    } else {
                        Some(row.get(9)?)
                    },
                    reported_cost_usd: row.get(11)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)?
    };

    let files = {
        let mut stmt = conn
            .prepare(
                "SELECT f.path, f.kind, f.size, f.consumed, f.line_count, f.on_disk, m.agent_type,
                    m.agent_description
                 FROM session_files sf JOIN files f ON f.id = sf.file_id
                 LEFT JOIN files m ON m.path = substr(f.path, 1, length(f.path) - 6) || '.meta.json'
                 WHERE sf.session_key = ?1 ORDER BY f.path",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([&id], |row| {
                let path: String = row.get(0)?;
                let agent_id = std::path::Path::new(&path)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_prefix("agent-"))
                    .map(str::to_owned);
                let kind: String = row.get(1)?;
                Ok(FileSummary {
                    // Only this code writes files' kinds (`FileKind::as_str`).
                    kind: FileKind::parse(&kind).unwrap_or(FileKind::Transcript),
                    size: row.get::<_, i64>(2)?.max(0) as u64,
                    consumed: row.get::<_, i64>(3)?.max(0) as u64,
                    lines: row.get::<_, i64>(4)?.max(0) as u64,
                    on_disk: row.get::<_, i64>(5)? != 0,
                    agent_type: row.get(6)?,
                    agent_description: row.get(7)?,
                    agent_id,
                    path,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)?
    };

    let links = crate::links::session_links(conn, &id)?;
    let claude_cost_state = conn
        .query_row(
            &format!(
                "SELECT m.details FROM {} WHERE m.session_key = ?1 AND m.kind = 'cost-state' {}",
                crate::refresh::MARKERS_WITH_LINES,
                crate::refresh::LATEST_MARKER_ORDER
            ),
            [&id],
            |row| row.get::<_, Option<String>>(0),
        )
        .optional()
        .map_err(backend)?
        .flatten()
        .and_then(|d| serde_json::from_str(&d).ok());

    Ok(Some(SessionDetail {
        summary,
        usage_by_model,
        files,
        links,
        claude_cost_state,
    }))
}

/// Deduplicated responses in `[since_ms, until_ms)`, oldest first, for billing blocks.
pub(crate) fn usage_events(
    conn: &Connection,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
) -> Result<Vec<sessiondb_core::UsageEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT timestamp_ms, model, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens,
                cost_usd
             FROM responses
             WHERE timestamp_ms >= ?1 AND timestamp_ms < ?2
             ORDER BY timestamp_ms",
        )
        .map_err(backend)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let rows = stmt
        .query_map(
            [since_ms.unwrap_or(i64::MIN), until_ms.unwrap_or(i64::MAX)],
            |row| {
                Ok(sessiondb_core::UsageEvent {
                    at_ms: row.get(0)?,
                    model: row.get(1)?,
                    input_tokens: count(row.get(2)?),
                    output_tokens: count(row.get(3)?),
                    cache_creation_tokens: count(row.get(4)?),
                    cache_read_tokens: count(row.get(5)?),
                    cost_usd: row.get(6)?,
                })
            },
        )
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub(crate) fn usage_buckets(
    conn: &Connection,
    grouping: Grouping,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
) -> Result<Vec<UsageBucket>, StoreError> {
    // Usage under an id that is not a session (start-up sidechains, `sessiondb_core::is_session`) is listed
    // under the session it was started for (`startup_usage`, `sessiondb_core::warmup_started_for`), else under
    // no session, and under the project its lines ran in.
    let label = match grouping {
        Grouping::Period(_) => "r.bucket_ms",
        Grouping::Session => "s.session_key",
        Grouping::Project => {
            "COALESCE(s.project_dir, (SELECT e.cwd FROM entries e WHERE e.session_key = r.session_key
                AND e.cwd IS NOT NULL ORDER BY e.timestamp_ms, e.id LIMIT 1))"
        }
        Grouping::Model => "r.model",
        Grouping::Branch => "r.git_branch",
    };
    let join = if matches!(grouping, Grouping::Project | Grouping::Session) {
        "LEFT JOIN startup_usage u ON u.session_key = r.session_key
         LEFT JOIN sessions s ON s.session_key = COALESCE(u.started_for, r.session_key)"
    } else {
        ""
    };
    // The rollup holds deduplicated usage per 15-minute slot; `since`/`until` are day boundaries in some time
    // zone, hence multiples of 15 minutes, so filtering slots is exact.
    let mut sql = format!(
        "SELECT {label}, r.model, SUM(r.responses), SUM(r.input_tokens), SUM(r.output_tokens),
            SUM(r.cache_creation_tokens), SUM(r.cache_read_tokens), SUM(r.cost_usd), SUM(r.unpriced_tokens),
            SUM(r.reported_cost_usd)
         FROM usage_rollup r {join} WHERE 1 = 1"
    );
    let mut args: Vec<i64> = Vec::new();
    if let Some(since) = since_ms {
        args.push(since);
        sql.push_str(&format!(" AND r.bucket_ms >= ?{}", args.len()));
    }
    if let Some(until) = until_ms {
        args.push(until);
        sql.push_str(&format!(" AND r.bucket_ms < ?{}", args.len()));
    }
    sql.push_str(" GROUP BY 1, 2");
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let is_time = matches!(grouping, Grouping::Period(_));
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), |row| {
            let n = |i: usize| -> rusqlite::Result<u64> {
                Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
            };
            let (time_bucket_ms, label) = if is_time {
                (row.get::<_, Option<i64>>(0)?, None)
            } else {
                (None, row.get::<_, Option<String>>(0)?)
            };
            Ok(UsageBucket {
                time_bucket_ms,
                label,
                model: row.get(1)?,
                responses: n(2)?,
                input_tokens: n(3)?,
                output_tokens: n(4)?,
                cache_creation_tokens: n(5)?,
                cache_read_tokens: n(6)?,
                cost_usd: row.get::<_, Option<f64>>(7)?.unwrap_or(0.0),
                unpriced_tokens: n(8)?,
                reported_cost_usd: row.get::<_, Option<f64>>(9)?.unwrap_or(0.0),
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

fn decompress(data: &[u8]) -> Result<Vec<u8>, StoreError> {
    zstd::stream::decode_all(data)
        .map_err(|e| StoreError::Backend(format!("corrupt raw chunk: {e}")))
}

pub(crate) fn session_raw_page(
    conn: &Connection,
    captures: &std::path::Path,
    id: &str,
    conversation_only: bool,
    offset: usize,
    limit: usize,
    max_line: Option<u64>,
) -> Result<(usize, Vec<RawLine>), StoreError> {
    let Some(id) = resolve_session_id(conn, id)? else {
        return Ok((0, Vec::new()));
    };
    // Where every line of the session sits, in file order; only the page's lines are read.
    let filter = if conversation_only {
        "AND e.kind IN ('user', 'assistant', 'system', 'summary')"
    } else {
        ""
    };
    let positions: Vec<(i64, i64, i64)> = {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT e.file_id, e.line_offset, e.line_length FROM entries e JOIN files f ON f.id = e.file_id
                 WHERE e.session_key = ?1 {filter} ORDER BY f.path, e.line_offset"
            ))
            .map_err(backend)?;
        let rows = stmt
            .query_map([&id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    let total = positions.len();
    let page: Vec<(i64, i64, i64)> = positions.into_iter().skip(offset).take(limit).collect();
    let mut lines = Vec::with_capacity(page.len());
    let mut chunks = conn
        .prepare_cached(
            "SELECT start_offset, end_offset, data FROM raw_chunks
             WHERE file_id = ?1 AND end_offset > ?2 AND start_offset <= ?2 ORDER BY start_offset LIMIT 1",
        )
        .map_err(backend)?;
    let mut file_row = conn
        .prepare_cached("SELECT path, inode FROM files WHERE id = ?1")
        .map_err(backend)?;
    // The decompressed chunk last used, reused while the page's lines fall inside it.
    let mut cached: Option<(i64, i64, i64, Vec<u8>)> = None;
    // Lines no chunk holds are read from the file's capture (or the file): the open copy of the last file.
    let mut live: Option<(i64, Option<std::fs::File>)> = None;
    for (file, offset, length) in page {
        if max_line.is_some_and(|max| length.max(0) as u64 > max) {
            lines.push(RawLine::TooLong {
                length: length.max(0) as u64,
            });
            continue;
        }
        let hit = cached
            .as_ref()
            .is_some_and(|(f, start, end, _)| *f == file && *start <= offset && offset < *end);
        if !hit {
            let found = chunks
                .query_row(params![file, offset], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .optional()
                .map_err(backend)?;
            cached = match found {
                Some((start, end, data)) => Some((file, start, end, decompress(&data)?)),
                None => None,
            };
        }
        if let Some((_, start, _, bytes)) = &cached {
            let from = (offset - start).max(0) as usize;
            let to = (from + length.max(0) as usize).min(bytes.len());
            lines.push(if from < to {
                RawLine::Bytes(bytes[from..to].to_vec())
            } else {
                RawLine::Missing {
                    length: length.max(0) as u64,
                }
            });
            continue;
        }
        if live.as_ref().map(|(f, _)| *f) != Some(file) {
            let (path, inode): (String, Option<i64>) = file_row
                .query_row([file], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(backend)?;
            live = Some((file, crate::capture::open_live_copy(captures, &path, inode)));
        }
        let read = match &mut live {
            Some((_, Some(handle))) => {
                crate::capture::read_at(handle, offset.max(0) as u64, length.max(0) as u64)
            }
            _ => None,
        };
        match read {
            Some(line) => lines.push(RawLine::Bytes(line)),
            // Neither archived nor readable (capture removed, file rewritten since): say so, don't hide it.
            None => {
                tracing::warn!(
                    session = %id,
                    file,
                    offset,
                    "a line is in neither the archive nor a capture or its file"
                );
                lines.push(RawLine::Missing {
                    length: length.max(0) as u64,
                });
            }
        }
    }
    Ok((total, lines))
}

pub(crate) fn doctor(store: &SqliteStore, max_examples: usize) -> Result<DoctorReport, StoreError> {
    let conn = &store.conn;
    let scalar = |sql: &str| -> Result<i64, StoreError> {
        conn.query_row(sql, [], |row| row.get::<_, Option<i64>>(0))
            .map(|v| v.unwrap_or(0))
            .map_err(backend)
    };
    let mut issues: Vec<IssueSummary> = Vec::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT f.path, i.kind, i.line_offset, i.line_length, i.detail
                 FROM ingest_issues i JOIN files f ON f.id = i.file_id ORDER BY f.path, i.kind, i.line_offset",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })
            .map_err(backend)?;
        for row in rows {
            let (path, kind_text, offset, length, detail) = row.map_err(backend)?;
            let Some(kind) = IssueKind::parse(&kind_text) else {
                // Only this code writes issues, with a kind it names; a row edited by hand is left out.
                tracing::warn!(kind = kind_text, path, "an ingest issue of an unknown kind");
                continue;
            };
            match issues.last_mut() {
                Some(last) if last.path == path && last.kind == kind => {
                    last.count += 1;
                    if last.examples.len() < max_examples {
                        last.examples.push((offset as u64, length as u64, detail));
                    }
                }
                _ => issues.push(IssueSummary {
                    path,
                    kind,
                    count: 1,
                    examples: if max_examples > 0 {
                        vec![(offset as u64, length as u64, detail)]
                    } else {
                        Vec::new()
                    },
                }),
            }
        }
    }
    let pending_partial_lines = {
        let mut stmt = conn
            .prepare(
                "SELECT path, size - consumed FROM files
                 WHERE on_disk = 1 AND kind <> 'subagent-meta' AND size > consumed ORDER BY path",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
            })
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)?
    };
    let db_bytes = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut path = store.path.clone().into_os_string();
            path.push(suffix);
            std::fs::metadata(path).ok().map(|m| m.len())
        })
        .sum();
    Ok(DoctorReport {
        db_path: store.path.display().to_string(),
        db_bytes,
        schema_version: crate::SCHEMA_VERSION,
        price_table_version: store.meta("price_table_version")?,
        files: scalar("SELECT COUNT(*) FROM files")? as u64,
        files_missing_on_disk: scalar("SELECT COUNT(*) FROM files WHERE on_disk = 0")? as u64,
        lines: scalar("SELECT COUNT(*) FROM entries")? as u64
            + scalar("SELECT COUNT(*) FROM history")? as u64,
        responses: scalar("SELECT COUNT(*) FROM responses")? as u64,
        sessions: scalar("SELECT COUNT(*) FROM sessions")? as u64,
        raw_bytes_archived: scalar("SELECT SUM(end_offset - start_offset) FROM raw_chunks")? as u64,
        raw_bytes_compressed: scalar("SELECT SUM(length(data)) FROM raw_chunks")? as u64,
        raw_bytes_captured: captured_bytes(store)?,
        capture_dir: store.captures.display().to_string(),
        pending_partial_lines,
        implausible_numbers: issues
            .iter()
            .filter(|i| i.kind == IssueKind::ImplausibleNumber)
            .map(|i| i.count)
            .sum(),
        issues,
        last_sync_at: iso(store
            .meta("last_sync_ms")?
            .and_then(|v| v.parse::<i64>().ok())),
        not_session_usage: conn
            .query_row(
                "SELECT COUNT(DISTINCT r.session_key), SUM(r.responses), SUM(r.total_tokens), SUM(r.cost_usd),
                    COUNT(DISTINCT CASE WHEN u.started_for IS NOT NULL THEN r.session_key END),
                    SUM(CASE WHEN u.started_for IS NOT NULL THEN r.total_tokens ELSE 0 END),
                    SUM(CASE WHEN u.started_for IS NOT NULL THEN r.cost_usd ELSE 0 END)
                 FROM usage_rollup r
                 LEFT JOIN startup_usage u ON u.session_key = r.session_key
                 WHERE r.session_key IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_key = r.session_key)",
                [],
                |row| {
                    let n = |i: usize| -> rusqlite::Result<u64> {
                        Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
                    };
                    Ok(NotSessionUsage {
                        ids: n(0)?,
                        responses: n(1)?,
                        total_tokens: n(2)?,
                        cost_usd: row.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                        attributed_ids: n(4)?,
                        attributed_tokens: n(5)?,
                        attributed_cost_usd: row.get::<_, Option<f64>>(6)?.unwrap_or(0.0),
                    })
                },
            )
            .map_err(backend)?,
    })
}

/// Indexed bytes that only a capture holds: for each file on disk whose capture is its current inode, what its
/// chunks do not cover.
fn captured_bytes(store: &SqliteStore) -> Result<u64, StoreError> {
    let mut stmt = store
        .conn
        .prepare(
            "SELECT f.path, f.inode, f.consumed - COALESCE((SELECT SUM(c.end_offset - c.start_offset)
                 FROM raw_chunks c WHERE c.file_id = f.id), 0)
             FROM files f WHERE f.on_disk = 1",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<i64>>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .map_err(backend)?;
    let mut total = 0u64;
    for row in rows {
        let (path, inode, uncovered) = row.map_err(backend)?;
        if uncovered > 0 && crate::capture::open_capture(&store.captures, &path, inode).is_some() {
            total += uncovered as u64;
        }
    }
    Ok(total)
}
