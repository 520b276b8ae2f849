//! `entry_uuids`: how `entries` rows are found by uuid.
//!
//! A table of (the uuid's first 8 characters, entry id), keyed by both, stands in for an index on
//! `entries`: every lookup names the full uuid too (`same_uuid!`), so a shared prefix costs a row check, never
//! a wrong match. It is a table and not an index because a first load can then fill it from pairs it sorted
//! itself, which SQLite writes in key order in one pass. As an index on `entries` it was built by sorting 430,000
//! random keys in SQLite's sorter after the load: 0.27-0.3 s of a 1 GiB first load, the costliest step after
//! the load itself. Incremental syncs add a row per line with a uuid, in the transaction that adds the line.
//!
//! A first load writes no rows until its end (it keeps the pairs of committed transactions meanwhile), so the
//! table can lag `entries`: the `meta` key [`THROUGH_KEY`] holds the highest entry id up to which every line
//! with a uuid has its row. Open fills whatever lies past it (a first load that was killed), a first load
//! fills its own pairs at its end and then the ids between its own transactions (lines another writer added
//! meanwhile), and every other transaction that looks lines up by uuid first fills what lies past the mark
//! ([`catch_up`]: a first load under way in another process), then keeps the table complete. A row already
//! there is ignored, so any fill can be repeated.

use crate::backend;
use rusqlite::Connection;
use sessiondb_core::StoreError;

/// The `meta` key of the highest entry id covered by `entry_uuids`.
pub(crate) const THROUGH_KEY: &str = "entry_uuids_through";

/// Adds the row of one new line (`?1` its uuid, `?2` its id).
pub(crate) const INSERT_ONE_SQL: &str =
    "INSERT OR IGNORE INTO entry_uuids (uuid_prefix, entry_id) VALUES (substr(?1, 1, 8), ?2)";

/// Removes the rows of file `?1`'s lines; run before they are deleted (the same selection as
/// `purge::DELETE_FILE_ENTRIES_SQL`).
pub(crate) const DELETE_FILE_ROWS_SQL: &str = "DELETE FROM entry_uuids WHERE (uuid_prefix, entry_id) IN (
        SELECT substr(uuid, 1, 8), id FROM entries WHERE file_id = ?1 AND uuid IS NOT NULL
          AND (session_key IN (SELECT session_key FROM session_files WHERE file_id = ?1) OR session_key IS NULL))";

/// Fills the rows of the lines with ids between `?1` and `?2` (both excluded) from `entries` (SQLite sorts them).
const FILL_FROM_ENTRIES_SQL: &str = "INSERT OR IGNORE INTO entry_uuids (uuid_prefix, entry_id)
     SELECT substr(uuid, 1, 8), id FROM entries WHERE id > ?1 AND id < ?2 AND uuid IS NOT NULL ORDER BY 1, 2";

/// Rows per statement when a first load writes its pairs: one step inserts this many.
const ROWS_PER_INSERT: usize = 256;

/// The most pairs a first load keeps (16 bytes each: 32 MiB, about 5 GiB of transcripts). Past it the load
/// drops them and its end fills `entry_uuids` from `entries` instead, which SQLite sorts (slower, in bounded
/// memory).
const MAX_PAIRS: usize = 1 << 21;

/// The pairs a first load collects, to be written at its end.
#[derive(Debug)]
pub(crate) struct UuidPairs {
    /// Uuids whose first 8 characters are ASCII, as those 8 bytes big-endian (their order is the order of the
    /// text), with the entry id.
    ascii: Vec<(u64, i64)>,
    /// Any other uuid's prefix (shorter, or not ASCII), with the entry id: rare, written one by one.
    other: Vec<(String, i64)>,
    /// How many of `ascii` and `other` belong to committed transactions; the rest may be rolled back.
    committed: (usize, usize),
    /// The first and last entry id of each committed transaction: every line in between is the load's own (no
    /// one else writes during a transaction), so ids outside them are lines another writer added.
    ranges: Vec<(i64, i64)>,
    /// The same for the transaction under way.
    pending_range: Option<(i64, i64)>,
    /// More than `limit` pairs came: none are kept, nor any range, so `complete` fills every line from `entries`.
    overflowed: bool,
    limit: usize,
}

