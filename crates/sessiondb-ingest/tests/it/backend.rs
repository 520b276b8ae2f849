//! The storage backends this suite runs against, and the one way its tests open a store: through the store
//! opener (`sessiondb_store`), as a `dyn Store`. So every test here is a conformance test of the backend under
//! test; none of them names a backend's store type.
//!
//! One backend per run: `SESSIONDB_TEST_BACKEND` names it (default: the first of [`backends`]), so a run needs
//! no server unless it asks for one. A new backend joins by adding its variant to [`Backend`] (one line in
//! [`backends`], its name and where a test's store lives in [`Backend::location`]) and running the suite with
//! `SESSIONDB_TEST_BACKEND=<name>`. The few checks that read SQLite's own tables run only on SQLite
//! ([`sqlite_file`]).

#![allow(dead_code)]

use std::path::Path;

pub use sessiondb_store::DynStore;
use sessiondb_store::Location;

/// A backend the suite can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
}

/// Every backend the suite knows.
pub fn backends() -> Vec<Backend> {
    vec![Backend::Sqlite]
}

impl Backend {
    /// What `SESSIONDB_TEST_BACKEND` calls it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
        }
    }

    /// Where the store a test names `path` lives on this backend: tests name their stores by paths in their
    /// own temp dir (`db.sqlite`, `rebuilt.db`, …), one store per path, and reopen a store by its path.
    pub fn location(self, path: &Path) -> Location {
        match self {
            Backend::Sqlite => Location::parse(path),
        }
    }

    /// Opens (creating it if new) the store `path` names, through the store opener.
    pub fn open(self, path: &Path) -> DynStore {
        let location = self.location(path);
        sessiondb_store::open(&location)
            .unwrap_or_else(|err| panic!("open the {} store {location}: {err}", self.name()))
    }
}

/// The backend this run tests: `SESSIONDB_TEST_BACKEND`, else the first of [`backends`].
pub fn under_test() -> Backend {
    match std::env::var("SESSIONDB_TEST_BACKEND") {
        Ok(name) => backends()
            .into_iter()
            .find(|backend| backend.name() == name)
            .unwrap_or_else(|| {
                let known: Vec<_> = backends().into_iter().map(Backend::name).collect();
                panic!("SESSIONDB_TEST_BACKEND={name:?}: the suite knows {known:?}")
            }),
        Err(_) => backends()[0],
    }
}

/// Opens the store `path` names on the backend under test (see [`Backend::location`]).
pub fn open_store(path: &Path) -> DynStore {
    under_test().open(path)
}

/// Whether the backend under test is SQLite: the few tests that edit SQLite's tables (as an older version left
/// them) or read its internals run only then, and say so where they return early.
pub fn is_sqlite() -> bool {
    under_test() == Backend::Sqlite
}

/// The SQLite file behind the store `path` names, when the backend under test is SQLite: for the few checks
/// that read or edit SQLite's own tables (a uuid lookup table, a journal mode, rows older code wrote). `None` on
/// any other backend, where those checks do not apply.
pub fn sqlite_file(path: &Path) -> Option<&Path> {
    match under_test() {
        Backend::Sqlite => Some(path),
    }
}
