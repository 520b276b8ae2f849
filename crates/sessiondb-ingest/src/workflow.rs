//! Indexes workflow folders (`<project>/agents/sessions/<slug>/`) of registered projects into a store, apart
//! from the transcript sync. Incremental: a folder whose `state.json` (size, mtime), `spec.md` and `plan.json`
//! (size, mtime, then a hash of their bytes) are as stored is not read. A malformed or half-written
//! `state.json` keeps the last good version and records the error (its stamp is not stored, so the next sync
//! reads it again and the next good write wins). A folder that disappears is marked not on disk; a new folder
//! whose `state.json` carries the id of a vanished one is that session renamed. Nothing outside the project
//! root is read: a folder or file whose real path leaves it is refused.
//!
//! What the facts mean is decided in `sessiondb_core::workflow`; this module only reads files and compares
//! stamps.

use serde::Serialize;
use sessiondb_core::workflow::{
    extract, first_heading, FileStamp, Mapping, WorkflowRecord, MAPPING_FILE, SESSIONS_DIR,
};
use sessiondb_core::{Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The most of `spec.md` read for its heading, and of `state.json` at all.
const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;
const MAX_HEADING_BYTES: u64 = 64 * 1024;

/// One folder that could not be read as it should.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowIssue {
    pub root: String,
    pub slug: String,
    pub error: String,
}

/// What a workflow sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkflowSyncReport {
    pub projects: u64,
    /// Folders found on disk.
    pub folders: u64,
    /// Folders read and written (new or changed).
    pub indexed: u64,
    pub unchanged: u64,
    pub renamed: u64,
    /// Folders newly marked not on disk.
    pub gone: u64,
    /// Folders whose `state.json` could not be read (the last good version is kept), and refused paths.
    pub issues: Vec<WorkflowIssue>,
    /// Project roots that are not directories (unmounted, moved): nothing under them was marked gone.
    pub unavailable_roots: Vec<String>,
}

impl WorkflowSyncReport {
    pub fn add(&mut self, other: WorkflowSyncReport) {
        self.projects += other.projects;
        self.folders += other.folders;
        self.indexed += other.indexed;
        self.unchanged += other.unchanged;
        self.renamed += other.renamed;
        self.gone += other.gone;
        self.issues.extend(other.issues);
        self.unavailable_roots.extend(other.unavailable_roots);
    }
}

/// The project's mapping: its config file, else the default (a config file that does not parse is reported
/// and the default used).
pub fn load_mapping(root: &Path) -> (Mapping, Option<String>) {
    let path = root.join(MAPPING_FILE);
    // `agents/` itself could lead out of the root: the whole path is resolved (once per project and sync).
    let read = resolve_inside(root, &path).and_then(|real| match real {
        Some(real) => read_file(&real, MAX_STATE_BYTES).map(Some),
        None => Ok(None),
    });
    match read {
        Ok(Some(bytes)) => match std::str::from_utf8(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|t| Mapping::from_json(t).map_err(|e| e.to_string()))
        {
            Ok(mapping) => (mapping, None),
            Err(err) => (
                Mapping::default(),
                Some(format!(
                    "{}: {err}; using the default mapping",
                    path.display()
                )),
            ),
        },
        Ok(None) => (Mapping::default(), None),
        Err(err) => (Mapping::default(), Some(err)),
    }
}

/// `path`'s real location when it is inside `root` (itself canonical); `Ok(None)` when it does not exist.
pub fn resolve_inside(root: &Path, path: &Path) -> Result<Option<PathBuf>, String> {
    match std::fs::canonicalize(path) {
        Ok(real) if real.starts_with(root) => Ok(Some(real)),
        Ok(real) => Err(format!(
            "{} points outside the project root (to {})",
            path.display(),
            real.display()
        )),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("{}: {err}", path.display())),
    }
}

fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes)
}

/// Where the file at `path` really is, when inside `root`: `path` itself unless it is a symlink (whose target
/// is then resolved and checked). `path`'s folder is a real directory inside the root (`list_folders`), so
/// only its last component can lead out; one `lstat` per file, not a walk of every component.
fn real_inside(root: &Path, path: &Path) -> Result<Option<PathBuf>, String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => resolve_inside(root, path),
        Ok(_) => Ok(Some(path.to_owned())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("{}: {err}", path.display())),
    }
}

/// Up to `max` bytes of the file at `path` (in a folder from `list_folders`), refused when it leads out of
/// `root`.
fn read_inside(root: &Path, path: &Path, max: u64) -> Result<Option<Vec<u8>>, String> {
    match real_inside(root, path)? {
        Some(real) => read_file(&real, max).map(Some),
        None => Ok(None),
    }
}

