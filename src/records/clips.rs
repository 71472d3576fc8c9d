//! Exported video clips held for the Director, on the appliance they were
//! uploaded to and nowhere else: not in the replicated change log, not in
//! backups, never re-sealed by key rotation. Each is sealed (AES-256-GCM)
//! under this appliance's own `keys/clips.key`. A denial, or the clip's
//! collection by its requester, deletes it and compacts it out of the
//! files at once; a start-up sweep removes any clip whose request no
//! longer holds it here (a crash between the two steps, a restored
//! backup).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

use crate::store::{cf, Store, StoreError};

/// The clip store of this appliance.
pub struct Clips {
    store: Store,
    cipher: Aes256Gcm,
    here: String,
}

impl std::fmt::Debug for Clips {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clips").field("here", &self.here).finish()
    }
}

/// Why a clip could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key file could not be read or made.
    #[error("clip key: {0}")]
    Key(String),
    /// The clip does not open with this appliance's key.
    #[error("the held clip cannot be opened with this appliance's clips.key")]
    Unsealed,
}

fn aad(id: u64) -> Vec<u8> {
    [b"clip:".as_slice(), &id.to_be_bytes()].concat()
}

impl Clips {
    /// The clip store, with the key in `keys_dir/clips.key` (made on first
    /// use); `here` names this appliance in export requests.
    pub fn open(store: Store, keys_dir: &std::path::Path, here: &str) -> Result<Self, ClipError> {
        let key = crate::crypto::secret::load_or_create_key(&keys_dir.join("clips.key"))
            .map_err(|e| ClipError::Key(e.to_string()))?;
        Ok(Clips {
            store,
            cipher: Aes256Gcm::new_from_slice(&key).map_err(|e| ClipError::Key(e.to_string()))?,
            here: here.to_owned(),
        })
    }

    /// This appliance's name in export requests.
    pub fn here(&self) -> &str {
        &self.here
    }

    /// Seals and stores export `id`'s clip (synced).
    pub fn put(&self, id: u64, clip: &[u8]) -> Result<(), ClipError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: clip,
                    aad: &aad(id),
                },
            )
            .map_err(|_| ClipError::Unsealed)?;
        let v = [nonce.as_slice(), &sealed].concat();
        self.store
            .db()
            .put_cf_opt(
                self.store.cf(cf::CLIPS),
                id.to_be_bytes(),
                v,
                &crate::store::sync_write(),
            )
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// The sealed bytes of export `id`'s clip, as stored (tests look for
    /// them in the files).
    pub fn sealed(&self, id: u64) -> Result<Option<Vec<u8>>, ClipError> {
        Ok(self
            .store
            .db()
            .get_cf(self.store.cf(cf::CLIPS), id.to_be_bytes())
            .map_err(StoreError::from)?)
    }

    /// Export `id`'s clip, opened, if held here.
    pub fn get(&self, id: u64) -> Result<Option<Vec<u8>>, ClipError> {
        let Some(v) = self.sealed(id)? else {
            return Ok(None);
        };
        if v.len() < 12 {
            return Err(ClipError::Unsealed);
        }
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(&v[..12]),
                Payload {
                    msg: &v[12..],
                    aad: &aad(id),
                },
            )
            .map_err(|_| ClipError::Unsealed)?;
        Ok(Some(plain))
    }

    /// Deletes export `id`'s clip, if held here, and erases it from the
    /// files: every family flushed (so the write-ahead log that held it is
    /// retired), then the clips' range compacted.
    pub fn delete(&self, id: u64) -> Result<(), ClipError> {
        if self.sealed(id)?.is_none() {
            return Ok(());
        }
        self.store
            .db()
            .delete_cf_opt(
                self.store.cf(cf::CLIPS),
                id.to_be_bytes(),
                &crate::store::sync_write(),
            )
            .map_err(StoreError::from)?;
        self.erase()
    }

    /// Erases deleted clips from the files (after a deletion written
    /// through the ledger's batch).
    pub fn erase(&self) -> Result<(), ClipError> {
        self.store.flush_all()?;
        erase_family(&self.store);
        Ok(())
    }

    /// Deletes (and erases) every clip `keep` does not keep; how many.
    pub fn sweep(&self, keep: impl Fn(u64) -> bool) -> Result<usize, ClipError> {
        let mut gone = 0;
        for item in self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::CLIPS), rocksdb::IteratorMode::Start)
        {
            let (k, _) = item.map_err(StoreError::from)?;
            let Ok(id) = <[u8; 8]>::try_from(k.as_ref()).map(u64::from_be_bytes) else {
                continue;
            };
            if !keep(id) {
                self.store
                    .db()
                    .delete_cf(self.store.cf(cf::CLIPS), k)
                    .map_err(StoreError::from)?;
                gone += 1;
            }
        }
        if gone > 0 {
            self.erase()?;
        }
        Ok(gone)
    }
}

/// Compacts the whole clips family, bottommost level included, so deleted
/// clips leave the table files.
pub fn erase_family(store: &Store) {
    let mut opts = rocksdb::CompactOptions::default();
    opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
    store
        .db()
        .compact_range_cf_opt(store.cf(cf::CLIPS), None::<&[u8]>, None::<&[u8]>, &opts);
}
