//! Token totals and dedup against the corpus generator's ground truth, and the dedup rules on small cases.

use crate::common::*;
use sessiondb_core::{Grouping, SessionFilter, SessionState};
use std::collections::BTreeMap;

#[test]
fn generated_corpus_totals_match_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    let manifest = generate(
        &corpus,
        7,
        &[
            "--total-mb",
            "4",
            "--resume-rate",
            "0.3",
            "--malformed-rate",
            "0.005",
        ],
    );
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

    // Per model, and the number of distinct responses (synthetic ones are free and left out of reports).
    let by_model = usage(&store, Grouping::Model);
    let mut expected_responses = 0;
    for (model, want) in manifest["expected_dedup"]["per_model"].as_object().unwrap() {
        if model == "<synthetic>" {
            continue;
        }
        expected_responses += want["responses"].as_u64().unwrap();
        let row = by_model
            .rows
            .iter()
            .find(|r| &r.key == model)
            .unwrap_or_else(|| panic!("{model} missing"));
        assert_eq!(
            row.totals.output_tokens,
            want["output"].as_u64().unwrap(),
            "{model}"
        );
        assert_eq!(
            row.totals.cache_read_tokens,
            want["cache_read"].as_u64().unwrap(),
            "{model}"
        );
    }
    assert_eq!(by_model.totals.responses, expected_responses);
    assert!(by_model.totals.cost_usd > 0.0);
    assert_eq!(
        by_model.totals.unpriced_tokens, 0,
        "every generated model has a price"
    );

    // Every malformed line is recorded, none silently dropped.
    let malformed = manifest["stats"]["malformed_lines"].as_u64().unwrap();
    let doctor = store.doctor(1).unwrap();
    let recorded: u64 = doctor
        .issues
        .iter()
        .filter(|i| i.kind == "malformed-json")
        .map(|i| i.count)
        .sum();
    assert_eq!(recorded, malformed);
    assert_eq!(report.issues, malformed);

    // Every session of the manifest is listed under its project dir.
    let sessions: BTreeMap<String, _> = store
        .sessions(&SessionFilter::default())
        .unwrap()
        .into_iter()
        .map(|s| (s.session_id.clone(), s))
        .collect();
    for s in manifest["sessions"].as_array().unwrap() {
        let id = s["session_id"].as_str().unwrap();
        let got = sessions
            .get(id)
            .unwrap_or_else(|| panic!("session {id} missing"));
        assert_eq!(
            got.project_dir.as_deref(),
            s["project_dir"].as_str(),
            "{id}"
        );
        assert_eq!(got.state, SessionState::OnDisk);
        assert!(got.message_count > 0);
    }
    // Session totals add up to the report total: each response is attributed to exactly one session.
    let session_sum: u64 = sessions.values().map(|s| s.total_tokens).sum();
    assert_eq!(session_sum, totals.total_tokens);
}

#[test]
fn resumed_sessions_do_not_double_count_their_replayed_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    let manifest = generate(&corpus, 11, &["--total-mb", "3", "--resume-rate", "0.6"]);
    assert!(!manifest["resume_links"].as_array().unwrap().is_empty());
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&corpus]);
    let totals = daily(&store).totals;
    assert_eq!(
        totals.total_tokens,
        manifest["expected_dedup"]["tokens"]["total"]
            .as_u64()
            .unwrap()
    );
    assert!(
        manifest["expected_dedup"]["total_tokens_without_dedup"]
            .as_u64()
            .unwrap()
            > totals.total_tokens,
        "the corpus holds duplicates, so this test exercises dedup"
    );
    // The replayed responses stay with the session they were first made in.
    for link in manifest["resume_links"].as_array().unwrap() {
        let from = store
            .session(link["from"].as_str().unwrap())
            .unwrap()
            .unwrap();
        assert!(from.summary.total_tokens > 0);
        let to = store
            .session(link["to"].as_str().unwrap())
            .unwrap()
            .unwrap();
        assert!(
            to.links
                .iter()
                .any(|l| l.kind == sessiondb_core::LinkKind::Resume
                    && l.from == from.summary.session_id
                    && l.to == to.summary.session_id),
            "resumed session {} shows where it came from: {:?}",
            to.summary.session_id,
            to.links
        );
    }
}

