//! Live sync while serving: a thread that owns the write connection and syncs when the file watcher (the
//! `notify` crate) reports a change (debounced), when `POST /api/sync` asks, and on a periodic rescan that
//! catches events the watcher missed. Each sync tails only the files that changed, by byte offset, and
//! publishes what changed as [`Event`]s.

use crate::events::{Event, Events};
use notify::Watcher;
use serde::Serialize;
use sessiondb_core::{SessionState, Store};
use sessiondb_ingest::{Quiet, SyncOptions};
use sessiondb_store::Location;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the syncer remembers between runs to tell what changed beyond new lines.
struct Seen {
    /// Live-state files (`<config>/sessions/<pid>.json`) of running Claude Code processes and their session:
    /// when one disappears, that session ended.
    running: std::collections::HashMap<PathBuf, String>,
    started: bool,
    /// Sessions whose new lines were announced before their summary was recomputed.
    announced: std::collections::HashSet<String>,
    /// Watcher-triggered syncs left summaries to recompute.
    refresh_due: bool,
    last_refresh: Instant,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            running: Default::default(),
            started: false,
            announced: Default::default(),
            refresh_due: false,
            last_refresh: Instant::now(),
        }
    }
}

/// Quiet time after a file event before syncing, so a burst of appends becomes one sync.
const DEBOUNCE: Duration = Duration::from_millis(10);

/// How often summaries (titles, counts, usage) are recomputed while files keep changing; new lines are
/// readable through the API before that.
const REFRESH_EVERY: Duration = Duration::from_millis(300);

/// The longest a change waits for its sync while events keep arriving.
const MAX_BATCH_WAIT: Duration = Duration::from_millis(30);

/// How soon a failed sync (disk full, database locked or read-only) is tried again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

enum Trigger {
    Changed(Instant),
    Now {
        root: Option<PathBuf>,
        reply: mpsc::Sender<Result<serde_json::Value, String>>,
    },
    /// A state manager saved this workflow folder (`LiveSync::on_save`): index it.
    Workflow {
        root: PathBuf,
        slug: String,
    },
}

/// What `GET /api/sync/status` reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncStatus {
    pub roots: Vec<String>,
    pub running: bool,
    pub syncs: u64,
    pub last_started_at: Option<String>,
    pub last_finished_at: Option<String>,
    pub last_duration_ms: Option<u64>,
    /// From the file event that triggered the last sync to its end.
    pub last_lag_ms: Option<u64>,
    pub files_seen: u64,
    pub files_read_last: u64,
    pub bytes_read_last: u64,
    pub lines_total: u64,
    pub issues_total: u64,
    /// Of `issues_total`, implausible numbers (token counts or costs not counted; `doctor` lists them).
    pub implausible_numbers_total: u64,
    /// Why the last sync failed; cleared by the next one that succeeds. The index keeps being served as it is.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Syncs that failed in a row.
    pub failures_in_a_row: u64,
    pub watching: bool,
}

/// The syncer's status, and a wake-up for whoever watches it.
struct StatusCell {
    status: Mutex<SyncStatus>,
    changed: tokio::sync::Notify,
}

/// A write to the status; the watcher is woken when it is dropped.
struct StatusWrite<'a> {
    guard: std::sync::MutexGuard<'a, SyncStatus>,
    changed: &'a tokio::sync::Notify,
}

impl std::ops::Deref for StatusWrite<'_> {
    type Target = SyncStatus;
    fn deref(&self) -> &SyncStatus {
        &self.guard
    }
}

impl std::ops::DerefMut for StatusWrite<'_> {
    fn deref_mut(&mut self) -> &mut SyncStatus {
        &mut self.guard
    }
}

impl Drop for StatusWrite<'_> {
    fn drop(&mut self) {
        self.changed.notify_one();
    }
}

impl StatusCell {
    /// The status to change (`Err` only if a writer panicked).
    fn lock(&self) -> Result<StatusWrite<'_>, ()> {
        let guard = self.status.lock().map_err(|_| ())?;
        Ok(StatusWrite {
            guard,
            changed: &self.changed,
        })
    }

    fn read(&self) -> Option<SyncStatus> {
        self.status.lock().ok().map(|s| s.clone())
    }
}

