//! `sessiondb run [--key K] -- CLAUDE ARGS`: run claude resuming the key's session (a fresh one when the
//! resume fails) and record the session it used.

use super::{Ctx, ProgressBar};
use crate::claude::{self, ClaudeLauncher};
use crate::exit::usage;
use anyhow::{Context, Result};
use clap_complete::engine::ArgValueCompleter;
use sessiondb_service::{ResumeChoice, RunRequest, Service};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The registry key to resume and to record the new head under [default: dir:<DIR>]
    #[arg(long, add = ArgValueCompleter::new(super::completions::keys))]
    pub key: Option<String>,
    /// Directory to run claude in [default: the current directory]
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Start a new session instead of resuming
    #[arg(long)]
    pub new: bool,
    /// Resume this session id, without checking it against the index first
    #[arg(long, conflicts_with = "new", add = ArgValueCompleter::new(super::completions::session_ids))]
    pub session: Option<String>,
    /// The source recorded with the transition
    #[arg(long, default_value = "run")]
    pub source: String,
    /// The claude binary [default: `claude` on PATH]
    #[arg(long, env = "SESSIONDB_CLAUDE_BIN")]
    pub claude_bin: Option<PathBuf>,
    /// Arguments passed to claude (after `--`)
    #[arg(last = true)]
    pub args: Vec<String>,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let dir = match args.dir {
        Some(dir) if !dir.is_dir() => {
            return Err(usage(format!(
                "--dir {}: no such directory (expected the project dir to run claude in)",
                dir.display()
            )))
        }
        Some(dir) => std::path::absolute(&dir).unwrap_or(dir),
        None => std::env::current_dir().context("no current directory")?,
    };
    let mut launcher = ClaudeLauncher {
        claude: claude::find_claude(args.claude_bin)?,
        args: args.args,
    };
    let key = args
        .key
        .unwrap_or_else(|| format!("dir:{}", dir.to_string_lossy()));
    let resume = match (args.new, args.session) {
        (true, _) => ResumeChoice::New,
        (false, Some(id)) => ResumeChoice::Session(id),
        (false, None) => ResumeChoice::FromRegistry,
    };
    let progress = ProgressBar::new();
    let request = RunRequest {
        key: key.clone(),
        dir,
        resume,
        source: args.source,
        roots: &ctx.settings.claude_dirs.value,
        observer: &progress,
    };
    let report = service.run(&request, &mut launcher)?;
    progress.finish();
    match &report.transition {
        Some(t) => eprintln!(
            "sessiondb: {key}: {} -> {}",
            t.previous_session_id.as_deref().unwrap_or("(none)"),
            t.session_id
        ),
        None => eprintln!("sessiondb: the run reported no session id; nothing recorded"),
    }
    Ok(report.exit_code)
}
