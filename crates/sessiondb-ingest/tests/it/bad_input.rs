//! Hostile input: malformed, truncated, non-UTF-8 and huge lines, vanishing files, symlink loops. Nothing panics,
//! good lines are kept, and every skip is recorded with file, offset and reason.

use crate::common::*;
use sessiondb_ingest::{ReadLimits, SyncOptions, Unavailable};

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
            ..ReadLimits::default()
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
    let on_disk = |store: &DynStore| store.session("s1").unwrap().unwrap().summary.on_disk;

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
        &mut *store,
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

/// An assistant line of session `s1` with the given usage object and extra top-level members (`,"k":v`).
fn response_line(uuid: &str, msg: &str, usage: &str, extra: &str) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"s1","uuid":"{uuid}","cwd":"/w/p","timestamp":"2026-11-01T10:00:00.000Z","requestId":"r-{msg}","message":{{"id":"{msg}","model":"claude-sonnet-4-5-20250929","usage":{usage}}}{extra}}}"#
    )
}

/// Writes `lines` as the transcript of session `s1` under a fresh config dir; returns (dir, root, store).
fn synced(lines: &[String]) -> (tempfile::TempDir, std::path::PathBuf, DynStore) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let file = root.join("projects/-w-p/s1.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    (dir, root, store)
}

/// The `implausible-number` issues doctor lists: (byte offset, detail), in file order.
fn implausible(store: &DynStore) -> Vec<(u64, String)> {
    let doctor = store.doctor(100).unwrap();
    let found: Vec<(u64, String)> = doctor
        .issues
        .iter()
        .filter(|i| i.kind == "implausible-number")
        .flat_map(|i| i.examples.iter().map(|(o, _, d)| (*o, d.clone())))
        .collect();
    assert_eq!(doctor.implausible_numbers, found.len() as u64);
    found
}

/// Everything a user reads about the good lines: the daily totals, the session's totals and its per-model rows
/// (`show`), and the session list. `show` and `ls` must answer at all.
fn assert_only_good_lines_count(store: &DynStore, input: u64, output: u64) {
    let totals = daily(store).totals;
    assert_eq!(
        (
            totals.input_tokens,
            totals.output_tokens,
            totals.total_tokens
        ),
        (input, output, input + output)
    );
    assert!(totals.cost_usd.is_finite() && totals.cost_usd > 0.0);
    assert!(totals.reported_cost_usd.is_finite());
    let show = store.session("s1").unwrap().expect("s1 is shown");
    assert_eq!(show.summary.total_tokens, input + output);
    assert!(show.summary.cost_usd.is_finite());
    let model_tokens: u64 = show.usage_by_model.iter().map(|m| m.total_tokens).sum();
    assert_eq!(model_tokens, input + output);
    for m in &show.usage_by_model {
        assert!(m.reported_cost_usd.is_none_or(f64::is_finite), "{m:?}");
    }
    let listed = store
        .sessions(&sessiondb_core::SessionFilter::default())
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].total_tokens, input + output);
    let by_session = usage(store, sessiondb_core::Grouping::Session);
    assert_eq!(by_session.totals.total_tokens, input + output);
}

