//! Registered readers and the doors each may ask about.
//!
//! A reader's name is the common name of its certificate; the registry maps
//! it to a numeric id (used in the journal) and a set of doors. The
//! (reader, door) pairs live in a concurrent set so the per-request check is
//! one hash look-up and a change applies to open connections at once.

use std::sync::Mutex;

use dashmap::{DashMap, DashSet};
use rocksdb::{IteratorMode, WriteOptions};
use serde::Serialize;

use crate::store::{cf, Store, StoreError};

/// The most doors one reader (a door controller) may serve.
pub const MAX_DOORS_PER_READER: usize = 1024;

/// A registered reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reader {
    /// Numeric id, stable for the reader's life.
    pub id: u32,
    /// Name (certificate common name).
    pub name: String,
    /// Doors it serves, sorted.
    pub doors: Vec<u32>,
}

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// Bad name or doors.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The registry.
#[derive(Debug)]
pub struct Readers {
    store: Store,
    by_name: DashMap<String, Reader>,
    permitted: DashSet<u64>,
    next_id: Mutex<u32>,
}

fn pair(reader: u32, door: u32) -> u64 {
    (u64::from(reader) << 32) | u64::from(door)
}

fn encode(r: &Reader) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + 4 * r.doors.len());
    v.extend_from_slice(&r.id.to_be_bytes());
    for d in &r.doors {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

fn decode(name: &[u8], v: &[u8]) -> Result<Reader, StoreError> {
    let bad = StoreError::Corrupt { what: "reader" };
    if v.len() < 4 || v.len() % 4 != 0 {
        return Err(bad);
    }
    let name =
        String::from_utf8(name.to_vec()).map_err(|_| StoreError::Corrupt { what: "reader" })?;
    let mut words = v
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    let id = words.next().ok_or(bad)?;
    Ok(Reader {
        id,
        name,
        doors: words.collect(),
    })
}

impl Readers {
    /// Loads the registry.
    pub fn load(store: Store) -> Result<Self, StoreError> {
        let by_name = DashMap::new();
        let permitted = DashSet::new();
        let mut next = 1;
        for item in store
            .db()
            .iterator_cf(store.cf(cf::READERS), IteratorMode::Start)
        {
            let (k, v) = item?;
            let r = decode(&k, &v)?;
            for d in &r.doors {
                permitted.insert(pair(r.id, *d));
            }
            next = next.max(r.id + 1);
            by_name.insert(r.name.clone(), r);
        }
        Ok(Self {
            store,
            by_name,
            permitted,
            next_id: Mutex::new(next),
        })
    }

    /// Registers a reader or replaces its doors.
    pub fn register(&self, name: &str, doors: &[u32]) -> Result<Reader, ReaderError> {
        if !crate::pki::identity::is_valid_name(name) {
            return Err(ReaderError::Invalid(format!(
                "a reader name (the certificate's common name) is {}",
                crate::pki::identity::NAME_RULE
            )));
        }
        if doors.is_empty() || doors.len() > MAX_DOORS_PER_READER {
            return Err(ReaderError::Invalid(format!(
                "a reader serves between 1 and {MAX_DOORS_PER_READER} doors"
            )));
        }
        let mut doors = doors.to_vec();
        doors.sort_unstable();
        doors.dedup();
        let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.by_name.get(name).map(|r| r.clone());
        let id = old.as_ref().map(|r| r.id).unwrap_or(*next);
        let reader = Reader {
            id,
            name: name.to_owned(),
            doors,
        };
        let mut w = WriteOptions::default();
        w.set_sync(true);
        self.store
            .db()
            .put_cf_opt(
                self.store.cf(cf::READERS),
                name.as_bytes(),
                encode(&reader),
                &w,
            )
            .map_err(StoreError::from)?;
        // Grant new doors before withdrawing old ones, so a door kept across
        // the change is never briefly refused.
        for d in &reader.doors {
            self.permitted.insert(pair(id, *d));
        }
        if let Some(old) = old {
            for d in old.doors.iter().filter(|d| !reader.doors.contains(d)) {
                self.permitted.remove(&pair(id, *d));
            }
        } else {
            *next += 1;
        }
        self.by_name.insert(reader.name.clone(), reader.clone());
        Ok(reader)
    }

    /// Removes a reader: its doors are withdrawn at once (open connections
    /// are refused for every door) and new connections are refused.
    pub fn remove(&self, name: &str) -> Result<Option<Reader>, ReaderError> {
        let _g = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        let Some(old) = self.by_name.get(name).map(|r| r.clone()) else {
            return Ok(None);
        };
        let mut w = WriteOptions::default();
        w.set_sync(true);
        self.store
            .db()
            .delete_cf_opt(self.store.cf(cf::READERS), name.as_bytes(), &w)
            .map_err(StoreError::from)?;
        for d in &old.doors {
            self.permitted.remove(&pair(old.id, *d));
        }
        self.by_name.remove(name);
        Ok(Some(old))
    }

    /// The reader with this certificate name, if registered.
    pub fn by_name(&self, name: &str) -> Option<Reader> {
        self.by_name.get(name).map(|r| r.clone())
    }

    /// Whether reader `id` may ask about `door`.
    #[inline]
    pub fn permits(&self, id: u32, door: u32) -> bool {
        self.permitted.contains(&pair(id, door))
    }

    /// Every registered reader.
    pub fn list(&self) -> Vec<Reader> {
        let mut v: Vec<Reader> = self.by_name.iter().map(|r| r.clone()).collect();
        v.sort_by_key(|r| r.id);
        v
    }
}
