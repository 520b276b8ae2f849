//! The `sessiondb` binary end to end: the JSON contract scripts rely on, config dirs from the environment,
//! crash safety under SIGKILL, and the same totals as ccusage on the same files.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .canonicalize()
        .unwrap()
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn generate(out: &Path, seed: u64, extra: &[&str]) -> Value {
    let status = Command::new("python3")
        .arg(shared_dir().join("tools/gen_corpus.py"))
        .args([
            "--out",
            out.to_str().unwrap(),
            "--seed",
            &seed.to_string(),
            "--force",
        ])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    serde_json::from_str(&std::fs::read_to_string(out.join("corpus-manifest.json")).unwrap())
        .unwrap()
}

/// The binary with a clean environment: no user config, no real ~/.claude.
fn sessiondb(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessiondb"));
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn json_contract_of_sync_ls_show_and_usage() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    let manifest = generate(&corpus, 31, &["--total-mb", "1"]);
    let db = dir.path().join("index.db");

    // --db before the subcommand, CLAUDE_CONFIG_DIR picks the dir.
    let sync = json(&run(sessiondb(dir.path())
        .env("CLAUDE_CONFIG_DIR", &corpus)
        .args(["--db", db.to_str().unwrap(), "sync", "--json"])));
    assert!(sync["lines"].as_u64().unwrap() > 0);

    // --db after the subcommand, and SESSIONDB_DB, reach the same database.
    let usage = json(&run(sessiondb(dir.path()).args([
        "usage",
        "daily",
        "--json",
        "--tz",
        "UTC",
        "--db",
        db.to_str().unwrap(),
    ])));
    let usage_env = json(&run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["usage", "daily", "--json", "--tz", "UTC"])));
    assert_eq!(usage, usage_env);
    let rows = usage["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    for key in [
        "key",
        "input_tokens",
        "output_tokens",
        "cache_creation_tokens",
        "cache_read_tokens",
        "total_tokens",
        "cost_usd",
        "unpriced_tokens",
        "models",
    ] {
        assert!(rows[0].get(key).is_some(), "row lacks {key}");
    }
    for key in [
        "input_tokens",
        "output_tokens",
        "cache_creation_tokens",
        "cache_read_tokens",
        "total_tokens",
        "cost_usd",
        "unpriced_tokens",
    ] {
        assert!(usage["totals"].get(key).is_some(), "totals lack {key}");
    }
    assert_eq!(
        usage["totals"]["total_tokens"].as_u64(),
        manifest["expected_dedup"]["tokens"]["total"].as_u64()
    );
    let row_sum: u64 = rows
        .iter()
        .map(|r| r["total_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(Some(row_sum), usage["totals"]["total_tokens"].as_u64());

    let ls = json(&run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["ls", "--json"])));
    let sessions = ls.as_array().unwrap();
    assert_eq!(
        sessions.len(),
        manifest["sessions"].as_array().unwrap().len()
    );
    for key in [
        "session_id",
        "project_dir",
        "title",
        "started_at",
        "last_activity_at",
        "message_count",
        "total_tokens",
        "cost_usd",
        "on_disk",
        "claude_version",
    ] {
        assert!(sessions[0].get(key).is_some(), "session lacks {key}");
    }
    let times: Vec<&str> = sessions
        .iter()
        .map(|s| s["last_activity_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let id = sessions[0]["session_id"].as_str().unwrap();
    let show = json(&run(sessiondb(dir.path()).env("SESSIONDB_DB", &db).args([
        "show",
        &id[..8],
        "--json",
    ])));
    assert_eq!(show["session_id"], id);
    for key in ["usage_by_model", "files", "links"] {
        assert!(show[key].is_array(), "show lacks {key}");
    }

    let project = sessions[0]["project_dir"].as_str().unwrap();
    let in_project = json(&run(sessiondb(dir.path()).env("SESSIONDB_DB", &db).args([
        "ls",
        "--json",
        "--project",
        project,
    ])));
    assert!(in_project
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["project_dir"] == project));

    // An unknown session is an error with a message, not an empty success.
    let missing = sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["show", "no-such-session"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no session"));
}

#[test]
fn several_config_dirs_and_the_default_summary() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let ma = generate(&a, 41, &["--total-mb", "1"]);
    let mb = generate(&b, 42, &["--total-mb", "1"]);
    let list = format!("{},{}", a.display(), b.display());
    // No --db: the database goes to $XDG_DATA_HOME/sessiondb/sessiondb.db.
    let out = run(sessiondb(dir.path()).env("CLAUDE_CONFIG_DIR", &list));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Recent sessions"), "{text}");
    assert!(dir.path().join("data/sessiondb/sessiondb.db").exists());
    let usage = json(&run(
        sessiondb(dir.path()).args(["usage", "model", "--json"])
    ));
    let expected = ma["expected_dedup"]["tokens"]["total"].as_u64().unwrap()
        + mb["expected_dedup"]["tokens"]["total"].as_u64().unwrap();
    assert_eq!(usage["totals"]["total_tokens"].as_u64(), Some(expected));
}

