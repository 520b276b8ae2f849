//! End to end with the real Claude Code CLI (npm `@anthropic-ai/claude-code`, installed by
//! `../shared/real-claude/install.sh`) against the local mock of the Messages API: `sessiondb run` starts,
//! resumes, forks and recovers sessions, and the registry, chains and heads match what the CLI did.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .canonicalize()
        .unwrap()
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
    // Owned by the guard from here on, so the mock is killed and reaped on every path.
    let mock = Mock { child, port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return mock;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
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

struct Env {
    root: tempfile::TempDir,
    claude: PathBuf,
    mock: Mock,
}

impl Env {
    fn sessiondb(&self, cwd: &Path) -> Command {
        let home = self.root.path().join("home");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessiondb"));
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
            .env("XDG_DATA_HOME", self.root.path().join("data"))
            .env("XDG_CONFIG_HOME", self.root.path().join("config"))
            .env(
                "ANTHROPIC_BASE_URL",
                format!("http://127.0.0.1:{}", self.mock.port),
            )
            .env("ANTHROPIC_API_KEY", "test-key-not-secret")
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env("SESSIONDB_CLAUDE_BIN", &self.claude);
        cmd
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn stream_session_ids(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "result" || v["type"] == "system")
        .filter_map(|v| v["session_id"].as_str().map(str::to_owned))
        .collect()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn run_resumes_forks_and_recovers_with_the_real_cli() {
    let Some(claude) = claude_bin() else {
        support::skip(
            "run_resumes_forks_and_recovers_with_the_real_cli",
            "npm could not install @anthropic-ai/claude-code",
            "bash ../shared/real-claude/install.sh",
        );
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("home/.claude")).unwrap();
    let project = root.path().join("work/proj-a");
    std::fs::create_dir_all(&project).unwrap();
    let mock = start_mock(&root.path().join("mock.log"));
    let env = Env { root, claude, mock };
    let stream = ["--output-format", "stream-json", "--verbose"];
    let key = "app:project-42";

    // 1. No session yet: a new one; its id is what the CLI reported, and the key points at it.
    let out = run(env
        .sessiondb(&project)
        .args([
            "run", "--key", key, "--source", "build", "--", "-p", "hello",
        ])
        .args(stream));
    let ids = stream_session_ids(&out);
    let s1 = ids.last().expect("the CLI reported a session id").clone();
    assert!(ids.iter().all(|i| *i == s1));
    let latest = json(&run(env
        .sessiondb(&project)
        .args(["latest", "--key", key, "--json"])));
    assert_eq!(latest["session_id"], s1.as_str());
    assert_eq!(latest["valid"], true);

    // 2. Again: the key's session is resumed (this CLI keeps the id on resume), the transcript grows.
    let out = run(env
        .sessiondb(&project)
        .args([
            "run",
            "--key",
            key,
            "--source",
            "chat_plan",
            "--",
            "-p",
            "again",
        ])
        .args(stream));
    assert_eq!(stream_session_ids(&out).last(), Some(&s1));
    let show = json(&run(env.sessiondb(&project).args(["show", &s1, "--json"])));
    assert_eq!(show["message_count"], 4, "two turns in one session: {show}");

    // 3. A fork: a new id whose file copies the conversation; the chain links them and knows its head.
    let out = run(env
        .sessiondb(&project)
        .args([
            "run",
            "--key",
            "app:fork",
            "--session",
            &s1,
            "--",
            "-p",
            "try another way",
            "--fork-session",
        ])
        .args(stream));
    let fork = stream_session_ids(&out).last().unwrap().clone();
    assert_ne!(fork, s1);
    let chain = json(&run(env
        .sessiondb(&project)
        .args(["chain", &fork, "--json"])));
    assert_eq!(chain["chain_id"], s1.as_str());
    assert_eq!(
        chain["head"],
        fork.as_str(),
        "the fork is the newest member"
    );
    let links = chain["links"].as_array().unwrap();
    assert!(
        links
            .iter()
            .any(|l| l["kind"] == "fork" && l["from"] == s1.as_str() && l["to"] == fork.as_str()),
        "{links:?}"
    );
    let by_dir = json(&run(env.sessiondb(&project).args([
        "latest",
        "--dir",
        project.to_str().unwrap(),
        "--json",
    ])));
    assert_eq!(
        by_dir["session_id"],
        fork.as_str(),
        "what `claude --continue` would take"
    );

    // 4. A stale id: the resume fails ("No conversation found"), sessiondb retries as a fresh session,
    //    says so, passes the exit code through, and records the transition with the reason.
    let missing = "00000000-0000-4000-8000-000000000000";
    let out = run(env
        .sessiondb(&project)
        .args([
            "run",
            "--key",
            key,
            "--session",
            missing,
            "--",
            "-p",
            "lost",
        ])
        .args(stream));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("starting a fresh session"), "{stderr}");
    let fresh = stream_session_ids(&out).last().unwrap().clone();
    assert!(fresh != s1 && fresh != missing);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("\"is_error\":true"),
        "the failed attempt's output is not passed on: {stdout}"
    );

    let log = json(&run(env.sessiondb(&project).args([
        "transitions",
        "--key",
        key,
        "--json",
    ])));
    let log = log.as_array().unwrap();
    let moves: Vec<(Option<&str>, &str, &str)> = log
        .iter()
        .map(|t| {
            (
                t["previous_session_id"].as_str(),
                t["session_id"].as_str().unwrap(),
                t["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            (None, s1.as_str(), "build"),
            (Some(s1.as_str()), s1.as_str(), "chat_plan"),
            (Some(s1.as_str()), fresh.as_str(), "run")
        ]
    );
    assert!(log[2]["note"]
        .as_str()
        .unwrap()
        .contains("No conversation found"));

    // 5. Text output: the id is found from the transcript the run wrote.
    let out = run(env.sessiondb(&project).args([
        "run",
        "--key",
        "app:text",
        "--new",
        "--",
        "-p",
        "plain text",
    ]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("plain text"),
        "claude's output passes through"
    );
    let text = json(&run(env.sessiondb(&project).args([
        "latest",
        "--key",
        "app:text",
        "--json",
        "--no-sync",
    ])));
    let text_id = text["session_id"].as_str().unwrap();
    assert!(![s1.as_str(), fork.as_str(), fresh.as_str()].contains(&text_id));

    // 6. A claude failure that is not a resume passes its exit code through.
    let bad = env
        .sessiondb(&project)
        .args([
            "run",
            "--key",
            "app:bad",
            "--new",
            "--",
            "-p",
            "x",
            "--no-such-flag",
        ])
        .output()
        .unwrap();
    assert_ne!(bad.status.code(), Some(0));
}
