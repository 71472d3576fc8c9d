//! The notification outbox: things an operator must tell a person (a photo
//! released under legal process) or send (key orders ready), worked
//! through and marked done.
//!
//! Stored in the `investigations` column family as `outbox/<id>`, where the
//! id is the creation time and the ledger position, so ids sort by time and
//! are the same on every appliance.

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros};
use crate::store::{cf, Store, StoreError};

/// A notification an operator must act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Id (for marking it done).
    pub id: String,
    /// When it was created.
    pub created: String,
    /// The cardholder to inform.
    pub holder: u64,
    /// The police case.
    pub case_number: String,
    /// What to do.
    pub action: String,
    /// Whether an operator marked it done.
    pub done: bool,
}

impl Notification {
    /// A new, open notification created at `now`, the `n`-th of its change.
    pub fn new(now: Micros, n: u64, holder: u64, case_number: &str, action: &str) -> Self {
        Notification {
            id: format!("{now:016x}{n:08x}"),
            created: rfc3339(now),
            holder,
            case_number: case_number.to_owned(),
            action: action.to_owned(),
            done: false,
        }
    }
}

fn bad() -> StoreError {
    StoreError::Corrupt {
        what: "notification",
    }
}

/// Every notification, oldest first.
pub fn list(store: &Store) -> Result<Vec<Notification>, StoreError> {
    let mut out = Vec::new();
    for item in store.db().iterator_cf(
        store.cf(cf::INVESTIGATIONS),
        IteratorMode::From(b"outbox/", Direction::Forward),
    ) {
        let (k, v) = item?;
        if !k.starts_with(b"outbox/") {
            break;
        }
        out.push(serde_json::from_slice(&v).map_err(|_| bad())?);
    }
    Ok(out)
}

/// One notification.
pub fn get(store: &Store, id: &str) -> Result<Option<Notification>, StoreError> {
    match store
        .db()
        .get_cf(store.cf(cf::INVESTIGATIONS), format!("outbox/{id}"))?
    {
        Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(|_| bad())?)),
        None => Ok(None),
    }
}

/// Adds a notification (new or updated) to `batch`.
pub fn stage(store: &Store, batch: &mut WriteBatch, n: &Notification) -> Result<(), StoreError> {
    let v = serde_json::to_vec(n).map_err(|_| bad())?;
    batch.put_cf(store.cf(cf::INVESTIGATIONS), format!("outbox/{}", n.id), v);
    Ok(())
}
