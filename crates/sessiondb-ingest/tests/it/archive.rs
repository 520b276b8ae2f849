//! The raw archive: captured files are compressed into the database when they vanish, files that cannot be
//! captured are compressed as they are read, and either way a session's lines come back byte for byte.

use crate::common::*;
use sessiondb_core::Store;
use std::path::{Path, PathBuf};

fn captures_of(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap().to_os_string();
    name.push("-captures");
    db.with_file_name(name)
}

fn capture_count(db: &Path) -> usize {
    std::fs::read_dir(captures_of(db))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// Every complete line of `file` but blank ones, as an export gives them back.
fn complete_lines(file: &Path) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    bytes[..complete_prefix(&bytes)]
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .flat_map(|l| l.to_vec())
        .collect()
}

/// A main transcript with no subagent directory and no malformed line (the generator injects some), so its
/// session's lines are exactly this file's lines.
fn lone_transcript(corpus: &Path) -> PathBuf {
    jsonl_files(&corpus.join("projects"))
        .into_iter()
        .find(|p| {
            !p.to_string_lossy().contains("subagents")
                && !p.with_extension("").exists()
                && complete_lines(p)
                    .split_inclusive(|&b| b == b'\n')
                    .all(|line| {
                        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line)
                            .is_ok()
                    })
        })
        .expect("a well-formed session without subagents")
}

fn export(store: &dyn Store, file: &Path) -> Vec<u8> {
    let session = file.file_stem().unwrap().to_string_lossy().into_owned();
    store.session_raw_lines(&session).unwrap().concat()
}

/// Asserts equal bytes, printing where they first differ rather than both (large) values.
#[track_caller]
fn assert_same_bytes(got: &[u8], expected: &[u8], what: &str) {
    if got != expected {
        let at = got
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(expected.len()));
        let context = |bytes: &[u8]| {
            String::from_utf8_lossy(&bytes[at.saturating_sub(40)..(at + 80).min(bytes.len())])
                .into_owned()
        };
        panic!(
            "{what}: {} bytes vs {} expected, first difference at {at}:\n got: {}\n expected: {}",
            got.len(),
            expected.len(),
            context(got),
            context(expected)
        );
    }
}

#[test]
fn captured_files_are_compressed_into_the_database_when_they_vanish() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 23, &["--total-mb", "2"]);
    let db = dir.path().join("db.sqlite");
    let mut store = open(&db);
    let report = sync_dirs(&mut store, &[&corpus]);

    // Nothing was compressed while reading: every indexed byte of the transcripts and history is captured.
    let doctor = store.doctor(3).unwrap();
    let transcript_bytes: u64 = jsonl_files(&corpus)
        .iter()
        .map(|p| complete_lines_len(p))
        .sum();
    assert_eq!(doctor.raw_bytes_captured, transcript_bytes);
    assert!(
        doctor.raw_bytes_archived < transcript_bytes / 100,
        "only the small meta files are compressed while reading: {}",
        doctor.raw_bytes_archived
    );
    let captured_files = capture_count(&db);
    assert_eq!(
        captured_files as u64,
        report.files_read - meta_files(&corpus)
    );

    let victim = lone_transcript(&corpus);
    let expected = complete_lines(&victim);
    let victim_bytes = complete_lines_len(&victim);
    assert_same_bytes(
        &export(&*store, &victim),
        &expected,
        "read from the capture",
    );
    std::fs::remove_file(&victim).unwrap();
    sync_dirs(&mut store, &[&corpus]);

    let after = store.doctor(3).unwrap();
    assert_eq!(
        after.raw_bytes_archived - doctor.raw_bytes_archived,
        victim_bytes,
        "the vanished file's bytes are in the database now"
    );
    assert_eq!(after.raw_bytes_captured, transcript_bytes - victim_bytes);
    assert_eq!(
        capture_count(&db),
        captured_files - 1,
        "its capture is gone"
    );
    assert_same_bytes(
        &export(&*store, &victim),
        &expected,
        "read from the archive",
    );
    assert!(after.issues.iter().all(|i| i.kind != "archive-lost"));
}

/// The bytes a sync indexes from `file`: up to its last newline.
fn complete_lines_len(file: &Path) -> u64 {
    complete_prefix(&std::fs::read(file).unwrap()) as u64
}

fn complete_prefix(bytes: &[u8]) -> usize {
    bytes.len() - bytes.iter().rev().take_while(|&&b| b != b'\n').count()
}

fn meta_files(corpus: &Path) -> u64 {
    walkdir(corpus)
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".meta.json"))
        .count() as u64
}

#[test]
fn without_captures_lines_are_compressed_as_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 29, &["--total-mb", "1"]);
    let db = dir.path().join("db.sqlite");
    // A file where the capture directory should be: no link can be made (as on another file system).
    std::fs::write(captures_of(&db), b"not a directory").unwrap();
    let mut store = open(&db);
    sync_dirs(&mut store, &[&corpus]);

    let doctor = store.doctor(3).unwrap();
    let transcript_bytes: u64 = jsonl_files(&corpus)
        .iter()
        .map(|p| complete_lines_len(p))
        .sum();
    assert_eq!(doctor.raw_bytes_captured, 0);
    assert!(doctor.raw_bytes_archived >= transcript_bytes);

    let victim = lone_transcript(&corpus);
    let expected = complete_lines(&victim);
    std::fs::remove_file(&victim).unwrap();
    sync_dirs(&mut store, &[&corpus]);
    assert_same_bytes(&export(&*store, &victim), &expected, "export");
    assert_eq!(
        store.doctor(3).unwrap().raw_bytes_archived,
        doctor.raw_bytes_archived
    );
}