#[test]
fn doctor_names_files_offsets_and_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(
        &corpus,
        51,
        &["--total-mb", "1", "--malformed-rate", "0.02"],
    );
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", corpus.to_str().unwrap()]));
    let doctor = json(&run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["doctor", "--json"])));
    let issues = doctor["issues"].as_array().unwrap();
    assert!(!issues.is_empty());
    assert!(issues
        .iter()
        .all(|i| i["path"].as_str().unwrap().ends_with(".jsonl")));
    assert_eq!(doctor["db_path"].as_str().unwrap(), db.to_str().unwrap());
    let text = String::from_utf8_lossy(
        &run(sessiondb(dir.path()).env("SESSIONDB_DB", &db).arg("doctor")).stdout,
    )
    .into_owned();
    assert!(
        text.contains("malformed-json") && text.contains("at byte"),
        "{text}"
    );
}

#[test]
fn doctor_counts_implausible_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("claude/projects/-w-p");
    std::fs::create_dir_all(&project).unwrap();
    let line = |i: usize, usage: &str, cost: &str| {
        format!(
            r#"{{"type":"assistant","sessionId":"s1","uuid":"u{i}","cwd":"/w/p","timestamp":"2026-11-01T10:00:00.000Z","requestId":"r{i}","message":{{"id":"m{i}","model":"claude-sonnet-4-5-20250929","usage":{usage}}},"costUSD":{cost}}}"#
        ) + "\n"
    };
    let sound = r#"{"input_tokens":1,"output_tokens":10}"#;
    std::fs::write(
        project.join("s1.jsonl"),
        [
            line(0, sound, "0.5"),
            line(1, sound, "1e308"),
            line(2, sound, "1e308"),
            line(3, r#"{"input_tokens":-3,"output_tokens":"123"}"#, "0"),
        ]
        .concat(),
    )
    .unwrap();
    let db = dir.path().join("index.db");
    let env = |cmd: &mut Command| {
        cmd.env("SESSIONDB_DB", &db);
    };
    let mut sync = sessiondb(dir.path());
    env(&mut sync);
    run(sync.args(["sync", dir.path().join("claude").to_str().unwrap()]));
    let mut doctor = sessiondb(dir.path());
    env(&mut doctor);
    let report = json(&run(doctor.args(["doctor", "--json"])));
    assert_eq!(report["implausible_numbers"], 4, "{report}");
    let mut doctor = sessiondb(dir.path());
    env(&mut doctor);
    let text = String::from_utf8_lossy(&run(doctor.arg("doctor")).stdout).into_owned();
    assert!(
        text.contains("4 × implausible-number") && text.contains("costUSD = 1e308"),
        "{text}"
    );
    let mut usage = sessiondb(dir.path());
    env(&mut usage);
    let usage = json(&run(usage.args(["usage", "daily", "--json", "--tz", "UTC"])));
    assert_eq!(
        usage["totals"]["total_tokens"], 11,
        "only the sound line counts"
    );
}

/// Kills `sync` with SIGKILL at several points, finishes with a normal sync, and compares every report with
/// a database built in one go.
#[test]
fn sigkill_during_sync_leaves_a_consistent_database() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 61, &["--total-mb", "24", "--resume-rate", "0.2"]);
    let db = dir.path().join("killed.db");
    let mut killed_mid_run = 0;
    for delay_ms in [40u64, 120, 250, 500, 900] {
        let mut child = sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .args(["sync", corpus.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        killed_mid_run > 0,
        "the sync was never interrupted; the corpus is too small for this machine"
    );
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", corpus.to_str().unwrap()]));
    let fresh = dir.path().join("fresh.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &fresh)
        .args(["sync", corpus.to_str().unwrap()]));
    for args in [
        vec!["usage", "daily", "--json", "--tz", "UTC"],
        vec!["usage", "session", "--json", "--tz", "UTC"],
        vec!["ls", "--json"],
    ] {
        let a = json(&run(sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .args(&args)));
        let b = json(&run(sessiondb(dir.path())
            .env("SESSIONDB_DB", &fresh)
            .args(&args)));
        assert_eq!(a, b, "{args:?} differs after SIGKILLs");
    }
    let doctor = json(&run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["doctor", "--json"])));
    let fresh_doctor = json(&run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &fresh)
        .args(["doctor", "--json"])));
    assert_eq!(
        doctor["lines"], fresh_doctor["lines"],
        "no line indexed twice or lost"
    );
    assert_eq!(
        doctor["raw_bytes_archived"],
        fresh_doctor["raw_bytes_archived"]
    );
}

/// ccusage, installed by `scripts/install-peers.sh` (CI runs it), on the same generated files.
fn ccusage() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SESSIONDB_CCUSAGE") {
        return Some(PathBuf::from(path));
    }
    let path = workspace_dir().join(".peers/node_modules/.bin/ccusage");
    path.exists().then_some(path)
}

