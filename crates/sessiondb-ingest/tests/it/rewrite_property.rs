//! Random sequences of what can happen to transcript files (appends, partial lines, truncations, same-size
//! rewrites, edits in the middle that put the mtime back, files renamed over others, deletions), with an
//! incremental sync after every step that must equal a rebuild.
//!
//! "A rebuild" is a fresh database synced from the files on disk, plus what the incremental database keeps of
//! deleted files: their rows stay as an archive (marked not on disk) until a file appears at the same path
//! again, which then replaces them. So the rebuild is synced from the files on disk and the last contents of
//! the deleted ones, then those are deleted and it is synced again; the two must agree on every session (ids,
//! titles, counts, tokens, costs, on-disk state) and on the usage totals.
//!
//! The root always keeps one session file no step touches: a root left with no session files at all is taken
//! as missing or unmounted and marks nothing gone (see `sync::unavailable_roots`), so without it a rebuild
//! after the last file went would keep every archived session on disk while the incremental database had
//! marked the earlier ones gone as they went.
//!
//! Cases are seeded and deterministic: a failure prints its seed; `SESSIONDB_PROPTEST_SEED=<seed>` runs that
//! case alone, `SESSIONDB_PROPTEST_CASES=<n>` runs more than the default.

use crate::common::*;
use sessiondb_core::SessionFilter;
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Cases run by default: enough to meet every kind of step in every state many times, small enough for a debug
/// build on a busy machine (see the test's doc for the time).
const DEFAULT_CASES: u64 = 2000;
/// Steps per case at most (each followed by a sync and a comparison); a case takes 2 to this many.
const MAX_STEPS: u64 = 5;
/// Transcripts a case plays with (file stem = session id).
const SESSIONS: [&str; 3] = ["sess-a", "sess-b", "sess-c"];

/// xorshift64*: small, seeded, good enough to pick steps.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One case: a config dir that changes, the database synced after every change, and the last contents of the
/// files deleted since (what that database keeps of them).
struct Case {
    rng: Rng,
    root: PathBuf,
    project: PathBuf,
    work: PathBuf,
    incremental: DynStore,
    deleted: BTreeMap<String, Vec<u8>>,
    /// The rest of a line whose first bytes were appended, per file.
    pending: BTreeMap<String, Vec<u8>>,
    lines_written: u64,
    log: Vec<String>,
}

impl Case {
    fn path(&self, session: &str) -> PathBuf {
        self.project.join(format!("{session}.jsonl"))
    }

    /// A new complete line of `session` (with its newline): a prompt, a response with usage (its key sometimes
    /// shared with the other files, as a resumed session copies responses), or a title.
    fn line(&mut self, session: &str) -> Vec<u8> {
        self.lines_written += 1;
        let n = self.lines_written;
        let uuid = format!("{:016x}-{n}", self.rng.next());
        let minute = n % 60;
        let timestamp = format!("2026-11-01T10:{minute:02}:{:02}.000Z", self.rng.below(60));
        let line = match self.rng.below(10) {
            0..=3 => {
                // Long enough that files outgrow the 4 KiB windows at both ends.
                let pad: String = (0..self.rng.below(1500))
                    .map(|i| (b'a' + ((i + n) % 26) as u8) as char)
                    .collect();
                format!(
                    r#"{{"type":"user","sessionId":"{session}","uuid":"{uuid}","cwd":"/w/p","timestamp":"{timestamp}","message":{{"role":"user","content":"prompt {n} {pad}"}}}}"#
                )
            }
            4..=8 => {
                let key = if self.rng.chance(30) {
                    format!("shared{}", self.rng.below(4))
                } else {
                    format!("own{n}")
                };
                format!(
                    r#"{{"type":"assistant","sessionId":"{session}","uuid":"{uuid}","cwd":"/w/p","timestamp":"{timestamp}","message":{{"id":"m-{key}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":{},"output_tokens":{},"cache_read_input_tokens":{}}}}},"requestId":"r-{key}"}}"#,
                    100 + self.rng.below(900),
                    100 + self.rng.below(900),
                    100 + self.rng.below(900)
                )
            }
            _ => format!(
                r#"{{"type":"custom-title","customTitle":"title {n}","sessionId":"{session}"}}"#
            ),
        };
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        bytes
    }

