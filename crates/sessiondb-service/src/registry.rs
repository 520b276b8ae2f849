//! The registry as front-ends use it: move a key to a session (a prefix expanded, an id not indexed yet
//! recorded as given), ask which session a key or dir resumes, read and prune the audit log.

use crate::{Service, ServiceError};
use serde::Serialize;
use sessiondb_core::{resolve_session_id, Latest, Registry, SessionIdError, Transition};

/// What [`Service::track`] recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Tracked {
    pub transition: Transition,
    /// The session is in the index; when false it was recorded as given (a session just started, whose
    /// transcript the next sync indexes).
    pub indexed: bool,
}

impl Service<'_> {
    /// Moves `key` to `session` (an id or a unique prefix of an indexed one) with its audit entry, then drops
    /// audit entries older than `retention_days`.
    pub fn track(
        &mut self,
        key: &str,
        session: &str,
        source: &str,
        note: Option<&str>,
        now_ms: i64,
        retention_days: Option<u32>,
    ) -> Result<Tracked, ServiceError> {
        if key.trim().is_empty() || session.trim().is_empty() || source.trim().is_empty() {
            return Err(ServiceError::Invalid(
                "key, session id and source must not be empty".into(),
            ));
        }
        let (session, indexed) = match resolve_session_id(&*self.store, session) {
            Ok(full) => (full, true),
            Err(SessionIdError::Unknown { id }) => (id, false),
            Err(err) => return Err(err.into()),
        };
        let mut registry = Registry::new(&mut *self.store);
        let transition = registry.track(key, &session, source, note, now_ms)?;
        if let Some(days) = retention_days {
            registry.prune(days, now_ms)?;
        }
        Ok(Tracked {
            transition,
            indexed,
        })
    }

    /// The session to resume for a registry key (its recorded head, or the best valid replacement).
    pub fn latest_for_key(&mut self, key: &str) -> Result<Latest, ServiceError> {
        self.registry_latest(key)
    }

    /// The session `claude --continue` would take in `dir`.
    pub fn latest_for_dir(&mut self, dir: &str) -> Result<Latest, ServiceError> {
        Ok(Registry::new(&mut *self.store).latest_for_dir(dir)?)
    }

    /// A key's answer; a key that is an absolute path, and not a recorded key, asks for that dir's session.
    pub fn latest_for(&mut self, key: &str) -> Result<Latest, ServiceError> {
        match Registry::new(&mut *self.store).latest_for_key(key)? {
            Some(latest) => Ok(latest),
            None if key.starts_with('/') => self.latest_for_dir(key),
            None => Err(ServiceError::UnknownKey(key.to_owned())),
        }
    }

    /// The audit log of `key` (every key if `None`), oldest first, after dropping entries older than
    /// `retention_days`.
    pub fn transitions(
        &mut self,
        key: Option<&str>,
        retention_days: Option<u32>,
        now_ms: i64,
    ) -> Result<Vec<Transition>, ServiceError> {
        let mut registry = Registry::new(&mut *self.store);
        if let Some(days) = retention_days {
            registry.prune(days, now_ms)?;
        }
        Ok(registry.transitions(key)?)
    }

    /// The registry's answer for a recorded key; [`ServiceError::UnknownKey`] for one never recorded.
    pub(crate) fn registry_latest(&mut self, key: &str) -> Result<Latest, ServiceError> {
        Registry::new(&mut *self.store)
            .latest_for_key(key)?
            .ok_or_else(|| ServiceError::UnknownKey(key.to_owned()))
    }
}
