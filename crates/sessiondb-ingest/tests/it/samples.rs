//! The real files: public transcripts from Claude Code 1.0.17 to 2.1.114 against their `facts.json`, and the
//! trees the real CLI wrote (1.0.128, 2.1.197, 2.1.328, 2.1.330) against their `expected.json`.

use crate::common::*;
use sessiondb_core::{SessionFilter, Store};
use std::collections::BTreeMap;

fn public_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(shared_dir().join("samples/public"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("facts.json").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 6, "public samples present");
    dirs
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn public_samples_match_their_facts() {
    for sample in public_dirs() {
        let name = sample.file_name().unwrap().to_string_lossy().into_owned();
        let facts = json(&sample.join("facts.json"));
        let ccusage = json(&sample.join("ccusage-daily.json"));
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir.path().join("db.sqlite"));
        sync_dirs(&mut store, &[&sample]);
        let totals = daily(&store).totals;
        let facts_total = facts["totals"]["total_tokens"].as_u64().unwrap();
        let ccusage_total = ccusage["totals"]["totalTokens"].as_u64().unwrap();
        if name == "marot__spotter" {
            // Five subagent responses exist only inside `progress` lines; we count them (deduplicated), as
            // ccusage's daily report does, so we are above facts.json, which skips progress lines.
            assert_eq!(totals.total_tokens, ccusage_total, "{name}");
            assert_eq!(totals.total_tokens - facts_total, 109_659, "{name}");
        } else {
            // Equal to the ground truth, including lines ccusage misses (`"usage": {` written with a space).
            assert_eq!(totals.total_tokens, facts_total, "{name}");
            assert!(totals.total_tokens >= ccusage_total, "{name}");
        }
        let for_kind = |kind: &str| -> u64 {
            store
                .doctor(0)
                .unwrap()
                .issues
                .iter()
                .filter(|i| i.kind == kind)
                .map(|i| i.count)
                .sum()
        };
        let facts_malformed = facts["malformed"].as_u64().unwrap_or(0);
        assert_eq!(
            for_kind("malformed-json") + for_kind("not-an-object"),
            facts_malformed,
            "{name}"
        );

        // Every session with conversation lines is listed; each line's sessionId is a session.
        let sessions: BTreeMap<String, _> = store
            .sessions(&SessionFilter::default())
            .unwrap()
            .into_iter()
            .map(|s| (s.session_id.clone(), s))
            .collect();
        for (key, session) in facts["sessions"].as_object().unwrap() {
            let has_conversation = ["user", "assistant"]
                .iter()
                .any(|t| session["types"][t].as_u64().unwrap_or(0) > 0);
            if !has_conversation {
                continue;
            }
            let ids: Vec<&str> = session["sessionId_values"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            assert!(
                ids.iter().any(|id| sessions.contains_key(*id)),
                "{name}: none of {ids:?} (file key {key}) is listed"
            );
        }
    }
}

#[test]
fn real_cli_trees_give_the_expected_sessions() {
    for version in ["1.0.128", "2.1.197", "2.1.330"] {
        let sample = shared_dir().join(format!("samples/claude-code-{version}"));
        let expected = json(&sample.join("expected.json"));
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir.path().join("db.sqlite"));
        sync_dirs(&mut store, &[&sample]);
        let sessions: BTreeMap<String, _> = store
            .sessions(&SessionFilter::default())
            .unwrap()
            .into_iter()
            .map(|s| (s.session_id.clone(), s))
            .collect();
        for s in expected["sessions"].as_array().unwrap() {
            for id in s["line_session_ids"].as_array().unwrap() {
                let id = id.as_str().unwrap();
                let got = sessions
                    .get(id)
                    .unwrap_or_else(|| panic!("{version}: session {id} missing"));
                if s["line_session_ids"].as_array().unwrap().len() == 1
                    && id == s["session_id"].as_str().unwrap()
                {
                    assert_eq!(
                        got.project_dir.as_deref(),
                        s["project_cwd"].as_str(),
                        "{version} {id}"
                    );
                    if let Some(prompt) = s["first_prompt"].as_str() {
                        // expected.json cuts long prompts; ours keeps up to 500 characters.
                        let ours = got.first_prompt.as_deref().unwrap_or_default();
                        assert!(
                            ours.starts_with(prompt.trim()),
                            "{version} {id}: {ours:?} vs {prompt:?}"
                        );
                    }
                }
            }
        }
        // Files that are not sessions (empty, summary-only, warmups) make no session of their own.
        for file in expected["not_sessions"].as_array().unwrap() {
            let path = file["file"]
                .as_str()
                .or_else(|| file.as_str())
                .unwrap_or_default();
            let stem = std::path::Path::new(path)
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let named_elsewhere = expected["sessions"].as_array().unwrap().iter().any(|s| {
                s["line_session_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i.as_str() == Some(&stem))
            });
            if !named_elsewhere {
                assert!(
                    !sessions.contains_key(&stem),
                    "{version}: {path} is not a session"
                );
            }
        }
        // 2.1.3xx writes cost-state: its total is kept beside the computed cost.
        if version == "2.1.330" {
            assert!(sessions.values().any(|s| s.claude_cost_usd.is_some()));
        }
    }
}
