//! A first load's own state, from `begin_bulk_load` to its refresh: what the writer does differently when the
//! database was empty.
//!
//! - Responses are elected in memory ([`HeldResponses`]) rather than through `responses_key`, which the load
//!   builds at its end with the other lookup indexes.
//! - Each line's uuid is kept ([`UuidPairs`]) rather than written to `entry_uuids` row by row: the end of the
//!   load sorts them and fills the table in one pass.
//! - Each session's facts and each elected response's usage are gathered as they are written
//!   ([`FirstLoadFacts`]), so the refresh inserts them instead of running its aggregates.
//!
//! The writer (`write::Writer`) holds one while a load is under way; everything else about a batch is the same on
//! both paths.

use crate::columns::KeyHashing;
use crate::election::{
    response_key_index_exists, upsert_response, Candidate, HeldElection, HeldResponses,
    ResponseInserts,
};
use crate::first_load::FirstLoadFacts;
use crate::uuid_lookup::UuidPairs;
use rusqlite::Transaction;
use sessiondb_core::{IndexedLine, StoreError};
use std::collections::HashSet;

/// A first load under way (see the module doc).
#[derive(Debug)]
pub(crate) struct BulkLoad {
    /// The load's responses by key, while it elects them in memory; `None` once election went to the key index.
    held: Option<HeldResponses>,
    /// The uuid of every line the load wrote, for `entry_uuids` (see [`crate::uuid_lookup`]).
    uuids: UuidPairs,
    facts: FirstLoadFacts,
}

impl BulkLoad {
    /// A load that holds up to `response_limit` responses in memory before it builds the key index.
    pub(crate) fn new(response_limit: usize) -> BulkLoad {
        BulkLoad {
            held: Some(HeldResponses::with_limit(response_limit)),
            uuids: UuidPairs::default(),
            facts: FirstLoadFacts::default(),
        }
    }

    /// At the start of each write transaction of the load.
    pub(crate) fn begin_transaction(&mut self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        // Only another sync builds the key index while this load holds responses in memory, and it may have
        // changed rows this load holds since its last transaction: from now on the index decides.
        if self.held.is_some() && response_key_index_exists(tx)? {
            tracing::debug!("another sync built the response key index: electing through it");
            self.held = None;
        }
        // Pairs of a transaction that did not commit.
        self.uuids.roll_back();
        Ok(())
    }

    /// After a write transaction of the load committed.
    pub(crate) fn committed(&mut self) {
        self.uuids.commit();
    }

    /// Takes in one line just inserted as `entry_id` from the file at `path`.
    pub(crate) fn observe(&mut self, entry_id: i64, line: &IndexedLine, path: &str) {
        self.uuids.push(entry_id, line.entry.uuid.as_deref());
        self.facts.observe(entry_id, line, path);
    }

    /// Elects `candidate` for `key`: in memory while the load holds its responses, else through the key index
    /// (see [`upsert_response`]); the winner's usage goes into the load's facts.
    pub(crate) fn elect(
        &mut self,
        tx: &Transaction<'_>,
        inserts: &mut ResponseInserts,
        key: &str,
        candidate: &Candidate<'_>,
        dirty: &mut HashSet<String, KeyHashing>,
    ) -> Result<(), StoreError> {
        if let Some(held) = self.held.as_mut() {
            match held.elect(tx, inserts, key, candidate)? {
                HeldElection::Lost => return Ok(()),
                HeldElection::Won(rowid) => {
                    self.facts.elect(rowid, candidate.elected());
                    return Ok(());
                }
                // Left to the key index from here on (`HeldResponses::elect` says why).
                HeldElection::HandOff => self.held = None,
            }
        }
        if let Some(rowid) = upsert_response(tx, inserts, key, candidate, dirty)? {
            self.facts.elect(rowid, candidate.elected());
        }
        Ok(())
    }

    /// The load's end: its uuid pairs for `entry_uuids`, and its facts for the refresh that follows.
    pub(crate) fn finish(self) -> (UuidPairs, FirstLoadFacts) {
        (self.uuids, self.facts)
    }
}
