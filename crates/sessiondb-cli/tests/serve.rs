//! `sessiondb serve` as a process: it keeps serving when its sync fails (here: the disk is "full", a file-size
//! limit) and recovers, and a slow-header attack at the common open-file limit of 1024 does not lock out
//! legitimate clients, and an idle server reads and writes nothing.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `sessiondb serve` under `sh`, with `limits` (shell commands such as `ulimit -n 1024`) applied first; killed
/// when dropped.
struct Serve {
    child: Child,
    addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(home: &Path, claude: &Path, db: &Path, limits: &str) -> Serve {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("{limits}\nexec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_sessiondb"))
        .args(["--db", db.to_str().unwrap(), "serve", "--listen", &addr])
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_RUNTIME_DIR", home)
        .env("CLAUDE_CONFIG_DIR", claude)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Serve { child, addr };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(&server.addr).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut e) = server.child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!("serve exited ({status}) instead of serving: {stderr}");
        }
        assert!(Instant::now() < deadline, "serve did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// One GET with a deadline; the status and JSON body, or `None` when no answer came in time.
fn get(addr: &str, path: &str, deadline: Duration) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect_timeout(&addr.parse().ok()?, deadline).ok()?;
    stream.set_read_timeout(Some(deadline)).ok()?;
    stream.set_write_timeout(Some(deadline)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Some((status, body))
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn serve_keeps_serving_when_its_sync_fails_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let claude = home.join("claude");
    let db = home.join("index.db");
    // An index of one project, synced while there was room.
    let sample = shared_dir().join("samples/claude-code-2.1.330");
    let first = sample.join("projects/-home-alice-work-empty-dir");
    copy_tree(&first, &claude.join("projects/-home-alice-work-empty-dir"));
    let synced = Command::new(env!("CARGO_BIN_EXE_sessiondb"))
        .env_clear()
        .env("HOME", home)
        .env("CLAUDE_CONFIG_DIR", &claude)
        .args(["--db", db.to_str().unwrap(), "sync"])
        .output()
        .unwrap();
    assert!(synced.status.success(), "{synced:?}");
    // Then the rest of the sessions arrive while the disk is full: no file may grow past its size now.
    copy_tree(&sample.join("projects"), &claude.join("projects"));
    // 40 KiB per file: room for SQLite's 32 KiB shared-memory file (reads), not for a sync's writes.
    let server = serve(home, &claude, &db, "trap '' XFSZ\nulimit -S -f 80");
    let pid = server.child.id();

    // It serves what it has and says the sync is failing.
    wait_for(
        "a failed sync in /api/health",
        Duration::from_secs(60),
        || {
            get(&server.addr, "/api/health", Duration::from_secs(5))
                .is_some_and(|(code, body)| code == 200 && body["status"] == "degraded")
        },
    );
    let (code, status) = get(&server.addr, "/api/sync/status", Duration::from_secs(5)).unwrap();
    assert_eq!(code, 200);
    assert!(
        status["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{status}"
    );
    let (code, listed) = get(&server.addr, "/api/sessions", Duration::from_secs(5)).unwrap();
    assert_eq!(code, 200, "{listed}");
    let before = listed["total"].as_u64().unwrap();
    assert!(before >= 1, "{listed}");
    // `doctor` says so too.
    wait_for(
        "doctor to report the failure",
        Duration::from_secs(10),
        || {
            let doctor = Command::new(env!("CARGO_BIN_EXE_sessiondb"))
                .env_clear()
                .env("HOME", home)
                .env("XDG_DATA_HOME", home.join("data"))
                .env("XDG_CONFIG_HOME", home.join("config"))
                .env("XDG_RUNTIME_DIR", home)
                .args(["--db", db.to_str().unwrap(), "--json", "doctor"])
                .output()
                .unwrap();
            assert!(doctor.status.success(), "{doctor:?}");
            let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
            report["serve"]["running"] == true
                && report["serve"]["last_error"]
                    .as_str()
                    .is_some_and(|e| !e.is_empty())
        },
    );

    // Room again: the retry syncs the rest, and health is ok.
    let lifted = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--fsize=unlimited:"])
        .status()
        .expect("prlimit (util-linux) is needed by this test");
    assert!(lifted.success());
    wait_for("a successful retry", Duration::from_secs(60), || {
        get(&server.addr, "/api/health", Duration::from_secs(5))
            .is_some_and(|(code, body)| code == 200 && body["status"] == "ok")
    });
    let (_, listed) = get(&server.addr, "/api/sessions", Duration::from_secs(5)).unwrap();
    assert!(
        listed["total"].as_u64().unwrap() > before,
        "the retry indexed nothing new: {listed}"
    );
}

#[test]
fn a_slow_header_attack_at_1024_open_files_does_not_lock_out_clients() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let claude = home.join("claude");
    copy_tree(
        &shared_dir().join("samples/claude-code-2.1.330/projects"),
        &claude.join("projects"),
    );
    let server = serve(home, &claude, &home.join("index.db"), "ulimit -n 1024");
    let addr = server.addr.clone();
    assert_eq!(
        get(&addr, "/api/health", Duration::from_secs(5)).map(|r| r.0),
        Some(200)
    );

    // 1,100 connections (more than the server can have open) that each send a header byte every second,
    // reconnecting whenever they are dropped, for as long as the test runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attack = {
        let stop = stop.clone();
        let addr = addr.clone();
        std::thread::spawn(move || {
            let open = |addr: &str| -> Option<TcpStream> {
                let mut c =
                    TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_millis(200))
                        .ok()?;
                c.set_write_timeout(Some(Duration::from_millis(50))).ok()?;
                c.write_all(b"GET /api/health HTTP/1.1\r\nX-a: ").ok()?;
                Some(c)
            };
            let mut conns: Vec<Option<TcpStream>> = (0..1100).map(|_| open(&addr)).collect();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let round = Instant::now();
                for slot in conns.iter_mut() {
                    let alive = slot.as_mut().is_some_and(|c| c.write_all(b"a").is_ok());
                    if !alive {
                        *slot = open(&addr);
                    }
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_secs(1).saturating_sub(round.elapsed()));
            }
        })
    };
    // A few seconds into the attack, every legitimate request is answered within a second.
    std::thread::sleep(Duration::from_secs(4));
    let mut slow = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let answer = get(&addr, "/api/sessions?limit=1", Duration::from_secs(5));
        let took = started.elapsed();
        if answer.as_ref().map(|r| r.0) != Some(200) || took >= Duration::from_secs(1) {
            slow.push((took, answer.map(|r| r.0)));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    attack.join().unwrap();
    assert!(
        slow.is_empty(),
        "requests that failed or took a second or more: {slow:?}"
    );
}

