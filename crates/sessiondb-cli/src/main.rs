//! `sessiondb`: the composition root. Resolves settings, opens the store through the opener, and hands one
//! command (`commands/`, one file each) its arguments and a service over the store. Data goes to stdout (a
//! table, or JSON with `--json`); progress and diagnostics go to stderr.

mod claude;
mod commands;
mod config;
mod exit;
mod output;
mod picker;
mod serve_status;
mod work_report;

use anyhow::Result;
use clap::{parser::ValueSource, CommandFactory, FromArgMatches, Parser, Subcommand};
use commands::Ctx;
use config::Settings;
use exit::usage;
use sessiondb_ingest::{ClaudeCodeSource, Source};
use sessiondb_service::Service;
use sessiondb_store::Location;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "sessiondb",
    version,
    about = "A database of your Claude Code sessions: sync the transcripts, then ask about sessions and usage.",
    long_about = "A database of your Claude Code sessions.\n\nWithout a command, sessiondb syncs your Claude config \
dirs and prints a usage and session summary."
)]
struct Cli {
    /// Database file [default: $XDG_DATA_HOME/sessiondb/sessiondb.db]
    #[arg(long, global = true, env = "SESSIONDB_DB", value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print JSON instead of tables
    #[arg(long, global = true)]
    json: bool,
    /// Time zone for day boundaries and displayed times (IANA name) [default: the system's]
    #[arg(long, global = true, value_name = "ZONE")]
    tz: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Index the Claude config dirs (CLAUDE_CONFIG_DIR, comma-separated; else ~/.claude and ~/.config/claude)
    Sync(commands::sync::Args),
    /// Sessions, newest activity first
    Ls(commands::ls::Args),
    /// One session: metadata, usage by model, files, links to other sessions
    Show(commands::show::Args),
    /// Token usage and cost, deduplicated across files
    Usage(commands::usage::Args),
    /// What was skipped and why, per file and line; database path and sizes
    Doctor(commands::doctor::Args),
    /// The chain a session belongs to (resumes, forks, compactions, subagents, /clear), as a tree, and its head
    Chain(commands::chain::Args),
    /// Record that an app's key now points at a session (audit-logged, atomic)
    Track(commands::track::Args),
    /// The session to resume for a key or a directory, checked against the files (syncs first)
    Latest(commands::latest::Args),
    /// The audit log of registry transitions (older entries than the retention are pruned first)
    Transitions(commands::transitions::Args),
    /// Run claude, resuming the session of a key or directory (a fresh one if resume fails), and record the
    /// session id it used: `sessiondb run --key app:p42 -- -p "fix the tests" --output-format stream-json`
    Run(commands::run::Args),
    /// Pick a session (fuzzy search, this directory's first) and resume it with claude in its directory
    /// (with --json: print the pick as JSON instead)
    Resume(commands::resume::Args),
    /// Sync, then keep syncing live and serve the HTTP API, live events and the web UI
    Serve(commands::serve::Args),
    /// Print a session's raw JSONL lines from the archive (works after Claude Code deleted the file)
    Export(commands::export::Args),
    /// Compress every indexed line that only a capture holds into the database, so the database file alone is
    /// the archive (before copying it elsewhere)
    Archive,
    /// Show each setting and where it came from
    Config,
    /// Print the script that registers shell completion (session ids and keys completed from the database):
    /// `source <(sessiondb completions bash)`
    Completions(commands::completions::Args),
    /// Print the manual page (roff), or write one per command into --dir
    Man(commands::man::Args),
    /// Register project dirs whose workflow folders (agents/sessions/*/) sync indexes: add, ls, rm
    Project(commands::project::Args),
    /// Workflow sessions of registered projects: ls, show, new, phase, checkpoint, sync
    Workflow(commands::workflow::Args),
    /// Serve sessiondb's tools to an agent over MCP on stdio: `claude mcp add sessiondb -- sessiondb mcp`
    Mcp,
}

/// mimalloc: a sync allocates and frees a small string per field of every line on several threads, where
/// glibc's allocator cost about a tenth of the CPU of a cold sync.
///
/// Built with its `no_thp` feature: mimalloc no longer asks for transparent huge pages (`MADV_HUGEPAGE`), so a
/// page that is touched again after a purge costs the kernel a zeroed 4 KiB page, not a zeroed 2 MiB one.
/// Measured on a cold sync of 1 GiB (alternating runs): peak RSS 150-158 MB down to 127-129 MB, CPU time within
/// the machine's noise (+5% to -7% across three rounds).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (the same in its v2 and v3); the Rust bindings do not name it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc hands freed memory back to the system some time after the free. A sync frees batches on another
/// thread than the ones that built them. Measured on a cold sync of 1 GiB: 5 ms peaks near 95 MB resident but
/// takes about 100,000 page faults re-touching purged memory; 50 ms peaks near 120-135 MB with 40,000; 250 ms
/// near 135-155 MB with 20,000 faults and 0.15 s less system time; never purging, 165 MB. The RSS target is
/// 200 MB.
fn tune_allocator() {
    // SAFETY: mi_option_set only stores an option value; it is thread-safe and has no preconditions.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 250) };
}

