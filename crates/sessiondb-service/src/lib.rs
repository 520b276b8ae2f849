//! The one layer every front-end calls: the CLI, the HTTP API and the MCP server parse what they were given,
//! call a [`Service`] method, and format what comes back. Everything between (resolving an id or prefix,
//! following a registry key to a valid session, paging a filtered list, building a chain, a usage report, the
//! resume command, the `run` wrapper's fallback) lives here once, over any [`Store`].
//!
//! A service borrows a store for as long as a request takes; it keeps no state of its own, so a server can give
//! each request a connection from its pool.

mod error;
mod registry;
mod resume;
mod run;
mod sessions;
mod sync;
mod transcript;
mod workflow;

pub use error::{ErrorKind, ServiceError};
pub use registry::Tracked;
pub use resume::{resume_command, ResumePlan};
pub use run::{Launch, LaunchError, Launcher, ResumeChoice, RunReport, RunRequest};
pub use sessiondb_workflow::{
    CheckpointOp, NewSession, OnSave, SavedFolder, StateError, StateManager,
};
pub use sessions::{
    BlockSelection, BlocksQuery, ChainStart, SessionPage, SessionQuery, MAX_QUERY_CHARS,
};
pub use sync::canonical_roots;
pub use transcript::{line_view, MessagePage};
pub use workflow::{
    Artifact, ProjectOverview, WorkflowDetail, WorkflowQuery, WorkflowSaved, WorkflowWrite,
    MAX_WORKFLOW_LIMIT,
};

use sessiondb_core::Store;

/// sessiondb's operations over one store.
pub struct Service<'s> {
    store: &'s mut dyn Store,
}

impl<'s> Service<'s> {
    pub fn new(store: &'s mut dyn Store) -> Self {
        Service { store }
    }

    /// The store, for what no front-end needs a rule around (e.g. `doctor`'s report).
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }
}
