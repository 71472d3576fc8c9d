//! The admin audit trail: who (certificate identity and role), what, when.
//!
//! Entries name records by id (card 12, holder 7, level `labs`), never by
//! access number or personal data. Written synchronously before the change
//! is acknowledged; readable by the auditor role.

use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{Direction, IteratorMode, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros, SharedClock};
use crate::identity::Identity;
use crate::store::{cf, Store, StoreError};

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When (RFC 3339).
    pub time: String,
    /// Microseconds since the epoch.
    pub time_us: Micros,
    /// Who: certificate common name.
    pub who: String,
    /// Their role.
    pub role: String,
    /// What was done, e.g. `card.revoke`.
    pub action: String,
    /// What it was done to, e.g. `card:12`.
    pub target: String,
    /// Non-personal detail (field names changed, levels assigned, ...).
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// The audit log.
#[derive(Debug)]
pub struct AuditLog {
    store: Store,
    clock: SharedClock,
    seq: AtomicU64,
}

impl AuditLog {
    /// Opens the log; sequence numbers continue from the last entry.
    pub fn open(store: Store, clock: SharedClock) -> Result<Self, StoreError> {
        let mut seq = 0;
        if let Some(item) = store
            .db()
            .iterator_cf(store.cf(cf::AUDIT), IteratorMode::End)
            .next()
        {
            let (k, _) = item?;
            if k.len() == 16 {
                seq = u64::from_be_bytes(k[8..16].try_into().unwrap_or([0; 8]));
            }
        }
        Ok(Self {
            store,
            clock,
            seq: AtomicU64::new(seq + 1),
        })
    }

    /// Records an action (synchronously durable).
    pub fn record(
        &self,
        who: &Identity,
        action: &str,
        target: String,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_micros();
        let entry = AuditEntry {
            time: rfc3339(now),
            time_us: now,
            who: who.name.clone(),
            role: who.role.as_str().to_owned(),
            action: action.to_owned(),
            target,
            detail,
        };
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&now.to_be_bytes());
        key[8..].copy_from_slice(&seq.to_be_bytes());
        let mut w = WriteOptions::default();
        w.set_sync(true);
        let value =
            serde_json::to_vec(&entry).map_err(|_| StoreError::Corrupt { what: "audit" })?;
        self.store
            .db()
            .put_cf_opt(self.store.cf(cf::AUDIT), key, value, &w)?;
        Ok(())
    }

    /// Entries in `[from, to)`, oldest first, at most `limit`.
    pub fn read(
        &self,
        from: Micros,
        to: Micros,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::new();
        let start = from.to_be_bytes();
        for item in self.store.db().iterator_cf(
            self.store.cf(cf::AUDIT),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (k, v) = item?;
            let t = crate::store::journal_key_time(&k).unwrap_or(0);
            if t >= to || out.len() >= limit {
                break;
            }
            out.push(
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt { what: "audit" })?,
            );
        }
        Ok(out)
    }
}