fn main() {
    // Shell completion (`COMPLETE=bash sessiondb -- …`) answers and exits before anything else runs.
    clap_complete::CompleteEnv::with_factory(cli_command)
        .var(commands::completions::COMPLETE_VAR)
        .complete();
    tune_allocator();
    // SAFETY: nothing has started a thread or touched SQLite yet.
    let sqlite_tuned = unsafe { sessiondb_store::tune_process() };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SESSIONDB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(config::stderr_colour())
        .init();
    if !sqlite_tuned {
        tracing::debug!("SQLite refused its process-wide settings");
    }
    let code = match run() {
        Ok(code) => code,
        Err(err) => {
            let code = exit::code_of(&err);
            if code != 0 {
                eprintln!("sessiondb: error: {err:#}");
            }
            code
        }
    };
    if let Some(path) = config::work_report_path() {
        work_report::write(&path);
    }
    std::process::exit(code);
}

/// Whether a command may create the database: it writes (syncs, records). The others only read, so a
/// mistyped `--db` must not leave an empty database behind.
fn creates_database(command: Option<&Command>) -> bool {
    match command {
        None
        | Some(Command::Sync(_))
        | Some(Command::Track(_))
        | Some(Command::Run(_))
        | Some(Command::Serve(_)) => true,
        Some(Command::Latest(args)) => !args.no_sync,
        Some(Command::Resume(args)) => !args.no_sync && !args.bench_open,
        Some(Command::Project(args)) => args.writes(),
        Some(Command::Workflow(args)) => args.writes(),
        Some(_) => false,
    }
}

/// `--version`: the release and the database schema it writes.
fn cli_command() -> clap::Command {
    Cli::command().version(format!(
        "{} (database schema: {})",
        env!("CARGO_PKG_VERSION"),
        sessiondb_store::schema_versions()
    ))
}

fn run() -> Result<i32> {
    let matches = cli_command().get_matches();
    let db_from_env = matches.value_source("db") == Some(ValueSource::EnvVariable);
    let cli = Cli::from_arg_matches(&matches)?;
    let settings = Settings::resolve(cli.db.clone(), db_from_env, cli.tz.clone())?;
    if let Some(Command::Mcp) = &cli.command {
        return commands::mcp::run(&settings); // before anything locks stdout, the protocol's channel
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut ctx = Ctx {
        settings: &settings,
        json: cli.json,
        tz: settings.tz(),
        out: &mut out,
    };
    // Commands that need no database.
    let command = match cli.command {
        Some(Command::Config) => return commands::config::run(&mut ctx),
        Some(Command::Completions(args)) => return commands::completions::run(args, ctx.out),
        Some(Command::Man(args)) => return commands::man::run(args, cli_command(), ctx.out),
        command => command,
    };
    // A dir named on the command line must be a config dir: syncing a wrong one would mark every session
    // under the right one deleted, or sync nothing and say it worked.
    if let Some(Command::Sync(args)) = &command {
        for dir in &args.dirs {
            ClaudeCodeSource.check_root(dir)?;
        }
    }
    let location = Location::parse(&settings.db.value);
    if !creates_database(command.as_ref()) && !location.exists() {
        return Err(usage(format!(
            "no database at {} (from {}): run `sessiondb sync` first, or check --db / SESSIONDB_DB",
            settings.db.value.display(),
            settings.db.source
        )));
    }
    let mut opened = sessiondb_store::open(&location).map_err(|err| match err {
        // A --db this build cannot open is a mistake in what was typed; a failing open is not.
        sessiondb_store::OpenError::Unsupported(_) => usage(err.to_string()),
        err => anyhow::Error::from(err),
    })?;
    // Projects named in the config file are registered before any command looks for them.
    if !settings.projects.is_empty() {
        let projects: Vec<_> = settings
            .projects
            .iter()
            .map(|p| (p.path.clone(), p.name.clone()))
            .collect();
        Service::new(opened.as_mut()).register_projects(&projects, "config");
    }
    if let Some(Command::Serve(args)) = command {
        return commands::serve::run(args, &mut ctx, opened, location);
    }
    let service = &mut Service::new(opened.as_mut());
    match command {
        None => commands::summary::run(&mut ctx, service),
        Some(Command::Sync(args)) => commands::sync::run(args, &mut ctx, service),
        Some(Command::Ls(args)) => commands::ls::run(args, &mut ctx, service),
        Some(Command::Show(args)) => commands::show::run(args, &mut ctx, service),
        Some(Command::Usage(args)) => commands::usage::run(args, &mut ctx, service),
        Some(Command::Doctor(args)) => commands::doctor::run(args, &mut ctx, service),
        Some(Command::Chain(args)) => commands::chain::run(args, &mut ctx, service),
        Some(Command::Track(args)) => commands::track::run(args, &mut ctx, service),
        Some(Command::Latest(args)) => commands::latest::run(args, &mut ctx, service),
        Some(Command::Transitions(args)) => commands::transitions::run(args, &mut ctx, service),
        Some(Command::Run(args)) => commands::run::run(args, &mut ctx, service),
        Some(Command::Resume(args)) => commands::resume::run(args, &mut ctx, service),
        Some(Command::Export(args)) => commands::export::run(args, ctx.out, service),
        Some(Command::Archive) => commands::archive::run(&mut ctx, service),
        Some(Command::Project(args)) => commands::project::run(args, &mut ctx, service),
        Some(Command::Workflow(args)) => commands::workflow::run(args, &mut ctx, service),
        Some(
            Command::Config
            | Command::Serve(_)
            | Command::Completions(_)
            | Command::Man(_)
            | Command::Mcp,
        ) => Ok(0),
    }
}
