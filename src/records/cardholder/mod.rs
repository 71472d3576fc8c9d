//! The cardholder book: records sealed at rest, photos, and the clear state
//! the decision path needs (active, levels), kept compiled in
//! [`crate::policy::levels::AccessControl`].
//!
//! As for cards, the `plan_*` methods check a change against the present
//! state and seal what it writes; the [`crate::ledger`] writes it with its
//! audit entry and then installs it. Key rotation is a series of such
//! changes: the new key becomes current, every record still sealed under
//! another key is re-sealed in bounded chunks, then the old keys are
//! retired — a photo uploaded meanwhile is sealed under the new key and
//! never overwritten with an older one.

pub mod distribution;
pub mod fields;
pub mod photo;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::{IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::crypto::vault::{Vault, VaultError};
use crate::policy::levels::AccessControl;
use crate::store::{cf, Store, StoreError};
use fields::Personal;
use photo::{check_photo, PhotoKind};

/// The notation shown when a person has withheld their photo.
pub const PHOTO_WITHHELD_NOTATION: &str =
    "photo withheld from distribution at the cardholder's request";

/// The part of a holder record stored in clear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Whether cards may open doors (derived from status).
    pub active: bool,
    /// The person asked that the photo not be distributed.
    pub photo_withheld: bool,
    /// Access levels held.
    pub levels: Vec<String>,
}

/// A holder record to write: clear header and sealed personal fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderPut {
    /// Holder id.
    pub id: u64,
    /// Clear part.
    pub header: Header,
    /// Sealed personal fields.
    pub sealed: Vec<u8>,
}

/// A photo to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoPut {
    /// Holder id.
    pub id: u64,
    /// [`PhotoKind`] code.
    pub kind: u8,
    /// Sealed image.
    pub sealed: Vec<u8>,
}

/// A record re-sealed under the current key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resealed {
    /// A holder record.
    Holder(HolderPut),
    /// A photo.
    Photo(PhotoPut),
}

/// A holder operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HolderError {
    /// No such holder.
    #[error("no cardholder with id {0}")]
    NotFound(u64),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// The photo was withheld from distribution.
    #[error("{PHOTO_WITHHELD_NOTATION}")]
    Withheld,
    /// No photo on file.
    #[error("no photo on file for cardholder {0}")]
    NoPhoto(u64),
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<rocksdb::Error> for HolderError {
    fn from(e: rocksdb::Error) -> Self {
        HolderError::Store(StoreError::Db(e))
    }
}

fn holder_aad(id: u64) -> Vec<u8> {
    format!("holder:{id}").into_bytes()
}
fn photo_aad(id: u64) -> Vec<u8> {
    format!("photo:{id}").into_bytes()
}

fn encode(header: &Header, sealed: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).unwrap_or_default();
    let mut v = Vec::with_capacity(2 + h.len() + sealed.len());
    v.extend_from_slice(&(h.len() as u16).to_be_bytes());
    v.extend_from_slice(&h);
    v.extend_from_slice(sealed);
    v
}

fn decode(v: &[u8]) -> Result<(Header, &[u8]), StoreError> {
    let bad = StoreError::Corrupt { what: "holder" };
    if v.len() < 2 {
        return Err(bad);
    }
    let n = usize::from(u16::from_be_bytes([v[0], v[1]]));
    let h = v
        .get(2..2 + n)
        .ok_or(StoreError::Corrupt { what: "holder" })?;
    let header: Header =
        serde_json::from_slice(h).map_err(|_| StoreError::Corrupt { what: "holder" })?;
    Ok((header, &v[2 + n..]))
}

fn id_of(k: &[u8], what: &'static str) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(
        k.try_into().map_err(|_| StoreError::Corrupt { what })?,
    ))
}

/// The cardholder book.
#[derive(Debug)]
pub struct HolderBook {
    store: Store,
    vault: Vault,
    access: Arc<AccessControl>,
    /// The next holder id (ids are never reused).
    next_id: AtomicU64,
}

impl HolderBook {
    /// Loads every holder's clear header into access control (no
    /// decryption at start-up).
    pub fn load(
        store: Store,
        vault: Vault,
        access: Arc<AccessControl>,
    ) -> Result<Self, StoreError> {
        let mut next = 1;
        for item in store
            .db()
            .iterator_cf(store.cf(cf::HOLDERS), IteratorMode::Start)
        {
            let (k, v) = item?;
            let id = id_of(&k, "holder")?;
            let (h, _) = decode(&v)?;
            access.set_holder(id, h.active, h.levels);
            next = next.max(id + 1);
        }
        Ok(Self {
            store,
            vault,
            access,
            next_id: AtomicU64::new(next),
        })
    }