#[test]
fn same_daily_tokens_as_ccusage() {
    let Some(ccusage) = ccusage() else {
        support::skip(
            "same_daily_tokens_as_ccusage",
            "ccusage is not installed",
            "scripts/install-peers.sh (npm)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 71, &["--total-mb", "3", "--resume-rate", "0.2"]);
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", corpus.to_str().unwrap()]));
    let ours = json(&run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["usage", "daily", "--json", "--tz", "UTC"])));
    let theirs = json(&run(Command::new(&ccusage)
        .env("CLAUDE_CONFIG_DIR", &corpus)
        .env("TZ", "UTC")
        .args(["claude", "daily", "--json", "--offline"])));
    let their_days: std::collections::BTreeMap<String, &Value> = theirs["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["date"].as_str().unwrap().to_owned(), d))
        .collect();
    assert_eq!(ours["rows"].as_array().unwrap().len(), their_days.len());
    for row in ours["rows"].as_array().unwrap() {
        let day = their_days[row["key"].as_str().unwrap()];
        assert_eq!(row["total_tokens"], day["totalTokens"], "{}", row["key"]);
        assert_eq!(row["input_tokens"], day["inputTokens"], "{}", row["key"]);
        assert_eq!(row["output_tokens"], day["outputTokens"], "{}", row["key"]);
        assert_eq!(
            row["cache_read_tokens"], day["cacheReadTokens"],
            "{}",
            row["key"]
        );
        // Prices: the same per-token rates; the generator stays under the 200k long-context threshold.
        let (a, b) = (
            row["cost_usd"].as_f64().unwrap(),
            day["totalCost"].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() <= 1e-6 * b.max(1.0),
            "{}: cost {a} vs ccusage {b}",
            row["key"]
        );
    }
}

/// `usage blocks --json` draws the same 5-hour billing blocks as `ccusage claude blocks --json` (same starts,
/// ends, gaps, entries, tokens, models and costs), on a generated corpus and on a real Claude Code tree, and
/// the blocks hold every deduplicated token of the generator's manifest.
#[test]
fn same_blocks_as_ccusage() {
    let Some(ccusage) = ccusage() else {
        support::skip(
            "same_blocks_as_ccusage",
            "ccusage is not installed",
            "scripts/install-peers.sh (npm)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    let manifest = generate(&generated, 72, &["--total-mb", "6", "--resume-rate", "0.2"]);
    let real = dir.path().join("real");
    copy_dir(&shared_dir().join("samples/claude-code-2.1.197"), &real);
    for (name, corpus) in [("generated", &generated), ("real", &real)] {
        let db = dir.path().join(format!("{name}.db"));
        run(sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .args(["sync", corpus.to_str().unwrap()]));
        let ours = json(&run(sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .args(["usage", "blocks", "--json"])));
        let theirs = json(&run(Command::new(&ccusage)
            .env("CLAUDE_CONFIG_DIR", corpus)
            .args(["claude", "blocks", "--json", "--offline"])));
        let (ours, theirs) = (
            ours["blocks"].as_array().unwrap(),
            theirs["blocks"].as_array().unwrap(),
        );
        assert!(!ours.is_empty(), "{name}: no blocks");
        assert_eq!(ours.len(), theirs.len(), "{name}: block count");
        // ccusage 20.0.24 drops a line whose `usage.speed` is null, which Claude Code 2.1.x writes on its
        // zero-token `<synthetic>` replies; sessiondb counts them as the entries they are.
        let dropped_by_ccusage = synthetic_with_null_speed(corpus);
        for (a, b) in ours.iter().zip(theirs) {
            let start = chrono_ms(a["startTime"].as_str().unwrap());
            let end = a["actualEndTime"].as_str().map_or(start, chrono_ms);
            let dropped = dropped_by_ccusage
                .iter()
                .filter(|t| (start..=end).contains(*t))
                .count() as u64;
            assert_eq!(
                a["entries"].as_u64().unwrap(),
                b["entries"].as_u64().unwrap() + dropped,
                "{name}: entries of block {}",
                b["id"]
            );
            for field in [
                "id",
                "startTime",
                "endTime",
                "actualEndTime",
                "isGap",
                "isActive",
                "totalTokens",
                "tokenCounts",
                "models",
            ] {
                assert_eq!(a[field], b[field], "{name}: {field} of block {}", b["id"]);
            }
            let (x, y) = (
                a["costUSD"].as_f64().unwrap(),
                b["costUSD"].as_f64().unwrap(),
            );
            assert!(
                (x - y).abs() <= 1e-6 * y.max(1.0),
                "{name}: cost {x} vs ccusage {y}"
            );
        }
        if name == "generated" {
            let total: u64 = ours
                .iter()
                .map(|b| b["totalTokens"].as_u64().unwrap())
                .sum();
            assert_eq!(
                total,
                manifest["expected_dedup"]["tokens"]["total"]
                    .as_u64()
                    .unwrap()
            );
        }
    }
}

/// Times (epoch ms) of the `<synthetic>` responses under `root` whose `usage.speed` is null.
fn synthetic_with_null_speed(root: &Path) -> Vec<i64> {
    let mut times = Vec::new();
    let mut dirs = vec![root.join("projects")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    let Ok(value) = serde_json::from_str::<Value>(line) else {
                        continue;
                    };
                    let message = &value["message"];
                    if message["model"] == "<synthetic>"
                        && message["usage"]["speed"].is_null()
                        && message["usage"].get("speed").is_some()
                    {
                        times.push(chrono_ms(value["timestamp"].as_str().unwrap()));
                    }
                }
            }
        }
    }
    times
}

