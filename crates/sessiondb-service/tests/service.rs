//! The service over a real store (opened through the opener, as every front-end does) and a real Claude Code
//! tree (`../shared/samples/claude-code-2.1.197`, checked against its `expected.json`): listing, search, key
//! chains, errors of each kind, and the `run` wrapper's fallback with a scripted launcher.

use sessiondb_core::SessionFilter;
use sessiondb_ingest::{Quiet, SyncOptions};
use sessiondb_service::{
    ChainStart, ErrorKind, Launch, LaunchError, Launcher, ResumeChoice, RunRequest, Service,
    ServiceError, SessionQuery,
};
use std::path::{Path, PathBuf};

const SAMPLE: &str = "claude-code-2.1.197";

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    db: PathBuf,
    expected: serde_json::Value,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The sample copied into a temp config dir (captures must not touch the shared tree), synced.
fn fixture() -> Fixture {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples")
        .join(SAMPLE);
    assert!(
        sample.is_dir(),
        "the real-CLI sample {} is missing",
        sample.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    copy_tree(&sample, &root);
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("expected.json")).unwrap()).unwrap();
    let db = dir.path().join("index.db");
    let fixture = Fixture {
        _dir: dir,
        root,
        db,
        expected,
    };
    with_service(&fixture, |service| {
        service
            .sync(
                std::slice::from_ref(&fixture.root),
                &SyncOptions::default(),
                &Quiet,
            )
            .unwrap();
    });
    fixture
}

