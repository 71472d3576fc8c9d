//! The look-up audit: every read of the decision journal — who, role,
//! purpose, ticket or case, scope, records returned, outcome, time —
//! written durably before the answer leaves, readable by auditors. It holds
//! card, door and reader ids, never access numbers or personal data.

use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{Direction, IteratorMode, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros, SharedClock};
use crate::identity::Identity;
use crate::store::{cf, Store, StoreError};

/// Why the journal was read. The only two uses the office's policy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Troubleshooting readers, doors or cards (security and card office).
    AccessResolution,
    /// A criminal investigation, under a request signed by the chief of
    /// police.
    Exploratory,
    /// A photo released to police under a signed request.
    ExploratoryPhoto,
}

impl Purpose {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::AccessResolution => "access_resolution",
            Purpose::Exploratory => "exploratory",
            Purpose::ExploratoryPhoto => "exploratory_photo",
        }
    }
}

/// One look-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// When (RFC 3339).
    pub time: String,
    /// Certificate common name.
    pub who: String,
    /// Role.
    pub role: String,
    /// Purpose.
    pub purpose: Purpose,
    /// Ticket (access resolution) or case number (exploratory).
    pub reference: String,
    /// What was asked for: `card:12`, `door:4`, `reader:2`, `holder:7`,
    /// with the time window.
    pub scope: String,
    /// Records (or photos) returned.
    pub returned: usize,
    /// `ok`, or why it was refused.
    pub outcome: String,
}

/// The look-up log.
#[derive(Debug)]
pub struct LookupLog {
    store: Store,
    clock: SharedClock,
    seq: AtomicU64,
}

impl LookupLog {
    /// Opens the log.
    pub fn open(store: Store, clock: SharedClock) -> Result<Self, StoreError> {
        let mut seq = 0;
        if let Some(item) = store
            .db()
            .iterator_cf(store.cf(cf::LOOKUPS), IteratorMode::End)
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

    /// Records a look-up durably.
    pub fn record(
        &self,
        who: &Identity,
        purpose: Purpose,
        reference: &str,
        scope: String,
        returned: usize,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let now: Micros = self.clock.now_micros();
        let entry = Lookup {
            time: rfc3339(now),
            who: who.name.clone(),
            role: who.role.as_str().to_owned(),
            purpose,
            reference: reference.to_owned(),
            scope,
            returned,
            outcome: outcome.to_owned(),
        };
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&now.to_be_bytes());
        key[8..].copy_from_slice(&seq.to_be_bytes());
        let mut w = WriteOptions::default();
        w.set_sync(true);
        let v = serde_json::to_vec(&entry).map_err(|_| StoreError::Corrupt { what: "lookup" })?;
        self.store
            .db()
            .put_cf_opt(self.store.cf(cf::LOOKUPS), key, v, &w)?;
        Ok(())
    }

    /// Entries from `from` (µs), oldest first, at most `limit`.
    pub fn read(&self, from: Micros, limit: usize) -> Result<Vec<Lookup>, StoreError> {
        let start = from.to_be_bytes();
        let mut out = Vec::new();
        for item in self.store.db().iterator_cf(
            self.store.cf(cf::LOOKUPS),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            if out.len() >= limit {
                break;
            }
            let (_, v) = item?;
            out.push(
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt { what: "lookup" })?,
            );
        }
        Ok(out)
    }
}
