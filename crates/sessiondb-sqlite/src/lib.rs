//! The embedded SQLite backend of [`sessiondb_core::Store`].
//!
//! One database file in WAL mode: a sync writes batches in short transactions while readers keep reading (the
//! first load into an empty database uses a rollback journal, which writes each page once). The SQL
//! is kept portable (no SQLite-only functions in queries) so the PostgreSQL backend can share its shape.

/// The SQL condition that the `entries` row `$entry` (a table name or alias) has uuid `$value`, in the form that
/// finds the row through `entry_uuids` (see [`uuid_lookup`]): the uuid's first 8 characters find the candidate
/// ids, the full uuid picks the rows. Every lookup of `entries` by uuid is written with it.
macro_rules! same_uuid {
    ($entry:literal, $value:literal) => {
        concat!(
            $entry,
            ".id IN (SELECT entry_id FROM entry_uuids WHERE uuid_prefix = substr(",
            $value,
            ", 1, 8)) AND ",
            $entry,
            ".uuid = ",
            $value
        )
    };
}

mod borrowing_insert;
mod bulk_load;
mod capture;
mod columns;
mod election;
mod files;
mod first_load;
mod links;
mod purge;
mod query;
mod refresh;
mod registry;
mod reprice;
mod schema;
mod startup;
mod uuid_lookup;
mod workflow;
mod write;

use rusqlite::{Connection, OptionalExtension};
use sessiondb_core::{
    BatchOutcome, DoctorReport, FileState, Grouping, IngestBatch, Pricer, RawLine, SessionDetail,
    SessionFilter, SessionSummary, Store, StoreError, UsageBucket,
};
use std::path::{Path, PathBuf};

/// SQLite's page cache per connection, in KiB.
const CACHE_KIB: u32 = 32_000;
/// The page cache while building indexes, in KiB: the size of the sorter's runs (see `create_bulk_indexes`).
const SORT_CACHE_KIB: u32 = 2_000;
/// The sorter's smallest run, in pages (SQLite's default is 250: 8 MB of 32 KiB pages, which made the runs too
/// few to sort on both cores). With [`SORT_CACHE_KIB`] the runs are 2 MB for any page size up to 32 KiB.
const SORTER_MIN_RUN_PAGES: u32 = 64;

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = schema::MIGRATIONS.len() as i64;

/// A sessiondb index in one SQLite file.
pub struct SqliteStore {
    /// Declared before `conn`: a statement must be finalized before its connection closes (fields drop in
    /// order).
    writer: write::Writer,
    conn: Connection,
    path: PathBuf,
    /// Where hard links to source files keep their bytes until they are archived (see [`capture`]).
    captures: PathBuf,
    /// The bulk load switched the database to a rollback journal; `end_bulk_load` switches it back to WAL.
    rollback_journal: bool,
}

pub(crate) fn backend(err: rusqlite::Error) -> StoreError {
    StoreError::Backend(err.to_string())
}

/// Process-wide SQLite settings, for a binary to apply before anything uses SQLite:
/// - allocation statistics off: sessiondb never reads them, and with them on every allocation and free SQLite
///   makes takes a global mutex, contended by the sorter's threads while indexes are built;
/// - sorter runs of [`SORTER_MIN_RUN_PAGES`] pages: with 32 KiB pages SQLite's default makes 8 MB runs, too few
///   to keep both cores sorting. Measured on a 1 GiB first load: its index builds took 0.8 s with 8 MB runs,
///   0.65 s with 4 MB, 0.45-0.6 s with 1.5-3 MB.
///
/// Returns whether SQLite took both.
///
/// # Safety
///
/// SQLite's configuration is process-wide and `sqlite3_config` is not thread-safe: call this before any other
/// thread can use SQLite, as at the top of `main`. After SQLite has initialized (a connection was opened) it
/// refuses the calls and nothing changes.
pub unsafe fn tune_sqlite_process() -> bool {
    use rusqlite::ffi::{sqlite3_config, SQLITE_CONFIG_MEMSTATUS, SQLITE_CONFIG_PMASZ, SQLITE_OK};
    // SAFETY: each option takes one int; the caller guarantees no other thread uses SQLite.
    let memstatus = unsafe { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) };
    let run_pages = unsafe {
        sqlite3_config(
            SQLITE_CONFIG_PMASZ,
            SORTER_MIN_RUN_PAGES as std::ffi::c_uint,
        )
    };
    memstatus == SQLITE_OK && run_pages == SQLITE_OK
}

