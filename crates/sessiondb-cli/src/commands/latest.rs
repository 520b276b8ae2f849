//! `sessiondb latest --key K | --dir DIR`: the session to resume, checked against the files (exit 3 when no
//! valid one exists).

use super::{absolute_dir, sync_with_progress, Ctx};
use anyhow::Result;
use clap_complete::engine::ArgValueCompleter;
use sessiondb_service::Service;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, required_unless_present = "dir", conflicts_with = "dir", add = ArgValueCompleter::new(super::completions::keys))]
    pub key: Option<String>,
    /// The session `claude --continue` would take in this directory
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Answer from the index as it is, without syncing first
    #[arg(long)]
    pub no_sync: bool,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    if !args.no_sync {
        sync_with_progress(service, &ctx.settings.claude_dirs.value, 0)?;
    }
    let latest = match (args.key, args.dir) {
        (Some(key), _) => service.latest_for_key(&key)?,
        (None, Some(dir)) => service.latest_for_dir(&absolute_dir(dir))?,
        (None, None) => return Err(crate::exit::usage("give --key KEY or --dir DIR")),
    };
    if ctx.json {
        ctx.print_json(&latest)?;
    } else {
        writeln!(
            ctx.out,
            "{}  ({}{})",
            latest.session_id.as_deref().unwrap_or("-"),
            if latest.valid { "" } else { "NOT VALID: " },
            latest.reason
        )?;
    }
    Ok(if latest.valid { 0 } else { 3 })
}
