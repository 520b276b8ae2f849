//! `sessiondb mcp`: serves sessiondb's tools to an agent over the Model Context Protocol on stdin and stdout
//! (`claude mcp add sessiondb -- sessiondb mcp`). The tools and their rules are in `sessiondb-mcp`; this file
//! hands it the settings and runs it on a Tokio runtime until the client closes the connection.
//!
//! It starts before the store is opened and before anything else holds stdout: stdout is the protocol's
//! channel. The database is opened by the first tool call that needs it; a read on a database that does not
//! exist is a tool error, while `record_transition` and a syncing `latest_session` create it (as `track` and
//! `latest` do), so starting the server never leaves an empty database at a mistyped `--db`.

use crate::config::Settings;
use anyhow::{Context, Result};
use sessiondb_mcp::{McpSettings, SessiondbMcp};
use sessiondb_store::Location;

pub fn run(settings: &Settings) -> Result<i32> {
    let server = SessiondbMcp::new(
        Location::parse(&settings.db.value),
        McpSettings {
            claude_dirs: settings.claude_dirs.value.clone(),
            retention_days: settings.retention_days,
            tz: settings.tz(),
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the MCP server's runtime")?;
    let served = runtime.block_on(sessiondb_mcp::serve_stdio(server));
    // A read of stdin still pending on the blocking pool must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served?;
    Ok(0)
}