impl Default for UuidPairs {
    fn default() -> Self {
        UuidPairs::with_limit(MAX_PAIRS)
    }
}

impl UuidPairs {
    pub(crate) fn with_limit(limit: usize) -> UuidPairs {
        UuidPairs {
            ascii: Vec::new(),
            other: Vec::new(),
            committed: (0, 0),
            ranges: Vec::new(),
            pending_range: None,
            overflowed: false,
            limit,
        }
    }

    /// Notes the line `entry_id`, with its uuid if it has one, in the transaction under way.
    pub(crate) fn push(&mut self, entry_id: i64, uuid: Option<&str>) {
        if self.overflowed {
            return;
        }
        self.pending_range = Some(match self.pending_range {
            Some((first, last)) => (first.min(entry_id), last.max(entry_id)),
            None => (entry_id, entry_id),
        });
        let Some(uuid) = uuid else { return };
        if self.ascii.len() + self.other.len() >= self.limit {
            tracing::debug!(
                pairs = self.limit,
                "too many uuid pairs to keep: entry_uuids will be filled from entries"
            );
            *self = UuidPairs {
                overflowed: true,
                ..UuidPairs::with_limit(self.limit)
            };
            return;
        }
        match uuid.as_bytes().get(..8) {
            Some(head) if head.is_ascii() => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(head);
                self.ascii.push((u64::from_be_bytes(bytes), entry_id));
            }
            _ => self.other.push((uuid.chars().take(8).collect(), entry_id)),
        }
    }

    /// The transaction under way committed: its pairs are kept.
    pub(crate) fn commit(&mut self) {
        self.committed = (self.ascii.len(), self.other.len());
        self.ranges.extend(self.pending_range.take());
    }

    /// The transaction under way did not commit: its pairs are dropped.
    pub(crate) fn roll_back(&mut self) {
        self.ascii.truncate(self.committed.0);
        self.other.truncate(self.committed.1);
        self.pending_range = None;
    }

    /// Sorts the committed pairs in the table's key order (call off the writer's thread if it has other work).
    pub(crate) fn sort(&mut self) {
        self.roll_back();
        self.ascii.sort_unstable();
    }
}

/// The highest entry id `entry_uuids` covers.
fn through(conn: &Connection) -> Result<i64, StoreError> {
    let value = crate::SqliteStore::meta_in(conn, THROUGH_KEY)?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

fn set_through(conn: &Connection, id: i64) -> Result<(), StoreError> {
    crate::SqliteStore::set_meta(conn, THROUGH_KEY, &id.to_string())
}

/// The highest entry id in use (0 when `entries` is empty).
pub(crate) fn last_entry_id(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM entries", [], |row| {
        row.get(0)
    })
    .map_err(backend)
}

/// Whether every line up to `last_id` has its row.
pub(crate) fn is_complete(conn: &Connection, last_id: i64) -> Result<bool, StoreError> {
    Ok(through(conn)? >= last_id)
}

/// Fills the rows of the lines past the mark, if any, before a transaction looks lines up by uuid: another
/// process's first load may be under way, its lines committed but their rows not yet written. Call under the
/// write lock. Returns the rows written (none when the table is complete, as it nearly always is).
pub(crate) fn catch_up(conn: &Connection) -> Result<usize, StoreError> {
    if is_complete(conn, last_entry_id(conn)?)? {
        return Ok(0);
    }
    complete(conn, None)
}

/// Records that every line up to `last_id` has its row.
pub(crate) fn mark_complete(conn: &Connection, last_id: i64) -> Result<(), StoreError> {
    set_through(conn, last_id)
}

/// A first load starts on an empty `entries`: nothing is covered yet. (A purge deletes the rows of the lines it
/// deletes, so the table is empty too; emptied anyway, as ids start again from 1.)
pub(crate) fn reset(conn: &Connection) -> Result<(), StoreError> {
    conn.execute("DELETE FROM entry_uuids", [])
        .map_err(backend)?;
    set_through(conn, 0)
}

