//! Scale measurements: a synthetic data set of N credentials written
//! straight into RocksDB, and the time and memory it takes to load it.
//!
//! The synthetic cards carry random digests with no access number behind
//! them: they can never be granted, and exist only to measure the map.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rocksdb::{WriteBatch, WriteOptions};

use crate::clock::{SharedClock, SystemClock};
use crate::crypto::numbers::Transform;
use crate::policy::credentials::{CardStatus, Entry};
use crate::records::cards::{Card, CardBook};
use crate::store::{cf, Store, StoreError};

const RETENTION: u64 = 14 * 86_400 * 1_000_000;

/// Writes `n` synthetic cards into a new database at `dir`.
pub fn create(dir: &Path, n: u64) -> Result<Duration, StoreError> {
    let started = Instant::now();
    let clock: SharedClock = Arc::new(SystemClock);
    let store = Store::open(dir, clock.clone(), RETENTION)?;
    let mut rng = ChaCha8Rng::from_entropy();
    let mut wo = WriteOptions::default();
    wo.disable_wal(true);
    let now = clock.now_micros();
    let mut batch = WriteBatch::default();
    for id in 1..=n {
        let digest = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        let card = Card {
            id,
            digest,
            entry: Entry {
                card_id: id,
                holder: id as u32,
                valid_from: 0,
                valid_until: 0,
                status: CardStatus::Active,
            },
            issued_at: now,
        };
        batch.put_cf(store.cf(cf::CARDS), id.to_be_bytes(), card.encode());
        if id % 100_000 == 0 {
            store.db().write_opt(std::mem::take(&mut batch), &wo)?;
        }
    }
    store.db().write_opt(batch, &wo)?;
    store.flush_all()?;
    Ok(started.elapsed())
}

/// Resident set size of this process in bytes (Linux).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// What loading a data set cost.
#[derive(Debug, Clone, Copy)]
pub struct LoadCost {
    /// Credentials loaded.
    pub credentials: usize,
    /// Time to open the database and fill the map.
    pub load: Duration,
    /// RSS growth while loading, in bytes.
    pub rss_growth: u64,
    /// RSS after loading.
    pub rss_after: u64,
}

impl LoadCost {
    /// RSS growth per credential.
    pub fn bytes_per_credential(&self) -> f64 {
        self.rss_growth as f64 / self.credentials.max(1) as f64
    }
}

/// Loads the database at `dir` the way the appliance does at start-up and
/// measures it. The map is returned inside the card book so it stays alive.
pub fn measure_load(dir: &Path) -> Result<(LoadCost, CardBook), StoreError> {
    let before = rss_bytes();
    let started = Instant::now();
    let clock: SharedClock = Arc::new(SystemClock);
    let store = Store::open(dir, clock.clone(), RETENTION)?;
    let book = CardBook::load(store, Transform::new(&[0; 32]), clock)?;
    let load = started.elapsed();
    let after = rss_bytes();
    Ok((
        LoadCost {
            credentials: book.map().len(),
            load,
            rss_growth: after.saturating_sub(before),
            rss_after: after,
        },
        book,
    ))
}
