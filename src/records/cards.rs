//! Cards: persisted in RocksDB, mirrored in the credential map.
//!
//! The card rules live here — a first card only for a holder without one in
//! use, a replacement only for a working card (it never lifts a suspension
//! or revocation) and it supersedes every older card in the same step,
//! which status changes are allowed from which state. The `plan_*` methods
//! apply them to the present state and return the card records to write;
//! the [`crate::ledger`] writes them (with their audit entry, synchronously,
//! so an acknowledged revocation survives a power cut) and then calls
//! [`CardBook::install`], after which the change holds for the very next
//! verification on every connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::{IteratorMode, WriteBatch};

use crate::clock::SharedClock;
use crate::crypto::numbers::{AccessNumber, Digest, Generator, Transform};
use crate::policy::credentials::{CardStatus, CredentialMap, Entry, MAX_CARD_ID};
use crate::store::{cf, Store, StoreError};

/// A card as stored. Holds the digest of the access number, never the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Card {
    /// Card id.
    pub id: u64,
    /// Transform of the access number.
    pub digest: Digest,
    /// The map entry (holder, validity, status).
    pub entry: Entry,
    /// When it was issued (µs since epoch).
    pub issued_at: u64,
}

const CARD_V1: u8 = 1;
const CARD_LEN: usize = 1 + 16 + 8 + 1 + 4 + 4 + 8;

impl Card {
    /// Fixed-layout encoding: loading ten million of these must be fast.
    pub fn encode(&self) -> [u8; CARD_LEN] {
        let mut b = [0u8; CARD_LEN];
        b[0] = CARD_V1;
        b[1..17].copy_from_slice(&self.digest.to_be_bytes());
        b[17..25].copy_from_slice(&u64::from(self.entry.holder).to_be_bytes());
        b[25] = self.entry.status as u8;
        b[26..30].copy_from_slice(&self.entry.valid_from.to_be_bytes());
        b[30..34].copy_from_slice(&self.entry.valid_until.to_be_bytes());
        b[34..42].copy_from_slice(&self.issued_at.to_be_bytes());
        b
    }

    /// Whether the card is one the map can hold: an id of at most
    /// [`MAX_CARD_ID`], the same in the entry.
    pub fn check(&self) -> Result<(), String> {
        if self.id > MAX_CARD_ID || self.entry.card_id != self.id {
            return Err(format!(
                "card id {} is not one this appliance can hold",
                self.id
            ));
        }
        Ok(())
    }

    /// Decodes a stored card.
    pub fn decode(key: &[u8], v: &[u8]) -> Result<Card, StoreError> {
        let bad = || StoreError::Corrupt { what: "card" };
        let id = u64::from_be_bytes(key.try_into().map_err(|_| bad())?);
        if id > MAX_CARD_ID || v.len() != CARD_LEN || v[0] != CARD_V1 {
            return Err(bad());
        }
        let u32_at = |i: usize| u32::from_be_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]);
        let u64_at = |i: usize| u64::from_be_bytes(v[i..i + 8].try_into().unwrap_or([0; 8]));
        Ok(Card {
            id,
            digest: u128::from_be_bytes(v[1..17].try_into().map_err(|_| bad())?),
            entry: Entry {
                card_id: id,
                holder: u32::try_from(u64_at(17)).map_err(|_| bad())?,
                status: CardStatus::from_code(v[25]).ok_or_else(bad)?,
                valid_from: u32_at(26),
                valid_until: u32_at(30),
            },
            issued_at: u64_at(34),
        })
    }
}

/// A card operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// No such card.
    #[error("no card with id {0}")]
    NotFound(u64),
    /// The change is not allowed from the card's current status.
    #[error("card {id} is {status:?}; {action} is not possible")]
    WrongStatus {
        /// Card id.
        id: u64,
        /// Current status.
        status: CardStatus,
        /// What was attempted.
        action: &'static str,
    },
    /// Bad request values.
    #[error("{0}")]
    Invalid(String),
    /// The change is refused by policy in the card's or holder's present
    /// state (nothing changed).
    #[error("{0}")]
    Refused(String),
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rocksdb::Error> for CardError {
    fn from(e: rocksdb::Error) -> Self {
        CardError::Store(StoreError::Db(e))
    }
}

/// A planned new card.
#[derive(Debug, Clone)]
pub struct NewCard {
    /// The card.
    pub card: Card,
    /// Its access number (shown once).
    pub number: AccessNumber,
    /// Older cards of the person, now superseded.
    pub superseded: Vec<Card>,
}

