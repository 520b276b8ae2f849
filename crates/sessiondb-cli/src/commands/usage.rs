//! `sessiondb usage daily|weekly|monthly|session|project|model|branch|blocks`: deduplicated tokens and cost, by
//! period or label, or in Claude's 5-hour billing blocks.

use super::{parse_range, Ctx};
use crate::output;
use anyhow::Result;
use clap::ValueEnum;
use sessiondb_core::{Grouping, Period, UsageQuery};
use sessiondb_service::{BlockSelection, BlocksQuery, Service};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(value_enum)]
    pub group_by: UsageGrouping,
    /// First day included (YYYY-MM-DD or YYYYMMDD, in --tz)
    #[arg(long)]
    pub since: Option<String>,
    /// Last day included (YYYY-MM-DD or YYYYMMDD, in --tz)
    #[arg(long)]
    pub until: Option<String>,
    /// blocks: only the active block
    #[arg(long, conflicts_with = "recent")]
    pub active: bool,
    /// blocks: only blocks of the last three days, and the active one
    #[arg(long)]
    pub recent: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum UsageGrouping {
    Daily,
    Weekly,
    Monthly,
    Session,
    Project,
    Model,
    Branch,
    /// Claude's 5-hour billing blocks (as ccusage's `blocks`)
    Blocks,
}

impl UsageGrouping {
    fn grouping(self) -> Grouping {
        match self {
            UsageGrouping::Blocks => Grouping::Period(Period::Day),
            UsageGrouping::Daily => Grouping::Period(Period::Day),
            UsageGrouping::Weekly => Grouping::Period(Period::Week),
            UsageGrouping::Monthly => Grouping::Period(Period::Month),
            UsageGrouping::Session => Grouping::Session,
            UsageGrouping::Project => Grouping::Project,
            UsageGrouping::Model => Grouping::Model,
            UsageGrouping::Branch => Grouping::Branch,
        }
    }

    /// The heading of the table's first column.
    fn label(self) -> &'static str {
        match self {
            UsageGrouping::Daily => "day",
            UsageGrouping::Weekly => "week of",
            UsageGrouping::Monthly => "month",
            UsageGrouping::Session => "session",
            UsageGrouping::Project => "project",
            UsageGrouping::Model => "model",
            UsageGrouping::Branch => "branch",
            UsageGrouping::Blocks => "block",
        }
    }
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let (since, until) = parse_range(args.since.as_deref(), args.until.as_deref())?;
    let query = UsageQuery {
        grouping: args.group_by.grouping(),
        since,
        until,
        tz: ctx.tz,
    };
    if let UsageGrouping::Blocks = args.group_by {
        let (since_ms, until_ms) = query.range_ms();
        let blocks = service.usage_blocks(&BlocksQuery {
            since_ms,
            until_ms,
            now_ms: chrono::Utc::now().timestamp_millis(),
            selection: if args.active {
                BlockSelection::Active
            } else if args.recent {
                BlockSelection::Recent
            } else {
                BlockSelection::All
            },
        })?;
        if ctx.json {
            ctx.print_json(&serde_json::json!({ "blocks": blocks }))?;
        } else {
            output::print_blocks(ctx.out, &blocks, ctx.tz)?;
        }
        return Ok(0);
    }
    if args.active || args.recent {
        return Err(crate::exit::usage(
            "--active and --recent apply to `usage blocks`",
        ));
    }
    let report = service.usage(&query)?;
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        output::print_usage(ctx.out, &report, args.group_by.label())?;
    }
    Ok(0)
}