/// The metadata of the file at `path` (in a folder from `list_folders`): one `lstat`, and for a symlink
/// whose target is inside `root`, that target's.
fn stat_inside(root: &Path, path: &Path) -> Result<Option<std::fs::Metadata>, String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match resolve_inside(root, path)? {
            Some(real) => std::fs::metadata(&real)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            None => Ok(None),
        },
        Ok(meta) => Ok(Some(meta)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("{}: {err}", path.display())),
    }
}

fn stamp_of(meta: &std::fs::Metadata) -> FileStamp {
    FileStamp {
        size: meta.len(),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        hash: 0,
    }
}

/// An artifact's stamp: the stored one when size and mtime match, else a new one with the hash of its bytes.
fn artifact_stamp(root: &Path, path: &Path, known: Option<FileStamp>) -> Option<FileStamp> {
    let meta = stat_inside(root, path).ok().flatten()?;
    if !meta.is_file() {
        return None;
    }
    let mut stamp = stamp_of(&meta);
    if let Some(known) = known.filter(|k| k.size == stamp.size && k.mtime_ns == stamp.mtime_ns) {
        return Some(known);
    }
    let bytes = read_inside(root, path, u64::MAX).ok().flatten()?;
    stamp.hash = xxhash_rust::xxh3::xxh3_64(&bytes);
    Some(stamp)
}

/// Folders found under a sessions dir: slug and real path.
type Folders = Vec<(String, PathBuf)>;

/// The folders under `root`'s sessions dir: (slug, real path), plus refused ones. `None` when the root is not
/// a directory.
fn list_folders(root: &Path) -> Option<(Folders, Vec<WorkflowIssue>)> {
    if !root.is_dir() {
        return None;
    }
    let mut folders = Vec::new();
    let mut issues = Vec::new();
    let dir = match resolve_inside(root, &root.join(SESSIONS_DIR)) {
        Ok(Some(dir)) => dir,
        Ok(None) => return Some((folders, issues)),
        Err(error) => {
            issues.push(WorkflowIssue {
                root: root.display().to_string(),
                slug: String::new(),
                error,
            });
            return Some((folders, issues));
        }
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(_) => return Some((folders, issues)),
    };
    for entry in entries.flatten() {
        let Some(slug) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if slug.starts_with('.') {
            continue;
        }
        // The file type comes with the directory entry: a stat only for symlinks.
        let real = match entry.file_type() {
            Ok(t) if t.is_symlink() => {
                resolve_inside(root, &entry.path()).map(|r| r.filter(|r| r.is_dir()))
            }
            Ok(t) if t.is_dir() => Ok(Some(entry.path())),
            _ => Ok(None),
        };
        match real {
            Ok(Some(real)) => folders.push((slug, real)),
            Ok(_) => {}
            Err(error) => issues.push(WorkflowIssue {
                root: root.display().to_string(),
                slug,
                error,
            }),
        }
    }
    folders.sort();
    Some((folders, issues))
}

