//! Registered readers and the doors each may ask about.
//!
//! A reader's name is the common name of its certificate; the registry maps
//! it to a numeric id (used in the journal) and a set of doors. Ids are
//! never reused, not even after a removal and a restart (the high-water mark
//! is stored), so a new reader never inherits an old reader's records. The
//! (reader, door) pairs live in a concurrent set so the per-request check is
//! one hash look-up and a change applies to open connections at once.

use std::sync::atomic::{AtomicU32, Ordering};

use dashmap::{DashMap, DashSet};
use rocksdb::{IteratorMode, WriteBatch};
use serde::Serialize;

use crate::store::{cf, Store, StoreError};

/// The most doors one reader (a door controller) may serve.
pub const MAX_DOORS_PER_READER: usize = 1024;

/// A registered reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    next_id: AtomicU32,
}

/// Meta key of the reader-id high-water mark.
const NEXT_ID: &[u8] = b"next/reader";

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
        if let Some(v) = store.db().get_cf(store.cf(cf::META), NEXT_ID)? {
            let mark = <[u8; 4]>::try_from(v.as_slice())
                .map_err(|_| StoreError::Corrupt { what: "reader" })?;
            next = next.max(u32::from_be_bytes(mark));
        }
        Ok(Self {
            store,
            by_name,
            permitted,
            next_id: AtomicU32::new(next),
        })
    }

    /// Plans registering a reader or replacing its doors.
    pub fn plan_register(&self, name: &str, doors: &[u32]) -> Result<Reader, ReaderError> {
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
        let id = match self.by_name.get(name) {
            Some(r) => r.id,
            None => self.next_id.load(Ordering::SeqCst),
        };
        Ok(Reader {
            id,
            name: name.to_owned(),
            doors,
        })
    }

    /// Adds a reader record (and the id high-water mark) to `batch`.
    pub fn stage_put(&self, batch: &mut WriteBatch, r: &Reader) {
        batch.put_cf(self.store.cf(cf::READERS), r.name.as_bytes(), encode(r));
        let mark = self.next_id.load(Ordering::SeqCst).max(r.id + 1);
        batch.put_cf(self.store.cf(cf::META), NEXT_ID, mark.to_be_bytes());
    }

    /// Makes a written reader live: new doors are granted before old ones
    /// are withdrawn, so a door kept across the change is never briefly
    /// refused.
    pub fn install_put(&self, reader: &Reader) {
        let old = self.by_name.get(&reader.name).map(|r| r.clone());
        for d in &reader.doors {
            self.permitted.insert(pair(reader.id, *d));
        }
        if let Some(old) = old {
            for d in old.doors.iter().filter(|d| !reader.doors.contains(d)) {
                self.permitted.remove(&pair(old.id, *d));
            }
        }
        self.next_id.fetch_max(reader.id + 1, Ordering::SeqCst);
        self.by_name.insert(reader.name.clone(), reader.clone());
    }

    /// Adds a reader's removal to `batch`.
    pub fn stage_remove(&self, batch: &mut WriteBatch, name: &str) {
        batch.delete_cf(self.store.cf(cf::READERS), name.as_bytes());
    }

    /// Makes a written removal live: the reader's doors are withdrawn at
    /// once (open connections are refused for every door) and new
    /// connections are refused.
    pub fn install_remove(&self, name: &str) {
        if let Some((_, old)) = self.by_name.remove(name) {
            for d in &old.doors {
                self.permitted.remove(&pair(old.id, *d));
            }
        }
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
