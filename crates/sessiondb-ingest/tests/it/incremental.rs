//! Tailing by byte offset: second syncs read nothing, appends read only the new bytes, partial lines wait,
//! rewrites and deletions are handled, and every incremental path ends where a rebuild ends.

use crate::common::*;
use sessiondb_core::{SessionFilter, SessionState};
use std::io::Write;

#[test]
fn second_sync_reads_nothing_and_appends_read_only_new_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    let manifest = generate(&corpus, 3, &["--total-mb", "2"]);
    let mut store = open(&dir.path().join("db.sqlite"));
    let first = sync_dirs(&mut store, &[&corpus]);
    assert!(first.bytes_read > 0);

    let again = sync_dirs(&mut store, &[&corpus]);
    assert_eq!(again.files_read, 0, "{again:?}");
    assert_eq!(again.bytes_read, 0);
    assert_eq!(again.files_unchanged, first.files_seen);

    // Append a copy of a file's first assistant line with a new id: exactly those bytes are read.
    let file = jsonl_files(&corpus.join("projects"))
        .into_iter()
        .find(|p| !p.to_string_lossy().contains("subagents"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(r#""type":"assistant""#) && l.contains(r#""output_tokens""#))
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    let mut value = value;
    value["uuid"] = "appended-uuid".into();
    value["requestId"] = "req_appended".into();
    value["message"]["id"] = "msg_appended".into();
    let added_tokens: u64 = [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .map(|k| value["message"]["usage"][k].as_u64().unwrap_or(0))
    .sum();
    let appended = format!("{}\n", serde_json::to_string(&value).unwrap());
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(appended.as_bytes())
        .unwrap();

    let third = sync_dirs(&mut store, &[&corpus]);
    assert_eq!(third.files_read, 1);
    assert_eq!(third.bytes_read, appended.len() as u64);
    let expected = manifest["expected_dedup"]["tokens"]["total"]
        .as_u64()
        .unwrap()
        + added_tokens;
    assert_eq!(daily(&store).totals.total_tokens, expected);
}

#[test]
fn partial_last_line_waits_for_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let file = root.join("projects/-w-p/s1.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let full = r#"{"type":"assistant","sessionId":"s1","uuid":"a1","cwd":"/w/p","timestamp":"2026-11-01T10:00:00.000Z","requestId":"r1","message":{"id":"m1","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":10,"output_tokens":20}}}"#;
    let user = r#"{"type":"user","sessionId":"s1","uuid":"u1","cwd":"/w/p","timestamp":"2026-11-01T09:00:00.000Z","message":{"content":"hi"}}"#;
    let (head, tail) = full.split_at(60);
    std::fs::write(&file, format!("{user}\n{head}")).unwrap();

    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    assert_eq!(daily(&store).totals.total_tokens, 0);
    let doctor = store.doctor(0).unwrap();
    assert_eq!(doctor.pending_partial_lines.len(), 1);
    assert_eq!(doctor.pending_partial_lines[0].1, head.len() as u64);
    assert!(
        doctor.issues.is_empty(),
        "a partial line is not an error: {:?}",
        doctor.issues
    );

    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(format!("{tail}\n").as_bytes())
        .unwrap();
    sync_dirs(&mut store, &[&root]);
    assert_eq!(daily(&store).totals.total_tokens, 30);
    assert!(store.doctor(0).unwrap().pending_partial_lines.is_empty());
    sync_dirs(&mut store, &[&root]);
    assert_eq!(daily(&store).totals.total_tokens, 30, "never counted twice");
}

/// Cuts every file at an arbitrary byte (often mid-line), syncs, restores the rest, syncs again, and compares
/// with a fresh database built from the final files.
#[test]
fn incremental_sync_equals_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(
        &corpus,
        21,
        &[
            "--total-mb",
            "3",
            "--resume-rate",
            "0.3",
            "--partial-tail-rate",
            "0.2",
        ],
    );
    let live = dir.path().join("live");
    copy_tree(&corpus, &live);
    let files = jsonl_files(&live);
    for (i, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let cut = bytes.len() * (i % 7 + 1) / 9;
        std::fs::write(path, &bytes[..cut]).unwrap();
    }
    let mut incremental = open(&dir.path().join("incremental.db"));
    sync_dirs(&mut incremental, &[&live]);
    for step in 0..2 {
        for path in &files {
            let original = std::fs::read(corpus.join(path.strip_prefix(&live).unwrap())).unwrap();
            let current = std::fs::read(path).unwrap().len();
            let next = if step == 0 {
                (current + original.len()) / 2
            } else {
                original.len()
            };
            std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .unwrap()
                .write_all(&original[current..next])
                .unwrap();
        }
        sync_dirs(&mut incremental, &[&live]);
    }
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&live]);
    assert_eq!(snapshot(&incremental), snapshot(&rebuilt));
    assert_uuid_lookup_is_exact(&dir.path().join("incremental.db"));
}

