//! The workflow endpoints over real HTTP: projects registered and listed with their workflow counts, workflow
//! sessions listed, filtered and shown, artifacts read from disk and never from outside the project root,
//! creation and changes through the state manager, the import a UI fires when a project opens, and the
//! same-origin and JSON checks on every write.

use serde_json::{json, Value};
use sessiondb_server::{AppState, Events, HostPolicy, LiveSync, Readers, ServeOptions};
use sessiondb_store::Location;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Server {
    base: String,
    dir: PathBuf,
    live: LiveSync,
    _tmp: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

fn start() -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    let claude = dir.join("claude");
    std::fs::create_dir_all(claude.join("projects")).unwrap();
    let db = dir.join("index.db");
    drop(sessiondb_store::open(&Location::parse(&db)).unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let events = Events::new();
            let live = LiveSync::start(
                Location::parse(&db),
                vec![claude],
                events.clone(),
                true,
                Duration::from_secs(60),
            );
            let state = AppState {
                readers: std::sync::Arc::new(Readers::new(Location::parse(&db))),
                events,
                live: live.clone(),
                token: None,
                hosts: std::sync::Arc::new(HostPolicy::new(Some("127.0.0.1"), &[])),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx
                .send((listener.local_addr().unwrap(), live))
                .unwrap();
            sessiondb_server::serve(listener, state, ServeOptions::default(), async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
    });
    let (addr, live) = addr_rx.recv().unwrap();
    Server {
        base: format!("http://{addr}"),
        dir,
        live,
        _tmp: tmp,
        _shutdown: tx,
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

fn get(url: &str) -> (u16, Value) {
    let (status, _, body) = get_raw(url);
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Status, content type and bytes of a GET.
fn get_raw(url: &str) -> (u16, String, Vec<u8>) {
    let response = match agent().get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = response.status();
    let content_type = response
        .header("content-type")
        .unwrap_or_default()
        .to_owned();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    (status, content_type, body)
}

/// A GET sent over a plain socket exactly as given (no dot-segment resolution): status and body.
fn raw_get(base: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

fn post_with(url: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = agent().post(url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    match request.send_string(&body.to_string()) {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{url}: {e}"),
    }
}

fn post(url: &str, body: &Value) -> (u16, Value) {
    post_with(url, body, &[("Content-Type", "application/json")])
}

fn assert_error(response: (u16, Value), status: u16, needle: &str) {
    assert_eq!(response.0, status, "{:?}", response.1);
    let message = response.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "{message:?} should mention {needle:?}"
    );
}

fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A project with `n` folders: phase by index, `i % 6` checkpoints; the first with spec.md and plan.json.
fn project(dir: &Path, name: &str, n: usize) -> PathBuf {
    let root = dir.join(name);
    let phases = ["spec", "plan", "build", "review", "done"];
    for i in 0..n {
        let folder = root.join(format!("agents/sessions/s{i:02}"));
        let checkpoints: Vec<Value> = (0..i % 6)
            .map(|k| json!({"id": k, "status": "pending"}))
            .collect();
        let state = json!({"status": phases[i % 5], "checkpoints": checkpoints, "updated_at": 1771236000 + i});
        write(&folder.join("state.json"), &state.to_string());
    }
    if n > 0 {
        write(
            &root.join("agents/sessions/s00/spec.md"),
            "# The first one\n\nbody\n",
        );
        write(
            &root.join("agents/sessions/s00/plan.json"),
            r#"{"steps": [1, 2]}"#,
        );
    } else {
        std::fs::create_dir_all(&root).unwrap();
    }
    root
}

#[test]
fn projects_and_workflow_sessions_are_listed_filtered_and_shown() {
    let s = start();
    let root = project(&s.dir, "app", 20);
    let (status, body) = post(
        &format!("{}/api/projects", s.base),
        &json!({"path": root, "name": "app"}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (
            body["project"]["name"].as_str(),
            body["sync"]["indexed"].as_u64()
        ),
        (Some("app"), Some(20))
    );

    let (status, body) = get(&format!("{}/api/projects", s.base));
    assert_eq!(status, 200);
    let app = body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "app")
        .unwrap();
    assert_eq!(
        (
            app["workflow_sessions"].as_u64(),
            app["registered"].as_bool()
        ),
        (Some(20), Some(true))
    );
    assert_eq!(app["workflow_by_phase"]["build"], 4);
    assert_eq!(
        app["project_dir"],
        root.canonicalize().unwrap().display().to_string()
    );

    let list = |query: &str| get(&format!("{}/api/workflow-sessions?{query}", s.base));
    let (status, body) = list("project=app&phase=build");
    assert_eq!(status, 200);
    assert_eq!(body["sessions"].as_array().unwrap().len(), 4);
    let (_, body) = list("min_checkpoints=4");
    assert_eq!(body["sessions"].as_array().unwrap().len(), 6);
    let (_, body) = list(&format!(
        "project={}&limit=2&offset=1",
        enc(&root.display().to_string())
    ));
    let slugs: Vec<&str> = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["s18", "s17"]);
    assert_error(list("min_checkpoints=lots"), 400, "min_checkpoints");
    assert_error(list("colour=red"), 400, "colour");
    assert_error(list("project=nope"), 404, "no registered project");

    let (status, one) = get(&format!("{}/api/workflow-sessions/app/s00", s.base));
    assert_eq!(status, 200);
    assert_eq!(
        (one["title"].as_str(), one["phase"].as_str()),
        (Some("The first one"), Some("spec"))
    );
    assert_eq!(one["state"]["status"], "spec");
    assert_eq!(
        (one["has_spec"].as_bool(), one["has_plan"].as_bool()),
        (Some(true), Some(true))
    );
    assert_error(
        get(&format!("{}/api/workflow-sessions/app/nope", s.base)),
        404,
        "no workflow session",
    );

    let (status, content_type, bytes) =
        get_raw(&format!("{}/api/workflow-sessions/app/s00/spec", s.base));
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/markdown; charset=utf-8")
    );
    assert_eq!(bytes, b"# The first one\n\nbody\n");
    let (status, plan) = get(&format!("{}/api/workflow-sessions/app/s00/plan", s.base));
    assert_eq!((status, plan), (200, json!({"steps": [1, 2]})));
    // Artifacts are read from disk: a change shows before any sync.
    write(
        &root.join("agents/sessions/s01/state.json"),
        r#"{"phase": "plan", "fresh": true}"#,
    );
    let (_, state) = get(&format!("{}/api/workflow-sessions/app/s01/state", s.base));
    assert_eq!(state["fresh"], true);
    assert_error(
        get(&format!("{}/api/workflow-sessions/app/s01/spec", s.base)),
        404,
        "spec.md",
    );
    assert_error(
        get(&format!("{}/api/workflow-sessions/app/s01/secrets", s.base)),
        404,
        "spec, plan or state",
    );

    // The OpenAPI document lists every workflow route.
    let (_, spec) = get(&format!("{}/api/openapi.json", s.base));
    assert!(spec["paths"]["/api/projects"].get("post").is_some());
    for path in [
        "/api/workflow-sessions",
        "/api/workflow-sessions/import",
        "/api/workflow-sessions/{project}/{slug}",
        "/api/workflow-sessions/{project}/{slug}/spec",
        "/api/workflow-sessions/{project}/{slug}/plan",
        "/api/workflow-sessions/{project}/{slug}/state",
        "/api/workflow-sessions/{project}/{slug}/phase",
        "/api/workflow-sessions/{project}/{slug}/checkpoints",
    ] {
        assert!(spec["paths"].get(path).is_some(), "openapi lacks {path}");
    }
}

#[test]
fn artifacts_are_never_read_from_outside_the_project_root() {
    let s = start();
    let root = project(&s.dir, "app", 2);
    write(
        &s.dir.join("outside/secret/state.json"),
        r#"{"secret": true}"#,
    );
    write(&s.dir.join("outside/spec.md"), "# secret\n");
    std::os::unix::fs::symlink(
        s.dir.join("outside/secret"),
        root.join("agents/sessions/linked-dir"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        s.dir.join("outside/spec.md"),
        root.join("agents/sessions/s01/spec.md"),
    )
    .unwrap();
    assert_eq!(
        post(
            &format!("{}/api/projects", s.base),
            &json!({"path": root, "name": "app"})
        )
        .0,
        201
    );
    let artifact = |slug: &str, part: &str| {
        get_raw(&format!(
            "{}/api/workflow-sessions/app/{slug}/{part}",
            s.base
        ))
    };
    // Sent as typed (a client library would resolve dot segments first): refused or not routed, never read.
    let outside = s.dir.join("outside/secret").display().to_string();
    for path in [
        "/api/workflow-sessions/app/../state".to_owned(),
        "/api/workflow-sessions/app/%2E%2E/state".to_owned(),
        format!(
            "/api/workflow-sessions/app/{}/state",
            enc("../../outside/secret")
        ),
        format!("/api/workflow-sessions/app/{}/state", enc("/etc")),
        format!("/api/workflow-sessions/app/{}/state", enc(&outside)),
        format!(
            "/api/workflow-sessions/app/s00/state/{}",
            enc("../../../outside/secret/state.json")
        ),
    ] {
        let (status, body) = raw_get(&s.base, &path);
        assert!(status == 400 || status == 404, "{path}: {status} {body}");
        assert!(!body.contains("true"), "{path}: {body}");
    }
    let (status, body) = raw_get(
        &s.base,
        &format!("/api/workflow-sessions/app/{}/state", enc("..")),
    );
    assert_eq!(status, 400, "{body}");
    for (slug, part) in [("linked-dir", "state"), ("s01", "spec")] {
        let (status, _, body) = artifact(slug, part);
        assert_eq!(status, 400, "{slug}/{part}");
        assert!(String::from_utf8_lossy(&body).contains("outside the project root"));
    }
    // The symlinked folder is not indexed either.
    let (_, body) = get(&format!("{}/api/workflow-sessions?project=app", s.base));
    assert!(body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["slug"] != "linked-dir"));
}

#[test]
fn writes_go_through_the_state_manager_and_are_indexed() {
    let s = start();
    let root = project(&s.dir, "app", 0);
    assert_eq!(
        post(
            &format!("{}/api/projects", s.base),
            &json!({"path": root, "name": "app"})
        )
        .0,
        201
    );
    let url = format!("{}/api/workflow-sessions", s.base);
    let (status, created) = post(
        &url,
        &json!({"project": "app", "slug": "feature", "title": "Feature"}),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (
            created["version"].as_u64(),
            created["row"]["phase"].as_str()
        ),
        (Some(1), Some("spec"))
    );
    assert!(root.join("agents/sessions/feature/state.json").is_file());
    assert_error(
        post(&url, &json!({"project": "app", "slug": "feature"})),
        400,
        "already exists",
    );
    assert_error(
        post(&url, &json!({"project": "app", "slug": "../x"})),
        400,
        "invalid slug",
    );
    assert_error(post(&url, &json!({"project": "app"})), 400, "slug");

    let change = |part: &str, body: Value| post(&format!("{url}/app/feature/{part}"), &body);
    let (status, saved) = change(
        "checkpoints",
        json!({"add": "tests", "id": "t", "expected_version": 1}),
    );
    assert_eq!(
        (status, saved["row"]["checkpoints_total"].as_u64()),
        (200, Some(1))
    );
    let (status, saved) = change("phase", json!({"phase": "plan", "expected_version": 2}));
    assert_eq!(
        (
            status,
            saved["row"]["phase"].as_str(),
            saved["version"].as_u64()
        ),
        (200, Some("plan"), Some(3))
    );
    assert_error(
        change("phase", json!({"phase": "build", "expected_version": 2})),
        400,
        "version conflict",
    );
    assert_error(
        change("phase", json!({"phase": "done"})),
        400,
        "cannot go from plan to done",
    );
    let (status, saved) = change("checkpoints", json!({"done": "t"}));
    assert_eq!(
        (status, saved["row"]["checkpoints_done"].as_u64()),
        (200, Some(1))
    );
    assert_error(change("rename", json!({})), 404, "phase or checkpoints");

    // A folder an agent wrote on its own is picked up by the import a UI fires when the project opens.
    write(
        &root.join("agents/sessions/by-agent/state.json"),
        r#"{"title": "By agent", "status": "building"}"#,
    );
    let (status, report) = post(&format!("{url}/import"), &json!({"project": "app"}));
    assert_eq!(
        (status, report["indexed"].as_u64()),
        (200, Some(1)),
        "{report}"
    );
    let (_, one) = get(&format!("{url}/app/by-agent"));
    assert_eq!(one["phase"], "build");

    // Writes must be JSON from this server's own pages.
    let (status, _) = post_with(
        &url,
        &json!({"project": "app", "slug": "evil"}),
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://evil.example"),
        ],
    );
    assert_eq!(status, 403);
    let (status, _) = post_with(
        &format!("{url}/import"),
        &json!({"project": "app"}),
        &[("Content-Type", "text/plain")],
    );
    assert_eq!(status, 415);
    let (status, _) = post_with(
        &format!("{}/api/projects", s.base),
        &json!({"path": "/"}),
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://evil.example"),
        ],
    );
    assert_eq!(status, 403);
    assert!(!root.join("agents/sessions/evil").exists());
}

/// Polls `check` until it holds or `limit` passes; how long it took.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn serve_indexes_what_agents_save_without_making_them_wait() {
    let s = start();
    let root = project(&s.dir, "app", 1);
    assert_eq!(
        post(
            &format!("{}/api/projects", s.base),
            &json!({"path": root, "name": "app"})
        )
        .0,
        201
    );
    let url = format!("{}/api/workflow-sessions/app", s.base);

    // An agent writes a folder itself, after the sync the registration started: the watcher on the project's
    // workflow folders picks it up (the periodic rescan is a minute away).
    std::thread::sleep(Duration::from_millis(500));
    write(
        &root.join("agents/sessions/by-hand/state.json"),
        r#"{"title": "By hand", "phase": "plan"}"#,
    );
    let seen = eventually(Duration::from_secs(10), || {
        get(&format!("{url}/by-hand")).0 == 200
    });
    assert!(
        seen.is_some(),
        "a folder written on disk was not indexed by serve"
    );

    // 16 agents save through state managers whose on_save hook queues the index on serve's syncer.
    let manager = sessiondb_service::StateManager::open(&root)
        .unwrap()
        .with_source("agent")
        .with_on_save(s.live.on_save());
    manager
        .create(&sessiondb_service::NewSession {
            slug: "busy".into(),
            ..Default::default()
        })
        .unwrap();
    let slowest = std::sync::Mutex::new(Duration::ZERO);
    std::thread::scope(|scope| {
        for w in 0..16 {
            let (manager, slowest) = (&manager, &slowest);
            scope.spawn(move || {
                for n in 0..4 {
                    loop {
                        let serde_json::Value::Object(state) = manager.read("busy").unwrap() else {
                            panic!("state.json is not an object")
                        };
                        let version = sessiondb_workflow_version(&state);
                        let op = sessiondb_service::CheckpointOp::Add {
                            id: Some(format!("w{w}-{n}")),
                            title: "t".into(),
                        };
                        let started = std::time::Instant::now();
                        let result = manager.checkpoint("busy", &op, Some(version));
                        let took = started.elapsed();
                        let mut slowest = slowest.lock().unwrap();
                        *slowest = (*slowest).max(took);
                        match result {
                            Ok(_) => break,
                            Err(sessiondb_service::StateError::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    let indexed = eventually(Duration::from_secs(10), || {
        get(&format!("{url}/busy")).1["checkpoints_total"] == 64
    });
    assert!(indexed.is_some(), "the last save was never indexed");
    eprintln!(
        "slowest save under 16 writers: {:?}; last save indexed {:?} after the writers finished",
        slowest.lock().unwrap(),
        indexed.unwrap()
    );
    let state: Value = serde_json::from_slice(
        &std::fs::read(root.join("agents/sessions/busy/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            state["version"].as_u64(),
            state["checkpoints"].as_array().unwrap().len()
        ),
        (Some(65), 64)
    );
}

fn sessiondb_workflow_version(state: &serde_json::Map<String, Value>) -> u64 {
    state.get("version").and_then(Value::as_u64).unwrap_or(0)
}
