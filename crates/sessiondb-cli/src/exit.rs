//! The exit-code rule every command follows: 0 success; 1 a failure while running (I/O, database, a peer
//! process); 2 a mistake in what the user typed (a bad flag or value, an unknown or ambiguous id, a wrong
//! path). clap exits 2 for bad flags itself; everything else that is the user's mistake is a [`UsageError`]
//! (or a typed library error that says so) somewhere in the error's chain.

use sessiondb_core::SessionIdError;
use sessiondb_ingest::RootProblem;
use sessiondb_service::ServiceError;

/// A mistake in what the user typed: the message says what was expected. Exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A [`UsageError`] as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// The exit code for an error that ended a command.
pub fn code_of(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            // A closed pipe (`| head`) is the reader's choice, not a failure.
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return 0;
            }
        }
        if cause.is::<UsageError>() || cause.is::<RootProblem>() {
            return 2;
        }
        if let Some(id) = cause.downcast_ref::<SessionIdError>() {
            return if id.is_user_error() { 2 } else { 1 };
        }
        if let Some(err) = cause.downcast_ref::<ServiceError>() {
            return match err {
                ServiceError::Invalid(_) | ServiceError::UnknownKey(_) => 2,
                ServiceError::SessionId(id) if id.is_user_error() => 2,
                // Its cause (a store or sync error, a missing config dir) is judged on the next turn.
                ServiceError::Sync(_) | ServiceError::Launch(_) => continue,
                _ => 1,
            };
        }
    }
    1
}