    fn append(&mut self, session: &str, bytes: &[u8]) {
        let path = self.path(session);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(bytes).unwrap();
        self.deleted.remove(&path.to_string_lossy().into_owned());
    }

    fn content(&self, session: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(session)).ok()
    }

    /// Complete lines of the file (a partial last line is left out, and forgotten).
    fn complete_part(&mut self, session: &str) -> Vec<u8> {
        let bytes = self.content(session).unwrap_or_default();
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes[..end].to_vec()
    }

    /// `bytes` with one digit or letter changed at a random place, keeping the size and the JSON well-formed: a
    /// token count, a prompt's text, a session id, a key (a field the line then lacks).
    fn edited(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        // Each second character of two digits or two letters in a row.
        let candidates: Vec<usize> = bytes
            .windows(2)
            .enumerate()
            .filter(|(_, w)| {
                (w[0].is_ascii_digit() && w[1].is_ascii_digit())
                    || (w[0].is_ascii_lowercase() && w[1].is_ascii_lowercase())
            })
            .map(|(i, _)| i + 1)
            .filter(|&i| bytes[i].is_ascii_digit() || bytes[i].is_ascii_lowercase())
            .collect();
        let at = *candidates.get(self.rng.below(candidates.len() as u64) as usize)?;
        let mut out = bytes.to_vec();
        out[at] = if out[at].is_ascii_digit() {
            b'0' + ((out[at] - b'0' + 1 + self.rng.below(8) as u8) % 10)
        } else {
            b'a' + ((out[at] - b'a' + 1 + self.rng.below(24) as u8) % 26)
        };
        // Only a digit after another is changed, so no number gets a leading zero.
        Some(out)
    }

    /// Applies one random change; false if it changed nothing.
    fn step(&mut self) -> bool {
        let session = SESSIONS[self.rng.below(SESSIONS.len() as u64) as usize];
        let path = self.path(session);
        let key = path.to_string_lossy().into_owned();
        let exists = path.exists();
        let before = std::fs::metadata(&path).ok();
        let kind = self.rng.below(100);
        let what = match kind {
            // Append complete lines (finishing a partial line first, as a writer would).
            0..=29 => {
                let mut bytes = self.pending.remove(&key).unwrap_or_default();
                for _ in 0..=self.rng.below(3) {
                    let line = self.line(session);
                    bytes.extend(line);
                }
                self.append(session, &bytes);
                "append"
            }
            // The first bytes of a line, or more of one.
            30..=39 => {
                let rest = match self.pending.remove(&key) {
                    Some(rest) => rest,
                    None => self.line(session),
                };
                let cut = 1 + self.rng.below(rest.len() as u64 - 1) as usize;
                self.append(session, &rest[..cut]);
                self.pending.insert(key.clone(), rest[cut..].to_vec());
                "partial"
            }
            40..=44 => match self.pending.remove(&key) {
                Some(rest) => {
                    self.append(session, &rest);
                    "complete"
                }
                None => "nothing",
            },
            // Drop the last lines (and any partial one).
            45..=52 if exists => {
                let bytes = self.complete_part(session);
                let ends: Vec<usize> = std::iter::once(0)
                    .chain(
                        bytes
                            .iter()
                            .enumerate()
                            .filter(|(_, &b)| b == b'\n')
                            .map(|(i, _)| i + 1),
                    )
                    .collect();
                let keep = ends[self.rng.below(ends.len() as u64) as usize] as u64;
                if Some(keep) == before.as_ref().map(|m| m.len()) {
                    "nothing"
                } else {
                    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                    file.set_len(keep).unwrap();
                    self.pending.remove(&key);
                    "truncate"
                }
            }
            // Rewritten whole, to the same size.
            53..=62 if exists => {
                let bytes = self.content(session).unwrap();
                match self.edited(&bytes) {
                    Some(edited) => {
                        std::fs::write(&path, edited).unwrap();
                        "same-size rewrite"
                    }
                    None => "nothing",
                }
            }
            // One byte changed in place, the mtime put back.
            63..=74 if exists => {
                let bytes = self.content(session).unwrap();
                match self.edited(&bytes) {
                    Some(edited) => {
                        let at = bytes.iter().zip(&edited).position(|(a, b)| a != b).unwrap();
                        let mtime = before.as_ref().unwrap().modified().unwrap();
                        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                        file.seek(SeekFrom::Start(at as u64)).unwrap();
                        file.write_all(&edited[at..=at]).unwrap();
                        file.set_modified(mtime).unwrap();
                        "middle edit, mtime kept"
                    }
                    None => "nothing",
                }
            }
            // Another file renamed over the path: the same lines, edited, cut, or extended, or new ones.
            75..=89 => {
                let old = if exists {
                    self.complete_part(session)
                } else {
                    Vec::new()
                };
                let new = match self.rng.below(4) {
                    0 => old.clone(),
                    1 => self.edited(&old).unwrap_or(old),
                    2 => {
                        let mut extended = old;
                        let line = self.line(session);
                        extended.extend(line);
                        extended
                    }
                    _ => self.line(session),
                };
                let temporary = self.project.join(format!("{session}.jsonl.tmp"));
                std::fs::write(&temporary, &new).unwrap();
                std::fs::rename(&temporary, &path).unwrap();
                self.pending.remove(&key);
                self.deleted.remove(&key);
                "rename over"
            }
            90..=99 if exists => {
                let bytes = self.content(session).unwrap();
                std::fs::remove_file(&path).unwrap();
                self.pending.remove(&key);
                self.deleted.insert(key.clone(), bytes);
                "delete"
            }
            _ => "nothing",
        };
        // A change no stat can see (same size, mtime and ctime: within one tick of the file system's clock) is
        // beyond any sync: wait a tick and move the ctime, which is what any later edit would do.
        if let (Some(before), Ok(after)) = (before, std::fs::metadata(&path)) {
            if what != "nothing" && same_stat(&before, &after) {
                std::thread::sleep(Duration::from_millis(20));
                let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                file.set_modified(after.modified().unwrap_or(SystemTime::now()))
                    .unwrap();
            }
        }
        self.log.push(format!("{what} {session}"));
        what != "nothing"
    }

    /// A fresh database synced from the files on disk and the deleted ones (then deleted), as the incremental
    /// database should be.
    fn rebuild(&self, step: usize) -> DynStore {
        let root = self.work.join(format!("rebuild-{step}"));
        copy_tree(&self.root, &root);
        let mut restored = Vec::new();
        for (path, bytes) in &self.deleted {
            let relative = Path::new(path).strip_prefix(&self.root).unwrap();
            let target = root.join(relative);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, bytes).unwrap();
            restored.push(target);
        }
        let db = self.work.join(format!("rebuild-{step}.db"));
        let mut store = from_template(&self.work, &db);
        sync_with(&mut store, &[&root], &options());
        if !restored.is_empty() {
            for target in &restored {
                std::fs::remove_file(target).unwrap();
            }
            sync_with(&mut store, &[&root], &options());
        }
        store
    }
}

