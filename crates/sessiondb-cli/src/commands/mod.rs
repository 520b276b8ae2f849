//! One file per command: each declares its arguments (`Args`) and a `run` that parses them, calls the
//! service, and prints the answer (a table, or JSON with `--json`). Rules live in `sessiondb-service`.

pub mod archive;
pub mod chain;
pub mod completions;
pub mod config;
pub mod doctor;
pub mod export;
pub mod latest;
pub mod ls;
pub mod man;
pub mod mcp;
pub mod project;
pub mod resume;
pub mod run;
pub mod serve;
pub mod show;
pub mod summary;
pub mod sync;
pub mod track;
pub mod transitions;
pub mod usage;
pub mod workflow;

use crate::config::Settings;
use crate::exit::usage;
use anyhow::Result;
use chrono::NaiveDate;
use sessiondb_ingest::{SyncObserver, SyncOptions, SyncReport};
use sessiondb_service::Service;
use std::io::Write;
use std::path::PathBuf;

/// What every command gets besides its arguments.
pub struct Ctx<'a> {
    pub settings: &'a Settings,
    /// Print JSON instead of tables.
    pub json: bool,
    pub tz: chrono_tz::Tz,
    pub out: &'a mut dyn Write,
}

impl Ctx<'_> {
    /// `value` as pretty JSON on stdout.
    pub fn print_json(&mut self, value: &impl serde::Serialize) -> Result<()> {
        serde_json::to_writer_pretty(&mut *self.out, value)?;
        writeln!(self.out)?;
        Ok(())
    }
}

/// A day as typed (`YYYY-MM-DD` or `YYYYMMDD`).
pub fn parse_day(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .map_err(|_| {
            usage(format!(
                "invalid date {text:?}: expected YYYY-MM-DD (or YYYYMMDD)"
            ))
        })
}

/// `--since` and `--until` as days; an error when either is malformed or the range is empty.
pub fn parse_range(
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

/// A dir as typed, made absolute (as the index stores project dirs).
pub fn absolute_dir(dir: PathBuf) -> String {
    std::path::absolute(&dir)
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned()
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
pub struct ProgressBar(indicatif::ProgressBar);

impl ProgressBar {
    pub fn new() -> ProgressBar {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} syncing [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        ProgressBar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

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

/// Syncs `roots` with a progress bar on a terminal.
pub fn sync_with_progress(
    service: &mut Service<'_>,
    roots: &[PathBuf],
    threads: usize,
) -> Result<SyncReport> {
    let bar = ProgressBar::new();
    let options = SyncOptions {
        threads,
        ..SyncOptions::default()
    };
    let report = service.sync(roots, &options, &bar)?;
    bar.finish();
    Ok(report)
}

/// A sync's exit code: 1 when some paths could not be read (the sync finished, but not everything is in).
pub fn sync_exit_code(report: &SyncReport) -> i32 {
    if report.discovery_issues.is_empty() {
        0
    } else {
        1
    }
}
