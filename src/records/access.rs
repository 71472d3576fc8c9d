//! Access-level definitions as stored: one JSON document in the `access`
//! column family, installed into [`AccessControl`] at start-up and after
//! every change.

use rocksdb::WriteBatch;

use crate::policy::levels::{AccessControl, Definitions};
use crate::store::{cf, Store, StoreError};

const KEY: &[u8] = b"definitions";

/// Adds the definitions to `batch`.
pub fn stage(store: &Store, batch: &mut WriteBatch, defs: &Definitions) -> Result<(), StoreError> {
    let v = serde_json::to_vec(defs).map_err(|_| StoreError::Corrupt { what: "access" })?;
    batch.put_cf(store.cf(cf::ACCESS), KEY, v);
    Ok(())
}

/// Loads stored definitions into `access`.
pub fn load(store: &Store, access: &AccessControl) -> Result<(), StoreError> {
    if let Some(v) = store.db().get_cf(store.cf(cf::ACCESS), KEY)? {
        let defs: Definitions =
            serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt { what: "access" })?;
        access
            .install(defs)
            .map_err(|_| StoreError::Corrupt { what: "access" })?;
    }
    Ok(())
}
