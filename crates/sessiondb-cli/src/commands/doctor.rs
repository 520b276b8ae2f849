//! `sessiondb doctor`: what was skipped and why, sizes, and how a running `serve` syncs.

use super::Ctx;
use crate::{output, serve_status};
use anyhow::Result;
use sessiondb_service::Service;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Examples shown per file and kind of problem
    #[arg(long, default_value_t = 3)]
    pub examples: usize,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let report = service.doctor(args.examples)?;
    let serve = serve_status::read(&ctx.settings.db.value);
    if ctx.json {
        let mut value = serde_json::to_value(&report)?;
        value["serve"] = serde_json::to_value(&serve)?;
        ctx.print_json(&value)?;
    } else {
        output::print_doctor(ctx.out, &report)?;
        if let Some(serve) = &serve {
            output::print_serve_status(ctx.out, serve)?;
        }
    }
    Ok(0)
}
