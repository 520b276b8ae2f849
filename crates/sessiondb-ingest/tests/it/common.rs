//! Shared helpers for the sync tests: generated corpora, a store in a temp dir (opened on the backend under
//! test, see `backend.rs`), and result snapshots.

#![allow(dead_code)]

pub use crate::backend::DynStore;
use sessiondb_core::{
    build_usage_report, Grouping, Period, SessionFilter, UsageQuery, UsageReport,
};
use sessiondb_ingest::{sync, ClaudeCodeSource, Quiet, SyncOptions, SyncReport};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared` seen from the workspace root.
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .canonicalize()
        .expect("../shared next to the checkout (see the README)")
}

/// The trees the real Claude Code CLI wrote, with `steps.jsonl` and `expected.json`: the shared samples, and
/// the ones this repo made itself (`tests/fixtures/claude-code-<version>/`, see its README).
pub const REAL_CLI_VERSIONS: [&str; 4] = ["1.0.128", "2.0.76", "2.1.197", "2.1.330"];

/// Where the real CLI's tree of `version` lives: this crate's fixtures first, else `../shared/samples`.
pub fn real_cli_tree(version: &str) -> PathBuf {
    let own =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/claude-code-{version}"));
    if own.is_dir() {
        return own;
    }
    shared_dir().join(format!("samples/claude-code-{version}"))
}

/// Runs the corpus generator into `out` with extra arguments and returns its manifest.
pub fn generate(out: &Path, seed: u64, extra: &[&str]) -> serde_json::Value {
    let status = Command::new("python3")
        .arg(shared_dir().join("tools/gen_corpus.py"))
        .arg("--out")
        .arg(out)
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--force")
        .args(extra)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs the corpus generator");
    assert!(status.success(), "gen_corpus.py failed");
    let manifest = std::fs::read_to_string(out.join("corpus-manifest.json")).expect("manifest");
    serde_json::from_str(&manifest).expect("manifest is JSON")
}

/// Opens the store `path` names on the backend under test (`backend::open_store`).
pub fn open(path: &Path) -> DynStore {
    crate::backend::open_store(path)
}

pub fn sync_dirs(store: &mut DynStore, roots: &[&Path]) -> SyncReport {
    sync_with(store, roots, &SyncOptions::default())
}

pub fn sync_with(store: &mut DynStore, roots: &[&Path], options: &SyncOptions) -> SyncReport {
    let roots: Vec<PathBuf> = roots.iter().map(|r| r.canonicalize().unwrap()).collect();
    sync(&mut **store, &ClaudeCodeSource, &roots, options, &Quiet).expect("sync")
}

pub fn usage(store: &DynStore, grouping: Grouping) -> UsageReport {
    let query = UsageQuery {
        grouping,
        since: None,
        until: None,
        tz: chrono_tz_utc(),
    };
    let buckets = store.usage_buckets(grouping, None, None).unwrap();
    build_usage_report(&query, &buckets)
}

fn chrono_tz_utc() -> chrono_tz::Tz {
    "UTC".parse().unwrap()
}

pub fn daily(store: &DynStore) -> UsageReport {
    usage(store, Grouping::Period(Period::Day))
}

/// Everything a user can see, as JSON, for comparing two databases.
pub fn snapshot(store: &DynStore) -> serde_json::Value {
    let sessions = store.sessions(&SessionFilter::default()).unwrap();
    let details: Vec<_> = sessions
        .iter()
        .map(|s| {
            let mut d =
                serde_json::to_value(store.session(&s.session_id).unwrap().unwrap()).unwrap();
            // File sizes and line counts are facts about the files, the rest is what was derived from them.
            if let Some(files) = d.get_mut("files").and_then(|f| f.as_array_mut()) {
                for f in files {
                    f.as_object_mut().unwrap().remove("size");
                }
            }
            d
        })
        .collect();
    let mut groupings = serde_json::Map::new();
    for (name, g) in [
        ("daily", Grouping::Period(Period::Day)),
        ("session", Grouping::Session),
        ("project", Grouping::Project),
        ("model", Grouping::Model),
        ("branch", Grouping::Branch),
    ] {
        groupings.insert(name.into(), serde_json::to_value(usage(store, g)).unwrap());
    }
    serde_json::json!({ "sessions": details, "usage": groupings })
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let target = to.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &target).unwrap();
        }
    }
}

/// Every path below `root` (dirs first), sorted.
pub fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if p.is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            children.sort();
            out.extend(children);
        }
        i += 1;
    }
    out
}

/// All `.jsonl` files under `root`, sorted.
pub fn jsonl_files(root: &Path) -> Vec<PathBuf> {
    walkdir(root)
        .into_iter()
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "jsonl"))
        .collect()
}

/// Two sessions of `/w/p` linked the way older versions' auto-continuation did it: `new` starts with a compact
/// boundary whose `logicalParentUuid` is `old`'s last message. Plus `other`, an unrelated older session there.
pub fn write_compaction_pair(project: &Path) {
    std::fs::create_dir_all(project).unwrap();
    std::fs::write(
        project.join("old.jsonl"),
        concat!(
            r#"{"type":"user","sessionId":"old","uuid":"o1","cwd":"/w/p","timestamp":"2026-11-01T10:00:00.000Z","message":{"content":"start"}}"#, "\n",
            r#"{"type":"assistant","sessionId":"old","uuid":"o2","parentUuid":"o1","cwd":"/w/p","timestamp":"2026-11-01T10:00:05.000Z","message":{"id":"m1","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":1,"output_tokens":1}},"requestId":"r1"}"#, "\n",
        ),
    )
    .unwrap();
    std::fs::write(
        project.join("new.jsonl"),
        concat!(
            r#"{"type":"system","subtype":"compact_boundary","sessionId":"new","uuid":"n0","parentUuid":null,"logicalParentUuid":"o2","cwd":"/w/p","timestamp":"2026-11-01T11:00:00.000Z","compactMetadata":{"trigger":"auto","preTokens":190000}}"#, "\n",
            r#"{"type":"user","sessionId":"new","uuid":"n1","parentUuid":"n0","isCompactSummary":true,"cwd":"/w/p","timestamp":"2026-11-01T11:00:01.000Z","message":{"content":"summary of before"}}"#, "\n",
            r#"{"type":"user","sessionId":"new","uuid":"n2","parentUuid":"n1","cwd":"/w/p","timestamp":"2026-11-01T11:00:02.000Z","message":{"content":"go on"}}"#, "\n",
        ),
    )
    .unwrap();
    std::fs::write(
        project.join("other.jsonl"),
        concat!(
            r#"{"type":"user","sessionId":"other","uuid":"x1","cwd":"/w/p","timestamp":"2026-11-01T09:00:00.000Z","message":{"content":"unrelated"}}"#, "\n",
        ),
    )
    .unwrap();
}

/// Asserts that `entry_uuids`, the SQLite table lines are found by uuid through, holds exactly one row per line
/// with a uuid: its first 8 characters and its id (a missing row hides the line from links and titles). Checks
/// nothing on other backends (`backend::sqlite_file`).
pub fn assert_uuid_lookup_is_exact(db: &Path) {
    let Some(db) = crate::backend::sqlite_file(db) else {
        return;
    };
    let conn = rusqlite::Connection::open(db).unwrap();
    let (lines, rows, missing): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM entries WHERE uuid IS NOT NULL),
                    (SELECT COUNT(*) FROM entry_uuids),
                    (SELECT COUNT(*) FROM entries e WHERE e.uuid IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM entry_uuids u WHERE u.uuid_prefix = substr(e.uuid, 1, 8) AND u.entry_id = e.id))",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert!(lines > 0, "no line with a uuid in {}", db.display());
    assert_eq!(
        (rows, missing),
        (lines, 0),
        "entry_uuids of {}: (rows, lines without one) for {lines} lines with a uuid",
        db.display()
    );
}
