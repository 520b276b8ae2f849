//! `sessiondb`: the composition root. Resolves settings, opens the store, runs one command, prints its result.
//! Data goes to stdout (a table, or JSON with `--json`); progress and diagnostics go to stderr.

mod config;
mod exit;
mod output;
mod picker;
mod run;
mod serve_status;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{parser::ValueSource, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use config::Settings;
use exit::usage;
use sessiondb_core::{
    build_usage_report, resolve_session_id, Grouping, Period, Registry, SessionFilter,
    SessionIdError, Store, UsageQuery,
};
use sessiondb_ingest::{ClaudeCodeSource, Source, SyncObserver, SyncOptions, SyncReport};
use sessiondb_store::Location;
use std::io::Write;
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
    Sync {
        /// Config dirs to sync instead of the configured ones
        #[arg(value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Reader threads (default: one per core)
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Sessions, newest activity first
    Ls {
        /// Only sessions in this project dir (or below it)
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Only sessions active on or after this day (YYYY-MM-DD)
        #[arg(long)]
        since: Option<String>,
        /// Only sessions started on or before this day (YYYY-MM-DD)
        #[arg(long)]
        until: Option<String>,
        /// At most this many sessions
        #[arg(long, short = 'n')]
        limit: Option<u64>,
    },
    /// One session: metadata, usage by model, files, links to other sessions
    Show {
        /// Session id, or a unique prefix of at least 4 characters
        session_id: String,
    },
    /// Token usage and cost, deduplicated across files
    Usage {
        #[arg(value_enum)]
        group_by: UsageGrouping,
        /// First day included (YYYY-MM-DD or YYYYMMDD, in --tz)
        #[arg(long)]
        since: Option<String>,
        /// Last day included (YYYY-MM-DD or YYYYMMDD, in --tz)
        #[arg(long)]
        until: Option<String>,
    },
    /// What was skipped and why, per file and line; database path and sizes
    Doctor {
        /// Examples shown per file and kind of problem
        #[arg(long, default_value_t = 3)]
        examples: usize,
    },
    /// The chain a session belongs to (resumes, forks, compactions, subagents, /clear), as a tree, and its head
    Chain {
        /// Session id, or a unique prefix of at least 4 characters
        #[arg(required_unless_present = "project", conflicts_with = "project")]
        session_id: Option<String>,
        /// The chain of the newest resumable session of this project dir
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
    },
    /// Record that an app's key now points at a session (audit-logged, atomic)
    Track {
        /// The app's own key, e.g. app:project-42
        #[arg(long)]
        key: String,
        /// The session id the key moves to
        #[arg(long)]
        session: String,
        /// Who reports the move: build, metadata, compact, chat_plan, run, …
        #[arg(long)]
        source: String,
        /// Free text kept with the transition
        #[arg(long)]
        note: Option<String>,
    },
    /// The session to resume for a key or a directory, checked against the files (syncs first)
    Latest {
        #[arg(long, required_unless_present = "dir", conflicts_with = "dir")]
        key: Option<String>,
        /// The session `claude --continue` would take in this directory
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Answer from the index as it is, without syncing first
        #[arg(long)]
        no_sync: bool,
    },
    /// The audit log of registry transitions (older entries than the retention are pruned first)
    Transitions {
        #[arg(long)]
        key: Option<String>,
        /// Keep this many days of transitions [default: the config's retention_days, else forever]
        #[arg(long)]
        retention_days: Option<u32>,
    },
    /// Run claude, resuming the session of a key or directory (a fresh one if resume fails), and record the
    /// session id it used: `sessiondb run --key app:p42 -- -p "fix the tests" --output-format stream-json`
    Run {
        /// The registry key to resume and to record the new head under [default: dir:<DIR>]
        #[arg(long)]
        key: Option<String>,
        /// Directory to run claude in [default: the current directory]
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Start a new session instead of resuming
        #[arg(long)]
        new: bool,
        /// Resume this session id, without checking it against the index first
        #[arg(long, conflicts_with = "new")]
        session: Option<String>,
        /// The source recorded with the transition
        #[arg(long, default_value = "run")]
        source: String,
        /// The claude binary [default: `claude` on PATH]
        #[arg(long, env = "SESSIONDB_CLAUDE_BIN")]
        claude_bin: Option<PathBuf>,
        /// Arguments passed to claude (after `--`)
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Pick a session (fuzzy search, this directory's first) and resume it with claude in its directory
    /// (with --json: print the pick as JSON instead)
    Resume {
        /// Print the command instead of running it
        #[arg(long)]
        print: bool,
        /// Take the newest resumable session of the current directory, without the picker
        #[arg(long)]
        last: bool,
        /// Start with this query; without a terminal, take its best match
        #[arg(long, short = 'q')]
        query: Option<String>,
        /// Use the index as it is, without syncing first
        #[arg(long)]
        no_sync: bool,
        /// The claude binary [default: `claude` on PATH]
        #[arg(long, env = "SESSIONDB_CLAUDE_BIN")]
        claude_bin: Option<PathBuf>,
        /// Load the sessions and draw the first frame into a buffer, print how long that took, and exit
        #[arg(long, hide = true)]
        bench_open: bool,
    },
    /// Sync, then keep syncing live and serve the HTTP API, live events and the web UI
    Serve {
        /// Address to listen on (HOST:PORT, HOST a name or an IP); anything but loopback needs --token
        #[arg(long, default_value = "127.0.0.1:7777")]
        listen: String,
        /// Every request must carry this token (Authorization: Bearer …, or ?token=… in the browser)
        #[arg(long, env = "SESSIONDB_TOKEN")]
        token: Option<String>,
        /// Also answer requests for this Host name (repeatable; localhost, IP addresses and the --listen host
        /// are always answered; any other name is refused, against DNS rebinding)
        #[arg(long = "allow-host", value_name = "NAME")]
        allow_hosts: Vec<String>,
        /// Seconds between full rescans, which catch changes the file watcher missed
        #[arg(long, default_value_t = 30)]
        rescan_secs: u64,
    },
    /// Print a session's raw JSONL lines from the archive (works after Claude Code deleted the file)
    Export { session_id: String },
    /// Compress every indexed line that only a capture holds into the database, so the database file alone is
    /// the archive (before copying it elsewhere)
    Archive,
    /// Show each setting and where it came from
    Config,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum UsageGrouping {
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
    std::process::exit(code);
}

fn parse_day(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .map_err(|_| {
            usage(format!(
                "invalid date {text:?}: expected YYYY-MM-DD (or YYYYMMDD)"
            ))
        })
}

/// `--since` and `--until` as days; an error when either is malformed or the range is empty.
fn parse_range(
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>)> {
    let since = since.map(parse_day).transpose()?;
    let until = until.map(parse_day).transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(usage(format!(
                "--since {s} is after --until {u}: expected since <= until (YYYY-MM-DD)"
            )));
        }
    }
    Ok((since, until))
}

/// The full id `id` names: an unknown, ambiguous or too short id is the user's mistake (exit 2).
fn session_id_arg(store: &dyn Store, id: &str) -> Result<String> {
    Ok(resolve_session_id(store, id)?)
}

/// Whether a command may create the database: it writes (syncs, records). The others only read, so a
/// mistyped `--db` must not leave an empty database behind.
fn creates_database(command: Option<&Command>) -> bool {
    match command {
        None
        | Some(Command::Sync { .. })
        | Some(Command::Track { .. })
        | Some(Command::Run { .. })
        | Some(Command::Serve { .. }) => true,
        Some(Command::Latest { no_sync, .. }) => !no_sync,
        Some(Command::Resume {
            no_sync,
            bench_open,
            ..
        }) => !no_sync && !bench_open,
        Some(_) => false,
    }
}

/// `--listen`: an address to bind and the host as typed (a name such as `localhost`, or an IP), which the
/// server's Host check will need.
#[derive(Debug, Clone)]
struct Listen {
    host: String,
    addr: std::net::SocketAddr,
}

fn parse_listen(text: &str) -> Result<Listen> {
    use std::net::ToSocketAddrs;
    let expected = || {
        usage(format!(
            "--listen {text:?}: expected HOST:PORT, e.g. 127.0.0.1:7777 or localhost:7777"
        ))
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(expected());
    }
    let addrs: Vec<std::net::SocketAddr> = text
        .to_socket_addrs()
        .map_err(|err| usage(format!("--listen {text:?}: cannot resolve {host:?}: {err}")))?
        .collect();
    // IPv4 first: `localhost` often resolves to ::1 first, which fails where IPv6 is off.
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| usage(format!("--listen {text:?}: {host:?} has no address")))?;
    Ok(Listen {
        host: host.to_owned(),
        addr,
    })
}

fn run() -> Result<i32> {
    let matches = Cli::command().get_matches();
    let db_from_env = matches.value_source("db") == Some(ValueSource::EnvVariable);
    let cli = Cli::from_arg_matches(&matches)?;
    let settings = Settings::resolve(cli.db.clone(), db_from_env, cli.tz.clone())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();

    if let Some(Command::Config) = &cli.command {
        if cli.json {
            serde_json::to_writer_pretty(&mut out, &settings)?;
            writeln!(out)?;
        } else {
            output::print_settings(&mut out, &settings)?;
        }
        return Ok(0);
    }

    // A dir named on the command line must be a config dir: syncing a wrong one would mark every session
    // under the right one deleted, or sync nothing and say it worked.
    if let Some(Command::Sync { dirs, .. }) = &cli.command {
        for dir in dirs {
            ClaudeCodeSource.check_root(dir)?;
        }
    }
    let location = Location::parse(&settings.db.value);
    if !creates_database(cli.command.as_ref()) && !location.exists() {
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
    let store: &mut dyn Store = opened.as_mut();
    let tz = settings.tz();

    match cli.command {
        None => {
            let report = run_sync(store, &settings.claude_dirs.value, 0)?;
            output::print_sync_report(&mut std::io::stderr(), &report)?;
            output::print_sync_warnings(&mut std::io::stderr(), &report)?;
            let query = UsageQuery {
                grouping: Grouping::Period(Period::Day),
                since: Some(
                    (chrono::Utc::now().with_timezone(&tz) - chrono::Duration::days(6))
                        .date_naive(),
                ),
                until: None,
                tz,
            };
            let usage = usage_report(&*store, &query)?;
            let sessions = store.sessions(&SessionFilter {
                limit: Some(10),
                ..SessionFilter::default()
            })?;
            if cli.json {
                serde_json::to_writer_pretty(
                    &mut out,
                    &serde_json::json!({ "sync": report, "usage_last_7_days": usage, "recent_sessions": sessions }),
                )?;
                writeln!(out)?;
            } else {
                writeln!(out, "Usage, last 7 days ({}):", settings.tz.value)?;
                output::print_usage(&mut out, &usage, "day")?;
                writeln!(out)?;
                writeln!(out, "Recent sessions:")?;
                output::print_sessions(&mut out, &sessions, tz)?;
                let all = store.usage_buckets(Grouping::Model, None, None)?;
                let totals = build_usage_report(
                    &UsageQuery {
                        grouping: Grouping::Model,
                        since: None,
                        until: None,
                        tz,
                    },
                    &all,
                )
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
            }
            Ok(if report.discovery_issues.is_empty() {
                0
            } else {
                1
            })
        }
        Some(Command::Sync { dirs, threads }) => {
            let roots = if dirs.is_empty() {
                settings.claude_dirs.value.clone()
            } else {
                dirs
            };
            let report = run_sync(store, &roots, threads)?;
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                output::print_sync_report(&mut out, &report)?;
            }
            output::print_sync_warnings(&mut std::io::stderr(), &report)?;
            // Unreadable paths: the sync finished, but could not read everything.
            Ok(if report.discovery_issues.is_empty() {
                0
            } else {
                1
            })
        }
        Some(Command::Ls {
            project,
            since,
            until,
            limit,
        }) => {
            let day_start = |text: &str, next: bool| -> Result<Option<i64>> {
                let day = parse_day(text)?;
                let day = if next {
                    day.succ_opt().unwrap_or(day)
                } else {
                    day
                };
                let q = UsageQuery {
                    grouping: Grouping::Session,
                    since: Some(day),
                    until: None,
                    tz,
                };
                Ok(q.range_ms().0)
            };
            let project = project.map(|dir| {
                std::path::absolute(&dir)
                    .unwrap_or(dir)
                    .to_string_lossy()
                    .into_owned()
            });
            parse_range(since.as_deref(), until.as_deref())?;
            let filter = SessionFilter {
                project_dir: project,
                since_ms: since
                    .as_deref()
                    .map(|s| day_start(s, false))
                    .transpose()?
                    .flatten(),
                until_ms: until
                    .as_deref()
                    .map(|s| day_start(s, true))
                    .transpose()?
                    .flatten(),
                limit,
                ..SessionFilter::default()
            };
            let sessions = store.sessions(&filter)?;
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &sessions)?;
                writeln!(out)?;
            } else {
                output::print_sessions(&mut out, &sessions, tz)?;
            }
            Ok(0)
        }
        Some(Command::Show { session_id }) => {
            let session_id = session_id_arg(&*store, &session_id)?;
            let Some(detail) = store.session(&session_id)? else {
                bail!("no session {session_id:?} in the index (try `sessiondb sync`, or a longer id prefix)");
            };
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &detail)?;
                writeln!(out)?;
            } else {
                output::print_session(&mut out, &detail, tz)?;
            }
            Ok(0)
        }
        Some(Command::Usage {
            group_by,
            since,
            until,
        }) => {
            let (since, until) = parse_range(since.as_deref(), until.as_deref())?;
            let query = UsageQuery {
                grouping: group_by.grouping(),
                since,
                until,
                tz,
            };
            let report = usage_report(&*store, &query)?;
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                let label = match group_by {
                    UsageGrouping::Daily => "day",
                    UsageGrouping::Weekly => "week of",
                    UsageGrouping::Monthly => "month",
                    UsageGrouping::Session => "session",
                    UsageGrouping::Project => "project",
                    UsageGrouping::Model => "model",
                    UsageGrouping::Branch => "branch",
                };
                output::print_usage(&mut out, &report, label)?;
            }
            Ok(0)
        }
        Some(Command::Doctor { examples }) => {
            let report = store.doctor(examples)?;
            let serve = serve_status::read(&settings.db.value);
            if cli.json {
                let mut value = serde_json::to_value(&report)?;
                value["serve"] = serde_json::to_value(&serve)?;
                serde_json::to_writer_pretty(&mut out, &value)?;
                writeln!(out)?;
            } else {
                output::print_doctor(&mut out, &report)?;
                if let Some(serve) = &serve {
                    output::print_serve_status(&mut out, serve)?;
                }
            }
            Ok(0)
        }
        Some(Command::Chain {
            session_id,
            project,
        }) => {
            let start = match (session_id, project) {
                (Some(id), _) => session_id_arg(&*store, &id)?,
                (None, Some(dir)) => {
                    let dir = std::path::absolute(&dir).unwrap_or(dir);
                    let dir = dir.to_string_lossy();
                    match sessiondb_core::newest_resumable_session(&*store, &dir)? {
                        Some(s) => s.session_id,
                        None => bail!("no resumable session in {dir}"),
                    }
                }
                (None, None) => bail!("give a session id or --project DIR"),
            };
            let Some(chain) = sessiondb_core::build_chain(&*store, &start)? else {
                bail!("no session {start:?}");
            };
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &chain)?;
                writeln!(out)?;
            } else {
                output::print_chain(&mut out, &chain, tz)?;
            }
            Ok(0)
        }
        Some(Command::Track {
            key,
            session,
            source,
            note,
        }) => {
            let now = chrono::Utc::now().timestamp_millis();
            // A prefix is expanded; an id not indexed yet (a session just started) is recorded as given.
            let session = match resolve_session_id(&*store, &session) {
                Ok(full) => full,
                Err(SessionIdError::Unknown { id }) => {
                    eprintln!(
                        "sessiondb: warning: session {id} is not in the index (yet); recorded as given \
                         (`sessiondb sync` indexes it once its transcript exists)"
                    );
                    id
                }
                Err(err) => return Err(err.into()),
            };
            let mut registry = Registry::new(store);
            let transition = registry.track(&key, &session, &source, note.as_deref(), now)?;
            if let Some(days) = settings.retention_days {
                registry.prune(days, now)?;
            }
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &transition)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{key}: {} -> {} ({source})",
                    transition
                        .previous_session_id
                        .as_deref()
                        .unwrap_or("(none)"),
                    transition.session_id
                )?;
            }
            Ok(0)
        }
        Some(Command::Latest { key, dir, no_sync }) => {
            if !no_sync {
                run_sync(store, &settings.claude_dirs.value, 0)?;
            }
            let registry = Registry::new(store);
            let latest = match (key, dir) {
                (Some(key), _) => match registry.latest_for_key(&key)? {
                    Some(latest) => latest,
                    None => {
                        return Err(usage(format!(
                            "no key {key:?} in the registry (record one with `sessiondb track`)"
                        )))
                    }
                },
                (None, Some(dir)) => {
                    let dir = std::path::absolute(&dir).unwrap_or(dir);
                    registry.latest_for_dir(&dir.to_string_lossy())?
                }
                (None, None) => bail!("give --key KEY or --dir DIR"),
            };
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &latest)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{}  ({}{})",
                    latest.session_id.as_deref().unwrap_or("-"),
                    if latest.valid { "" } else { "NOT VALID: " },
                    latest.reason
                )?;
            }
            Ok(if latest.valid { 0 } else { 3 })
        }
        Some(Command::Transitions {
            key,
            retention_days,
        }) => {
            let mut registry = Registry::new(store);
            if let Some(days) = retention_days.or(settings.retention_days) {
                registry.prune(days, chrono::Utc::now().timestamp_millis())?;
            }
            let log = registry.transitions(key.as_deref())?;
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &log)?;
                writeln!(out)?;
            } else {
                for t in &log {
                    writeln!(
                        out,
                        "{}  {:<24} {} -> {}  {}{}",
                        t.recorded_at,
                        t.key,
                        t.previous_session_id.as_deref().unwrap_or("(none)"),
                        t.session_id,
                        t.source,
                        t.note
                            .as_deref()
                            .map(|n| format!("  {n}"))
                            .unwrap_or_default()
                    )?;
                }
            }
            Ok(0)
        }
        Some(Command::Run {
            key,
            dir,
            new,
            session,
            source,
            claude_bin,
            args,
        }) => {
            let dir = match dir {
                Some(dir) => {
                    if !dir.is_dir() {
                        return Err(usage(format!(
                            "--dir {}: no such directory (expected the project dir to run claude in)",
                            dir.display()
                        )));
                    }
                    std::path::absolute(&dir).unwrap_or(dir)
                }
                None => std::env::current_dir().context("no current directory")?,
            };
            let claude = run::find_claude(claude_bin)?;
            let dir_text = dir.to_string_lossy().into_owned();
            let key = key.unwrap_or_else(|| format!("dir:{dir_text}"));
            run_sync(store, &settings.claude_dirs.value, 0)?;
            let resume = if new {
                None
            } else if session.is_some() {
                session
            } else {
                let registry = Registry::new(store);
                match registry.latest_for_key(&key)? {
                    Some(latest) if latest.valid => latest.session_id,
                    _ => registry.latest_for_dir(&dir_text)?.session_id,
                }
            };
            let started = std::time::Instant::now();
            let started_ms = chrono::Utc::now().timestamp_millis();
            let activity_before = match &resume {
                Some(id) => store.session_summary(id)?.and_then(|s| s.last_activity_at),
                None => None,
            };
            let mut outcome = run::run_claude(&claude, &dir, resume.as_deref(), &args)?;
            if let (Some(id), false, true) =
                (&resume, run::is_print_mode(&args), outcome.exit_code != 0)
            {
                // Interactive: a resume that failed exits at once without writing to its transcript.
                run_sync(store, &settings.claude_dirs.value, 0)?;
                let activity_after = store.session_summary(id)?.and_then(|s| s.last_activity_at);
                if activity_after == activity_before
                    && started.elapsed() < std::time::Duration::from_secs(10)
                {
                    outcome.resume_failed = true;
                    outcome.failure_reason =
                        Some(format!("claude exited with {} at once", outcome.exit_code));
                }
            }
            let mut note = None;
            if let (true, Some(id)) = (outcome.resume_failed, &resume) {
                let reason = outcome.failure_reason.clone().unwrap_or_default();
                eprintln!("sessiondb: resuming {id} failed ({reason}); starting a fresh session");
                note = Some(format!(
                    "resume of {id} failed: {reason}; started a fresh session"
                ));
                outcome = run::run_claude(&claude, &dir, None, &args)?;
            }
            run_sync(store, &settings.claude_dirs.value, 0)?;
            let used = match outcome.reported_session_id.clone() {
                Some(id) => Some(id),
                // Text output or interactive: the session of this dir that the run wrote to.
                None if outcome.exit_code == 0 => store
                    .sessions(&SessionFilter {
                        project_dir: Some(dir_text.clone()),
                        since_ms: Some(started_ms - 1000),
                        ..SessionFilter::default()
                    })?
                    .into_iter()
                    .find(|s| s.project_dir.as_deref() == Some(dir_text.as_str()))
                    .map(|s| s.session_id),
                None => None,
            };
            match used {
                Some(id) => {
                    let transition = Registry::new(store).track(
                        &key,
                        &id,
                        &source,
                        note.as_deref(),
                        chrono::Utc::now().timestamp_millis(),
                    )?;
                    eprintln!(
                        "sessiondb: {key}: {} -> {id}",
                        transition
                            .previous_session_id
                            .as_deref()
                            .unwrap_or("(none)")
                    );
                }
                None => eprintln!("sessiondb: the run reported no session id; nothing recorded"),
            }
            Ok(outcome.exit_code)
        }
        Some(Command::Resume {
            print,
            last,
            query,
            no_sync,
            claude_bin,
            bench_open,
        }) => {
            let opened = std::time::Instant::now();
            if !no_sync && !bench_open {
                run_sync(store, &settings.claude_dirs.value, 0)?;
            }
            let cwd = std::env::current_dir().context("no current directory")?;
            let cwd_text = cwd.to_string_lossy().into_owned();
            let chosen = if last {
                match sessiondb_core::newest_resumable_session(&*store, &cwd_text)? {
                    Some(s) => s,
                    None => bail!("no resumable session in {cwd_text}"),
                }
            } else {
                let sessions: Vec<_> = store
                    .sessions(&SessionFilter::default())?
                    .into_iter()
                    .filter(|s| s.on_disk && s.message_count > 0)
                    .collect();
                let mut picker = picker::Picker::new(sessions, &cwd_text);
                if let Some(q) = &query {
                    picker.set_query(q);
                }
                if bench_open {
                    let mut frame = Vec::new();
                    picker::draw(&mut frame, &picker, 160, 50)?;
                    writeln!(out, "{:.1} ms", opened.elapsed().as_secs_f64() * 1000.0)?;
                    return Ok(0);
                }
                use std::io::IsTerminal;
                let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
                let picked = if interactive {
                    picker::run_tui(picker)?
                } else {
                    picker.current().cloned()
                };
                match picked {
                    Some(s) => s,
                    None if interactive => return Ok(130),
                    None => bail!("no session matches"),
                }
            };
            let dir = chosen
                .project_dir
                .clone()
                .unwrap_or_else(|| cwd_text.clone());
            let claude = if print || cli.json {
                claude_bin.unwrap_or_else(|| PathBuf::from("claude"))
            } else {
                run::find_claude(claude_bin)?
            };
            if cli.json {
                let command = format!(
                    "cd {} && {} --resume {}",
                    output::shell_quote(&dir),
                    output::shell_quote(&claude.to_string_lossy()),
                    chosen.session_id
                );
                serde_json::to_writer_pretty(
                    &mut out,
                    &serde_json::json!({
                        "session_id": chosen.session_id,
                        "dir": dir,
                        "dir_exists": std::path::Path::new(&dir).is_dir(),
                        "command": command,
                        "session": chosen,
                    }),
                )?;
                writeln!(out)?;
                return Ok(0);
            }
            if print {
                writeln!(
                    out,
                    "cd {} && {} --resume {}",
                    output::shell_quote(&dir),
                    output::shell_quote(&claude.to_string_lossy()),
                    chosen.session_id
                )?;
                return Ok(0);
            }
            if !std::path::Path::new(&dir).is_dir() {
                bail!(
                    "cannot resume {}: its project dir {dir} does not exist (claude resumes a session only from its own dir)",
                    chosen.session_id
                );
            }
            let mut command = std::process::Command::new(&claude);
            command
                .current_dir(&dir)
                .arg("--resume")
                .arg(&chosen.session_id);
            #[cfg(unix)]
            {
                use std::os::unix::process::CommandExt;
                let err = command.exec();
                bail!("cannot run {}: {err}", claude.display());
            }
            #[cfg(not(unix))]
            {
                let status = command.status()?;
                Ok(status.code().unwrap_or(1))
            }
        }
        Some(Command::Serve {
            listen,
            token,
            allow_hosts,
            rescan_secs,
        }) => {
            let listen = parse_listen(&listen)?;
            let addr = listen.addr;
            let token = token.filter(|t| !t.is_empty());
            if !sessiondb_server::is_loopback(&addr) && token.is_none() {
                return Err(usage(format!("refusing to serve on {addr} without a token: transcripts hold secrets; pass --token (or SESSIONDB_TOKEN), or listen on 127.0.0.1")));
            }
            let roots: Vec<PathBuf> = settings
                .claude_dirs
                .value
                .iter()
                .filter(|r| r.is_dir())
                .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
                .collect();
            // A failed first sync (disk full, database locked) must not stop the server: it serves the index
            // as it is, reports the error in /api/health and /api/sync/status, and retries.
            match run_sync(store, &roots, 0) {
                Ok(report) => {
                    output::print_sync_report(&mut std::io::stderr(), &report)?;
                    output::print_sync_warnings(&mut std::io::stderr(), &report)?;
                }
                Err(err) => eprintln!(
                    "sessiondb: warning: the first sync failed ({err:#}); serving the index as it is and retrying"
                ),
            }
            drop(opened);
            let hosts = sessiondb_server::HostPolicy::new(
                Some(&listen.host),
                &[allow_hosts, settings.allow_hosts.clone()].concat(),
            );
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(async move {
                let events = sessiondb_server::Events::new();
                let live = sessiondb_server::LiveSync::start(
                    location.clone(),
                    roots,
                    events.clone(),
                    true,
                    std::time::Duration::from_secs(rescan_secs.max(1)),
                );
                let state = sessiondb_server::AppState {
                    readers: std::sync::Arc::new(sessiondb_server::Readers::new(location.clone())),
                    events,
                    live,
                    token: token.map(|t| std::sync::Arc::from(t.as_str())),
                    hosts: std::sync::Arc::new(hosts),
                };
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?;
                let bound = listener.local_addr()?;
                // Tell `doctor` how syncing goes.
                tokio::spawn(serve_status::publish(
                    state.live.clone(),
                    settings.db.value.clone(),
                    bound.to_string(),
                ));
                // The host as typed (a name stays a name), with the port actually bound.
                let host = if listen.host.contains(':') {
                    format!("[{}]", listen.host)
                } else {
                    listen.host.clone()
                };
                eprintln!(
                    "sessiondb: serving http://{host}:{}/ on {bound} (API at /api, events at /api/events); Ctrl-C stops",
                    bound.port()
                );
                // Ctrl-C stops accepting and lets requests finish; open event streams never finish, so give
                // them two seconds.
                let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
                let options = sessiondb_server::ServeOptions::default();
                let server = sessiondb_server::serve(listener, state, options, async move {
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = stop_tx.send(());
                });
                tokio::select! {
                    result = server => result.context("serving")?,
                    _ = async {
                        let _ = stop_rx.await;
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    } => {}
                }
                anyhow::Ok(())
            })?;
            Ok(0)
        }
        Some(Command::Export { session_id }) => {
            let session_id = session_id_arg(&*store, &session_id)?;
            let lines = store.session_raw_lines(&session_id)?;
            if lines.is_empty() {
                bail!("no archived lines for session {session_id:?}");
            }
            for line in lines {
                out.write_all(&line)?;
                if !line.ends_with(b"\n") {
                    out.write_all(b"\n")?;
                }
            }
            Ok(0)
        }
        Some(Command::Archive) => {
            let report = store.archive_captures()?;
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "Compressed {:.1} MB from {} files into {}",
                    report.bytes as f64 / 1e6,
                    report.files,
                    settings.db.value.display()
                )?;
                if report.unreadable_bytes > 0 {
                    writeln!(
                        out,
                        "{:.1} MB could be read neither from a capture nor from its file (see `sessiondb doctor`)",
                        report.unreadable_bytes as f64 / 1e6
                    )?;
                }
            }
            Ok(0)
        }
        Some(Command::Config) => Ok(0),
    }
}