/// Makes `entry_uuids` cover every line: writes a first load's `pairs` (sorted with [`UuidPairs::sort`]), then
/// fills from `entries` the lines past the mark that the pairs do not account for: all of a killed first load's
/// lines, or those another writer added during this one. Returns the rows written.
pub(crate) fn complete(conn: &Connection, pairs: Option<&UuidPairs>) -> Result<usize, StoreError> {
    let last_id = last_entry_id(conn)?;
    let through = through(conn)?;
    if through >= last_id {
        return Ok(0);
    }
    let mut written = 0;
    let mut covered = Vec::new();
    if let Some(pairs) = pairs {
        written += write_pairs(conn, pairs)?;
        covered.extend_from_slice(&pairs.ranges);
    }
    covered.sort_unstable();
    // Every id up to `reach` is covered; fill the gaps between the load's own runs of ids.
    let mut reach = through;
    let mut fill = |after: i64, before: i64| -> Result<(), StoreError> {
        written += conn
            .prepare_cached(FILL_FROM_ENTRIES_SQL)
            .map_err(backend)?
            .execute([after, before])
            .map_err(backend)?;
        Ok(())
    };
    for (first, last) in covered {
        if first > reach + 1 {
            fill(reach, first)?;
        }
        reach = reach.max(last);
    }
    if reach < last_id {
        fill(reach, last_id + 1)?;
    }
    set_through(conn, last_id)?;
    Ok(written)
}

