//! `sessiondb track --key K --session ID --source S`: move an app's key to a session, with its audit entry.

use super::Ctx;
use anyhow::Result;
use clap_complete::engine::ArgValueCompleter;
use sessiondb_service::Service;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The app's own key, e.g. app:project-42
    #[arg(long, add = ArgValueCompleter::new(super::completions::keys))]
    pub key: String,
    /// The session id the key moves to
    #[arg(long, add = ArgValueCompleter::new(super::completions::session_ids))]
    pub session: String,
    /// Who reports the move: build, metadata, compact, chat_plan, run, …
    #[arg(long)]
    pub source: String,
    /// Free text kept with the transition
    #[arg(long)]
    pub note: Option<String>,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let tracked = service.track(
        &args.key,
        &args.session,
        &args.source,
        args.note.as_deref(),
        chrono::Utc::now().timestamp_millis(),
        ctx.settings.retention_days,
    )?;
    let transition = &tracked.transition;
    if !tracked.indexed {
        eprintln!(
            "sessiondb: warning: session {} is not in the index (yet); recorded as given \
             (`sessiondb sync` indexes it once its transcript exists)",
            transition.session_id
        );
    }
    if ctx.json {
        ctx.print_json(transition)?;
    } else {
        writeln!(
            ctx.out,
            "{}: {} -> {} ({})",
            args.key,
            transition
                .previous_session_id
                .as_deref()
                .unwrap_or("(none)"),
            transition.session_id,
            args.source
        )?;
    }
    Ok(0)
}