#[cfg(unix)]
fn same_stat(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (
        a.dev(),
        a.ino(),
        a.size(),
        a.mtime(),
        a.mtime_nsec(),
        a.ctime(),
        a.ctime_nsec(),
    ) == (
        b.dev(),
        b.ino(),
        b.size(),
        b.mtime(),
        b.mtime_nsec(),
        b.ctime(),
        b.ctime_nsec(),
    )
}

#[cfg(not(unix))]
fn same_stat(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    (a.len(), a.modified().ok()) == (b.len(), b.modified().ok())
}

/// What the two databases must agree on: every session (ids, titles, counts, tokens, costs, on-disk state, and
/// its raw lines as the archive gives them back: from the database, a capture or the file), and the usage
/// totals. Costs are compared to a billionth of a dollar (sums in another order round differently).
fn view(store: &DynStore) -> serde_json::Value {
    let sessions = store.sessions(&SessionFilter::default()).unwrap();
    let mut sessions: Vec<serde_json::Value> = sessions
        .iter()
        .map(|s| {
            let mut value = rounded(serde_json::to_value(s).unwrap());
            let raw = store.session_raw_lines(&s.session_id).unwrap().concat();
            value["raw_lines"] = String::from_utf8_lossy(&raw).into_owned().into();
            value
        })
        .collect();
    sessions.sort_by_key(|s| s["session_id"].to_string());
    serde_json::json!({
        "sessions": sessions,
        "totals": rounded(serde_json::to_value(daily(store).totals).unwrap()),
    })
}

fn rounded(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            serde_json::json!((n.as_f64().unwrap() * 1e9).round() / 1e9)
        }
        serde_json::Value::Array(items) => items.into_iter().map(rounded).collect(),
        serde_json::Value::Object(map) => map.into_iter().map(|(k, v)| (k, rounded(v))).collect(),
        other => other,
    }
}