/// The kernel's count of bytes a process read and wrote through system calls.
fn io_of(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    (field("rchar:"), field("wchar:"))
}

/// An idle server does no work: nothing read, nothing written, however long it waits (the watcher wakes it,
/// and only a rescan, every 30 s by default, walks the tree). The counters do move once a file grows.
#[test]
fn an_idle_serve_reads_and_writes_nothing_until_a_file_grows() {
    let home = tempfile::tempdir().unwrap();
    let claude = home.path().join("claude");
    copy_tree(&shared_dir().join("samples/claude-code-2.1.197"), &claude);
    let db = home.path().join("index.db");
    let server = serve(home.path(), &claude, &db, "");
    wait_for("the first sync", Duration::from_secs(60), || {
        get(&server.addr, "/api/sync/status", Duration::from_secs(5))
            .is_some_and(|(code, body)| code == 200 && body["syncs"].as_u64() >= Some(1))
    });
    // Let the start-up settle (the watcher's first events, the status file).
    std::thread::sleep(Duration::from_secs(2));
    let pid = server.child.id();
    let before = io_of(pid);
    std::thread::sleep(Duration::from_secs(4));
    let idle = io_of(pid);
    assert_eq!(
        (idle.0 - before.0, idle.1 - before.1),
        (0, 0),
        "an idle serve read or wrote (rchar, wchar) bytes"
    );
    // The instrument works: an append is read, indexed and written.
    let transcript = std::fs::read_dir(claude.join("projects/-home-alice-work-proj-a"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&transcript)
        .unwrap();
    writeln!(
        file,
        r#"{{"type":"user","uuid":"idle-test","timestamp":"2026-12-01T00:00:00Z","message":{{"role":"user","content":"more"}}}}"#
    )
    .unwrap();
    drop(file);
    wait_for("the append to be read", Duration::from_secs(30), || {
        let now = io_of(pid);
        now.0 > idle.0 && now.1 > idle.1
    });
}
