//! The no-tracking limit: look-ups about one subject (a card, a holder, a
//! door, a reader) are counted per day, and refused beyond
//! `investigations.max_lookups_per_subject_per_day`.
//!
//! Stored in the `investigations` column family as
//! `count/<subject>/<day>` → look-ups that day. Counting happens in the
//! same [`crate::ledger`] change as the look-up's audit entry and, for a
//! police request, its use: one atomic step, so neither a limit nor a
//! request's single use can be beaten by sending many at once.

use rocksdb::WriteBatch;

use crate::clock::{Micros, DAY_MICROS};
use crate::store::{cf, Store, StoreError};

/// A look-up admitted under the limit: the count to record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counted {
    /// The stored key.
    pub key: String,
    /// The subject's look-ups today, this one included.
    pub count: u32,
}

/// Counts one more look-up of `subject` at `now`; `None` when the limit is
/// already reached (nothing to record).
pub fn plan_count(
    store: &Store,
    subject: &str,
    now: Micros,
    limit: u32,
) -> Result<Option<Counted>, StoreError> {
    let key = format!("count/{subject}/{}", now / DAY_MICROS);
    let n = store
        .db()
        .get_cf(store.cf(cf::INVESTIGATIONS), &key)?
        .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0);
    if n >= limit {
        return Ok(None);
    }
    Ok(Some(Counted { key, count: n + 1 }))
}

/// Adds a count to `batch`.
pub fn stage(store: &Store, batch: &mut WriteBatch, c: &Counted) {
    batch.put_cf(
        store.cf(cf::INVESTIGATIONS),
        c.key.as_bytes(),
        c.count.to_be_bytes(),
    );
}