#[test]
fn rewritten_file_is_reindexed_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 5, &["--total-mb", "2", "--resume-rate", "0.5"]);
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&corpus]);

    let files = jsonl_files(&corpus.join("projects"));
    // Shrink one file (a rewrite that dropped lines) and change the first bytes of another (same size).
    let shrunk = &files[0];
    let text = std::fs::read_to_string(shrunk).unwrap();
    let keep: String = text
        .lines()
        .take(text.lines().count() / 2)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(shrunk, keep).unwrap();
    let changed = &files[1];
    let mut bytes = std::fs::read(changed).unwrap();
    let pos = bytes.iter().position(|&b| b == b'{').unwrap();
    bytes.insert(pos + 1, b' ');
    bytes.pop();
    bytes.pop();
    bytes.push(b'\n');
    std::fs::write(changed, &bytes).unwrap();

    let report = sync_dirs(&mut store, &[&corpus]);
    assert_eq!(report.files_rewritten, 2, "{report:?}");
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&corpus]);
    assert_eq!(snapshot(&store), snapshot(&rebuilt));
}

#[test]
fn deleted_files_keep_their_sessions_and_raw_lines() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 9, &["--total-mb", "1", "--malformed-rate", "0"]);
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&corpus]);
    let before = daily(&store).totals;

    // A session without subagent files, so the export is exactly this file's lines.
    let victim = jsonl_files(&corpus.join("projects"))
        .into_iter()
        .find(|p| !p.to_string_lossy().contains("subagents") && !p.with_extension("").exists())
        .unwrap();
    let session_id = victim.file_stem().unwrap().to_string_lossy().into_owned();
    let original = std::fs::read(&victim).unwrap();
    std::fs::remove_file(&victim).unwrap();
    let report = sync_dirs(&mut store, &[&corpus]);
    assert_eq!(report.files_missing, 1);

    let session = store.session(&session_id).unwrap().unwrap();
    assert!(!session.summary.on_disk);
    assert_eq!(session.summary.state, SessionState::Deleted);
    assert_eq!(daily(&store).totals, before, "usage survives the cleanup");
    assert!(store
        .sessions(&SessionFilter::default())
        .unwrap()
        .iter()
        .any(|s| s.session_id == session_id));

    // The archive gives back the file's lines byte for byte (complete lines; a partial tail was never read).
    let lines: Vec<u8> = store.session_raw_lines(&session_id).unwrap().concat();
    let complete = original.len() - original.iter().rev().take_while(|&&b| b != b'\n').count();
    let original_own: Vec<u8> = original[..complete]
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .flat_map(|l| l.to_vec())
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&lines),
        String::from_utf8_lossy(&original_own)
    );

    // The file comes back: it is on disk again, nothing is counted twice.
    std::fs::write(&victim, &original).unwrap();
    sync_dirs(&mut store, &[&corpus]);
    assert!(store.session(&session_id).unwrap().unwrap().summary.on_disk);
    assert_eq!(daily(&store).totals, before);
}

