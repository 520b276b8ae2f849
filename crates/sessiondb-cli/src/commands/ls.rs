//! `sessiondb ls`: sessions, newest activity first.

use super::{absolute_dir, parse_day, parse_range, Ctx};
use crate::output;
use anyhow::Result;
use sessiondb_core::{Grouping, SessionFilter, UsageQuery};
use sessiondb_service::Service;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only sessions in this project dir (or below it)
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Only sessions active on or after this day (YYYY-MM-DD)
    #[arg(long)]
    pub since: Option<String>,
    /// Only sessions started on or before this day (YYYY-MM-DD)
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many sessions
    #[arg(long, short = 'n')]
    pub limit: Option<u64>,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let tz = ctx.tz;
    // The first instant of a day in --tz (of the next day, for an inclusive end).
    let day_start = |text: &str, next: bool| -> Result<Option<i64>> {
        let day = parse_day(text)?;
        let day = if next {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        let query = UsageQuery {
            grouping: Grouping::Session,
            since: Some(day),
            until: None,
            tz,
        };
        Ok(query.range_ms().0)
    };
    parse_range(args.since.as_deref(), args.until.as_deref())?;
    let filter = SessionFilter {
        project_dir: args.project.map(absolute_dir),
        since_ms: args
            .since
            .as_deref()
            .map(|s| day_start(s, false))
            .transpose()?
            .flatten(),
        until_ms: args
            .until
            .as_deref()
            .map(|s| day_start(s, true))
            .transpose()?
            .flatten(),
        limit: args.limit,
        ..SessionFilter::default()
    };
    let sessions = service.sessions(&filter)?;
    if ctx.json {
        ctx.print_json(&sessions)?;
    } else {
        output::print_sessions(ctx.out, &sessions, tz)?;
    }
    Ok(0)
}