fn write(path: &std::path::Path, lines: &[String]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

fn assistant(
    session: &str,
    uuid: &str,
    msg: &str,
    req: &str,
    output: u64,
    sidechain: bool,
    model: &str,
) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"{session}","uuid":"{uuid}","isSidechain":{sidechain},"cwd":"/w/p","timestamp":"2026-11-01T10:00:00.000Z","requestId":"{req}","message":{{"id":"{msg}","model":"{model}","role":"assistant","content":[],"usage":{{"input_tokens":10,"output_tokens":{output},"cache_creation_input_tokens":100,"cache_read_input_tokens":1000,"cache_creation":{{"ephemeral_5m_input_tokens":40,"ephemeral_1h_input_tokens":60}}}}}}}}"#
    )
}

fn user(session: &str, uuid: &str, text: &str) -> String {
    format!(
        r#"{{"type":"user","sessionId":"{session}","uuid":"{uuid}","isSidechain":false,"cwd":"/w/p","timestamp":"2026-11-01T09:59:00.000Z","message":{{"role":"user","content":"{text}"}}}}"#
    )
}

#[test]
fn dedup_keeps_final_usage_prefers_main_thread_and_counts_subagents() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    let model = "claude-sonnet-4-5-20250929";
    // One response written as three content-block lines: placeholder output first, final last.
    write(
        &project.join("s1.jsonl"),
        &[
            user("s1", "u0", "hello"),
            assistant("s1", "a1", "msg_1", "req_1", 1, false, model),
            assistant("s1", "a2", "msg_1", "req_1", 1, false, model),
            assistant("s1", "a3", "msg_1", "req_1", 500, false, model),
        ],
    );
    // A subagent file: its own response counts; a sidechain copy of msg_1 (with a larger total) does not win.
    write(
        &project.join("s1/subagents/agent-x.jsonl"),
        &[
            assistant(
                "s1",
                "b1",
                "msg_2",
                "req_2",
                7,
                true,
                "claude-haiku-4-5-20251001",
            ),
            assistant("s1", "b2", "msg_1", "req_1", 900, true, model),
        ],
    );
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    let totals = daily(&store).totals;
    assert_eq!(totals.responses, 2);
    assert_eq!(totals.output_tokens, 500 + 7);
    assert_eq!(totals.input_tokens, 20);
    let s1 = store.session("s1").unwrap().unwrap();
    assert_eq!(
        s1.summary.total_tokens, totals.total_tokens,
        "subagent usage belongs to its parent session"
    );
    assert_eq!(s1.summary.message_count, 4);
    assert_eq!(s1.summary.subagent_message_count, 2);
    let sonnet = s1.usage_by_model.iter().find(|m| m.model == model).unwrap();
    assert_eq!(
        (sonnet.cache_write_5m_tokens, sonnet.cache_write_1h_tokens),
        (40, 60)
    );
    // $3/M input, $15/M output, $3.75/M 5m writes, $6/M 1h writes, $0.30/M reads.
    let expected = (10.0 * 3.0 + 500.0 * 15.0 + 40.0 * 3.75 + 60.0 * 6.0 + 1000.0 * 0.30) / 1e6;
    assert!(
        (sonnet.cost_usd.unwrap() - expected).abs() < 1e-12,
        "{:?}",
        sonnet.cost_usd
    );
}

#[test]
fn a_rewrite_that_drops_the_winning_copy_re_elects_the_copy_left_in_another_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    let model = "claude-sonnet-4-5-20250929";
    let original = [
        user("s1", "u0", "hello"),
        assistant("s1", "a1", "msg:1", "req_1", 500, false, model),
        assistant("s1", "a2", "msg_2", "req_2", 7, false, model),
    ];
    write(&project.join("s1.jsonl"), &original);
    // (An id may hold the key's separator.) A resumed session replays msg:1 further into its file, so s1's copy (the smaller offset) wins first.
    write(
        &project.join("s2.jsonl"),
        &[
            user("s2", "v0", "resume"),
            user("s2", "v1", "and go on"),
            assistant("s2", "a1", "msg:1", "req_1", 500, false, model),
        ],
    );
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    let by_session = |store: &DynStore| -> BTreeMap<String, u64> {
        usage(store, Grouping::Session)
            .rows
            .into_iter()
            .map(|row| (row.key, row.totals.output_tokens))
            .collect()
    };
    assert_eq!(by_session(&store), BTreeMap::from([("s1".into(), 507)]));

    // s1 is rewritten without msg:1: the response now lives only in s2, and must still count, once.
    write(
        &project.join("s1.jsonl"),
        &[original[0].clone(), original[2].clone()],
    );
    let report = sync_dirs(&mut store, &[&root]);
    assert_eq!(report.files_rewritten, 1, "{report:?}");
    let totals = daily(&store).totals;
    assert_eq!((totals.responses, totals.output_tokens), (2, 507));
    assert_eq!(
        by_session(&store),
        BTreeMap::from([("s1".into(), 7), ("s2".into(), 500)])
    );
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&root]);
    assert_eq!(snapshot(&store), snapshot(&rebuilt));
}