/// Indexes the workflow folders of the project at `root` (canonical): every folder, or only `only`'s (a
/// state manager's save). Returns what it did.
pub fn sync_project(
    store: &mut dyn Store,
    root: &Path,
    only: Option<&str>,
    now_ms: i64,
) -> Result<WorkflowSyncReport, StoreError> {
    let root_key = root.display().to_string();
    let mut report = WorkflowSyncReport {
        projects: 1,
        ..WorkflowSyncReport::default()
    };
    let Some((mut folders, mut refused)) = list_folders(root) else {
        report.unavailable_roots.push(root_key);
        return Ok(report);
    };
    if let Some(slug) = only {
        folders.retain(|(s, _)| s == slug);
        refused.retain(|i| i.slug == slug);
    }
    report.issues.extend(refused);
    let known: HashMap<String, _> = store
        .workflow_folder_states(&root_key)?
        .into_iter()
        .map(|s| (s.slug.clone(), s))
        .collect();
    let on_disk: HashSet<&str> = folders.iter().map(|(s, _)| s.as_str()).collect();
    let (mapping, mapping_error) = load_mapping(root);
    if let Some(error) = mapping_error {
        report.issues.push(WorkflowIssue {
            root: root_key.clone(),
            slug: String::new(),
            error,
        });
    }
    let mut records = Vec::new();
    let mut renamed_away: HashSet<String> = HashSet::new();
    report.folders = folders.len() as u64;
    for (slug, dir) in &folders {
        let previous = known.get(slug.as_str());
        let state_path = dir.join("state.json");
        let state_meta = stat_inside(root, &state_path);
        // Size and mtime, and in place of a content hash the inode and ctime: a save renamed over the file
        // (the state manager's) is a new inode, an edit in place that keeps size and mtime moves the ctime.
        let state_stamp = match &state_meta {
            Ok(Some(meta)) if meta.is_file() => Some(FileStamp {
                hash: xxhash_rust::xxh3::xxh3_64(
                    &[
                        meta.ino().to_le_bytes(),
                        meta.ctime().to_le_bytes(),
                        meta.ctime_nsec().to_le_bytes(),
                    ]
                    .concat(),
                ),
                ..stamp_of(meta)
            }),
            _ => None,
        };
        let spec = artifact_stamp(root, &dir.join("spec.md"), previous.and_then(|p| p.spec));
        let plan = artifact_stamp(root, &dir.join("plan.json"), previous.and_then(|p| p.plan));
        if let (Some(previous), Some(stamp)) = (previous, state_stamp) {
            if previous.on_disk
                && previous.state == Some(stamp)
                && previous.spec == spec
                && previous.plan == plan
            {
                report.unchanged += 1;
                continue;
            }
        }
        let heading = if spec.is_some() {
            read_inside(root, &dir.join("spec.md"), MAX_HEADING_BYTES)
                .ok()
                .flatten()
                .and_then(|b| first_heading(&String::from_utf8_lossy(&b)).map(str::to_owned))
        } else {
            None
        };
        let fallback_title = heading.clone().unwrap_or_else(|| slug.clone());
        let parsed: Result<(serde_json::Value, String), String> = match state_meta {
            Err(error) => Err(error),
            Ok(None) => Err("no state.json".to_owned()),
            Ok(Some(meta)) if !meta.is_file() => Err("state.json is not a file".to_owned()),
            Ok(Some(meta)) if meta.len() > MAX_STATE_BYTES => Err(format!(
                "state.json is {} bytes, more than the {MAX_STATE_BYTES} read",
                meta.len()
            )),
            Ok(Some(_)) => read_inside(root, &state_path, MAX_STATE_BYTES)
                .and_then(|b| b.ok_or_else(|| "no state.json".to_owned()))
                .and_then(|bytes| String::from_utf8(bytes).map_err(|e| e.to_string()))
                .and_then(
                    |text| match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(value) if value.is_object() => Ok((value, text)),
                        Ok(_) => Err("state.json is not a JSON object".to_owned()),
                        Err(err) => Err(format!("state.json is not valid JSON: {err}")),
                    },
                ),
        };
        let mut record = WorkflowRecord {
            project_root: root_key.clone(),
            slug: slug.clone(),
            renamed_from: None,
            state: None,
            state_stamp: None,
            spec,
            plan,
            fallback_title,
            error: None,
            indexed_ms: now_ms,
        };
        match parsed {
            Ok((value, text)) => {
                let facts = extract(slug, &value, heading.as_deref(), &mapping);
                if previous.is_none() {
                    if let Some(id) = &facts.id {
                        // A vanished folder of this project with the same id: this one is it, renamed.
                        let from = known.values().find(|k| {
                            k.state_id.as_deref() == Some(id.as_str())
                                && !on_disk.contains(k.slug.as_str())
                                && !renamed_away.contains(&k.slug)
                                && only.is_none()
                        });
                        if let Some(from) = from {
                            renamed_away.insert(from.slug.clone());
                            record.renamed_from = Some(from.slug.clone());
                            report.renamed += 1;
                        }
                    }
                }
                record.state_stamp = state_stamp;
                record.state = Some((facts, text));
            }
            Err(error) => {
                tracing::debug!(root = %root_key, %slug, %error, "workflow state.json not read");
                report.issues.push(WorkflowIssue {
                    root: root_key.clone(),
                    slug: slug.clone(),
                    error: error.clone(),
                });
                record.error = Some(error);
            }
        }
        report.indexed += 1;
        records.push(record);
    }
    let gone: Vec<(String, String)> = known
        .values()
        .filter(|k| k.on_disk && !on_disk.contains(k.slug.as_str()))
        .filter(|k| !renamed_away.contains(&k.slug))
        .filter(|k| only.is_none_or(|o| o == k.slug))
        .map(|k| (root_key.clone(), k.slug.clone()))
        .collect();
    report.gone = gone.len() as u64;
    if !records.is_empty() || !gone.is_empty() {
        store.apply_workflow_scan(&records, &gone)?;
    }
    Ok(report)
}
