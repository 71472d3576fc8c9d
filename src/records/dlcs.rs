//! Departments, labs and centers (DLCs): the registry a cardholder's
//! `department` is chosen from, so the field is a code the office defined,
//! never free text a clerk typed. Key orders (issue 13) are per DLC too.

use rocksdb::{IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::pki::identity::{is_valid_name, NAME_RULE};
use crate::store::{cf, Store, StoreError};

/// What kind of unit a DLC is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DlcKind {
    /// An academic or administrative department.
    Department,
    /// A laboratory.
    Lab,
    /// A center.
    Center,
}

/// One department, lab or center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dlc {
    /// The code cardholder records and key orders refer to.
    pub code: String,
    /// Its name, as the office writes it.
    pub name: String,
    /// Department, lab or center.
    pub kind: DlcKind,
}

/// A DLC definition that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DlcError(pub String);

impl Dlc {
    /// Checks code and name.
    pub fn validate(&self) -> Result<(), DlcError> {
        if !is_valid_name(&self.code) {
            return Err(DlcError(format!("a DLC code is {NAME_RULE}")));
        }
        let ok = !self.name.trim().is_empty()
            && self.name.chars().count() <= 100
            && self
                .name
                .chars()
                .all(|c| c.is_alphanumeric() || " &,.'()-/".contains(c));
        if !ok {
            return Err(DlcError(
                "a DLC name is 1-100 letters, digits, spaces and & , . ' ( ) - /".into(),
            ));
        }
        Ok(())
    }
}

/// Whether `code` is a registered DLC.
pub fn exists(store: &Store, code: &str) -> Result<bool, StoreError> {
    Ok(store
        .db()
        .get_pinned_cf(store.cf(cf::DLCS), code.as_bytes())?
        .is_some())
}

/// Every DLC, by code.
pub fn list(store: &Store) -> Result<Vec<Dlc>, StoreError> {
    let mut out = Vec::new();
    for item in store
        .db()
        .iterator_cf(store.cf(cf::DLCS), IteratorMode::Start)
    {
        let (_, v) = item?;
        out.push(serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt { what: "dlc" })?);
    }
    Ok(out)
}

/// Adds a DLC (new or renamed) to `batch`.
pub fn stage(store: &Store, batch: &mut WriteBatch, d: &Dlc) -> Result<(), StoreError> {
    let v = serde_json::to_vec(d).map_err(|_| StoreError::Corrupt { what: "dlc" })?;
    batch.put_cf(store.cf(cf::DLCS), d.code.as_bytes(), v);
    Ok(())
}
