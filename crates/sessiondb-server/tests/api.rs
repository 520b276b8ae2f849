//! The API over real HTTP on an ephemeral port, on a copy of a real Claude Code tree: every endpoint, its
//! error paths, live events, the token, path traversal and the security headers.

use serde_json::Value;
use sessiondb_ingest::{ClaudeCodeSource, Quiet, SyncOptions};
use sessiondb_server::{AppState, Events, HostPolicy, LiveSync, Readers, ServeOptions};
use sessiondb_store::Location;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .canonicalize()
        .unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A server on 127.0.0.1:0 over a synced copy of the 2.1.330 sample; stops when dropped.
struct Server {
    base: String,
    root: PathBuf,
    expected: Value,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

fn start(token: Option<&str>) -> Server {
    start_with(token, sessiondb_server::ServeOptions::default(), &[])
}

fn start_with(token: Option<&str>, options: ServeOptions, allow_hosts: &[&str]) -> Server {
    let allowed: Vec<String> = allow_hosts.iter().map(|h| h.to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let sample = shared_dir().join("samples/claude-code-2.1.330");
    let root = dir.path().join("claude");
    std::fs::create_dir_all(&root).unwrap();
    copy_tree(&sample.join("projects"), &root.join("projects"));
    std::fs::copy(sample.join("history.jsonl"), root.join("history.jsonl")).unwrap();
    let root = root.canonicalize().unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(sample.join("expected.json")).unwrap())
            .unwrap();
    let db = dir.path().join("index.db");
    let mut store = sessiondb_store::open(&Location::parse(&db)).unwrap();
    sessiondb_ingest::sync(
        store.as_mut(),
        &ClaudeCodeSource,
        std::slice::from_ref(&root),
        &SyncOptions::default(),
        &Quiet,
    )
    .unwrap();
    drop(store);

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let token = token.map(std::sync::Arc::<str>::from);
    let roots = vec![root.clone()];
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let events = Events::new();
            let live = LiveSync::start(
                Location::parse(&db),
                roots,
                events.clone(),
                true,
                Duration::from_secs(60),
            );
            let state = AppState {
                readers: std::sync::Arc::new(Readers::new(Location::parse(&db))),
                events,
                live,
                token,
                hosts: std::sync::Arc::new(HostPolicy::new(Some("127.0.0.1"), &allowed)),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            sessiondb_server::serve(listener, state, options, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    Server {
        base: format!("http://{addr}"),
        root,
        expected,
        _dir: dir,
        _shutdown: tx,
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

/// Status and JSON body of a GET, for any status.
fn get(url: &str) -> (u16, Value) {
    match agent().get(url).call() {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{url}: {e}"),
    }
}

fn post(url: &str, body: &str) -> (u16, Value) {
    match agent()
        .post(url)
        .set("Content-Type", "application/json")
        .send_string(body)
    {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{url}: {e}"),
    }
}

/// POSTs over a plain socket and returns the status: the server may answer 413 and close before a client
/// library finishes sending, which such a library reports as a broken connection instead of the status.
fn raw_post_status(base: &str, path: &str, body: &str) -> u16 {
    use std::io::Read;
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(request.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
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
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn sessions_endpoints_filters_paging_and_errors() {
    let s = start(None);
    let base = &s.base;
    assert_eq!(get(&format!("{base}/api/health")).1["status"], "ok");

    let (code, all) = get(&format!("{base}/api/sessions?limit=500"));
    assert_eq!(code, 200);
    let total = all["total"].as_u64().unwrap();
    assert!(total >= s.expected["sessions"].as_array().unwrap().len() as u64);
    // Paging: two pages of 2 are the first four of the full list.
    let first: Vec<Value> = all["sessions"].as_array().unwrap()[..4].to_vec();
    let p1 = get(&format!("{base}/api/sessions?limit=2&offset=0")).1;
    let p2 = get(&format!("{base}/api/sessions?limit=2&offset=2")).1;
    assert_eq!(
        [
            p1["sessions"].as_array().unwrap().clone(),
            p2["sessions"].as_array().unwrap().clone()
        ]
        .concat(),
        first
    );
    // Filters.
    let proj_b = get(&format!(
        "{base}/api/sessions?project={}",
        enc("/home/alice/work/proj.b_with under score")
    ))
    .1;
    assert!(proj_b["total"].as_u64().unwrap() >= 1);
    assert!(proj_b["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["project_dir"].as_str().unwrap().contains("under score")));
    let found = get(&format!("{base}/api/sessions?q=HELLO")).1;
    assert!(found["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["first_prompt"] == "hello"));
    let by_cost = get(&format!(
        "{base}/api/sessions?sort=cost&order=asc&limit=500"
    ))
    .1;
    let costs: Vec<f64> = by_cost["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["cost_usd"].as_f64().unwrap())
        .collect();
    assert!(costs.windows(2).all(|w| w[0] <= w[1]));
    let on_disk = get(&format!("{base}/api/sessions?state=on_disk&limit=500")).1;
    assert!(on_disk["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["state"] == "on_disk"));
    assert_eq!(
        get(&format!("{base}/api/sessions?min_cost=1000000")).1["total"],
        0
    );
    // Errors: unknown and malformed parameters.
    assert_error(
        get(&format!("{base}/api/sessions?bogus=1")),
        400,
        "unknown field `bogus`",
    );
    assert_error(get(&format!("{base}/api/sessions?limit=0")), 400, "limit");
    assert_error(get(&format!("{base}/api/sessions?limit=abc")), 400, "limit");
    assert_error(
        get(&format!("{base}/api/sessions?state=lost")),
        400,
        "state",
    );
    assert_error(
        get(&format!("{base}/api/sessions?since=yesterday")),
        400,
        "since",
    );
    assert_error(get(&format!("{base}/api/sessions?sort=name")), 400, "sort");

    // One session, its messages and chain.
    let fork = s.expected["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "fork")
        .unwrap();
    let fork_id = fork["to"].as_str().unwrap();
    let (code, detail) = get(&format!("{base}/api/sessions/{fork_id}"));
    assert_eq!(code, 200);
    assert_eq!(detail["session_id"], fork_id);
    assert!(detail["usage_by_model"].is_array());
    assert_error(
        get(&format!("{base}/api/sessions/no-such-session")),
        404,
        "no session",
    );
    let messages = get(&format!("{base}/api/sessions/{fork_id}/messages?limit=3")).1;
    assert_eq!(
        messages["messages"].as_array().unwrap().len(),
        3.min(messages["total"].as_u64().unwrap() as usize)
    );
    let everything = get(&format!(
        "{base}/api/sessions/{fork_id}/messages?include=all&limit=1000"
    ))
    .1;
    assert!(everything["total"].as_u64().unwrap() >= messages["total"].as_u64().unwrap());
    assert_error(
        get(&format!(
            "{base}/api/sessions/{fork_id}/messages?include=some"
        )),
        400,
        "include",
    );
    assert_error(
        get(&format!("{base}/api/sessions/nope/messages")),
        404,
        "no session",
    );
    let chain = get(&format!("{base}/api/sessions/{fork_id}/chain")).1;
    assert_eq!(chain["chain_id"], fork["from"]);
    assert!(chain["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["kind"] == "fork" && l["to"] == fork_id));
    assert_error(
        get(&format!("{base}/api/sessions/nope/chain")),
        404,
        "no session",
    );

    // Projects add up to the sessions.
    let projects = get(&format!("{base}/api/projects")).1;
    let counted: u64 = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["session_count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, total);

    // Usage.
    let daily = get(&format!("{base}/api/usage?group_by=day&tz=Europe/Berlin")).1;
    let by_model = get(&format!("{base}/api/usage?group_by=model")).1;
    assert_eq!(
        daily["totals"]["total_tokens"],
        by_model["totals"]["total_tokens"]
    );
    assert!(daily["totals"]["total_tokens"].as_u64().unwrap() > 0);
    assert_error(
        get(&format!("{base}/api/usage?group_by=year")),
        400,
        "group_by",
    );
    assert_error(get(&format!("{base}/api/usage?tz=Mars/Base")), 400, "tz");
    assert_error(
        get(&format!("{base}/api/usage?since=2026-13-01")),
        400,
        "since",
    );
    // Billing blocks hold every token of the report, none twice; gaps hold none.
    let blocks = get(&format!("{base}/api/usage/blocks")).1;
    let blocks = blocks["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty());
    let in_blocks: u64 = blocks
        .iter()
        .map(|b| b["totalTokens"].as_u64().unwrap())
        .sum();
    assert_eq!(Some(in_blocks), by_model["totals"]["total_tokens"].as_u64());
    assert!(blocks
        .iter()
        .filter(|b| b["isGap"] == true)
        .all(|b| b["totalTokens"] == 0 && b["entries"] == 0));
    let active = get(&format!("{base}/api/usage/blocks?only=active")).1;
    assert!(active["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["isActive"] == true));
    assert_error(
        get(&format!("{base}/api/usage/blocks?only=some")),
        400,
        "only",
    );

    // The OpenAPI document lists every route.
    let spec = get(&format!("{base}/api/openapi.json")).1;
    for path in [
        "/api/usage/blocks",
        "/api/sessions",
        "/api/sessions/{id}",
        "/api/sessions/{id}/messages",
        "/api/sessions/{id}/chain",
        "/api/projects",
        "/api/projects/{key}/latest-session",
        "/api/projects/{key}/transitions",
        "/api/projects/{key}/chain",
        "/api/usage",
        "/api/sync",
        "/api/sync/status",
        "/api/events",
        "/api/health",
    ] {
        assert!(spec["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    // Unknown routes and wrong methods.
    assert_error(get(&format!("{base}/api/nothing")), 404, "no such");
    let wrong = agent().delete(&format!("{base}/api/sessions")).call();
    assert!(matches!(wrong, Err(ureq::Error::Status(405, _))));
}

#[test]
fn registry_endpoints_record_and_answer() {
    let s = start(None);
    let base = &s.base;
    let head = &s.expected["heads"][0];
    let key = enc("app:project-42");
    let session = head["head"].as_str().unwrap();
    let (code, t) = post(
        &format!("{base}/api/projects/{key}/transitions"),
        &format!(r#"{{"session_id":"{session}","source":"build"}}"#),
    );
    assert_eq!(code, 201, "{t}");
    assert_eq!(t["previous_session_id"], Value::Null);
    let log = get(&format!("{base}/api/projects/{key}/transitions")).1;
    assert_eq!(log["transitions"].as_array().unwrap().len(), 1);
    let latest = get(&format!("{base}/api/projects/{key}/latest-session")).1;
    assert_eq!(latest["session_id"], session);
    assert_eq!(latest["valid"], true);
    let chain = get(&format!("{base}/api/projects/{key}/chain")).1;
    assert!(chain["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["session_id"] == session));
    // A directory as the key.
    let dir = get(&format!(
        "{base}/api/projects/{}/latest-session",
        enc(head["cwd"].as_str().unwrap())
    ))
    .1;
    assert_eq!(dir["session_id"], session);
    // Errors.
    assert_error(
        get(&format!(
            "{base}/api/projects/{}/latest-session",
            enc("app:unknown")
        )),
        404,
        "no key",
    );
    assert_error(
        post(
            &format!("{base}/api/projects/{key}/transitions"),
            r#"{"source":"build"}"#,
        ),
        400,
        "session_id",
    );
    assert_error(
        post(
            &format!("{base}/api/projects/{key}/transitions"),
            r#"{"session_id":"x","source":"b","extra":1}"#,
        ),
        400,
        "unknown field",
    );
    assert_error(
        post(
            &format!("{base}/api/projects/{key}/transitions"),
            r#"{"session_id":"#,
        ),
        400,
        "invalid JSON",
    );
    assert_error(
        post(&format!("{base}/api/projects/{key}/transitions"), ""),
        400,
        "required",
    );
    assert_error(
        post(
            &format!("{base}/api/projects/{key}/transitions"),
            r#"{"session_id":" ","source":"b"}"#,
        ),
        400,
        "empty",
    );
    let huge = format!(
        r#"{{"session_id":"x","source":"b","note":"{}"}}"#,
        "n".repeat(70 * 1024)
    );
    assert_eq!(
        raw_post_status(base, &format!("/api/projects/{key}/transitions"), &huge),
        413
    );

    // Concurrent transitions through HTTP: none lost, the log is one unbroken sequence.
    let key = &key;
    std::thread::scope(|scope| {
        for t in 0..8 {
            scope.spawn(move || {
                for i in 0..25 {
                    let (code, _) = post(
                        &format!("{base}/api/projects/{key}/transitions"),
                        &format!(r#"{{"session_id":"t{t}-{i}","source":"chat_plan"}}"#),
                    );
                    assert_eq!(code, 201);
                }
            });
        }
    });
    let log = get(&format!("{base}/api/projects/{key}/transitions")).1;
    let log = log["transitions"].as_array().unwrap();
    assert_eq!(log.len(), 1 + 8 * 25);
    for pair in log.windows(2) {
        assert_eq!(pair[1]["previous_session_id"], pair[0]["session_id"]);
    }
}

/// Reads SSE events until one of `kind` arrives, within `timeout`.
fn wait_for_event(reader: &mut impl BufRead, kind: &str) -> Value {
    let mut line = String::new();
    let mut current = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .expect("event stream read (timed out?)");
        assert!(n > 0, "event stream closed");
        let line = line.trim_end();
        if let Some(name) = line.strip_prefix("event: ") {
            current = name.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            if current == kind {
                return serde_json::from_str(data).unwrap();
            }
        }
    }
}

#[test]
fn live_sync_events_and_sync_endpoints() {
    let s = start(None);
    let base = &s.base;
    let stream = ureq::AgentBuilder::new()
        .timeout_read(Duration::from_secs(10))
        .build()
        .get(&format!("{base}/api/events"))
        .call()
        .unwrap();
    let mut events = BufReader::new(stream.into_reader());

    // Another process appends a line: the session's new message is visible through the API, with an event.
    let head = s.expected["heads"][0]["head"].as_str().unwrap().to_owned();
    let file = s
        .root
        .join("projects/-home-alice-work-proj-a")
        .join(format!("{head}.jsonl"));
    let before = get(&format!("{base}/api/sessions/{head}/messages?limit=1000")).1["total"]
        .as_u64()
        .unwrap();
    let line = format!(
        r#"{{"type":"user","sessionId":"{head}","uuid":"live-line-1","cwd":"/home/alice/work/proj-a","timestamp":"2026-11-23T18:00:00.000Z","message":{{"role":"user","content":"appended while serving"}}}}"#
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(format!("{line}\n").as_bytes())
        .unwrap();
    let event = wait_for_event(&mut events, "session_appended");
    assert_eq!(event["session_id"], head.as_str());
    let after = get(&format!("{base}/api/sessions/{head}/messages?limit=1000")).1;
    assert_eq!(after["total"].as_u64().unwrap(), before + 1);
    assert_eq!(
        after["messages"].as_array().unwrap().last().unwrap()["text"],
        "appended while serving"
    );

    // A new session file: session_created.
    let new_id = "5e55e55e-0000-4000-8000-000000000001";
    std::fs::write(
        s.root.join("projects/-home-alice-work-proj-a").join(format!("{new_id}.jsonl")),
        format!(r#"{{"type":"user","sessionId":"{new_id}","uuid":"n1","cwd":"/home/alice/work/proj-a","timestamp":"2026-11-23T18:01:00.000Z","message":{{"content":"brand new"}}}}"#) + "\n",
    )
    .unwrap();
    assert_eq!(
        wait_for_event(&mut events, "session_created")["session_id"],
        new_id
    );

    // A fork into a new id (its copied lines name their origin): session_created, then session_resumed.
    let fork_id = "5e55e55e-0000-4000-8000-000000000002";
    let copied = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .find(|l| l.contains(r#""type":"user""#))
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v["sessionId"] = fork_id.into();
            v["requestSessionId"] = head.as_str().into();
            serde_json::to_string(&v).unwrap()
        })
        .unwrap();
    let own = format!(
        r#"{{"type":"user","sessionId":"{fork_id}","uuid":"fork-own-1","parentUuid":null,"cwd":"/home/alice/work/proj-a","timestamp":"2026-11-23T18:01:30.000Z","message":{{"content":"the forked turn"}}}}"#
    );
    std::fs::write(
        s.root
            .join("projects/-home-alice-work-proj-a")
            .join(format!("{fork_id}.jsonl")),
        format!("{copied}\n{own}\n"),
    )
    .unwrap();
    let resumed = wait_for_event(&mut events, "session_resumed");
    assert_eq!(resumed["session_id"], fork_id);
    assert_eq!(resumed["related"], head.as_str());

    // Deleted on disk: session_deleted, and the session stays queryable.
    std::fs::remove_file(
        s.root
            .join("projects/-home-alice-work-proj-a")
            .join(format!("{new_id}.jsonl")),
    )
    .unwrap();
    assert_eq!(
        wait_for_event(&mut events, "session_deleted")["session_id"],
        new_id
    );
    assert_eq!(
        get(&format!("{base}/api/sessions/{new_id}")).1["state"],
        "deleted"
    );

    // A compaction boundary appended: session_compacted.
    let boundary = format!(
        r#"{{"type":"system","subtype":"compact_boundary","sessionId":"{head}","uuid":"live-compact-1","parentUuid":null,"logicalParentUuid":"live-line-1","cwd":"/home/alice/work/proj-a","timestamp":"2026-11-23T18:02:00.000Z","compactMetadata":{{"trigger":"manual","preTokens":1000}}}}"#
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(format!("{boundary}\n").as_bytes())
        .unwrap();
    assert_eq!(
        wait_for_event(&mut events, "session_compacted")["session_id"],
        head.as_str()
    );

    // A running Claude Code process's live-state file goes away: session_ended.
    let live_dir = s.root.join("sessions");
    std::fs::create_dir_all(&live_dir).unwrap();
    std::fs::write(
        live_dir.join("4242.json"),
        format!(r#"{{"pid":4242,"sessionId":"{head}","cwd":"/home/alice/work/proj-a"}}"#),
    )
    .unwrap();
    post(&format!("{base}/api/sync"), "");
    std::fs::remove_file(live_dir.join("4242.json")).unwrap();
    post(&format!("{base}/api/sync"), "");
    assert_eq!(
        wait_for_event(&mut events, "session_ended")["session_id"],
        head.as_str()
    );

    // A transition posted by an app.
    post(
        &format!("{base}/api/projects/{}/transitions", enc("app:x")),
        &format!(r#"{{"session_id":"{head}","source":"build"}}"#),
    );
    assert_eq!(
        wait_for_event(&mut events, "transition_recorded")["related"],
        "app:x"
    );

    // Sync on demand, and its status.
    let (code, report) = post(&format!("{base}/api/sync"), "");
    assert_eq!(code, 200, "{report}");
    assert!(report["files_seen"].as_u64().unwrap() > 0);
    let (code, _) = post(
        &format!("{base}/api/sync"),
        &format!(r#"{{"dir":"{}"}}"#, s.root.display()),
    );
    assert_eq!(code, 200);
    assert_error(
        post(&format!("{base}/api/sync"), r#"{"dir":"/etc"}"#),
        400,
        "not one of the served",
    );
    assert_error(
        post(&format!("{base}/api/sync"), r#"{"folder":"/etc"}"#),
        400,
        "unknown field",
    );
    let status = get(&format!("{base}/api/sync/status")).1;
    assert!(status["syncs"].as_u64().unwrap() >= 3);
    assert_eq!(status["watching"], true);
    assert!(status["last_lag_ms"].is_u64());
    assert_eq!(status["implausible_numbers_total"], 0);

    // Two responses claiming $1e308 each: before, the sync failed on the infinite sum and the server stopped
    // syncing; now they are not counted, and the status says how many numbers were left out.
    let hostile: String = (0..2)
        .map(|i| {
            format!(
                r#"{{"type":"assistant","sessionId":"{head}","uuid":"live-hostile-{i}","cwd":"/home/alice/work/proj-a","timestamp":"2026-11-23T18:01:00.000Z","requestId":"req-hostile-{i}","message":{{"id":"msg-hostile-{i}","role":"assistant","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":1,"output_tokens":1}}}},"costUSD":1e308}}"#
            ) + "\n"
        })
        .collect();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(hostile.as_bytes())
        .unwrap();
    let (code, report) = post(&format!("{base}/api/sync"), "");
    assert_eq!(code, 200, "{report}");
    let status = get(&format!("{base}/api/sync/status")).1;
    assert_eq!(status["last_error"], Value::Null, "{status}");
    assert_eq!(status["implausible_numbers_total"], 2, "{status}");
    assert_eq!(get(&format!("{base}/api/sessions/{head}")).0, 200);
}

#[test]
fn token_traversal_and_security_headers() {
    let s = start(Some("s3cret"));
    let base = &s.base;
    assert_error(get(&format!("{base}/api/sessions")), 401, "token");
    assert_error(
        get(&format!("{base}/api/sessions?token=wrong")),
        401,
        "token",
    );
    let ok = agent()
        .get(&format!("{base}/api/sessions"))
        .set("Authorization", "Bearer s3cret")
        .call()
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The token parameter is consumed, not an unknown parameter.
    assert_eq!(
        get(&format!("{base}/api/sessions?token=s3cret&limit=1")).0,
        200
    );
    assert_eq!(get(&format!("{base}/?token=s3cret")).0, 200);

    let page = agent()
        .get(&format!("{base}/?token=s3cret"))
        .call()
        .unwrap();
    let csp = page.header("content-security-policy").unwrap().to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // Nothing outside the compiled-in assets is ever served, however the path is spelled.
    for path in [
        "/../../../../etc/passwd",
        "/app.js/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "/api/sessions/..%2f..%2fetc%2fpasswd",
    ] {
        let url = format!("{base}{path}?token=s3cret");
        let response = agent().get(&url).call();
        let (code, body) = match response {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(e) => panic!("{e}"),
        };
        assert!(code == 404 || code == 400, "{path}: {code}");
        assert!(!body.contains("root:"), "{path} leaked a file");
    }
}

#[test]
fn only_loopback_is_served_without_a_token() {
    assert!(sessiondb_server::is_loopback(
        &"127.0.0.1:7777".parse().unwrap()
    ));
    assert!(sessiondb_server::is_loopback(
        &"[::1]:7777".parse().unwrap()
    ));
    assert!(!sessiondb_server::is_loopback(
        &"0.0.0.0:7777".parse().unwrap()
    ));
    assert!(!sessiondb_server::is_loopback(
        &"192.168.1.5:7777".parse().unwrap()
    ));
}

/// Sends one request over a plain socket, with exactly the given head lines after the request line (a client
/// library would set `Host` itself); returns the status and the JSON body.
fn raw(base: &str, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, Value) {
    use std::io::Read;
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let _ = stream.write_all(request.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

#[test]
fn only_the_servers_own_host_names_are_answered() {
    let s = start_with(None, ServeOptions::default(), &["sessions.example.org"]);
    let base = &s.base;
    let port = base.rsplit(':').next().unwrap();
    // DNS rebinding: a page on attacker.example whose name now resolves to 127.0.0.1.
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_owned(),
        format!("localhost.attacker.example:{port}"),
    ] {
        let (code, body) = raw(
            base,
            "GET",
            "/api/sessions",
            &[&format!("Host: {host}")],
            "",
        );
        assert_eq!(code, 421, "{host}: {body}");
        assert_eq!(body["error"]["code"], "unknown_host", "{host}");
        assert!(body.get("sessions").is_none());
    }
    // No Host at all is refused too.
    assert_eq!(raw(base, "GET", "/api/health", &[], "").0, 421);
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("sessions.example.org:{port}"),
    ] {
        let (code, body) = raw(
            base,
            "GET",
            "/api/sessions",
            &[&format!("Host: {host}")],
            "",
        );
        assert_eq!(code, 200, "{host}: {body}");
        assert!(body["total"].as_u64().unwrap() > 0);
    }
}

#[test]
fn writes_must_be_json_from_this_servers_own_pages() {
    let s = start(None);
    let base = &s.base;
    let host = format!("Host: {}", base.trim_start_matches("http://"));
    let session = s.expected["sessions"][0]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = format!(r#"{{"session_id":"{session}","source":"attacker"}}"#);
    let transitions = "/api/projects/victim/transitions";
    // A form or fetch() from another site sends text/plain without a preflight: refused, nothing recorded.
    let plain = raw(
        base,
        "POST",
        transitions,
        &[
            &host,
            "Content-Type: text/plain",
            "Origin: http://evil.example",
        ],
        &body,
    );
    assert_eq!(plain.0, 403, "{}", plain.1);
    let plain = raw(
        base,
        "POST",
        transitions,
        &[&host, "Content-Type: text/plain"],
        &body,
    );
    assert_eq!(plain.0, 415, "{}", plain.1);
    assert_eq!(plain.1["error"]["code"], "unsupported_media_type");
    for cross in [
        "Origin: http://evil.example",
        "Origin: null",
        "Sec-Fetch-Site: cross-site",
        "Sec-Fetch-Site: same-site",
    ] {
        let (code, body) = raw(
            base,
            "POST",
            transitions,
            &[&host, "Content-Type: application/json", cross],
            &body,
        );
        assert_eq!(code, 403, "{cross}: {body}");
        assert_eq!(body["error"]["code"], "cross_site");
    }
    assert_eq!(
        raw(
            base,
            "POST",
            "/api/sync",
            &[&host, "Content-Type: text/plain"],
            ""
        )
        .0,
        415
    );
    assert_eq!(
        raw(
            base,
            "POST",
            "/api/sync",
            &[
                &host,
                "Origin: http://evil.example",
                "Content-Type: application/json"
            ],
            "{}"
        )
        .0,
        403
    );
    let log = get(&format!("{base}/api/projects/victim/transitions")).1;
    assert_eq!(log["transitions"].as_array().unwrap().len(), 0, "{log}");
    // The web UI's own requests (same origin, JSON) and clients that send no Origin still work.
    let own_origin = format!("Origin: {base}");
    let (code, recorded) = raw(
        base,
        "POST",
        transitions,
        &[
            &host,
            "Content-Type: application/json; charset=utf-8",
            &own_origin,
            "Sec-Fetch-Site: same-origin",
        ],
        &body,
    );
    assert_eq!(code, 201, "{recorded}");
    assert_eq!(post(&format!("{base}/api/sync"), "{}").0, 200);
    let log = get(&format!("{base}/api/projects/victim/transitions")).1;
    assert_eq!(log["transitions"].as_array().unwrap().len(), 1, "{log}");
}

#[test]
fn every_error_is_the_apis_json_and_hostile_parameters_are_400() {
    let s = start(None);
    let base = &s.base;
    let host = format!("Host: {}", base.trim_start_matches("http://"));
    let expect = |response: (u16, Value), status: u16, code: &str| {
        assert_eq!(response.0, status, "{}", response.1);
        assert_eq!(response.1["error"]["code"], code, "{}", response.1);
        assert!(response.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    };
    expect(
        raw(base, "GET", "/api/nope", &[&host], ""),
        404,
        "not_found",
    );
    expect(
        raw(
            base,
            "DELETE",
            "/api/sessions",
            &[&host, "Content-Type: application/json"],
            "",
        ),
        405,
        "method_not_allowed",
    );
    expect(
        raw(
            base,
            "PUT",
            "/api/health",
            &[&host, "Content-Type: application/json"],
            "{}",
        ),
        405,
        "method_not_allowed",
    );
    let big = format!(r#"{{"dir":"{}"}}"#, "x".repeat(100_000));
    expect(
        raw(
            base,
            "POST",
            "/api/sync",
            &[&host, "Content-Type: application/json"],
            &big,
        ),
        413,
        "body_too_large",
    );
    expect(
        raw(base, "POST", "/api/sync", &[&host], "{}"),
        415,
        "unsupported_media_type",
    );
    expect(
        raw(base, "GET", "/api/health", &["Host: evil.example"], ""),
        421,
        "unknown_host",
    );
    for query in [
        "offset=9223372036854775808",
        "offset=9223372036854775807",
        "offset=-1",
        "limit=18446744073709551616",
        "min_cost=NaN",
        "min_cost=inf",
        "min_cost=-infinity",
        "min_cost=1e400",
        "min_cost=-1",
    ] {
        expect(
            get(&format!("{base}/api/sessions?{query}")),
            400,
            "bad_request",
        );
    }
    let long_q = "a".repeat(50_000);
    expect(
        get(&format!("{base}/api/sessions?q={long_q}")),
        400,
        "bad_request",
    );
    let id = s.expected["sessions"][0]["session_id"].as_str().unwrap();
    expect(
        get(&format!(
            "{base}/api/sessions/{id}/messages?offset=9223372036854775808"
        )),
        400,
        "bad_request",
    );
    // Within bounds, a far offset is an empty page, not an error.
    let far = get(&format!("{base}/api/sessions?offset=1000000000"));
    assert_eq!(far.0, 200);
    assert_eq!(far.1["sessions"].as_array().unwrap().len(), 0);
    let q = get(&format!("{base}/api/sessions?q={}", "a".repeat(1000)));
    assert_eq!(q.0, 200, "{}", q.1);
}

#[test]
fn the_token_is_compared_whole_in_any_bearer_case_and_decoded_from_the_query() {
    let s = start(Some("s3/cr+t=="));
    let base = &s.base;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = agent()
            .get(&format!("{base}/api/health"))
            .set("Authorization", &format!("{scheme} s3/cr+t=="))
            .call()
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
    assert_eq!(
        get(&format!("{base}/api/health?token={}", enc("s3/cr+t=="))).0,
        200
    );
    for wrong in ["s3/cr+t=", "s3/cr+t===", "S3/CR+T==", ""] {
        assert_eq!(
            get(&format!("{base}/api/health?token={}", enc(wrong))).0,
            401,
            "{wrong:?}"
        );
    }
    // The query parameter is for pages and EventSource (GET): a write must use the header.
    let host = format!("Host: {}", base.trim_start_matches("http://"));
    let path = format!("/api/sync?token={}", enc("s3/cr+t=="));
    assert_eq!(
        raw(
            base,
            "POST",
            &path,
            &[&host, "Content-Type: application/json"],
            "{}"
        )
        .0,
        401
    );
    assert_eq!(
        raw(
            base,
            "POST",
            "/api/sync",
            &[
                &host,
                "Content-Type: application/json",
                "Authorization: Bearer s3/cr+t=="
            ],
            "{}"
        )
        .0,
        200
    );
}

#[test]
fn slow_clients_are_dropped_and_cannot_lock_others_out() {
    use std::io::Read;
    let options = ServeOptions {
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        max_connections: 40,
    };
    let s = start_with(None, options, &[]);
    let addr = s.base.trim_start_matches("http://").to_owned();
    // A client that never finishes its headers is closed after the header timeout.
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    let started = std::time::Instant::now();
    let mut sink = Vec::new();
    let _ = slow.read_to_end(&mut sink);
    let closed_after = started.elapsed();
    assert!(
        closed_after >= Duration::from_millis(1500) && closed_after < Duration::from_secs(6),
        "closed after {closed_after:?}"
    );
    // A body that never arrives is given up on too.
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stalled
        .write_all(b"POST /api/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = stalled.read_to_end(&mut answer);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // Twice the cap in slow-header connections: each new one takes an older one's place, and a real request
    // still gets its answer at once.
    let mut attackers: Vec<std::net::TcpStream> = (0..80)
        .filter_map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).ok()?;
            c.write_all(b"GET / HTTP/1.1\r\nX-a: ").ok()?;
            Some(c)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let (code, body) = get(&format!("{}/api/health", s.base));
        assert_eq!(code, 200, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    attackers.clear();
}

/// This process's resident memory now and at its peak (`VmRSS`, `VmHWM`), in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap()
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn a_line_over_the_limit_is_shown_by_its_size_without_being_read() {
    let s = start(None);
    let base = &s.base;
    let session = s.expected["sessions"][0]["session_id"].as_str().unwrap();
    let file = s
        .root
        .join(s.expected["sessions"][0]["file"].as_str().unwrap());
    // A user line of 65 MiB (over the 64 MiB limit), written in pieces, then a normal line after it.
    {
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        write!(
            out,
            r#"{{"type":"user","sessionId":"{session}","uuid":"big-line","message":{{"role":"user","content":""#
        )
        .unwrap();
        let piece = vec![b'x'; 1 << 20];
        for _ in 0..65 {
            out.write_all(&piece).unwrap();
        }
        writeln!(out, r#""}}}}"#).unwrap();
        writeln!(
            out,
            r#"{{"type":"user","sessionId":"{session}","uuid":"after-big","message":{{"role":"user","content":"after the big line"}}}}"#
        )
        .unwrap();
    }
    assert_eq!(post(&format!("{base}/api/sync"), "{}").0, 200);
    let (_, all) = get(&format!(
        "{base}/api/sessions/{session}/messages?include=all&limit=1"
    ));
    let total = all["total"].as_u64().unwrap();
    // Forget the sync's peak, then page over the end of the session.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let (before, _) = memory();
    let (code, page) = get(&format!(
        "{base}/api/sessions/{session}/messages?include=all&offset={}&limit=10",
        total.saturating_sub(2)
    ));
    let (_, peak) = memory();
    assert_eq!(code, 200, "{page}");
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{page}");
    assert_eq!(
        messages[0]["skipped"], "too_long",
        "{}",
        messages[0]["size_bytes"]
    );
    assert!(messages[0]["size_bytes"].as_u64().unwrap() > 65 << 20);
    assert!(messages[0]["text"].as_str().unwrap().contains("bytes"));
    assert_eq!(messages[1]["text"], "after the big line");
    assert_eq!(messages[1]["index"].as_u64().unwrap(), total - 1);
    assert!(
        peak.saturating_sub(before) < 24 << 20,
        "the page of a 65 MiB line raised the peak by {} MiB",
        peak.saturating_sub(before) >> 20
    );
}