#[test]
fn concurrent_syncs_of_one_database_agree_with_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 13, &["--total-mb", "3"]);
    let db = dir.path().join("db.sqlite");
    open(&db);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let mut store = open(&db);
                sync_dirs(&mut store, &[&corpus]);
            });
        }
    });
    let mut store = open(&db);
    sync_dirs(&mut store, &[&corpus]);
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&corpus]);
    assert_eq!(snapshot(&store), snapshot(&rebuilt));
    assert_uuid_lookup_is_exact(&db);
}

/// The first sync of an empty database switches it to a rollback journal while it loads; syncs that open the
/// database during that load (and so cannot switch it back to WAL) still finish, and nothing is lost or doubled.
#[test]
fn syncs_that_open_the_database_during_a_first_load_agree_with_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 17, &["--total-mb", "4"]);
    let db = dir.path().join("db.sqlite");
    std::thread::scope(|scope| {
        for delay_ms in [0u64, 30, 60, 120] {
            let (db, corpus) = (&db, &corpus);
            scope.spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(delay_ms));
                let mut store = open(db);
                sync_dirs(&mut store, &[corpus]);
            });
        }
    });
    let store = open(&db);
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&corpus]);
    assert_eq!(snapshot(&store), snapshot(&rebuilt));
    assert_uuid_lookup_is_exact(&db);
    assert_uuid_lookup_is_exact(&dir.path().join("rebuilt.db"));
    if crate::backend::is_sqlite() {
        // A first load leaves SQLite's rollback journal for WAL again.
        assert_eq!(
            rusqlite_journal_mode(&db),
            "wal",
            "the database is back in WAL mode"
        );
    }
}

fn rusqlite_journal_mode(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap()
}

