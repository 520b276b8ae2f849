//! The registry apps use: atomic `track` under concurrency, a complete audit log, stale heads answered with
//! the best valid replacement and the reason, and retention.

use crate::common::*;
use sessiondb_core::Registry;
use std::collections::BTreeSet;

#[test]
fn concurrent_tracks_on_one_key_lose_no_update_and_log_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    open(&db);
    const THREADS: usize = 16;
    const EACH: usize = 200;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let db = &db;
            scope.spawn(move || {
                let mut store = open(db);
                let mut registry = Registry::new(&mut *store);
                for i in 0..EACH {
                    registry
                        .track(
                            "app:project-42",
                            &format!("t{t}-{i}"),
                            "build",
                            None,
                            1_790_000_000_000 + i as i64,
                        )
                        .unwrap();
                }
            });
        }
    });
    let mut store = open(&db);
    let log = store.transitions(Some("app:project-42")).unwrap();
    assert_eq!(log.len(), THREADS * EACH, "every transition is logged");
    assert_eq!(log[0].previous_session_id, None);
    for pair in log.windows(2) {
        assert_eq!(
            pair[1].previous_session_id.as_deref(),
            Some(pair[0].session_id.as_str()),
            "each transition starts from the head the previous one left: no lost update"
        );
    }
    let distinct: BTreeSet<&str> = log.iter().map(|t| t.session_id.as_str()).collect();
    assert_eq!(distinct.len(), THREADS * EACH);
    // Each thread's own moves are in its order.
    for t in 0..THREADS {
        let mine: Vec<usize> = log
            .iter()
            .filter_map(|x| {
                x.session_id
                    .strip_prefix(&format!("t{t}-"))
                    .map(|i| i.parse().unwrap())
            })
            .collect();
        assert_eq!(mine, (0..EACH).collect::<Vec<_>>());
    }
    let head = store.key_head("app:project-42").unwrap().unwrap();
    assert_eq!(head.session_id, log.last().unwrap().session_id);

    // Retention: everything above is older than a day at "now" = 2 days later, the head stays.
    let now = 1_790_000_000_000 + 2 * 86_400_000;
    let pruned = Registry::new(&mut *store).prune(1, now).unwrap();
    assert_eq!(pruned as usize, THREADS * EACH);
    assert!(store
        .transitions(Some("app:project-42"))
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .key_head("app:project-42")
            .unwrap()
            .unwrap()
            .session_id,
        head.session_id
    );
}

#[test]
fn latest_checks_the_head_against_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-w-p");
    write_compaction_pair(&project);
    let mut store = open(&dir.path().join("db.sqlite"));
    sync_dirs(&mut store, &[&root]);
    let now = 1_793_000_000_000;

    let mut registry = Registry::new(&mut *store);
    registry.track("app:p1", "new", "build", None, now).unwrap();
    let latest = registry.latest_for_key("app:p1").unwrap().unwrap();
    assert!(latest.valid);
    assert_eq!(latest.session_id.as_deref(), Some("new"));
    assert_eq!(latest.chain_id.as_deref(), Some("old"));

    // A head whose chain moved on is still valid, and says where the chain is now.
    registry
        .track("app:p2", "old", "metadata", None, now)
        .unwrap();
    let latest = registry.latest_for_key("app:p2").unwrap().unwrap();
    assert!(latest.valid);
    assert_eq!(latest.session_id.as_deref(), Some("old"));
    assert!(latest.reason.contains("new"), "{}", latest.reason);

    // An id that never existed: not valid, and said so.
    registry
        .track("app:p3", "no-such-session", "chat_plan", None, now)
        .unwrap();
    let latest = registry.latest_for_key("app:p3").unwrap().unwrap();
    assert!(!latest.valid);
    assert!(
        latest.reason.contains("not in the index"),
        "{}",
        latest.reason
    );
    assert!(registry.latest_for_key("app:unknown").unwrap().is_none());

    // Claude Code deletes the old transcript: the stale head is replaced by its chain's newest session.
    std::fs::remove_file(project.join("old.jsonl")).unwrap();
    sync_dirs(&mut store, &[&root]);
    let registry = Registry::new(&mut *store);
    let latest = registry.latest_for_key("app:p2").unwrap().unwrap();
    assert!(latest.valid);
    assert_eq!(latest.session_id.as_deref(), Some("new"));
    assert_eq!(latest.recorded_session_id.as_deref(), Some("old"));
    assert!(
        latest.reason.contains("deleted on disk"),
        "{}",
        latest.reason
    );

    // By directory: what `claude --continue` would take there.
    let by_dir = registry.latest_for_dir("/w/p").unwrap();
    assert_eq!(by_dir.session_id.as_deref(), Some("new"));
    assert!(!registry.latest_for_dir("/w/elsewhere").unwrap().valid);

    // A deleted head outside any chain falls back to the newest session of its directory.
    std::fs::remove_file(project.join("new.jsonl")).unwrap();
    sync_dirs(&mut store, &[&root]);
    let mut registry = Registry::new(&mut *store);
    registry.track("app:p4", "new", "build", None, now).unwrap();
    let latest = registry.latest_for_key("app:p4").unwrap().unwrap();
    assert_eq!(latest.session_id.as_deref(), Some("other"));
    assert!(latest.valid);
    assert!(latest.reason.contains("/w/p"), "{}", latest.reason);
}
