//! Revoked certificates: a deny-list of serial numbers, kept in the ledger
//! (so every appliance holds the same list) and in memory (so it applies at
//! once, without a restart).
//!
//! A revoked staff certificate is refused by the admin API on its very next
//! request; a revoked reader certificate is refused at its next connection
//! and an open reader connection is closed at its next read round.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashSet;
use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::store::{cf, Store, StoreError};

const PREFIX: &[u8] = b"revoked/";

/// Why a certificate was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// Its private key may be known to someone else.
    Compromised,
    /// The device or token holding it is lost.
    Lost,
    /// Its holder left, or the reader was taken out of service.
    Retired,
    /// A new certificate replaces it.
    Superseded,
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The certificate's serial number (hex).
    pub serial: String,
    /// Why.
    pub reason: RevocationReason,
    /// When (RFC 3339; set by the appliance).
    #[serde(default)]
    pub at: String,
}

impl Revocation {
    /// The serial in the form identities carry (lower-case hex, no
    /// separators); `None` if it is not hex.
    pub fn normalised(serial: &str) -> Option<String> {
        let s: String = serial
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect::<String>()
            .to_ascii_lowercase();
        (!s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_hexdigit())).then_some(s)
    }
}

/// The deny-list in memory.
#[derive(Debug)]
pub struct Revocations {
    serials: DashSet<String>,
    /// Bumped by every revocation, so open connections re-check cheaply.
    generation: AtomicU64,
    /// Wakes idle connections when a certificate is revoked.
    notify: tokio::sync::watch::Sender<u64>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            serials: DashSet::new(),
            generation: AtomicU64::new(0),
            notify: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Revocations {
    /// Loads every stored revocation.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        let r = Self::default();
        for item in store.db().iterator_cf(
            store.cf(cf::META),
            IteratorMode::From(PREFIX, Direction::Forward),
        ) {
            let (k, _) = item?;
            let Some(serial) = k.strip_prefix(PREFIX) else {
                break;
            };
            r.serials
                .insert(String::from_utf8_lossy(serial).into_owned());
        }
        Ok(r)
    }

    /// Whether the certificate with `serial` is revoked.
    pub fn is_revoked(&self, serial: &str) -> bool {
        !self.serials.is_empty() && self.serials.contains(serial)
    }

    /// Changes whenever a certificate is revoked.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes a written revocation apply, and wakes open connections.
    pub fn install(&self, r: &Revocation) {
        self.serials.insert(r.serial.clone());
        let g = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.notify.send_replace(g);
    }

    /// A receiver that changes whenever a certificate is revoked.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }
}

/// Adds a revocation to `batch`.
pub fn stage(store: &Store, batch: &mut WriteBatch, r: &Revocation) -> Result<(), StoreError> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(r.serial.as_bytes());
    let v = serde_json::to_vec(r).map_err(|_| StoreError::Corrupt { what: "revocation" })?;
    batch.put_cf(store.cf(cf::META), k, v);
    Ok(())
}

/// Every revocation, by serial.
pub fn list(store: &Store) -> Result<Vec<Revocation>, StoreError> {
    let mut out = Vec::new();
    for item in store.db().iterator_cf(
        store.cf(cf::META),
        IteratorMode::From(PREFIX, Direction::Forward),
    ) {
        let (k, v) = item?;
        if !k.starts_with(PREFIX) {
            break;
        }
        out.push(
            serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt { what: "revocation" })?,
        );
    }
    Ok(out)
}
