//! Chains rebuilt from the files: the links the real CLI's trees must give (`expected.json`), the resume
//! links of generated corpora (their manifest), heads per project dir, and links between files of old
//! versions on synthetic files.

use crate::common::*;
use sessiondb_core::{build_chain, newest_resumable_session, LinkKind};
use std::collections::BTreeSet;

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn all_links(store: &DynStore) -> BTreeSet<(String, String, LinkKind, Option<String>)> {
    let mut links = BTreeSet::new();
    for s in store.sessions(&Default::default()).unwrap() {
        for l in store.session_links(&s.session_id).unwrap() {
            links.insert((l.from, l.to, l.kind, l.junction_uuid));
        }
    }
    links
}

#[test]
fn real_cli_trees_give_the_expected_links_and_heads() {
    for version in REAL_CLI_VERSIONS {
        let sample = real_cli_tree(version);
        let expected = json(&sample.join("expected.json"));
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir.path().join("db.sqlite"));
        sync_dirs(&mut store, &[&sample]);
        let links = all_links(&store);

        for want in expected["links"].as_array().unwrap() {
            let from = want["from"].as_str().unwrap().to_owned();
            let to = want["to"].as_str().unwrap().to_owned();
            let kind = LinkKind::parse(want["kind"].as_str().unwrap()).unwrap();
            let junction = want["junction_uuid"].as_str().map(str::to_owned);
            match (kind, want["found_by"].as_str()) {
                // 1.0.128 logs no session ids in history.jsonl: its /clear is known only from timing.
                (LinkKind::Clear, Some("order")) => continue,
                // Inline sidechains (1.x): the link is found; its junction is not recorded yet.
                (LinkKind::Subagent, _) if from == to => {
                    assert!(
                        links
                            .iter()
                            .any(|l| l.0 == from && l.1 == to && l.2 == LinkKind::Subagent),
                        "{version}: inline subagent of {from}"
                    );
                    continue;
                }
                _ => {}
            }
            assert!(
                links.contains(&(from.clone(), to.clone(), kind, junction.clone())),
                "{version}: expected {kind} {from} -> {to} at {junction:?}; found {links:#?}"
            );
        }
        // Resume, continue and compaction that kept the id make no link between different ids.
        for event in expected["same_id_events"].as_array().unwrap() {
            let junction = event["junction_uuid"].as_str();
            assert!(
                !links.iter().any(|l| l.0 != l.1
                    && l.2 != LinkKind::Fork
                    && l.3.as_deref() == junction
                    && junction.is_some()),
                "{version}: {} made a link: {links:#?}",
                event["step"]
            );
        }
        for head in expected["heads"].as_array().unwrap() {
            let cwd = head["cwd"].as_str().unwrap();
            let got = newest_resumable_session(&*store, cwd)
                .unwrap()
                .map(|s| s.session_id);
            assert_eq!(
                got.as_deref(),
                head["head"].as_str(),
                "{version}: head of {cwd}"
            );
        }
        // A fork's copied responses stay with its origin: the fork is billed for the turns run in it.
        if version == "2.1.330" {
            let steps = std::fs::read_to_string(sample.join("steps.jsonl")).unwrap();
            for want in expected["links"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["kind"] == "fork")
            {
                let fork = want["to"].as_str().unwrap();
                let turns = steps
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter(|s| s["session_id"] == fork && s["rc"] == 0)
                    .count() as u64;
                let detail = store.session(fork).unwrap().unwrap();
                let responses: u64 = detail.usage_by_model.iter().map(|m| m.responses).sum();
                assert_eq!(
                    responses, turns,
                    "{version}: responses billed to the fork {fork}"
                );
            }
        }
        // The fork's chain holds both sessions, and its head is the newest resumable one.
        for want in expected["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["kind"] == "fork")
        {
            let chain = build_chain(&*store, want["to"].as_str().unwrap())
                .unwrap()
                .unwrap();
            let ids: Vec<&str> = chain
                .sessions
                .iter()
                .map(|s| s.session_id.as_str())
                .collect();
            assert!(
                ids.contains(&want["from"].as_str().unwrap()),
                "{version}: {ids:?}"
            );
            assert_eq!(
                chain.chain_id,
                want["from"].as_str().unwrap(),
                "the oldest member names the chain"
            );
            let newest = chain
                .sessions
                .iter()
                .max_by_key(|s| s.last_activity_at.clone())
                .unwrap();
            assert_eq!(chain.head.as_deref(), Some(newest.session_id.as_str()));
        }
    }
}

