//! What can go wrong in a service call, sorted into the three kinds a front-end maps to its own terms (the
//! CLI's exit codes 2 and 1, the API's 400, 404 and 500).

use sessiondb_core::{SessionIdError, StoreError};
use sessiondb_ingest::SyncError;

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A value the caller gave is malformed or out of range; the message says what was expected.
    #[error("{0}")]
    Invalid(String),
    /// An id or prefix that names no single session.
    #[error(transparent)]
    SessionId(#[from] SessionIdError),
    /// A registry key never recorded.
    #[error("no key {0:?} in the registry (record one with `sessiondb track`)")]
    UnknownKey(String),
    /// A well-formed request that finds nothing (no resumable session in a dir, no archived lines).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// A workflow folder's files could not be read or written.
    #[error("{0}")]
    Files(String),
    /// The agent a `run` starts could not be started or watched.
    #[error("{0}")]
    Launch(#[source] crate::LaunchError),
}

/// The kind of a [`ServiceError`], for front-ends that map errors to codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's mistake in what was asked: CLI exit 2, HTTP 400.
    Invalid,
    /// The request names something the index does not hold: HTTP 404 (the CLI says which).
    NotFound,
    /// The store, a sync or a process failed: CLI exit 1, HTTP 500.
    Failed,
}

impl ServiceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Invalid(_) => ErrorKind::Invalid,
            ServiceError::SessionId(SessionIdError::Store(_)) => ErrorKind::Failed,
            ServiceError::SessionId(SessionIdError::Unknown { .. }) => ErrorKind::NotFound,
            ServiceError::SessionId(_) => ErrorKind::Invalid,
            ServiceError::UnknownKey(_) | ServiceError::NotFound(_) => ErrorKind::NotFound,
            ServiceError::Store(_)
            | ServiceError::Sync(_)
            | ServiceError::Launch(_)
            | ServiceError::Files(_) => ErrorKind::Failed,
        }
    }
}
