//! The store behind the tools. It is opened through `sessiondb_store::open` by the first call that needs it and
//! kept (one connection; SQLite runs in WAL mode, so a `serve` on the same database goes on reading and writing
//! meanwhile). Calls run one at a time on Tokio's blocking pool, since a service call is synchronous and may
//! wait on SQLite's busy timeout; each call's transactions end with the call, so nothing is held while idle.
//!
//! A read never creates a database: `sessiondb mcp` is started by every Claude Code launch that lists it, and a
//! mistyped `--db` must not leave an empty database behind. A call that writes ([`Access::Write`]: recording a
//! transition, syncing) creates it, as `sessiondb track` and `sessiondb sync` do.

use crate::ToolError;
use sessiondb_service::{Service, ServiceError};
use sessiondb_store::{DynStore, Location};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

/// Whether a call may create the database when it does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only reads: a missing database is a tool error that says how to make one.
    Read,
    /// Records or syncs: a missing database is created.
    Write,
}

/// The store a server's tools share, opened on first use.
pub struct Db {
    location: Location,
    store: Mutex<Option<DynStore>>,
}

impl Db {
    pub fn new(location: Location) -> Db {
        Db {
            location,
            store: Mutex::new(None),
        }
    }

    /// Where the store lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Runs `call` with a service over the store, on the blocking pool.
    pub async fn call<T, F>(self: &Arc<Self>, access: Access, call: F) -> Result<T, ToolError>
    where
        F: FnOnce(&mut Service<'_>) -> Result<T, ServiceError> + Send + 'static,
        T: Send + 'static,
    {
        let db = Arc::clone(self);
        match tokio::task::spawn_blocking(move || db.call_blocking(access, call)).await {
            Ok(answer) => answer,
            Err(err) => Err(ToolError::Internal(format!(
                "the call did not finish: {err}"
            ))),
        }
    }

    fn call_blocking<T, F>(&self, access: Access, call: F) -> Result<T, ToolError>
    where
        F: FnOnce(&mut Service<'_>) -> Result<T, ServiceError>,
    {
        // A call that panicked dropped the store (below), so a poisoned lock holds nothing half-done.
        let mut slot = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        let store = match &mut *slot {
            Some(store) => store,
            empty => {
                if access == Access::Read && !self.location.exists() {
                    return Err(ToolError::NoDatabase(self.location.to_string()));
                }
                empty.insert(sessiondb_store::open(&self.location)?)
            }
        };
        let answer =
            std::panic::catch_unwind(AssertUnwindSafe(|| call(&mut Service::new(store.as_mut()))));
        match answer {
            Ok(answer) => Ok(answer?),
            Err(panic) => {
                // Whatever state the connection was left in, the next call starts from a fresh one.
                *slot = None;
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                tracing::error!(%what, "an MCP tool call panicked");
                Err(ToolError::Internal(format!(
                    "the call failed unexpectedly: {what}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_never_creates_the_database_and_a_write_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        let db = Arc::new(Db::new(Location::Sqlite(path.clone())));
        let err = db
            .call(Access::Read, |s| s.projects())
            .await
            .expect_err("no database yet");
        assert!(matches!(err, ToolError::NoDatabase(_)), "{err}");
        assert!(err.into_result().is_error == Some(true));
        assert!(!path.exists(), "a read left a database behind");
        let log = db
            .call(Access::Write, |s| s.transitions(None, None, 0))
            .await
            .unwrap();
        assert!(log.is_empty());
        assert!(path.exists());
    }

    #[tokio::test]
    async fn a_call_that_panics_is_a_tool_error_and_the_next_call_works() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::new(Location::Sqlite(dir.path().join("index.db"))));
        let err = db
            .call(Access::Write, |_| -> Result<(), ServiceError> {
                panic!("boom")
            })
            .await
            .expect_err("the panic is an error");
        assert!(err.to_string().contains("boom"), "{err}");
        let tracked = db
            .call(Access::Write, |s| {
                s.track("app:k", "11111111-2222", "test", None, 0, None)
            })
            .await
            .unwrap();
        assert_eq!(tracked.transition.session_id, "11111111-2222");
    }
}
