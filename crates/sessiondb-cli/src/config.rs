//! Resolves settings: defaults < config file < `SESSIONDB_*` / `CLAUDE_CONFIG_DIR` env < flags. The only place that
//! reads the environment or the user's home.

use crate::exit::usage;
use anyhow::{bail, Context, Result};
use chrono_tz::Tz;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The optional config file (`$SESSIONDB_CONFIG`, else `<config dir>/sessiondb/config.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Database path.
    pub db: Option<PathBuf>,
    /// Claude config dirs to index.
    pub claude_dirs: Option<Vec<PathBuf>>,
    /// IANA time zone for day boundaries, e.g. `Europe/Berlin`.
    pub tz: Option<String>,
    /// Registry transitions older than this many days are pruned.
    pub retention_days: Option<u32>,
    /// Extra `Host` names `serve` answers to (besides localhost, IP addresses and the `--listen` host).
    pub allow_hosts: Option<Vec<String>>,
    /// Project dirs to register (`[[projects]]` with `path` and an optional `name`): their workflow folders are
    /// indexed by `sync`, like those registered with `sessiondb project add`.
    pub projects: Option<Vec<ProjectEntry>>,
}

/// One `[[projects]]` entry of the config file.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectEntry {
    pub path: PathBuf,
    pub name: Option<String>,
}

/// A value and where it came from, for `sessiondb config`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    pub db: Sourced<PathBuf>,
    pub claude_dirs: Sourced<Vec<PathBuf>>,
    pub tz: Sourced<String>,
    pub retention_days: Option<u32>,
    pub allow_hosts: Vec<String>,
    pub config_file: Option<PathBuf>,
    /// Projects from the config file, registered in the database by the commands that use them.
    pub projects: Vec<ProjectEntry>,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn config_path() -> Option<PathBuf> {
    if let Some(path) = env_nonempty("SESSIONDB_CONFIG") {
        return Some(PathBuf::from(path));
    }
    dirs::config_dir().map(|d| d.join("sessiondb").join("config.toml"))
}

fn load_config(path: Option<&Path>) -> Result<ConfigFile> {
    let Some(path) = path else {
        return Ok(ConfigFile::default());
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(err) => Err(err).with_context(|| format!("cannot read config file {}", path.display())),
    }
}

/// The default Claude config dirs: `CLAUDE_CONFIG_DIR` (comma-separated), else `~/.claude` and
/// `~/.config/claude`.
fn default_claude_dirs() -> Sourced<Vec<PathBuf>> {
    if let Some(value) = env_nonempty("CLAUDE_CONFIG_DIR") {
        return Sourced {
            value: value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect(),
            source: "env CLAUDE_CONFIG_DIR".into(),
        };
    }
    let mut dirs_found = Vec::new();
    if let Some(home) = dirs::home_dir() {
        dirs_found.push(home.join(".claude"));
        dirs_found.push(home.join(".config").join("claude"));
    }
    Sourced {
        value: dirs_found,
        source: "default".into(),
    }
}

/// The IANA name in a `TZ` value: `Europe/Berlin`, `:Europe/Berlin`, or a path into a zoneinfo dir.
fn tz_env_name(value: &str) -> &str {
    let name = value.strip_prefix(':').unwrap_or(value);
    match name.find("zoneinfo/") {
        Some(at) if name.starts_with('/') => &name[at + "zoneinfo/".len()..],
        _ => name,
    }
}

/// The system's zone: `TZ` (an error when set to something that is not a zone name), else the OS setting.
fn system_tz() -> Result<Sourced<String>> {
    if let Some(value) = env_nonempty("TZ") {
        let name = tz_env_name(value.trim());
        if name.parse::<Tz>().is_err() {
            return Err(usage(format!(
                "unknown time zone {value:?} (from env TZ): expected an IANA name such as Europe/Berlin or UTC"
            )));
        }
        return Ok(Sourced {
            value: name.to_owned(),
            source: "env TZ".into(),
        });
    }
    Ok(Sourced {
        value: iana_time_zone::get_timezone()
            .ok()
            .filter(|name| name.parse::<Tz>().is_ok())
            .unwrap_or_else(|| "UTC".to_owned()),
        source: "system".into(),
    })
}

/// Colour in log lines on stderr: only on a terminal, and never when `NO_COLOR` is set (no-color.org).
pub fn stderr_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && env_nonempty("NO_COLOR").is_none()
}

/// The database `SESSIONDB_DB` names, if set (for shell completion, which sees no flags).
pub fn db_from_env() -> Option<PathBuf> {
    env_nonempty("SESSIONDB_DB").map(PathBuf::from)
}

/// Where to write what this process read, wrote and held at its peak when it exits
/// (`SESSIONDB_WORK_REPORT`; the performance gate in `tests/work.rs` counts work with it).
pub fn work_report_path() -> Option<PathBuf> {
    env_nonempty("SESSIONDB_WORK_REPORT").map(PathBuf::from)
}

impl Settings {
    /// Resolves every setting; `db_flag` and `tz_flag` come from the command line (clap already merged
    /// `SESSIONDB_DB` into `db_flag`).
    pub fn resolve(
        db_flag: Option<PathBuf>,
        db_from_env: bool,
        tz_flag: Option<String>,
    ) -> Result<Settings> {
        let config_file = config_path();
        let config = load_config(config_file.as_deref())?;
        let config_label = || {
            format!(
                "config {}",
                config_file.as_deref().unwrap_or(Path::new("?")).display()
            )
        };

        let db = match (db_flag, config.db) {
            (Some(path), _) => Sourced {
                value: path,
                source: if db_from_env {
                    "env SESSIONDB_DB".into()
                } else {
                    "flag --db".into()
                },
            },
            (None, Some(path)) => Sourced {
                value: path,
                source: config_label(),
            },
            (None, None) => {
                let Some(data) = dirs::data_dir() else {
                    bail!(
                        "cannot find a data directory for the database: set --db or SESSIONDB_DB"
                    );
                };
                Sourced {
                    value: data.join("sessiondb").join("sessiondb.db"),
                    source: "default".into(),
                }
            }
        };

        let claude_dirs = match (env_nonempty("CLAUDE_CONFIG_DIR"), config.claude_dirs) {
            (None, Some(dirs)) => Sourced {
                value: dirs,
                source: config_label(),
            },
            _ => default_claude_dirs(),
        };

        let tz = match (tz_flag, config.tz) {
            (Some(tz), _) => Sourced {
                value: tz,
                source: "flag --tz".into(),
            },
            (None, Some(tz)) => Sourced {
                value: tz,
                source: config_label(),
            },
            (None, None) => system_tz()?,
        };
        if tz.value.parse::<Tz>().is_err() {
            return Err(usage(format!(
                "unknown time zone {:?} (from {}): expected an IANA name such as Europe/Berlin or UTC",
                tz.value, tz.source
            )));
        }
        Ok(Settings {
            db,
            claude_dirs,
            tz,
            retention_days: config.retention_days,
            allow_hosts: config.allow_hosts.unwrap_or_default(),
            config_file,
            projects: config.projects.unwrap_or_default(),
        })
    }

    pub fn tz(&self) -> Tz {
        self.tz.value.parse().unwrap_or(Tz::UTC)
    }
}
