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
//! Cases are seeded and deterministic: a failure prints its seed; `SESSIONDB_PROPTEST_SEED=<seed>` runs that
//! case alone, `SESSIONDB_PROPTEST_CASES=<n>` runs more than the default.

use crate::common::*;
use sessiondb_core::{SessionFilter, Store};
use sessiondb_sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Cases run by default: enough to meet every kind of step in every state many times, small enough for a debug
/// build on a busy machine (see the test's doc for the time).
const DEFAULT_CASES: u64 = 2000;
/// Steps per case, each followed by a sync and a comparison.
const STEPS: usize = 8;
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
    incremental: SqliteStore,
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
                    .map(|i| (b'a' + ((i as u64 + n) % 26) as u8) as char)
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

    /// `bytes` with one digit or letter of one line changed, keeping the size and the JSON valid: a token count
    /// or a prompt's text, at a random place in the file.
    fn edited(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        // Places inside values: digits of token counts, letters of padding.
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
        // Prefer the digits of token counts (they change totals), in lines that are not titles.
        let at = *candidates.get(self.rng.below(candidates.len() as u64) as usize)?;
        let mut out = bytes.to_vec();
        out[at] = if out[at].is_ascii_digit() {
            b'0' + ((out[at] - b'0' + 1 + self.rng.below(8) as u8) % 10)
        } else {
            b'a' + ((out[at] - b'a' + 1 + self.rng.below(24) as u8) % 26)
        };
        // A digit after the first of a number never makes a leading zero; the first is never picked (the
        // window needs a digit before it).
        Some(out)
    }

    fn step(&mut self) {
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
                        let mut file =
                            std::fs::OpenOptions::new().write(true).open(&path).unwrap();
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
    }

    /// A fresh database synced from the files on disk and the deleted ones (then deleted), as the incremental
    /// database should be.
    fn rebuild(&self, step: usize) -> SqliteStore {
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
        let t0 = std::time::Instant::now();
        let db = self.work.join(format!("rebuild-{step}.db"));
        std::fs::copy(self.work.parent().unwrap().join("template.db"), &db).unwrap();
        let mut store = open(&db);
        let t1 = std::time::Instant::now();
        sync_with(&mut store, &[&root], &options());
        eprintln!("R open {:?} sync {:?}", t1-t0, t1.elapsed());
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
    (a.dev(), a.ino(), a.size(), a.mtime(), a.mtime_nsec(), a.ctime(), a.ctime_nsec())
        == (b.dev(), b.ino(), b.size(), b.mtime(), b.mtime_nsec(), b.ctime(), b.ctime_nsec())
}

#[cfg(not(unix))]
fn same_stat(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    (a.len(), a.modified().ok()) == (b.len(), b.modified().ok())
}

/// What the two databases must agree on: every session (ids, titles, counts, tokens, costs, on-disk state),
/// and the usage totals. Costs are compared to a billionth of a dollar (sums in another order round
/// differently).
fn view(store: &SqliteStore) -> serde_json::Value {
    let sessions = store.sessions(&SessionFilter::default()).unwrap();
    let mut sessions: Vec<serde_json::Value> = sessions
        .iter()
        .map(|s| rounded(serde_json::to_value(s).unwrap()))
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

/// Runs the case of `seed`; on a difference, panics with the seed and the steps that led to it.
fn run_case(seed: u64, base: &Path) {
    let work = base.join(format!("case-{seed}"));
    let root = work.join("claude");
    let project = root.join("projects").join("-w-p");
    std::fs::create_dir_all(&project).unwrap();
    let mut case = Case {
        rng: Rng::new(seed),
        root: root.canonicalize().unwrap(),
        project: project.canonicalize().unwrap(),
        incremental: open(&work.join("incremental.db")),
        work: work.clone(),
        deleted: BTreeMap::new(),
        pending: BTreeMap::new(),
        lines_written: 0,
        log: Vec::new(),
    };
    for step in 0..STEPS {
        let t0 = std::time::Instant::now();
        case.step();
        let t1 = std::time::Instant::now();
        let root = case.root.clone();
        sync_with(&mut case.incremental, &[&root], &options());
        let t2 = std::time::Instant::now();
        let rebuilt = case.rebuild(step);
        let t3 = std::time::Instant::now();
        let (got, want) = (view(&case.incremental), view(&rebuilt));
        let t4 = std::time::Instant::now();
        eprintln!("T step {:?} inc {:?} rebuild {:?} view {:?}", t1-t0, t2-t1, t3-t2, t4-t3);
        if got != want {
            panic!(
                "seed {seed}: after step {step} ({}), incremental sync differs from a rebuild \
                 (SESSIONDB_PROPTEST_SEED={seed} replays it)\nincremental: {got:#}\nrebuild: {want:#}",
                case.log.join(", ")
            );
        }
        drop(rebuilt);
        std::fs::remove_dir_all(work.join(format!("rebuild-{step}"))).unwrap();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(work.join(format!("rebuild-{step}.db{suffix}")));
        }
        let _ = std::fs::remove_dir_all(work.join(format!("rebuild-{step}.db-captures")));
    }
    drop(case);
    let _ = std::fs::remove_dir_all(&work);
}

/// Thousands of random sequences of appends, partial lines, truncations, same-size rewrites, middle edits that
/// put the mtime back, files renamed over others, and deletions: after every step, an incremental sync equals
/// a rebuild, session by session and in usage totals. (2000 cases of 8 steps take about N s in a debug build.)
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
    drop(open(&dir.path().join("template.db")));
    for seed in 1..=cases {
        run_case(seed, dir.path());
    }
    eprintln!(
        "{cases} cases of {STEPS} steps in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
