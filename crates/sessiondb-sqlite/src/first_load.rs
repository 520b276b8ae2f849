//! Session facts and elected responses of a first load, gathered while its lines are written.
//!
//! `refresh_sessions` derives each dirty session's row with SQL over its lines: one aggregate and six ordered
//! look-ups per session, about 0.2 s for a 1 GiB first load, where every session is dirty; and the usage rollup
//! with a GROUP BY over `responses`, another 0.1 s. A first load sees every line as it inserts it and every
//! response row as it elects it, so it gathers the same facts on the way ([`FirstLoadFacts::observe`], which
//! feeds each session's [`SessionFold`], core's rule for a session's facts; [`FirstLoadFacts::elect`]) and the
//! refresh inserts them instead. They are trusted only while the database holds exactly the lines and response
//! rows they saw (same counts, same last ids): if another process wrote meanwhile, or a transaction was rolled
//! back, the SQL runs as usual. Money is summed as SQLite sums it. `first_load_facts_match_the_sql` holds the
//! fold and the SQL to the same rows.

use crate::backend;
use crate::columns::KeyHashing;
use rusqlite::Transaction;
use sessiondb_core::usage::TIME_BUCKET_MS;
use sessiondb_core::{FolderMatch, IndexedLine, SessionFold, StoreError};
use sessiondb_pricing::SYNTHETIC_MODEL;
use std::collections::HashMap;

/// The facts of every session a first load wrote lines for, and of every response row it wrote.
#[derive(Debug, Default)]
pub(crate) struct FirstLoadFacts {
    sessions: HashMap<String, SessionFold, KeyHashing>,
    /// The session of the last line observed, whose facts the next line (most likely of the same session)
    /// updates without a hash lookup.
    current: Option<(String, SessionFold)>,
    lines: i64,
    last_id: i64,
    /// The `responses` rows the load wrote, by rowid (index 0 is rowid 1): each key's winning copy, as
    /// the load elected it, for the usage rollup.
    responses: Vec<Option<ResponseFacts>>,
    /// Sessions, models and branches of those rows, each stored once.
    session_names: Names,
    model_names: Names,
    branch_names: Names,
    /// A response rowid far past the others came up: the rows are not the dense run a first load writes, so
    /// the facts are not used.
    sparse_responses: bool,
    folder_match: FolderMatch,
}

/// How far past the rows seen so far a response rowid may land: a first load writes rowids 1, 2, 3, … in order,
/// so anything far beyond says the table was not empty, and the facts would only cost memory.
const MAX_ROWID_GAP: usize = 1 << 20;

/// What the usage rollup reads from one `responses` row; names are ids in [`FirstLoadFacts`]'s [`Names`].
#[derive(Debug, Clone, Copy)]
struct ResponseFacts {
    session: Option<u32>,
    model: u32,
    git_branch: Option<u32>,
    bucket_ms: i64,
    /// input, output, cache creation, cache read, total
    tokens: [i64; 5],
    cost_usd: f64,
    unpriced: bool,
    reported_cost_usd: f64,
}

/// One response row as the writer elected it (see [`FirstLoadFacts::elect`]).
pub(crate) struct ElectedResponse<'a> {
    pub session_key: Option<&'a str>,
    pub model: &'a str,
    pub git_branch: Option<&'a str>,
    pub timestamp_ms: i64,
    /// input, output, cache creation, cache read, total
    pub tokens: [i64; 5],
    pub cost_usd: f64,
    /// `price_state = 2`: its tokens count as unpriced.
    pub unpriced: bool,
    pub reported_cost_usd: Option<f64>,
}

/// A sum of floats with SQLite's own compensation (Kahan-Babuska-Neumaier, as in its `SUM` since 3.43): the
/// result is the rounded exact sum in all but rare cases, whatever order the terms come in.
#[derive(Debug, Default, Clone, Copy)]
struct CompensatedSum {
    sum: f64,
    error: f64,
}

impl CompensatedSum {
    fn add(&mut self, term: f64) {
        let total = self.sum + term;
        if self.sum.abs() > term.abs() {
            self.error += (self.sum - total) + term;
        } else {
            self.error += (term - total) + self.sum;
        }
        self.sum = total;
    }

    fn value(self) -> f64 {
        self.sum + self.error
    }
}

/// Strings stored once, by id; the last one asked for is found without hashing (a first load's responses come
/// session by session, mostly with one model and branch).
#[derive(Debug, Default)]
struct Names {
    ids: HashMap<String, u32, KeyHashing>,
    names: Vec<String>,
    last: Option<u32>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(last) = self.last.filter(|&id| self.names[id as usize] == name) {
            return last;
        }
        let id = match self.ids.get(name) {
            Some(&id) => id,
            None => {
                let id = self.names.len() as u32;
                self.names.push(name.to_owned());
                self.ids.insert(name.to_owned(), id);
                id
            }
        };
        self.last = Some(id);
        id
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

impl FirstLoadFacts {
    /// Takes in one line just inserted as `entry_id`.
    pub(crate) fn observe(&mut self, entry_id: i64, line: &IndexedLine, path: &str) {
        self.lines += 1;
        self.last_id = self.last_id.max(entry_id);
        let Some(session) = line.session_key.as_deref() else {
            return;
        };
        if self.current.as_ref().is_none_or(|(key, _)| key != session) {
            if let Some((key, facts)) = self.current.take() {
                self.sessions.insert(key, facts);
            }
            let facts = self.sessions.remove(session).unwrap_or_default();
            self.current = Some((session.to_owned(), facts));
        }
        if let Some((_, fold)) = self.current.as_mut() {
            fold.add(entry_id, &line.entry, path, &mut self.folder_match);
        }
    }

