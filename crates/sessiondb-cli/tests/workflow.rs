//! `sessiondb project` and `sessiondb workflow` as a user runs them: the JSON contract of `workflow ls`, its
//! filters and paging, projects from the config file, and changes through the state manager with their exit
//! codes.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

/// The binary with a clean environment: no user config, no real ~/.claude.
fn sessiondb(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessiondb"));
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("CLAUDE_CONFIG_DIR", home.join("claude"));
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

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `n` workflow folders under `root`: phase by index, `i % 6` checkpoints.
fn folders(root: &Path, n: usize) {
    let phases = ["spec", "plan", "build", "review", "done"];
    for i in 0..n {
        let dir = root.join(format!("agents/sessions/s{i:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        let checkpoints: Vec<Value> = (0..i % 6)
            .map(|k| json!({"id": k, "done": k == 0}))
            .collect();
        let state = json!({"title": format!("S{i}"), "phase": phases[i % 5], "checkpoints": checkpoints,
                           "updated_at": 1771236000 + i as i64, "session_type": "full"});
        std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
    }
}

#[test]
fn workflow_ls_json_lists_rows_with_their_fields_filters_and_pages() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("app");
    folders(&project, 30);
    let out = run(sessiondb(home.path())
        .args(["project", "add"])
        .arg(&project)
        .args(["--name", "app", "--json"]));
    assert_eq!(json_of(&out)["sync"]["indexed"], 30);
    run(sessiondb(home.path()).arg("sync"));

    let rows = json_of(&run(
        sessiondb(home.path()).args(["workflow", "ls", "--json"])
    ));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 30);
    let first = &rows[0];
    for field in [
        "project",
        "root",
        "slug",
        "title",
        "phase",
        "status",
        "session_type",
        "checkpoints_total",
        "checkpoints_done",
        "created_at",
        "updated_at",
        "on_disk",
        "error",
    ] {
        assert!(first.get(field).is_some(), "{field} missing from {first}");
    }
    // Newest update first.
    assert_eq!(
        (first["slug"].as_str(), first["project"].as_str()),
        (Some("s029"), Some("app"))
    );
    assert_eq!(
        first["root"],
        project.canonicalize().unwrap().display().to_string()
    );

    let build = json_of(&run(
        sessiondb(home.path()).args(["workflow", "ls", "--json", "--phase", "build"])
    ));
    assert_eq!(build.as_array().unwrap().len(), 6);
    assert!(build
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["phase"] == "build"));
    let many = json_of(&run(sessiondb(home.path()).args([
        "workflow",
        "ls",
        "--json",
        "--min-checkpoints",
        "4",
    ])));
    assert_eq!(many.as_array().unwrap().len(), 10);
    let page = json_of(&run(sessiondb(home.path()).args([
        "workflow",
        "ls",
        "--json",
        "--project",
        "app",
        "--limit",
        "5",
        "--offset",
        "5",
    ])));
    let slugs: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["s024", "s023", "s022", "s021", "s020"]);

    // A deleted folder stays listed, gone.
    std::fs::remove_dir_all(project.join("agents/sessions/s003")).unwrap();
    run(sessiondb(home.path()).arg("sync"));
    let rows = json_of(&run(
        sessiondb(home.path()).args(["workflow", "ls", "--json"])
    ));
    let gone = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["slug"] == "s003")
        .unwrap();
    assert_eq!(gone["on_disk"], false);

    // An unknown project is not a crash.
    let out = sessiondb(home.path())
        .args(["workflow", "ls", "--project", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no registered project"));
}

#[test]
fn projects_in_the_config_file_are_indexed_by_sync() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("from-config");
    folders(&project, 4);
    let config = home.path().join("config/sessiondb/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "[[projects]]\npath = {:?}\nname = \"cfg\"\n",
            project.display().to_string()
        ),
    )
    .unwrap();
    run(sessiondb(home.path()).arg("sync"));
    let rows = json_of(&run(sessiondb(home.path()).args([
        "workflow",
        "ls",
        "--json",
        "--project",
        "cfg",
    ])));
    assert_eq!(rows.as_array().unwrap().len(), 4);
    let projects = json_of(&run(
        sessiondb(home.path()).args(["project", "ls", "--json"])
    ));
    assert_eq!(projects[0]["name"], "cfg");
    assert_eq!(projects[0]["workflow_sessions"], 4);
}

#[test]
fn workflow_new_phase_and_checkpoint_change_the_files_and_the_index() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("app");
    std::fs::create_dir_all(&project).unwrap();
    run(sessiondb(home.path())
        .args(["project", "add"])
        .arg(&project));
    let created = json_of(&run(sessiondb(home.path()).args([
        "workflow", "new", "app", "feature", "--title", "Feature", "--json",
    ])));
    assert_eq!(
        (
            created["version"].as_u64(),
            created["row"]["phase"].as_str()
        ),
        (Some(1), Some("spec"))
    );
    run(sessiondb(home.path()).args([
        "workflow",
        "checkpoint",
        "app",
        "feature",
        "--add",
        "tests",
        "--id",
        "t",
    ]));
    let moved = json_of(&run(sessiondb(home.path()).args([
        "workflow",
        "phase",
        "app",
        "feature",
        "plan",
        "--expect-version",
        "2",
        "--json",
    ])));
    assert_eq!(moved["row"]["phase"], "plan");
    // A stale version, a skipped phase and a bad slug are the user's mistakes: exit 2, files untouched.
    for args in [
        vec![
            "workflow",
            "phase",
            "app",
            "feature",
            "build",
            "--expect-version",
            "2",
        ],
        vec!["workflow", "phase", "app", "feature", "done"],
        vec!["workflow", "new", "app", "../escape"],
    ] {
        let out = sessiondb(home.path()).args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let state: Value = serde_json::from_slice(
        &std::fs::read(project.join("agents/sessions/feature/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (state["version"].as_u64(), state["phase"].as_str()),
        (Some(3), Some("plan"))
    );
    run(sessiondb(home.path()).args(["workflow", "checkpoint", "app", "feature", "--done", "t"]));
    let shown = json_of(&run(
        sessiondb(home.path()).args(["workflow", "show", "app", "feature", "--json"])
    ));
    assert_eq!(
        (
            shown["checkpoints_done"].as_u64(),
            shown["state"]["version"].as_u64()
        ),
        (Some(1), Some(4))
    );
    assert!(!home.path().join("escape").exists());

    // --no-index writes the files only; the next sync indexes them.
    let out = json_of(&run(sessiondb(home.path()).args([
        "workflow",
        "phase",
        "app",
        "feature",
        "build",
        "--no-index",
        "--json",
    ])));
    assert_eq!(
        (out["version"].as_u64(), &out["row"]),
        (Some(5), &Value::Null)
    );
    let shown = json_of(&run(
        sessiondb(home.path()).args(["workflow", "show", "app", "feature", "--json"])
    ));
    assert_eq!(shown["phase"], "plan");
    run(sessiondb(home.path()).arg("sync"));
    let shown = json_of(&run(
        sessiondb(home.path()).args(["workflow", "show", "app", "feature", "--json"])
    ));
    assert_eq!(shown["phase"], "build");
}
