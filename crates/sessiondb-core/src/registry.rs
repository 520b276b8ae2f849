//! The registry apps use instead of their own session tables: an app key (`app:project-42`) points at the
//! session to resume; every move is recorded with its source in an audit log; answers are checked against
//! the index, so a stale id comes back with the best valid replacement and the reason.

use crate::chain::{build_chain, newest_resumable_session};
use crate::report::{Latest, SessionState, SessionSummary, Transition};
use crate::store::{Store, StoreError};

/// Registry operations over a store.
pub struct Registry<'a> {
    store: &'a mut dyn Store,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn problem(summary: Option<&SessionSummary>) -> Option<&'static str> {
    match summary {
        None => Some("is not in the index (no transcript with this id was seen)"),
        Some(s) if s.state == SessionState::Deleted => Some("was deleted on disk"),
        Some(s) if s.state == SessionState::HistoryOnly => {
            Some("is known only from history.jsonl (its transcript is gone)")
        }
        Some(s) if s.message_count == 0 => Some("holds no conversation"),
        Some(_) => None,
    }
}

impl<'a> Registry<'a> {
    pub fn new(store: &'a mut dyn Store) -> Self {
        Registry { store }
    }

    /// Records that `key` now points at `session_id` (reported by `source`), atomically with its audit entry.
    pub fn track(
        &mut self,
        key: &str,
        session_id: &str,
        source: &str,
        note: Option<&str>,
        now_ms: i64,
    ) -> Result<Transition, StoreError> {
        self.store
            .record_transition(key, session_id, source, note, now_ms)
    }

    /// The audit log of `key` (all keys if `None`), oldest first.
    pub fn transitions(&self, key: Option<&str>) -> Result<Vec<Transition>, StoreError> {
        self.store.transitions(key)
    }

    /// Deletes audit entries older than `retention_days`.
    pub fn prune(&mut self, retention_days: u32, now_ms: i64) -> Result<u64, StoreError> {
        self.store
            .prune_transitions(now_ms - i64::from(retention_days) * DAY_MS)
    }

    /// The session to resume for `key`: its recorded head if that is resumable; otherwise the newest
    /// resumable session of the head's chain, then of the head's project dir. `None` if the key is unknown.
    pub fn latest_for_key(&self, key: &str) -> Result<Option<Latest>, StoreError> {
        let Some(head) = self.store.key_head(key)? else {
            return Ok(None);
        };
        let recorded = head.session_id;
        let summary = self.store.session_summary(&recorded)?;
        let chain = match &summary {
            Some(_) => build_chain(&*self.store, &recorded)?,
            None => None,
        };
        let chain_id = chain.as_ref().map(|c| c.chain_id.clone());
        let Some(problem) = problem(summary.as_ref()) else {
            let reason = match chain.as_ref().and_then(|c| c.head.as_deref()) {
                Some(newest) if newest != recorded => format!(
                    "recorded head is on disk and resumable (its chain's newest session is {newest})"
                ),
                _ => "recorded head is on disk and resumable".to_owned(),
            };
            return Ok(Some(Latest {
                session_id: Some(recorded),
                chain_id,
                valid: true,
                reason,
                recorded_session_id: None,
            }));
        };
        if let Some(chain_head) = chain.as_ref().and_then(|c| c.head.clone()) {
            return Ok(Some(Latest {
                session_id: Some(chain_head),
                chain_id,
                valid: true,
                reason: format!(
                    "recorded head {recorded} {problem}; using the newest resumable session of its chain"
                ),
                recorded_session_id: Some(recorded),
            }));
        }
        if let Some(dir) = summary.as_ref().and_then(|s| s.project_dir.clone()) {
            if let Some(newest) = newest_resumable_session(&*self.store, &dir)? {
                let chain_id = build_chain(&*self.store, &newest.session_id)?.map(|c| c.chain_id);
                return Ok(Some(Latest {
                    session_id: Some(newest.session_id),
                    chain_id,
                    valid: true,
                    reason: format!(
                        "recorded head {recorded} {problem}; using the newest resumable session in {dir}"
                    ),
                    recorded_session_id: Some(recorded),
                }));
            }
        }
        Ok(Some(Latest {
            session_id: Some(recorded.clone()),
            chain_id,
            valid: false,
            reason: format!(
                "recorded head {recorded} {problem}, and no resumable session replaces it"
            ),
            recorded_session_id: None,
        }))
    }

    /// The session `claude --continue` would take in `dir`.
    pub fn latest_for_dir(&self, dir: &str) -> Result<Latest, StoreError> {
        Ok(match newest_resumable_session(&*self.store, dir)? {
            Some(newest) => Latest {
                chain_id: build_chain(&*self.store, &newest.session_id)?.map(|c| c.chain_id),
                session_id: Some(newest.session_id),
                valid: true,
                reason: format!("newest resumable session in {dir}"),
                recorded_session_id: None,
            },
            None => Latest {
                session_id: None,
                chain_id: None,
                valid: false,
                reason: format!("no resumable session in {dir}"),
                recorded_session_id: None,
            },
        })
    }
}
