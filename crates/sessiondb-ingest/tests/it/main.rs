//! Integration tests of syncing into a real SQLite file: generated corpora against their manifests, the real
//! public samples against their facts, incremental syncs against rebuilds, and hostile input.

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
