//! Records kept as JSON documents under a key, in one column family: the
//! office's procedures (doors, key orders, cameras, video requests, photo
//! permissions), whose volume is small and whose shape changes more often
//! than cards' or the journal's. Written only through the ledger's batch.

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::store::{Store, StoreError};

fn corrupt() -> StoreError {
    StoreError::Corrupt { what: "document" }
}

/// The document at `key` in family `cf`, if any.
pub fn get<T: DeserializeOwned>(
    store: &Store,
    cf: &'static str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match store.db().get_cf(store.cf(cf), key)? {
        Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(|_| corrupt())?)),
        None => Ok(None),
    }
}

/// Every document whose key starts with `prefix`, in key order.
pub fn list<T: DeserializeOwned>(
    store: &Store,
    cf: &'static str,
    prefix: &[u8],
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for item in store
        .db()
        .iterator_cf(store.cf(cf), IteratorMode::From(prefix, Direction::Forward))
    {
        let (k, v) = item?;
        if !k.starts_with(prefix) {
            break;
        }
        out.push(serde_json::from_slice(&v).map_err(|_| corrupt())?);
    }
    Ok(out)
}

/// The last key starting with `prefix`, if any (ids allocated as the last
/// one plus one, under the ledger lock).
pub fn last_key(
    store: &Store,
    cf: &'static str,
    prefix: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut end = prefix.to_vec();
    end.push(0xff);
    match store
        .db()
        .iterator_cf(store.cf(cf), IteratorMode::From(&end, Direction::Reverse))
        .next()
    {
        Some(item) => {
            let (k, _) = item?;
            Ok(k.starts_with(prefix).then(|| k.to_vec()))
        }
        None => Ok(None),
    }
}

/// The next id of the documents keyed `prefix` ‖ id (8 bytes, big-endian):
/// the last one plus one, or 1. Called under the ledger lock, so two
/// changes never draw the same id.
pub fn next_id(store: &Store, cf: &'static str, prefix: &[u8]) -> Result<u64, StoreError> {
    Ok(match last_key(store, cf, prefix)? {
        Some(k) => {
            u64::from_be_bytes(
                k.get(prefix.len()..)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(corrupt)?,
            ) + 1
        }
        None => 1,
    })
}

/// Adds `doc` at `key` to `batch`.
pub fn stage_put<T: Serialize>(
    store: &Store,
    batch: &mut WriteBatch,
    cf: &'static str,
    key: &[u8],
    doc: &T,
) -> Result<(), StoreError> {
    let v = serde_json::to_vec(doc).map_err(|_| corrupt())?;
    batch.put_cf(store.cf(cf), key, v);
    Ok(())
}

/// Adds the deletion of `key` to `batch`.
pub fn stage_delete(store: &Store, batch: &mut WriteBatch, cf: &'static str, key: &[u8]) {
    batch.delete_cf(store.cf(cf), key);
}
