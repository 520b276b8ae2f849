//! `sessiondb usage daily|weekly|monthly|session|project|model|branch`: deduplicated tokens and cost.

use super::{parse_range, Ctx};
use crate::output;
use anyhow::Result;
use clap::ValueEnum;
use sessiondb_core::{Grouping, Period, UsageQuery};
use sessiondb_service::Service;

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
}

impl UsageGrouping {
    fn grouping(self) -> Grouping {
        match self {
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
        }
    }
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let (since, until) = parse_range(args.since.as_deref(), args.until.as_deref())?;
    let report = service.usage(&UsageQuery {
        grouping: args.group_by.grouping(),
        since,
        until,
        tz: ctx.tz,
    })?;
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        output::print_usage(ctx.out, &report, args.group_by.label())?;
    }
    Ok(0)
}
