//! The tools over the registry apps keep (key → session): which session a key or a project dir resumes, and
//! recording that a key moved, with its audit entry.

use crate::inputs::{
    non_blank, project_dir, LatestSessionInput, Parameters, RecordTransitionInput,
};
use crate::server::answer;
use crate::{Access, SessiondbMcp, ToolError};
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use sessiondb_core::Latest;
use sessiondb_ingest::{Quiet, SyncOptions};

/// Whom a key or a dir was asked for.
enum Target {
    Key(String),
    Dir(String),
}

#[tool_router(router = registry_tools, vis = "pub(crate)")]
impl SessiondbMcp {
    #[tool(
        description = "The session to resume for a project dir (the one `claude --continue` would take there) \
                       or for an app's registry key, checked against the files (syncs the Claude config dirs \
                       first unless sync is false). Returns {session_id, valid, reason, ...}; valid is false \
                       when no usable session exists."
    )]
    pub async fn latest_session(
        &self,
        Parameters(input): Parameters<LatestSessionInput>,
    ) -> CallToolResult {
        answer(self.latest_session_impl(input).await)
    }

    #[tool(
        description = "Record that an app's registry key now points at a session (atomic, audit-logged with \
                       its source and note). A session not indexed yet is recorded as given. Returns the \
                       transition and whether the session is indexed."
    )]
    pub async fn record_transition(
        &self,
        Parameters(input): Parameters<RecordTransitionInput>,
    ) -> CallToolResult {
        let retention = self.settings.retention_days;
        let RecordTransitionInput {
            key,
            session_id,
            source,
            note,
        } = input;
        answer(
            self.db
                .call(Access::Write, move |s| {
                    s.track(
                        &key,
                        &session_id,
                        &source,
                        note.as_deref(),
                        chrono::Utc::now().timestamp_millis(),
                        retention,
                    )
                })
                .await,
        )
    }
}

impl SessiondbMcp {
    async fn latest_session_impl(&self, input: LatestSessionInput) -> Result<Latest, ToolError> {
        let key = non_blank("key", input.key.as_deref())?;
        let target = match (input.project.as_deref(), key) {
            (Some(dir), None) => Target::Dir(project_dir(dir)?),
            (None, Some(key)) => Target::Key(key.to_owned()),
            _ => {
                return Err(ToolError::Invalid(
                    "give exactly one of project and key".into(),
                ))
            }
        };
        let sync = input.sync.unwrap_or(true);
        let roots = self.settings.claude_dirs.clone();
        let access = if sync { Access::Write } else { Access::Read };
        self.db
            .call(access, move |s| {
                if sync {
                    s.sync(&roots, &SyncOptions::default(), &Quiet)?;
                }
                match &target {
                    Target::Key(key) => s.latest_for_key(key),
                    Target::Dir(dir) => s.latest_for_dir(dir),
                }
            })
            .await
    }
}
