//! The server: its settings, its tools (the groups added up in [`SessiondbMcp::router`]), what it tells a
//! client at the handshake, and the stdio loop.

use crate::{Db, ServeError, ToolError};
use chrono_tz::Tz;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool_handler, ServerHandler, ServiceExt};
use serde::Serialize;
use sessiondb_store::Location;
use std::path::PathBuf;
use std::sync::Arc;

/// What the tools need besides the store: the front-end's resolved settings.
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// Claude Code's config dirs, synced by `latest_session` (as `sessiondb latest` does).
    pub claude_dirs: Vec<PathBuf>,
    /// Registry transitions older than this many days are pruned when one is recorded.
    pub retention_days: Option<u32>,
    /// The time zone of `usage_report`'s days when a call names none.
    pub tz: Tz,
}

/// sessiondb's MCP server: one per connection.
#[derive(Clone)]
pub struct SessiondbMcp {
    pub(crate) db: Arc<Db>,
    pub(crate) settings: Arc<McpSettings>,
    tool_router: ToolRouter<SessiondbMcp>,
}

impl SessiondbMcp {
    /// A server over the store at `location` (opened by the first call that needs it).
    pub fn new(location: Location, settings: McpSettings) -> SessiondbMcp {
        SessiondbMcp {
            db: Arc::new(Db::new(location)),
            settings: Arc::new(settings),
            tool_router: Self::router(),
        }
    }

    /// Every tool the server offers: each group is an `#[tool_router(router = NAME)]` impl block in its own
    /// module, and joins here.
    fn router() -> ToolRouter<SessiondbMcp> {
        Self::session_tools() + Self::registry_tools()
        // WORKFLOW TOOLS GO HERE: `+ Self::workflow_tools()`, from a new module `workflow_tools.rs` with a
        // `#[tool_router(router = workflow_tools)] impl SessiondbMcp` block (workflow_create, workflow_get,
        // workflow_list, workflow_set_phase, workflow_checkpoint), each calling the service's workflow methods
        // through `self.db.call(Access::Write, ...)` like `record_transition` in `registry_tools.rs`, with its
        // inputs in `inputs.rs`. The handler below lists and routes whatever is here; add a sentence on them
        // to the instructions in `get_info`, their names to the tool-list tests (here and in
        // `crates/sessiondb-cli/tests/mcp.rs`), and rows to `docs/mcp.md`.
    }

    /// The names of the tools offered, sorted.
    pub fn tool_names(&self) -> Vec<String> {
        self.tool_router
            .list_all()
            .into_iter()
            .map(|tool| tool.name.into_owned())
            .collect()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SessiondbMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sessiondb", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "sessiondb indexes Claude Code's session transcripts. Ask it for sessions (list_sessions, \
                 get_session), the chain a session belongs to (session_chain), token usage and cost \
                 (usage_report), the session to resume for a project dir or an app's registry key \
                 (latest_session), and record which session an app's key now points at (record_transition).",
            )
    }
}

/// A tool's answer: the service's value as JSON (an object is also sent as structured content), or the tool
/// error.
pub(crate) fn answer<T: Serialize>(result: Result<T, ToolError>) -> CallToolResult {
    let value = result.and_then(|value| {
        serde_json::to_value(value)
            .map_err(|err| ToolError::Internal(format!("cannot encode the answer: {err}")))
    });
    match value {
        Ok(value @ serde_json::Value::Object(_)) => CallToolResult::structured(value),
        Ok(value) => CallToolResult::success(vec![ContentBlock::text(value.to_string())]),
        Err(err) => err.into_result(),
    }
}

/// Serves `server` on stdin and stdout until the client closes the connection.
pub async fn serve_stdio(server: SessiondbMcp) -> Result<(), ServeError> {
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|err| ServeError::Handshake(err.to_string()))?;
    let reason = running
        .waiting()
        .await
        .map_err(|err| ServeError::Stopped(err.to_string()))?;
    tracing::debug!(?reason, "MCP connection closed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_listed_with_an_object_input_schema() {
        let server = SessiondbMcp::new(
            Location::Sqlite("unused.db".into()),
            McpSettings {
                claude_dirs: Vec::new(),
                retention_days: None,
                tz: Tz::UTC,
            },
        );
        assert_eq!(
            server.tool_names(),
            [
                "get_session",
                "latest_session",
                "list_sessions",
                "record_transition",
                "session_chain",
                "usage_report"
            ]
        );
        for tool in server.tool_router.list_all() {
            let schema = serde_json::Value::Object((*tool.input_schema).clone());
            assert_eq!(schema["type"], "object", "{}: {schema}", tool.name);
            assert_eq!(schema["additionalProperties"], false, "{}", tool.name);
            assert!(tool.description.is_some_and(|d| !d.is_empty()));
        }
    }

    #[test]
    fn an_answer_is_structured_json_and_an_error_says_its_kind() {
        let ok = answer(Ok(serde_json::json!({"a": 1})));
        assert_eq!(ok.is_error, Some(false));
        assert_eq!(ok.structured_content, Some(serde_json::json!({"a": 1})));
        let err = answer::<()>(Err(ToolError::Invalid("limit: at most 1000".into())));
        assert_eq!(err.is_error, Some(true));
        let text = serde_json::to_string(&err.content).unwrap();
        assert!(
            text.contains("invalid argument: limit: at most 1000"),
            "{text}"
        );
    }
}
