//! The look-up audit: every read of the decision journal — who, role,
//! purpose, ticket or case, scope, records returned, outcome, time —
//! written durably (through the [`crate::ledger`]) before the answer
//! leaves, readable by auditors. It holds
//! card, door and reader ids, never access numbers or personal data.

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros};
use crate::pki::identity::Identity;
use crate::store::timelog::TimeLog;
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

impl Lookup {
    /// A look-up by `who` at `now`.
    pub fn new(
        now: Micros,
        who: &Identity,
        purpose: Purpose,
        reference: &str,
        scope: String,
        returned: usize,
        outcome: &str,
    ) -> Self {
        Lookup {
            time: rfc3339(now),
            who: who.name.clone(),
            role: who.role.as_str().to_owned(),
            purpose,
            reference: reference.to_owned(),
            scope,
            returned,
            outcome: outcome.to_owned(),
        }
    }
}

/// The look-up log.
#[derive(Debug)]
pub struct LookupLog {
    log: TimeLog,
}

impl LookupLog {
    /// The log over the shared store.
    pub fn open(store: Store) -> Self {
        Self {
            log: TimeLog::open(store, cf::LOOKUPS, "lookup"),
        }
    }

    /// The log underneath (the ledger stages entries into it).
    pub fn log(&self) -> &TimeLog {
        &self.log
    }

    /// Entries from `from` (µs), oldest first, at most `limit`.
    pub fn read(&self, from: Micros, limit: usize) -> Result<Vec<Lookup>, StoreError> {
        self.log.read(from, Micros::MAX, limit)
    }
}
