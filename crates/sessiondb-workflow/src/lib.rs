//! The state manager agents drive: creates workflow folders (`<project>/agents/sessions/<slug>/`) and changes
//! their `state.json` (phase, checkpoints), and never touches a database. The files stay the truth; a sync
//! mirrors them.
//!
//! Every save: takes the folder's lock (`.state.json.lock`, made with `O_EXCL`; one left by a crashed writer
//! is taken over after [`STALE_LOCK`]), reads `state.json`, checks the caller's expected `version` (a
//! compare-and-swap: the loser of two writers gets [`StateError::Conflict`]), applies the change keeping every
//! field it does not know untouched, bumps `version` and `updated_at`, appends the change to `history`, and
//! writes a temporary file, fsyncs it, renames it over `state.json` and fsyncs the folder. Then it calls the
//! `on_save` hook (outside the lock), which a server uses to queue a sync; the hook must not block.
//! Phase transitions are checked against the project's declared phases (`sessiondb_core::workflow`).

use serde_json::{json, Map, Value};
use sessiondb_core::workflow::{
    check_transition, extract, Mapping, Phase, TransitionError, MAPPING_FILE, SESSIONS_DIR,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A lock file older than this was left by a writer that died; it is taken over.
pub const STALE_LOCK: Duration = Duration::from_secs(30);
/// How long a save waits for another writer's lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Why a state change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid slug {0:?}: a folder name without '/', not starting with '.'")]
    InvalidSlug(String),
    #[error("workflow session {0:?} already exists")]
    Exists(String),
    #[error("no workflow session {0:?} (no state.json in its folder)")]
    NotFound(String),
    /// Another writer saved first: the caller read `expected`, the file is at `found`.
    #[error("version conflict: expected version {expected}, state.json is at version {found}")]
    Conflict { expected: u64, found: u64 },
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("no checkpoint {0:?}")]
    UnknownCheckpoint(String),
    #[error("checkpoint {0:?} already exists")]
    CheckpointExists(String),
    /// `state.json` or the project's mapping config cannot be read as JSON.
    #[error("{0}")]
    Malformed(String),
    /// The folder (or the sessions dir above it) is a symlink that leads out of the project root.
    #[error("{0} leads outside the project root")]
    OutsideRoot(String),
    #[error("timed out waiting for the lock of {0}")]
    Locked(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StateError {
    /// Whether the caller asked for something wrong (slug, phase, version, checkpoint), as opposed to the
    /// files failing.
    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            StateError::InvalidSlug(_)
                | StateError::Exists(_)
                | StateError::Conflict { .. }
                | StateError::Transition(_)
                | StateError::UnknownCheckpoint(_)
                | StateError::CheckpointExists(_)
                | StateError::OutsideRoot(_)
        )
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What the `on_save` hook is told: which folder was saved, at which version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFolder {
    pub root: PathBuf,
    pub slug: String,
    pub version: u64,
}

/// Called after each save; must return quickly (queue work, do not do it).
pub type OnSave = Arc<dyn Fn(&SavedFolder) + Send + Sync>;

/// The state after a save.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub slug: String,
    pub version: u64,
    pub state: Value,
}

/// A new workflow session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewSession {
    pub slug: String,
    pub title: Option<String>,
    pub session_type: Option<String>,
    /// The first phase; the project's first declared phase when `None`.
    pub phase: Option<Phase>,
}

/// A change to a session's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointOp {
    /// A new pending checkpoint (an id is made up when `None`).
    Add { id: Option<String>, title: String },
    /// Marks a checkpoint done.
    Complete { id: String },
}

/// Creates and updates the workflow folders of one project.
#[derive(Clone)]
pub struct StateManager {
    root: PathBuf,
    mapping: Mapping,
    source: String,
    on_save: Option<OnSave>,
}

