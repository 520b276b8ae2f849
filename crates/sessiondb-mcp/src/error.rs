//! What a tool answers when it fails, and what stops the server. A tool's failure is a tool error (`isError`,
//! with text that starts with its kind: `invalid argument`, `not found` or `failed`), never a JSON-RPC error:
//! the agent reads the text and can correct its call.

use rmcp::model::{CallToolResult, ContentBlock};
use sessiondb_service::{ErrorKind, ServiceError};
use sessiondb_store::OpenError;

/// Why a tool call failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// An argument is malformed or out of range; the message says what was expected.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A read-only call on a database that does not exist yet.
    #[error(
        "no database at {0}: run `sessiondb sync` first, or start `sessiondb mcp` with the right --db"
    )]
    NoDatabase(String),
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The call panicked or its task was lost.
    #[error("{0}")]
    Internal(String),
}

impl ToolError {
    /// The service's three kinds, which the text of a tool error starts with.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ToolError::Invalid(_) | ToolError::Open(OpenError::Unsupported(_)) => {
                ErrorKind::Invalid
            }
            ToolError::Service(err) => err.kind(),
            ToolError::NoDatabase(_) => ErrorKind::NotFound,
            ToolError::Open(_) | ToolError::Internal(_) => ErrorKind::Failed,
        }
    }

    /// The tool result an MCP client shows the agent.
    pub fn into_result(self) -> CallToolResult {
        let kind = match self.kind() {
            ErrorKind::Invalid => "invalid argument",
            ErrorKind::NotFound => "not found",
            ErrorKind::Failed => "failed",
        };
        CallToolResult::error(vec![ContentBlock::text(format!("{kind}: {self}"))])
    }
}

/// Why the server stopped other than its client closing the connection.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the MCP handshake failed: {0}")]
    Handshake(String),
    #[error("the MCP server stopped abnormally: {0}")]
    Stopped(String),
}
