//! `sessiondb export ID`: a session's raw JSONL lines from the archive.

use anyhow::Result;
use clap_complete::engine::ArgValueCompleter;
use sessiondb_service::Service;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Session id, or a unique prefix of at least 4 characters
    #[arg(add = ArgValueCompleter::new(super::completions::session_ids))]
    pub session_id: String,
}

pub fn run(args: Args, out: &mut dyn Write, service: &mut Service<'_>) -> Result<i32> {
    let (_, lines) = service.export(&args.session_id)?;
    for line in lines {
        out.write_all(&line)?;
        if !line.ends_with(b"\n") {
            out.write_all(b"\n")?;
        }
    }
    Ok(0)
}
