//! Binding key files to the data directory they protect.
//!
//! A data directory is only ever opened with the keys its records were
//! written with. The check value of every key (see
//! [`crate::crypto::secret::check_value`]) is stored in the `meta` column family;
//! at start-up each stored check value must match a key on disk. Keys are
//! generated only for a data directory that holds no records yet: an
//! appliance whose `keys/` went missing refuses to start instead of
//! generating new keys and denying every card as `unknown`.

use std::path::{Path, PathBuf};

use rocksdb::WriteBatch;

use crate::crypto::secret::{self, SecretError};
use crate::crypto::vault::{Vault, VaultError};
use crate::store::{cf, Store, StoreError};

/// File name of the access-number transform key inside `keys_dir`.
pub const TRANSFORM_KEY_FILE: &str = "transform.key";

const TRANSFORM_CHECK: &[u8] = b"key-check/transform";
const RECORDS_CHECK_PREFIX: &str = "key-check/records/";
const CURRENT_RECORDS: &[u8] = b"key/records-current";

/// The keys do not fit the data directory.
#[derive(Debug, thiserror::Error)]
pub enum KeyBindError {
    /// A key the data was written with is not in the key directory.
    #[error("the data directory holds records but {what} is missing from {dir}; restore the key directory from the appliance's key backup (new keys would make every card unknown and every record unreadable)")]
    Missing {
        /// Which key.
        what: String,
        /// The key directory.
        dir: PathBuf,
    },
    /// A key file is present but is not the key the data was written with.
    #[error("{what} in {dir} is not the key this data directory was written with; restore the matching key directory")]
    Mismatch {
        /// Which key.
        what: String,
        /// The key directory.
        dir: PathBuf,
    },
    /// A key file could not be read or created.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The record keys could not be opened.
    #[error("record keys: {0}")]
    Vault(#[from] VaultError),
    /// The data directory could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The appliance's keys, checked against its data.
#[derive(Debug)]
pub struct Keys {
    /// The access-number transform key.
    pub transform: [u8; 32],
    /// The record keys.
    pub vault: Vault,
}

fn records_check_key(id: u32) -> Vec<u8> {
    format!("{RECORDS_CHECK_PREFIX}{id:010}").into_bytes()
}

/// Opens (for a fresh data directory: creates) the keys in `dir` and checks
/// them against `store`; records check values that are not stored yet.
pub fn bind(dir: &Path, store: &Store) -> Result<Keys, KeyBindError> {
    let fresh = !store.holds_records()?;
    let db = store.db();
    let meta = store.cf(cf::META);
    let missing = |what: &str| KeyBindError::Missing {
        what: what.to_owned(),
        dir: dir.to_owned(),
    };
    let mismatch = |what: &str| KeyBindError::Mismatch {
        what: what.to_owned(),
        dir: dir.to_owned(),
    };

    let tpath = dir.join(TRANSFORM_KEY_FILE);
    let transform = if tpath.exists() {
        secret::load_key(&tpath)?
    } else if fresh {
        secret::load_or_create_key(&tpath)?
    } else {
        return Err(missing(&format!(
            "the transform key ({TRANSFORM_KEY_FILE})"
        )));
    };
    let vault = match Vault::open(dir, fresh) {
        Err(VaultError::NoKeys(_)) => return Err(missing("the record keys (records.current)")),
        Err(VaultError::MissingKey(id)) => {
            return Err(missing(&format!("record key {id} (records-{id}.key)")))
        }
        other => other?,
    };

    let mut batch = WriteBatch::default();
    let check = secret::check_value(&transform);
    match db.get_cf(meta, TRANSFORM_CHECK).map_err(StoreError::from)? {
        Some(v) if v != check => return Err(mismatch(TRANSFORM_KEY_FILE)),
        Some(_) => {}
        None => batch.put_cf(meta, TRANSFORM_CHECK, check),
    }
    let held = vault.check_values();
    let mut stored = Vec::new();
    for item in db.prefix_iterator_cf(meta, RECORDS_CHECK_PREFIX.as_bytes()) {
        let (k, v) = item.map_err(StoreError::from)?;
        let Some(id) = k
            .strip_prefix(RECORDS_CHECK_PREFIX.as_bytes())
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u32>().ok())
        else {
            break;
        };
        let name = format!("record key {id} (records-{id}.key)");
        match held.iter().find(|(h, _)| *h == id) {
            None => return Err(missing(&name)),
            Some((_, c)) if c[..] != v[..] => return Err(mismatch(&name)),
            Some(_) => stored.push(id),
        }
    }
    for (id, c) in &held {
        if !stored.contains(id) {
            batch.put_cf(meta, records_check_key(*id), c);
        }
    }
    if !batch.is_empty() {
        db.write_opt(batch, &crate::store::sync_write())
            .map_err(StoreError::from)?;
    }
    // The ledger names the current record key; `records.current` follows it
    // (it lags if the process stopped between the two).
    if let Some(v) = db.get_cf(meta, CURRENT_RECORDS).map_err(StoreError::from)? {
        let id = u32::from_be_bytes(
            <[u8; 4]>::try_from(v.as_slice()).map_err(|_| StoreError::Corrupt { what: "keys" })?,
        );
        if vault.current_id() != id {
            vault.set_current(id)?;
        }
    }
    Ok(Keys { transform, vault })
}

/// Adds to `batch` that record key `id` (check value `check`) is current.
pub fn stage_current(store: &Store, batch: &mut WriteBatch, id: u32, check: [u8; 8]) {
    let meta = store.cf(cf::META);
    batch.put_cf(meta, records_check_key(id), check);
    batch.put_cf(meta, CURRENT_RECORDS, id.to_be_bytes());
}

/// Adds to `batch` that record keys `ids` are retired.
pub fn stage_retired(store: &Store, batch: &mut WriteBatch, ids: &[u32]) {
    let meta = store.cf(cf::META);
    for id in ids {
        batch.delete_cf(meta, records_check_key(*id));
    }
}

/// The stored key check values, as `(name, hex)`: `transform` and
/// `records-<id>` (for backup manifests).
pub fn checks(store: &Store) -> Result<Vec<(String, String)>, StoreError> {
    let db = store.db();
    let meta = store.cf(cf::META);
    let mut out = Vec::new();
    if let Some(v) = db.get_cf(meta, TRANSFORM_CHECK)? {
        out.push(("transform".to_owned(), hex::encode(v)));
    }
    for item in db.prefix_iterator_cf(meta, RECORDS_CHECK_PREFIX.as_bytes()) {
        let (k, v) = item?;
        let Some(id) = k
            .strip_prefix(RECORDS_CHECK_PREFIX.as_bytes())
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u32>().ok())
        else {
            break;
        };
        out.push((format!("records-{id}"), hex::encode(v)));
    }
    Ok(out)
}
