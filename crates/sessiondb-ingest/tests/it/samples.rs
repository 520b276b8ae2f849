//! The real files: public transcripts from Claude Code 1.0.17 to 2.1.114 against their `facts.json`, and the
//! trees the real CLI wrote (1.0.128, 2.1.197, 2.1.328, 2.1.330) against their `expected.json`.

use crate::common::*;
use sessiondb_core::SessionFilter;
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

        // Every session with conversation lines is listed; each line's sessionId is a session, except an id
        // only start-up Warmup sidechains carry (2.0.x): that is not a session.
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
            if !has_conversation || is_warmup_transcript(&sample, session) {
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

/// Whether a facts.json entry is start-up noise (2.0.x): one sidechain transcript holding no prompt but a
/// start-up `Warmup` (a Warmup reply may have lost its prompt line).
fn is_warmup_transcript(sample: &std::path::Path, session: &serde_json::Value) -> bool {
    let files = session["files"].as_array().unwrap();
    let lines: Vec<serde_json::Value> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(sample.join(f["path"].as_str().unwrap()))
                .unwrap()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .collect::<Vec<_>>()
        })
        .collect();
    lines.iter().all(|l| l["isSidechain"] == true)
        && !lines.iter().any(|l| {
            l["type"] == "user" && l["parentUuid"].is_null() && l["message"]["content"] != "Warmup"
        })
}