#[test]
fn generated_resumes_into_new_ids_become_resume_links() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    let manifest = generate(&corpus, 17, &["--total-mb", "3", "--resume-rate", "0.5"]);
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&corpus]);
    let expected = manifest["resume_links"].as_array().unwrap();
    assert!(!expected.is_empty());
    let links = all_links(&store);
    for want in expected {
        let (from, to) = (want["from"].as_str().unwrap(), want["to"].as_str().unwrap());
        assert!(
            links
                .iter()
                .any(|l| l.0 == from && l.1 == to && l.2 == LinkKind::Resume && l.3.is_some()),
            "resume {from} -> {to} not found"
        );
        let chain = build_chain(&*store, from).unwrap().unwrap();
        assert!(chain.sessions.iter().any(|s| s.session_id == to));
    }
    // No other cross-session links were invented between top-level sessions.
    let resume_pairs: BTreeSet<(&str, &str)> = expected
        .iter()
        .map(|l| (l["from"].as_str().unwrap(), l["to"].as_str().unwrap()))
        .collect();
    for l in links
        .iter()
        .filter(|l| l.2 == LinkKind::Resume || l.2 == LinkKind::Fork)
    {
        assert!(
            resume_pairs.contains(&(l.0.as_str(), l.1.as_str())),
            "unexpected {l:?}"
        );
    }
}

#[test]
fn compaction_into_a_new_file_links_the_sessions() {
    // Older versions' auto-continuation: a new session whose compact boundary points into the old one.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    write_compaction_pair(&project);
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    let expected = (
        "old".to_owned(),
        "new".to_owned(),
        LinkKind::Compaction,
        Some("o2".to_owned()),
    );
    // Found from either end.
    for side in ["old", "new"] {
        let links = store.session_links(side).unwrap();
        assert!(
            links.iter().any(|l| (
                l.from.clone(),
                l.to.clone(),
                l.kind,
                l.junction_uuid.clone()
            ) == expected),
            "{side}: {links:?}"
        );
    }
    let chain = build_chain(&*store, "old").unwrap().unwrap();
    assert_eq!(chain.chain_id, "old");
    assert_eq!(chain.head.as_deref(), Some("new"));

    // The old file is cleaned up by Claude Code: the link stays, the head moves on regardless.
    std::fs::remove_file(project.join("old.jsonl")).unwrap();
    sync_dirs(&mut store, &[&root]);
    let chain = build_chain(&*store, "new").unwrap().unwrap();
    assert_eq!(chain.sessions.len(), 2);
    assert!(
        !chain
            .sessions
            .iter()
            .find(|s| s.session_id == "old")
            .unwrap()
            .on_disk
    );
    assert_eq!(chain.head.as_deref(), Some("new"));
}

#[test]
fn a_boundary_pointing_into_a_file_never_seen_is_kept_as_a_dangling_link() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("late.jsonl"),
        concat!(
            r#"{"type":"system","subtype":"compact_boundary","sessionId":"late","uuid":"n0","logicalParentUuid":"gone-uuid","cwd":"/w/p","timestamp":"2026-11-01T11:00:00.000Z"}"#, "\n",
            r#"{"type":"user","sessionId":"late","uuid":"n1","parentUuid":"n0","cwd":"/w/p","timestamp":"2026-11-01T11:00:02.000Z","message":{"content":"go on"}}"#, "\n",
        ),
    )
    .unwrap();
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    let chain = build_chain(&*store, "late").unwrap().unwrap();
    assert_eq!(chain.sessions.len(), 1);
    assert!(
        chain.links.iter().any(|l| l.from == "unknown"
            && l.to == "late"
            && l.kind == LinkKind::Compaction
            && l.junction_uuid.as_deref() == Some("gone-uuid")),
        "{:?}",
        chain.links
    );
}

