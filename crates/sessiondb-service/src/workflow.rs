//! Workflow sessions and projects, once for every front-end (CLI `project` and `workflow`, the HTTP API, MCP
//! tools `workflow_create`, `workflow_get`, `workflow_list`, `workflow_set_phase`, `workflow_checkpoint`):
//! registering project roots, indexing their `agents/sessions/*/` folders (`sessiondb_ingest::workflow`),
//! listing and showing what is indexed, reading artifacts from disk (never outside the project root), and
//! changing folders through the state manager (`sessiondb_workflow`), then indexing the saved folder.
//!
//! A project is named by its registered name or its path (any spelling of it).

use crate::{Service, ServiceError};
use serde::Serialize;
use sessiondb_core::workflow::{
    Phase, WorkflowCounts, WorkflowFilter, WorkflowProject, WorkflowRow,
};
use sessiondb_core::ProjectSummary;
use sessiondb_ingest::workflow::{resolve_inside, sync_project};
use sessiondb_ingest::WorkflowSyncReport;
use sessiondb_workflow::{CheckpointOp, NewSession, OnSave, StateError, StateManager};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most a list returns at once.
pub const MAX_WORKFLOW_LIMIT: u64 = 10_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl From<StateError> for ServiceError {
    fn from(err: StateError) -> Self {
        match err {
            StateError::NotFound(_) => ServiceError::NotFound(err.to_string()),
            err if err.is_invalid() => ServiceError::Invalid(err.to_string()),
            err => ServiceError::Files(err.to_string()),
        }
    }
}

/// Which workflow sessions to list, as a front-end received it.
#[derive(Debug, Clone, Default)]
pub struct WorkflowQuery {
    /// A registered name or a path.
    pub project: Option<String>,
    pub phase: Option<String>,
    pub min_checkpoints: Option<u64>,
    pub limit: Option<u64>,
    pub offset: u64,
}

/// One workflow session with its whole last good `state.json`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowDetail {
    #[serde(flatten)]
    pub row: WorkflowRow,
    /// The last good `state.json` as stored (`null` when none was ever read).
    pub state: Option<serde_json::Value>,
}

/// A file of a workflow folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    Spec,
    Plan,
    State,
}

impl Artifact {
    pub fn parse(name: &str) -> Option<Artifact> {
        match name {
            "spec" => Some(Artifact::Spec),
            "plan" => Some(Artifact::Plan),
            "state" => Some(Artifact::State),
            _ => None,
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Artifact::Spec => "spec.md",
            Artifact::Plan => "plan.json",
            Artifact::State => "state.json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Artifact::Spec => "text/markdown; charset=utf-8",
            Artifact::Plan | Artifact::State => "application/json",
        }
    }
}

/// A project dir as `GET /api/projects` and `project ls` show it: its transcripts' totals (when any), its
/// registration (when registered) and its workflow sessions by phase.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectOverview {
    #[serde(flatten)]
    pub summary: ProjectSummary,
    /// The registered name (`null` for a dir only seen in transcripts).
    pub name: Option<String>,
    pub registered: bool,
    pub workflow_sessions: u64,
    pub workflow_on_disk: u64,
    pub workflow_by_phase: BTreeMap<String, u64>,
}

/// How a change through the state manager is made.
#[derive(Clone, Default)]
pub struct WorkflowWrite {
    /// Who makes it (recorded in the history): `cli`, `api`, `mcp`, …
    pub source: String,
    /// Called after each save (a server queues a background sync there).
    pub on_save: Option<OnSave>,
    /// Index the saved folder before returning (the answer then carries the indexed row). A writer that must
    /// not wait on the database sets this to false and relies on `on_save` or the next sync.
    pub index: bool,
}

/// What a change through the state manager left.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowSaved {
    pub project: String,
    pub root: String,
    pub slug: String,
    pub version: u64,
    /// `state.json` as written.
    pub state: serde_json::Value,
    /// The indexed row, when [`WorkflowWrite::index`] was set.
    pub row: Option<WorkflowRow>,
}

fn canonical(path: &Path) -> Result<PathBuf, ServiceError> {
    std::fs::canonicalize(path)
        .map_err(|e| ServiceError::Invalid(format!("project dir {}: {e}", path.display())))
}

