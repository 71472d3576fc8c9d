//! An append-only log of JSON entries keyed by time and sequence, written
//! synchronously: the shape shared by the admin audit trail and the look-up
//! audit.

use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{Direction, IteratorMode, WriteOptions};
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
    seq: AtomicU64,
}

impl TimeLog {
    /// Opens the log in column family `cf`; sequence numbers continue from
    /// the last entry. `what` names the records in corruption errors.
    pub fn open(store: Store, cf: &'static str, what: &'static str) -> Result<Self, StoreError> {
        let mut seq = 0;
        if let Some(item) = store
            .db()
            .iterator_cf(store.cf(cf), IteratorMode::End)
            .next()
        {
            let (k, _) = item?;
            if let Some(s) = k.get(8..16).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                seq = u64::from_be_bytes(s);
            }
        }
        Ok(Self {
            store,
            cf,
            what,
            seq: AtomicU64::new(seq + 1),
        })
    }

    /// Appends an entry stamped `now`, durable before this returns.
    pub fn append<T: Serialize>(&self, now: Micros, entry: &T) -> Result<(), StoreError> {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&now.to_be_bytes());
        key[8..].copy_from_slice(&seq.to_be_bytes());
        let value =
            serde_json::to_vec(entry).map_err(|_| StoreError::Corrupt { what: self.what })?;
        let mut w = WriteOptions::default();
        w.set_sync(true);
        self.store
            .db()
            .put_cf_opt(self.store.cf(self.cf), key, value, &w)?;
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