fn usage_report(store: &dyn Store, query: &UsageQuery) -> Result<sessiondb_core::UsageReport> {
    let (since, until) = query.range_ms();
    let buckets = store.usage_buckets(query.grouping, since, until)?;
    Ok(build_usage_report(query, &buckets))
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
struct ProgressBar(indicatif::ProgressBar);

impl SyncObserver for ProgressBar {
    fn planned(&self, files: u64, bytes: u64) {
        self.0.set_length(bytes);
        self.0.set_message(format!("0/{files} files"));
        self.0.set_prefix(files.to_string());
    }
    fn progress(&self, files_done: u64, bytes_done: u64) {
        self.0.set_position(bytes_done);
        self.0
            .set_message(format!("{files_done}/{} files", self.0.prefix()));
    }
}

fn run_sync(store: &mut dyn Store, roots: &[PathBuf], threads: usize) -> Result<SyncReport> {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} syncing [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let observer = ProgressBar(bar);
    let options = SyncOptions {
        threads,
        ..SyncOptions::default()
    };
    // Canonical roots, so a file has one key however the dir was named. Missing ones are passed on too: the
    // sync leaves what it knows under them alone and reports them (an unmounted disk is not a deletion).
    let roots: Vec<PathBuf> = roots
        .iter()
        .map(|r| {
            std::fs::canonicalize(r)
                .or_else(|_| std::path::absolute(r))
                .unwrap_or_else(|_| r.clone())
        })
        .collect();
    for missing in roots.iter().filter(|r| !r.is_dir()) {
        tracing::info!(dir = %missing.display(), "config dir does not exist; skipped");
    }
    let report = sessiondb_ingest::sync(store, &ClaudeCodeSource, &roots, &options, &observer)?;
    observer.0.finish_and_clear();
    Ok(report)
}