fn chrono_ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The bash completion `sessiondb completions bash` registers completes commands, values, session ids (from
/// the database `SESSIONDB_DB` names) and registry keys; checked by running bash's completion function on it.
#[test]
fn bash_completion_completes_commands_session_ids_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("index.db");
    let sample = shared_dir().join("samples/claude-code-2.1.197");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(sample.join("expected.json")).unwrap())
            .unwrap();
    let claude = dir.path().join("claude");
    copy_dir(&sample, &claude);
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", claude.to_str().unwrap()]));
    let session = expected["sessions"][0]["session_id"].as_str().unwrap();
    run(sessiondb(dir.path()).env("SESSIONDB_DB", &db).args([
        "track",
        "--key",
        "app:completion-test",
        "--session",
        session,
        "--source",
        "test",
    ]));
    let script = r#"
source <("$SDB" completions bash)
complete_line() {
  COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
  read -ra COMP_WORDS <<< "$COMP_LINE"
  if [[ "$COMP_LINE" == *" " ]]; then COMP_WORDS+=(""); fi
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMP_TYPE=9
  _clap_complete_sessiondb sessiondb "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  echo "$1 => ${COMPREPLY[*]}"
}
complete_line "sessiondb us"
complete_line "sessiondb show $PREFIX"
complete_line "sessiondb latest --key app:compl"
complete_line "sessiondb usage bl"
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("SESSIONDB_DB", &db)
        .env("SDB", env!("CARGO_BIN_EXE_sessiondb"))
        .env("PREFIX", &session[..6])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: std::collections::BTreeMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once(" => ")).collect();
    assert_eq!(answers["sessiondb us"], "usage");
    assert_eq!(
        answers[format!("sessiondb show {}", &session[..6]).as_str()],
        session
    );
    assert_eq!(
        answers["sessiondb latest --key app:compl"],
        "app:completion-test"
    );
    assert_eq!(answers["sessiondb usage bl"], "blocks");
}