#[test]
fn real_cli_trees_give_the_expected_sessions() {
    for version in REAL_CLI_VERSIONS {
        let sample = real_cli_tree(version);
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

/// Claude Code 2.0.x start-up noise (`tests/fixtures/claude-code-2.0.76`): the empty file every resume,
/// continue and failed resume leaves, the summary-only file an interactive resume leaves, and the ids only the
/// start-up Warmup sidechains carry are not sessions: not in `ls`, not a head, not in a chain. Their usage is
/// still counted, under their project and the session it was started for, and `doctor` says how much.
#[test]
fn claude_code_2_0_start_up_noise_is_not_a_session() {
    let sample = real_cli_tree("2.0.76");
    let expected = json(&sample.join("expected.json"));
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&sample]);
    let listed: std::collections::BTreeSet<String> = store
        .sessions(&SessionFilter::default())
        .unwrap()
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    let sessions: std::collections::BTreeSet<String> = expected["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["line_session_ids"].as_array().unwrap().iter())
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, sessions, "ls lists exactly the sessions");

    let not_sessions: Vec<&str> = expected["not_session_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert!(not_sessions.len() >= 5);
    for id in &not_sessions {
        assert!(store.session_summary(id).unwrap().is_none(), "{id}");
        assert!(sessiondb_core::build_chain(&*store, id).unwrap().is_none());
    }
    for id in &listed {
        let chain = sessiondb_core::build_chain(&*store, id).unwrap().unwrap();
        for link in &chain.links {
            assert!(
                !not_sessions.contains(&link.from.as_str())
                    && !not_sessions.contains(&link.to.as_str()),
                "{id}: {link:?}"
            );
            // Warmup transcripts are not subagents the user spawned.
            if link.kind == sessiondb_core::LinkKind::Subagent {
                assert!(
                    expected["links"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|l| l["to"] == link.to.as_str()),
                    "{link:?}"
                );
            }
        }
    }

    // Every response counts once; what ids that are not sessions carry is under their project and in doctor.
    let total = daily(&store).totals.total_tokens;
    assert_eq!(total, expected["total_tokens"].as_u64().unwrap());
    let in_sessions: u64 = store
        .sessions(&SessionFilter::default())
        .unwrap()
        .iter()
        .map(|s| s.total_tokens)
        .sum();
    let warmup_only: u64 = expected["warmups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| {
            w["usage_line_session_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|id| not_sessions.contains(&id.as_str().unwrap()))
        })
        .map(|w| w["tokens"].as_u64().unwrap())
        .sum();
    assert!(warmup_only > 0, "the fixture has Warmup-only usage");
    // That usage is counted under the session each Warmup was started for (see
    // `claude_code_2_0_warmup_usage_counts_under_the_session_it_was_started_for`).
    assert_eq!(in_sessions, total);
    let doctor = store.doctor(0).unwrap();
    assert_eq!(doctor.not_session_usage.total_tokens, warmup_only);
    assert_eq!(doctor.not_session_usage.ids, 2);
    let by_project = usage(&store, sessiondb_core::Grouping::Project);
    assert!(
        by_project.rows.iter().all(|r| r.key != "unknown"),
        "all usage is under a project: {by_project:#?}"
    );
    let by_session = usage(&store, sessiondb_core::Grouping::Session);
    for row in &by_session.rows {
        assert!(
            row.key == "unknown" || listed.contains(&row.key),
            "usage listed under {}, not a session",
            row.key
        );
    }
}

/// Tokens per session as `usage --by session` lists them (`unknown`: under no session).
fn tokens_by_session(store: &DynStore) -> BTreeMap<String, u64> {
    usage(store, sessiondb_core::Grouping::Session)
        .rows
        .into_iter()
        .map(|r| (r.key, r.totals.total_tokens))
        .collect()
}

/// The Warmup sidechains of the 2.0.76 fixture (`expected.json` `warmups`), as (file, started_for, tokens).
fn warmups_2_0_76(expected: &serde_json::Value) -> Vec<(String, String, u64)> {
    expected["warmups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["file"].as_str().unwrap().to_owned(),
                w["started_for_session"].as_str().unwrap().to_owned(),
                w["tokens"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A start-up Warmup's usage was paid for the session the CLI started it for (issue 15 §5): on `--continue`,
/// 2.0.76 wrote both Warmup lines under the start-up id, which is not a session, and the continued session's turn
/// followed within a second. Every Warmup's tokens count under `started_for_session` in `usage --by session`,
/// `ls` and `show`, totals over everything are unchanged, and `doctor` says how much was attributed. Checked
/// against the same tree without its Warmup transcripts.
#[test]
fn claude_code_2_0_warmup_usage_counts_under_the_session_it_was_started_for() {
    let sample = real_cli_tree("2.0.76");
    let expected = json(&sample.join("expected.json"));
    let warmups = warmups_2_0_76(&expected);
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare");
    copy_tree(&sample, &bare);
    for (file, _, _) in &warmups {
        std::fs::remove_file(bare.join(file)).unwrap();
    }
    let mut store = open(&dir.path().join("bare.db"));
    sync_dirs(&mut store, &[&bare]);
    let mut want = tokens_by_session(&store);
    assert!(!want.contains_key("unknown"));
    let mut paid_by_warmups = 0;
    for (file, started_for, tokens) in &warmups {
        assert!(want.contains_key(started_for) || *tokens == 0, "{file}");
        if *tokens > 0 {
            *want.entry(started_for.clone()).or_default() += tokens;
            paid_by_warmups += tokens;
        }
    }

    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&sample]);
    let got = tokens_by_session(&store);
    assert_eq!(got, want, "every Warmup's tokens under started_for_session");
    // Totals over everything are unchanged, and every view agrees.
    let total = expected["total_tokens"].as_u64().unwrap();
    assert_eq!(daily(&store).totals.total_tokens, total);
    assert_eq!(got.values().sum::<u64>(), total);
    let by_project = usage(&store, sessiondb_core::Grouping::Project);
    assert_eq!(by_project.totals.total_tokens, total);
    assert!(by_project.rows.iter().all(|r| r.key != "unknown"));
    for summary in store.sessions(&SessionFilter::default()).unwrap() {
        let id = &summary.session_id;
        assert_eq!(summary.total_tokens, got[id], "ls: {id}");
        let detail = store.session(id).unwrap().unwrap();
        let shown: u64 = detail.usage_by_model.iter().map(|m| m.total_tokens).sum();
        assert_eq!(shown, got[id], "show: {id}");
    }
    // The two ids only Warmup lines carry: still not sessions, their usage attributed, and doctor says so.
    let doctor = store.doctor(0).unwrap().not_session_usage;
    let not_sessions: Vec<&str> = expected["not_session_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let warmup_only: u64 = expected["warmups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| {
            w["usage_line_session_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|id| not_sessions.contains(&id.as_str().unwrap()))
        })
        .map(|w| w["tokens"].as_u64().unwrap())
        .sum();
    assert!(paid_by_warmups > warmup_only && warmup_only > 0);
    for id in &not_sessions {
        assert!(store.session_summary(id).unwrap().is_none(), "{id}");
    }
    assert_eq!(doctor.ids, 2);
    assert_eq!(doctor.total_tokens, warmup_only);
    assert_eq!(doctor.attributed_ids, 2);
    assert_eq!(doctor.attributed_tokens, warmup_only);
    assert!(doctor.attributed_cost_usd > 0.0 && doctor.attributed_cost_usd == doctor.cost_usd);
}

/// The public samples' 2.0.x Warmups whose lines name no session were not followed by a turn of a session that
/// existed before them (the nearest main-thread line came 136 s later, from a session with Warmups of its own):
/// their usage stays under their project, and every total is as before.
#[test]
fn public_warmups_not_followed_by_a_continued_turn_stay_under_their_project() {
    let mut not_session_ids = 0;
    for sample in public_dirs() {
        let name = sample.file_name().unwrap().to_string_lossy().into_owned();
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir.path().join("db.sqlite"));
        sync_dirs(&mut store, &[&sample]);
        let doctor = store.doctor(0).unwrap().not_session_usage;
        not_session_ids += doctor.ids;
        assert_eq!(doctor.attributed_ids, 0, "{name}");
        assert_eq!(doctor.attributed_tokens, 0, "{name}");
        // (The totals themselves are checked against facts.json in `public_samples_match_their_facts`.)
        let total = daily(&store).totals.total_tokens;
        assert_eq!(
            usage(&store, sessiondb_core::Grouping::Project)
                .totals
                .total_tokens,
            total,
            "{name}"
        );
        let by_session = tokens_by_session(&store);
        assert_eq!(by_session.values().sum::<u64>(), total, "{name}");
        assert!(
            by_session.get("unknown").copied().unwrap_or(0) >= doctor.total_tokens,
            "{name}"
        );
    }
    assert!(
        not_session_ids >= 10,
        "the public samples have Warmup-only ids"
    );
}

/// Incremental syncs attribute a Warmup's usage as a rebuild does, whichever comes first: the Warmup (its
/// session's turn arrives in a later sync) or the session's earlier lines (the Warmup arrives later), and take it
/// back when a rewrite removes the turn.
#[test]
fn warmup_attribution_is_the_same_after_incremental_syncs_and_a_rebuild() {
    let sample = real_cli_tree("2.0.76");
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    copy_tree(&sample, &tree);
    let folder = tree.join("projects/-tmp-cc2076-work-proj-a");
    // Step 19 (`--continue`): two Warmups under the start-up id, then the continued session's turn.
    let warmups = ["agent-a56f479.jsonl", "agent-aa3c91d.jsonl"];
    let continued = folder.join("4307ff14-7000-470a-8182-ba86073d29c7.jsonl");
    let full = std::fs::read_to_string(&continued).unwrap();
    let cut = full
        .lines()
        .take_while(|l| !l.contains("\"timestamp\":\"2026-12-06T02:14:5"))
        .map(|l| l.len() + 1)
        .sum::<usize>();
    assert!(cut > 0 && cut < full.len());
    let held = dir.path().join("held");
    std::fs::create_dir_all(&held).unwrap();
    for w in warmups {
        std::fs::rename(folder.join(w), held.join(w)).unwrap();
    }
    std::fs::write(&continued, &full[..cut]).unwrap();

    let mut store = open(&dir.path().join("incremental.db"));
    let check = |store: &DynStore, stage: &str, attributed: u64| {
        let rebuilt_dir = tempfile::tempdir().unwrap();
        let mut rebuilt = open(&rebuilt_dir.path().join("db.sqlite"));
        sync_dirs(&mut rebuilt, &[&tree]);
        assert_eq!(snapshot(store), snapshot(&rebuilt), "{stage}");
        let (a, b) = (
            store.doctor(0).unwrap().not_session_usage,
            rebuilt.doctor(0).unwrap().not_session_usage,
        );
        assert_eq!(
            (a.ids, a.total_tokens, a.attributed_ids, a.attributed_tokens),
            (b.ids, b.total_tokens, b.attributed_ids, b.attributed_tokens),
            "{stage}"
        );
        assert_eq!(a.attributed_ids, attributed, "{stage}");
    };
    sync_dirs(&mut store, &[&tree]);
    check(&store, "before step 19", 1);
    // The Warmups arrive; the continued turn is not on disk yet: under the project only.
    for w in warmups {
        std::fs::rename(held.join(w), folder.join(w)).unwrap();
    }
    sync_dirs(&mut store, &[&tree]);
    check(&store, "Warmups of step 19", 1);
    // The continued session's turn is appended: the Warmups move under it.
    std::fs::write(&continued, &full).unwrap();
    sync_dirs(&mut store, &[&tree]);
    check(&store, "turn of step 19", 2);
    // The file loses that turn again (a rewrite): back under the project only.
    std::fs::write(&continued, &full[..cut]).unwrap();
    sync_dirs(&mut store, &[&tree]);
    check(&store, "turn of step 19 gone", 1);
}

/// A database written before `startup_usage` (its sessions' totals without their Warmups' usage) is healed by
/// the next sync: the migration marks the ids that are not sessions but carry usage for the refresh.
#[test]
fn a_database_from_before_startup_usage_attributes_warmups_at_its_next_sync() {
    if !crate::backend::is_sqlite() {
        return; // rolls SQLite's schema back to an older version
    }
    let sample = real_cli_tree("2.0.76");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    sync_dirs(&mut open(&db), &[&sample]);
    let expected = snapshot(&open(&db));
    {
        // As the code before left it: no table, every session's totals from its own usage only.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(&format!(
            "UPDATE sessions SET total_tokens = total_tokens - (SELECT SUM(r.total_tokens)
                FROM startup_usage u JOIN usage_rollup r ON r.session_key = u.session_key
                WHERE u.started_for = sessions.session_key)
             WHERE session_key IN (SELECT started_for FROM startup_usage);
             DROP TABLE startup_usage;
             PRAGMA user_version = {};",
            // The workflow tables' migration (re-run harmlessly) came after this one.
            sessiondb_sqlite::SCHEMA_VERSION - 2
        ))
        .unwrap();
    }
    let mut store = open(&db);
    assert_ne!(snapshot(&store), expected, "the state older code left");
    sync_dirs(&mut store, &[&sample]);
    assert_eq!(snapshot(&store), expected);
    assert_eq!(store.doctor(0).unwrap().not_session_usage.attributed_ids, 2);
}
