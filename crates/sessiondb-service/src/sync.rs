//! Syncing config dirs into the store, each named by its canonical path so a file has one key however the dir
//! was typed.

use crate::{Service, ServiceError};
use sessiondb_ingest::{
    ClaudeCodeSource, SyncObserver, SyncOptions, SyncReport, WorkflowSyncReport,
};
use std::path::PathBuf;

/// `roots` by their canonical paths. Missing ones are kept (absolute): the sync leaves what it knows under them
/// alone and reports them (an unmounted disk is not a deletion).
pub fn canonical_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .map(|r| {
            std::fs::canonicalize(r)
                .or_else(|_| std::path::absolute(r))
                .unwrap_or_else(|_| r.clone())
        })
        .collect()
}

impl Service<'_> {
    /// Syncs Claude Code's config dirs `roots` into the store, then the registered projects' workflow folders.
    pub fn sync(
        &mut self,
        roots: &[PathBuf],
        options: &SyncOptions,
        observer: &dyn SyncObserver,
    ) -> Result<SyncReport, ServiceError> {
        Ok(self.sync_all(roots, options, observer)?.0)
    }

    /// [`Service::sync`], also answering what the workflow sync did (a server announces changed folders).
    pub fn sync_all(
        &mut self,
        roots: &[PathBuf],
        options: &SyncOptions,
        observer: &dyn SyncObserver,
    ) -> Result<(SyncReport, WorkflowSyncReport), ServiceError> {
        let roots = canonical_roots(roots);
        for missing in roots.iter().filter(|r| !r.is_dir()) {
            tracing::info!(dir = %missing.display(), "config dir does not exist; skipped");
        }
        let report = sessiondb_ingest::sync(
            &mut *self.store,
            &ClaudeCodeSource,
            &roots,
            options,
            observer,
        )?;
        // Then the registered projects' workflow folders (`workflow.rs`), off the transcript path.
        let workflows = self.sync_workflows(None)?;
        for issue in &workflows.issues {
            tracing::info!(root = %issue.root, slug = %issue.slug, error = %issue.error, "workflow folder");
        }
        Ok((report, workflows))
    }
}