/// `sessiondb man` prints a manual page naming every command; `--dir` writes one page per command; the
/// version names the database schema too.
#[test]
fn man_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let version = run(sessiondb(dir.path()).arg("--version"));
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.starts_with(&format!("sessiondb {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert!(version.contains("database schema: sqlite "), "{version}");
    let page = run(sessiondb(dir.path()).arg("man"));
    let text = String::from_utf8_lossy(&page.stdout);
    assert!(
        text.starts_with(".ie") || text.contains(".TH sessiondb"),
        "{}",
        &text[..200.min(text.len())]
    );
    for command in [
        "sync", "ls", "show", "usage", "chain", "track", "latest", "run", "resume", "serve",
    ] {
        assert!(text.contains(command), "{command} missing from the manual");
    }
    let pages = dir.path().join("man");
    run(sessiondb(dir.path()).args(["man", "--dir", pages.to_str().unwrap()]));
    for name in [
        "sessiondb.1",
        "sessiondb-sync.1",
        "sessiondb-usage.1",
        "sessiondb-completions.1",
    ] {
        let body = std::fs::read_to_string(pages.join(name)).unwrap();
        assert!(body.contains(".TH"), "{name} is not a manual page");
    }
}

#[test]
fn chain_json_contract_on_a_real_cli_tree() {
    let dir = tempfile::tempdir().unwrap();
    let sample = shared_dir().join("samples/claude-code-2.1.330");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(sample.join("expected.json")).unwrap())
            .unwrap();
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", sample.to_str().unwrap()]));
    let fork = expected["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "fork")
        .unwrap();

    let chain = json(&run(sessiondb(dir.path()).env("SESSIONDB_DB", &db).args([
        "chain",
        fork["to"].as_str().unwrap(),
        "--json",
    ])));
    assert_eq!(chain["chain_id"], fork["from"]);
    assert!(chain["head"].is_string());
    let sessions = chain["sessions"].as_array().unwrap();
    for key in ["session_id", "project_dir", "started_at"] {
        assert!(sessions[0].get(key).is_some(), "chain session lacks {key}");
    }
    let link = chain["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "fork")
        .expect("fork link");
    assert_eq!(link["from"], fork["from"]);
    assert_eq!(link["to"], fork["to"]);
    assert_eq!(link["junction_uuid"], fork["junction_uuid"]);

    // --project takes the chain of the dir's head, the session `claude --continue` took there.
    let head = &expected["heads"][0];
    let by_dir = json(&run(sessiondb(dir.path()).env("SESSIONDB_DB", &db).args([
        "chain",
        "--project",
        head["cwd"].as_str().unwrap(),
        "--json",
    ])));
    assert_eq!(by_dir["head"], head["head"]);
    let text = String::from_utf8_lossy(
        &run(sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .args(["chain", fork["to"].as_str().unwrap()]))
        .stdout,
    )
    .into_owned();
    assert!(text.contains("fork") && text.contains("(head)"), "{text}");
}

#[test]
fn resume_prints_the_command_for_the_best_match_or_the_last_session() {
    let dir = tempfile::tempdir().unwrap();
    let sample = shared_dir().join("samples/claude-code-2.1.330");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(sample.join("expected.json")).unwrap())
            .unwrap();
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", sample.to_str().unwrap()]));

    // Without a terminal, --query takes the best match; the command runs claude in the session's own dir.
    let proj_b = expected["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["project_cwd"].as_str().unwrap().contains("under score"))
        .unwrap();
    let out = run(sessiondb(dir.path()).env("SESSIONDB_DB", &db).args([
        "resume",
        "--print",
        "--no-sync",
        "--query",
        "under score",
    ]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "cd '/home/alice/work/proj.b_with under score' && claude --resume {}",
            proj_b["session_id"].as_str().unwrap()
        )
    );

    // --last: the newest resumable session of the current directory (what `claude --continue` takes there).
    let head = &expected["heads"][0];
    let cwd = dir.path().join("cwd-with-no-sessions");
    std::fs::create_dir_all(&cwd).unwrap();
    let none = sessiondb(dir.path())
        .current_dir(&cwd)
        .env("SESSIONDB_DB", &db)
        .args(["resume", "--print", "--last", "--no-sync"])
        .output()
        .unwrap();
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no resumable session"));
    // The sample's project dirs do not exist here; the index answers for a dir by its path.
    let latest = json(&run(sessiondb(dir.path()).env("SESSIONDB_DB", &db).args([
        "latest",
        "--dir",
        head["cwd"].as_str().unwrap(),
        "--json",
        "--no-sync",
    ])));
    assert_eq!(latest["session_id"], head["head"]);
}

#[test]
fn serve_refuses_a_non_loopback_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = sessiondb(dir.path())
        .env("SESSIONDB_DB", dir.path().join("index.db"))
        .env("CLAUDE_CONFIG_DIR", dir.path().join("none"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without a token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The interactive picker in a real terminal (tmux): type a query, see the list narrow, press Enter, and
/// claude is started with `--resume <id>` in the session's own directory.
#[test]
fn resume_picker_in_a_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        support::skip(
            "resume_picker_in_a_terminal",
            "tmux is not installed",
            "apt-get install tmux",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let mut ids = Vec::new();
    for (i, (name, prompt)) in [
        ("alpha", "tune the query planner"),
        ("beta", "fix the login redirect"),
    ]
    .iter()
    .enumerate()
    {
        let project = dir.path().join(name);
        std::fs::create_dir_all(&project).unwrap();
        let id = format!("00000000-0000-4000-8000-00000000000{i}");
        let slug = project.to_string_lossy().replace(['/', '.', '_'], "-");
        let file = root.join("projects").join(slug).join(format!("{id}.jsonl"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            &file,
            format!(
                r#"{{"type":"user","sessionId":"{id}","uuid":"u{i}","cwd":"{}","timestamp":"2026-11-0{}T10:00:00.000Z","message":{{"content":"{prompt}"}}}}"#,
                project.display(),
                i + 1
            ) + "\n",
        )
        .unwrap();
        ids.push((id, project));
    }
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", root.to_str().unwrap()]));
    let out = dir.path().join("claude-was-called.txt");
    let fake = dir.path().join("fake-claude");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$PWD|$*\" > '{}'\n", out.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let name = format!("sessiondb-test-{}", std::process::id());
    let command = format!(
        "env HOME='{home}' SESSIONDB_DB='{db}' SESSIONDB_CLAUDE_BIN='{fake}' '{bin}' resume --no-sync; sleep 5",
        home = dir.path().display(),
        db = db.display(),
        fake = fake.display(),
        bin = env!("CARGO_BIN_EXE_sessiondb"),
    );
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().unwrap();
    assert!(tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "160",
        "-y",
        "30",
        &command
    ])
    .status
    .success());
    let screen =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &name]).stdout).into_owned();
    let wait_for = |what: &dyn Fn(&str) -> bool| {
        for _ in 0..50 {
            if what(&screen()) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };
    assert!(
        wait_for(&|s| s.contains("2/2 sessions")),
        "picker did not open: {}",
        screen()
    );
    tmux(&["send-keys", "-t", &name, "-l", "login"]);
    assert!(
        wait_for(&|s| s.contains("1/2 sessions") && s.contains("fix the login")),
        "{}",
        screen()
    );
    tmux(&["send-keys", "-t", &name, "Enter"]);
    let mut called = String::new();
    for _ in 0..50 {
        if let Ok(text) = std::fs::read_to_string(&out) {
            called = text;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tmux(&["kill-session", "-t", &name]);
    let (id, project) = &ids[1];
    assert_eq!(
        called.trim(),
        format!("{}|--resume {id}", project.display())
    );
}

// Issue 15 §4: a mistyped argument does no damage. Exit codes: 0 success, 1 a failure while running, 2 a
// mistake in what was typed.

/// Writes a one-line session transcript for `id` run in `cwd`, under config dir `root`.
fn write_session(root: &Path, cwd: &Path, id: &str, prompt: &str, day: u32) {
    let slug = cwd.to_string_lossy().replace(['/', '.', '_'], "-");
    let file = root.join("projects").join(slug).join(format!("{id}.jsonl"));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        format!(
            r#"{{"type":"user","sessionId":"{id}","uuid":"u-{id}","cwd":"{}","timestamp":"2026-11-{day:02}T10:00:00.000Z","message":{{"content":"{prompt}"}}}}"#,
            cwd.display(),
        ) + "\n",
    )
    .unwrap();
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command that must fail with exit code `code` and a message holding every one of `words`.
fn fails_with(cmd: &mut Command, code: i32, words: &[&str]) -> Output {
    let out = cmd.output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(code), "{cmd:?}: {err}");
    for word in words {
        assert!(err.contains(word), "{cmd:?}: {word:?} not in {err}");
    }
    out
}

/// Every session of `db` and whether it is on disk.
fn on_disk(home: &Path, db: &Path) -> Vec<bool> {
    json(&run(sessiondb(home)
        .env("SESSIONDB_DB", db)
        .args(["ls", "--json"])))
    .as_array()
    .unwrap()
    .iter()
    .map(|s| s["on_disk"].as_bool().unwrap())
    .collect()
}

#[test]
fn sync_of_a_dir_that_is_not_a_config_dir_is_an_error_and_marks_nothing_gone() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    let manifest = generate(&corpus, 61, &["--total-mb", "1"]);
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", corpus.to_str().unwrap()]));
    let sessions = manifest["sessions"].as_array().unwrap().len();
    assert_eq!(on_disk(dir.path(), &db), vec![true; sessions]);

    // One level too deep: refused, with the dir to pass instead.
    let projects = corpus.join("projects");
    fails_with(
        sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .args(["sync", projects.to_str().unwrap()]),
        2,
        &[
            "is not a Claude config dir",
            "holding projects/",
            &format!("projects dir of {}", corpus.display()),
        ],
    );
    // A path that does not exist.
    let typo = dir.path().join("cluade");
    fails_with(
        sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .args(["sync", typo.to_str().unwrap()]),
        2,
        &["does not exist", "expected a Claude config dir"],
    );
    assert_eq!(on_disk(dir.path(), &db), vec![true; sessions]);
}

#[test]
fn a_missing_or_empty_configured_root_keeps_its_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    let manifest = generate(&corpus, 62, &["--total-mb", "1"]);
    let sessions = manifest["sessions"].as_array().unwrap().len();
    let db = dir.path().join("index.db");
    let sync = |extra: &[(&str, &Path)]| {
        let mut cmd = sessiondb(dir.path());
        cmd.env("SESSIONDB_DB", &db)
            .env("CLAUDE_CONFIG_DIR", &corpus)
            .args(["sync", "--json"]);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        (json(&out), stderr_of(&out))
    };
    sync(&[]);

    // Unmounted: the configured root is gone. A warning, exit 0, nothing marked gone.
    let away = dir.path().join("unmounted");
    std::fs::rename(&corpus, &away).unwrap();
    let (report, err) = sync(&[]);
    assert_eq!(report["files_missing"], 0);
    assert_eq!(report["unavailable_roots"][0]["reason"], "missing");
    assert!(
        err.contains("does not exist") && err.contains("keep their state"),
        "{err}"
    );
    assert_eq!(on_disk(dir.path(), &db), vec![true; sessions]);

    // Mounted but empty (the projects dir not there).
    std::fs::create_dir_all(&corpus).unwrap();
    let (report, err) = sync(&[]);
    assert_eq!(report["files_missing"], 0);
    assert_eq!(report["unavailable_roots"][0]["reason"], "empty");
    assert!(err.contains("holds no session files"), "{err}");
    assert_eq!(on_disk(dir.path(), &db), vec![true; sessions]);

    // Back: nothing to read again, nothing gone.
    std::fs::remove_dir(&corpus).unwrap();
    std::fs::rename(&away, &corpus).unwrap();
    let (report, err) = sync(&[]);
    assert_eq!(report["files_read"], 0, "{report}");
    assert_eq!(report["unavailable_roots"], serde_json::json!([]));
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(on_disk(dir.path(), &db), vec![true; sessions]);
}

