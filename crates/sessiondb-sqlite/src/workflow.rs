//! Workflow sessions' tables: registered projects, and one row per workflow folder with its last good
//! `state.json`, the columns extracted from it and the stamps a sync compares. Stores and fetches only: what a
//! `state.json` means is decided in `sessiondb_core::workflow`, what changed on disk in
//! `sessiondb_ingest::workflow`.

use crate::backend;
use crate::query::iso;
use rusqlite::{params, Connection, OptionalExtension, Row};
use sessiondb_core::workflow::{
    FileStamp, Phase, WorkflowCounts, WorkflowFilter, WorkflowFolderState, WorkflowProject,
    WorkflowRecord, WorkflowRow,
};
use sessiondb_core::StoreError;
use std::collections::BTreeMap;

fn project_from_row(row: &Row<'_>) -> rusqlite::Result<WorkflowProject> {
    Ok(WorkflowProject {
        root: row.get(0)?,
        name: row.get(1)?,
        source: row.get(2)?,
        added_at: iso(row.get(3)?),
    })
}

pub(crate) fn add_project(
    conn: &mut Connection,
    name: &str,
    root: &str,
    source: &str,
    at_ms: i64,
) -> Result<WorkflowProject, StoreError> {
    conn.execute(
        "INSERT INTO workflow_projects (root, name, source, added_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (root) DO UPDATE SET name = excluded.name",
        params![root, name, source, at_ms],
    )
    .map_err(backend)?;
    conn.query_row(
        "SELECT root, name, source, added_ms FROM workflow_projects WHERE root = ?1",
        [root],
        project_from_row,
    )
    .map_err(backend)
}

