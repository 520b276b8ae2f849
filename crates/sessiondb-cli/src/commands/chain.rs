//! `sessiondb chain ID | --project DIR`: the chain a session belongs to, as a tree, and its head.

use super::{absolute_dir, Ctx};
use crate::output;
use anyhow::Result;
use clap_complete::engine::ArgValueCompleter;
use sessiondb_service::{ChainStart, Service};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Session id, or a unique prefix of at least 4 characters
    #[arg(required_unless_present = "project", conflicts_with = "project", add = ArgValueCompleter::new(super::completions::session_ids))]
    pub session_id: Option<String>,
    /// The chain of the newest resumable session of this project dir
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let start = match (args.session_id, args.project) {
        (Some(id), _) => ChainStart::Session(id),
        (None, Some(dir)) => ChainStart::Dir(absolute_dir(dir)),
        (None, None) => return Err(crate::exit::usage("give a session id or --project DIR")),
    };
    let chain = service.chain(&start)?;
    if ctx.json {
        ctx.print_json(&chain)?;
    } else {
        output::print_chain(ctx.out, &chain, ctx.tz)?;
    }
    Ok(0)
}