/// A config dir with two sessions whose ids share their first 8 characters.
fn two_sessions_sharing_a_prefix(dir: &Path) -> (PathBuf, [&'static str; 2]) {
    let root = dir.join("claude");
    let ids = [
        "abcd1234-0000-4000-8000-000000000001",
        "abcd1234-1111-4000-8000-000000000002",
    ];
    let project = dir.join("proj");
    std::fs::create_dir_all(&project).unwrap();
    write_session(&root, &project, ids[0], "first prompt", 1);
    write_session(&root, &project, ids[1], "second prompt", 2);
    (root, ids)
}

#[test]
fn unknown_ambiguous_and_too_short_ids_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ids) = two_sessions_sharing_a_prefix(dir.path());
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", root.to_str().unwrap()]));
    for command in ["show", "export", "chain"] {
        let cmd = || {
            let mut c = sessiondb(dir.path());
            c.env("SESSIONDB_DB", &db).arg(command);
            c
        };
        fails_with(cmd().arg("abcd1234"), 2, &["ambiguous", ids[0], ids[1]]);
        fails_with(cmd().arg("ab"), 2, &["too short", "at least 4"]);
        fails_with(cmd().arg("ffff0000"), 2, &["no session \"ffff0000\""]);
        // A unique prefix still works.
        run(cmd().arg("abcd1234-1"));
    }
}

