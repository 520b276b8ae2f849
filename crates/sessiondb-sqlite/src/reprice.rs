//! Recomputing every stored cost when the price table changes.

use crate::backend;
use crate::columns::price_columns;
use rusqlite::{params, Connection};
use sessiondb_core::{Pricer, StoreError};
use sessiondb_pricing::TokenCounts;

pub(crate) fn reprice(
    conn: &mut Connection,
    version: &str,
    pricer: Pricer<'_>,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    for table in ["entries", "responses"] {
        let select = if table == "entries" {
            "SELECT id, model, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                    cache_read_tokens FROM entries WHERE model IS NOT NULL"
        } else {
            "SELECT rowid, model, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                    cache_read_tokens FROM responses"
        };
        let update = if table == "entries" {
            "UPDATE entries SET cost_usd = ?2, price_state = ?3 WHERE id = ?1"
        } else {
            "UPDATE responses SET cost_usd = ?2, price_state = ?3 WHERE rowid = ?1"
        };
        let rows: Vec<(i64, String, TokenCounts)> = {
            let mut stmt = tx.prepare(select).map_err(backend)?;
            let rows = stmt
                .query_map([], |row| {
                    let get = |i: usize| -> rusqlite::Result<u64> {
                        Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
                    };
                    Ok((
                        row.get(0)?,
                        row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        TokenCounts {
                            input: get(2)?,
                            output: get(3)?,
                            cache_write_5m: get(4)?,
                            cache_write_1h: get(5)?,
                            cache_read: get(6)?,
                        },
                    ))
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        let mut stmt = tx.prepare(update).map_err(backend)?;
        for (id, model, tokens) in rows {
            let (usd, state) = price_columns(pricer(&model, &tokens));
            stmt.execute(params![id, usd, state]).map_err(backend)?;
        }
    }
    tx.execute(
        "INSERT INTO dirty_sessions (session_key) SELECT session_key FROM sessions WHERE true
         ON CONFLICT (session_key) DO NOTHING",
        [],
    )
    .map_err(backend)?;
    crate::SqliteStore::set_meta(&tx, "price_table_version", version)?;
    tx.commit().map_err(backend)
}