/// Every batch of `path`, read from its start the way a sync reads it.
fn batches_of(path: &std::path::Path) -> Vec<sessiondb_core::IngestBatch> {
    use sessiondb_ingest::reader::{read_file, FileStat, ReadBuffers, ReadLimits, ReadStart};
    let source = sessiondb_ingest::SourceFile {
        path: path.to_path_buf(),
        root: path.parent().unwrap().to_path_buf(),
        kind: sessiondb_core::FileKind::Transcript,
        owner_session: None,
    };
    let stat = FileStat {
        inode: None,
        size: std::fs::metadata(path).unwrap().len(),
        mtime_ns: 0,
        ..FileStat::default()
    };
    let start = ReadStart {
        offset: 0,
        rewrite: false,
        head_hash: 0,
        head_len: 0,
        ..ReadStart::default()
    };
    let mut batches = Vec::new();
    let buffers = ReadBuffers::default();
    read_file(
        &source,
        stat,
        start,
        ReadLimits::default(),
        true,
        &buffers,
        &mut |batch| {
            batches.push(batch);
            true
        },
    );
    batches
}

/// `s1.jsonl`, a prompt and one response, and `s2.jsonl`, a fork of it: its own prompts, a copy of that response
/// (same uuid, message id and request id) and one response of its own.
fn write_s1_and_its_fork_s2(project: &std::path::Path) {
    let model = "claude-sonnet-4-5-20250929";
    write(
        &project.join("s1.jsonl"),
        &[
            user("s1", "u0", "hello"),
            assistant("s1", "a1", "msg_1", "req_1", 500, false, model),
        ],
    );
    write(
        &project.join("s2.jsonl"),
        &[
            user("s2", "v0", "resume"),
            user("s2", "v1", "and go on"),
            assistant("s2", "a1", "msg_1", "req_1", 500, false, model),
            assistant("s2", "b1", "msg_2", "req_2", 7, false, model),
        ],
    );
}

#[test]
fn two_first_loads_at_once_still_count_each_response_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    write_s1_and_its_fork_s2(&project);
    // Two syncs both find the database empty and load it, each electing responses in its own memory: both
    // write msg_1.
    let db = dir.path().join("db.sqlite");
    let (mut first, mut second) = (open(&db), open(&db));
    assert!(first.begin_bulk_load().unwrap());
    assert!(second.begin_bulk_load().unwrap());
    for (store, file) in [(&mut first, "s1.jsonl"), (&mut second, "s2.jsonl")] {
        let mut batches = batches_of(&project.join(file)).into_iter();
        store.apply_batches(&mut batches, &mut |_, _| {}).unwrap();
    }
    for store in [&mut first, &mut second] {
        store.end_bulk_load().unwrap();
        store.refresh_sessions().unwrap();
    }
    let totals = daily(&first).totals;
    assert_eq!((totals.responses, totals.output_tokens), (2, 507));
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&root]);
    assert_eq!(snapshot(&first), snapshot(&rebuilt));
    assert_uuid_lookup_is_exact(&db);
}

/// A first load writes the rows that find lines by uuid only at its end: one cut short (the process killed
/// after some transactions) leaves them to the next open, and the links through them are whole again.
#[test]
fn a_first_load_cut_short_leaves_every_line_findable_by_uuid() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    write_s1_and_its_fork_s2(&project);
    let db = dir.path().join("db.sqlite");
    {
        let mut store = open(&db);
        assert!(store.begin_bulk_load().unwrap());
        let mut batches = batches_of(&project.join("s1.jsonl")).into_iter();
        store.apply_batches(&mut batches, &mut |_, _| {}).unwrap();
        // Dropped here without `end_bulk_load`, as if killed.
    }
    open(&db);
    assert_uuid_lookup_is_exact(&db);
    let mut store = open(&db);
    sync_dirs(&mut store, &[&root]);
    assert_uuid_lookup_is_exact(&db);
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&root]);
    assert_eq!(snapshot(&store), snapshot(&rebuilt));
    let links = &snapshot(&store)["sessions"];
    assert!(
        links.to_string().contains("\"kind\":\"fork\""),
        "the fork of s1 into s2 is found through the shared line: {links}"
    );
}

