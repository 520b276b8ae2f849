//! The transcript parser skips what it does not read with its own scanner instead of serde_json. These tests hold
//! it to serde_json's verdict on every line of the real samples in `../shared/samples`: a line serde_json reads as
//! an object parses, with the same indexed fields as a plain serde_json reading of them, and every truncation or
//! structural break of a real line is rejected as malformed, as serde_json rejects it.

use sessiondb_format::{parse_transcript_line, LineError};
use std::path::{Path, PathBuf};

fn shared_samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples")
}

fn sample_lines() -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    let mut dirs = vec![shared_samples()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl")
                && path
                    .file_name()
                    .is_some_and(|n| n != "history.jsonl" && n != "steps.jsonl")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).expect("read sample");
        lines.extend(
            bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .map(<[u8]>::to_vec),
        );
    }
    lines
}

fn serde_object(line: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn text<'a>(map: &'a serde_json::Map<String, serde_json::Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

#[test]
fn every_sample_line_reads_as_serde_json_reads_it() {
    let lines = sample_lines();
    assert!(
        lines.len() > 5_000,
        "only {} sample lines found",
        lines.len()
    );
    let mut responses = 0;
    for line in &lines {
        let expected = serde_object(line);
        let parsed = parse_transcript_line(line);
        let Some(map) = expected else {
            assert!(
                parsed.is_err(),
                "accepted a line serde_json rejects: {}",
                String::from_utf8_lossy(line)
            );
            continue;
        };
        let entry = parsed
            .unwrap_or_else(|e| {
                panic!(
                    "{e} on a line serde_json reads: {}",
                    String::from_utf8_lossy(line)
                )
            })
            .entry;
        let kind = map.get("type").and_then(|v| v.as_str()).unwrap_or("");
        assert_eq!(entry.kind, kind);
        assert_eq!(entry.uuid.as_deref(), text(&map, "uuid"));
        assert_eq!(entry.parent_uuid.as_deref(), text(&map, "parentUuid"));
        assert_eq!(entry.session_id.as_deref(), text(&map, "sessionId"));
        assert_eq!(entry.cwd.as_deref(), text(&map, "cwd"));
        assert_eq!(entry.git_branch.as_deref(), text(&map, "gitBranch"));
        assert_eq!(
            entry.is_sidechain,
            map.get("isSidechain") == Some(&serde_json::Value::Bool(true))
        );
        if entry.kind == "assistant" {
            let message = map.get("message").expect("assistant message");
            if let Some(usage) = message.get("usage") {
                let response = entry.response.as_ref().expect("assistant response");
                responses += 1;
                assert_eq!(
                    response.message_id.as_deref(),
                    message.get("id").and_then(|v| v.as_str())
                );
                assert_eq!(response.request_id.as_deref(), text(&map, "requestId"));
                let count = |key: &str| usage.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
                assert_eq!(response.usage.input_tokens, count("input_tokens"));
                assert_eq!(response.usage.output_tokens, count("output_tokens"));
                assert_eq!(
                    response.usage.cache_creation_tokens,
                    count("cache_creation_input_tokens")
                );
                assert_eq!(
                    response.usage.cache_read_tokens,
                    count("cache_read_input_tokens")
                );
            }
        }
    }
    assert!(responses > 1_000, "only {responses} responses compared");
}

#[test]
fn truncated_and_broken_sample_lines_are_malformed() {
    let lines = sample_lines();
    let mut checked = 0;
    for line in lines.iter().step_by(7) {
        if serde_object(line).is_none() {
            continue;
        }
        // Truncations anywhere inside the object (a partial write) are never valid.
        for cut in [
            1,
            2,
            line.len() / 3,
            line.len() / 2,
            line.len() - 2,
            line.len() - 1,
        ] {
            if cut == 0 || cut >= line.len() {
                continue;
            }
            let truncated = &line[..cut];
            assert!(
                matches!(
                    parse_transcript_line(truncated),
                    Err(LineError::Malformed(_))
                ),
                "accepted a line cut at byte {cut}: {}",
                String::from_utf8_lossy(truncated)
            );
            checked += 1;
        }
        // Two lines run together (a writer that lost a newline) are not one object.
        let mut joined = line.clone();
        joined.extend_from_slice(line);
        assert!(serde_object(&joined).is_none());
        assert!(matches!(
            parse_transcript_line(&joined),
            Err(LineError::Malformed(_))
        ));
        // A dropped comma between members: serde_json's verdict and ours agree.
        if let Some(at) = line.windows(3).position(|w| w == b"\",\"") {
            let mut broken = line.clone();
            broken.remove(at + 1);
            assert_eq!(
                parse_transcript_line(&broken).is_ok(),
                serde_object(&broken).is_some(),
                "{}",
                String::from_utf8_lossy(&broken)
            );
        }
    }
    assert!(checked > 5_000, "only {checked} truncations checked");
}

/// Bytes that change JSON structure when they land somewhere unexpected.
const TRICKY: &[u8] = b"\"\\{}[],: 0tn-\x00\xff";

#[test]
fn mutated_sample_lines_never_panic_and_are_never_refused_when_serde_json_reads_them() {
    let lines = sample_lines();
    let mut mutated = 0;
    let mut accepted_by_serde = 0;
    for (n, line) in lines.iter().enumerate().step_by(13) {
        if line.is_empty() {
            continue;
        }
        for k in 0..24 {
            // Deterministic positions and bytes, spread over the line.
            let at = (n * 7919 + k * 104_729) % line.len();
            let byte = TRICKY[(n + k) % TRICKY.len()];
            let mut bad = line.clone();
            if k % 3 == 0 {
                bad.insert(at, byte);
            } else if k % 3 == 1 {
                bad[at] = byte;
            } else {
                bad.remove(at);
            }
            mutated += 1;
            let ours = parse_transcript_line(&bad);
            // The scanner is never stricter than serde_json: what it reads as an object parses.
            if serde_object(&bad).is_some() {
                accepted_by_serde += 1;
                assert!(
                    ours.is_ok(),
                    "refused a line serde_json reads: {}",
                    String::from_utf8_lossy(&bad)
                );
            }
        }
    }
    assert!(mutated > 10_000, "only {mutated} mutations");
    assert!(
        accepted_by_serde > 1_000,
        "only {accepted_by_serde} mutations were still JSON"
    );
}
