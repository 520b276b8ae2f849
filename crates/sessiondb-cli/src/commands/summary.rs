//! `sessiondb` without a command: sync the configured dirs, then print the last seven days' usage, the recent
//! sessions and the all-time totals.

use super::{sync_exit_code, sync_with_progress, Ctx};
use crate::output;
use anyhow::Result;
use sessiondb_core::{Grouping, Period, SessionFilter, UsageQuery};
use sessiondb_service::Service;

pub fn run(ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let report = sync_with_progress(service, &ctx.settings.claude_dirs.value, 0)?;
    output::print_sync_report(&mut std::io::stderr(), &report)?;
    output::print_sync_warnings(&mut std::io::stderr(), &report)?;
    let tz = ctx.tz;
    let week = UsageQuery {
        grouping: Grouping::Period(Period::Day),
        since: Some(
            (chrono::Utc::now().with_timezone(&tz) - chrono::Duration::days(6)).date_naive(),
        ),
        until: None,
        tz,
    };
    let usage = service.usage(&week)?;
    let sessions = service.sessions(&SessionFilter {
        limit: Some(10),
        ..SessionFilter::default()
    })?;
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "sync": report, "usage_last_7_days": usage, "recent_sessions": sessions,
        }))?;
        return Ok(sync_exit_code(&report));
    }
    let out = &mut *ctx.out;
    writeln!(out, "Usage, last 7 days ({}):", ctx.settings.tz.value)?;
    output::print_usage(out, &usage, "day")?;
    writeln!(out)?;
    writeln!(out, "Recent sessions:")?;
    output::print_sessions(out, &sessions, tz)?;
    let totals = service
        .usage(&UsageQuery {
            grouping: Grouping::Model,
            since: None,
            until: None,
            tz,
        })?
        .totals;
    writeln!(
        out,
        "\nAll time: {} tokens, {}{} in {} responses. More: sessiondb usage daily|monthly|project|model, sessiondb ls, sessiondb --help",
        output::human_count(totals.total_tokens),
        output::usd(totals.cost_usd),
        if totals.unpriced_tokens > 0 {
            format!(" (+{} unpriced tokens)", output::human_count(totals.unpriced_tokens))
        } else {
            String::new()
        },
        totals.responses
    )?;
    Ok(sync_exit_code(&report))
}