    /// Takes in the response row just written as `rowid` (a new key's row, or the replacement of a key's row
    /// by a better copy).
    pub(crate) fn elect(&mut self, rowid: i64, response: ElectedResponse<'_>) {
        let slot = match usize::try_from(rowid - 1) {
            Ok(slot) if slot <= self.responses.len() + MAX_ROWID_GAP => slot,
            _ => {
                self.sparse_responses = true;
                return;
            }
        };
        if self.responses.len() <= slot {
            self.responses.resize(slot + 1, None);
        }
        let facts = ResponseFacts {
            session: response.session_key.map(|s| self.session_names.id(s)),
            model: self.model_names.id(response.model),
            git_branch: response.git_branch.map(|b| self.branch_names.id(b)),
            bucket_ms: (response.timestamp_ms / TIME_BUCKET_MS) * TIME_BUCKET_MS,
            tokens: response.tokens,
            cost_usd: response.cost_usd,
            unpriced: response.unpriced,
            reported_cost_usd: response.reported_cost_usd.unwrap_or(0.0),
        };
        self.responses[slot] = Some(facts);
    }

    /// Whether the database holds exactly the lines and response rows these facts saw.
    pub(crate) fn describe_the_database(&self, tx: &Transaction<'_>) -> Result<bool, StoreError> {
        // Two statements, not `SELECT COUNT(*), MAX(id)`: a bare COUNT(*) counts the cells of the smallest index
        // and MAX(rowid) is one descent, where the two together read every row (30 ms per GiB of transcripts).
        let count_and_last = |table: &str| -> Result<(i64, i64), StoreError> {
            let count: i64 = tx
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .map_err(backend)?;
            let last: Option<i64> = tx
                .query_row(&format!("SELECT MAX(rowid) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .map_err(backend)?;
            Ok((count, last.unwrap_or(0)))
        };
        let lines = count_and_last("entries")?;
        let responses = count_and_last("responses")?;
        let written = self.responses.iter().flatten().count() as i64;
        Ok(lines == (self.lines, self.last_id)
            && !self.sparse_responses
            && responses == (written, self.responses.len() as i64))
    }

    /// Inserts the `usage_rollup` rows of the responses the load wrote, as `refresh.rs`'s GROUP BY would: per
    /// session, 15-minute bucket, model and branch, without `<synthetic>`. Integer sums are exact; money is
    /// summed as SQLite's SUM does (see [`CompensatedSum`]), so the totals do not depend on the order of rows.
    pub(crate) fn insert_rollup(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        type Key = (Option<u32>, i64, u32, Option<u32>);
        #[derive(Default)]
        struct Sums {
            responses: i64,
            tokens: [i64; 5],
            cost_usd: CompensatedSum,
            unpriced: i64,
            reported_cost_usd: CompensatedSum,
        }
        let synthetic = self.model_names.ids.get(SYNTHETIC_MODEL).copied();
        let mut groups: HashMap<Key, Sums> = HashMap::new();
        for r in self.responses.iter().flatten() {
            if Some(r.model) == synthetic {
                continue;
            }
            let sums = groups
                .entry((r.session, r.bucket_ms, r.model, r.git_branch))
                .or_default();
            sums.responses += 1;
            for (sum, n) in sums.tokens.iter_mut().zip(r.tokens) {
                *sum = sum.saturating_add(n);
            }
            sums.cost_usd.add(r.cost_usd);
            if r.unpriced {
                sums.unpriced = sums.unpriced.saturating_add(r.tokens[4]);
            }
            sums.reported_cost_usd.add(r.reported_cost_usd);
        }
        let mut insert = tx
            .prepare(
                "INSERT INTO usage_rollup (session_key, bucket_ms, model, git_branch, responses, input_tokens,
                    output_tokens, cache_creation_tokens, cache_read_tokens, total_tokens, cost_usd,
                    unpriced_tokens, reported_cost_usd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .map_err(backend)?;
        for ((session, bucket_ms, model, branch), sums) in groups {
            let [input, output, cache_creation, cache_read, total] = sums.tokens;
            insert
                .execute(rusqlite::params![
                    session.map(|id| self.session_names.name(id)),
                    bucket_ms,
                    self.model_names.name(model),
                    branch.map(|id| self.branch_names.name(id)),
                    sums.responses,
                    input,
                    output,
                    cache_creation,
                    cache_read,
                    total,
                    sums.cost_usd.value(),
                    sums.unpriced,
                    sums.reported_cost_usd.value(),
                ])
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Inserts the `sessions` row of each session with conversation lines, as the SQL aggregate would.
    pub(crate) fn insert_sessions(&mut self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let mut insert = tx
            .prepare(
                "INSERT INTO sessions (session_key, started_at_ms, last_activity_ms, message_count,
                    subagent_message_count, state, first_prompt, project_dir, git_branch, root_parent_uuid,
                    claude_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'deleted', ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(backend)?;
        let sessions = std::mem::take(&mut self.sessions);
        for (session, fold) in sessions.into_iter().chain(self.current.take()) {
            let facts = fold.into_facts();
            if !facts.is_session {
                continue;
            }
            insert
                .execute(rusqlite::params![
                    session,
                    facts.started_at_ms,
                    facts.last_activity_ms,
                    stored_count(facts.message_count),
                    stored_count(facts.subagent_message_count),
                    facts.first_prompt,
                    facts.project_dir,
                    facts.git_branch,
                    facts.root_parent_uuid,
                    facts.claude_version,
                ])
                .map_err(backend)?;
        }
        Ok(())
    }
}

/// A count as SQLite stores it.
fn stored_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
