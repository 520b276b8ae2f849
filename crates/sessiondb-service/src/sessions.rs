//! Reading the index: sessions listed, paged and searched, one session in full, its chain, usage reports,
//! projects and the raw archive.

use crate::{Service, ServiceError};
use serde::Serialize;
use sessiondb_core::{
    build_blocks, build_chain, build_usage_report, newest_resumable_session, resolve_session_id,
    ArchiveReport, Block, Chain, DoctorReport, ProjectSummary, SessionDetail, SessionFilter,
    SessionSummary, UsageQuery, UsageReport,
};
use std::collections::HashSet;

/// The longest text search accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1_000;

/// Which sessions to list, and which page of them.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    /// Filters, order and page (`offset`, `limit`).
    pub filter: SessionFilter,
    /// Only the sessions of this registry key's chain.
    pub key: Option<String>,
    /// Only sessions with this text (case-insensitive) in a title, any prompt typed into them, their project
    /// dir or branch, or at the start of their id.
    pub text: Option<String>,
}

/// One page of a session list and how many sessions match in all.
#[derive(Debug, Clone, Serialize)]
pub struct SessionPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub sessions: Vec<SessionSummary>,
}

/// Which billing blocks to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockSelection {
    #[default]
    All,
    /// Blocks that started in the last three days, and the active one.
    Recent,
    /// Only the active block.
    Active,
}

/// Billing blocks of responses in `[since_ms, until_ms)`, as of `now_ms`.
#[derive(Debug, Clone, Default)]
pub struct BlocksQuery {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub now_ms: i64,
    pub selection: BlockSelection,
}

/// How far back [`BlockSelection::Recent`] looks.
const RECENT_BLOCKS_MS: i64 = 3 * 24 * 60 * 60 * 1000;

/// Where a chain is looked up from.
#[derive(Debug, Clone)]
pub enum ChainStart {
    /// A session id or a unique prefix.
    Session(String),
    /// The newest resumable session of a project dir.
    Dir(String),
    /// A registry key's valid session, or, for an absolute path, that dir's newest resumable session.
    KeyOrDir(String),
}