fn line(
    session: &str,
    uuid: &str,
    parent: Option<&str>,
    kind: &str,
    minute: u32,
    extra: &str,
) -> String {
    let parent = parent
        .map(|p| format!("\"{p}\""))
        .unwrap_or_else(|| "null".into());
    let message = if kind == "user" {
        r#""message":{"role":"user","content":"hi"}"#.to_owned()
    } else {
        format!(
            r#""message":{{"id":"m-{uuid}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":1,"output_tokens":1}}}},"requestId":"r-{uuid}""#
        )
    };
    format!(
        r#"{{"type":"{kind}","sessionId":"{session}","uuid":"{uuid}","parentUuid":{parent},"cwd":"/w/p","timestamp":"2026-11-01T10:{minute:02}:00.000Z",{message}{extra}}}"#
    )
}

fn write_lines(path: &std::path::Path, lines: &[String]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

/// `check(files, expected links)` over synthetic trees, one per link kind.
#[test]
fn every_link_kind_on_synthetic_files() {
    type Case = (
        &'static str,
        Vec<(&'static str, Vec<String>)>,
        Vec<(&'static str, &'static str, LinkKind, Option<&'static str>)>,
    );
    let origin = |s: &str| {
        vec![
            line(s, "a1", None, "user", 0, ""),
            line(s, "a2", Some("a1"), "assistant", 1, ""),
        ]
    };
    let cases: Vec<Case> = vec![
        (
            // 2.1.330 fork: the copies name their origin.
            "fork marked by requestSessionId",
            vec![
                ("projects/-w-p/orig.jsonl", origin("orig")),
                ("projects/-w-p/frk.jsonl", vec![
                    line("frk", "a1", None, "user", 0, r#","requestSessionId":"orig""#),
                    line("frk", "a2", Some("a1"), "assistant", 1, r#","requestSessionId":"orig""#),
                    line("frk", "f1", Some("a2"), "user", 5, ""),
                ]),
            ],
            vec![("orig", "frk", LinkKind::Fork, Some("a2"))],
        ),
        (
            // Older forks only share uuids; the origin went on after the fork.
            "fork by shared uuids",
            vec![
                ("projects/-w-p/orig.jsonl", [origin("orig"), vec![line("orig", "o3", Some("a2"), "user", 9, "")]].concat()),
                ("projects/-w-p/frk.jsonl", [origin("frk"), vec![line("frk", "f1", Some("a2"), "user", 5, "")]].concat()),
            ],
            vec![("orig", "frk", LinkKind::Fork, Some("a2"))],
        ),
        (
            // 2.0.x fork: the copied user lines keep the origin's id, the copied assistant lines take the
            // fork's; the origin went on before the fork was made.
            "fork whose copies keep the origin's sessionId",
            vec![
                ("projects/-w-p/orig.jsonl", [origin("orig"), vec![line("orig", "o3", Some("a2"), "user", 3, "")]].concat()),
                ("projects/-w-p/frk.jsonl", vec![
                    line("orig", "a1", None, "user", 0, ""),
                    line("frk", "a2", Some("a1"), "assistant", 1, ""),
                    line("orig", "o3", Some("a2"), "user", 3, ""),
                    line("frk", "f1", Some("o3"), "user", 5, ""),
                ]),
            ],
            vec![("orig", "frk", LinkKind::Fork, Some("o3"))],
        ),
        (
            // 2.0.x start-up: an empty placeholder, Warmup sidechains under the start-up id (one switching
            // to the resumed session's id on its reply): no session, no link, no subagent.
            "Warmup sidechains and placeholders",
            vec![
                ("projects/-w-p/res.jsonl", [origin("res"), vec![line("res", "r3", Some("a2"), "user", 6, "")]].concat()),
                ("projects/-w-p/tmp1.jsonl", vec![]),
                ("projects/-w-p/agent-w1.jsonl", vec![
                    line("tmp1", "w1", None, "user", 5, r#","isSidechain":true,"agentId":"w1","message":{"role":"user","content":"Warmup"}"#).replace(r#""message":{"role":"user","content":"hi"},"#, ""),
                    line("res", "w2", Some("w1"), "assistant", 5, r#","isSidechain":true,"agentId":"w1""#),
                ]),
                ("projects/-w-p/tmp2.jsonl", vec![]),
                ("projects/-w-p/agent-w3.jsonl", vec![
                    line("tmp2", "w3", None, "user", 7, r#","isSidechain":true,"agentId":"w3","message":{"role":"user","content":"Warmup"}"#).replace(r#""message":{"role":"user","content":"hi"},"#, ""),
                    line("tmp2", "w4", Some("w3"), "assistant", 7, r#","isSidechain":true,"agentId":"w3""#),
                ]),
            ],
            vec![],
        ),
        (
            "subagent transcript",
            vec![
                ("projects/-w-p/par.jsonl", vec![
                    line("par", "p1", None, "user", 0, ""),
                    line("par", "p2", Some("p1"), "assistant", 1, ""),
                    line("par", "p3", Some("p2"), "user", 2, r#","toolUseResult":{"agentId":"abc123"}"#),
                ]),
                ("projects/-w-p/par/subagents/agent-abc123.jsonl", vec![
                    line("par", "s1", None, "user", 1, r#","isSidechain":true,"agentId":"abc123""#),
                ]),
            ],
            vec![("par", "agent-abc123", LinkKind::Subagent, Some("p2"))],
        ),
        (
            "clear from history.jsonl",
            vec![
                ("projects/-w-p/one.jsonl", origin("one")),
                ("projects/-w-p/two.jsonl", vec![line("two", "t1", None, "user", 7, "")]),
                ("history.jsonl", vec![
                    r#"{"display":"hello","timestamp":1793527200000,"project":"/w/p","sessionId":"one"}"#.into(),
                    r#"{"display":"/clear","timestamp":1793527500000,"project":"/w/p","sessionId":"one"}"#.into(),
                    r#"{"display":"next","timestamp":1793527620000,"project":"/w/p","sessionId":"two"}"#.into(),
                ]),
            ],
            vec![("one", "two", LinkKind::Clear, None)],
        ),
    ];
    for (name, files, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("claude");
        for (path, lines) in &files {
            write_lines(&root.join(path), lines);
        }
        let mut store = open(&dir.path().join("db.sqlite"));
        sync_dirs(&mut store, &[&root]);
        if name.starts_with("Warmup") {
            let ids: Vec<String> = store
                .sessions(&Default::default())
                .unwrap()
                .into_iter()
                .map(|s| s.session_id)
                .collect();
            assert_eq!(ids, ["res"], "{name}");
            // All three responses count; the start-up id's one under the project, not under a session.
            assert_eq!(daily(&store).totals.responses, 3, "{name}");
            assert_eq!(
                store.doctor(0).unwrap().not_session_usage.responses,
                1,
                "{name}"
            );
        }
        let got: BTreeSet<(String, String, LinkKind, Option<String>)> = all_links(&store)
            .into_iter()
            .filter(|l| l.0 != l.1)
            .collect();
        let want: BTreeSet<(String, String, LinkKind, Option<String>)> = expected
            .iter()
            .map(|(f, t, k, j)| (f.to_string(), t.to_string(), *k, j.map(str::to_owned)))
            .collect();
        assert_eq!(got, want, "{name}");
    }
}