/// Claude Code rules the session fold's SQL needs: `cwd_names_folder_of(cwd, path)` is 1 when the transcript
/// at `path` is kept in `cwd`'s project folder (`sessiondb_format::cwd_names_folder_of`).
fn register_functions(conn: &Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "cwd_names_folder_of",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let cwd = ctx.get_raw(0).as_str().ok();
            let path = ctx.get_raw(1).as_str().ok();
            Ok(match (cwd, path) {
                (Some(cwd), Some(path)) => sessiondb_format::cwd_names_folder_of(cwd, path),
                _ => false,
            })
        },
    )
    .map_err(backend)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Backend(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        let conn = Connection::open(path).map_err(backend)?;
        register_functions(&conn)?;
        // 32 KiB pages for a new database (an existing one keeps its own): a first load writes and scans an
        // eighth as many pages as with SQLite's 4 KiB default, with fewer syscalls and shallower trees. Measured on
        // a 1 GiB first load: 16 KiB was about 10% faster than 4 KiB, 32 KiB a few percent faster again (less CPU
        // in the writer), 64 KiB slower; queries took the same time. Must come before the switch to WAL, which
        // creates the file's header.
        conn.execute_batch("PRAGMA page_size = 32768;")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(backend)?;
        // Another process's first load may hold the database in rollback-journal mode for a while (see
        // `begin_bulk_load`); SQLite refuses the switch to WAL meanwhile. Work in that mode: the next open switches.
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
            row.get::<_, String>(0)
        }) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                tracing::debug!("database busy: staying in its current journal mode");
            }
            Err(err) => return Err(backend(err)),
        }
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA wal_autocheckpoint = 8192;
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(backend)?;
        conn.execute_batch(&format!("PRAGMA cache_size = -{CACHE_KIB};"))
            .map_err(backend)?;
        // Sorts (index builds after a first load, large ORDER BYs) may use the other cores: by then the
        // readers are done and they are idle.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Room for every statement a sync prepares with `prepare_cached` (about twenty): rusqlite keeps 16 by
        // default, and an evicted statement is parsed again on its next use, once per batch.
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(&format!("PRAGMA threads = {};", cores.min(8)))
            .map_err(backend)?;
        let mut store = SqliteStore {
            writer: write::Writer::default(),
            conn,
            path: path.to_path_buf(),
            captures: capture::capture_dir(path),
            rollback_journal: false,
        };
        store.migrate()?;
        if store.bulk_indexes_missing()? {
            store.create_bulk_indexes(None)?;
        }
        store.complete_entry_uuids()?;
        Ok(store)
    }

    /// Whether an index a bulk load builds at its end is missing (a load under way in another process, or one
    /// that was cut short): then `open` builds it. Read first, so that an open that finds them all never asks
    /// for the write lock.
    fn bulk_indexes_missing(&self) -> Result<bool, StoreError> {
        let found: i64 = self
            .conn
            .query_row(
                &format!(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ({})",
                    schema::END_OF_LOAD_INDEX_NAMES
                        .iter()
                        .map(|name| format!("'{name}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                [],
                |row| row.get(0),
            )
            .map_err(backend)?;
        Ok(found < schema::END_OF_LOAD_INDEX_NAMES.len() as i64)
    }

    /// Fills `entry_uuids` for lines past its mark (a first load that was cut short, or one under way in another
    /// process), under the write lock; reads only when it is complete.
    fn complete_entry_uuids(&self) -> Result<(), StoreError> {
        if uuid_lookup::is_complete(&self.conn, uuid_lookup::last_entry_id(&self.conn)?)? {
            return Ok(());
        }
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(backend)?;
        let started = std::time::Instant::now();
        let rows = uuid_lookup::catch_up(&tx)?;
        tx.commit().map_err(backend)?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            rows,
            "filled entry_uuids from entries"
        );
        Ok(())
    }

    /// Where the database file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(backend)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(backend)?;
        if found == 0 {
            // A new database: captures left by a deleted one describe files it does not know. Cleared under the
            // write lock, before any other process can capture into it.
            capture::clear(&self.captures);
        }
        for (version, sql) in schema::MIGRATIONS
            .iter()
            .enumerate()
            .skip(found.max(0) as usize)
        {
            tracing::info!(to = version + 1, "migrating schema");
            tx.execute_batch(sql).map_err(backend)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    /// Builds the lookup indexes a bulk load dropped (any that are missing) and completes `entry_uuids`, from
    /// `uuid_pairs` when a first load collected them.
    fn create_bulk_indexes(
        &self,
        uuid_pairs: Option<uuid_lookup::UuidPairs>,
    ) -> Result<(), StoreError> {
        // Runs of the sorter go to temp files (see `build_bulk_indexes`); temp_store cannot change inside the
        // transaction that builds them.
        self.conn
            .execute_batch("PRAGMA temp_store = FILE;")
            .map_err(backend)?;
        let built = self.build_bulk_indexes(uuid_pairs);
        self.conn
            .execute_batch(&format!(
                "PRAGMA cache_size = -{CACHE_KIB}; PRAGMA temp_store = MEMORY;"
            ))
            .map_err(backend)?;
        built
    }

    fn build_bulk_indexes(
        &self,
        uuid_pairs: Option<uuid_lookup::UuidPairs>,
    ) -> Result<(), StoreError> {
        // A first load's uuid pairs are sorted on another thread while the `responses` indexes are built.
        std::thread::scope(|scope| {
            let sorted = uuid_pairs.map(|mut pairs| {
                scope.spawn(move || {
                    pairs.sort();
                    pairs
                })
            });
            self.build_bulk_indexes_in_one_transaction(sorted)
        })
    }

    fn build_bulk_indexes_in_one_transaction(
        &self,
        uuid_pairs: Option<std::thread::ScopedJoinHandle<'_, uuid_lookup::UuidPairs>>,
    ) -> Result<(), StoreError> {
        // One transaction for all of them: each commit syncs the journal, the directory and the database, and
        // after a load the database's sync flushed every index just built (5 to 25 ms each on a 1 GiB load).
        // It reads (the schema, `entries`) before it writes: it takes the write lock first, as a read cannot
        // always become a write while another connection writes (SQLite then fails at once with "database is
        // locked" rather than wait).
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(backend)?;
        let build = |sql: &str, run: &dyn Fn() -> Result<(), StoreError>| {
            let started = std::time::Instant::now();
            run()?;
            tracing::debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                sql,
                "built index"
            );
            Ok::<(), StoreError>(())
        };
        // The key index of `responses` with the small cache (its 60-byte keys sort on the sorter's threads; in one
        // in-memory run they took longer), then its two other indexes with the whole cache: the table (a tenth of
        // `entries`) is read once for both and their short keys sort in one run (about 80 ms, now 50 ms per GiB).
        tx.execute_batch(&format!("PRAGMA cache_size = -{SORT_CACHE_KIB};"))
            .map_err(backend)?;
        build(schema::RESPONSE_KEY_INDEX, &|| {
            election::ensure_response_key_index(&tx)
        })?;
        tx.execute_batch(&format!("PRAGMA cache_size = -{CACHE_KIB};"))
            .map_err(backend)?;
        for sql in schema::BULK_RESPONSE_INDEXES {
            build(sql, &|| tx.execute_batch(sql).map_err(backend))?;
        }
        let uuid_pairs = match uuid_pairs {
            Some(sorting) => Some(
                sorting
                    .join()
                    .map_err(|_| StoreError::Backend("sorting uuid pairs panicked".into()))?,
            ),
            None => None,
        };
        if let Some(pairs) = &uuid_pairs {
            let started = std::time::Instant::now();
            let rows = uuid_lookup::complete(&tx, Some(pairs))?;
            tracing::debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                rows,
                "filled entry_uuids"
            );
        }
        // `entries` with a small cache: SQLite's sorter spills sorted runs of about the cache's size (at least
        // `SORTER_MIN_RUN_PAGES`, see `tune_sqlite_process`) and sorts them on `PRAGMA threads` workers, so it
        // uses every core, while one 32 MB in-memory run is sorted on one. Measured on a 1 GiB load: 0.9 s for
        // the three `entries` indexes in one run, 0.5 s this way.
        tx.execute_batch(&format!("PRAGMA cache_size = -{SORT_CACHE_KIB};"))
            .map_err(backend)?;
        for sql in schema::BULK_ENTRY_INDEXES {
            build(sql, &|| tx.execute_batch(sql).map_err(backend))?;
        }
        tx.commit().map_err(backend)
    }

    /// Sets the journal mode and returns the one in effect: unchanged when SQLite refused the switch (leaving
    /// WAL needs the only connection to the database; entering it, no other transaction under way).
    fn set_journal_mode(&self, mode: &str) -> Result<String, StoreError> {
        let pragma = |sql: &str| {
            self.conn
                .query_row(sql, [], |row| row.get::<_, String>(0))
                .map(|found| found.to_ascii_lowercase())
        };
        match pragma(&format!("PRAGMA journal_mode = {mode}")) {
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                pragma("PRAGMA journal_mode").map_err(backend)
            }
            other => other.map_err(backend),
        }
    }

    /// Sets how many responses a first load elects in memory (about 150 bytes each) before it builds the key
    /// index and goes on through it. The default suits any machine; tests lower it to take the other path.
    #[doc(hidden)]
    pub fn set_first_load_response_limit(&mut self, responses: usize) {
        self.writer.set_response_limit(responses);
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        SqliteStore::meta_in(&self.conn, key)
    }

    pub(crate) fn meta_in(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
            row.get(0)
        })
        .optional()
        .map_err(backend)
    }

    pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )
        .map(|_| ())
        .map_err(backend)
    }
}

