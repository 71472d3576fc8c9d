//! Encryption at rest for personal data: AES-256-GCM with a fresh random
//! nonce per write, the record's identity as associated data (so a
//! ciphertext moved to another record does not decrypt), and the id of the
//! key stored with every record so keys can be rotated.
//!
//! Keys live in `keys/records-<id>.key` (mode 0600); `keys/records.current`
//! names the key new writes use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

use crate::crypto::secret::{self, SecretError};

/// A sealed value could not be opened or a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A key file problem.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The record names a key this appliance does not have.
    #[error("record sealed with key {0}, which is not in the key directory")]
    MissingKey(u32),
    /// Authentication failed: tampered data, or data moved between records.
    #[error("sealed record failed authentication")]
    Tampered,
    /// The sealed bytes are too short or of an unknown version.
    #[error("sealed record is malformed")]
    Malformed,
    /// A key file holds another key than the one a change names.
    #[error(
        "keys/records-{0}.key is not the key the cluster uses under that id (check value differs)"
    )]
    WrongKey(u32),
    /// There is no record key in the directory.
    #[error("no record key in {0} (records.current is missing)")]
    NoKeys(PathBuf),
    /// The key directory could not be updated.
    #[error("key directory: {0}")]
    Io(#[from] std::io::Error),
}

const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 12;
/// version + key id + nonce.
const HEADER: usize = 1 + 4 + NONCE_LEN;

/// (current key id, ciphers by id, check values by id).
type KeySet = (u32, HashMap<u32, Aes256Gcm>, HashMap<u32, [u8; 8]>);

/// The record keys.
pub struct Vault {
    dir: PathBuf,
    keys: RwLock<KeySet>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("current", &self.current_id())
            .finish()
    }
}

fn key_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("records-{id}.key"))
}