#[test]
fn run_and_resume_name_a_missing_project_dir() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let gone_project = dir.path().join("deleted-project");
    write_session(
        &root,
        &gone_project,
        "00000000-0000-4000-8000-00000000000a",
        "tune the planner",
        1,
    );
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", root.to_str().unwrap()]));
    let fake = dir.path().join("fake-claude");
    std::fs::write(&fake, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let typo = dir.path().join("no-such-dir");
    let out = fails_with(
        sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .env("CLAUDE_CONFIG_DIR", &root)
            .env("SESSIONDB_CLAUDE_BIN", &fake)
            .args(["run", "--dir", typo.to_str().unwrap(), "--", "-p", "hi"]),
        2,
        &[typo.to_str().unwrap(), "no such directory"],
    );
    assert!(!stderr_of(&out).contains("fake-claude"));

    let out = fails_with(
        sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .env("SESSIONDB_CLAUDE_BIN", &fake)
            .args(["resume", "--no-sync", "--query", "planner"]),
        1,
        &[gone_project.to_str().unwrap(), "does not exist"],
    );
    assert!(!stderr_of(&out).contains("fake-claude"));
}

#[test]
fn track_expands_a_prefix_and_warns_on_an_unknown_id() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ids) = two_sessions_sharing_a_prefix(dir.path());
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", root.to_str().unwrap()]));
    let track = |session: &str| {
        let mut cmd = sessiondb(dir.path());
        cmd.env("SESSIONDB_DB", &db).args([
            "track",
            "--key",
            "app:p1",
            "--source",
            "test",
            "--session",
            session,
        ]);
        cmd
    };
    let out = run(&mut track("abcd1234-1"));
    assert!(!stderr_of(&out).contains("warning"));
    let out = run(&mut track("11111111-2222-4333-8444-555555555555"));
    assert!(
        stderr_of(&out).contains("not in the index (yet)"),
        "{}",
        stderr_of(&out)
    );
    fails_with(&mut track("abcd1234"), 2, &["ambiguous"]);
    // An unknown key is a mistake in what was typed too.
    fails_with(
        sessiondb(dir.path()).env("SESSIONDB_DB", &db).args([
            "latest",
            "--key",
            "app:p2",
            "--no-sync",
        ]),
        2,
        &["no key \"app:p2\""],
    );
    let log = json(&run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["transitions", "--json"])));
    let recorded: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        recorded,
        vec![ids[1], "11111111-2222-4333-8444-555555555555"]
    );
}

#[test]
fn read_only_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.db");
    for args in [
        &["ls"][..],
        &["show", "abcd1234"],
        &["usage", "daily"],
        &["doctor"],
        &["chain", "abcd1234"],
        &["export", "abcd1234"],
        &["transitions"],
        &["latest", "--key", "k", "--no-sync"],
        &["archive"],
    ] {
        fails_with(
            sessiondb(dir.path()).arg("--db").arg(&db).args(args),
            2,
            &["no database at", db.to_str().unwrap(), "flag --db"],
        );
        assert!(!db.exists(), "{args:?} created {}", db.display());
        assert!(
            !dir.path().join("typo.db-captures").exists(),
            "{args:?} created captures"
        );
    }
}

#[test]
fn resume_json_prints_the_pick_without_running_claude() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = dir.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let id = "00000000-0000-4000-8000-00000000000b";
    write_session(&root, &project, id, "fix the login redirect", 1);
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", root.to_str().unwrap()]));
    let called = dir.path().join("called");
    let fake = dir.path().join("fake-claude");
    std::fs::write(&fake, format!("#!/bin/sh\ntouch '{}'\n", called.display())).unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pick = json(&run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .env("SESSIONDB_CLAUDE_BIN", &fake)
        .args(["resume", "--json", "--no-sync", "--query", "login"])));
    assert!(!called.exists(), "claude was run");
    assert_eq!(pick["session_id"], id);
    assert_eq!(pick["dir"], project.to_str().unwrap());
    assert_eq!(pick["session"]["title"], "fix the login redirect");
}

