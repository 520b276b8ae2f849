//! `sessiondb mcp` with real MCP clients over stdio: the Python `mcp` package (PyPI, installed by
//! `scripts/test.sh` into a venv) driven by `tests/mcp_client.py`, and the real Claude Code CLI against the
//! local mock of the Messages API. Each syncs a real sample tree, calls the tools, and checks the answers
//! against the sample's `expected.json`, the CLI's own answers and the database.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOOLS: [&str; 6] = [
    "get_session",
    "latest_session",
    "list_sessions",
    "record_transition",
    "session_chain",
    "usage_report",
];

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .canonicalize()
        .unwrap()
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

/// The venv's Python with the `mcp` package (`scripts/test.sh` makes it), or `None`.
fn mcp_python() -> Option<PathBuf> {
    let python = match std::env::var_os("SESSIONDB_TEST_MCP_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            cache.join("sessiondb-tests/python-mcp/bin/python")
        }
    };
    let ok = Command::new(&python)
        .args(["-c", "import mcp"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

/// A sample tree copied into a temp dir, synced into a database there.
struct Sample {
    root: tempfile::TempDir,
    expected: Value,
}

impl Sample {
    fn new(version: &str) -> Sample {
        let root = tempfile::tempdir().unwrap();
        let sample = shared_dir().join("samples").join(version);
        copy_tree(&sample, &root.path().join("claude"));
        let expected =
            serde_json::from_slice(&std::fs::read(sample.join("expected.json")).unwrap()).unwrap();
        Sample { root, expected }
    }

    fn claude_dir(&self) -> PathBuf {
        self.root.path().join("claude")
    }

    fn db(&self) -> PathBuf {
        self.root.path().join("index.db")
    }

    /// `sessiondb` with this sample's environment (and nothing from the caller's).
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root.path().join("home"))
            .env("XDG_CONFIG_HOME", self.root.path().join("config"))
            .env("XDG_DATA_HOME", self.root.path().join("data"))
            .env("XDG_RUNTIME_DIR", self.root.path())
            .env("CLAUDE_CONFIG_DIR", self.claude_dir())
            .env("SESSIONDB_DB", self.db())
            .env("TZ", "UTC");
        cmd
    }

    fn sessiondb(&self, args: &[&str]) -> Value {
        let out = self
            .command(Path::new(env!("CARGO_BIN_EXE_sessiondb")))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sessiondb {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// `tests/mcp_client.py` running `sessiondb mcp` with `calls`; its report.
    fn mcp_client(&self, python: &Path, calls: &Value) -> Value {
        let calls_file = self.root.path().join("calls.json");
        std::fs::write(&calls_file, calls.to_string()).unwrap();
        let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
        let out = run_with_deadline(
            self.command(python)
                .arg(client)
                .arg(&calls_file)
                .arg(env!("CARGO_BIN_EXE_sessiondb"))
                .arg("mcp"),
            Duration::from_secs(120),
        );
        assert!(
            out.status.success(),
            "mcp_client.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
            panic!(
                "mcp_client.py printed no report ({err}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

/// Runs `cmd` to its end, killing it after `limit` (a hung server fails the test instead of hanging it).
fn run_with_deadline(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} did not finish within {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The answer of call `i` of a report, checked to be a success; its structured content.
fn ok(report: &Value, i: usize) -> &Value {
    let call = &report["calls"][i];
    assert_eq!(call["isError"], false, "call {i} failed: {call}");
    let structured = &call["structured"];
    assert!(structured.is_object(), "call {i}: {call}");
    let text: Value = serde_json::from_str(call["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, structured, "call {i}: the text is the same JSON");
    structured
}

/// Call `i` of a report, checked to be a tool error (not a protocol error) whose text holds `needle`.
fn tool_error(report: &Value, i: usize, needle: &str) {
    let call = &report["calls"][i];
    assert_eq!(call["isError"], true, "call {i} should fail: {call}");
    let text = call["text"].as_str().unwrap();
    assert!(text.contains(needle), "call {i}: {text:?} lacks {needle:?}");
}

fn ids(sessions: &Value) -> Vec<String> {
    let mut ids: Vec<String> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn head_of(expected: &Value, cwd: &str) -> String {
    expected["heads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["cwd"] == cwd)
        .and_then(|h| h["head"].as_str())
        .unwrap()
        .to_owned()
}

#[test]
fn python_mcp_client_lists_and_calls_every_tool_on_a_real_sample() {
    let Some(python) = mcp_python() else {
        support::skip(
            "mcp::python_mcp_client_lists_and_calls_every_tool_on_a_real_sample",
            "no Python venv with the `mcp` package",
            "scripts/test.sh (python3 -m venv ~/.cache/sessiondb-tests/python-mcp && pip install mcp==2.3.0)",
        );
        return;
    };
    let sample = Sample::new("claude-code-2.1.197");
    sample.sessiondb(&["sync"]);
    let expected = &sample.expected;
    let proj_a = "/home/alice/work/proj-a";
    let proj_b = "/home/alice/work/proj.b_with under score";
    let fork = expected["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "fork")
        .unwrap()
        .clone();
    let fork_from = fork["from"].as_str().unwrap();
    let fork_to = fork["to"].as_str().unwrap();
    let titled = expected["titles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "custom-title")
        .unwrap()
        .clone();
    let key = "app:mcp-python";

    let calls = json!([
        // 0..=3: reads
        {"name": "list_sessions", "arguments": {"limit": 100}},
        {"name": "list_sessions", "arguments": {"project": proj_b}},
        {"name": "list_sessions", "arguments": {"text": titled["title"]}},
        {"name": "get_session", "arguments": {"session_id": &fork_to[..8]}},
        // 4..=6
        {"name": "session_chain", "arguments": {"session_id": fork_to}},
        {"name": "latest_session", "arguments": {"project": proj_a}},
        {"name": "usage_report", "arguments": {"group_by": "model"}},
        // 7..=9: a write, then reads that follow it
        {"name": "record_transition",
         "arguments": {"key": key, "session_id": &fork_from[..8], "source": "mcp-python", "note": "via MCP"}},
        {"name": "latest_session", "arguments": {"key": key, "sync": false}},
        {"name": "session_chain", "arguments": {"key": key}},
        // 10..=17: bad arguments are tool errors, and the server goes on answering
        {"name": "usage_report", "arguments": {"group_by": "fortnight"}},
        {"name": "usage_report", "arguments": {"since": "yesterday"}},
        {"name": "usage_report", "arguments": {"tz": "Mars/Olympus"}},
        {"name": "list_sessions", "arguments": {"limit": "ten"}},
        {"name": "list_sessions", "arguments": {"projet": proj_a}},
        {"name": "get_session", "arguments": {"session_id": "ffffffff-0000"}},
        {"name": "session_chain", "arguments": {}},
        {"name": "record_transition", "arguments": {"key": key, "session_id": fork_from}},
        // 18
        {"name": "list_sessions", "arguments": {"limit": 1}},
    ]);
    let report = sample.mcp_client(&python, &calls);

    // The tools, each with an input schema generated from its typed input.
    assert_eq!(report["server"]["name"], "sessiondb");
    let tools = report["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, TOOLS);
    for tool in tools {
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{tool}");
        assert!(
            schema["properties"]
                .as_object()
                .is_some_and(|p| !p.is_empty()),
            "{tool}"
        );
        assert!(tool["description"].as_str().is_some_and(|d| d.len() > 20));
    }
    let usage_schema = &tools[5]["inputSchema"];
    assert!(
        usage_schema.to_string().contains("\"week\""),
        "{usage_schema}"
    );

    // Every session of the sample, as `ls` lists them.
    let page = ok(&report, 0);
    let expected_ids = ids(&expected["sessions"]);
    assert_eq!(page["total"], expected_ids.len());
    assert_eq!(ids(&page["sessions"]), expected_ids);
    assert_eq!(
        ids(&page["sessions"]),
        ids(&sample.sessiondb(&["ls", "--json"]))
    );
    let in_b: Vec<String> = expected["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["project_cwd"] == proj_b)
        .map(|s| s["session_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids(&ok(&report, 1)["sessions"]), in_b);
    assert!(ids(&ok(&report, 2)["sessions"])
        .contains(&titled["session_id"].as_str().unwrap().to_owned()));

    // One session by prefix, and the fork's chain.
    let session = ok(&report, 3);
    assert_eq!(session["session_id"], fork_to);
    assert_eq!(session, &sample.sessiondb(&["show", fork_to, "--json"]));
    let chain = ok(&report, 4);
    assert_eq!(chain["chain_id"], fork_from);
    assert!(
        chain["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["from"] == fork_from && l["to"] == fork_to && l["kind"] == "fork"),
        "{chain}"
    );

    // What `claude --continue` really took in proj-a; usage as the CLI reports it.
    let latest = ok(&report, 5);
    assert_eq!(latest["session_id"], head_of(expected, proj_a).as_str());
    assert_eq!(latest["valid"], true);
    assert_eq!(
        ok(&report, 6),
        &sample.sessiondb(&["usage", "model", "--json"])
    );

    // The transition is in the database with its source; the key now answers with its session.
    let tracked = ok(&report, 7);
    assert_eq!(tracked["indexed"], true);
    assert_eq!(tracked["transition"]["session_id"], fork_from);
    let log = sample.sessiondb(&["transitions", "--key", key, "--json"]);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["session_id"], fork_from);
    assert_eq!(log[0]["source"], "mcp-python");
    assert_eq!(log[0]["note"], "via MCP");
    assert_eq!(ok(&report, 8)["session_id"], fork_from);
    assert_eq!(ok(&report, 9)["chain_id"], fork_from);

    // Bad arguments: tool errors that say what was wrong.
    tool_error(&report, 10, "fortnight");
    tool_error(&report, 11, "since");
    tool_error(&report, 12, "Mars/Olympus");
    tool_error(&report, 13, "limit");
    tool_error(&report, 14, "projet");
    tool_error(&report, 15, "not found");
    tool_error(&report, 16, "exactly one of");
    tool_error(&report, 17, "source");
    for (i, call) in report["calls"].as_array().unwrap().iter().enumerate() {
        assert!(call.get("protocolError").is_none(), "call {i}: {call}");
    }
    assert_eq!(ok(&report, 18)["sessions"].as_array().unwrap().len(), 1);
    // The failed record_transition recorded nothing.
    let log = sample.sessiondb(&["transitions", "--key", key, "--json"]);
    assert_eq!(log.as_array().unwrap().len(), 1);
}

#[test]
fn mcp_reads_never_create_the_database_and_a_transition_does() {
    let Some(python) = mcp_python() else {
        support::skip(
            "mcp::mcp_reads_never_create_the_database_and_a_transition_does",
            "no Python venv with the `mcp` package",
            "scripts/test.sh (python3 -m venv ~/.cache/sessiondb-tests/python-mcp && pip install mcp==2.3.0)",
        );
        return;
    };
    let sample = Sample::new("claude-code-2.1.197");
    let calls = json!([
        {"name": "usage_report", "arguments": {}},
        {"name": "latest_session", "arguments": {"key": "app:none", "sync": false}},
        {"name": "record_transition",
         "arguments": {"key": "app:new", "session_id": "11111111-2222-3333-4444-555555555555", "source": "mcp"}},
        {"name": "latest_session", "arguments": {"key": "app:new", "sync": false}},
    ]);
    let report = sample.mcp_client(&python, &calls);
    tool_error(&report, 0, "no database");
    tool_error(&report, 1, "no database");
    let tracked = ok(&report, 2);
    assert_eq!(tracked["indexed"], false, "nothing was synced: {tracked}");
    assert!(sample.db().exists(), "the write created the database");
    let latest = ok(&report, 3);
    assert_eq!(latest["session_id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(
        latest["valid"], false,
        "its transcript is not indexed: {latest}"
    );
}

/// `sessiondb serve` on the same database, killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn mcp_works_beside_a_running_serve_and_serve_sees_its_writes() {
    let Some(python) = mcp_python() else {
        support::skip(
            "mcp::mcp_works_beside_a_running_serve_and_serve_sees_its_writes",
            "no Python venv with the `mcp` package",
            "scripts/test.sh (python3 -m venv ~/.cache/sessiondb-tests/python-mcp && pip install mcp==2.3.0)",
        );
        return;
    };
    let sample = Sample::new("claude-code-2.1.197");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _serve = Serve(
        sample
            .command(Path::new(env!("CARGO_BIN_EXE_sessiondb")))
            .args(["serve", "--listen", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    // Serving starts after the first sync, so the index is complete once the health check answers.
    while ureq::get(&format!("http://{addr}/api/health"))
        .call()
        .is_err()
    {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let head = head_of(&sample.expected, "/home/alice/work/proj-a");
    let calls = json!([
        {"name": "latest_session", "arguments": {"project": "/home/alice/work/proj-a"}},
        {"name": "record_transition", "arguments": {"key": "app:beside", "session_id": head, "source": "mcp-beside"}},
        {"name": "list_sessions", "arguments": {}},
    ]);
    let started = Instant::now();
    let report = sample.mcp_client(&python, &calls);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(ok(&report, 0)["session_id"], head.as_str());
    ok(&report, 1);
    assert_eq!(
        ok(&report, 2)["total"],
        sample.expected["sessions"].as_array().unwrap().len()
    );
    let answer: Value = ureq::get(&format!(
        "http://{addr}/api/projects/app:beside/transitions"
    ))
    .call()
    .unwrap()
    .into_json()
    .unwrap();
    let log = answer["transitions"].as_array().unwrap();
    assert_eq!(log.len(), 1, "{answer}");
    assert_eq!(log[0]["source"], "mcp-beside");
    assert_eq!(log[0]["session_id"], head.as_str());
}

/// The mock API on a free loopback port, stopped on drop.
struct Mock {
    child: Child,
    port: u16,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mock(log: &Path) -> Mock {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .arg(shared_dir().join("real-claude/mock_anthropic.py"))
        .args(["--port", &port.to_string(), "--log", log.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mock = Mock { child, port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", mock.port)).is_ok() {
            return mock;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the mock API did not start");
}

fn claude_bin() -> Option<PathBuf> {
    let out = Command::new("bash")
        .arg(shared_dir().join("real-claude/install.sh"))
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

#[test]
fn real_claude_cli_records_a_transition_through_the_mcp_server() {
    let Some(claude) = claude_bin() else {
        support::skip(
            "mcp::real_claude_cli_records_a_transition_through_the_mcp_server",
            "npm could not install @anthropic-ai/claude-code",
            "bash ../shared/real-claude/install.sh",
        );
        return;
    };
    let sample = Sample::new("claude-code-2.1.197");
    sample.sessiondb(&["sync"]);
    let root = sample.root.path();
    let home = root.join("home");
    let claude_config = home.join(".claude");
    std::fs::create_dir_all(&claude_config).unwrap();
    let project = root.join("work/proj");
    std::fs::create_dir_all(&project).unwrap();
    let mock = start_mock(&root.join("mock.log"));
    let key = "app:claude-mcp";
    let target = head_of(&sample.expected, "/home/alice/work/proj-a");
    // The server sees the sample's index (SESSIONDB_DB); the CLI writes its own transcripts elsewhere.
    let config = json!({"mcpServers": {"sessiondb": {
        "command": env!("CARGO_BIN_EXE_sessiondb"),
        "args": ["mcp"],
        "env": {"SESSIONDB_DB": sample.db(), "CLAUDE_CONFIG_DIR": sample.claude_dir(), "TZ": "UTC"},
    }}});
    let config_file = root.join("mcp.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let input =
        json!({"key": key, "session_id": target, "source": "claude-mcp", "note": "from claude"});
    let prompt = format!("record it [[tool:mcp__sessiondb__record_transition:{input}]]");
    let out = run_with_deadline(
        sample
            .command(&claude)
            .current_dir(&project)
            .env("HOME", &home)
            .env("CLAUDE_CONFIG_DIR", &claude_config)
            .env(
                "ANTHROPIC_BASE_URL",
                format!("http://127.0.0.1:{}", mock.port),
            )
            .env("ANTHROPIC_API_KEY", "test-key-not-secret")
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env("ENABLE_TOOL_SEARCH", "false")
            .args(["-p", &prompt, "--output-format", "stream-json", "--verbose"])
            .arg("--mcp-config")
            .arg(&config_file)
            .args([
                "--strict-mcp-config",
                "--allowedTools",
                "mcp__sessiondb__record_transition",
            ]),
        Duration::from_secs(180),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "claude failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The CLI saw the server connected, called the tool, and got its answer back (not an error).
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let init = lines
        .iter()
        .find(|l| l["type"] == "system" && l["subtype"] == "init")
        .expect("an init line");
    assert!(
        init["mcp_servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "sessiondb" && s["status"] == "connected"),
        "{init}"
    );
    let result = lines
        .iter()
        .flat_map(|l| {
            l["message"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|c| c["type"] == "tool_result")
        .unwrap_or_else(|| panic!("no tool result in {stdout}"));
    assert_ne!(result["is_error"], true, "{result}");
    assert!(result.to_string().contains("claude-mcp"), "{result}");

    let log = sample.sessiondb(&["transitions", "--key", key, "--json"]);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["session_id"], target.as_str());
    assert_eq!(log[0]["source"], "claude-mcp");
    assert_eq!(log[0]["note"], "from claude");
    let latest = sample.sessiondb(&["latest", "--key", key, "--no-sync", "--json"]);
    assert_eq!(latest["session_id"], target.as_str());
    assert_eq!(latest["valid"], true);
}
