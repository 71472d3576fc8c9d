//! The in-memory credential map: every card, keyed by the keyed transform of
//! its access number, in a sharded concurrent map.
//!
//! Look-ups take a shard read lock for a few nanoseconds and copy the entry
//! out; nothing is held across an `.await`.

use std::hash::{BuildHasherDefault, Hasher};

use dashmap::DashMap;

use crate::crypto::numbers::Digest;
use crate::protocol::Reason;

/// Card states. Codes are stored; never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum CardStatus {
    /// In use.
    Active = 0,
    /// Revoked for good.
    Revoked = 1,
    /// Replaced by a newer card of the same person.
    Superseded = 2,
    /// Temporarily blocked.
    Suspended = 3,
}

impl CardStatus {
    /// From the stored code.
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(CardStatus::Active),
            1 => Some(CardStatus::Revoked),
            2 => Some(CardStatus::Superseded),
            3 => Some(CardStatus::Suspended),
            _ => None,
        }
    }
}

/// What the map holds per credential: just enough to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The card's id (the journal's credential reference).
    pub card_id: u64,
    /// The cardholder's id (holder ids stay below 2^32, which keeps an entry
    /// at 24 bytes).
    pub holder: u32,
    /// Valid from (Unix seconds, inclusive).
    pub valid_from: u32,
    /// Valid until (Unix seconds, exclusive); 0 = no expiry.
    pub valid_until: u32,
    /// Status.
    pub status: CardStatus,
}

impl Entry {
    /// The card-level decision at `now` (Unix seconds).
    #[inline]
    pub fn card_reason(&self, now: u32) -> Reason {
        match self.status {
            CardStatus::Revoked => Reason::Revoked,
            CardStatus::Superseded => Reason::Superseded,
            CardStatus::Suspended => Reason::Suspended,
            CardStatus::Active if now < self.valid_from => Reason::NotYetValid,
            CardStatus::Active if self.valid_until != 0 && now >= self.valid_until => {
                Reason::Expired
            }
            CardStatus::Active => Reason::Granted,
        }
    }
}

/// Digests are already uniformly random (AES output), so hashing them again
/// would only cost time: this hasher passes the low 64 bits through.
#[derive(Default, Clone, Copy)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u128 keys; fold bytes in so it stays a hash.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The map's key: a digest stored as two words, so a (key, entry) slot is
/// 40 bytes at 8-byte alignment rather than 48 at the 16-byte alignment of
/// `u128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key([u64; 2]);

impl Key {
    #[inline]
    fn of(d: Digest) -> Self {
        Key([(d >> 64) as u64, d as u64])
    }
}

impl std::hash::Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[0] ^ self.0[1]);
    }
}

/// The credential map.
#[derive(Debug)]
pub struct CredentialMap {
    map: DashMap<Key, Entry, BuildHasherDefault<DigestHasher>>,
}

impl Default for CredentialMap {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl CredentialMap {
    /// A map with room for `n` credentials.
    pub fn with_capacity(n: usize) -> Self {
        // Enough shards that two cores and thousands of connections rarely
        // meet on one lock; a power of two as dashmap requires.
        let shards = 64;
        Self {
            map: DashMap::with_capacity_and_hasher_and_shard_amount(
                n,
                BuildHasherDefault::default(),
                shards,
            ),
        }
    }

    /// Looks up a digest.
    #[inline]
    pub fn get(&self, d: Digest) -> Option<Entry> {
        self.map.get(&Key::of(d)).map(|e| *e)
    }

    /// Inserts or replaces.
    pub fn insert(&self, d: Digest, e: Entry) {
        self.map.insert(Key::of(d), e);
    }

    /// Number of credentials.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether a digest is present.
    pub fn contains(&self, d: Digest) -> bool {
        self.map.contains_key(&Key::of(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: CardStatus) -> Entry {
        Entry {
            card_id: 1,
            holder: 1,
            valid_from: 100,
            valid_until: 200,
            status,
        }
    }

    #[test]
    fn card_reasons() {
        assert_eq!(entry(CardStatus::Active).card_reason(150), Reason::Granted);
        assert_eq!(
            entry(CardStatus::Active).card_reason(99),
            Reason::NotYetValid
        );
        assert_eq!(entry(CardStatus::Active).card_reason(200), Reason::Expired);
        assert_eq!(entry(CardStatus::Revoked).card_reason(150), Reason::Revoked);
        assert_eq!(
            entry(CardStatus::Superseded).card_reason(150),
            Reason::Superseded
        );
        assert_eq!(
            entry(CardStatus::Suspended).card_reason(150),
            Reason::Suspended
        );
        let mut open = entry(CardStatus::Active);
        open.valid_until = 0;
        assert_eq!(open.card_reason(u32::MAX), Reason::Granted);
    }

    #[test]
    fn slots_stay_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
        assert_eq!(std::mem::size_of::<(Key, Entry)>(), 40);
    }

    #[test]
    fn map_round_trip() {
        let m = CredentialMap::default();
        m.insert(5, entry(CardStatus::Active));
        assert_eq!(m.get(5).unwrap().card_id, 1);
        assert!(m.get(6).is_none());
        assert_eq!(m.len(), 1);
    }
}
