//! Finds agents' session files and tails them, by byte offset, into a [`sessiondb_core::Store`].
//!
//! [`source`] knows where an agent keeps its files, [`change`] tells whether a file grew or was rewritten,
//! [`reader`] turns the new bytes of one file into batches,
//! and [`sync()`] runs readers in parallel with a single writer. Nothing here reads the environment or prints:
//! the binary decides which dirs to sync and how to show progress.

pub mod change;
pub mod reader;
pub mod source;
pub mod sync;
pub mod workflow;

pub use reader::ReadLimits;
pub use source::{ClaudeCodeSource, DiscoveryIssue, RootProblem, Source, SourceFile};
pub use sync::{
    sync, Quiet, SyncError, SyncObserver, SyncOptions, SyncReport, Unavailable, UnavailableRoot,
    UnreadablePath,
};
pub use workflow::{WorkflowIssue, WorkflowSyncReport};
