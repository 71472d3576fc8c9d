//! The admin audit trail: who (certificate identity and role), what, when.
//!
//! Entries name records by id (card 12, holder 7, level `labs`), never by
//! access number or personal data. Written synchronously before the change
//! is acknowledged; readable by the auditor role.

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros, SharedClock};
use crate::pki::identity::Identity;
use crate::store::timelog::TimeLog;
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
    log: TimeLog,
    clock: SharedClock,
}

impl AuditLog {
    /// Opens the log; sequence numbers continue from the last entry.
    pub fn open(store: Store, clock: SharedClock) -> Result<Self, StoreError> {
        Ok(Self {
            log: TimeLog::open(store, cf::AUDIT, "audit")?,
            clock,
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
        self.log.append(
            now,
            &AuditEntry {
                time: rfc3339(now),
                time_us: now,
                who: who.name.clone(),
                role: who.role.as_str().to_owned(),
                action: action.to_owned(),
                target,
                detail,
            },
        )
    }

    /// Entries in `[from, to)`, oldest first, at most `limit`.
    pub fn read(
        &self,
        from: Micros,
        to: Micros,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.log.read(from, to, limit)
    }
}
