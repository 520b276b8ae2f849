//! The tools that read the index: sessions listed and shown, chains, usage. Each parses its input, calls one
//! service method, and answers with its value (see `server::answer`).

use crate::inputs::{
    non_blank, parse_range, parse_tz, project_dir, GetSessionInput, ListSessionsInput, Parameters,
    SessionChainInput, UsageReportInput, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT,
};
use crate::server::answer;
use crate::{Access, SessiondbMcp, ToolError};
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use sessiondb_core::{SessionFilter, UsageQuery};
use sessiondb_service::{ChainStart, SessionQuery};

#[tool_router(router = session_tools, vis = "pub(crate)")]
impl SessiondbMcp {
    #[tool(
        description = "Sessions, newest activity first, with their project dir, title, first prompt, tokens and \
                       cost; filtered by project dir and by text, one page at a time. Returns {total, offset, \
                       limit, sessions}."
    )]
    pub async fn list_sessions(
        &self,
        Parameters(input): Parameters<ListSessionsInput>,
    ) -> CallToolResult {
        answer(self.list_sessions_impl(input).await)
    }

    #[tool(
        description = "One session in full: metadata, usage by model, its files, and its links to other \
                       sessions (resume, fork, compaction, subagent, /clear)."
    )]
    pub async fn get_session(
        &self,
        Parameters(input): Parameters<GetSessionInput>,
    ) -> CallToolResult {
        let id = input.session_id;
        answer(match non_blank("session_id", Some(&id)) {
            Ok(_) => self.db.call(Access::Read, move |s| s.show(&id)).await,
            Err(err) => Err(err),
        })
    }

    #[tool(
        description = "The chain of sessions one conversation went through (resumes, forks, compactions, \
                       subagents, /clear) and its head, the session to resume: from a session id or prefix, a \
                       project dir's newest resumable session, or a registry key."
    )]
    pub async fn session_chain(
        &self,
        Parameters(input): Parameters<SessionChainInput>,
    ) -> CallToolResult {
        answer(self.session_chain_impl(input).await)
    }

    #[tool(
        description = "Token usage and cost, deduplicated across files, grouped by day, week, month, session, \
                       project, model or branch, between two days in a time zone."
    )]
    pub async fn usage_report(
        &self,
        Parameters(input): Parameters<UsageReportInput>,
    ) -> CallToolResult {
        answer(self.usage_report_impl(input).await)
    }
}

impl SessiondbMcp {
    async fn list_sessions_impl(
        &self,
        input: ListSessionsInput,
    ) -> Result<sessiondb_service::SessionPage, ToolError> {
        let limit = input.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        if limit > MAX_LIST_LIMIT {
            return Err(ToolError::Invalid(format!(
                "limit: at most {MAX_LIST_LIMIT}, got {limit}"
            )));
        }
        let query = SessionQuery {
            filter: SessionFilter {
                project_dir: input.project.as_deref().map(project_dir).transpose()?,
                offset: input.offset.unwrap_or(0),
                limit: Some(limit),
                ..SessionFilter::default()
            },
            key: None,
            text: input.text,
        };
        self.db.call(Access::Read, move |s| s.page(&query)).await
    }

    async fn session_chain_impl(
        &self,
        input: SessionChainInput,
    ) -> Result<sessiondb_core::Chain, ToolError> {
        let session_id = non_blank("session_id", input.session_id.as_deref())?;
        let key = non_blank("key", input.key.as_deref())?;
        let start = match (session_id, input.project.as_deref(), key) {
            (Some(id), None, None) => ChainStart::Session(id.to_owned()),
            (None, Some(dir), None) => ChainStart::Dir(project_dir(dir)?),
            (None, None, Some(key)) => ChainStart::KeyOrDir(key.to_owned()),
            _ => {
                return Err(ToolError::Invalid(
                    "give exactly one of session_id, project and key".into(),
                ))
            }
        };
        self.db.call(Access::Read, move |s| s.chain(&start)).await
    }

    async fn usage_report_impl(
        &self,
        input: UsageReportInput,
    ) -> Result<sessiondb_core::UsageReport, ToolError> {
        let (since, until) = parse_range(input.since.as_deref(), input.until.as_deref())?;
        let tz = match input.tz.as_deref() {
            Some(name) => parse_tz(name)?,
            None => self.settings.tz,
        };
        let query = UsageQuery {
            grouping: input.group_by.grouping(),
            since,
            until,
            tz,
        };
        self.db.call(Access::Read, move |s| s.usage(&query)).await
    }
}
