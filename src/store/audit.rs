//! The admin audit trail: who (certificate identity and role), what, when.
//!
//! Entries name records by id (card 12, holder 7, level `labs`), never by
//! access number or personal data. Each entry is written in the same atomic
//! batch as the change it records (see [`crate::ledger`]), so no committed
//! change lacks its entry; read-only operations that touch personal data
//! (viewing a record or a photo) are recorded too. Readable by auditors.

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros};
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
    /// What was done: the operation's name, e.g. `card.revoke`.
    pub action: String,
    /// What it was done to, e.g. `card:12`.
    pub target: String,
    /// Non-personal detail (field names changed, levels assigned, ...).
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// An entry for `who` doing `action` to `target` at `now`.
    pub fn new(
        now: Micros,
        who: &Identity,
        action: &str,
        target: String,
        detail: serde_json::Value,
    ) -> Self {
        AuditEntry {
            time: rfc3339(now),
            time_us: now,
            who: who.name.clone(),
            role: who.role.as_str().to_owned(),
            action: action.to_owned(),
            target,
            detail,
        }
    }
}

/// The audit log.
#[derive(Debug)]
pub struct AuditLog {
    log: TimeLog,
}

impl AuditLog {
    /// The log over the shared store.
    pub fn open(store: Store) -> Self {
        Self {
            log: TimeLog::open(store, cf::AUDIT, "audit"),
        }
    }

    /// The log underneath (the ledger stages entries into it).
    pub fn log(&self) -> &TimeLog {
        &self.log
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
