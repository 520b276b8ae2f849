//! What the CLI's test binaries share: how a test that cannot find a real part it needs (ccusage, tmux, the
//! real Claude Code CLI) reports it. Under `CI=true` that is a failure; elsewhere the test is skipped, loudly,
//! and the skip is appended to `$SESSIONDB_SKIP_LOG` so that `scripts/test.sh` lists it at the end.

use std::path::Path;

/// Call when `test` cannot run because `missing` is absent; `fix` says how to get it. Panics under `CI=true`;
/// otherwise records the skip, and the caller returns.
pub fn skip(test: &str, missing: &str, fix: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let log = std::env::var_os("SESSIONDB_SKIP_LOG");
    skip_with(ci, log.as_deref().map(Path::new), test, missing, fix);
}

fn skip_with(ci: bool, log: Option<&Path>, test: &str, missing: &str, fix: &str) {
    let line = format!("{test}: {missing} (fix: {fix})");
    if ci {
        panic!(
            "CI=true and a real part is missing, so this test fails instead of skipping: {line}"
        );
    }
    eprintln!("\n!!!!!!!! SKIPPED {line}\n");
    if let Some(log) = log {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}

#[test]
fn a_missing_real_part_fails_under_ci_and_is_listed_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skips.log");
    skip_with(
        false,
        Some(&log),
        "t1",
        "tmux is not installed",
        "apt-get install tmux",
    );
    skip_with(
        false,
        Some(&log),
        "t2",
        "no ccusage",
        "scripts/install-peers.sh",
    );
    let listed = std::fs::read_to_string(&log).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("t1: tmux is not installed (fix: apt-get install tmux)"));
    let under_ci = std::panic::catch_unwind(|| skip_with(true, None, "t3", "gone", "fix"));
    assert!(under_ci.is_err(), "a skip under CI=true must fail the test");
}