fn options() -> sessiondb_ingest::SyncOptions {
    sessiondb_ingest::SyncOptions {
        threads: 1,
        ..Default::default()
    }
}

/// The sessions and totals that differ, incremental first.
fn difference(got: &serde_json::Value, want: &serde_json::Value) -> String {
    let by_id = |view: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        view["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| (s["session_id"].to_string(), s.clone()))
            .collect()
    };
    let (got_sessions, want_sessions) = (by_id(got), by_id(want));
    let mut ids: Vec<&String> = got_sessions.keys().chain(want_sessions.keys()).collect();
    ids.sort();
    ids.dedup();
    let mut out = String::new();
    for id in ids {
        let (a, b) = (got_sessions.get(id), want_sessions.get(id));
        if a != b {
            out += &format!("session {id}\n  incremental: {a:?}\n  rebuild:     {b:?}\n");
        }
    }
    if got["totals"] != want["totals"] {
        out += &format!(
            "totals\n  incremental: {}\n  rebuild:     {}\n",
            got["totals"], want["totals"]
        );
    }
    out
}

/// A new database at `db`: on SQLite a copy of the empty one made for the run next to `work` (cheaper than
/// migrating).
fn from_template(work: &Path, db: &Path) -> DynStore {
    if let Some(db) = crate::backend::sqlite_file(db) {
        std::fs::copy(work.parent().unwrap().join("template.db"), db).unwrap();
    }
    open(db)
}

/// Runs the case of `seed`; on a difference, panics with the seed and the steps that led to it.
fn run_case(seed: u64, base: &Path) {
    let work = base.join(format!("case-{seed}"));
    let root = work.join("claude");
    let project = root.join("projects").join("-w-p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("anchor.jsonl"),
        "{\"type\":\"user\",\"sessionId\":\"anchor\",\"uuid\":\"anchor-1\",\"cwd\":\"/w/p\",\
         \"timestamp\":\"2026-11-01T09:00:00.000Z\",\"message\":{\"role\":\"user\",\"content\":\"anchor\"}}\n",
    )
    .unwrap();
    let mut case = Case {
        rng: Rng::new(seed),
        root: root.canonicalize().unwrap(),
        project: project.canonicalize().unwrap(),
        incremental: from_template(&work, &work.join("incremental.db")),
        work: work.clone(),
        deleted: BTreeMap::new(),
        pending: BTreeMap::new(),
        lines_written: 0,
        log: Vec::new(),
    };
    let steps = 2 + case.rng.below(MAX_STEPS - 1) as usize;
    let mut rebuilt_view: Option<serde_json::Value> = None;
    for step in 0..steps {
        let changed = case.step();
        let root = case.root.clone();
        sync_with(&mut case.incremental, &[&root], &options());
        let got = view(&case.incremental);
        // Files as they were at the last step rebuild as they did then.
        if changed || rebuilt_view.is_none() {
            let rebuilt = case.rebuild(step);
            rebuilt_view = Some(view(&rebuilt));
            drop(rebuilt);
            std::fs::remove_dir_all(work.join(format!("rebuild-{step}"))).unwrap();
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(work.join(format!("rebuild-{step}.db{suffix}")));
            }
            let _ = std::fs::remove_dir_all(work.join(format!("rebuild-{step}.db-captures")));
        }
        let want = rebuilt_view.as_ref().unwrap();
        if &got != want {
            panic!(
                "seed {seed}: after step {step} ({}), incremental sync differs from a rebuild \
                 (SESSIONDB_PROPTEST_SEED={seed} replays it)\n{}",
                case.log.join(", "),
                difference(&got, want)
            );
        }
    }
    drop(case);
    let _ = std::fs::remove_dir_all(&work);
}