#[test]
fn a_file_replaced_by_a_new_one_is_captured_again() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 31, &["--total-mb", "1"]);
    let db = dir.path().join("db.sqlite");
    let mut store = open(&db);
    sync_dirs(&mut store, &[&corpus]);

    // Rewritten the way editors and atomic writers do it: a new file renamed over the old one (a new inode).
    let victim = lone_transcript(&corpus);
    let original = std::fs::read(&victim).unwrap();
    let first_line_end = original.iter().position(|&b| b == b'\n').unwrap() + 1;
    let shorter = original[..first_line_end].to_vec();
    let replacement = victim.with_extension("tmp");
    std::fs::write(&replacement, &shorter).unwrap();
    std::fs::rename(&replacement, &victim).unwrap();
    let report = sync_dirs(&mut store, &[&corpus]);
    assert_eq!(report.files_rewritten, 1);
    assert_same_bytes(
        &export(&*store, &victim),
        &complete_lines(&victim),
        "after the rewrite",
    );

    // And when it vanishes, the archive holds the new content, not the old.
    std::fs::remove_file(&victim).unwrap();
    sync_dirs(&mut store, &[&corpus]);
    assert_same_bytes(
        &export(&*store, &victim),
        &shorter,
        "after the rewrite vanished",
    );
}

#[test]
fn a_vanished_file_whose_capture_was_removed_keeps_its_rows_and_says_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 37, &["--total-mb", "1"]);
    let db = dir.path().join("db.sqlite");
    let mut store = open(&db);
    sync_dirs(&mut store, &[&corpus]);
    let before = daily(&store).totals;

    std::fs::remove_dir_all(captures_of(&db)).unwrap();
    let victim = lone_transcript(&corpus);
    let lost = complete_lines_len(&victim);
    std::fs::remove_file(&victim).unwrap();
    sync_dirs(&mut store, &[&corpus]);

    assert_eq!(daily(&store).totals, before, "the indexed rows stay");
    let doctor = store.doctor(3).unwrap();
    let issue = doctor
        .issues
        .iter()
        .find(|i| i.kind == "archive-lost")
        .expect("the loss is recorded");
    assert_eq!(issue.examples[0].1, lost);
}

#[test]
fn a_vanished_file_larger_than_a_chunk_is_archived_whole_in_line_aligned_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    std::fs::create_dir_all(&project).unwrap();
    let file = project.join("s-big.jsonl");
    let line = |n: usize, text: &str| {
        format!(
            "{{\"type\":\"user\",\"sessionId\":\"s-big\",\"uuid\":\"u{n}\",\"timestamp\":\"2026-01-01T00:00:{:02}Z\",\"message\":{{\"role\":\"user\",\"content\":\"{text}\"}}}}\n",
            n % 60
        )
    };
    // About 12 MiB: many short lines around one 5 MiB line, so pieces are cut both between lines and
    // around a line longer than a piece.
    let mut content = String::new();
    for n in 0..20_000 {
        content.push_str(&line(n, &"short prompt ".repeat(12)));
        if n == 10_000 {
            content.push_str(&line(99_999, &"x".repeat(5 << 20)));
        }
    }
    std::fs::write(&file, &content).unwrap();
    // Another session stays, so the root still holds session files (one left with none marks nothing gone).
    std::fs::write(project.join("s-other.jsonl"), "").unwrap();
    let db = dir.path().join("db.sqlite");
    let mut store = open(&db);
    sync_dirs(&mut store, &[&root]);
    std::fs::remove_file(&file).unwrap();
    sync_dirs(&mut store, &[&root]);

    let doctor = store.doctor(3).unwrap();
    assert_eq!(doctor.raw_bytes_archived, content.len() as u64);
    assert_eq!(doctor.raw_bytes_captured, 0);
    assert_same_bytes(&export(&*store, &file), content.as_bytes(), "a 12 MiB file");
}

#[test]
fn archive_makes_the_database_alone_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 43, &["--total-mb", "1"]);
    let db = dir.path().join("db.sqlite");
    let mut store = open(&db);
    sync_dirs(&mut store, &[&corpus]);
    let captured = store.doctor(3).unwrap().raw_bytes_captured;
    assert!(captured > 0);

    let report = store.archive_captures().unwrap();
    assert_eq!(report.bytes, captured, "everything the captures held");
    assert_eq!(report.unreadable_bytes, 0);
    let doctor = store.doctor(3).unwrap();
    assert_eq!(doctor.raw_bytes_captured, 0);
    assert_eq!(
        store.archive_captures().unwrap().bytes,
        0,
        "a second run has nothing left to do"
    );

    // Without its captures, a vanished file is still whole in the database.
    std::fs::remove_dir_all(captures_of(&db)).unwrap();
    let victim = lone_transcript(&corpus);
    let expected = complete_lines(&victim);
    std::fs::remove_file(&victim).unwrap();
    sync_dirs(&mut store, &[&corpus]);
    assert_same_bytes(&export(&*store, &victim), &expected, "after archive");
    assert!(store
        .doctor(3)
        .unwrap()
        .issues
        .iter()
        .all(|i| i.kind != "archive-lost"));
}