    /// The vault (key rotation).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    fn read(&self, id: u64) -> Result<(Header, Vec<u8>), HolderError> {
        let v = self
            .store
            .db()
            .get_cf(self.store.cf(cf::HOLDERS), id.to_be_bytes())?
            .ok_or(HolderError::NotFound(id))?;
        let (h, sealed) = decode(&v)?;
        Ok((h, sealed.to_vec()))
    }

    fn seal(&self, id: u64, header: Header, p: &Personal) -> Result<HolderPut, HolderError> {
        let plain = serde_json::to_vec(p).map_err(|e| HolderError::Invalid(e.to_string()))?;
        Ok(HolderPut {
            id,
            header,
            sealed: self.vault.seal(&holder_aad(id), &plain),
        })
    }

    fn check_department(&self, p: &Personal) -> Result<(), HolderError> {
        if crate::records::dlcs::exists(&self.store, &p.department)? {
            Ok(())
        } else {
            Err(HolderError::Invalid(format!(
                "department `{}` is not a registered department, lab or center (register it with PUT /v1/dlcs/{{code}})",
                p.department
            )))
        }
    }

    /// Plans a new holder record.
    pub fn plan_create(&self, p: &Personal) -> Result<HolderPut, HolderError> {
        self.check_department(p)?;
        let id = self.next_id.load(Ordering::SeqCst);
        if id > u64::from(u32::MAX) {
            return Err(HolderError::Invalid("cardholder ids are exhausted".into()));
        }
        let h = Header {
            active: p.status.is_active(),
            ..Header::default()
        };
        self.seal(id, h, p)
    }

    /// Whether a holder exists.
    pub fn exists(&self, id: u64) -> Result<bool, HolderError> {
        Ok(self
            .store
            .db()
            .get_pinned_cf(self.store.cf(cf::HOLDERS), id.to_be_bytes())?
            .is_some())
    }

    /// The holder whose MIT ID number is `id_number`, if any. Personal
    /// fields are sealed, so this opens each record in turn (about 2 µs
    /// each: tens of milliseconds for a campus).
    pub fn find_by_id_number(&self, id_number: &str) -> Result<Option<u64>, HolderError> {
        let wanted = id_number.trim();
        for item in self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::HOLDERS), IteratorMode::Start)
        {
            let (k, v) = item?;
            let id = id_of(&k, "holder")?;
            let (_, sealed) = decode(&v)?;
            let plain = self.vault.open_sealed(&holder_aad(id), sealed)?;
            let p: Personal = serde_json::from_slice(&plain)
                .map_err(|_| StoreError::Corrupt { what: "holder" })?;
            if p.id_number == wanted {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Reads and decrypts a holder.
    pub fn get(&self, id: u64) -> Result<(Header, Personal), HolderError> {
        let (h, sealed) = self.read(id)?;
        let plain = self.vault.open_sealed(&holder_aad(id), &sealed)?;
        let p: Personal =
            serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt { what: "holder" })?;
        Ok((h, p))
    }

    /// Plans a validated change of personal fields; also returns the names
    /// of the fields that change (for the audit trail).
    pub fn plan_update(
        &self,
        id: u64,
        body: &serde_json::Value,
    ) -> Result<(HolderPut, Vec<String>), HolderError> {
        let (mut h, old) = self.get(id)?;
        let new = old
            .patched(body)
            .map_err(|e| HolderError::Invalid(e.to_string()))?;
        if new.department != old.department {
            self.check_department(&new)?;
        }
        let changed: Vec<String> = body
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        h.active = new.status.is_active();
        Ok((self.seal(id, h, &new)?, changed))
    }

    /// Plans assigning access levels.
    pub fn plan_levels(&self, id: u64, levels: Vec<String>) -> Result<HolderPut, HolderError> {
        if levels.len() > 64 {
            return Err(HolderError::Invalid(
                "a cardholder holds at most 64 levels".into(),
            ));
        }
        self.access
            .check_levels(&levels)
            .map_err(|e| HolderError::Invalid(e.to_string()))?;
        let (mut h, p) = self.get(id)?;
        h.levels = levels;
        self.seal(id, h, &p)
    }

    /// Plans recording or clearing the person's request to withhold their
    /// photo.
    pub fn plan_withheld(&self, id: u64, withheld: bool) -> Result<HolderPut, HolderError> {
        let (mut h, p) = self.get(id)?;
        h.photo_withheld = withheld;
        self.seal(id, h, &p)
    }

    /// Plans storing a photo (checked by content, sealed under the current
    /// key).
    pub fn plan_photo(&self, id: u64, bytes: &[u8]) -> Result<(PhotoPut, PhotoKind), HolderError> {
        let kind = check_photo(bytes).map_err(|e| HolderError::Invalid(e.into()))?;
        if !self.exists(id)? {
            return Err(HolderError::NotFound(id));
        }
        Ok((
            PhotoPut {
                id,
                kind: kind as u8,
                sealed: self.vault.seal(&photo_aad(id), bytes),
            },
            kind,
        ))
    }

    /// Adds a holder record to `batch`.
    pub fn stage_holder(&self, batch: &mut WriteBatch, h: &HolderPut) {
        batch.put_cf(
            self.store.cf(cf::HOLDERS),
            h.id.to_be_bytes(),
            encode(&h.header, &h.sealed),
        );
    }

    /// Makes a written holder record live for decisions.
    pub fn install_holder(&self, h: &HolderPut) {
        self.access
            .set_holder(h.id, h.header.active, h.header.levels.clone());
        self.next_id.fetch_max(h.id + 1, Ordering::SeqCst);
    }

    /// Adds a photo to `batch`.
    pub fn stage_photo(&self, batch: &mut WriteBatch, p: &PhotoPut) {
        let mut v = Vec::with_capacity(1 + p.sealed.len());
        v.push(p.kind);
        v.extend_from_slice(&p.sealed);
        batch.put_cf(self.store.cf(cf::PHOTOS), p.id.to_be_bytes(), v);
    }

    /// Whether a photo is on file (no decryption).
    pub fn has_photo(&self, id: u64) -> Result<bool, HolderError> {
        Ok(self
            .store
            .db()
            .get_pinned_cf(self.store.cf(cf::PHOTOS), id.to_be_bytes())?
            .is_some())
    }

    /// Reads a photo for card production (always available to the office).
    pub fn photo(&self, id: u64) -> Result<(PhotoKind, Vec<u8>), HolderError> {
        let v = self
            .store
            .db()
            .get_cf(self.store.cf(cf::PHOTOS), id.to_be_bytes())?
            .ok_or(HolderError::NoPhoto(id))?;
        let kind = PhotoKind::from_code(v.first().copied().unwrap_or(0));
        let bytes = self
            .vault
            .open_sealed(&photo_aad(id), v.get(1..).unwrap_or(&[]))?;
        Ok((kind, bytes))
    }

    /// Reads a photo for distribution: refused when withheld.
    pub fn photo_for_distribution(&self, id: u64) -> Result<(PhotoKind, Vec<u8>), HolderError> {
        let (h, _) = self.read(id)?;
        if h.photo_withheld {
            return Err(HolderError::Withheld);
        }
        self.photo(id)
    }

    /// Plans re-sealing, under the current key, up to `max_records` records
    /// (or about `max_bytes` of them) still sealed under another key.
    /// Returns nothing when none is left.
    pub fn plan_reseal(
        &self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Resealed>, HolderError> {
        let current = self.vault.current_id();
        let stale = |sealed: &[u8]| Vault::key_id_of(sealed).is_some_and(|k| k != current);
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::HOLDERS), IteratorMode::Start)
        {
            let (k, v) = item?;
            let id = id_of(&k, "holder")?;
            let (h, sealed) = decode(&v)?;
            if stale(sealed) {
                let plain = self.vault.open_sealed(&holder_aad(id), sealed)?;
                bytes += plain.len();
                out.push(Resealed::Holder(HolderPut {
                    id,
                    header: h,
                    sealed: self.vault.seal(&holder_aad(id), &plain),
                }));
                if out.len() >= max_records || bytes >= max_bytes {
                    return Ok(out);
                }
            }
        }
        for item in self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::PHOTOS), IteratorMode::Start)
        {
            let (k, v) = item?;
            let id = id_of(&k, "photo")?;
            let sealed = v.get(1..).unwrap_or(&[]);
            if stale(sealed) {
                let plain = self.vault.open_sealed(&photo_aad(id), sealed)?;
                bytes += plain.len();
                out.push(Resealed::Photo(PhotoPut {
                    id,
                    kind: v.first().copied().unwrap_or(0),
                    sealed: self.vault.seal(&photo_aad(id), &plain),
                }));
                if out.len() >= max_records || bytes >= max_bytes {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// Ids of every key some record (holder or photo) is sealed with.
    pub fn key_ids_in_use(&self) -> Result<std::collections::BTreeSet<u32>, HolderError> {
        let mut ids = std::collections::BTreeSet::new();
        for item in self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::HOLDERS), IteratorMode::Start)
        {
            let (_, v) = item?;
            let (_, sealed) = decode(&v)?;
            ids.extend(Vault::key_id_of(sealed));
        }
        for item in self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::PHOTOS), IteratorMode::Start)
        {
            let (_, v) = item?;
            ids.extend(Vault::key_id_of(v.get(1..).unwrap_or(&[])));
        }
        Ok(ids)
    }

    /// After the old keys are retired: compacts holders and photos so old
    /// ciphertexts (unreadable without their keys) leave the files too.
    pub fn compact(&self) -> Result<(), HolderError> {
        for name in [cf::HOLDERS, cf::PHOTOS] {
            self.store.db().flush_cf(self.store.cf(name))?;
            self.store
                .db()
                .compact_range_cf(self.store.cf(name), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }
}
