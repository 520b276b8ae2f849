//! The writer's hottest inserts (an `entries` row per transcript line, a `responses` row per API response) as
//! statements that borrow their text values.
//!
//! rusqlite binds every string with `SQLITE_TRANSIENT`: SQLite frees the parameter's previous buffer, allocates
//! a new one and copies the text, for each text column of each row; and a cached statement is found by hashing
//! its SQL on every use. Here the statement is prepared once per store, each value is bound with
//! `SQLITE_STATIC`, pointing at the caller's own string, and the statement is reset and its bindings cleared
//! before [`BorrowingInsert::run`] returns, while those strings are still borrowed: no pointer outlives the
//! call. As every parameter is NULL after that, a NULL value is not bound at all (a line has values for about
//! a third of its columns).

use rusqlite::ffi;
use rusqlite::Connection;
use sessiondb_core::StoreError;
use std::ffi::{c_int, CStr};
use std::ptr::NonNull;

/// One parameter value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
}

/// A prepared insert of one row, owned by (and only used with) the connection that prepared it.
pub(crate) struct BorrowingInsert {
    stmt: NonNull<ffi::sqlite3_stmt>,
    params: usize,
}

// SAFETY: the statement belongs to one connection and is only used through `&mut self` together with it; a
// rusqlite `Connection` may move between threads, and so may its statements.
unsafe impl Send for BorrowingInsert {}

impl BorrowingInsert {
    /// Prepares `sql` (an `INSERT` with `?1 ..= ?N` parameters) on `conn`. The statement must be dropped
    /// before `conn` is closed.
    pub(crate) fn prepare(conn: &Connection, sql: &str) -> Result<BorrowingInsert, StoreError> {
        let len = c_int::try_from(sql.len())
            .map_err(|_| StoreError::Backend("insert statement too long".into()))?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `conn.handle()` is the live connection; the SQL pointer and length describe `sql`; `stmt` is
        // a valid out-pointer. The statement is finalized in `Drop`.
        let rc = unsafe {
            let db = conn.handle();
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        let Some(stmt) = NonNull::new(stmt) else {
            return Err(StoreError::Backend(format!(
                "cannot prepare the entries insert: {} (code {rc})",
                // SAFETY: the connection is live.
                unsafe { error_message(conn.handle()) }
            )));
        };
        // SAFETY: `stmt` was just prepared.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) } as usize;
        Ok(BorrowingInsert { stmt, params })
    }

    /// Runs the statement with `values` for `?1 ..= ?N` and returns the rowid of the row it inserted, `None`
    /// when it inserted none (`ON CONFLICT DO NOTHING`). Must run on the connection that prepared the statement
    /// (inside its current transaction, if any).
    pub(crate) fn run(&mut self, values: &[Value<'_>]) -> Result<Option<i64>, StoreError> {
        if values.len() != self.params {
            return Err(StoreError::Backend(format!(
                "the insert takes {} values, got {}",
                self.params,
                values.len()
            )));
        }
        let stmt = self.stmt.as_ptr();
        let outcome = self.bind_and_step(values);
        // SAFETY: `stmt` is live. Reset and clear before returning, so no parameter keeps pointing into
        // `values` after this call.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        outcome
    }

    fn bind_and_step(&mut self, values: &[Value<'_>]) -> Result<Option<i64>, StoreError> {
        let stmt = self.stmt.as_ptr();
        for (i, value) in values.iter().enumerate() {
            let index = (i + 1) as c_int;
            // SAFETY: `stmt` is live and `index` is within its parameter count (checked above). A text is
            // bound with SQLITE_STATIC: it must stay valid until the statement is reset and its bindings
            // cleared, which `insert` does before `values`' borrow ends.
            let rc = unsafe {
                match *value {
                    // Every parameter is NULL here: a new statement's, and `insert` clears them after use.
                    Value::Null => continue,
                    Value::Int(v) => ffi::sqlite3_bind_int64(stmt, index, v),
                    Value::Real(v) => ffi::sqlite3_bind_double(stmt, index, v),
                    Value::Text(text) => ffi::sqlite3_bind_text64(
                        stmt,
                        index,
                        text.as_ptr().cast(),
                        text.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(self.error("bind", rc));
            }
        }
        // SAFETY: `stmt` is live with every parameter bound.
        match unsafe { ffi::sqlite3_step(stmt) } {
            ffi::SQLITE_DONE => {
                // SAFETY: the statement's connection is live.
                unsafe {
                    let db = ffi::sqlite3_db_handle(stmt);
                    Ok(
                        (ffi::sqlite3_changes64(db) > 0)
                            .then(|| ffi::sqlite3_last_insert_rowid(db)),
                    )
                }
            }
            rc => Err(self.error("insert", rc)),
        }
    }

    fn error(&self, what: &str, rc: c_int) -> StoreError {
        // SAFETY: the statement and its connection are live.
        let message = unsafe { error_message(ffi::sqlite3_db_handle(self.stmt.as_ptr())) };
        StoreError::Backend(format!("{what} failed: {message} (code {rc})"))
    }
}

/// The connection's last error message.
///
/// # Safety
/// `db` must be a live connection.
unsafe fn error_message(db: *mut ffi::sqlite3) -> String {
    let message = ffi::sqlite3_errmsg(db);
    if message.is_null() {
        return "unknown error".into();
    }
    CStr::from_ptr(message).to_string_lossy().into_owned()
}

impl Drop for BorrowingInsert {
    fn drop(&mut self) {
        // SAFETY: the statement is live and finalized once; its connection outlives it (see `prepare`).
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_borrowed_values_reports_constraint_errors_and_conflicts() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL, b INTEGER, c REAL)",
        )
        .unwrap();
        let mut insert =
            BorrowingInsert::prepare(&conn, "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)").unwrap();
        for i in 0..3 {
            // A fresh string each time, dropped right after the call: the row must hold its own copy.
            let text = format!("line {i} with ünïcode");
            let id = insert
                .run(&[Value::Text(&text), Value::Int(i), Value::Real(0.5)])
                .unwrap();
            assert_eq!(id, Some(i + 1));
        }
        let rows: Vec<(String, Option<i64>)> = conn
            .prepare("SELECT a, b FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows[2], ("line 2 with ünïcode".to_owned(), Some(2)));

        let err = insert
            .run(&[Value::Null, Value::Null, Value::Null])
            .unwrap_err();
        assert!(err.to_string().contains("NOT NULL"), "{err}");
        // The statement is usable again after a failure.
        assert_eq!(
            insert
                .run(&[Value::Text(""), Value::Null, Value::Null])
                .unwrap(),
            Some(4)
        );
        assert!(insert.run(&[Value::Null]).is_err(), "wrong arity");

        // A conflict that inserts nothing says so.
        conn.execute_batch("CREATE TABLE k (key TEXT PRIMARY KEY)")
            .unwrap();
        let mut claim = BorrowingInsert::prepare(
            &conn,
            "INSERT INTO k (key) VALUES (?1) ON CONFLICT (key) DO NOTHING",
        )
        .unwrap();
        assert!(claim.run(&[Value::Text("a")]).unwrap().is_some());
        assert_eq!(claim.run(&[Value::Text("a")]).unwrap(), None);
    }
}