/// Handle to the live syncer.
#[derive(Clone)]
pub struct LiveSync {
    trigger: mpsc::Sender<Trigger>,
    status: Arc<StatusCell>,
    roots: Arc<Vec<PathBuf>>,
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl LiveSync {
    /// Starts the sync thread over `roots` (config dirs), writing to `db`. With `watch`, a file watcher
    /// triggers syncs; `rescan_every` bounds how stale the index can get if the watcher misses events.
    pub fn start(
        db: Location,
        roots: Vec<PathBuf>,
        events: Events,
        watch: bool,
        rescan_every: Duration,
    ) -> LiveSync {
        let (sender, receiver) = mpsc::channel::<Trigger>();
        let status = Arc::new(StatusCell {
            status: Mutex::new(SyncStatus {
                roots: roots.iter().map(|r| r.display().to_string()).collect(),
                ..SyncStatus::default()
            }),
            changed: tokio::sync::Notify::new(),
        });
        let live = LiveSync {
            trigger: sender.clone(),
            status: status.clone(),
            roots: Arc::new(roots.clone()),
        };
        std::thread::Builder::new()
            .name("sessiondb-live-sync".into())
            .spawn(move || {
                // The database may be unwritable for now (read-only, full, locked): keep trying.
                let mut owned = loop {
                    match sessiondb_store::open(&db) {
                        Ok(store) => break store,
                        Err(err) => {
                            record_failure(&status, err.to_string());
                            std::thread::sleep(RETRY_AFTER_FAILURE);
                        }
                    }
                };
                let store: &mut dyn Store = owned.as_mut();
                // Keep the watcher alive for the life of the thread.
                let mut watcher = if watch {
                    start_watcher(&roots, sender, &status)
                } else {
                    None
                };
                // Registered projects' workflow folders are watched too (new registrations from the next loop).
                let mut watched_projects = std::collections::HashSet::new();
                let mut seen = Seen::default();
                let seen = &mut seen;
                // Catch what changed between the caller's initial sync and the watcher's start.
                let _ = run_once(store, &roots, &events, &status, seen, None); // errors are kept in the status
                let mut last_sync = Instant::now();
                loop {
                    watch_projects(watcher.as_mut(), &*store, &mut watched_projects);
                    refresh_if_due(store, &events, seen, false);
                    let mut wait = rescan_every.saturating_sub(last_sync.elapsed());
                    if status.read().is_some_and(|s| s.last_error.is_some()) {
                        wait = wait.min(RETRY_AFTER_FAILURE.saturating_sub(last_sync.elapsed()));
                    }
                    if seen.refresh_due {
                        wait = wait.min(REFRESH_EVERY.saturating_sub(seen.last_refresh.elapsed()));
                    }
                    match receiver.recv_timeout(wait) {
                        Ok(Trigger::Changed(first)) => {
                            // Let a burst settle, but never wait more than MAX_BATCH_WAIT after its first event:
                            // files appended to without pause must still be synced continuously.
                            let mut earliest = first;
                            let mut pending_now = None;
                            // Everything already queued is covered by the coming sync.
                            while let Ok(queued) = receiver.try_recv() {
                                match queued {
                                    Trigger::Changed(at) => earliest = earliest.min(at),
                                    now @ Trigger::Now { .. } => pending_now = Some(now),
                                    // The coming sync indexes every workflow folder.
                                    Trigger::Workflow { .. } => {}
                                }
                            }
                            while pending_now.is_none() {
                                let waited = earliest.elapsed();
                                if waited >= MAX_BATCH_WAIT {
                                    break;
                                }
                                match receiver.recv_timeout(DEBOUNCE.min(MAX_BATCH_WAIT - waited)) {
                                    Ok(Trigger::Changed(at)) => earliest = earliest.min(at),
                                    Ok(now @ Trigger::Now { .. }) => {
                                        pending_now = Some(now);
                                        break;
                                    }
                                    Ok(Trigger::Workflow { .. }) => {}
                                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                                }
                            }
                            let _ = run_once(store, &roots, &events, &status, seen, Some(earliest)); // errors are kept in the status
                            if let Some(now) = pending_now {
                                answer(store, &roots, &events, &status, seen, now);
                            }
                            last_sync = Instant::now();
                        }
                        Ok(now @ Trigger::Now { .. }) => {
                            answer(store, &roots, &events, &status, seen, now);
                            last_sync = Instant::now();
                        }
                        Ok(Trigger::Workflow { root, slug }) => {
                            sync_workflow_folder(store, &events, &root, &slug);
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) if seen.refresh_due => {
                            refresh_if_due(store, &events, seen, true);
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            // The periodic rescan, for changes the watcher missed.
                            let _ = run_once(store, &roots, &events, &status, seen, None); // errors are kept in the status
                            last_sync = Instant::now();
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .expect("spawning a thread");
        live
    }

    /// Syncs now (all roots, or one of them) and returns the sync report. Blocks until done.
    pub fn sync_now(&self, root: Option<PathBuf>) -> Result<serde_json::Value, String> {
        if let Some(root) = &root {
            if !self.roots.iter().any(|r| r == root) {
                return Err(format!(
                    "{} is not one of the served config dirs ({})",
                    root.display(),
                    self.roots
                        .iter()
                        .map(|r| r.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let (reply, answer) = mpsc::channel();
        self.trigger
            .send(Trigger::Now { root, reply })
            .map_err(|_| "the sync thread has stopped".to_owned())?;
        answer
            .recv()
            .map_err(|_| "the sync thread has stopped".to_owned())?
    }

    pub fn status(&self) -> SyncStatus {
        self.status.read().unwrap_or_default()
    }

    /// Wakes the syncer for a sync soon (as a file event would): after a project is registered, so its
    /// workflow folders are indexed and watched.
    pub fn sync_soon(&self) {
        let _ = self.trigger.send(Trigger::Changed(Instant::now()));
    }

    /// A state manager's `on_save` hook that queues an index of the saved folder on this syncer's thread and
    /// returns at once: an agent saving through it never waits for the database (seed 001's design).
    pub fn on_save(&self) -> sessiondb_service::OnSave {
        let trigger = Mutex::new(self.trigger.clone());
        std::sync::Arc::new(move |saved: &sessiondb_service::SavedFolder| {
            if let Ok(sender) = trigger.lock() {
                let _ = sender.send(Trigger::Workflow {
                    root: saved.root.clone(),
                    slug: saved.slug.clone(),
                });
            }
        })
    }

    /// Resolves after the status changes (at once if it changed since the last call resolved): for watching
    /// it without polling.
    pub async fn status_changed(&self) {
        self.status.changed.notified().await;
    }
}

fn start_watcher(
    roots: &[PathBuf],
    sender: mpsc::Sender<Trigger>,
    status: &Arc<StatusCell>,
) -> Option<notify::RecommendedWatcher> {
    let mut watcher =
        match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                if !matches!(event.kind, notify::EventKind::Access(_)) {
                    let _ = sender.send(Trigger::Changed(Instant::now()));
                }
            }
        }) {
            Ok(w) => w,
            Err(err) => {
                tracing::warn!(%err, "no file watcher; relying on the periodic rescan");
                return None;
            }
        };
    let mut watching = false;
    for root in roots {
        match watcher.watch(root, notify::RecursiveMode::Recursive) {
            Ok(()) => watching = true,
            Err(err) => tracing::warn!(root = %root.display(), %err, "cannot watch"),
        }
    }
    if let Ok(mut s) = status.lock() {
        s.watching = watching;
    }
    Some(watcher)
}

/// Indexes one saved workflow folder and announces it as `workflow_changed`.
fn sync_workflow_folder(
    store: &mut dyn Store,
    events: &Events,
    root: &std::path::Path,
    slug: &str,
) {
    match sessiondb_service::Service::new(store).sync_workflow_folder(root, slug) {
        Ok(_) => events.publish(Event::new(
            "workflow_changed",
            Some(slug.to_owned()),
            Some(root.display().to_string()),
        )),
        Err(err) => {
            tracing::warn!(root = %root.display(), %slug, %err, "indexing a saved workflow folder failed")
        }
    }
}

/// Adds a watch on the workflow folders (`agents/sessions`) of every registered project not watched yet; a
/// project without that dir yet is left to the periodic rescan until it appears (watching its whole tree would
/// cost a watch per directory of the project).
fn watch_projects(
    watcher: Option<&mut notify::RecommendedWatcher>,
    store: &dyn Store,
    watched: &mut std::collections::HashSet<PathBuf>,
) {
    let Some(watcher) = watcher else {
        return;
    };
    let Ok(projects) = store.registered_projects() else {
        return;
    };
    for project in projects {
        let target = PathBuf::from(&project.root).join(sessiondb_core::workflow::SESSIONS_DIR);
        if watched.contains(&target) || !target.is_dir() {
            continue;
        }
        match watcher.watch(&target, notify::RecursiveMode::Recursive) {
            Ok(()) => {
                watched.insert(target);
            }
            Err(err) => {
                tracing::warn!(dir = %target.display(), %err, "cannot watch workflow folders")
            }
        }
    }
}

fn answer(
    store: &mut dyn Store,
    roots: &[PathBuf],
    events: &Events,
    status: &Arc<StatusCell>,
    seen: &mut Seen,
    trigger: Trigger,
) {
    if let Trigger::Now { root, reply } = trigger {
        let chosen: Vec<PathBuf> = match root {
            Some(root) => vec![root],
            None => roots.to_vec(),
        };
        let result = run_once(store, &chosen, events, status, seen, None);
        let _ = reply.send(result);
    }
}

fn run_once(
    store: &mut dyn Store,
    roots: &[PathBuf],
    events: &Events,
    status: &Arc<StatusCell>,
    seen: &mut Seen,
    triggered_at: Option<Instant>,
) -> Result<serde_json::Value, String> {
    // Syncs the watcher triggers commit lines only; summaries follow in `refresh_if_due`.
    let defer = triggered_at.is_some();
    let started = Instant::now();
    if let Ok(mut s) = status.lock() {
        s.running = true;
        s.last_started_at = Some(now_iso());
    }
    let existing: Vec<PathBuf> = roots.iter().filter(|r| r.is_dir()).cloned().collect();
    let options = SyncOptions {
        defer_refresh: defer,
        ..SyncOptions::default()
    };
    let marker = store.line_marker().unwrap_or(i64::MAX);
    let result = sessiondb_service::Service::new(&mut *store)
        .sync_all(&existing, &options, &Quiet)
        .map(|(report, workflows)| {
            if workflows.indexed + workflows.gone + workflows.renamed > 0 {
                events.publish(Event::new("workflow_changed", None, None));
            }
            report
        });
    let finished = Instant::now();
    let out = match &result {
        Ok(report) => {
            if defer {
                // The lines are queryable now: announce them for sessions that already have a summary (new
                // ones are announced as created when their summary is computed).
                for id in store.appended_since(marker).unwrap_or_default() {
                    if store.session_summary(&id).ok().flatten().is_some() {
                        events.publish(Event::new("session_appended", Some(id.clone()), None));
                        seen.announced.insert(id);
                    }
                }
                seen.refresh_due = true;
            } else {
                publish_changes(store, events, &report.sessions_changed, &seen.announced);
                seen.announced.clear();
                seen.refresh_due = false;
                seen.last_refresh = Instant::now();
            }
            for session in store.compacted_since(marker).unwrap_or_default() {
                events.publish(Event::new("session_compacted", Some(session), None));
            }
            publish_ended(&existing, events, seen);
            Ok(serde_json::to_value(report).unwrap_or_default())
        }
        Err(err) => Err(err.to_string()),
    };
    if let Ok(mut s) = status.lock() {
        s.running = false;
        s.syncs += 1;
        s.last_finished_at = Some(now_iso());
        s.last_duration_ms = Some((finished - started).as_millis() as u64);
        if let Some(t) = triggered_at {
            s.last_lag_ms = Some((finished - t).as_millis() as u64);
        }
        if let Ok(report) = &result {
            s.files_seen = report.files_seen;
            s.files_read_last = report.files_read;
            s.bytes_read_last = report.bytes_read;
            s.lines_total += report.lines;
            s.issues_total += report.issues;
            s.implausible_numbers_total += report.implausible_numbers;
            s.last_error = None;
            s.last_error_at = None;
            s.failures_in_a_row = 0;
        }
    }
    if let Err(err) = &result {
        record_failure(status, err.to_string());
    }
    out
}

/// Keeps a failure in the status; logs it when it is new (not at every retry).
fn record_failure(status: &Arc<StatusCell>, error: String) {
    if let Ok(mut s) = status.lock() {
        if s.last_error.as_deref() != Some(error.as_str()) {
            tracing::warn!(err = %error, "syncing failed; serving the index as it is and retrying");
        }
        s.last_error = Some(error);
        s.last_error_at = Some(now_iso());
        s.failures_in_a_row += 1;
    }
}

/// Publishes `session_ended` for Claude Code processes whose live-state file went away since the last run.
fn publish_ended(roots: &[PathBuf], events: &Events, seen: &mut Seen) {
    let mut now = std::collections::HashMap::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(root.join("sessions")) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let session = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| {
                    v.get("sessionId")
                        .and_then(|s| s.as_str())
                        .map(str::to_owned)
                });
            if let Some(session) = session {
                now.insert(path, session);
            }
        }
    }
    if seen.started {
        for (path, session) in &seen.running {
            // The same process may have moved to another session id (`/clear`): the old one ended too.
            if now.get(path) != Some(session) {
                events.publish(Event::new("session_ended", Some(session.clone()), None));
            }
        }
    }
    seen.running = now;
    seen.started = true;
}

/// Recomputes the summaries deferred by watcher-triggered syncs, at most every [`REFRESH_EVERY`].
fn refresh_if_due(store: &mut dyn Store, events: &Events, seen: &mut Seen, force: bool) {
    if !seen.refresh_due || (!force && seen.last_refresh.elapsed() < REFRESH_EVERY) {
        return;
    }
    match store.refresh_sessions() {
        Ok(changed) => publish_changes(store, events, &changed, &seen.announced),
        Err(err) => tracing::warn!(%err, "refreshing session summaries failed"),
    }
    seen.announced.clear();
    seen.refresh_due = false;
    seen.last_refresh = Instant::now();
}

fn publish_changes(
    store: &dyn Store,
    events: &Events,
    sessions_changed: &[sessiondb_core::RefreshedSession],
    announced: &std::collections::HashSet<String>,
) {
    for changed in sessions_changed {
        let id = changed.session_id.clone();
        match (changed.previous_state, changed.state) {
            (None, Some(_)) => {
                events.publish(Event::new("session_created", Some(id.clone()), None));
                // A new id that continues an existing session: resumed (or forked) into a new id.
                if let Ok(links) = store.session_links(&id) {
                    if let Some(link) = links.iter().find(|l| {
                        l.to == id
                            && l.from != id
                            && matches!(
                                l.kind,
                                sessiondb_core::LinkKind::Resume
                                    | sessiondb_core::LinkKind::Fork
                                    | sessiondb_core::LinkKind::Compaction
                            )
                    }) {
                        events.publish(Event::new(
                            "session_resumed",
                            Some(id),
                            Some(link.from.clone()),
                        ));
                    }
                }
            }
            (Some(SessionState::OnDisk), Some(SessionState::Deleted)) | (Some(_), None) => {
                events.publish(Event::new("session_deleted", Some(id), None))
            }
            (_, Some(_)) if !announced.contains(&id) => {
                events.publish(Event::new("session_appended", Some(id), None))
            }
            (_, Some(_)) => {}
            (None, None) => {}
        }
    }
    if !sessions_changed.is_empty() {
        events.publish(Event::new("sync_finished", None, None));
    }
}