#[test]
fn a_cost_of_1e308_twice_does_not_fail_a_fresh_sync() {
    let good_usage = r#"{"input_tokens":1,"output_tokens":10}"#;
    let lines = [
        good("a1", "m1", 10),
        response_line("a2", "m2", good_usage, r#","costUSD":1e308"#),
        response_line("a3", "m3", good_usage, r#","costUSD":1e308"#),
        response_line("a4", "m4", good_usage, r#","costUSD":0.25"#),
    ];
    // Before the fix: "NOT NULL constraint failed: usage_rollup.reported_cost_usd" (the REAL sum was infinite).
    let (_dir, _root, store) = synced(&lines);
    assert_only_good_lines_count(&store, 2, 20);
    assert_eq!(daily(&store).totals.reported_cost_usd, 0.25);
    let found = implausible(&store);
    assert_eq!(found.len(), 2, "{found:?}");
    let second_line = lines[0].len() as u64 + 1;
    assert_eq!(found[0].0, second_line);
    for (_, detail) in &found {
        assert!(detail.starts_with("costUSD = 1e308: "), "{detail}");
    }
}

#[test]
fn token_counts_at_u64_and_i64_max_do_not_wrap() {
    let u64_max = u64::MAX.to_string();
    let i64_max = i64::MAX.to_string();
    let lines = [
        good("a1", "m1", 10),
        response_line(
            "a2",
            "m2",
            &format!(r#"{{"input_tokens":{u64_max},"output_tokens":1}}"#),
            "",
        ),
        response_line(
            "a3",
            "m3",
            &format!(r#"{{"input_tokens":1,"output_tokens":{i64_max}}}"#),
            "",
        ),
        response_line(
            "a4",
            "m4",
            &format!(
                r#"{{"input_tokens":1,"cache_read_input_tokens":{i64_max},"cache_creation_input_tokens":{i64_max},"output_tokens":1}}"#
            ),
            "",
        ),
        good("a5", "m5", 20),
    ];
    let (dir, root, mut store) = synced(&lines);
    assert_only_good_lines_count(&store, 2, 30);
    let found = implausible(&store);
    let details: Vec<&str> = found.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(details.len(), 4, "{details:?}");
    assert!(details[0].starts_with(&format!("usage.input_tokens = {u64_max}: beyond")));
    assert!(details[1].starts_with(&format!("usage.output_tokens = {i64_max}: beyond")));
    // A second sync of an appended line keeps the totals right and records nothing twice.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join("projects/-w-p/s1.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut file, format!("{}\n", good("a6", "m6", 5)).as_bytes()).unwrap();
    sync_dirs(&mut store, &[&root]);
    assert_only_good_lines_count(&store, 3, 35);
    assert_eq!(implausible(&store).len(), 4);
    drop(dir);
}

#[test]
fn negative_string_nan_hex_fractional_and_huge_values_are_recorded_not_counted() {
    let cases = [
        ("input_tokens", "-5", "negative"),
        ("output_tokens", "\"123\"", "not a number"),
        ("output_tokens", "NaN", "not a number"),
        ("cache_read_input_tokens", "0x10", "not a number"),
        ("input_tokens", "1e400", "beyond the plausible bound"),
        ("output_tokens", "12.5", "not a whole number"),
        ("cache_creation_input_tokens", "true", "not a number"),
    ];
    let mut lines = vec![good("a0", "m0", 10)];
    for (i, (field, raw, _)) in cases.iter().enumerate() {
        let usage = format!(r#"{{"input_tokens":1,"output_tokens":7,"{field}":{raw}}}"#);
        lines.push(response_line(
            &format!("b{i}"),
            &format!("n{i}"),
            &usage,
            "",
        ));
    }
    lines.push(response_line(
        "c1",
        "o1",
        r#"{"input_tokens":1,"output_tokens":7}"#,
        r#","costUSD":-0.5"#,
    ));
    lines.push(response_line(
        "c2",
        "o2",
        r#"{"input_tokens":1,"output_tokens":7}"#,
        r#","costUSD":NaN"#,
    ));
    lines.push(good("a9", "m9", 20));
    let (_dir, _root, store) = synced(&lines);
    assert_only_good_lines_count(&store, 2, 30);

    let found = implausible(&store);
    let mut offsets = Vec::new();
    let mut at = 0u64;
    for line in &lines {
        offsets.push(at);
        at += line.len() as u64 + 1;
    }
    let mut expected: Vec<(u64, String)> = cases
        .iter()
        .enumerate()
        .map(|(i, (field, raw, why))| (offsets[i + 1], format!("usage.{field} = {raw}: {why}")))
        .collect();
    expected.push((offsets[8], "costUSD = -0.5: negative".into()));
    expected.push((offsets[9], "costUSD = NaN: not a number".into()));
    assert_eq!(found.len(), expected.len(), "{found:?}");
    for ((offset, detail), (want_offset, want)) in found.iter().zip(&expected) {
        assert_eq!(offset, want_offset, "{detail}");
        assert!(
            detail.starts_with(want.as_str()),
            "{detail} should start with {want}"
        );
    }
    // The lines themselves are indexed (the NaN cost did not make its line malformed) and archived.
    let doctor = store.doctor(1).unwrap();
    assert!(
        doctor.issues.iter().all(|i| i.kind == "implausible-number"),
        "{:?}",
        doctor.issues
    );
    assert_eq!(store.session_raw_lines("s1").unwrap().len(), lines.len());
}

#[test]
fn a_generated_corpus_with_hostile_lines_still_matches_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    let manifest = generate(
        &corpus,
        23,
        &[
            "--total-mb",
            "1",
            "--partial-tail-rate",
            "0",
            "--malformed-rate",
            "0",
        ],
    );
    // Hostile copies of real responses (same message id and request id, absurd usage: they would win the
    // dedup as the copy with the largest total), and hostile lines of their own, in a file of their own.
    let mut copies = Vec::new();
    for file in jsonl_files(&corpus.join("projects")) {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if value["type"] != "assistant" || copies.len() >= 3 {
                continue;
            }
            let (Some(_), Some(_)) = (value["message"]["id"].as_str(), value["requestId"].as_str())
            else {
                continue;
            };
            let mut copy = value.clone();
            copy["uuid"] = format!("hostile-copy-{}", copies.len()).into();
            let text = serde_json::to_string(&copy).unwrap();
            let usage = serde_json::to_string(&value["message"]["usage"]).unwrap();
            let hostile_usage = [
                r#"{"input_tokens":9223372036854775807,"output_tokens":9223372036854775807}"#,
                r#"{"input_tokens":1e400,"output_tokens":5}"#,
                r#"{"input_tokens":-100,"output_tokens":18446744073709551615}"#,
            ][copies.len()];
            copies.push(text.replacen(&usage, hostile_usage, 1));
        }
    }
    assert_eq!(copies.len(), 3, "the corpus has responses to copy");
    let project = jsonl_files(&corpus.join("projects"))[0]
        .parent()
        .unwrap()
        .to_path_buf();
    let mut hostile = copies.clone();
    for (i, extra) in [
        r#","costUSD":1e308"#,
        r#","costUSD":1e308"#,
        r#","costUSD":"3""#,
    ]
    .iter()
    .enumerate()
    {
        hostile.push(
            response_line(
                &format!("h{i}"),
                &format!("hm{i}"),
                r#"{"input_tokens":1,"output_tokens":2}"#,
                extra,
            )
            .replace("\"s1\"", "\"hostile-session\""),
        );
    }
    std::fs::write(
        project.join("hostile-session.jsonl"),
        hostile.join("\n") + "\n",
    )
    .unwrap();

    let mut store = open(&dir.path().join("db.sqlite"));
    let report = sync_dirs(&mut store, &[&corpus]);
    let expected = &manifest["expected_dedup"]["tokens"];
    let totals = daily(&store).totals;
    assert_eq!(totals.input_tokens, expected["input"].as_u64().unwrap());
    assert_eq!(totals.output_tokens, expected["output"].as_u64().unwrap());
    assert_eq!(
        totals.cache_creation_tokens,
        expected["cache_creation"].as_u64().unwrap()
    );
    assert_eq!(
        totals.cache_read_tokens,
        expected["cache_read"].as_u64().unwrap()
    );
    assert_eq!(totals.total_tokens, expected["total"].as_u64().unwrap());
    assert!(totals.cost_usd.is_finite() && totals.reported_cost_usd.is_finite());
    // Every bad number is recorded (the first copy has two), in the report and by doctor.
    assert_eq!(report.implausible_numbers, 8);
    assert_eq!(store.doctor(0).unwrap().implausible_numbers, 8);
}

/// A database written by code that let absurd numbers through (here: two responses of `i64::MAX` output tokens,
/// whose sum overflowed in `show`) is healed on upgrade: the files holding them are re-read by the next sync.
#[test]
fn a_database_holding_numbers_older_code_let_through_is_healed_by_the_next_sync() {
    if !crate::backend::is_sqlite() {
        return; // edits SQLite's rows and schema version as older code left them
    }
    let lines = [
        good("a1", "m1", 10),
        good("a2", "m2", 20),
        good("a3", "m3", 5),
    ];
    let (dir, root, store) = synced(&lines);
    drop(store);
    let db = dir.path().join("db.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "UPDATE responses SET output_tokens = 9223372036854775807, total_tokens = 9223372036854775807
         WHERE dedup_key IN ('m1:r-m1', 'm2:r-m2');",
    )
    .unwrap();
    let store = open(&db);
    let broken = store.session("s1");
    assert!(
        format!("{broken:?}").contains("integer overflow"),
        "the state older code left: {broken:?}"
    );
    drop(store);
    // Back to the schema version before the migration that finds such files (the one after it added
    // `startup_usage`).
    conn.execute_batch(&format!(
        "DROP TABLE startup_usage; PRAGMA user_version = {};",
        // The workflow tables' migration (re-run harmlessly) came after this one.
        sessiondb_sqlite::SCHEMA_VERSION - 3
    ))
    .unwrap();
    drop(conn);
    let mut store = open(&db);
    let report = sync_dirs(&mut store, &[&root]);
    assert_eq!(report.files_rewritten, 1, "{report:?}");
    assert_only_good_lines_count(&store, 3, 35);
}
