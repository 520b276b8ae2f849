//! The `run` wrapper's rules: which session a run resumes (an explicit one, else the key's valid session, else
//! the dir's newest), how a resume that failed is told apart (the agent says so, or, interactive, it exits at
//! once without writing to the transcript) and retried as a fresh session, which session the run ended up in,
//! and the transition recorded for the key. Starting the agent is the front-end's job ([`Launcher`]).

use crate::{Service, ServiceError};
use serde::Serialize;
use sessiondb_core::{SessionFilter, Transition};
use sessiondb_ingest::{SyncObserver, SyncOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An error starting or watching the agent.
pub type LaunchError = Box<dyn std::error::Error + Send + Sync>;

/// An interactive resume that exits non-zero this soon, without writing to its transcript, failed.
const FAILED_RESUME_WITHIN: Duration = Duration::from_secs(10);

/// What one run of the agent told.
#[derive(Debug, Default, Clone)]
pub struct Launch {
    pub exit_code: i32,
    /// The session id the agent reported (print mode), if any.
    pub reported_session_id: Option<String>,
    /// The agent said the resume failed before the conversation started.
    pub resume_failed: bool,
    pub failure_reason: Option<String>,
}

/// Starts the agent (the real `claude`) for [`Service::run`].
pub trait Launcher {
    /// Runs the agent in `dir`, resuming `resume` when given, and waits for it.
    fn launch(&mut self, dir: &Path, resume: Option<&str>) -> Result<Launch, LaunchError>;
    /// Whether the agent runs non-interactively (print mode) and so reports its session id and a failed
    /// resume itself.
    fn reports_itself(&self) -> bool;
    /// Called before a failed resume of `session_id` is retried as a fresh session.
    fn retrying_fresh(&mut self, _session_id: &str, _reason: &str) {}
}

/// Which session a run resumes.
#[derive(Debug, Clone)]
pub enum ResumeChoice {
    /// A fresh session.
    New,
    /// This session.
    Session(String),
    /// The key's valid session, else the dir's newest resumable one, else a fresh session.
    FromRegistry,
}

/// One `run`.
pub struct RunRequest<'a> {
    /// The registry key the session is recorded under.
    pub key: String,
    /// The project dir the agent runs in (absolute).
    pub dir: PathBuf,
    pub resume: ResumeChoice,
    /// Who moves the key (the transition's source).
    pub source: String,
    /// The config dirs to sync before and after the run.
    pub roots: &'a [PathBuf],
    pub observer: &'a dyn SyncObserver,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The agent's exit code (of the fresh run, after a failed resume).
    pub exit_code: i32,
    /// The session the run tried to resume.
    pub resumed: Option<String>,
    /// Why the resume failed, when the run fell back to a fresh session.
    pub resume_failure: Option<String>,
    /// The transition recorded for the key; `None` when the run reported no session.
    pub transition: Option<Transition>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Service<'_> {
    /// Runs the agent through `launcher` as `request` says, and records the session it ran in.
    pub fn run(
        &mut self,
        request: &RunRequest<'_>,
        launcher: &mut dyn Launcher,
    ) -> Result<RunReport, ServiceError> {
        let sync = |service: &mut Service<'_>| {
            service.sync(request.roots, &SyncOptions::default(), request.observer)
        };
        let dir_text = request.dir.to_string_lossy().into_owned();
        sync(self)?;
        let resume = match &request.resume {
            ResumeChoice::New => None,
            ResumeChoice::Session(id) => Some(id.clone()),
            ResumeChoice::FromRegistry => match self.registry_latest(&request.key) {
                Ok(latest) if latest.valid => latest.session_id,
                Ok(_) | Err(ServiceError::UnknownKey(_)) => {
                    self.latest_for_dir(&dir_text)?.session_id
                }
                Err(err) => return Err(err),
            },
        };
        let started = Instant::now();
        let started_ms = now_ms();
        let activity_before = match &resume {
            Some(id) => self
                .store
                .session_summary(id)?
                .and_then(|s| s.last_activity_at),
            None => None,
        };
        let mut launch = launcher
            .launch(&request.dir, resume.as_deref())
            .map_err(ServiceError::Launch)?;
        if let (Some(id), false, true) = (&resume, launcher.reports_itself(), launch.exit_code != 0)
        {
            // Interactive: a resume that failed exits at once without writing to its transcript.
            sync(self)?;
            let activity_after = self
                .store
                .session_summary(id)?
                .and_then(|s| s.last_activity_at);
            if activity_after == activity_before && started.elapsed() < FAILED_RESUME_WITHIN {
                launch.resume_failed = true;
                launch.failure_reason =
                    Some(format!("claude exited with {} at once", launch.exit_code));
            }
        }
        let mut resume_failure = None;
        let mut note = None;
        if let (true, Some(id)) = (launch.resume_failed, &resume) {
            let reason = launch.failure_reason.clone().unwrap_or_default();
            launcher.retrying_fresh(id, &reason);
            note = Some(format!(
                "resume of {id} failed: {reason}; started a fresh session"
            ));
            resume_failure = Some(reason);
            launch = launcher
                .launch(&request.dir, None)
                .map_err(ServiceError::Launch)?;
        }
        sync(self)?;
        let used = match launch.reported_session_id.clone() {
            Some(id) => Some(id),
            // Text output or interactive: the session of this dir that the run wrote to.
            None if launch.exit_code == 0 => self
                .store
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
        let transition = match used {
            Some(id) => Some(
                self.track(
                    &request.key,
                    &id,
                    &request.source,
                    note.as_deref(),
                    now_ms(),
                    None,
                )?
                .transition,
            ),
            None => None,
        };
        Ok(RunReport {
            exit_code: launch.exit_code,
            resumed: resume,
            resume_failure,
            transition,
        })
    }
}
