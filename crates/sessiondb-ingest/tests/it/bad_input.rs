//! Hostile input: malformed, truncated, non-UTF-8 and huge lines, vanishing files, symlink loops. Nothing panics,
//! good lines are kept, and every skip is recorded with file, offset and reason.

use crate::common::*;
use sessiondb_core::Store;
use sessiondb_ingest::{ReadLimits, SyncOptions, Unavailable};
use sessiondb_sqlite::SqliteStore;

fn good(uuid: &str, msg: &str, output: u64) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"s1","uuid":"{uuid}","cwd":"/w/p","timestamp":"2026-11-01T10:00:00.000Z","requestId":"r-{msg}","message":{{"id":"{msg}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":1,"output_tokens":{output}}}}}}}"#
    )
}

#[test]
fn bad_lines_are_recorded_and_good_lines_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let file = root.join("projects/-w-p/s1.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(format!("{}\n", good("a1", "m1", 10)).as_bytes());
    let malformed_at = bytes.len();
    bytes.extend_from_slice(b"{\"type\":\"assistant\",\"message\":{\"id\":\n");
    let array_at = bytes.len();
    bytes.extend_from_slice(b"[1,2,3]\n");
    bytes.extend_from_slice(b"\n   \n");
    let latin1_at = bytes.len();
    // A prompt with a Latin-1 byte: kept, with the byte replaced, and flagged.
    bytes.extend_from_slice(b"{\"type\":\"user\",\"sessionId\":\"s1\",\"uuid\":\"u9\",\"message\":{\"content\":\"caf\xe9\"}}\n");
    bytes.extend_from_slice(format!("{}\n", good("a2", "m2", 20)).as_bytes());
    std::fs::write(&file, &bytes).unwrap();

    let mut store = open(&dir.path().join("db.sqlite"));
    let report = sync_dirs(&mut store, &[&root]);
    assert_eq!(report.issues, 3);
    assert_eq!(
        daily(&store).totals.output_tokens,
        30,
        "the good lines on both sides of the bad ones count"
    );
    let doctor = store.doctor(5).unwrap();
    let find = |kind: &str| {
        doctor
            .issues
            .iter()
            .find(|i| i.kind == kind)
            .unwrap_or_else(|| panic!("{kind}: {:?}", doctor.issues))
    };
    assert_eq!(find("malformed-json").examples[0].0, malformed_at as u64);
    assert_eq!(find("not-an-object").examples[0].0, array_at as u64);
    assert_eq!(find("invalid-utf8").examples[0].0, latin1_at as u64);
    let s1 = store.session("s1").unwrap().unwrap();
    assert_eq!(s1.summary.first_prompt.as_deref(), Some("caf\u{FFFD}"));

    // A second sync records nothing twice.
    sync_dirs(&mut store, &[&root]);
    assert_eq!(
        store
            .doctor(5)
            .unwrap()
            .issues
            .iter()
            .map(|i| i.count)
            .sum::<u64>(),
        3
    );
}

#[test]
fn a_line_over_the_limit_is_archived_not_parsed_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let file = root.join("projects/-w-p/s1.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let huge_payload = "x".repeat(3 << 20);
    let huge = format!(
        r#"{{"type":"file-history-snapshot","messageId":"q","snapshot":{{"blob":"{huge_payload}"}}}}"#
    );
    let content = format!(
        "{}\n{huge}\n{}\n",
        good("a1", "m1", 10),
        good("a2", "m2", 20)
    );
    std::fs::write(&file, &content).unwrap();

    let options = SyncOptions {
        limits: ReadLimits {
            piece_bytes: 64 << 10,
            max_line_bytes: 1 << 20,
            zstd_level: 1,
        },
        ..SyncOptions::default()
    };
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_with(&mut store, &[&root], &options);
    assert_eq!(daily(&store).totals.output_tokens, 30);
    let doctor = store.doctor(5).unwrap();
    let long = doctor
        .issues
        .iter()
        .find(|i| i.kind == "line-too-long")
        .expect("recorded");
    assert_eq!(long.examples[0].1, huge.len() as u64 + 1);
    assert!(
        long.examples[0].2.contains("file-history-snapshot"),
        "{}",
        long.examples[0].2
    );
    // The huge line is still in the archive, whole.
    let raw = store.session_raw_lines("s1").unwrap();
    assert_eq!(raw.len(), 3);
    assert_eq!(raw[1], format!("{huge}\n").into_bytes());
    assert!(doctor.pending_partial_lines.is_empty());
}

#[test]
fn symlink_loops_and_dangling_links_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("s1.jsonl"),
        format!("{}\n", good("a1", "m1", 10)),
    )
    .unwrap();
    std::os::unix::fs::symlink(root.join("projects"), project.join("loop")).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("nowhere.jsonl"),
        project.join("dangling.jsonl"),
    )
    .unwrap();

    let mut store = open(&dir.path().join("db.sqlite"));
    let report = sync_dirs(&mut store, &[&root]);
    assert_eq!(daily(&store).totals.output_tokens, 10);
    assert!(
        report.discovery_issues.len() >= 2,
        "{:?}",
        report.discovery_issues
    );
}

#[test]
fn a_file_that_vanishes_or_shrinks_between_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let file = root.join("projects/-w-p/s1.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        format!("{}\n{}\n", good("a1", "m1", 10), good("a2", "m2", 20)),
    )
    .unwrap();
    // Another session stays: a root left with no session files at all is not marked gone (see
    // `an_emptied_or_missing_root_marks_nothing_gone`).
    std::fs::write(root.join("projects/-w-p/s2.jsonl"), "").unwrap();
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    // Truncated to a partial first line: a rewrite, and nothing of the old content is counted.
    std::fs::write(&file, &good("a1", "m1", 10)[..30]).unwrap();
    let report = sync_dirs(&mut store, &[&root]);
    assert_eq!(report.files_rewritten, 1);
    assert_eq!(daily(&store).totals.output_tokens, 0);
    std::fs::remove_file(&file).unwrap();
    let report = sync_dirs(&mut store, &[&root]);
    assert_eq!(report.files_missing, 1);
}

#[test]
fn an_emptied_or_missing_root_marks_nothing_gone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let file = root.join("projects/-w-p/s1.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, format!("{}\n", good("a1", "m1", 10))).unwrap();
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    let on_disk = |store: &SqliteStore| store.session("s1").unwrap().unwrap().summary.on_disk;

    // Emptied (or an empty mount point): nothing marked, and the report says why.
    std::fs::rename(root.join("projects"), dir.path().join("away")).unwrap();
    let report = sync_dirs(&mut store, &[&root]);
    assert_eq!(report.files_missing, 0);
    assert_eq!(report.unavailable_roots.len(), 1);
    assert_eq!(report.unavailable_roots[0].reason, Unavailable::Empty);
    assert_eq!(report.unavailable_roots[0].known_files, 1);
    assert!(on_disk(&store));

    // Missing altogether.
    let canonical = root.canonicalize().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    let report = sessiondb_ingest::sync(
        &mut store,
        &sessiondb_ingest::ClaudeCodeSource,
        &[canonical],
        &SyncOptions::default(),
        &sessiondb_ingest::Quiet,
    )
    .unwrap();
    assert_eq!(report.files_missing, 0);
    assert_eq!(report.unavailable_roots[0].reason, Unavailable::Missing);
    assert!(on_disk(&store));
}
