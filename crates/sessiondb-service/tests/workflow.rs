//! Workflow sessions through the service over a store opened by the opener, on generated workflow folders:
//! many projects, hundreds of sessions in every `state.json` shape the mapping reads, malformed and
//! half-written files, folders renamed and deleted, symlinks out of the root; the seeds' queries; changes
//! through the state manager; 16 concurrent writers.

use serde_json::{json, Value};
use sessiondb_core::workflow::Phase;
use sessiondb_ingest::{Quiet, SyncOptions};
use sessiondb_service::{Artifact, ErrorKind, Service, WorkflowQuery, WorkflowWrite};
use sessiondb_store::Location;
use sessiondb_workflow::{CheckpointOp, NewSession};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one generated folder must index as.
#[derive(Debug, Clone, PartialEq)]
struct Expect {
    title: String,
    phase: Option<&'static str>,
    total: u64,
    done: u64,
    error: bool,
}

const STATUSES: [(&str, &str); 5] = [
    ("spec_in_progress", "spec"),
    ("planning", "plan"),
    ("building", "build"),
    ("in_review", "review"),
    ("done", "done"),
];

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Checkpoints in one of three shapes: `n` of them, the first `done` done.
fn checkpoints(shape: usize, n: u64, done: u64) -> Value {
    let item = |k: u64| {
        let is_done = k < done;
        match shape {
            0 => json!({"id": format!("cp{k}"), "done": is_done}),
            1 => {
                json!({"id": format!("cp{k}"), "status": if is_done { if k.is_multiple_of(2) { "done" } else { "completed" } } else { "pending" }})
            }
            _ => {
                json!({"id": format!("cp{k}"), "completed_at": if is_done { json!("2026-02-16T10:00:00Z") } else { Value::Null }})
            }
        }
    };
    if shape == 3 {
        Value::Object(
            (0..n)
                .map(|k| {
                    (
                        format!("cp{k}"),
                        json!({"status": if k < done { "done" } else { "pending" }}),
                    )
                })
                .collect(),
        )
    } else {
        Value::Array((0..n).map(item).collect())
    }
}