impl NewCard {
    /// Every record to write: the superseded cards first, then the new one.
    pub fn cards(&self) -> impl Iterator<Item = &Card> {
        self.superseded.iter().chain(std::iter::once(&self.card))
    }
}

/// Issue parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct IssueRequest {
    /// Cardholder id.
    pub holder: u64,
    /// Valid from (Unix seconds); `None` = now.
    pub valid_from: Option<u32>,
    /// Valid until (Unix seconds); `None` = no expiry.
    pub valid_until: Option<u32>,
}

/// Cards: the persisted set plus the live map.
pub struct CardBook {
    store: Store,
    map: Arc<CredentialMap>,
    transform: Transform,
    generator: Generator,
    clock: SharedClock,
    /// The next card id (ids are dense and never reused).
    next_id: AtomicU64,
}

impl std::fmt::Debug for CardBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardBook")
            .field("credentials", &self.map.len())
            .finish()
    }
}

/// Cards decoded before they go into the map together at start-up.
const LOAD_BATCH: usize = 1024;

impl CardBook {
    /// Loads every card from the store into a fresh map.
    pub fn load(
        store: Store,
        transform: Transform,
        clock: SharedClock,
    ) -> Result<Self, StoreError> {
        // Card ids are dense and never reused: the last key is the count.
        let last = match store
            .db()
            .iterator_cf(store.cf(cf::CARDS), IteratorMode::End)
            .next()
        {
            Some(item) => {
                let (k, _) = item?;
                u64::from_be_bytes(
                    k.as_ref()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt { what: "card" })?,
                )
            }
            None => 0,
        };
        // Ids are never issued above the map's limit; a larger last key is
        // damage, refused before it sizes anything.
        if last > MAX_CARD_ID {
            return Err(StoreError::Corrupt { what: "card" });
        }
        // Size the map once so start-up does not rehash.
        let map = Arc::new(CredentialMap::with_capacity(last as usize));
        // Fill it from several key ranges at once (the map is concurrent).
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4) as u64;
        let per = last / threads + 1;
        let results: Vec<Result<(), StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (store, map) = (&store, &map);
                    scope.spawn(move || -> Result<(), StoreError> {
                        let mut ro = rocksdb::ReadOptions::default();
                        ro.set_iterate_lower_bound((t * per).to_be_bytes().to_vec());
                        ro.set_iterate_upper_bound(((t + 1) * per).to_be_bytes().to_vec());
                        ro.fill_cache(false);
                        // In batches, so the map can overlap their cache
                        // misses (`insert_many`).
                        let mut batch = Vec::with_capacity(LOAD_BATCH);
                        // The raw iterator lends each key and value in place
                        // (the plain one copies both into new boxes).
                        let mut it = store.db().raw_iterator_cf_opt(store.cf(cf::CARDS), ro);
                        it.seek_to_first();
                        while let (Some(k), Some(v)) = (it.key(), it.value()) {
                            let card = Card::decode(k, v)?;
                            batch.push((card.digest, card.entry));
                            if batch.len() == LOAD_BATCH {
                                map.insert_many(&batch);
                                batch.clear();
                            }
                            it.next();
                        }
                        it.status()?;
                        map.insert_many(&batch);
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or(Err(StoreError::Corrupt { what: "card" }))
                })
                .collect()
        });
        for r in results {
            r?;
        }
        let next_id = last + 1;
        Ok(Self {
            store,
            map,
            transform,
            generator: Generator::new(),
            clock,
            next_id: AtomicU64::new(next_id),
        })
    }

    /// The live map.
    pub fn map(&self) -> &Arc<CredentialMap> {
        &self.map
    }

    /// The transform.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    fn now_secs(&self) -> u32 {
        (self.clock.now_micros() / 1_000_000).min(u64::from(u32::MAX)) as u32
    }

    /// Plans a new card for a holder: a first card (refused while the
    /// holder has a card in use, active or suspended) or, with `replace`, a
    /// replacement for a working card, which supersedes every older card of
    /// the person. The access number is returned once and never kept.
    /// Nothing is written: the caller commits [`NewCard::cards`].
    pub fn plan_new(&self, req: IssueRequest, replace: bool) -> Result<NewCard, CardError> {
        let now = self.now_secs();
        let valid_from = req.valid_from.unwrap_or(now);
        if let Some(until) = req.valid_until {
            if until <= valid_from {
                return Err(CardError::Invalid(
                    "valid_until must be after valid_from".into(),
                ));
            }
        }
        let holder = u32::try_from(req.holder)
            .map_err(|_| CardError::Invalid("cardholder ids stop at 4294967295".into()))?;
        let mut older = Vec::new();
        for id in self.card_ids_of(req.holder)? {
            let c = self.get(id)?;
            if matches!(c.entry.status, CardStatus::Active | CardStatus::Suspended) {
                older.push(c);
            }
        }
        if !replace && !older.is_empty() {
            return Err(CardError::Invalid(format!(
                "holder {} already has card {} in use; issue a replacement instead",
                req.holder, older[0].id
            )));
        }
        // A replacement stands in for a working card: it must never lift a
        // suspension or a revocation, nor serve as a first card.
        if replace {
            if let Some(s) = older
                .iter()
                .find(|c| c.entry.status == CardStatus::Suspended)
            {
                return Err(CardError::Refused(format!(
                    "card {} of holder {} is suspended; a replacement would lift the suspension (the security office resumes or revokes it first)",
                    s.id, req.holder
                )));
            }
            if older.is_empty() {
                return Err(CardError::Refused(format!(
                    "holder {} has no card in use to replace (none issued, or revoked); the security office issues a first card",
                    req.holder
                )));
            }
        }
        // Nor may it lift an expiry or an embargo: it is valid no longer,
        // and no sooner, than the card it stands in for (only the security
        // office changes a card's validity, with `card.expiry`).
        let (mut valid_from, mut valid_until) = (valid_from, req.valid_until.unwrap_or(0));
        if replace {
            let working = &older[0];
            let (from, until) = (working.entry.valid_from, working.entry.valid_until);
            if until != 0 && until <= now {
                return Err(CardError::Refused(format!(
                    "card {} of holder {} has expired; a replacement would extend it (the security office sets a new expiry first)",
                    working.id, req.holder
                )));
            }
            if until != 0 {
                if valid_until != 0 && valid_until > until {
                    return Err(CardError::Refused(format!(
                        "card {} is valid until {until} (Unix seconds); a replacement cannot be valid longer",
                        working.id
                    )));
                }
                if valid_until == 0 {
                    valid_until = until;
                }
            }
            valid_from = valid_from.max(from);
            if valid_until != 0 && valid_until <= valid_from {
                return Err(CardError::Invalid(
                    "valid_until must be after the card's validity begins".into(),
                ));
            }
        }
        // 128 random bits do not collide in practice; if they ever did, the
        // new card must not shadow an existing one.
        let (number, digest) = loop {
            let n = self.generator.next_number();
            let d = self.transform.digest(&n);
            if !self.map.contains(d) {
                break (n, d);
            }
        };
        let id = self.next_id.load(Ordering::SeqCst);
        if id > MAX_CARD_ID {
            return Err(CardError::Refused(
                "the appliance has issued every card id it can hold".into(),
            ));
        }
        let card = Card {
            id,
            digest,
            entry: Entry {
                card_id: id,
                holder,
                valid_from,
                valid_until,
                status: CardStatus::Active,
            },
            issued_at: self.clock.now_micros(),
        };
        for old in older.iter_mut() {
            old.entry.status = CardStatus::Superseded;
        }
        Ok(NewCard {
            card,
            number,
            superseded: older,
        })
    }

    /// Plans suspending an active card.
    pub fn plan_suspend(&self, id: u64) -> Result<Card, CardError> {
        self.plan_change(id, "suspend", |c| {
            (c.entry.status == CardStatus::Active).then(|| c.entry.status = CardStatus::Suspended)
        })
    }

    /// Plans resuming a suspended card.
    pub fn plan_resume(&self, id: u64) -> Result<Card, CardError> {
        self.plan_change(id, "resume", |c| {
            (c.entry.status == CardStatus::Suspended).then(|| c.entry.status = CardStatus::Active)
        })
    }

    /// Plans revoking a card for good.
    pub fn plan_revoke(&self, id: u64) -> Result<Card, CardError> {
        self.plan_change(id, "revoke", |c| {
            (c.entry.status != CardStatus::Revoked).then(|| c.entry.status = CardStatus::Revoked)
        })
    }

    /// Plans setting or clearing the expiry (Unix seconds, exclusive).
    pub fn plan_expiry(&self, id: u64, valid_until: Option<u32>) -> Result<Card, CardError> {
        if let Some(u) = valid_until {
            let c = self.get(id)?;
            if u <= c.entry.valid_from {
                return Err(CardError::Invalid(
                    "valid_until must be after valid_from".into(),
                ));
            }
        }
        self.plan_change(id, "set expiry", |c| {
            (!matches!(c.entry.status, CardStatus::Revoked | CardStatus::Superseded))
                .then(|| c.entry.valid_until = valid_until.unwrap_or(0))
        })
    }

    fn plan_change(
        &self,
        id: u64,
        action: &'static str,
        apply: impl FnOnce(&mut Card) -> Option<()>,
    ) -> Result<Card, CardError> {
        let mut card = self.get(id)?;
        let status = card.entry.status;
        if apply(&mut card).is_none() {
            return Err(CardError::WrongStatus { id, status, action });
        }
        Ok(card)
    }

    /// Adds a card record (and its holder index entry) to `batch`.
    pub fn stage(&self, batch: &mut WriteBatch, card: &Card) {
        batch.put_cf(
            self.store.cf(cf::CARDS),
            card.id.to_be_bytes(),
            card.encode(),
        );
        let mut index = [0u8; 16];
        index[..8].copy_from_slice(&u64::from(card.entry.holder).to_be_bytes());
        index[8..].copy_from_slice(&card.id.to_be_bytes());
        batch.put_cf(self.store.cf(cf::HOLDER_CARDS), index, []);
    }

    /// Makes a written card live in the map.
    pub fn install(&self, card: &Card) {
        self.map.insert(card.digest, card.entry);
        self.next_id.fetch_max(card.id + 1, Ordering::SeqCst);
    }

    /// Ids of a holder's cards, oldest first, from the on-disk index (kept
    /// out of memory: it is read only when issuing).
    fn card_ids_of(&self, holder: u64) -> Result<Vec<u64>, CardError> {
        let prefix = holder.to_be_bytes();
        let mut ids = Vec::new();
        for item in self.store.db().iterator_cf(
            self.store.cf(cf::HOLDER_CARDS),
            rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward),
        ) {
            let (k, _) = item?;
            if k.len() != 16 || k[..8] != prefix {
                break;
            }
            ids.push(u64::from_be_bytes(k[8..16].try_into().unwrap_or([0; 8])));
        }
        Ok(ids)
    }

    /// Every card of a holder.
    pub fn of_holder(&self, holder: u64) -> Result<Vec<Card>, CardError> {
        self.card_ids_of(holder)?
            .into_iter()
            .map(|id| self.get(id))
            .collect()
    }

    /// Reads a card.
    pub fn get(&self, id: u64) -> Result<Card, CardError> {
        let v = self
            .store
            .db()
            .get_pinned_cf(self.store.cf(cf::CARDS), id.to_be_bytes())?
            .ok_or(CardError::NotFound(id))?;
        Ok(Card::decode(&id.to_be_bytes(), &v)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_encoding_round_trips_and_rejects_garbage() {
        let c = Card {
            id: 9,
            digest: 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
            entry: Entry {
                card_id: 9,
                holder: 77,
                valid_from: 5,
                valid_until: 6,
                status: CardStatus::Suspended,
            },
            issued_at: 1234,
        };
        let bytes = c.encode();
        assert_eq!(Card::decode(&9u64.to_be_bytes(), &bytes).unwrap(), c);
        assert!(Card::decode(&9u64.to_be_bytes(), &bytes[1..]).is_err());
        assert!(Card::decode(b"short", &bytes).is_err());
        let mut bad = bytes;
        bad[25] = 99;
        assert!(Card::decode(&9u64.to_be_bytes(), &bad).is_err());
    }

    /// Ids beyond the map's 40 bits: refused as a replicated change, when
    /// decoded, and at start-up before the map is sized for them.
    #[test]
    fn card_ids_beyond_the_map_are_refused_everywhere() {
        let entry = Entry {
            card_id: MAX_CARD_ID + 1,
            holder: 1,
            valid_from: 0,
            valid_until: 0,
            status: CardStatus::Active,
        };
        let big = Card {
            id: MAX_CARD_ID + 1,
            digest: 7,
            entry,
            issued_at: 1,
        };
        assert!(big.check().is_err());
        let mismatched = Card {
            id: 3,
            entry: Entry {
                card_id: 4,
                ..entry
            },
            ..big
        };
        assert!(mismatched.check().is_err());
        let fine = Card {
            id: MAX_CARD_ID,
            entry: Entry {
                card_id: MAX_CARD_ID,
                ..entry
            },
            ..big
        };
        assert!(fine.check().is_ok());
        let key = (MAX_CARD_ID + 1).to_be_bytes();
        assert!(Card::decode(&key, &big.encode()).is_err());

        let dir = tempfile::tempdir().unwrap();
        let clock: SharedClock = std::sync::Arc::new(crate::clock::SystemClock);
        let store = Store::open(dir.path(), clock.clone(), 1).unwrap();
        store
            .db()
            .put_cf(store.cf(cf::CARDS), key, big.encode())
            .unwrap();
        assert!(matches!(
            CardBook::load(store, Transform::new(&[0; 32]), clock),
            Err(StoreError::Corrupt { what: "card" })
        ));
    }
}
