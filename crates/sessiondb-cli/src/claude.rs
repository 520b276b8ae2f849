//! Running the real `claude` for `sessiondb run` ([`ClaudeLauncher`], the service's [`Launcher`]): the
//! session id it reports, and whether a resume failed. Which session to resume, the fallback and the
//! transition are the service's (`sessiondb_service::Service::run`).
//!
//! In print mode (`-p`) the child's stdout and stderr are piped through line by line. While a resume is being
//! attempted, stdout is held back until the first conversation line shows the resume worked, so that a failed
//! attempt's error output never reaches the caller ahead of the retry's. Interactive runs inherit the terminal.

use anyhow::{Context, Result};
use sessiondb_service::{Launch, LaunchError, Launcher};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn is_print_mode(args: &[String]) -> bool {
    args.iter().any(|a| a == "-p" || a == "--print")
}

/// Runs `claude [--resume ID] ARGS` in `dir`.
pub fn run_claude(
    claude: &Path,
    dir: &Path,
    resume: Option<&str>,
    args: &[String],
) -> Result<Launch> {
    let mut command = Command::new(claude);
    command.current_dir(dir);
    if let Some(id) = resume {
        command.arg("--resume").arg(id);
    }
    command.args(args);
    if !is_print_mode(args) {
        let status = command
            .status()
            .with_context(|| format!("cannot run {}", claude.display()))?;
        return Ok(Launch {
            exit_code: status.code().unwrap_or(1),
            ..Launch::default()
        });
    }
    let mut child = command
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", claude.display()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let holding = resume.is_some();

    let err_thread = std::thread::spawn(move || -> Vec<u8> {
        // Forward stderr as it comes, keeping the start of it to recognise a failed resume.
        let mut reader = BufReader::new(stderr);
        let mut kept = Vec::new();
        let mut chunk = [0u8; 8192];
        let mut sink = std::io::stderr();
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let _ = sink.write_all(&chunk[..n]);
            if kept.len() < 64 * 1024 {
                kept.extend_from_slice(&chunk[..n]);
            }
        }
        kept
    });

    let mut reader = BufReader::new(stdout);
    let mut sink = std::io::stdout();
    let mut held: Vec<u8> = Vec::new();
    let mut committed = !holding;
    let mut init_id = None;
    let mut result_id = None;
    let mut result_error = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&line) {
            let kind = value
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or_default();
            let id = value
                .get("session_id")
                .and_then(|s| s.as_str())
                .map(str::to_owned);
            match kind {
                "system" if value.get("subtype").and_then(|s| s.as_str()) == Some("init") => {
                    init_id = id
                }
                "result" => {
                    result_error = value
                        .get("is_error")
                        .and_then(|e| e.as_bool())
                        .unwrap_or(false);
                    if !result_error {
                        committed = true;
                    }
                    result_id = id;
                }
                "assistant" | "user" => committed = true,
                _ => {}
            }
        }
        if committed {
            if !held.is_empty() {
                let _ = sink.write_all(&held);
                held.clear();
            }
            let _ = sink.write_all(&line);
            let _ = sink.flush();
        } else {
            held.extend_from_slice(&line);
        }
    }
    let status = child.wait().context("waiting for claude")?;
    let stderr_kept = err_thread.join().unwrap_or_default();
    let exit_code = status.code().unwrap_or(1);
    let stderr_text = String::from_utf8_lossy(&stderr_kept);
    let no_conversation = stderr_text
        .lines()
        .chain(String::from_utf8_lossy(&held).lines())
        .find(|l| l.contains("No conversation found"))
        .map(|l| l.trim().chars().take(300).collect::<String>());
    let resume_failed = holding && !committed && exit_code != 0;
    if !resume_failed && !held.is_empty() {
        let _ = sink.write_all(&held);
    }
    let _ = sink.flush();
    let reported_session_id = if exit_code == 0 && !result_error {
        result_id.or(init_id)
    } else {
        None
    };
    Ok(Launch {
        exit_code,
        reported_session_id,
        resume_failed,
        failure_reason: resume_failed.then(|| {
            no_conversation
                .unwrap_or_else(|| format!("claude exited with {exit_code} before any output"))
        }),
    })
}

/// `claude` to run: `--claude-bin`, `SESSIONDB_CLAUDE_BIN`, else the first `claude` on `PATH`.
pub fn find_claude(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(path) = flag {
        return Ok(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("claude"))
        .find(|candidate| candidate.is_file())
        .context(
            "no `claude` on PATH: install Claude Code, or pass --claude-bin / SESSIONDB_CLAUDE_BIN",
        )
}

/// Starts `claude` with the arguments given after `--`.
pub struct ClaudeLauncher {
    pub claude: PathBuf,
    pub args: Vec<String>,
}

impl Launcher for ClaudeLauncher {
    fn launch(&mut self, dir: &Path, resume: Option<&str>) -> Result<Launch, LaunchError> {
        run_claude(&self.claude, dir, resume, &self.args).map_err(|err| format!("{err:#}").into())
    }

    fn reports_itself(&self) -> bool {
        is_print_mode(&self.args)
    }

    fn retrying_fresh(&mut self, session_id: &str, reason: &str) {
        eprintln!("sessiondb: resuming {session_id} failed ({reason}); starting a fresh session");
    }
}
