//! `sessiondb sync [DIR…]`: index the config dirs (the configured ones, or those named).

use super::{sync_exit_code, sync_with_progress, Ctx};
use crate::output;
use anyhow::Result;
use sessiondb_service::Service;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Config dirs to sync instead of the configured ones
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Reader threads (default: one per core)
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let roots = if args.dirs.is_empty() {
        ctx.settings.claude_dirs.value.clone()
    } else {
        args.dirs
    };
    let report = sync_with_progress(service, &roots, args.threads)?;
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        output::print_sync_report(ctx.out, &report)?;
    }
    output::print_sync_warnings(&mut std::io::stderr(), &report)?;
    Ok(sync_exit_code(&report))
}