impl std::fmt::Debug for StateManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateManager")
            .field("root", &self.root)
            .field("source", &self.source)
            .finish()
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique enough id: time, process and a counter.
fn new_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{nanos:016x}-{:08x}-{:04x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl StateManager {
    /// The manager of the project at `root` (a directory), with the phases of its mapping config
    /// (`agents/sessiondb.json`), else the default ones.
    pub fn open(root: &Path) -> Result<StateManager, StateError> {
        let root = std::fs::canonicalize(root).map_err(io(root))?;
        let config = root.join(MAPPING_FILE);
        let mapping = match std::fs::read_to_string(&config) {
            Ok(text) => Mapping::from_json(&text)
                .map_err(|e| StateError::Malformed(format!("{}: {e}", config.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Mapping::default(),
            Err(e) => return Err(io(&config)(e)),
        };
        Ok(StateManager {
            root,
            mapping,
            source: "sessiondb".to_owned(),
            on_save: None,
        })
    }

    /// Who makes the changes, recorded in each history entry (`cli`, `api`, `mcp`, an agent's name).
    pub fn with_source(mut self, source: &str) -> Self {
        self.source = source.to_owned();
        self
    }

    pub fn with_on_save(mut self, hook: OnSave) -> Self {
        self.on_save = Some(hook);
        self
    }

    /// The declared phases, in order.
    pub fn phases(&self) -> &[Phase] {
        &self.mapping.phases
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of `slug`, refusing names that would leave the sessions dir.
    pub fn folder(&self, slug: &str) -> Result<PathBuf, StateError> {
        let bad = slug.is_empty()
            || slug.starts_with('.')
            || slug.contains(['/', '\\', '\0'])
            || slug.len() > 200;
        if bad {
            return Err(StateError::InvalidSlug(slug.to_owned()));
        }
        Ok(self.root.join(SESSIONS_DIR).join(slug))
    }

    /// The folder of `slug` as it really is, refused when it (or the sessions dir) leads out of the root.
    fn real_folder(&self, slug: &str) -> Result<PathBuf, StateError> {
        let folder = self.folder(slug)?;
        let real = std::fs::canonicalize(&folder).map_err(io(&folder))?;
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(StateError::OutsideRoot(folder.display().to_string()))
        }
    }

    /// `state.json` of `slug` as it is on disk.
    pub fn read(&self, slug: &str) -> Result<Value, StateError> {
        let path = self.folder(slug)?.join("state.json");
        read_state(&path, slug)
    }

    /// Creates the folder and its `state.json`; refuses an existing session.
    pub fn create(&self, new: &NewSession) -> Result<Saved, StateError> {
        let folder = self.folder(&new.slug)?;
        if let Some(sessions) = folder.parent() {
            std::fs::create_dir_all(sessions).map_err(io(sessions))?;
            let real = std::fs::canonicalize(sessions).map_err(io(sessions))?;
            if !real.starts_with(&self.root) {
                return Err(StateError::OutsideRoot(sessions.display().to_string()));
            }
        }
        if let Err(err) = std::fs::create_dir(&folder) {
            if err.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(io(&folder)(err));
            }
        }
        let folder = self.real_folder(&new.slug)?;
        let _lock = Lock::take(&folder)?;
        let path = folder.join("state.json");
        if path.exists() {
            return Err(StateError::Exists(new.slug.clone()));
        }
        let phase = match &new.phase {
            Some(phase) => {
                check_transition(&self.mapping.phases, None, phase)?;
                phase.clone()
            }
            None => self.mapping.phases.first().cloned().unwrap_or(Phase::Spec),
        };
        let now = now_text();
        let state = json!({
            "id": new_id(),
            "slug": new.slug,
            "title": new.title.clone().unwrap_or_else(|| new.slug.clone()),
            "phase": phase.as_str(),
            "session_type": new.session_type.clone().unwrap_or_else(|| "full".to_owned()),
            "created_at": now,
            "updated_at": now,
            "checkpoints": [],
            "version": 1,
            "history": [{
                "at": now, "action": "create", "to": phase.as_str(), "version": 1, "source": self.source,
            }],
        });
        write_atomically(&folder, &state)?;
        drop(_lock);
        self.saved(&new.slug, 1);
        Ok(Saved {
            slug: new.slug.clone(),
            version: 1,
            state,
        })
    }

    /// Moves `slug` to `phase` (checked against the declared phases).
    pub fn set_phase(
        &self,
        slug: &str,
        phase: &Phase,
        expected_version: Option<u64>,
    ) -> Result<Saved, StateError> {
        let mapping = &self.mapping;
        self.update(slug, expected_version, |state| {
            let current = extract(slug, &Value::Object(state.clone()), None, mapping).phase;
            check_transition(&mapping.phases, current.as_ref(), phase)?;
            state.insert("phase".to_owned(), Value::from(phase.as_str()));
            Ok(json!({
                "action": "phase",
                "from": current.as_ref().map(Phase::as_str),
                "to": phase.as_str(),
            }))
        })
    }

    /// Adds or completes a checkpoint, in the shape the file already uses (a list or an object by id).
    pub fn checkpoint(
        &self,
        slug: &str,
        op: &CheckpointOp,
        expected_version: Option<u64>,
    ) -> Result<Saved, StateError> {
        self.update(slug, expected_version, |state| {
            let now = now_text();
            let checkpoints = state
                .entry("checkpoints")
                .or_insert_with(|| Value::Array(Vec::new()));
            match op {
                CheckpointOp::Add { id, title } => {
                    let id = id.clone().unwrap_or_else(new_id);
                    let exists = match &*checkpoints {
                        Value::Array(items) => items
                            .iter()
                            .any(|i| i.get("id").and_then(Value::as_str) == Some(id.as_str())),
                        Value::Object(map) => map.contains_key(&id),
                        _ => false,
                    };
                    if exists {
                        return Err(StateError::CheckpointExists(id));
                    }
                    match checkpoints {
                        Value::Object(map) => {
                            map.insert(
                                id.clone(),
                                json!({"title": title, "status": "pending", "created_at": now}),
                            );
                        }
                        Value::Array(items) => items.push(json!({
                            "id": id, "title": title, "status": "pending", "done": false, "created_at": now,
                        })),
                        other => {
                            return Err(StateError::Malformed(format!(
                                "checkpoints is neither a list nor an object: {other}"
                            )))
                        }
                    }
                    Ok(json!({"action": "checkpoint_add", "checkpoint": id, "title": title}))
                }
                CheckpointOp::Complete { id } => {
                    let item = match checkpoints {
                        Value::Array(items) => items
                            .iter_mut()
                            .find(|i| i.get("id").and_then(Value::as_str) == Some(id.as_str())),
                        Value::Object(map) => map.get_mut(id),
                        _ => None,
                    }
                    .ok_or_else(|| StateError::UnknownCheckpoint(id.clone()))?;
                    match item {
                        Value::Object(fields) => {
                            if fields.contains_key("done") || !fields.contains_key("status") {
                                fields.insert("done".to_owned(), Value::Bool(true));
                            }
                            if fields.contains_key("status") {
                                fields.insert("status".to_owned(), Value::from("done"));
                            }
                            fields.insert("completed_at".to_owned(), Value::from(now));
                        }
                        other => *other = Value::Bool(true),
                    }
                    Ok(json!({"action": "checkpoint_done", "checkpoint": id}))
                }
            }
        })
    }

    /// Reads, changes and writes `slug`'s state under its lock. `change` edits the object and returns the
    /// history entry's fields (without `at`, `version` and `source`, added here).
    pub fn update(
        &self,
        slug: &str,
        expected_version: Option<u64>,
        change: impl FnOnce(&mut Map<String, Value>) -> Result<Value, StateError>,
    ) -> Result<Saved, StateError> {
        if !self.folder(slug)?.join("state.json").exists() {
            return Err(StateError::NotFound(slug.to_owned()));
        }
        let folder = self.real_folder(slug)?;
        let lock = Lock::take(&folder)?;
        let path = folder.join("state.json");
        let Value::Object(mut state) = read_state(&path, slug)? else {
            return Err(StateError::Malformed(format!(
                "{} is not a JSON object",
                path.display()
            )));
        };
        let found = version_of(&state);
        if let Some(expected) = expected_version {
            if expected != found {
                return Err(StateError::Conflict { expected, found });
            }
        }
        let mut entry = change(&mut state)?;
        let version = found + 1;
        let now = now_text();
        state.insert("version".to_owned(), Value::from(version));
        state.insert("updated_at".to_owned(), Value::from(now.clone()));
        if let Value::Object(fields) = &mut entry {
            fields.insert("at".to_owned(), Value::from(now));
            fields.insert("version".to_owned(), Value::from(version));
            fields.insert("source".to_owned(), Value::from(self.source.clone()));
        }
        // The history goes in `history` unless the file uses that name for something else.
        let key = match state.get("history") {
            None | Some(Value::Array(_)) => "history",
            Some(_) => "sessiondb_history",
        };
        if let Value::Array(items) = state.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
            items.push(entry);
        }
        let state = Value::Object(state);
        write_atomically(&folder, &state)?;
        drop(lock);
        self.saved(slug, version);
        Ok(Saved {
            slug: slug.to_owned(),
            version,
            state,
        })
    }

    fn saved(&self, slug: &str, version: u64) {
        if let Some(hook) = &self.on_save {
            hook(&SavedFolder {
                root: self.root.clone(),
                slug: slug.to_owned(),
                version,
            });
        }
    }
}

/// The `version` a state carries (0 when it has none).
pub fn version_of(state: &Map<String, Value>) -> u64 {
    state.get("version").and_then(Value::as_u64).unwrap_or(0)
}

fn read_state(path: &Path, slug: &str) -> Result<Value, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StateError::NotFound(slug.to_owned()))
        }
        Err(e) => return Err(io(path)(e)),
    };
    serde_json::from_str(&text)
        .map_err(|e| StateError::Malformed(format!("{} is not valid JSON: {e}", path.display())))
}

