//! `sessiondb show ID`: one session with its usage by model, files and links.

use super::Ctx;
use crate::output;
use anyhow::Result;
use clap_complete::engine::ArgValueCompleter;
use sessiondb_service::Service;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Session id, or a unique prefix of at least 4 characters
    #[arg(add = ArgValueCompleter::new(super::completions::session_ids))]
    pub session_id: String,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let detail = service.show(&args.session_id)?;
    if ctx.json {
        ctx.print_json(&detail)?;
    } else {
        output::print_session(ctx.out, &detail, ctx.tz)?;
    }
    Ok(0)
}