#[test]
fn serve_listens_on_a_host_name() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = sessiondb(dir.path())
        .env("SESSIONDB_DB", dir.path().join("index.db"))
        .env("CLAUDE_CONFIG_DIR", dir.path().join("none"))
        .args(["serve", "--listen", "localhost:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut serving = None;
    let mut seen = String::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("serving http://").nth(1) {
            serving = rest.split('/').next().map(str::to_owned);
            break;
        }
    }
    let health = serving.as_deref().map(|host| {
        ureq::get(&format!("http://{host}/api/health"))
            .call()
            .map(|r| r.status())
            .map_err(|e| e.to_string())
    });
    let _ = child.kill();
    let _ = child.wait();
    let host = serving.unwrap_or_else(|| panic!("not serving: {seen}"));
    assert!(host.starts_with("localhost:"), "{host}");
    assert_eq!(health.unwrap(), Ok(200));
    // A malformed address is the user's mistake.
    fails_with(
        sessiondb(dir.path())
            .env("SESSIONDB_DB", dir.path().join("index.db"))
            .args(["serve", "--listen", "localhost"]),
        2,
        &["expected HOST:PORT"],
    );
}

#[test]
fn bad_time_zones_dates_and_ranges_name_the_expected_format() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    write_session(
        &root,
        &dir.path().join("proj"),
        "00000000-0000-4000-8000-00000000000c",
        "hello",
        1,
    );
    let db = dir.path().join("index.db");
    run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["sync", root.to_str().unwrap()]));
    let cmd = || {
        let mut c = sessiondb(dir.path());
        c.env("SESSIONDB_DB", &db);
        c
    };
    fails_with(
        cmd().env("TZ", "Mars/Olympus").args(["usage", "daily"]),
        2,
        &["\"Mars/Olympus\"", "env TZ", "IANA name"],
    );
    fails_with(
        cmd().args(["usage", "daily", "--tz", "Berlin"]),
        2,
        &["\"Berlin\"", "flag --tz", "IANA name"],
    );
    fails_with(
        cmd().args(["usage", "daily", "--since", "2026-13-01"]),
        2,
        &["\"2026-13-01\"", "YYYY-MM-DD"],
    );
    fails_with(
        cmd().args(["ls", "--until", "yesterday"]),
        2,
        &["\"yesterday\"", "YYYY-MM-DD"],
    );
    for command in [&["usage", "daily"][..], &["ls"]] {
        fails_with(
            cmd()
                .args(command)
                .args(["--since", "2026-11-02", "--until", "2026-11-01"]),
            2,
            &["--since 2026-11-02 is after --until 2026-11-01"],
        );
    }
    // A TZ naming a zone file is read as its zone.
    run(cmd()
        .env("TZ", ":/usr/share/zoneinfo/Europe/Berlin")
        .args(["usage", "daily"]));
}

#[test]
fn stderr_has_no_colour_unless_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project_dir = root.join("projects/-loop");
    std::fs::create_dir_all(&project_dir).unwrap();
    // A symlink loop: the walk reports it as a WARN log line and in the report.
    std::os::unix::fs::symlink(&root, project_dir.join("loop")).unwrap();
    write_session(
        &root,
        &dir.path().join("proj"),
        "00000000-0000-4000-8000-00000000000d",
        "hello",
        1,
    );
    let out = sessiondb(dir.path())
        .env("SESSIONDB_DB", dir.path().join("index.db"))
        .args(["sync", root.to_str().unwrap()])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(err.contains("WARN"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    // Unreadable parts are a failure while running, not a usage error.
    assert_eq!(out.status.code(), Some(1), "{err}");
}

#[test]
fn a_second_sync_while_one_runs_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    let manifest = generate(&corpus, 63, &["--total-mb", "8"]);
    let db = dir.path().join("index.db");
    let start = || {
        sessiondb(dir.path())
            .env("SESSIONDB_DB", &db)
            .args(["sync", corpus.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let err = stderr_of(&out);
        assert!(out.status.success(), "{err}");
        // At most one line about the other sync, never a WARN per batch.
        assert!(!err.contains("WARN"), "{err}");
        assert!(err.lines().count() <= 1, "{err}");
    }
    let usage = json(&run(sessiondb(dir.path())
        .env("SESSIONDB_DB", &db)
        .args(["usage", "model", "--json"])));
    assert_eq!(
        usage["totals"]["total_tokens"].as_u64(),
        manifest["expected_dedup"]["tokens"]["total"].as_u64()
    );
}

/// `--db` takes a URL too; one this build has no backend for is a clear usage error that never shows the
/// password, and creates nothing.
#[test]
fn a_database_url_without_a_backend_is_refused_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    for command in [&["ls"][..], &["sync"][..]] {
        let out = sessiondb(dir.path())
            .args(["--db", "postgres://me:s3cret@127.0.0.1:1/sessions"])
            .args(command)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(stderr.contains("PostgreSQL"), "{stderr}");
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
    assert!(!dir.path().join("postgres:").exists());
}
