//! sessiondb as a Model Context Protocol server over stdio (`sessiondb mcp`), built on `rmcp`.
//!
//! A front-end like the CLI and the HTTP API: each tool takes a typed input (its JSON schema is generated from
//! the type with schemars), calls one [`sessiondb_service::Service`] method over the store the opener gives
//! ([`Db`]), and answers with the result as JSON. Every failure (a bad argument, an unknown session or key, a
//! missing database, a store error, even a panic in a call) comes back as a tool error whose text says what went
//! wrong; the server itself keeps running.
//!
//! Tools live in one module per group, each an `#[tool_router(router = NAME)]` impl block, and
//! [`SessiondbMcp::router`] adds the groups up: that is the one place a new group (the workflow tools) joins.

mod db;
mod error;
mod inputs;
mod registry_tools;
mod server;
mod session_tools;

pub use db::{Access, Db};
pub use error::{ServeError, ToolError};
pub use server::{serve_stdio, McpSettings, SessiondbMcp};
