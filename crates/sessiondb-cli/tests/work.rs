//! The performance gate: work counted by the kernel, not timed (timings are noise on shared machines). The
//! binary writes what it read, wrote and held at its peak when `SESSIONDB_WORK_REPORT` names a file.
//!
//! - a cold sync of a generated corpus with a few files of a quarter million tiny lines each keeps its peak
//!   RSS under a fixed bound (parsed lines, not bytes, are what a batch holds);
//! - a sync with nothing new reads no transcript bytes and writes (almost) nothing;
//! - an append of N bytes reads about N bytes and changes only its own session.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The peak RSS a sync may reach here. Today's is about 130 MB; cutting batches by bytes alone held 350 MB
/// for these files (a piece of tiny lines parses into far more memory than its bytes).
const PEAK_RSS_BOUND: u64 = 170 << 20;

/// Tiny lines per huge file.
const TINY_LINES: usize = 250_000;

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .canonicalize()
        .unwrap()
}

/// A generated corpus (30 MiB, with its manifest) under `root`, plus three transcripts of tiny lines.
fn corpus(root: &Path) -> Value {
    let status = Command::new("python3")
        .arg(shared_dir().join("tools/gen_corpus.py"))
        .args([
            "--out",
            root.to_str().unwrap(),
            "--seed",
            "23",
            "--total-mb",
            "30",
            "--force",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let dir = root.join("projects/-tmp-tiny-lines");
    std::fs::create_dir_all(&dir).unwrap();
    for n in 0..3 {
        let session = format!("7e57da7a-0000-4000-8000-00000000000{n}");
        let mut text = String::with_capacity(TINY_LINES * 120);
        for i in 0..TINY_LINES {
            text.push_str(&format!(
                r#"{{"type":"user","sessionId":"{session}","uuid":"{n}-{i}","timestamp":"2026-11-01T10:00:00Z","message":{{"role":"user","content":"hi"}}}}"#
            ));
            text.push('\n');
        }
        std::fs::write(dir.join(format!("{session}.jsonl")), text).unwrap();
    }
    serde_json::from_slice(&std::fs::read(root.join("corpus-manifest.json")).unwrap()).unwrap()
}

/// Runs `sessiondb ARGS` with `root` as the config dir; its stdout as JSON and its work report.
fn sessiondb(home: &Path, root: &Path, args: &[&str]) -> (Value, Value) {
    let report = home.join("work.json");
    let out = Command::new(env!("CARGO_BIN_EXE_sessiondb"))
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("CLAUDE_CONFIG_DIR", root)
        .env("SESSIONDB_WORK_REPORT", &report)
        .args(["--db", home.join("index.db").to_str().unwrap(), "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let work: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    (serde_json::from_slice(&out.stdout).unwrap(), work)
}

fn number(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
}

fn corpus_bytes(root: &Path) -> u64 {
    walk(&root.join("projects"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn syncs_hold_their_memory_read_only_what_is_new_and_touch_only_its_session() {
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("claude");
    let manifest = corpus(&root);
    let bytes = corpus_bytes(&root);

    // Cold: everything is read once; memory stays under the bound.
    let (cold, work) = sessiondb(home.path(), &root, &["sync"]);
    let stats = &manifest["stats"];
    let well_formed = number(stats, "lines")
        - number(stats, "malformed_lines")
        - number(stats, "files_with_partial_last_line");
    assert!(
        number(&cold, "lines") >= well_formed + 3 * TINY_LINES as u64,
        "{cold}"
    );
    assert!(
        number(&work, "rchar") >= bytes,
        "a cold sync reads the corpus"
    );
    let peak = number(&work, "peak_rss_bytes");
    eprintln!("cold sync: peak RSS {} MB", peak >> 20);
    assert!(
        peak < PEAK_RSS_BOUND,
        "peak RSS of a cold sync: {} MB, over the bound of {} MB",
        peak >> 20,
        PEAK_RSS_BOUND >> 20
    );

    // Nothing new: no transcript read, next to nothing written.
    let (unchanged, work) = sessiondb(home.path(), &root, &["sync"]);
    assert_eq!(number(&unchanged, "files_read"), 0, "{unchanged}");
    assert_eq!(number(&unchanged, "bytes_read"), 0, "{unchanged}");
    assert!(
        number(&work, "rchar") < bytes / 100,
        "a sync with nothing new read {} bytes of a {bytes}-byte corpus",
        number(&work, "rchar")
    );
    assert!(
        number(&work, "wchar") < 256 << 10,
        "a sync with nothing new wrote {} bytes",
        number(&work, "wchar")
    );

    // An append: about its own bytes are read, and only its session changes.
    let (before, _) = sessiondb(home.path(), &root, &["ls"]);
    let biggest = walk(&root.join("projects"))
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "jsonl") && !p.to_string_lossy().contains("tiny")
        })
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let session = biggest.file_stem().unwrap().to_string_lossy().into_owned();
    let appended = format!(
        "{}\n",
        serde_json::json!({
            "type": "user", "sessionId": session, "uuid": "appended-by-the-gate",
            "timestamp": "2099-01-01T00:00:00Z", "message": {"role": "user", "content": "x".repeat(20_000)},
        })
    );
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&biggest)
        .unwrap()
        .write_all(appended.as_bytes())
        .unwrap();
    let (grown, work) = sessiondb(home.path(), &root, &["sync"]);
    let n = appended.len() as u64;
    assert_eq!(number(&grown, "files_read"), 1, "{grown}");
    assert_eq!(number(&grown, "bytes_read"), n, "{grown}");
    let file_size = std::fs::metadata(&biggest).unwrap().len();
    assert!(
        number(&work, "rchar") < n + file_size / 2 + (1 << 20),
        "an append of {n} bytes to a {file_size}-byte file read {} bytes",
        number(&work, "rchar")
    );
    let (after, _) = sessiondb(home.path(), &root, &["ls"]);
    let by_id = |list: &Value| -> std::collections::BTreeMap<String, Value> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| (s["session_id"].as_str().unwrap().to_owned(), s.clone()))
            .collect()
    };
    let (before, after) = (by_id(&before), by_id(&after));
    assert_eq!(before.len(), after.len());
    let changed: Vec<&String> = after
        .iter()
        .filter(|(id, s)| before.get(*id) != Some(*s))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(changed, vec![&session], "only the appended session changes");
}