/// A first load resolves summary titles from the summary lines, a small sync from each dirty session's lines:
/// both must title every session alike.
#[test]
fn summary_titles_agree_between_a_first_load_and_small_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(
        &corpus,
        41,
        &[
            "--projects",
            "6",
            "--sessions-per-project",
            "25",
            "--lines-per-session",
            "12",
            "--resume-rate",
            "0.5",
        ],
    );
    let mut cold = open(&dir.path().join("cold.db"));
    sync_dirs(&mut cold, &[&corpus]);

    // The same files arriving one project at a time: no sync dirties more than one project's sessions.
    let live = dir.path().join("live");
    let mut small = open(&dir.path().join("small.db"));
    let mut projects: Vec<_> = std::fs::read_dir(corpus.join("projects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    projects.sort();
    std::fs::create_dir_all(live.join("projects")).unwrap();
    for project in &projects {
        copy_tree(
            project,
            &live.join("projects").join(project.file_name().unwrap()),
        );
        sync_dirs(&mut small, &[&live]);
    }

    let titles = |store: &DynStore| -> Vec<(String, Option<String>)> {
        let mut titles: Vec<_> = store
            .sessions(&SessionFilter::default())
            .unwrap()
            .into_iter()
            .map(|s| (s.session_id, s.title))
            .collect();
        titles.sort();
        titles
    };
    let (cold_titles, small_titles) = (titles(&cold), titles(&small));
    assert!(
        cold_titles.len() > 100,
        "more sessions than one small sync refreshes"
    );
    let from_summaries = cold
        .sessions(&SessionFilter::default())
        .unwrap()
        .iter()
        .filter(|s| s.title.is_some() && s.title != s.first_prompt)
        .count();
    assert!(from_summaries > 0, "the corpus has summary titles");
    assert_eq!(cold_titles, small_titles);
}

/// Every column of every `sessions` row, in key order.
fn sessions_rows(db: &std::path::Path) -> Vec<String> {
    rows_of(db, "SELECT * FROM sessions ORDER BY session_key")
}

/// Every row `sql` returns, each as one string of its values.
fn rows_of(db: &std::path::Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let columns = stmt.column_count();
    let rows = stmt
        .query_map([], |row| {
            let values: Vec<String> = (0..columns)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect();
            Ok(values.join(" | "))
        })
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// A first load fills `sessions` and `usage_rollup` from facts it gathered while writing the lines and electing
/// responses; the refresh of later syncs derives the same rows with SQL. Refreshing every session of a first
/// load again with SQL must change nothing, on a generated corpus (resumes, sidechains, subagents, compactions)
/// and on every real sample.
#[test]
fn first_load_facts_match_the_sql() {
    if !crate::backend::is_sqlite() {
        return; // compares SQLite's `first_load.rs` facts with its SQL, table by table
    }
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 17, &["--total-mb", "3", "--resume-rate", "0.4"]);
    // What the generator never writes: an unpriced model, old `costUSD` lines, a `<synthetic>` response, and
    // one response whose copies sit in two sessions (the later, larger copy wins).
    let odd = corpus.join("projects/-w-odd");
    std::fs::create_dir_all(&odd).unwrap();
    let line = |session: &str, uuid: &str, msg: &str, model: &str, output: u64, extra: &str| {
        format!(
            r#"{{"type":"assistant","sessionId":"{session}","uuid":"{uuid}","cwd":"/w/odd","timestamp":"2026-11-01T10:0{output}:00.000Z","requestId":"r-{msg}",{extra}"message":{{"id":"{msg}","model":"{model}","role":"assistant","content":[],"usage":{{"input_tokens":10,"output_tokens":{output},"cache_creation_input_tokens":100,"cache_read_input_tokens":1000}}}}}}"#
        )
    };
    std::fs::write(
        odd.join("s-odd-1.jsonl"),
        [
            line("s-odd-1", "o1", "m1", "gpt-5-unknown", 5, ""),
            line(
                "s-odd-1",
                "o2",
                "m2",
                "claude-sonnet-4-5-20250929",
                6,
                r#""costUSD":0.25,"#,
            ),
            line("s-odd-1", "o3", "m3", "<synthetic>", 0, ""),
            line("s-odd-1", "o4", "m4", "claude-opus-4-1", 1, ""),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    std::fs::write(
        odd.join("s-odd-2.jsonl"),
        line(
            "s-odd-2",
            "o5",
            "m4",
            "claude-opus-4-1",
            7,
            r#""costUSD":0.5,"#,
        ) + "\n",
    )
    .unwrap();
    let samples = dir.path().join("samples");
    for entry in std::fs::read_dir(shared_dir().join("samples")).unwrap() {
        let path = entry.unwrap().path();
        if path.join("projects").is_dir() {
            copy_tree(&path, &samples.join(path.file_name().unwrap()));
        }
    }
    // This repo's own real-CLI trees too (2.0.76: ids only start-up Warmup sidechains carry).
    copy_tree(
        &real_cli_tree("2.0.76"),
        &samples.join("claude-code-2.0.76"),
    );
    let mut roots = vec![corpus];
    roots.extend(
        std::fs::read_dir(&samples)
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for root in &roots {
        let db = dir.path().join(format!(
            "{}.db",
            root.file_name().unwrap().to_string_lossy()
        ));
        let mut store = open(&db);
        sync_dirs(&mut store, &[root]);
        let from_facts = sessions_rows(&db);
        assert!(!from_facts.is_empty(), "{}", root.display());
        let rollup =
            "SELECT * FROM usage_rollup ORDER BY session_key, bucket_ms, model, git_branch";
        let rollup_from_facts = rows_of(&db, rollup);
        // Which session each start-up Warmup's usage is counted under (`startup_usage`) follows both ways too.
        let startup = "SELECT * FROM startup_usage ORDER BY session_key";
        let startup_from_facts = rows_of(&db, startup);

        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            // Every key with lines, not only the sessions: the SQL must leave out what the facts left out.
            "INSERT INTO dirty_sessions (session_key)
             SELECT DISTINCT session_key FROM entries WHERE session_key IS NOT NULL",
        )
        .unwrap();
        drop(conn);
        store.refresh_sessions().unwrap();
        assert_eq!(sessions_rows(&db), from_facts, "{}", root.display());
        assert_eq!(
            rows_of(&db, rollup),
            rollup_from_facts,
            "{}",
            root.display()
        );
        assert_eq!(
            rows_of(&db, startup),
            startup_from_facts,
            "{}",
            root.display()
        );
    }
}

#[test]
fn a_rewrite_drops_every_line_of_the_file_whatever_session_it_is_filed_under() {
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    let project = claude.join("projects").join("-home-a");
    std::fs::create_dir_all(&project).unwrap();
    let line = |uuid: &str, session: Option<&str>| {
        let mut value = serde_json::json!({
            "type": "user", "uuid": uuid, "timestamp": "2026-11-01T10:00:00.000Z",
            "cwd": "/home/a", "message": {"role": "user", "content": format!("prompt {uuid}")},
        });
        if let Some(session) = session {
            value["sessionId"] = session.into();
        }
        format!("{value}\n")
    };
    let write =
        |path: &std::path::Path, lines: &[String]| std::fs::write(path, lines.concat()).unwrap();
    let session_a = "aaaaaaaa-0000-4000-8000-000000000001";
    // A session's transcript holding a line of another session (as a replay does) and one without a sessionId
    // (filed under the file's session), and a loose transcript (no session in its name) with a line filed
    // under no session at all.
    let transcript = project.join(format!("{session_a}.jsonl"));
    let loose = claude.join("projects").join("loose.jsonl");
    write(
        &transcript,
        &[
            line("u1", Some(session_a)),
            line("u2", Some("bbbbbbbb-0000-4000-8000-000000000002")),
            line("u3", None),
        ],
    );
    write(
        &loose,
        &[
            line("u4", None),
            line("u5", Some("cccccccc-0000-4000-8000-000000000003")),
        ],
    );
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&claude]);
    assert_eq!(store.doctor(0).unwrap().lines, 5);

    // Both rewritten to fewer lines: only what is left may stay indexed.
    write(&transcript, &[line("u1", Some(session_a))]);
    write(
        &loose,
        &[line("u5", Some("cccccccc-0000-4000-8000-000000000003"))],
    );
    let report = sync_dirs(&mut store, &[&claude]);
    assert_eq!(report.files_rewritten, 2, "{report:?}");
    assert_eq!(store.doctor(0).unwrap().lines, 2);
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&claude]);
    assert_eq!(snapshot(&store), snapshot(&rebuilt));
    assert_uuid_lookup_is_exact(&dir.path().join("db.sqlite"));
}

