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

/// Attempts to send an e-mail before the appliance stops and leaves it to
/// the office (shown as failed, marked done by hand).
pub const MAX_MAIL_ATTEMPTS: u32 = 20;

/// A notification an operator must act on, or an e-mail the appliance
/// sends itself (a key order ready, keys to be returned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Id (for marking it done).
    pub id: String,
    /// When it was created.
    pub created: String,
    /// The cardholder to inform (0: the notice is about no cardholder).
    #[serde(default)]
    pub holder: u64,
    /// The police case (empty: none).
    #[serde(default)]
    pub case_number: String,
    /// What to do.
    pub action: String,
    /// Whether an operator marked it done (or, for an e-mail, it was sent).
    pub done: bool,
    /// The e-mail the appliance sends for it, if it sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<Mail>,
}

/// An e-mail in the outbox, delivered by the appliance's sender (SMTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    /// The recipient (a staff member's work address).
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (no personal data beyond the procedure's own).
    pub body: String,
    /// When it was sent (RFC 3339).
    #[serde(default)]
    pub sent_at: Option<String>,
    /// The sender that is sending it now, and until when (µs): only one
    /// appliance of a cluster sends a given e-mail.
    #[serde(default)]
    pub claimed_by: Option<(String, u64)>,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_error: Option<String>,
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
            mail: None,
        }
    }

    /// A new e-mail notice to `to`, created at `now`, the `n`-th of its
    /// change.
    pub fn mail(now: Micros, n: u64, to: &str, subject: &str, body: &str) -> Self {
        Notification {
            id: format!("{now:016x}{n:08x}"),
            created: rfc3339(now),
            holder: 0,
            case_number: String::new(),
            action: format!("e-mail to {to}: {subject}"),
            done: false,
            mail: Some(Mail {
                to: to.to_owned(),
                subject: subject.to_owned(),
                body: body.to_owned(),
                sent_at: None,
                claimed_by: None,
                attempts: 0,
                last_error: None,
            }),
        }
    }

    /// Whether this is an e-mail still to send that `me` may take at
    /// `now` (unclaimed, or its claim expired).
    pub fn sendable(&self, now: Micros) -> bool {
        match &self.mail {
            Some(m) if !self.done && m.sent_at.is_none() && m.attempts < MAX_MAIL_ATTEMPTS => {
                m.claimed_by.as_ref().is_none_or(|(_, until)| *until <= now)
            }
            _ => false,
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