impl Store for SqliteStore {
    fn file_states(&self) -> Result<Vec<FileState>, StoreError> {
        files::file_states(&self.conn)
    }

    fn apply_batches(
        &mut self,
        batches: &mut dyn Iterator<Item = IngestBatch>,
        applied: &mut dyn FnMut(IngestBatch, BatchOutcome),
    ) -> Result<(), StoreError> {
        self.writer.apply_batches(&mut self.conn, batches, applied)
    }

    fn set_on_disk(&mut self, paths: &[String], on_disk: bool) -> Result<(), StoreError> {
        files::set_on_disk(&mut self.conn, &self.captures, paths, on_disk)
    }

    fn file_capturer(&mut self) -> Result<Option<Box<sessiondb_core::FileCapturer>>, StoreError> {
        Ok(capture::capturer(&self.captures)
            .map(|capture| Box::new(capture) as Box<sessiondb_core::FileCapturer>))
    }

    fn archive_captures(&mut self) -> Result<sessiondb_core::ArchiveReport, StoreError> {
        files::archive_captures(&mut self.conn, &self.captures)
    }

    fn begin_bulk_load(&mut self) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let empty: bool = tx
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM entries)", [], |row| {
                row.get(0)
            })
            .map_err(backend)?;
        if empty {
            for name in schema::BULK_INDEX_NAMES {
                tx.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))
                    .map_err(backend)?;
            }
            uuid_lookup::reset(&tx)?;
        }
        tx.commit().map_err(backend)?;
        self.writer.begin_bulk_load(empty);
        if empty {
            // A rollback journal writes each new page once; WAL writes it twice (log, then checkpoint). Pages
            // appended past the file's end need no journal, so on an empty database this is as crash-safe and
            // about a third faster. SQLite refuses the switch while another connection is open: then stay in WAL.
            self.rollback_journal = self.set_journal_mode("delete")? == "delete";
        }
        Ok(empty)
    }

    fn end_bulk_load(&mut self) -> Result<(), StoreError> {
        let uuid_pairs = self.writer.end_bulk_load();
        self.create_bulk_indexes(uuid_pairs)?;
        if std::mem::take(&mut self.rollback_journal) {
            let mode = self.set_journal_mode("wal")?;
            if mode != "wal" {
                // Harmless: the next open switches it back.
                tracing::warn!(
                    mode,
                    "could not return the database to WAL mode after a bulk load"
                );
            }
            return Ok(());
        }
        // Fold the load's large WAL into the database now, rather than on the next (small) sync.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(backend)
    }

    fn refresh_sessions(&mut self) -> Result<Vec<sessiondb_core::RefreshedSession>, StoreError> {
        refresh::refresh_sessions(&mut self.conn, self.writer.take_first_load_facts())
    }

    fn price_table_version(&self) -> Result<Option<String>, StoreError> {
        self.meta("price_table_version")
    }

    fn reprice(&mut self, version: &str, pricer: Pricer<'_>) -> Result<(), StoreError> {
        reprice::reprice(&mut self.conn, version, pricer)
    }

    fn record_sync(&mut self, finished_at_ms: i64) -> Result<(), StoreError> {
        SqliteStore::set_meta(&self.conn, "last_sync_ms", &finished_at_ms.to_string())
    }

    fn sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionSummary>, StoreError> {
        query::sessions(&self.conn, filter)
    }

    fn projects(&self) -> Result<Vec<sessiondb_core::ProjectSummary>, StoreError> {
        query::projects(&self.conn)
    }

    fn count_sessions(&self, filter: &SessionFilter) -> Result<u64, StoreError> {
        query::count_sessions(&self.conn, filter)
    }

    fn session(&self, session_id: &str) -> Result<Option<SessionDetail>, StoreError> {
        query::session(&self.conn, session_id)
    }

    fn session_ids_starting_with(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        query::session_ids_starting_with(&self.conn, prefix, limit)
    }

    fn search_prompts(&self, text: &str) -> Result<Vec<String>, StoreError> {
        query::search_prompts(&self.conn, text)
    }

    fn line_marker(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM entries", [], |row| {
                row.get(0)
            })
            .map_err(backend)
    }

    fn compacted_since(&self, marker: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT session_key FROM entries WHERE id > ?1 AND kind = 'system'
                 AND subtype = 'compact_boundary' AND session_key IS NOT NULL",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([marker], |row| row.get(0))
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn appended_since(&self, marker: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT session_key FROM entries WHERE id > ?1 AND session_key IS NOT NULL
                 ORDER BY session_key",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([marker], |row| row.get(0))
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn session_summary(&self, session_id: &str) -> Result<Option<SessionSummary>, StoreError> {
        query::session_summary(&self.conn, session_id)
    }

    fn session_links(&self, session_id: &str) -> Result<Vec<sessiondb_core::Link>, StoreError> {
        links::session_links(&self.conn, session_id)
    }

    fn usage_events(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
    ) -> Result<Vec<sessiondb_core::UsageEvent>, StoreError> {
        query::usage_events(&self.conn, since_ms, until_ms)
    }

    fn usage_buckets(
        &self,
        grouping: Grouping,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        query::usage_buckets(&self.conn, grouping, since_ms, until_ms)
    }

    fn session_raw_lines(&self, session_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let (_, lines) = query::session_raw_page(
            &self.conn,
            &self.captures,
            session_id,
            false,
            0,
            usize::MAX,
            None,
        )?;
        Ok(lines
            .into_iter()
            .filter_map(|line| match line {
                RawLine::Bytes(bytes) => Some(bytes),
                RawLine::TooLong { .. } | RawLine::Missing { .. } => None,
            })
            .collect())
    }

    fn session_raw_page(
        &self,
        session_id: &str,
        conversation_only: bool,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<RawLine>), StoreError> {
        query::session_raw_page(
            &self.conn,
            &self.captures,
            session_id,
            conversation_only,
            offset,
            limit,
            Some(sessiondb_core::MAX_LINE_BYTES as u64),
        )
    }

    fn record_transition(
        &mut self,
        key: &str,
        session_id: &str,
        source: &str,
        note: Option<&str>,
        at_ms: i64,
    ) -> Result<sessiondb_core::Transition, StoreError> {
        registry::record_transition(&mut self.conn, key, session_id, source, note, at_ms)
    }

    fn key_head(&self, key: &str) -> Result<Option<sessiondb_core::Transition>, StoreError> {
        registry::key_head(&self.conn, key)
    }

    fn transitions(
        &self,
        key: Option<&str>,
    ) -> Result<Vec<sessiondb_core::Transition>, StoreError> {
        registry::transitions(&self.conn, key)
    }

    fn prune_transitions(&mut self, before_ms: i64) -> Result<u64, StoreError> {
        registry::prune_transitions(&mut self.conn, before_ms)
    }

    fn doctor(&self, max_examples: usize) -> Result<DoctorReport, StoreError> {
        query::doctor(self, max_examples)
    }

    fn add_project(
        &mut self,
        name: &str,
        root: &str,
        source: &str,
        at_ms: i64,
    ) -> Result<sessiondb_core::WorkflowProject, StoreError> {
        workflow::add_project(&mut self.conn, name, root, source, at_ms)
    }

    fn remove_project(&mut self, root: &str) -> Result<bool, StoreError> {
        workflow::remove_project(&mut self.conn, root)
    }

    fn registered_projects(&self) -> Result<Vec<sessiondb_core::WorkflowProject>, StoreError> {
        workflow::registered_projects(&self.conn)
    }

    fn workflow_folder_states(
        &self,
        root: &str,
    ) -> Result<Vec<sessiondb_core::WorkflowFolderState>, StoreError> {
        workflow::folder_states(&self.conn, root)
    }

    fn apply_workflow_scan(
        &mut self,
        records: &[sessiondb_core::WorkflowRecord],
        gone: &[(String, String)],
    ) -> Result<(), StoreError> {
        workflow::apply_scan(&mut self.conn, records, gone)
    }

    fn workflow_sessions(
        &self,
        filter: &sessiondb_core::WorkflowFilter,
    ) -> Result<Vec<sessiondb_core::WorkflowRow>, StoreError> {
        workflow::sessions(&self.conn, filter)
    }

    fn workflow_session(
        &self,
        root: &str,
        slug: &str,
    ) -> Result<Option<(sessiondb_core::WorkflowRow, Option<String>)>, StoreError> {
        workflow::session(&self.conn, root, slug)
    }

    fn workflow_counts(&self) -> Result<Vec<sessiondb_core::WorkflowCounts>, StoreError> {
        workflow::counts(&self.conn)
    }
}