/// Thousands of random sequences of appends, partial lines, truncations, same-size rewrites, middle edits that
/// put the mtime back, files renamed over others, and deletions: after every step, an incremental sync equals
/// a rebuild, session by session (with the raw lines the archive gives back) and in usage totals. The default
/// 2000 cases of 2-5 steps by default (3000 took 76-79 s in a debug build on two busy cores).
#[test]
fn incremental_sync_equals_a_rebuild_after_any_sequence_of_changes() {
    // In memory where there is a file system there: each step commits a few transactions to three databases,
    // and on a disk their fsyncs, not the syncs' work, would take most of the time.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap_or_else(|_| tempfile::tempdir().unwrap())
    } else {
        tempfile::tempdir().unwrap()
    };
    drop(open(&dir.path().join("template.db")));
    if let Some(seed) = std::env::var("SESSIONDB_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        run_case(seed, dir.path());
        return;
    }
    let cases = std::env::var("SESSIONDB_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let started = std::time::Instant::now();
    // Cases are independent: a few threads take the next seed until none is left (a panic fails the test).
    let next = std::sync::atomic::AtomicU64::new(1);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seed > cases {
                    break;
                }
                run_case(seed, dir.path());
            });
        }
    });
    eprintln!(
        "{cases} cases of 2 to {MAX_STEPS} steps on {threads} threads in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A transcript of `lines` lines of about 300 bytes each (so 60 lines outgrow both 4 KiB windows and more), each
/// response with its own key; `tag` goes into every prompt.
fn transcript(session: &str, lines: usize, tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for n in 0..lines {
        let line = if n % 2 == 0 {
            format!(
                r#"{{"type":"user","sessionId":"{session}","uuid":"{session}-u{n}","cwd":"/w/p","timestamp":"2026-11-01T10:{:02}:00.000Z","message":{{"role":"user","content":"prompt {tag} {n} {}"}}}}"#,
                n % 60,
                "x".repeat(200)
            )
        } else {
            format!(
                r#"{{"type":"assistant","sessionId":"{session}","uuid":"{session}-u{n}","cwd":"/w/p","timestamp":"2026-11-01T10:{:02}:01.000Z","message":{{"id":"m-{session}-{n}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":{},"output_tokens":500}}}},"requestId":"r-{session}-{n}"}}"#,
                n % 60,
                100 + n
            )
        };
        out.extend(line.into_bytes());
        out.push(b'\n');
    }
    out
}

/// Syncs `s.jsonl` (60 lines), lets `change` alter it, syncs again and checks that the second sync read it
/// again from its start and ends where a rebuild ends.
fn assert_rewrite_is_seen(change: impl FnOnce(&Path, &[u8])) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects").join("-w-p");
    std::fs::create_dir_all(&project).unwrap();
    let file = project.join("s.jsonl");
    let original = transcript("s", 60, "one");
    assert!(original.len() > 3 * 4096);
    std::fs::write(&file, &original).unwrap();
    let mut store = open(&dir.path().join("incremental.db"));
    sync_dirs(&mut store, &[&root]);
    change(&file, &original);
    let report = sync_dirs(&mut store, &[&root]);
    assert_eq!(report.files_rewritten, 1, "{report:?}");
    let rebuild_root = dir.path().join("rebuild");
    copy_tree(&root, &rebuild_root);
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    sync_dirs(&mut rebuilt, &[&rebuild_root]);
    assert_eq!(view(&store), view(&rebuilt));
    let again = sync_dirs(&mut store, &[&root]);
    assert_eq!(
        (again.files_read, again.files_unchanged),
        (0, 1),
        "{again:?}"
    );
}

/// The bytes of `original` with the first token count after `at` raised by one digit's worth (same size).
fn with_tokens_changed_after(original: &[u8], at: usize) -> Vec<u8> {
    let text = String::from_utf8(original.to_vec()).unwrap();
    let key = "\"input_tokens\":1";
    let position = at + text[at..].find(key).unwrap() + key.len() - 1;
    let mut out = original.to_vec();
    out[position] = b'9';
    out
}

#[test]
fn a_same_size_rewrite_is_read_again() {
    assert_rewrite_is_seen(|file, original| {
        std::fs::write(
            file,
            with_tokens_changed_after(original, original.len() / 2),
        )
        .unwrap();
    });
}

#[test]
fn an_edit_between_the_head_and_the_tail_with_the_mtime_put_back_is_read_again() {
    assert_rewrite_is_seen(|file, original| {
        let mtime = std::fs::metadata(file).unwrap().modified().unwrap();
        let edited = with_tokens_changed_after(original, 5000);
        let at = original
            .iter()
            .zip(&edited)
            .position(|(a, b)| a != b)
            .unwrap();
        assert!(at > 4096 && at < original.len() - 4096);
        let mut handle = std::fs::OpenOptions::new().write(true).open(file).unwrap();
        handle.seek(SeekFrom::Start(at as u64)).unwrap();
        handle.write_all(&edited[at..=at]).unwrap();
        handle.set_modified(mtime).unwrap();
        drop(handle);
        assert_eq!(std::fs::metadata(file).unwrap().modified().unwrap(), mtime);
    });
}