/// A database of the schema before `entry_uuids` (lines found by uuid through the index `entries_uuid_prefix`)
/// is migrated on open: the table is filled from its lines, the index dropped, and links still resolve.
#[test]
fn a_database_from_before_entry_uuids_is_migrated_with_every_line() {
    if !crate::backend::is_sqlite() {
        return; // rolls SQLite's schema back to an older version
    }
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    generate(&claude, 29, &["--total-mb", "3", "--resume-rate", "0.5"]);
    let db = dir.path().join("db.sqlite");
    sync_dirs(&mut open(&db), &[&claude]);
    let expected = snapshot(&open(&db));
    {
        // Back to the schema version before `entry_uuids`, as that code left it (the migrations after it only
        // added columns to `files`, marked files to re-read, and added `startup_usage`).
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(&format!(
            "DROP TABLE entry_uuids;
             DELETE FROM meta WHERE key = 'entry_uuids_through';
             CREATE INDEX entries_uuid_prefix ON entries ((substr(uuid, 1, 8)));
             ALTER TABLE files DROP COLUMN device;
             ALTER TABLE files DROP COLUMN ctime_ns;
             ALTER TABLE files DROP COLUMN tail_hash;
             ALTER TABLE files DROP COLUMN tail_len;
             DROP TABLE startup_usage;
             PRAGMA user_version = {};",
            // The workflow tables' migration (re-run harmlessly) came after this one.
            sessiondb_sqlite::SCHEMA_VERSION - 5
        ))
        .unwrap();
    }
    let store = open(&db);
    assert_uuid_lookup_is_exact(&db);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let old_index: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'entries_uuid_prefix'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(old_index, 0, "the old index is dropped");
    assert_eq!(snapshot(&store), expected);
    assert!(
        expected.to_string().contains("\"kind\":\"resume\"")
            || expected.to_string().contains("\"kind\":\"fork\""),
        "the corpus has links to resolve"
    );
}