impl Vault {
    /// Opens the key directory. With `create`, key 1 is made when there is
    /// no key yet (a fresh appliance); without it, a missing key set is
    /// [`VaultError::NoKeys`].
    pub fn open(dir: &Path, create: bool) -> Result<Self, VaultError> {
        secret::ensure_private_dir(dir)?;
        let current_file = dir.join("records.current");
        let current: u32 = match std::fs::read_to_string(&current_file) {
            Ok(s) => s.trim().parse().map_err(|_| VaultError::Malformed)?,
            Err(_) if create => {
                secret::load_or_create_key(&key_path(dir, 1))?;
                std::fs::write(&current_file, "1\n")?;
                1
            }
            Err(_) => return Err(VaultError::NoKeys(dir.to_owned())),
        };
        let mut keys = HashMap::new();
        let mut checks = HashMap::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(id) = name
                .strip_prefix("records-")
                .and_then(|s| s.strip_suffix(".key"))
                .and_then(|s| s.parse::<u32>().ok())
            {
                let k = secret::load_key(&key_path(dir, id))?;
                checks.insert(id, secret::check_value(&k));
                keys.insert(id, Aes256Gcm::new(&k.into()));
            }
        }
        if !keys.contains_key(&current) {
            return Err(VaultError::MissingKey(current));
        }
        Ok(Self {
            dir: dir.to_owned(),
            keys: RwLock::new((current, keys, checks)),
        })
    }

    /// Check values of every key held, by id (see [`secret::check_value`]).
    pub fn check_values(&self) -> Vec<(u32, [u8; 8])> {
        let guard = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(u32, [u8; 8])> = guard.2.iter().map(|(id, c)| (*id, *c)).collect();
        v.sort_unstable();
        v
    }

    /// The id of the key new writes use.
    pub fn current_id(&self) -> u32 {
        self.keys.read().map(|k| k.0).unwrap_or(0)
    }

    /// Encrypts `plain` for the record identified by `aad`.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let guard = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let (id, keys) = (&guard.0, &guard.1);
        let cipher = &keys[id];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("AES-GCM encryption of an in-memory buffer does not fail");
        let mut out = Vec::with_capacity(HEADER + ct.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts a sealed value for the record identified by `aad`.
    pub fn open_sealed(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < HEADER + 16 || sealed[0] != SEALED_V1 {
            return Err(VaultError::Malformed);
        }
        let id = u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]);
        let guard = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let cipher = guard.1.get(&id).ok_or(VaultError::MissingKey(id))?;
        cipher
            .decrypt(
                Nonce::from_slice(&sealed[5..HEADER]),
                Payload {
                    msg: &sealed[HEADER..],
                    aad,
                },
            )
            .map_err(|_| VaultError::Tampered)
    }

    /// The key id a sealed value was written with.
    pub fn key_id_of(sealed: &[u8]) -> Option<u32> {
        sealed
            .get(1..5)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Creates a new key file (not yet current); returns its id and check
    /// value. The key becomes current through [`Vault::set_current`] once
    /// the change that names it is committed.
    pub fn create_key(&self) -> Result<(u32, [u8; 8]), VaultError> {
        let mut guard = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let next = guard.1.keys().max().copied().unwrap_or(0) + 1;
        let k = secret::load_or_create_key(&key_path(&self.dir, next))?;
        let check = secret::check_value(&k);
        guard.2.insert(next, check);
        guard.1.insert(next, Aes256Gcm::new(&k.into()));
        Ok((next, check))
    }

    /// Makes sure key `id` with check value `check` is held, loading its
    /// file if it has appeared in the directory since start (a key made on
    /// another appliance of a cluster, copied here).
    pub fn require(&self, id: u32, check: [u8; 8]) -> Result<(), VaultError> {
        let mut guard = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if let Some(have) = guard.2.get(&id) {
            return if *have == check {
                Ok(())
            } else {
                Err(VaultError::WrongKey(id))
            };
        }
        let path = key_path(&self.dir, id);
        if !path.exists() {
            return Err(VaultError::MissingKey(id));
        }
        let k = secret::load_key(&path)?;
        if secret::check_value(&k) != check {
            return Err(VaultError::WrongKey(id));
        }
        guard.2.insert(id, check);
        guard.1.insert(id, Aes256Gcm::new(&k.into()));
        Ok(())
    }

    /// Makes key `id` the one new records are sealed with (and records it
    /// in `records.current`).
    pub fn set_current(&self, id: u32) -> Result<(), VaultError> {
        let mut guard = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if !guard.1.contains_key(&id) {
            return Err(VaultError::MissingKey(id));
        }
        let tmp = self.dir.join("records.current.tmp");
        std::fs::write(&tmp, format!("{id}\n"))?;
        std::fs::rename(&tmp, self.dir.join("records.current"))?;
        guard.0 = id;
        Ok(())
    }

    /// Ids of every key but the current one.
    pub fn others(&self) -> Vec<u32> {
        let guard = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<u32> = guard.1.keys().copied().filter(|k| *k != guard.0).collect();
        v.sort_unstable();
        v
    }

    /// Forgets keys `ids` and deletes their files (once no record is sealed
    /// with them). The current key is never retired.
    pub fn retire(&self, ids: &[u32]) {
        let mut guard = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let current = guard.0;
        for id in ids.iter().filter(|id| **id != current) {
            guard.1.remove(id);
            guard.2.remove(id);
            if let Err(e) = std::fs::remove_file(key_path(&self.dir, *id)) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!(key = id, error = %e, "could not delete a retired record key");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(&dir.path().join("keys"), true).unwrap();
        let s = v.seal(b"holder:1", b"fixture-record");
        assert_eq!(v.open_sealed(b"holder:1", &s).unwrap(), b"fixture-record");
        // Moved to another record: refused.
        assert!(matches!(
            v.open_sealed(b"holder:2", &s),
            Err(VaultError::Tampered)
        ));
        let mut t = s.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(matches!(
            v.open_sealed(b"holder:1", &t),
            Err(VaultError::Tampered)
        ));
        // Fresh nonce per write.
        assert_ne!(v.seal(b"holder:1", b"fixture-record"), s);
        // Rotation: old records still open until retired.
        let old_id = v.current_id();
        let (new_id, _) = v.create_key().unwrap();
        assert_eq!(v.current_id(), old_id, "a new key is not current until set");
        v.set_current(new_id).unwrap();
        assert_ne!(old_id, new_id);
        assert_eq!(v.open_sealed(b"holder:1", &s).unwrap(), b"fixture-record");
        let s2 = v.seal(b"holder:1", b"fixture-record");
        assert_eq!(Vault::key_id_of(&s2), Some(new_id));
        assert_eq!(v.others(), vec![old_id]);
        v.retire(&v.others());
        assert!(matches!(
            v.open_sealed(b"holder:1", &s),
            Err(VaultError::MissingKey(_))
        ));
        // Reopening finds the current key.
        let again = Vault::open(&dir.path().join("keys"), true).unwrap();
        assert_eq!(again.current_id(), new_id);
        assert_eq!(
            again.open_sealed(b"holder:1", &s2).unwrap(),
            b"fixture-record"
        );
    }
}