/// Inserts sorted pairs, [`ROWS_PER_INSERT`] rows per statement.
fn write_pairs(conn: &Connection, pairs: &UuidPairs) -> Result<usize, StoreError> {
    let values = |rows: usize| {
        let mut sql =
            String::from("INSERT OR IGNORE INTO entry_uuids (uuid_prefix, entry_id) VALUES ");
        for row in 0..rows {
            if row > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("(?{}, ?{})", 2 * row + 1, 2 * row + 2));
        }
        sql
    };
    let ascii = &pairs.ascii[..pairs.committed.0];
    let mut written = 0;
    for chunk in ascii.chunks(ROWS_PER_INSERT) {
        let mut stmt = conn.prepare_cached(&values(chunk.len())).map_err(backend)?;
        for (row, &(prefix, id)) in chunk.iter().enumerate() {
            let bytes = prefix.to_be_bytes();
            // ASCII by construction (see `UuidPairs::push`); SQLite copies the text as it binds it.
            let prefix =
                std::str::from_utf8(&bytes).map_err(|e| StoreError::Backend(e.to_string()))?;
            stmt.raw_bind_parameter(2 * row + 1, prefix)
                .map_err(backend)?;
            stmt.raw_bind_parameter(2 * row + 2, id).map_err(backend)?;
        }
        written += stmt.raw_execute().map_err(backend)?;
    }
    let mut one = conn
        .prepare_cached("INSERT OR IGNORE INTO entry_uuids (uuid_prefix, entry_id) VALUES (?1, ?2)")
        .map_err(backend)?;
    for (prefix, id) in &pairs.other[..pairs.committed.1] {
        written += one
            .execute(rusqlite::params![prefix, id])
            .map_err(backend)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_sort_as_sqlite_orders_the_prefixes() {
        let mut pairs = UuidPairs::default();
        for (uuid, id) in [
            ("b0000000-1", 1),
            ("a1234567-x", 2),
            ("a1234567-y", 0),
            ("9zzzzzzz", 3),
        ] {
            pairs.push(id, Some(uuid));
        }
        pairs.commit();
        pairs.push(9, Some("ffffffff-rolled-back"));
        pairs.sort();
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT column1 FROM (VALUES ('b0000000'), ('a1234567'), ('9zzzzzzz')) ORDER BY 1",
            )
            .unwrap();
        let sqlite_order: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let ours: Vec<(String, i64)> = pairs
            .ascii
            .iter()
            .map(|&(p, id)| (String::from_utf8(p.to_be_bytes().to_vec()).unwrap(), id))
            .collect();
        assert_eq!(
            ours,
            vec![
                ("9zzzzzzz".to_owned(), 3),
                ("a1234567".to_owned(), 0),
                ("a1234567".to_owned(), 2),
                ("b0000000".to_owned(), 1)
            ]
        );
        let mut distinct: Vec<String> = ours.into_iter().map(|(p, _)| p).collect();
        distinct.dedup();
        assert_eq!(distinct, sqlite_order);
    }

    /// A database with just what `complete` reads and writes.
    fn lookup_db(lines: &[(i64, &str)]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE entries (id INTEGER PRIMARY KEY, uuid TEXT);
             CREATE TABLE entry_uuids (uuid_prefix TEXT NOT NULL, entry_id BIGINT NOT NULL,
                 PRIMARY KEY (uuid_prefix, entry_id)) WITHOUT ROWID;",
        )
        .unwrap();
        for (id, uuid) in lines {
            conn.execute(
                "INSERT INTO entries (id, uuid) VALUES (?1, ?2)",
                rusqlite::params![id, uuid],
            )
            .unwrap();
        }
        reset(&conn).unwrap();
        conn
    }

    /// The rows `entry_uuids` must hold for these (id, uuid) lines (ASCII uuids).
    fn rows_for(lines: &[(i64, &str)]) -> Vec<(String, i64)> {
        let mut rows: Vec<(String, i64)> = lines
            .iter()
            .map(|(id, uuid)| (uuid[..8].to_owned(), *id))
            .collect();
        rows.sort();
        rows
    }

    fn rows(conn: &Connection) -> Vec<(String, i64)> {
        let mut stmt = conn
            .prepare("SELECT uuid_prefix, entry_id FROM entry_uuids ORDER BY 1, 2")
            .unwrap();
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn a_load_fills_its_pairs_and_the_lines_others_wrote_between_its_transactions() {
        let lines = [
            (1, "aaaaaaaa-1"),
            (2, "bbbbbbbb-2"),
            (3, "cccccccc-3"),
            (4, "dddddddd-4"),
            (5, "eeeeeeee-5"),
        ];
        let conn = lookup_db(&lines);
        // This load wrote lines 1-2 and 5 in two transactions; 3 and 4 came from another writer.
        let mut pairs = UuidPairs::default();
        pairs.push(1, Some(lines[0].1));
        pairs.push(2, Some(lines[1].1));
        pairs.commit();
        pairs.push(5, Some(lines[4].1));
        pairs.commit();
        pairs.sort();
        assert_eq!(complete(&conn, Some(&pairs)).unwrap(), 5);
        assert_eq!(rows(&conn), rows_for(&lines));
        assert_eq!(through(&conn).unwrap(), 5);
        // Complete: nothing more to do.
        assert_eq!(complete(&conn, Some(&pairs)).unwrap(), 0);
    }

    #[test]
    fn a_load_with_more_pairs_than_it_may_keep_fills_the_table_from_entries() {
        let lines = [(1, "aaaaaaaa-1"), (2, "bbbbbbbb-2"), (3, "cccccccc-3")];
        let conn = lookup_db(&lines);
        let mut pairs = UuidPairs::with_limit(2);
        for (id, uuid) in lines {
            pairs.push(id, Some(uuid));
        }
        pairs.commit();
        assert!(pairs.overflowed && pairs.ascii.is_empty(), "{pairs:?}");
        pairs.sort();
        assert_eq!(complete(&conn, Some(&pairs)).unwrap(), 3);
        assert_eq!(rows(&conn), rows_for(&lines));
    }

    #[test]
    fn short_and_non_ascii_uuids_keep_sqlites_prefix() {
        let mut pairs = UuidPairs::default();
        pairs.push(1, Some("abc"));
        pairs.push(2, Some("ééééééééé-long"));
        pairs.commit();
        let conn = Connection::open_in_memory().unwrap();
        for (prefix, id) in &pairs.other {
            let uuid = if *id == 1 {
                "abc"
            } else {
                "ééééééééé-long"
            };
            let expected: String = conn
                .query_row("SELECT substr(?1, 1, 8)", [uuid], |row| row.get(0))
                .unwrap();
            assert_eq!(prefix, &expected);
        }
        assert_eq!(pairs.other.len(), 2);
        assert!(pairs.ascii.is_empty());
    }
}