/// `projects` project roots under `base`, each with `per` workflow folders of every shape, plus a folder and
/// a `state.json` symlinked out of the root. Returns the roots and what each folder must index as.
fn generate(
    base: &Path,
    projects: usize,
    per: usize,
) -> (Vec<PathBuf>, BTreeMap<(String, String), Expect>) {
    let outside = base.join("outside");
    write(
        &outside.join("secret/state.json"),
        r#"{"title": "secret", "phase": "done"}"#,
    );
    let mut roots = Vec::new();
    let mut expect = BTreeMap::new();
    for p in 0..projects {
        let root = base.join(format!("project-{p}"));
        std::fs::create_dir_all(root.join("agents/sessions")).unwrap();
        let root = root.canonicalize().unwrap();
        let sessions = root.join("agents/sessions");
        for i in 0..per {
            let slug = format!("2026-02-{:02}_session-{i}_p{p}", 1 + i % 28);
            let dir = sessions.join(&slug);
            std::fs::create_dir_all(&dir).unwrap();
            let n = (i % 7) as u64;
            let done = n / 2;
            let (status, status_phase) = STATUSES[(i / 8) % 5];
            let phase = STATUSES[(i / 3) % 5].1;
            let mut e = Expect {
                title: format!("Session {i} of {p}"),
                phase: Some(phase),
                total: n,
                done,
                error: false,
            };
            let state = match i % 8 {
                0 => {
                    json!({"id": format!("id-{p}-{i}"), "title": e.title, "phase": phase, "status": "whatever",
                            "checkpoints": checkpoints(0, n, done), "created_at": "2026-02-16T10:00:00Z",
                            "updated_at": 1771236000 + i as i64, "session_type": "full"})
                }
                1 => {
                    e.phase = Some(status_phase);
                    json!({"title": e.title, "status": status, "checkpoints": checkpoints(1, n, done),
                           "createdAt": 1771236000, "decisions": [{"keep": "me"}]})
                }
                2 => {
                    json!({"title": e.title, "current_phase": phase, "checkpoints": checkpoints(2, n, done)})
                }
                3 => {
                    json!({"name": e.title, "phase": phase, "checkpoints": checkpoints(3, n, done)})
                }
                4 => {
                    e.title = format!("Spec heading {i}");
                    write(
                        &dir.join("spec.md"),
                        &format!("intro\n\n# {}\n\nbody\n", e.title),
                    );
                    write(&dir.join("plan.json"), r#"{"steps": []}"#);
                    json!({"phase": phase, "checkpoints": checkpoints(0, n, done)})
                }
                5 => {
                    e.title = slug.clone();
                    json!({"phase": phase, "checkpoints": checkpoints(1, n, done)})
                }
                6 => {
                    // Half-written by an agent, never good before.
                    e = Expect {
                        title: slug.clone(),
                        phase: None,
                        total: 0,
                        done: 0,
                        error: true,
                    };
                    write(&dir.join("state.json"), r#"{"title": "half", "phase": "bu"#);
                    expect.insert((root.display().to_string(), slug), e);
                    continue;
                }
                _ => {
                    // A folder an agent has just made, without state.json yet.
                    e = Expect {
                        title: slug.clone(),
                        phase: None,
                        total: 0,
                        done: 0,
                        error: true,
                    };
                    expect.insert((root.display().to_string(), slug), e);
                    continue;
                }
            };
            write(
                &dir.join("state.json"),
                &serde_json::to_string_pretty(&state).unwrap(),
            );
            expect.insert((root.display().to_string(), slug), e);
        }
        // A folder that is a symlink out of the root: refused, not indexed.
        std::os::unix::fs::symlink(outside.join("secret"), sessions.join("escape-dir")).unwrap();
        // A state.json that points out of the root: indexed with an error, never read.
        let dir = sessions.join("escape-file");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(outside.join("secret/state.json"), dir.join("state.json"))
            .unwrap();
        expect.insert(
            (root.display().to_string(), "escape-file".to_owned()),
            Expect {
                title: "escape-file".into(),
                phase: None,
                total: 0,
                done: 0,
                error: true,
            },
        );
        roots.push(root);
    }
    (roots, expect)
}

struct Fixture {
    dir: tempfile::TempDir,
    db: PathBuf,
    roots: Vec<PathBuf>,
    expect: BTreeMap<(String, String), Expect>,
}

fn fixture(projects: usize, per: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (roots, expect) = generate(dir.path(), projects, per);
    let db = dir.path().join("index.db");
    let mut store = sessiondb_store::open(&Location::parse(&db)).unwrap();
    let mut service = Service::new(store.as_mut());
    for (i, root) in roots.iter().enumerate() {
        service
            .add_project(root, Some(&format!("p{i}")), "test")
            .unwrap();
    }
    Fixture {
        dir,
        db,
        roots,
        expect,
    }
}

fn with_service<T>(db: &Path, f: impl FnOnce(&mut Service<'_>) -> T) -> T {
    let mut store = sessiondb_store::open(&Location::parse(db)).unwrap();
    let mut service = Service::new(store.as_mut());
    f(&mut service)
}

fn all_rows(service: &Service<'_>) -> Vec<sessiondb_core::WorkflowRow> {
    service.workflow_list(&WorkflowQuery::default()).unwrap()
}

fn check_rows(rows: &[sessiondb_core::WorkflowRow], expect: &BTreeMap<(String, String), Expect>) {
    let got: BTreeMap<(String, String), Expect> = rows
        .iter()
        .filter(|r| r.on_disk)
        .map(|r| {
            (
                (r.root.clone(), r.slug.clone()),
                Expect {
                    title: r.title.clone(),
                    phase: r.phase.as_ref().map(|p| match p.as_str() {
                        "spec" => "spec",
                        "plan" => "plan",
                        "build" => "build",
                        "review" => "review",
                        "done" => "done",
                        other => panic!("unexpected phase {other}"),
                    }),
                    total: r.checkpoints_total,
                    done: r.checkpoints_done,
                    error: r.error.is_some(),
                },
            )
        })
        .collect();
    assert_eq!(got.len(), expect.len());
    for (key, want) in expect {
        assert_eq!(got.get(key), Some(want), "{key:?}");
    }
}

#[test]
fn generated_folders_of_every_shape_are_indexed() {
    let f = fixture(6, 60);
    let report = with_service(&f.db, |s| {
        // Through the service's sync, as `sessiondb sync` runs it (no config dir to sync here).
        s.sync(&[], &SyncOptions::default(), &Quiet).unwrap();
        s.sync_workflows(None).unwrap()
    });
    assert_eq!(
        report.indexed,
        6 * 2 * 7 + 6,
        "errors are read again, the rest not"
    );
    with_service(&f.db, |s| {
        let rows = all_rows(s);
        check_rows(&rows, &f.expect);
        assert!(rows.iter().all(|r| r.slug != "escape-dir"));
        let escape = rows.iter().find(|r| r.slug == "escape-file").unwrap();
        assert!(escape
            .error
            .as_deref()
            .unwrap()
            .contains("outside the project root"));
        assert!(rows.iter().all(|r| r.title != "secret"));
        // The whole state.json is kept, unknown fields included.
        let root = f.roots[0].display().to_string();
        let one = s.workflow_get(&root, "2026-02-02_session-1_p0").unwrap();
        assert_eq!(one.state.unwrap()["decisions"][0]["keep"], "me");
        assert_eq!(one.row.project, "p0");
        assert_eq!(
            one.row.created_at.as_deref(),
            Some("2026-02-16T10:00:00.000Z")
        );
    });
    // A second sync reads nothing that did not change.
    let again = with_service(&f.db, |s| s.sync_workflows(None).unwrap());
    assert_eq!(again.unchanged, 6 * 60 - 6 * 2 * 7);
    assert_eq!(again.gone, 0);
}

#[test]
fn a_malformed_state_keeps_the_last_good_version_until_the_next_good_write() {
    let f = fixture(1, 8);
    let root = f.roots[0].clone();
    let slug = "2026-02-01_session-0_p0";
    let state = root.join("agents/sessions").join(slug).join("state.json");
    with_service(&f.db, |s| s.sync_workflows(None).unwrap());
    // An agent is writing it: half a file.
    std::fs::write(&state, r#"{"title": "new title", "phase": "rev"#).unwrap();
    with_service(&f.db, |s| {
        let report = s.sync_workflows(Some("p0")).unwrap();
        assert!(report.issues.iter().any(|i| i.slug == slug));
        let row = s.workflow_get("p0", slug).unwrap();
        assert_eq!(row.row.title, "Session 0 of 0");
        assert_eq!(row.row.phase, Some(Phase::Spec));
        assert!(row.row.error.as_deref().unwrap().contains("not valid JSON"));
        assert_eq!(row.state.unwrap()["title"], "Session 0 of 0");
    });
    std::fs::write(
        &state,
        r#"{"title": "new title", "phase": "review", "checkpoints": {"a": true}}"#,
    )
    .unwrap();
    with_service(&f.db, |s| {
        s.sync_workflows(Some(&root.display().to_string())).unwrap();
        let row = s.workflow_get("p0", slug).unwrap().row;
        assert_eq!(
            (
                row.title.as_str(),
                row.phase,
                row.checkpoints_done,
                row.error
            ),
            ("new title", Some(Phase::Review), 1, None)
        );
    });
}

#[test]
fn renamed_folders_keep_their_session_and_deleted_ones_show_gone() {
    let f = fixture(2, 16);
    with_service(&f.db, |s| s.sync_workflows(None).unwrap());
    let sessions = f.roots[0].join("agents/sessions");
    // Shape 0 carries an id: renamed, it is the same session.
    std::fs::rename(
        sessions.join("2026-02-01_session-0_p0"),
        sessions.join("renamed-with-id"),
    )
    .unwrap();
    // Shape 2 has no id: gone + new.
    std::fs::rename(
        sessions.join("2026-02-03_session-2_p0"),
        sessions.join("renamed-without-id"),
    )
    .unwrap();
    std::fs::remove_dir_all(sessions.join("2026-02-04_session-3_p0")).unwrap();
    let report = with_service(&f.db, |s| s.sync_workflows(None).unwrap());
    assert_eq!((report.renamed, report.gone), (1, 2));
    with_service(&f.db, |s| {
        let rows = all_rows(s);
        let find = |slug: &str| rows.iter().find(|r| r.slug == slug);
        assert!(find("2026-02-01_session-0_p0").is_none());
        let renamed = find("renamed-with-id").unwrap();
        assert_eq!(
            (renamed.id.as_deref(), renamed.on_disk),
            (Some("id-0-0"), true)
        );
        assert!(!find("2026-02-03_session-2_p0").unwrap().on_disk);
        assert!(find("renamed-without-id").unwrap().on_disk);
        assert!(!find("2026-02-04_session-3_p0").unwrap().on_disk);
        // The other project is untouched; a root that vanished (unmounted) marks nothing gone.
        assert!(rows.iter().filter(|r| r.project == "p1").all(|r| r.on_disk));
    });
    std::fs::rename(&f.roots[1], f.dir.path().join("moved")).unwrap();
    let report = with_service(&f.db, |s| s.sync_workflows(None).unwrap());
    assert_eq!(report.unavailable_roots.len(), 1);
    with_service(&f.db, |s| {
        let rows = s
            .workflow_list(&WorkflowQuery {
                project: Some("p1".into()),
                ..WorkflowQuery::default()
            })
            .unwrap();
        assert!(!rows.is_empty() && rows.iter().all(|r| r.on_disk));
    });
}

#[test]
fn a_rebuilt_database_equals_the_incremental_one() {
    let f = fixture(3, 40);
    with_service(&f.db, |s| s.sync_workflows(None).unwrap());
    // Edits between syncs: a phase change, a new folder, a deletion.
    let sessions = f.roots[0].join("agents/sessions");
    write(
        &sessions.join("2026-02-06_session-5_p0/state.json"),
        r#"{"phase": "done", "checkpoints": [true, true]}"#,
    );
    write(
        &sessions.join("brand-new/state.json"),
        r#"{"title": "New", "status": "planning"}"#,
    );
    std::fs::remove_dir_all(sessions.join("2026-02-02_session-1_p0")).unwrap();
    with_service(&f.db, |s| s.sync_workflows(None).unwrap());
    let mut incremental: Vec<_> = with_service(&f.db, |s| all_rows(s))
        .into_iter()
        .filter(|r| r.on_disk)
        .map(|r| {
            (
                r.root,
                r.slug,
                r.title,
                r.phase,
                r.checkpoints_total,
                r.checkpoints_done,
                r.error.is_some(),
            )
        })
        .collect();
    let fresh = f.dir.path().join("fresh.db");
    with_service(&fresh, |s| {
        for (i, root) in f.roots.iter().enumerate() {
            s.add_project(root, Some(&format!("p{i}")), "test").unwrap();
        }
        s.sync_workflows(None).unwrap();
    });
    let mut rebuilt: Vec<_> = with_service(&fresh, |s| all_rows(s))
        .into_iter()
        .map(|r| {
            (
                r.root,
                r.slug,
                r.title,
                r.phase,
                r.checkpoints_total,
                r.checkpoints_done,
                r.error.is_some(),
            )
        })
        .collect();
    incremental.sort();
    rebuilt.sort();
    assert_eq!(incremental.len(), 3 * 41);
    assert_eq!(incremental, rebuilt);
}

#[test]
fn artifacts_are_read_from_disk_and_never_from_outside_the_root() {
    let f = fixture(1, 8);
    with_service(&f.db, |s| {
        s.sync_workflows(None).unwrap();
        let spec = s
            .workflow_artifact("p0", "2026-02-05_session-4_p0", Artifact::Spec)
            .unwrap();
        assert!(String::from_utf8(spec)
            .unwrap()
            .contains("# Spec heading 4"));
        let plan = s
            .workflow_artifact("p0", "2026-02-05_session-4_p0", Artifact::Plan)
            .unwrap();
        assert_eq!(plan, br#"{"steps": []}"#);
        for slug in ["..", "../..", "/etc", "a/../../x", ".hidden"] {
            let err = s
                .workflow_artifact("p0", slug, Artifact::State)
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Invalid, "{slug}");
        }
        for slug in ["escape-dir", "escape-file"] {
            let err = s
                .workflow_artifact("p0", slug, Artifact::State)
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Invalid, "{slug}");
            assert!(err.to_string().contains("outside the project root"));
        }
        // A project whose sessions dir itself leads out of the root: nothing under it is read.
        let other = f.dir.path().join("linked-project");
        std::fs::create_dir_all(other.join("agents")).unwrap();
        std::os::unix::fs::symlink(f.dir.path().join("outside"), other.join("agents/sessions"))
            .unwrap();
        s.add_project(&other, Some("linked"), "test").unwrap();
        let report = s.sync_workflows(Some("linked")).unwrap();
        assert_eq!(report.folders, 0);
        assert!(report.issues[0].error.contains("outside the project root"));
        let query = WorkflowQuery {
            project: Some("linked".into()),
            ..WorkflowQuery::default()
        };
        assert!(s.workflow_list(&query).unwrap().is_empty());
        let err = s
            .workflow_artifact("linked", "secret", Artifact::State)
            .unwrap_err();
        assert!(err.to_string().contains("outside the project root"));
        let err = s
            .workflow_artifact("p0", "2026-02-01_session-0_p0", Artifact::Spec)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            s.workflow_artifact("nope", "x", Artifact::Spec)
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
    });
}

/// A transcript whose lines say they ran in `cwd`, with one priced response.
fn transcript(config: &Path, cwd: &Path, session: &str, output_tokens: u64) {
    let cwd = cwd.display().to_string();
    let dir = config.join("projects").join(cwd.replace('/', "-"));
    let user = json!({"parentUuid": null, "isSidechain": false, "type": "user",
        "message": {"role": "user", "content": "build it"}, "uuid": format!("u-{session}"),
        "timestamp": "2026-02-16T10:00:00.000Z", "cwd": cwd, "sessionId": session, "version": "2.1.330"});
    let assistant = json!({"parentUuid": format!("u-{session}"), "isSidechain": false, "type": "assistant",
        "message": {"id": format!("msg-{session}"), "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "ok"}],
            "usage": {"input_tokens": 1000, "output_tokens": output_tokens}},
        "requestId": format!("req-{session}"), "uuid": format!("a-{session}"),
        "timestamp": "2026-02-16T10:00:01.000Z", "cwd": cwd, "sessionId": session, "version": "2.1.330"});
    write(
        &dir.join(format!("{session}.jsonl")),
        &format!("{user}\n{assistant}\n"),
    );
}

#[test]
fn the_seeds_queries_are_answered() {
    let f = fixture(3, 40);
    let config = f.dir.path().join("claude");
    transcript(
        &config,
        &f.roots[0],
        "0000aaaa-0000-4000-8000-000000000001",
        2000,
    );
    transcript(
        &config,
        &f.roots[0],
        "0000aaaa-0000-4000-8000-000000000002",
        3000,
    );
    transcript(
        &config,
        &f.roots[1],
        "0000aaaa-0000-4000-8000-000000000003",
        500,
    );
    with_service(&f.db, |s| {
        s.sync(
            std::slice::from_ref(&config),
            &SyncOptions::default(),
            &Quiet,
        )
        .unwrap();
        // Sessions in the build phase, across projects.
        let build = s
            .workflow_list(&WorkflowQuery {
                phase: Some("build".into()),
                ..WorkflowQuery::default()
            })
            .unwrap();
        let want_build = f
            .expect
            .values()
            .filter(|e| e.phase == Some("build"))
            .count();
        assert_eq!(build.len(), want_build);
        assert!(build.iter().all(|r| r.phase == Some(Phase::Build)));
        // "more than 3 checkpoints".
        let many = s
            .workflow_list(&WorkflowQuery {
                min_checkpoints: Some(4),
                ..WorkflowQuery::default()
            })
            .unwrap();
        assert_eq!(
            many.len(),
            f.expect.values().filter(|e| e.total >= 4).count()
        );
        // Both filters, one project, paged.
        let q = WorkflowQuery {
            project: Some("p1".into()),
            phase: Some("building".into()),
            min_checkpoints: Some(2),
            limit: Some(3),
            offset: 1,
        };
        let page = s.workflow_list(&q).unwrap();
        let all = s
            .workflow_list(&WorkflowQuery {
                limit: None,
                offset: 0,
                ..q.clone()
            })
            .unwrap();
        assert_eq!(
            page,
            all.iter().skip(1).take(3).cloned().collect::<Vec<_>>()
        );
        // Cost per project, with workflow counts; a registered project without transcripts is listed too.
        let projects = s.projects_overview().unwrap();
        let find = |root: &Path| {
            projects
                .iter()
                .find(|p| p.summary.project_dir.as_deref() == Some(&root.display().to_string()))
                .unwrap()
        };
        let p0 = find(&f.roots[0]);
        assert_eq!(
            (p0.name.as_deref(), p0.summary.session_count),
            (Some("p0"), 2)
        );
        assert!(p0.summary.cost_usd > find(&f.roots[1]).summary.cost_usd);
        assert!(find(&f.roots[1]).summary.cost_usd > 0.0);
        assert_eq!(p0.workflow_sessions, 41);
        assert_eq!(
            p0.workflow_by_phase.get("build").copied().unwrap_or(0) as usize,
            f.expect
                .iter()
                .filter(|((root, _), e)| root == &f.roots[0].display().to_string()
                    && e.phase == Some("build"))
                .count()
        );
        let p2 = find(&f.roots[2]);
        assert_eq!(
            (
                p2.summary.session_count,
                p2.workflow_sessions,
                p2.registered
            ),
            (0, 41, true)
        );
    });
}

#[test]
fn changes_through_the_state_manager_are_indexed() {
    let f = fixture(1, 0);
    let write = WorkflowWrite {
        source: "test".into(),
        on_save: None,
        index: true,
    };
    with_service(&f.db, |s| {
        let new = NewSession {
            slug: "feature-x".into(),
            title: Some("Feature X".into()),
            ..NewSession::default()
        };
        let created = s.workflow_create("p0", &new, &write).unwrap();
        let row = created.row.unwrap();
        assert_eq!(
            (row.title.as_str(), row.phase, row.project.as_str()),
            ("Feature X", Some(Phase::Spec), "p0")
        );
        assert_eq!(
            s.workflow_create("p0", &new, &write).unwrap_err().kind(),
            ErrorKind::Invalid
        );
        let op = CheckpointOp::Add {
            id: Some("c1".into()),
            title: "first".into(),
        };
        s.workflow_checkpoint("p0", "feature-x", &op, Some(1), &write)
            .unwrap();
        let saved = s
            .workflow_set_phase("p0", "feature-x", "plan", Some(2), &write)
            .unwrap();
        assert_eq!(saved.version, 3);
        let row = saved.row.unwrap();
        assert_eq!(
            (row.phase, row.checkpoints_total, row.checkpoints_done),
            (Some(Phase::Plan), 1, 0)
        );
        // A stale version is a conflict; a skipped phase and an unknown session are refused.
        let err = s
            .workflow_set_phase("p0", "feature-x", "build", Some(2), &write)
            .unwrap_err();
        assert!(err.to_string().contains("version conflict"));
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert_eq!(
            s.workflow_set_phase("p0", "feature-x", "done", None, &write)
                .unwrap_err()
                .kind(),
            ErrorKind::Invalid
        );
        assert_eq!(
            s.workflow_set_phase("p0", "nope", "plan", None, &write)
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        let done = CheckpointOp::Complete { id: "c1".into() };
        let row = s
            .workflow_checkpoint("p0", "feature-x", &done, None, &write)
            .unwrap()
            .row
            .unwrap();
        assert_eq!(row.checkpoints_done, 1);
        let state = s.workflow_get("p0", "feature-x").unwrap().state.unwrap();
        assert_eq!(state["history"].as_array().unwrap().len(), 4);
    });
}

#[test]
fn sixteen_concurrent_writers_through_the_service_lose_no_update() {
    let f = fixture(1, 0);
    let write = WorkflowWrite {
        source: "agent".into(),
        on_save: None,
        index: false,
    };
    with_service(&f.db, |s| {
        let new = NewSession {
            slug: "busy".into(),
            ..NewSession::default()
        };
        s.workflow_create("p0", &new, &write).unwrap();
    });
    let conflicts = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for w in 0..16 {
            let (db, root, write, conflicts) = (&f.db, &f.roots[0], &write, &conflicts);
            scope.spawn(move || {
                let mut store = sessiondb_store::open(&Location::parse(db)).unwrap();
                let mut s = Service::new(store.as_mut());
                for n in 0..3 {
                    loop {
                        let state: Value = serde_json::from_slice(
                            &std::fs::read(root.join("agents/sessions/busy/state.json")).unwrap(),
                        )
                        .unwrap();
                        let version = state["version"].as_u64();
                        let op = CheckpointOp::Add {
                            id: Some(format!("w{w}-{n}")),
                            title: "t".into(),
                        };
                        match s.workflow_checkpoint("p0", "busy", &op, version, write) {
                            Ok(_) => break,
                            Err(e) if e.to_string().contains("version conflict") => {
                                conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    with_service(&f.db, |s| {
        s.sync_workflows(None).unwrap();
        let row = s.workflow_get("p0", "busy").unwrap();
        assert_eq!(row.row.checkpoints_total, 48);
        assert_eq!(row.state.unwrap()["version"], 49);
    });
}

#[test]
fn projects_are_registered_by_name_or_path() {
    let f = fixture(2, 0);
    with_service(&f.db, |s| {
        let root = f.roots[0].display().to_string();
        assert_eq!(s.resolve_project(&root).unwrap().name, "p0");
        // Another spelling of the same path.
        let dotted = format!(
            "{}/../{}",
            root,
            f.roots[0].file_name().unwrap().to_string_lossy()
        );
        assert_eq!(s.resolve_project(&dotted).unwrap().name, "p0");
        let err = s.add_project(&f.roots[1], Some("p0"), "test").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        let err = s
            .add_project(&f.dir.path().join("missing"), None, "test")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        s.remove_project("p1").unwrap();
        assert_eq!(s.registered_projects().unwrap().len(), 1);
        assert_eq!(
            s.remove_project("p1").unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
}

/// A small deterministic generator (xorshift64*), so a failing sequence replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % below
    }
}

/// What a row says, for comparing an incremental index with a rebuild: the facts of a good `state.json`, or
/// only that it has an error (the incremental index keeps the last good version meanwhile, a rebuild has none).
type Facts = (
    String,
    Option<String>,
    Option<Phase>,
    u64,
    u64,
    Option<String>,
    bool,
);

fn facts_on_disk(db: &Path) -> Vec<Facts> {
    let mut rows: Vec<Facts> = with_service(db, |s| all_rows(s))
        .into_iter()
        .filter(|r| r.on_disk)
        .map(|r| match r.error {
            Some(_) => (r.slug, None, None, 0, 0, None, true),
            None => (
                r.slug,
                Some(r.title),
                r.phase,
                r.checkpoints_total,
                r.checkpoints_done,
                r.id,
                false,
            ),
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn incremental_sync_equals_a_rebuild_after_any_sequence_of_folder_changes() {
    let seed: u64 = std::env::var("SESSIONDB_WORKFLOW_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f01d);
    let mut rng = Rng(seed | 1);
    let f = fixture(1, 0);
    let root = f.roots[0].clone();
    let sessions = root.join("agents/sessions");
    let slugs: Vec<String> = (0..10).map(|i| format!("slug-{i}")).collect();
    let phases = ["spec", "planning", "build", "in_review", "done", "qa"];
    for step in 0..100u64 {
        let slug = &slugs[rng.next(slugs.len() as u64) as usize];
        let dir = sessions.join(slug);
        // Every write is longer than any before it: two writes of one size in one tick of the file system's
        // clock are the limit no stamp sees (as for transcripts), not what this test is about.
        let pad = "x".repeat(step as usize * 400);
        let op = rng.next(9);
        match op {
            0..=2 => {
                let n = rng.next(6);
                let state = json!({
                    "id": if rng.next(2) == 0 { json!(format!("id-{slug}")) } else { Value::Null },
                    "title": if rng.next(3) == 0 { Value::Null } else { json!(format!("T{step}")) },
                    "status": phases[rng.next(phases.len() as u64) as usize],
                    "checkpoints": (0..n).map(|k| json!({"done": k % 2 == 0})).collect::<Vec<_>>(),
                    "pad": pad,
                });
                let text = state.to_string();
                if op == 0 {
                    // Renamed over the file, as the state manager saves.
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(dir.join(".tmp"), &text).unwrap();
                    std::fs::rename(dir.join(".tmp"), dir.join("state.json")).unwrap();
                } else {
                    write(&dir.join("state.json"), &text);
                }
            }
            3 => write(
                &dir.join("state.json"),
                &format!("{{\"title\": \"half{pad}"),
            ),
            4 => write(&dir.join("spec.md"), &format!("# Heading {step}\n{pad}\n")),
            5 => {
                let _ = std::fs::remove_dir_all(&dir);
            }
            6 => {
                let to = sessions.join(&slugs[rng.next(slugs.len() as u64) as usize]);
                if dir.exists() && !to.exists() {
                    std::fs::rename(&dir, &to).unwrap();
                }
            }
            7 => {
                let _ = std::fs::remove_file(dir.join("state.json"));
            }
            _ => write(&dir.join("plan.json"), &format!("{{\"pad\": \"{pad}\"}}")),
        }
        with_service(&f.db, |s| s.sync_workflows(None).unwrap());
        let fresh = f.dir.path().join(format!("fresh-{step}.db"));
        with_service(&fresh, |s| {
            s.add_project(&root, Some("p0"), "test").unwrap();
            s.sync_workflows(None).unwrap();
        });
        assert_eq!(
            facts_on_disk(&f.db),
            facts_on_disk(&fresh),
            "seed {seed}, step {step} (op {op} on {slug}): replay with SESSIONDB_WORKFLOW_SEED={seed}"
        );
        std::fs::remove_file(&fresh).unwrap();
    }
}