#[test]
fn a_sync_during_a_first_load_is_not_undone_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    let model = "claude-sonnet-4-5-20250929";
    // Three copies of msg_1 with final totals 100, 500 and 300: the 500 one counts.
    for (session, output) in [("s1", 100), ("s2", 500), ("s3", 300)] {
        write(
            &project.join(format!("{session}.jsonl")),
            &[
                user(session, &format!("{session}-u"), "hi"),
                assistant(
                    session,
                    &format!("{session}-a"),
                    "msg_1",
                    "req_1",
                    output,
                    false,
                    model,
                ),
            ],
        );
    }
    let db = dir.path().join("db.sqlite");
    let (mut loading, mut other) = (open(&db), open(&db));
    let apply = |store: &mut DynStore, file: &str| {
        let mut batches = batches_of(&project.join(file)).into_iter();
        store.apply_batches(&mut batches, &mut |_, _| {}).unwrap();
    };
    assert!(loading.begin_bulk_load().unwrap());
    apply(&mut loading, "s1.jsonl");
    // Another sync comes in between two of the load's transactions (the database is no longer empty) and
    // replaces the load's copy with a better one.
    assert!(!other.begin_bulk_load().unwrap());
    apply(&mut other, "s2.jsonl");
    // The load goes on with a copy better than its own but worse than the other sync's.
    apply(&mut loading, "s3.jsonl");
    loading.end_bulk_load().unwrap();
    loading.refresh_sessions().unwrap();
    let totals = daily(&loading).totals;
    assert_eq!((totals.responses, totals.output_tokens), (1, 500));
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&root]);
    assert_eq!(snapshot(&loading), snapshot(&rebuilt));
}

#[test]
fn a_session_that_loses_a_response_to_a_later_file_does_not_own_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    let model = "claude-sonnet-4-5-20250929";
    write(
        &project.join("s1.jsonl"),
        &[
            user("s1", "u0", "hello"),
            assistant("s1", "a1", "msg_1", "req_1", 100, false, model),
        ],
    );
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    // A later sync finds a copy of msg_1 with its final (larger) usage in another session's file.
    write(
        &project.join("s2.jsonl"),
        &[
            user("s2", "v0", "go on"),
            assistant("s2", "a1", "msg_1", "req_1", 500, false, model),
        ],
    );
    sync_dirs(&mut store, &[&root]);
    let files: Vec<String> = store
        .session("s1")
        .unwrap()
        .unwrap()
        .files
        .iter()
        .map(|f| f.path.clone())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("s1.jsonl"), "{files:?}");
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&root]);
    assert_eq!(snapshot(&store), snapshot(&rebuilt));
}

#[test]
fn a_first_load_past_its_memory_limit_elects_through_the_key_index() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 23, &["--total-mb", "2", "--resume-rate", "0.5"]);
    let limited = dir.path().join("limited.db");
    let Some(limited) = crate::backend::sqlite_file(&limited) else {
        return; // the limit is the SQLite store's own knob
    };
    // Names the SQLite store to set its limit: a handful of responses in memory, then the rest (copies of them
    // among them) through the index.
    let mut limited = sessiondb_sqlite::SqliteStore::open(limited).unwrap();
    limited.set_first_load_response_limit(25);
    let mut limited: DynStore = Box::new(limited);
    sync_dirs(&mut limited, &[&corpus]);
    let mut unlimited = open(&dir.path().join("unlimited.db"));
    sync_dirs(&mut unlimited, &[&corpus]);
    assert_eq!(snapshot(&limited), snapshot(&unlimited));
}