#[test]
fn a_file_renamed_over_the_path_that_starts_and_ends_the_same_is_read_again() {
    assert_rewrite_is_seen(|file, original| {
        // Same first and last 4 KiB, another middle, and more lines after: it looks like an append.
        let mut replacement = with_tokens_changed_after(original, 5000);
        replacement.extend(transcript("s", 64, "one").split_at(original.len()).1);
        let temporary = file.with_extension("jsonl.tmp");
        std::fs::write(&temporary, &replacement).unwrap();
        std::fs::rename(&temporary, file).unwrap();
    });
}

#[test]
fn an_edit_just_before_the_offset_with_an_append_is_read_again() {
    assert_rewrite_is_seen(|file, original| {
        let mut edited = with_tokens_changed_after(original, original.len() - 1000);
        edited.extend(transcript("s", 62, "one").split_at(original.len()).1);
        std::fs::write(file, edited).unwrap();
    });
}

/// Rows written before device, ctime and tail hashes were kept: the first sync with them checks each file
/// once (no file is read again from its start: nothing is known to have changed) and records them, and the
/// next one skips every file unopened.
#[test]
fn files_indexed_before_ctimes_were_kept_are_checked_once_not_rewritten() {
    if !crate::backend::is_sqlite() {
        return; // edits SQLite's `files` rows as older code left them
    }
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("claude");
    generate(&corpus, 4, &["--total-mb", "1"]);
    let db = dir.path().join("db.sqlite");
    let mut store = open(&db);
    let first = sync_dirs(&mut store, &[&corpus]);
    let before = view(&store);
    drop(store);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "UPDATE files SET device = NULL, ctime_ns = NULL, tail_hash = 0, tail_len = 0",
        )
        .unwrap();
    let mut store = open(&db);
    let checked = sync_dirs(&mut store, &[&corpus]);
    assert_eq!(checked.files_rewritten, 0, "{checked:?}");
    assert_eq!(checked.lines, 0, "{checked:?}");
    assert_eq!(view(&store), before);
    let again = sync_dirs(&mut store, &[&corpus]);
    assert_eq!(
        (again.files_read, again.files_unchanged),
        (0, first.files_seen),
        "{again:?}"
    );
}

/// Appends, whole lines or a line in two parts, to a file smaller than a window and then larger than both, are
/// read from the committed offset: the hashes the reader records are those the next plan finds.
#[test]
fn appends_are_read_from_the_offset_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects").join("-w-p");
    std::fs::create_dir_all(&project).unwrap();
    let file = project.join("s.jsonl");
    let all = transcript("s", 80, "one");
    let ends: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let mut store = open(&dir.path().join("db.sqlite"));
    let mut written = 0;
    // One line, then lines one by one and two by two, each sometimes in two writes with a sync between.
    for (i, &end) in ends
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 || *i > 60)
    {
        let piece = &all[written..end];
        let mut handle = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap();
        let mut read_early = 0;
        if i % 3 == 0 {
            // Up to the middle of the piece's last line: the lines before it are read now.
            let cut = piece.len() - 100;
            handle.write_all(&piece[..cut]).unwrap();
            read_early = piece[..cut]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let partial = sync_dirs(&mut store, &[&root]);
            assert_eq!(
                (partial.files_rewritten, partial.bytes_read),
                (0, read_early as u64),
                "{partial:?}"
            );
            handle.write_all(&piece[cut..]).unwrap();
        } else {
            handle.write_all(piece).unwrap();
        }
        drop(handle);
        let report = sync_dirs(&mut store, &[&root]);
        assert_eq!(
            (report.files_rewritten, report.bytes_read),
            (0, (piece.len() - read_early) as u64),
            "after {end} bytes: {report:?}"
        );
        written = end;
    }
    assert!(written > 3 * 4096);
    let mut rebuilt = open(&dir.path().join("rebuilt.db"));
    let rebuild_root = dir.path().join("rebuild");
    copy_tree(&root, &rebuild_root);
    sync_dirs(&mut rebuilt, &[&rebuild_root]);
    assert_eq!(view(&store), view(&rebuilt));
}