impl Service<'_> {
    /// Registers the directory `path` as a project named `name` (default: the directory's name).
    pub fn add_project(
        &mut self,
        path: &Path,
        name: Option<&str>,
        source: &str,
    ) -> Result<WorkflowProject, ServiceError> {
        let root = canonical(path)?;
        if !root.is_dir() {
            return Err(ServiceError::Invalid(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        let root_text = root.display().to_string();
        let name = match name.map(str::trim) {
            Some("") => {
                return Err(ServiceError::Invalid(
                    "a project name must not be empty".into(),
                ))
            }
            Some(name) => name.to_owned(),
            None => root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| root_text.clone()),
        };
        if let Some(other) = self
            .store
            .registered_projects()?
            .into_iter()
            .find(|p| p.name == name && p.root != root_text)
        {
            return Err(ServiceError::Invalid(format!(
                "the name {name:?} is taken by {} (choose another with --name)",
                other.root
            )));
        }
        Ok(self
            .store
            .add_project(&name, &root_text, source, now_ms())?)
    }

    /// Registers the projects of a config file that are not registered yet; a missing dir is logged and
    /// skipped (a config must not break every command).
    pub fn register_projects(&mut self, projects: &[(PathBuf, Option<String>)], source: &str) {
        let known = match self.store.registered_projects() {
            Ok(known) => known,
            Err(err) => {
                tracing::warn!(%err, "cannot read registered projects");
                return;
            }
        };
        for (path, name) in projects {
            let Ok(root) = std::fs::canonicalize(path) else {
                tracing::warn!(dir = %path.display(), "configured project dir does not exist; skipped");
                continue;
            };
            if known.iter().any(|p| Path::new(&p.root) == root) {
                continue;
            }
            if let Err(err) = self.add_project(&root, name.as_deref(), source) {
                tracing::warn!(dir = %path.display(), %err, "configured project not registered");
            }
        }
    }

    /// Forgets a registered project (its files are untouched).
    pub fn remove_project(&mut self, project: &str) -> Result<WorkflowProject, ServiceError> {
        let found = self.resolve_project(project)?;
        self.store.remove_project(&found.root)?;
        Ok(found)
    }

    pub fn registered_projects(&self) -> Result<Vec<WorkflowProject>, ServiceError> {
        Ok(self.store.registered_projects()?)
    }

    /// The registered project a name or path names.
    pub fn resolve_project(&self, project: &str) -> Result<WorkflowProject, ServiceError> {
        let projects = self.store.registered_projects()?;
        if let Some(p) = projects.iter().find(|p| p.name == project) {
            return Ok(p.clone());
        }
        let real = std::fs::canonicalize(project).unwrap_or_else(|_| PathBuf::from(project));
        projects
            .into_iter()
            .find(|p| Path::new(&p.root) == real)
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "no registered project {project:?} (register one with `sessiondb project add PATH`)"
                ))
            })
    }

    /// Indexes the workflow folders of one project (name or path), or of every registered one.
    pub fn sync_workflows(
        &mut self,
        project: Option<&str>,
    ) -> Result<WorkflowSyncReport, ServiceError> {
        let roots = match project {
            Some(p) => vec![self.resolve_project(p)?],
            None => self.store.registered_projects()?,
        };
        let mut report = WorkflowSyncReport::default();
        for p in roots {
            report.add(sync_project(
                &mut *self.store,
                Path::new(&p.root),
                None,
                now_ms(),
            )?);
        }
        Ok(report)
    }

    /// Indexes one folder of the project at `root` (what a state manager's `on_save` queues).
    pub fn sync_workflow_folder(
        &mut self,
        root: &Path,
        slug: &str,
    ) -> Result<WorkflowSyncReport, ServiceError> {
        Ok(sync_project(&mut *self.store, root, Some(slug), now_ms())?)
    }

    /// Workflow sessions, most recently updated first.
    pub fn workflow_list(&self, query: &WorkflowQuery) -> Result<Vec<WorkflowRow>, ServiceError> {
        let project_root = query
            .project
            .as_deref()
            .map(|p| self.resolve_project(p).map(|p| p.root))
            .transpose()?;
        let phase = match query.phase.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Phase::parse(p),
        };
        if query.limit.is_some_and(|l| l > MAX_WORKFLOW_LIMIT) {
            return Err(ServiceError::Invalid(format!(
                "limit: at most {MAX_WORKFLOW_LIMIT}"
            )));
        }
        Ok(self.store.workflow_sessions(&WorkflowFilter {
            project_root,
            phase,
            min_checkpoints: query.min_checkpoints,
            limit: query.limit,
            offset: query.offset,
        })?)
    }

    /// One workflow session as indexed, with its last good `state.json`.
    pub fn workflow_get(&self, project: &str, slug: &str) -> Result<WorkflowDetail, ServiceError> {
        let p = self.resolve_project(project)?;
        let (row, state) = self.store.workflow_session(&p.root, slug)?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no workflow session {slug:?} in project {} (sync first?)",
                p.name
            ))
        })?;
        Ok(WorkflowDetail {
            row,
            state: state.and_then(|s| serde_json::from_str(&s).ok()),
        })
    }

    /// The bytes of one artifact, read from the folder now; refused when its real path leaves the project
    /// root (`..`, absolute slugs, symlinks pointing out).
    pub fn workflow_artifact(
        &self,
        project: &str,
        slug: &str,
        artifact: Artifact,
    ) -> Result<Vec<u8>, ServiceError> {
        let p = self.resolve_project(project)?;
        let root = PathBuf::from(&p.root);
        if slug.is_empty() || slug.starts_with('.') || slug.contains(['/', '\\', '\0']) {
            return Err(ServiceError::Invalid(format!("invalid slug {slug:?}")));
        }
        let path = root
            .join(sessiondb_core::workflow::SESSIONS_DIR)
            .join(slug)
            .join(artifact.file_name());
        let real = resolve_inside(&root, &path)
            .map_err(ServiceError::Invalid)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("{slug} has no {}", artifact.file_name()))
            })?;
        std::fs::read(&real).map_err(|e| ServiceError::Files(format!("{}: {e}", path.display())))
    }

    /// Every project dir: seen in transcripts or registered, with its workflow sessions by phase.
    pub fn projects_overview(&self) -> Result<Vec<ProjectOverview>, ServiceError> {
        let registered = self.store.registered_projects()?;
        let counts: BTreeMap<String, WorkflowCounts> = self
            .store
            .workflow_counts()?
            .into_iter()
            .map(|c| (c.root.clone(), c))
            .collect();
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let overview = |summary: ProjectSummary, name: Option<String>| {
            let counts = summary
                .project_dir
                .as_ref()
                .and_then(|d| counts.get(d))
                .cloned();
            ProjectOverview {
                registered: name.is_some(),
                name,
                workflow_sessions: counts.as_ref().map_or(0, |c| c.total),
                workflow_on_disk: counts.as_ref().map_or(0, |c| c.on_disk),
                workflow_by_phase: counts.map(|c| c.by_phase).unwrap_or_default(),
                summary,
            }
        };
        for summary in self.store.projects()? {
            let name = summary
                .project_dir
                .as_ref()
                .and_then(|d| registered.iter().find(|p| &p.root == d))
                .map(|p| p.name.clone());
            if let Some(dir) = &summary.project_dir {
                seen.insert(dir.clone());
            }
            out.push(overview(summary, name));
        }
        for p in &registered {
            if seen.contains(&p.root) {
                continue;
            }
            let summary = ProjectSummary {
                project_dir: Some(p.root.clone()),
                session_count: 0,
                total_tokens: 0,
                cost_usd: 0.0,
                unpriced_tokens: 0,
                last_activity_at: None,
            };
            out.push(overview(summary, Some(p.name.clone())));
        }
        Ok(out)
    }

    fn manager(
        &self,
        project: &str,
        write: &WorkflowWrite,
    ) -> Result<(WorkflowProject, StateManager), ServiceError> {
        let p = self.resolve_project(project)?;
        let mut manager = StateManager::open(Path::new(&p.root))?.with_source(&write.source);
        if let Some(hook) = &write.on_save {
            manager = manager.with_on_save(hook.clone());
        }
        Ok((p, manager))
    }

    fn after_save(
        &mut self,
        p: WorkflowProject,
        saved: sessiondb_workflow::Saved,
        write: &WorkflowWrite,
    ) -> Result<WorkflowSaved, ServiceError> {
        let row = if write.index {
            self.sync_workflow_folder(Path::new(&p.root), &saved.slug)?;
            self.store
                .workflow_session(&p.root, &saved.slug)?
                .map(|(row, _)| row)
        } else {
            None
        };
        Ok(WorkflowSaved {
            project: p.name,
            root: p.root,
            slug: saved.slug,
            version: saved.version,
            state: saved.state,
            row,
        })
    }

    /// Creates a workflow session's folder and `state.json` through the state manager.
    pub fn workflow_create(
        &mut self,
        project: &str,
        new: &NewSession,
        write: &WorkflowWrite,
    ) -> Result<WorkflowSaved, ServiceError> {
        let (p, manager) = self.manager(project, write)?;
        let saved = manager.create(new)?;
        self.after_save(p, saved, write)
    }

    /// Moves a session to `phase`; with `expected_version`, only if `state.json` is still at that version.
    pub fn workflow_set_phase(
        &mut self,
        project: &str,
        slug: &str,
        phase: &str,
        expected_version: Option<u64>,
        write: &WorkflowWrite,
    ) -> Result<WorkflowSaved, ServiceError> {
        let phase = Phase::parse(phase)
            .ok_or_else(|| ServiceError::Invalid("a phase must not be empty".into()))?;
        let (p, manager) = self.manager(project, write)?;
        let saved = manager.set_phase(slug, &phase, expected_version)?;
        self.after_save(p, saved, write)
    }

    /// Adds or completes a checkpoint.
    pub fn workflow_checkpoint(
        &mut self,
        project: &str,
        slug: &str,
        op: &CheckpointOp,
        expected_version: Option<u64>,
        write: &WorkflowWrite,
    ) -> Result<WorkflowSaved, ServiceError> {
        let (p, manager) = self.manager(project, write)?;
        let saved = manager.checkpoint(slug, op, expected_version)?;
        self.after_save(p, saved, write)
    }
}
