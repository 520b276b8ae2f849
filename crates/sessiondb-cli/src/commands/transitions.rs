//! `sessiondb transitions [--key K]`: the registry's audit log, oldest first.

use super::Ctx;
use anyhow::Result;
use clap_complete::engine::ArgValueCompleter;
use sessiondb_service::Service;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, add = ArgValueCompleter::new(super::completions::keys))]
    pub key: Option<String>,
    /// Keep this many days of transitions [default: the config's retention_days, else forever]
    #[arg(long)]
    pub retention_days: Option<u32>,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let log = service.transitions(
        args.key.as_deref(),
        args.retention_days.or(ctx.settings.retention_days),
        chrono::Utc::now().timestamp_millis(),
    )?;
    if ctx.json {
        ctx.print_json(&log)?;
        return Ok(0);
    }
    for t in &log {
        writeln!(
            ctx.out,
            "{}  {:<24} {} -> {}  {}{}",
            t.recorded_at,
            t.key,
            t.previous_session_id.as_deref().unwrap_or("(none)"),
            t.session_id,
            t.source,
            t.note
                .as_deref()
                .map(|n| format!("  {n}"))
                .unwrap_or_default()
        )?;
    }
    Ok(0)
}
