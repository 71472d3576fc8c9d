//! An append-only log of JSON entries keyed by time and sequence: the shape
//! shared by the admin audit trail and the look-up audit. Entries are
//! written by the [`crate::ledger`] in the same batch as the change they
//! describe, keyed by the change's time and ledger position, so the same
//! entry has the same key on every appliance.

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::Micros;
use crate::store::{journal_key_time, Store, StoreError};

/// A time-keyed log in one column family.
#[derive(Debug)]
pub struct TimeLog {
    store: Store,
    cf: &'static str,
    what: &'static str,
}

/// Entries one change may add to one log.
pub const MAX_ENTRIES_PER_CHANGE: u64 = 256;

impl TimeLog {
    /// The log in column family `cf`; `what` names the records in
    /// corruption errors.
    pub fn open(store: Store, cf: &'static str, what: &'static str) -> Self {
        Self { store, cf, what }
    }

    /// Adds entry number `index` of ledger change `seq`, stamped `time`, to
    /// `batch`.
    pub fn stage<T: Serialize>(
        &self,
        batch: &mut WriteBatch,
        time: Micros,
        seq: u64,
        index: u64,
        entry: &T,
    ) -> Result<(), StoreError> {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&time.to_be_bytes());
        let n = seq
            .saturating_mul(MAX_ENTRIES_PER_CHANGE)
            .saturating_add(index.min(MAX_ENTRIES_PER_CHANGE - 1));
        key[8..].copy_from_slice(&n.to_be_bytes());
        let value =
            serde_json::to_vec(entry).map_err(|_| StoreError::Corrupt { what: self.what })?;
        batch.put_cf(self.store.cf(self.cf), key, value);
        Ok(())
    }

    /// Entries stamped in `[from, to)`, oldest first, at most `limit`.
    pub fn read<T: DeserializeOwned>(
        &self,
        from: Micros,
        to: Micros,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let start = from.to_be_bytes();
        for item in self.store.db().iterator_cf(
            self.store.cf(self.cf),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (k, v) = item?;
            if journal_key_time(&k).unwrap_or(0) >= to || out.len() >= limit {
                break;
            }
            out.push(
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt { what: self.what })?,
            );
        }
        Ok(out)
    }
}
