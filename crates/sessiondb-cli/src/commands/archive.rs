//! `sessiondb archive`: compress every indexed line only a capture holds into the database.

use super::Ctx;
use anyhow::Result;
use sessiondb_service::Service;

pub fn run(ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let report = service.archive()?;
    if ctx.json {
        ctx.print_json(&report)?;
        return Ok(0);
    }
    writeln!(
        ctx.out,
        "Compressed {:.1} MB from {} files into {}",
        report.bytes as f64 / 1e6,
        report.files,
        ctx.settings.db.value.display()
    )?;
    if report.unreadable_bytes > 0 {
        writeln!(
            ctx.out,
            "{:.1} MB could be read neither from a capture nor from its file (see `sessiondb doctor`)",
            report.unreadable_bytes as f64 / 1e6
        )?;
    }
    Ok(0)
}
