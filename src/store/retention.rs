//! Proof of erasure: the oldest entry in every part of the journal (records
//! and secondary index) against the retention window.

use serde::Serialize;

use crate::clock::{rfc3339, Micros};
use crate::store::journal::Journal;
use crate::store::{cf, journal_key_time, Store, StoreError};

/// One part of the journal.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Part {
    /// Column family.
    pub part: &'static str,
    /// Oldest entry (RFC 3339), if any.
    pub oldest: Option<String>,
    /// Its age in seconds.
    pub age_seconds: Option<f64>,
    /// Whether it is older than the window.
    pub expired: bool,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Retention window in days.
    pub window_days: f64,
    /// When the check ran.
    pub checked_at: String,
    /// Every part.
    pub parts: Vec<Part>,
    /// True when nothing is older than the window.
    pub ok: bool,
}

/// Oldest time stamp in a retained column family (full scan for the index,
/// whose keys do not start with the time).
pub fn oldest(store: &Store, name: &'static str) -> Result<Option<Micros>, StoreError> {
    let (offset, len) = if name == cf::JOURNAL_INDEX {
        (
            crate::store::journal::INDEX_TIME_AT,
            crate::store::journal::INDEX_KEY_LEN,
        )
    } else {
        (0, 16)
    };
    let mut it = store
        .db()
        .iterator_cf(store.cf(name), rocksdb::IteratorMode::Start);
    if offset == 0 {
        return match it.next() {
            Some(item) => Ok(journal_key_time(&item?.0)),
            None => Ok(None),
        };
    }
    let mut min: Option<Micros> = None;
    for item in it {
        let (k, _) = item?;
        if k.len() == len {
            let t = journal_key_time(&k[offset..]).unwrap_or(0);
            min = Some(min.map_or(t, |m| m.min(t)));
        }
    }
    Ok(min)
}

/// Builds the report from a store at `now` with `retention` µs.
pub fn report(store: &Store, now: Micros, retention: Micros) -> Result<Report, StoreError> {
    let mut parts = Vec::new();
    for name in cf::RETAINED {
        let o = oldest(store, name)?;
        let age = o.map(|t| now.saturating_sub(t));
        parts.push(Part {
            part: name,
            oldest: o.map(rfc3339),
            age_seconds: age.map(|a| a as f64 / 1e6),
            expired: age.is_some_and(|a| a >= retention),
        });
    }
    Ok(Report {
        window_days: retention as f64 / 86_400e6,
        checked_at: rfc3339(now),
        ok: parts.iter().all(|p| !p.expired),
        parts,
    })
}

/// The report for a running journal.
pub fn check(journal: &Journal) -> Result<Report, StoreError> {
    report(journal.store(), journal.now(), journal.retention())
}
