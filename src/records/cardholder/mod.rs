//! The cardholder book: records sealed at rest, photos, and the clear state
//! the decision path needs (active, levels), kept compiled in
//! [`crate::policy::levels::AccessControl`].

pub mod fields;

use std::sync::{Arc, Mutex};

use rocksdb::{IteratorMode, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::crypto::vault::{Vault, VaultError};
use crate::policy::levels::AccessControl;
use crate::records::cardholder::fields::{check_photo, Personal, PhotoKind};
use crate::store::{cf, Store, StoreError};

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

/// The cardholder book.
#[derive(Debug)]
pub struct HolderBook {
    store: Store,
    vault: Vault,
    access: Arc<AccessControl>,
    /// Serialises every write of holders and photos (and key rotation,
    /// which rewrites them all); holds the next holder id.
    writes: Mutex<u64>,
}

fn sync() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
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
            let id = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { what: "holder" })?,
            );
            let (h, _) = decode(&v)?;
            access.set_holder(id, h.active, h.levels);
            next = next.max(id + 1);
        }
        Ok(Self {
            store,
            vault,
            access,
            writes: Mutex::new(next),
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

    fn write(&self, id: u64, h: &Header, p: &Personal) -> Result<(), HolderError> {
        let plain = serde_json::to_vec(p).map_err(|e| HolderError::Invalid(e.to_string()))?;
        let sealed = self.vault.seal(&holder_aad(id), &plain);
        self.store.db().put_cf_opt(
            self.store.cf(cf::HOLDERS),
            id.to_be_bytes(),
            encode(h, &sealed),
            &sync(),
        )?;
        self.access.set_holder(id, h.active, h.levels.clone());
        Ok(())
    }

    /// Creates a holder; returns its id.
    pub fn create(&self, p: &Personal) -> Result<u64, HolderError> {
        let mut next = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let id = *next;
        if id > u64::from(u32::MAX) {
            return Err(HolderError::Invalid("cardholder ids are exhausted".into()));
        }
        let h = Header {
            active: p.status.is_active(),
            ..Header::default()
        };
        self.write(id, &h, p)?;
        *next += 1;
        Ok(id)
    }

    /// Whether a holder exists.
    pub fn exists(&self, id: u64) -> Result<bool, HolderError> {
        Ok(self
            .store
            .db()
            .get_pinned_cf(self.store.cf(cf::HOLDERS), id.to_be_bytes())?
            .is_some())
    }

    /// Reads and decrypts a holder.
    pub fn get(&self, id: u64) -> Result<(Header, Personal), HolderError> {
        let (h, sealed) = self.read(id)?;
        let plain = self.vault.open_sealed(&holder_aad(id), &sealed)?;
        let p: Personal =
            serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt { what: "holder" })?;
        Ok((h, p))
    }

    /// Applies a validated change of personal fields; returns the names of
    /// the fields that changed (for the audit trail).
    pub fn update(&self, id: u64, body: &serde_json::Value) -> Result<Vec<String>, HolderError> {
        let _g = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let (mut h, old) = self.get(id)?;
        let new = old
            .patched(body)
            .map_err(|e| HolderError::Invalid(e.to_string()))?;
        let changed: Vec<String> = body
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        h.active = new.status.is_active();
        self.write(id, &h, &new)?;
        Ok(changed)
    }

    /// Assigns access levels.
    pub fn set_levels(&self, id: u64, levels: Vec<String>) -> Result<(), HolderError> {
        if levels.len() > 64 {
            return Err(HolderError::Invalid(
                "a cardholder holds at most 64 levels".into(),
            ));
        }
        self.access
            .check_levels(&levels)
            .map_err(|e| HolderError::Invalid(e.to_string()))?;
        let _g = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let (mut h, p) = self.get(id)?;
        h.levels = levels;
        self.write(id, &h, &p)
    }

    /// Stores a photo (checked by content).
    pub fn put_photo(&self, id: u64, bytes: &[u8]) -> Result<PhotoKind, HolderError> {
        let kind = check_photo(bytes).map_err(|e| HolderError::Invalid(e.into()))?;
        // Sealed under the current key and written while no rotation runs:
        // a rotation between the two would re-encrypt the old photo over
        // this one, or retire the key this one is sealed with.
        let _g = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        if !self.exists(id)? {
            return Err(HolderError::NotFound(id));
        }
        let mut v = vec![kind as u8];
        v.extend_from_slice(&self.vault.seal(&photo_aad(id), bytes));
        self.store
            .db()
            .put_cf_opt(self.store.cf(cf::PHOTOS), id.to_be_bytes(), v, &sync())?;
        Ok(kind)
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
        let kind = if v.first() == Some(&(PhotoKind::Png as u8)) {
            PhotoKind::Png
        } else {
            PhotoKind::Jpeg
        };
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

    /// Records or clears the person's request to withhold their photo.
    pub fn set_withheld(&self, id: u64, withheld: bool) -> Result<(), HolderError> {
        let _g = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let (mut h, p) = self.get(id)?;
        h.photo_withheld = withheld;
        self.write(id, &h, &p)
    }

    /// Rotates the record key: re-encrypts every holder and photo under a
    /// new key in one atomic write, then deletes the old keys. Returns
    /// (new key id, records re-encrypted).
    pub fn rotate_key(&self) -> Result<(u32, usize), HolderError> {
        let _g = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        // Read everything with the old keys first.
        let mut holders = Vec::new();
        for item in self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::HOLDERS), IteratorMode::Start)
        {
            let (k, v) = item?;
            let id = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { what: "holder" })?,
            );
            let (h, sealed) = decode(&v)?;
            holders.push((id, h, self.vault.open_sealed(&holder_aad(id), sealed)?));
        }
        let mut photos = Vec::new();
        for item in self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::PHOTOS), IteratorMode::Start)
        {
            let (k, v) = item?;
            let id = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { what: "photo" })?,
            );
            let kind = v.first().copied().unwrap_or(0);
            photos.push((
                id,
                kind,
                self.vault
                    .open_sealed(&photo_aad(id), v.get(1..).unwrap_or(&[]))?,
            ));
        }
        let new_id = self.vault.rotate()?;
        let checks = self.vault.check_values();
        let new_check = checks
            .iter()
            .find(|(id, _)| *id == new_id)
            .map(|(_, c)| *c)
            .ok_or(VaultError::MissingKey(new_id))?;
        let retired: Vec<u32> = checks
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| *id != new_id)
            .collect();
        let mut batch = WriteBatch::default();
        crate::app::keys::record_rotation(&self.store, &mut batch, (new_id, new_check), &retired);
        for (id, h, plain) in &holders {
            batch.put_cf(
                self.store.cf(cf::HOLDERS),
                id.to_be_bytes(),
                encode(h, &self.vault.seal(&holder_aad(*id), plain)),
            );
        }
        for (id, kind, plain) in &photos {
            let mut v = vec![*kind];
            v.extend_from_slice(&self.vault.seal(&photo_aad(*id), plain));
            batch.put_cf(self.store.cf(cf::PHOTOS), id.to_be_bytes(), v);
        }
        self.store.db().write_opt(batch, &sync())?;
        // Old ciphertexts may linger in old files until compaction; without
        // their key they are unreadable.
        self.vault.retire_others()?;
        for name in [cf::HOLDERS, cf::PHOTOS] {
            self.store.db().flush_cf(self.store.cf(name))?;
            self.store
                .db()
                .compact_range_cf(self.store.cf(name), None::<&[u8]>, None::<&[u8]>);
        }
        Ok((new_id, holders.len() + photos.len()))
    }
}

/// Persists and installs access-level definitions.
pub fn save_definitions(
    store: &Store,
    access: &AccessControl,
    defs: crate::policy::levels::Definitions,
) -> Result<(), HolderError> {
    AccessControl::validate(&defs).map_err(|e| HolderError::Invalid(e.to_string()))?;
    let v = serde_json::to_vec(&defs).map_err(|e| HolderError::Invalid(e.to_string()))?;
    store
        .db()
        .put_cf_opt(store.cf(cf::ACCESS), b"definitions", v, &sync())?;
    access
        .install(defs)
        .map_err(|e| HolderError::Invalid(e.to_string()))
}

/// Loads stored access-level definitions into `access`.
pub fn load_definitions(store: &Store, access: &AccessControl) -> Result<(), StoreError> {
    if let Some(v) = store.db().get_cf(store.cf(cf::ACCESS), b"definitions")? {
        let defs: crate::policy::levels::Definitions =
            serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt { what: "access" })?;
        access
            .install(defs)
            .map_err(|_| StoreError::Corrupt { what: "access" })?;
    }
    Ok(())
}