impl Service<'_> {
    /// The full id `id` names: an exact id, else a unique prefix of at least
    /// [`sessiondb_core::MIN_ID_PREFIX`] characters.
    pub fn resolve(&self, id: &str) -> Result<String, ServiceError> {
        if self.store.session_summary(id)?.is_some() {
            return Ok(id.to_owned());
        }
        Ok(resolve_session_id(&*self.store, id)?)
    }

    /// Sessions matching `filter`, one page of them, without counting the rest (what `ls` prints).
    pub fn sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionSummary>, ServiceError> {
        Ok(self.store.sessions(filter)?)
    }

    /// One page of the sessions `query` selects, with the total.
    pub fn page(&mut self, query: &SessionQuery) -> Result<SessionPage, ServiceError> {
        let limit = query.filter.limit.unwrap_or(u64::MAX);
        let offset = query.filter.offset;
        let needle = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        if needle.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
            return Err(ServiceError::Invalid(format!(
                "q: at most {MAX_QUERY_CHARS} characters"
            )));
        }
        let members: Option<HashSet<String>> = match &query.key {
            Some(key) => {
                let latest = self.registry_latest(key)?;
                let Some(session) = latest.session_id else {
                    return Err(ServiceError::UnknownKey(key.clone()));
                };
                Some(
                    build_chain(&*self.store, &session)?
                        .map(|c| c.sessions.into_iter().map(|s| s.session_id).collect())
                        .unwrap_or_else(|| HashSet::from([session])),
                )
            }
            None => None,
        };
        if members.is_none() && needle.is_none() {
            // The common case pages in the store: cheap however many sessions there are.
            return Ok(SessionPage {
                total: self.store.count_sessions(&query.filter)?,
                offset,
                limit,
                sessions: self.store.sessions(&query.filter)?,
            });
        }
        // A chain or a text search: filter the store's answer here, then page.
        let mut filter = query.filter.clone();
        filter.offset = 0;
        filter.limit = None;
        let mut sessions = self.store.sessions(&filter)?;
        let lowered = needle.map(str::to_lowercase);
        // Every prompt typed into a session, not only its first one and its title.
        let prompt_hits: Option<HashSet<String>> = match needle {
            Some(q) => Some(self.store.search_prompts(q)?.into_iter().collect()),
            None => None,
        };
        sessions.retain(|s| {
            members.as_ref().is_none_or(|m| m.contains(&s.session_id))
                && lowered.as_ref().is_none_or(|n| {
                    matches_text(s, n)
                        || prompt_hits
                            .as_ref()
                            .is_some_and(|h| h.contains(&s.session_id))
                })
        });
        let total = sessions.len() as u64;
        let sessions = sessions
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Ok(SessionPage {
            total,
            offset,
            limit,
            sessions,
        })
    }

    /// One session in full, by id or unique prefix.
    pub fn show(&self, id: &str) -> Result<SessionDetail, ServiceError> {
        let id = self.resolve(id)?;
        self.store.session(&id)?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no session {id:?} in the index (try `sessiondb sync`, or a longer id prefix)"
            ))
        })
    }

    /// The chain of sessions a session, dir or key belongs to.
    pub fn chain(&mut self, start: &ChainStart) -> Result<Chain, ServiceError> {
        let session = match start {
            ChainStart::Session(id) => self.resolve(id)?,
            ChainStart::Dir(dir) => match newest_resumable_session(&*self.store, dir)? {
                Some(s) => s.session_id,
                None => {
                    return Err(ServiceError::NotFound(format!(
                        "no resumable session in {dir}"
                    )))
                }
            },
            ChainStart::KeyOrDir(key) => match self.latest_for(key)?.session_id {
                Some(id) => id,
                None => return Err(ServiceError::NotFound(format!("no session for {key:?}"))),
            },
        };
        build_chain(&*self.store, &session)?
            .ok_or_else(|| ServiceError::NotFound(format!("no session {session:?}")))
    }

    /// Deduplicated usage, grouped and bounded as `query` says.
    pub fn usage(&self, query: &UsageQuery) -> Result<UsageReport, ServiceError> {
        let (since, until) = query.range_ms();
        let buckets = self.store.usage_buckets(query.grouping, since, until)?;
        Ok(build_usage_report(query, &buckets))
    }

    /// Up to `limit` session ids that start with `prefix`, each with its title (for shell completion).
    pub fn session_ids_completing(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Option<String>)>, ServiceError> {
        let ids = self.store.session_ids_starting_with(prefix, limit)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let title = self.store.session_summary(&id)?.and_then(|s| s.title);
            out.push((id, title));
        }
        Ok(out)
    }

    /// Registry keys that start with `prefix`, in order (for shell completion).
    pub fn keys_completing(&self, prefix: &str) -> Result<Vec<String>, ServiceError> {
        let keys: std::collections::BTreeSet<String> = self
            .store
            .transitions(None)?
            .into_iter()
            .map(|t| t.key)
            .filter(|k| k.starts_with(prefix))
            .collect();
        Ok(keys.into_iter().collect())
    }

    /// Claude's 5-hour billing blocks, as ccusage's `blocks` report draws them.
    pub fn usage_blocks(&self, query: &BlocksQuery) -> Result<Vec<Block>, ServiceError> {
        let events = self.store.usage_events(query.since_ms, query.until_ms)?;
        let mut blocks = build_blocks(&events, query.now_ms);
        match query.selection {
            BlockSelection::All => {}
            BlockSelection::Recent => {
                blocks.retain(|b| b.start_ms >= query.now_ms - RECENT_BLOCKS_MS || b.is_active)
            }
            BlockSelection::Active => blocks.retain(|b| b.is_active),
        }
        Ok(blocks)
    }

    /// Project dirs with their session counts, tokens and cost, most recently active first.
    pub fn projects(&self) -> Result<Vec<ProjectSummary>, ServiceError> {
        Ok(self.store.projects()?)
    }

    /// Health of the index: skipped lines, partial tails, sizes.
    pub fn doctor(&self, max_examples: usize) -> Result<DoctorReport, ServiceError> {
        Ok(self.store.doctor(max_examples)?)
    }

    /// Compresses into the store every indexed byte only a capture or the file itself holds.
    pub fn archive(&mut self) -> Result<ArchiveReport, ServiceError> {
        Ok(self.store.archive_captures()?)
    }

    /// A session's lines as they were written, from the archive (works after the files are deleted).
    pub fn export(&self, id: &str) -> Result<(String, Vec<Vec<u8>>), ServiceError> {
        let id = self.resolve(id)?;
        let lines = self.store.session_raw_lines(&id)?;
        if lines.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "no archived lines for session {id:?}"
            )));
        }
        Ok((id, lines))
    }
}

fn matches_text(s: &SessionSummary, needle: &str) -> bool {
    [&s.title, &s.first_prompt, &s.project_dir, &s.git_branch]
        .iter()
        .filter_map(|f| f.as_deref())
        .any(|f| f.to_lowercase().contains(needle))
        || s.session_id.starts_with(needle)
}
