//! Integration tests of syncing into a store, opened through the store opener as a `dyn Store` on the backend
//! under test (`backend.rs`; SQLite files by default): generated corpora against their manifests, the real
//! public samples against their facts, incremental syncs against rebuilds, and hostile input.

mod backend;
mod common;

mod accounting;
mod archive;
mod bad_input;
mod chains;
mod incremental;
mod registry;
mod rewrite_property;
mod samples;
mod worktree;