fn with_service<T>(fixture: &Fixture, f: impl FnOnce(&mut Service<'_>) -> T) -> T {
    let location = sessiondb_store::Location::parse(&fixture.db);
    let mut store = sessiondb_store::open(&location).unwrap();
    f(&mut Service::new(store.as_mut()))
}

fn manifest_sessions(fixture: &Fixture) -> Vec<(String, String)> {
    fixture.expected["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["session_id"].as_str().unwrap().to_owned(),
                s["first_prompt"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn text_search_finds_a_session_by_its_prompt_in_any_case_and_pages_the_hits() {
    let fixture = fixture();
    let sessions = manifest_sessions(&fixture);
    let (wanted, _) = sessions
        .iter()
        .find(|(_, prompt)| prompt == "explicit id")
        .expect("the manifest has the explicit-id session");
    with_service(&fixture, |service| {
        let page = service
            .page(&SessionQuery {
                text: Some("EXPLICIT ID".into()),
                ..SessionQuery::default()
            })
            .unwrap();
        assert!(page.sessions.iter().any(|s| &s.session_id == wanted));
        assert_eq!(page.total as usize, page.sessions.len());
        // Every hit is a session of the manifest.
        for hit in &page.sessions {
            assert!(sessions.iter().any(|(id, _)| id == &hit.session_id));
        }
        // Paging a search: one per page, the same total.
        let hello = |offset| SessionQuery {
            text: Some("hello".into()),
            filter: SessionFilter {
                offset,
                limit: Some(1),
                ..SessionFilter::default()
            },
            ..SessionQuery::default()
        };
        let first = service.page(&hello(0)).unwrap();
        let second = service.page(&hello(1)).unwrap();
        let with_hello = sessions.iter().filter(|(_, p)| p.contains("hello")).count() as u64;
        assert!(first.total >= with_hello, "{} < {with_hello}", first.total);
        assert_eq!(first.total, second.total);
        assert_eq!(first.sessions.len(), 1);
        assert_ne!(first.sessions[0].session_id, second.sessions[0].session_id);
        // A search too long to be a search is the caller's mistake.
        let err = service
            .page(&SessionQuery {
                text: Some("x".repeat(50_000)),
                ..SessionQuery::default()
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
    });
}

#[test]
fn a_key_lists_exactly_the_chain_of_its_session() {
    let fixture = fixture();
    let (session, _) = manifest_sessions(&fixture).remove(0);
    with_service(&fixture, |service| {
        let tracked = service
            .track("app:chain", &session[..8], "test", None, 1_000, None)
            .unwrap();
        assert!(
            tracked.indexed,
            "a prefix of an indexed session is expanded"
        );
        assert_eq!(tracked.transition.session_id, session);
        let chain = service
            .chain(&ChainStart::Session(session.clone()))
            .unwrap();
        let page = service
            .page(&SessionQuery {
                key: Some("app:chain".into()),
                ..SessionQuery::default()
            })
            .unwrap();
        let mut listed: Vec<_> = page.sessions.iter().map(|s| s.session_id.clone()).collect();
        let mut members: Vec<_> = chain
            .sessions
            .iter()
            .map(|s| s.session_id.clone())
            .collect();
        listed.sort();
        members.sort();
        assert_eq!(listed, members);
        assert!(listed.contains(&session));
        // The same chain through the key.
        let by_key = service
            .chain(&ChainStart::KeyOrDir("app:chain".into()))
            .unwrap();
        assert_eq!(by_key.chain_id, chain.chain_id);
    });
}

#[test]
fn errors_say_whose_mistake_they_are() {
    let fixture = fixture();
    with_service(&fixture, |service| {
        let kind = |err: ServiceError| err.kind();
        assert_eq!(kind(service.show("ab").unwrap_err()), ErrorKind::Invalid);
        assert_eq!(
            kind(
                service
                    .show("00000000-0000-0000-0000-000000000000")
                    .unwrap_err()
            ),
            ErrorKind::NotFound
        );
        assert!(matches!(
            service.latest_for_key("app:never").unwrap_err(),
            ServiceError::UnknownKey(_)
        ));
        assert_eq!(
            kind(service.newest_resumable("/no/such/dir").unwrap_err()),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(service.track("", "x", "s", None, 0, None).unwrap_err()),
            ErrorKind::Invalid
        );
    });
}

/// A launcher that plays back scripted launches and records what it was asked.
struct Scripted {
    launches: Vec<Launch>,
    calls: Vec<Option<String>>,
    print_mode: bool,
    retried: Vec<(String, String)>,
}

impl Launcher for Scripted {
    fn launch(&mut self, _dir: &Path, resume: Option<&str>) -> Result<Launch, LaunchError> {
        self.calls.push(resume.map(str::to_owned));
        Ok(self.launches.remove(0))
    }
    fn reports_itself(&self) -> bool {
        self.print_mode
    }
    fn retrying_fresh(&mut self, session_id: &str, reason: &str) {
        self.retried
            .push((session_id.to_owned(), reason.to_owned()));
    }
}

#[test]
fn run_resumes_the_keys_session_and_falls_back_to_a_fresh_one_when_the_resume_fails() {
    let fixture = fixture();
    let sessions = manifest_sessions(&fixture);
    let (old, _) = &sessions[0];
    let (fresh, _) = &sessions[1];
    let roots = [fixture.root.clone()];
    with_service(&fixture, |service| {
        service
            .track("app:run", old, "test", None, 1_000, None)
            .unwrap();
        let mut launcher = Scripted {
            launches: vec![
                Launch {
                    exit_code: 1,
                    resume_failed: true,
                    failure_reason: Some("No conversation found".into()),
                    ..Launch::default()
                },
                Launch {
                    exit_code: 0,
                    reported_session_id: Some(fresh.clone()),
                    ..Launch::default()
                },
            ],
            calls: Vec::new(),
            print_mode: true,
            retried: Vec::new(),
        };
        let request = RunRequest {
            key: "app:run".into(),
            dir: PathBuf::from("/home/alice/work/proj-a"),
            resume: ResumeChoice::FromRegistry,
            source: "run".into(),
            roots: &roots,
            observer: &Quiet,
        };
        let report = service.run(&request, &mut launcher).unwrap();
        assert_eq!(launcher.calls, vec![Some(old.clone()), None]);
        assert_eq!(
            launcher.retried,
            vec![(old.clone(), "No conversation found".to_owned())]
        );
        assert_eq!(report.exit_code, 0);
        assert_eq!(
            report.resume_failure.as_deref(),
            Some("No conversation found")
        );
        let transition = report.transition.expect("the fresh session is recorded");
        assert_eq!(transition.session_id, *fresh);
        assert_eq!(
            transition.previous_session_id.as_deref(),
            Some(old.as_str())
        );
        assert!(transition
            .note
            .as_deref()
            .is_some_and(|n| n.contains(old) && n.contains("failed")));
        let log = service.transitions(Some("app:run"), None, 0).unwrap();
        assert_eq!(log.len(), 2);
    });
}

#[test]
fn an_interactive_resume_that_exits_at_once_without_writing_is_retried_fresh() {
    let fixture = fixture();
    let (old, _) = manifest_sessions(&fixture).remove(0);
    let roots = [fixture.root.clone()];
    with_service(&fixture, |service| {
        let mut launcher = Scripted {
            launches: vec![
                Launch {
                    exit_code: 1,
                    ..Launch::default()
                },
                Launch {
                    exit_code: 0,
                    ..Launch::default()
                },
            ],
            calls: Vec::new(),
            print_mode: false,
            retried: Vec::new(),
        };
        let request = RunRequest {
            key: "app:interactive".into(),
            dir: PathBuf::from("/home/alice/work/proj-a"),
            resume: ResumeChoice::Session(old.clone()),
            source: "run".into(),
            roots: &roots,
            observer: &Quiet,
        };
        let report = service.run(&request, &mut launcher).unwrap();
        assert_eq!(launcher.calls, vec![Some(old.clone()), None]);
        assert_eq!(
            report.resume_failure.as_deref(),
            Some("claude exited with 1 at once")
        );
        // The fresh run wrote no transcript: nothing to record, and the key stays unknown.
        assert!(report.transition.is_none());
        assert!(service.latest_for_key("app:interactive").is_err());
    });
}
