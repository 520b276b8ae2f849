//! Opens the store a `--db` value names, as a `dyn Store`: the one place above the storage crates that knows
//! which backends exist. A plain path (or `sqlite:PATH`, `sqlite://PATH`) is the embedded SQLite file; a
//! `postgres://` or `postgresql://` URL names the PostgreSQL backend, which this build does not have yet.
//! Front-ends (the CLI, the server) open stores only through [`open`].

use sessiondb_core::{Store, StoreError};
use std::fmt;
use std::path::{Path, PathBuf};

/// A store that can move between threads, as every front-end needs.
pub type DynStore = Box<dyn Store + Send>;

/// Where a store lives, parsed from a `--db` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded SQLite database at this path.
    Sqlite(PathBuf),
    /// A PostgreSQL server; kept only for its error message until that backend exists. Holds the URL without
    /// its password.
    Postgres(String),
}

impl Location {
    /// Parses a `--db` value (a path or a URL).
    pub fn parse(db: &Path) -> Location {
        let text = db.to_string_lossy();
        for scheme in ["postgres://", "postgresql://"] {
            if text.starts_with(scheme) {
                return Location::Postgres(redact_password(&text));
            }
        }
        for prefix in ["sqlite://", "sqlite:"] {
            if let Some(path) = text.strip_prefix(prefix) {
                return Location::Sqlite(PathBuf::from(path));
            }
        }
        Location::Sqlite(db.to_path_buf())
    }

    /// Whether the store is already there (a file that exists); a server is assumed to be.
    pub fn exists(&self) -> bool {
        match self {
            Location::Sqlite(path) => path.exists(),
            Location::Postgres(_) => true,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(url),
        }
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`, for messages.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "{0}: the PostgreSQL backend is not part of this build yet; use a SQLite path for --db"
    )]
    Unsupported(Location),
    #[error("cannot open database {location}: {source}")]
    Backend {
        location: Location,
        #[source]
        source: StoreError,
    },
}

/// The schema version each backend this build can open writes, e.g. `sqlite 14` (for `--version`).
pub fn schema_versions() -> String {
    format!("sqlite {}", sessiondb_sqlite::SCHEMA_VERSION)
}

/// Opens (and, for SQLite, creates if missing) the store at `location`.
pub fn open(location: &Location) -> Result<DynStore, OpenError> {
    match location {
        Location::Sqlite(path) => sessiondb_sqlite::SqliteStore::open(path)
            .map(|store| Box::new(store) as DynStore)
            .map_err(|source| OpenError::Backend {
                location: location.clone(),
                source,
            }),
        Location::Postgres(_) => Err(OpenError::Unsupported(location.clone())),
    }
}

/// Process-wide settings a backend wants before any thread starts (SQLite: allocation statistics off, smaller
/// sorter runs); returns whether they took.
///
/// # Safety
///
/// Call first thing in `main`, before any other thread can use a store (see
/// `sessiondb_sqlite::tune_sqlite_process`).
pub unsafe fn tune_process() -> bool {
    // SAFETY: the caller guarantees no other thread uses SQLite yet.
    unsafe { sessiondb_sqlite::tune_sqlite_process() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_db_value_names_its_backend() {
        assert_eq!(
            Location::parse(Path::new("/data/index.db")),
            Location::Sqlite("/data/index.db".into())
        );
        assert_eq!(
            Location::parse(Path::new("sqlite:///data/index.db")),
            Location::Sqlite("/data/index.db".into())
        );
        assert_eq!(
            Location::parse(Path::new("sqlite:rel.db")),
            Location::Sqlite("rel.db".into())
        );
        assert_eq!(
            Location::parse(Path::new("postgres://me:s3cret@db.example:5432/sessions")),
            Location::Postgres("postgres://me:***@db.example:5432/sessions".into())
        );
    }

    #[test]
    fn a_postgres_url_is_refused_without_its_password() {
        let location = Location::parse(Path::new("postgresql://me:s3cret@host/db"));
        let err = open(&location).err().expect("no PostgreSQL backend yet");
        let message = err.to_string();
        assert!(message.contains("PostgreSQL"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn a_sqlite_path_opens_a_store_behind_the_trait() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::parse(&dir.path().join("index.db"));
        assert!(!location.exists());
        let store = open(&location).unwrap();
        assert!(location.exists());
        assert_eq!(store.sessions(&Default::default()).unwrap().len(), 0);
    }
}
