//! `sessiondb resume`: pick a session (this directory's first) and resume it with claude in its own dir.

use super::{sync_with_progress, Ctx};
use crate::{claude, picker};
use anyhow::{bail, Context, Result};
use sessiondb_service::{ResumePlan, Service};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the command instead of running it
    #[arg(long)]
    pub print: bool,
    /// Take the newest resumable session of the current directory, without the picker
    #[arg(long)]
    pub last: bool,
    /// Start with this query; without a terminal, take its best match
    #[arg(long, short = 'q')]
    pub query: Option<String>,
    /// Use the index as it is, without syncing first
    #[arg(long)]
    pub no_sync: bool,
    /// The claude binary [default: `claude` on PATH]
    #[arg(long, env = "SESSIONDB_CLAUDE_BIN")]
    pub claude_bin: Option<PathBuf>,
    /// Load the sessions and draw the first frame into a buffer, print how long that took, and exit
    #[arg(long, hide = true)]
    pub bench_open: bool,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let opened = std::time::Instant::now();
    if !args.no_sync && !args.bench_open {
        sync_with_progress(service, &ctx.settings.claude_dirs.value, 0)?;
    }
    let cwd = std::env::current_dir().context("no current directory")?;
    let cwd_text = cwd.to_string_lossy().into_owned();
    let chosen = if args.last {
        service.newest_resumable(&cwd_text)?
    } else {
        let mut picker = picker::Picker::new(service.resumable_sessions()?, &cwd_text);
        if let Some(q) = &args.query {
            picker.set_query(q);
        }
        if args.bench_open {
            let mut frame = Vec::new();
            picker::draw(&mut frame, &picker, 160, 50)?;
            writeln!(ctx.out, "{:.1} ms", opened.elapsed().as_secs_f64() * 1000.0)?;
            return Ok(0);
        }
        use std::io::IsTerminal;
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        let picked = if interactive {
            picker::run_tui(picker)?
        } else {
            picker.current().cloned()
        };
        match picked {
            Some(s) => s,
            None if interactive => return Ok(130),
            None => bail!("no session matches"),
        }
    };
    let claude = if args.print || ctx.json {
        args.claude_bin.unwrap_or_else(|| PathBuf::from("claude"))
    } else {
        claude::find_claude(args.claude_bin)?
    };
    let plan = ResumePlan::new(chosen, &cwd_text, &claude.to_string_lossy());
    if ctx.json {
        ctx.print_json(&plan)?;
        return Ok(0);
    }
    if args.print {
        writeln!(ctx.out, "{}", plan.command)?;
        return Ok(0);
    }
    if !plan.dir_exists {
        bail!(
            "cannot resume {}: its project dir {} does not exist (claude resumes a session only from its own dir)",
            plan.session_id,
            plan.dir
        );
    }
    let mut command = std::process::Command::new(&claude);
    command
        .current_dir(&plan.dir)
        .arg("--resume")
        .arg(&plan.session_id);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = command.exec();
        bail!("cannot run {}: {err}", claude.display());
    }
    #[cfg(not(unix))]
    {
        let status = command.status()?;
        Ok(status.code().unwrap_or(1))
    }
}
