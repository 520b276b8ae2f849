//! A session that moves into a git worktree (Claude Code 2.1.x's `EnterWorktree`), recorded with the real CLI
//! by `scripts/make-worktree-fixture.sh`: the session then belongs to the worktree, where the real
//! `claude --continue` takes it, and not to the repo, where it takes the session that stayed. Both by a
//! first load and by incremental syncs (the two ways sessions are folded).

use crate::common::*;
use sessiondb_core::{build_chain, newest_resumable_session, SessionFilter, Store};
use std::path::{Path, PathBuf};

fn fixture() -> (PathBuf, serde_json::Value) {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-code-2.1.328-worktree");
    let expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    (dir, expected)
}

fn check(store: &dyn Store, expected: &serde_json::Value) {
    let repo = expected["repo"].as_str().unwrap();
    let worktree = expected["worktree"].as_str().unwrap();
    let moved = expected["moved_to_worktree"].as_str().unwrap();
    for (dir, head) in expected["continue_heads"].as_object().unwrap() {
        let got = newest_resumable_session(store, dir).unwrap();
        assert_eq!(
            got.as_ref().map(|s| s.session_id.as_str()),
            head.as_str(),
            "claude --continue in {dir}"
        );
        // The chain of the dir's head is that session's, not the other's.
        let chain = build_chain(store, head.as_str().unwrap()).unwrap().unwrap();
        assert!(chain
            .sessions
            .iter()
            .any(|s| s.session_id == head.as_str().unwrap()));
    }
    let moved_summary = store.session_summary(moved).unwrap().unwrap();
    assert_eq!(moved_summary.project_dir.as_deref(), Some(worktree));
    // Listing the repo still shows the worktree's sessions: they are below it.
    let listed = store
        .sessions(&SessionFilter {
            project_dir: Some(repo.to_owned()),
            ..SessionFilter::default()
        })
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.session_id.as_str()).collect();
    assert!(ids.contains(&moved), "{ids:?}");
    assert!(
        ids.contains(&expected["stayed_in_repo"].as_str().unwrap()),
        "{ids:?}"
    );
}

#[test]
fn a_session_that_moved_into_a_worktree_belongs_to_the_worktree() {
    let (fixture, expected) = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("claude");
    copy_tree(&fixture.join("projects"), &root.join("projects"));
    // A first load.
    let mut store = open(&tmp.path().join("first.db"));
    sync_dirs(&mut store, &[&root]);
    check(&*store, &expected);

    // Incremental syncs: the moved session's folder appears after the repo's was synced.
    let root2 = tmp.path().join("claude2");
    let projects = fixture.join("projects");
    let mut folders: Vec<_> = std::fs::read_dir(&projects)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    let mut store = open(&tmp.path().join("incremental.db"));
    for folder in folders {
        copy_tree(
            &folder,
            &root2.join("projects").join(folder.file_name().unwrap()),
        );
        sync_dirs(&mut store, &[&root2]);
    }
    check(&*store, &expected);
}