pub(crate) fn remove_project(conn: &mut Connection, root: &str) -> Result<bool, StoreError> {
    let tx = conn.transaction().map_err(backend)?;
    let removed = tx
        .execute("DELETE FROM workflow_projects WHERE root = ?1", [root])
        .map_err(backend)?;
    tx.execute(
        "DELETE FROM workflow_sessions WHERE project_root = ?1",
        [root],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(removed > 0)
}

pub(crate) fn registered_projects(conn: &Connection) -> Result<Vec<WorkflowProject>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT root, name, source, added_ms FROM workflow_projects ORDER BY name")
        .map_err(backend)?;
    let rows = stmt.query_map([], project_from_row).map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

fn stamp(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<FileStamp>> {
    let size: Option<i64> = row.get(at)?;
    let mtime: Option<i64> = row.get(at + 1)?;
    let hash: Option<i64> = row.get(at + 2)?;
    Ok(match (size, mtime) {
        (Some(size), Some(mtime_ns)) => Some(FileStamp {
            size: size.max(0) as u64,
            mtime_ns,
            hash: hash.unwrap_or(0) as u64,
        }),
        _ => None,
    })
}

pub(crate) fn folder_states(
    conn: &Connection,
    root: &str,
) -> Result<Vec<WorkflowFolderState>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT slug, state_id, state_size, state_mtime_ns, state_hash, spec_size, spec_mtime_ns, spec_hash,
                    plan_size, plan_mtime_ns, plan_hash, on_disk, state_json IS NOT NULL
             FROM workflow_sessions WHERE project_root = ?1",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([root], |row| {
            Ok(WorkflowFolderState {
                slug: row.get(0)?,
                state_id: row.get(1)?,
                state: stamp(row, 2)?,
                spec: stamp(row, 5)?,
                plan: stamp(row, 8)?,
                on_disk: row.get::<_, i64>(11)? != 0,
                has_state: row.get::<_, i64>(12)? != 0,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

fn stamp_params(stamp: &Option<FileStamp>) -> (Option<i64>, Option<i64>, Option<i64>) {
    match stamp {
        Some(s) => (
            Some(s.size.min(i64::MAX as u64) as i64),
            Some(s.mtime_ns),
            Some(s.hash as i64),
        ),
        None => (None, None, None),
    }
}

pub(crate) fn apply_scan(
    conn: &mut Connection,
    records: &[WorkflowRecord],
    gone: &[(String, String)],
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(backend)?;
    for record in records {
        if let Some(old) = &record.renamed_from {
            // The new slug may hold a row of its own (a folder that was there before): the renamed one wins.
            tx.execute(
                "DELETE FROM workflow_sessions WHERE project_root = ?1 AND slug = ?2",
                params![record.project_root, record.slug],
            )
            .map_err(backend)?;
            tx.execute(
                "UPDATE workflow_sessions SET slug = ?3 WHERE project_root = ?1 AND slug = ?2",
                params![record.project_root, old, record.slug],
            )
            .map_err(backend)?;
        }
        let (spec_size, spec_mtime, spec_hash) = stamp_params(&record.spec);
        let (plan_size, plan_mtime, plan_hash) = stamp_params(&record.plan);
        let (state_size, state_mtime, state_hash) = stamp_params(&record.state_stamp);
        // Stamps, presence and the error always; the facts only with a good state.json.
        tx.execute(
            "INSERT INTO workflow_sessions (project_root, slug, title, spec_size, spec_mtime_ns, spec_hash,
                plan_size, plan_mtime_ns, plan_hash, state_size, state_mtime_ns, state_hash, error, on_disk,
                indexed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?14, ?12, 1, ?13)
             ON CONFLICT (project_root, slug) DO UPDATE SET
                spec_size = excluded.spec_size, spec_mtime_ns = excluded.spec_mtime_ns,
                spec_hash = excluded.spec_hash, plan_size = excluded.plan_size,
                plan_mtime_ns = excluded.plan_mtime_ns, plan_hash = excluded.plan_hash,
                state_size = excluded.state_size, state_mtime_ns = excluded.state_mtime_ns,
                state_hash = excluded.state_hash,
                error = excluded.error, on_disk = 1, indexed_ms = excluded.indexed_ms",
            params![
                record.project_root,
                record.slug,
                record.fallback_title,
                spec_size,
                spec_mtime,
                spec_hash,
                plan_size,
                plan_mtime,
                plan_hash,
                state_size,
                state_mtime,
                record.error,
                record.indexed_ms,
                state_hash,
            ],
        )
        .map_err(backend)?;
        if let Some((facts, text)) = &record.state {
            tx.execute(
                "UPDATE workflow_sessions SET state_id = ?3, title = ?4, phase = ?5, status = ?6,
                    session_type = ?7, created_ms = ?8, updated_ms = ?9, checkpoints_total = ?10,
                    checkpoints_done = ?11, state_json = ?12
                 WHERE project_root = ?1 AND slug = ?2",
                params![
                    record.project_root,
                    record.slug,
                    facts.id,
                    facts.title,
                    facts.phase.as_ref().map(Phase::as_str),
                    facts.status,
                    facts.session_type,
                    facts.created_ms,
                    facts.updated_ms,
                    facts.checkpoints_total.min(i64::MAX as u64) as i64,
                    facts.checkpoints_done.min(i64::MAX as u64) as i64,
                    text,
                ],
            )
            .map_err(backend)?;
        } else if record.error.is_none() {
            // No state to keep and nothing wrong (an empty folder): the title follows the spec heading or slug.
            tx.execute(
                "UPDATE workflow_sessions SET title = ?3
                 WHERE project_root = ?1 AND slug = ?2 AND state_json IS NULL",
                params![record.project_root, record.slug, record.fallback_title],
            )
            .map_err(backend)?;
        }
    }
    for (root, slug) in gone {
        tx.execute(
            "UPDATE workflow_sessions SET on_disk = 0 WHERE project_root = ?1 AND slug = ?2",
            params![root, slug],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

const ROW_COLUMNS: &str = "COALESCE(p.name, w.project_root), w.project_root, w.slug, w.state_id, w.title,
    w.phase, w.status, w.session_type, w.checkpoints_total, w.checkpoints_done, w.created_ms, w.updated_ms,
    w.on_disk, w.error, w.spec_size IS NOT NULL, w.plan_size IS NOT NULL, w.indexed_ms, w.state_json";

const ROW_FROM: &str =
    "FROM workflow_sessions w LEFT JOIN workflow_projects p ON p.root = w.project_root";

fn row_from(row: &Row<'_>) -> rusqlite::Result<WorkflowRow> {
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(row.get::<_, i64>(i)?.max(0) as u64) };
    Ok(WorkflowRow {
        project: row.get(0)?,
        root: row.get(1)?,
        slug: row.get(2)?,
        id: row.get(3)?,
        title: row.get(4)?,
        phase: row
            .get::<_, Option<String>>(5)?
            .and_then(|p| Phase::parse(&p)),
        status: row.get(6)?,
        session_type: row.get(7)?,
        checkpoints_total: n(8)?,
        checkpoints_done: n(9)?,
        created_at: iso(row.get(10)?),
        updated_at: iso(row.get(11)?),
        on_disk: row.get::<_, i64>(12)? != 0,
        error: row.get(13)?,
        has_spec: row.get::<_, i64>(14)? != 0,
        has_plan: row.get::<_, i64>(15)? != 0,
        indexed_at: iso(row.get(16)?),
    })
}

pub(crate) fn sessions(
    conn: &Connection,
    filter: &WorkflowFilter,
) -> Result<Vec<WorkflowRow>, StoreError> {
    let mut clauses = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(root) = &filter.project_root {
        args.push(root.clone().into());
        clauses.push(format!("w.project_root = ?{}", args.len()));
    }
    if let Some(phase) = &filter.phase {
        args.push(phase.as_str().to_owned().into());
        clauses.push(format!("w.phase = ?{}", args.len()));
    }
    if let Some(min) = filter.min_checkpoints {
        args.push((min.min(i64::MAX as u64) as i64).into());
        clauses.push(format!("w.checkpoints_total >= ?{}", args.len()));
    }
    let filter_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let limit = filter.limit.map_or(-1, |l| l.min(i64::MAX as u64) as i64);
    let sql = format!(
        "SELECT {ROW_COLUMNS} {ROW_FROM}{filter_sql}
         ORDER BY COALESCE(w.updated_ms, w.created_ms, w.indexed_ms) DESC, w.project_root, w.slug
         LIMIT {limit} OFFSET {}",
        filter.offset.min(i64::MAX as u64)
    );
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), row_from)
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub(crate) fn session(
    conn: &Connection,
    root: &str,
    slug: &str,
) -> Result<Option<(WorkflowRow, Option<String>)>, StoreError> {
    conn.query_row(
        &format!("SELECT {ROW_COLUMNS} {ROW_FROM} WHERE w.project_root = ?1 AND w.slug = ?2"),
        [root, slug],
        |row| Ok((row_from(row)?, row.get::<_, Option<String>>(17)?)),
    )
    .optional()
    .map_err(backend)
}

pub(crate) fn counts(conn: &Connection) -> Result<Vec<WorkflowCounts>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT project_root, COALESCE(phase, 'none'), COUNT(*), SUM(on_disk)
             FROM workflow_sessions GROUP BY project_root, COALESCE(phase, 'none') ORDER BY project_root",
        )
        .map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    let mut out: Vec<WorkflowCounts> = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let root: String = row.get(0).map_err(backend)?;
        let phase: String = row.get(1).map_err(backend)?;
        let count = row.get::<_, i64>(2).map_err(backend)?.max(0) as u64;
        let on_disk = row
            .get::<_, Option<i64>>(3)
            .map_err(backend)?
            .unwrap_or(0)
            .max(0) as u64;
        if out.last().map(|c| &c.root) != Some(&root) {
            out.push(WorkflowCounts {
                root,
                total: 0,
                on_disk: 0,
                by_phase: BTreeMap::new(),
            });
        }
        if let Some(entry) = out.last_mut() {
            entry.total += count;
            entry.on_disk += on_disk;
            entry.by_phase.insert(phase, count);
        }
    }
    Ok(out)
}