#[test]
fn unknown_models_are_unpriced_and_synthetic_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    write(
        &root.join("projects/-w-p/s2.jsonl"),
        &[
            user("s2", "u0", "hi"),
            assistant("s2", "a1", "m1", "r1", 5, false, "claude-imaginary-9"),
            assistant("s2", "a2", "m2", "r2", 0, false, "<synthetic>"),
        ],
    );
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    let report = usage(&store, Grouping::Model);
    assert_eq!(
        report.rows.len(),
        1,
        "synthetic messages are not a model row"
    );
    assert_eq!(report.totals.unpriced_tokens, 10 + 5 + 100 + 1000);
    assert_eq!(report.totals.cost_usd, 0.0);
    let s = store.session("s2").unwrap().unwrap();
    assert_eq!(
        s.usage_by_model
            .iter()
            .find(|m| m.model == "claude-imaginary-9")
            .unwrap()
            .cost_usd,
        None
    );
}

#[test]
fn cost_state_titles_and_history_only_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    write(
        &root.join("projects/-w-p/s3.jsonl"),
        &[
            user("s3", "u0", "first prompt here"),
            assistant("s3", "a1", "m1", "r1", 5, false, "claude-sonnet-4-5-20250929"),
            r#"{"type":"ai-title","sessionId":"s3","aiTitle":"An AI title"}"#.into(),
            r#"{"type":"cost-state","sessionId":"s3","totalCostUSD":0.0123,"modelUsage":{"claude-sonnet-4-5-20250929":{"inputTokens":10,"outputTokens":5,"cacheReadInputTokens":1000,"cacheCreationInputTokens":100,"costUSD":0.0123}}}"#.into(),
        ],
    );
    write(
        &root.join("history.jsonl"),
        &[
            r#"{"display":"first prompt here","timestamp":1793527140000,"project":"/w/p","sessionId":"s3"}"#.into(),
            r#"{"display":"an old session whose file was cleaned up","timestamp":1790000000000,"project":"/w/old","sessionId":"gone-1"}"#.into(),
        ],
    );
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    let s3 = store.session("s3").unwrap().unwrap();
    assert_eq!(s3.summary.title.as_deref(), Some("An AI title"));
    assert_eq!(
        s3.summary.first_prompt.as_deref(),
        Some("first prompt here")
    );
    assert_eq!(s3.summary.claude_cost_usd, Some(0.0123));
    assert!(s3.claude_cost_state.is_some());
    let gone = store.session("gone-1").unwrap().unwrap();
    assert_eq!(gone.summary.state, SessionState::HistoryOnly);
    assert_eq!(gone.summary.project_dir.as_deref(), Some("/w/old"));
    assert_eq!(
        gone.summary.title.as_deref(),
        Some("an old session whose file was cleaned up")
    );
}

/// Titles and Claude Code's cost total come from a session's latest marker line. Which line that is must not
/// depend on the order files reached the database: here a subagent file with its own title and cost-state shows
/// up after the main transcript (so its lines get the higher row ids), and a rebuild reads both at once.
#[test]
fn latest_markers_are_picked_by_file_and_offset_not_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let main = root.join("projects/-w-p/s4.jsonl");
    write(
        &main,
        &[
            user("s4", "u0", "the prompt"),
            r#"{"type":"custom-title","sessionId":"s4","customTitle":"Old name"}"#.into(),
            r#"{"type":"cost-state","sessionId":"s4","totalCostUSD":0.01}"#.into(),
            r#"{"type":"custom-title","sessionId":"s4","customTitle":"Renamed"}"#.into(),
            r#"{"type":"cost-state","sessionId":"s4","totalCostUSD":0.02}"#.into(),
        ],
    );
    let mut incremental = open(&dir.path().join("incremental.sqlite"));
    sync_dirs(&mut incremental, &[&root]);
    write(
        &root.join("projects/-w-p/s4/subagents/agent-a1.jsonl"),
        &[
            r#"{"type":"custom-title","sessionId":"s4","customTitle":"Subagent's name"}"#.into(),
            r#"{"type":"cost-state","sessionId":"s4","totalCostUSD":0.5}"#.into(),
        ],
    );
    sync_dirs(&mut incremental, &[&root]);
    let mut rebuilt = open(&dir.path().join("rebuilt.sqlite"));
    sync_dirs(&mut rebuilt, &[&root]);
    for store in [&incremental, &rebuilt] {
        let s4 = store.session("s4").unwrap().unwrap();
        assert_eq!(s4.summary.title.as_deref(), Some("Renamed"));
        assert_eq!(s4.summary.claude_cost_usd, Some(0.02));
        let state = s4.claude_cost_state.expect("cost state");
        assert_eq!(state["total_cost_usd"], serde_json::json!(0.02), "{state}");
    }
}