/// Writes `state` as `folder/state.json`: a temporary file, fsynced, renamed over it, the folder fsynced.
fn write_atomically(folder: &Path, state: &Value) -> Result<(), StateError> {
    let tmp = folder.join(format!(".state.json.tmp-{}", new_id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut text =
            serde_json::to_vec_pretty(state).map_err(|e| StateError::Malformed(e.to_string()))?;
        text.push(b'\n');
        file.write_all(&text).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        let path = folder.join("state.json");
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        std::fs::File::open(folder)
            .and_then(|dir| dir.sync_all())
            .map_err(io(folder))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A folder's write lock: a file made with `create_new`, removed when dropped.
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn take(folder: &Path) -> Result<Lock, StateError> {
        let path = folder.join(".state.json.lock");
        let started = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    let _ = writeln!(file, "{}", std::process::id());
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    if stale {
                        tracing::warn!(lock = %path.display(), "taking over a stale workflow lock");
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() > LOCK_WAIT {
                        return Err(StateError::Locked(folder.display().to_string()));
                    }
                    std::thread::sleep(pause);
                    // A save holds the lock for about two fsyncs: poll at that pace, not slower.
                    pause = (pause * 2).min(Duration::from_millis(4));
                }
                Err(e) => return Err(io(&path)(e)),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> (tempfile::TempDir, StateManager) {
        let dir = tempfile::tempdir().unwrap();
        let m = StateManager::open(dir.path()).unwrap().with_source("test");
        (dir, m)
    }

    #[test]
    fn create_then_move_through_the_phases_with_history() {
        let (_dir, m) = manager();
        let saved = m
            .create(&NewSession {
                slug: "s1".into(),
                title: Some("First".into()),
                ..NewSession::default()
            })
            .unwrap();
        assert_eq!(saved.version, 1);
        assert_eq!(saved.state["phase"], "spec");
        assert!(matches!(
            m.create(&NewSession {
                slug: "s1".into(),
                ..NewSession::default()
            }),
            Err(StateError::Exists(_))
        ));
        let s = m.set_phase("s1", &Phase::Plan, Some(1)).unwrap();
        assert_eq!((s.version, s.state["phase"].as_str()), (2, Some("plan")));
        assert!(matches!(
            m.set_phase("s1", &Phase::Done, None),
            Err(StateError::Transition(TransitionError::Skips { .. }))
        ));
        assert!(matches!(
            m.set_phase("s1", &Phase::Build, Some(1)),
            Err(StateError::Conflict {
                expected: 1,
                found: 2
            })
        ));
        let history = m.read("s1").unwrap()["history"].as_array().unwrap().clone();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1]["from"], "spec");
        assert_eq!(history[1]["to"], "plan");
        assert_eq!(history[1]["source"], "test");
    }

    #[test]
    fn unknown_fields_and_the_checkpoint_shape_are_kept() {
        let (dir, m) = manager();
        let folder = dir.path().join("agents/sessions/old");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("state.json"),
            r#"{"status": "building", "decisions": [{"x": 1}], "checkpoints": {"cp1": {"status": "pending"}}, "history": "free text"}"#,
        )
        .unwrap();
        m.checkpoint(
            "old",
            &CheckpointOp::Add {
                id: Some("cp2".into()),
                title: "two".into(),
            },
            Some(0),
        )
        .unwrap();
        let s = m
            .checkpoint("old", &CheckpointOp::Complete { id: "cp1".into() }, None)
            .unwrap();
        assert_eq!(s.state["decisions"][0]["x"], 1);
        assert_eq!(s.state["checkpoints"]["cp1"]["status"], "done");
        assert_eq!(s.state["checkpoints"]["cp2"]["status"], "pending");
        assert_eq!(s.state["history"], "free text");
        assert_eq!(s.state["sessiondb_history"].as_array().unwrap().len(), 2);
        // `building` implies build: review is the next step.
        m.set_phase("old", &Phase::Review, None).unwrap();
        assert!(matches!(
            m.checkpoint("old", &CheckpointOp::Complete { id: "nope".into() }, None),
            Err(StateError::UnknownCheckpoint(_))
        ));
    }

    #[test]
    fn slugs_that_leave_the_sessions_dir_are_refused() {
        let (_dir, m) = manager();
        for slug in ["", "..", "../x", "a/b", ".hidden", "/abs"] {
            assert!(
                matches!(m.folder(slug), Err(StateError::InvalidSlug(_))),
                "{slug}"
            );
        }
        assert!(matches!(m.read("missing"), Err(StateError::NotFound(_))));
    }

    #[test]
    fn folders_that_lead_out_of_the_root_are_never_written() {
        let (dir, m) = manager();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("state.json"), r#"{"phase": "spec"}"#).unwrap();
        std::fs::create_dir_all(dir.path().join(SESSIONS_DIR)).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join(SESSIONS_DIR).join("out"))
            .unwrap();
        assert!(matches!(
            m.set_phase("out", &Phase::Plan, None),
            Err(StateError::OutsideRoot(_))
        ));
        let new = NewSession {
            slug: "out".into(),
            ..NewSession::default()
        };
        assert!(matches!(m.create(&new), Err(StateError::OutsideRoot(_))));
        let text = std::fs::read_to_string(outside.path().join("state.json")).unwrap();
        assert_eq!(text, r#"{"phase": "spec"}"#);
        // The sessions dir itself linked out.
        let (dir2, m2) = manager();
        std::fs::create_dir_all(dir2.path().join("agents")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir2.path().join(SESSIONS_DIR)).unwrap();
        let new = NewSession {
            slug: "x".into(),
            ..NewSession::default()
        };
        assert!(matches!(m2.create(&new), Err(StateError::OutsideRoot(_))));
        assert!(!outside.path().join("x").exists());
    }

    #[test]
    fn a_project_declares_its_own_phases() {
        let (dir, _) = manager();
        std::fs::create_dir_all(dir.path().join("agents")).unwrap();
        std::fs::write(
            dir.path().join(MAPPING_FILE),
            r#"{"phases": ["triage", "fix", "done"]}"#,
        )
        .unwrap();
        let m = StateManager::open(dir.path()).unwrap();
        let s = m
            .create(&NewSession {
                slug: "bug".into(),
                ..NewSession::default()
            })
            .unwrap();
        assert_eq!(s.state["phase"], "triage");
        m.set_phase("bug", &Phase::parse("fix").unwrap(), None)
            .unwrap();
        assert!(m.set_phase("bug", &Phase::Build, None).is_err());
    }

    #[test]
    fn sixteen_concurrent_writers_lose_no_update() {
        let (_dir, m) = manager();
        m.create(&NewSession {
            slug: "busy".into(),
            ..NewSession::default()
        })
        .unwrap();
        let saves = Arc::new(AtomicU64::new(0));
        let hook_saves = saves.clone();
        let m = m.with_on_save(Arc::new(move |_| {
            hook_saves.fetch_add(1, Ordering::Relaxed);
        }));
        let conflicts = Arc::new(AtomicU64::new(0));
        std::thread::scope(|scope| {
            for writer in 0..16 {
                let m = m.clone();
                let conflicts = conflicts.clone();
                scope.spawn(move || {
                    for n in 0..5 {
                        loop {
                            let Value::Object(state) = m.read("busy").unwrap() else {
                                panic!("not an object")
                            };
                            let op = CheckpointOp::Add {
                                id: Some(format!("w{writer}-{n}")),
                                title: "t".into(),
                            };
                            match m.checkpoint("busy", &op, Some(version_of(&state))) {
                                Ok(_) => break,
                                Err(StateError::Conflict { .. }) => {
                                    conflicts.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                });
            }
        });
        let state = m.read("busy").unwrap();
        assert_eq!(state["checkpoints"].as_array().unwrap().len(), 80);
        assert_eq!(state["version"], 81);
        assert_eq!(state["history"].as_array().unwrap().len(), 81);
        assert_eq!(saves.load(Ordering::Relaxed), 80);
        // Each conflict was reported to its loser, who retried: 80 saves landed whatever their number.
        eprintln!("conflicts reported: {}", conflicts.load(Ordering::Relaxed));
        let leftovers: Vec<_> = std::fs::read_dir(m.folder("busy").unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "state.json")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
