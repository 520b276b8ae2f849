//! `sessiondb config`: each setting and where it came from.

use super::Ctx;
use crate::output;
use anyhow::Result;

pub fn run(ctx: &mut Ctx<'_>) -> Result<i32> {
    if ctx.json {
        ctx.print_json(ctx.settings)?;
    } else {
        output::print_settings(ctx.out, ctx.settings)?;
    }
    Ok(0)
}
