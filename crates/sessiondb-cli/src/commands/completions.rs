//! `sessiondb completions bash|zsh|fish|elvish|powershell`: the script that registers sessiondb's shell
//! completion. Completion itself runs in sessiondb (clap's `CompleteEnv`: the shell calls `COMPLETE=<shell>
//! sessiondb -- <words>`), so flags and commands are always current, and session ids and registry keys are
//! completed from the database (`SESSIONDB_DB`, the config file or the default path; the completer sees no flags).

use crate::config::{self, Settings};
use anyhow::{Context, Result};
use clap_complete::engine::CompletionCandidate;
use sessiondb_service::Service;
use std::ffi::OsStr;
use std::io::Write;

/// The environment variable that asks sessiondb for completions instead of running a command.
pub const COMPLETE_VAR: &str = "COMPLETE";

/// Session ids offered at most.
const MAX_CANDIDATES: usize = 200;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to register completion in
    #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
    pub shell: String,
}

pub fn run(args: Args, out: &mut dyn Write) -> Result<i32> {
    let shells = clap_complete::env::Shells::builtins();
    let shell = shells
        .completer(&args.shell)
        .with_context(|| format!("no completion for shell {:?}", args.shell))?;
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "sessiondb".to_owned());
    shell.write_registration(COMPLETE_VAR, "sessiondb", "sessiondb", &bin, out)?;
    Ok(0)
}

/// Runs `f` on the configured database, if there is one; completion never creates or fails loudly.
fn with_service<T: Default>(f: impl FnOnce(&mut Service<'_>) -> T) -> T {
    let Ok(settings) = Settings::resolve(config::db_from_env(), true, None) else {
        return T::default();
    };
    let location = sessiondb_store::Location::parse(&settings.db.value);
    if !location.exists() {
        return T::default();
    }
    match sessiondb_store::open(&location) {
        Ok(mut store) => f(&mut Service::new(store.as_mut())),
        Err(_) => T::default(),
    }
}

/// Session ids starting with what was typed, each with its title.
pub fn session_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(prefix) = current.to_str() else {
        return Vec::new();
    };
    with_service(|service| {
        service
            .session_ids_completing(prefix, MAX_CANDIDATES)
            .unwrap_or_default()
            .into_iter()
            .map(|(id, title)| CompletionCandidate::new(id).help(title.map(Into::into)))
            .collect()
    })
}

/// Registry keys starting with what was typed.
pub fn keys(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(prefix) = current.to_str() else {
        return Vec::new();
    };
    with_service(|service| {
        service
            .keys_completing(prefix)
            .unwrap_or_default()
            .into_iter()
            .map(CompletionCandidate::new)
            .collect()
    })
}
