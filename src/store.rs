//! The RocksDB database and its column families.
//!
//! | column family | key | value |
//! | --- | --- | --- |
//! | `cards` | card id (u64 BE) | [`crate::cards::Card`] record |
//! | `readers` | reader name | reader id and doors |
//! | `journal` | time µs (u64 BE) ‖ sequence (u64 BE) | [`crate::journal::Record`] |
//! | `holders` | holder id (u64 BE) | clear header ‖ sealed personal fields |
//! | `photos` | holder id (u64 BE) | image type ‖ sealed image |
//! | `access` | `definitions` | door groups, schedules, levels, holidays (JSON) |
//! | `audit` | time µs ‖ sequence | [`crate::audit::AuditEntry`] (JSON) |
//! | `holder_cards` | holder id ‖ card id | (empty): which cards a holder has |
//!
//! The journal family carries a compaction filter that drops every record
//! older than the retention window, so any compaction erases expired records;
//! [`crate::journal`] also runs a forced compaction on a schedule.

use std::path::Path;
use std::sync::Arc;

use rocksdb::compaction_filter::Decision as Keep;
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Options, DB};

use crate::clock::SharedClock;

/// Column family names.
pub mod cf {
    /// Cards.
    pub const CARDS: &str = "cards";
    /// Registered readers.
    pub const READERS: &str = "readers";
    /// Decision journal.
    pub const JOURNAL: &str = "journal";
    /// Cardholders (clear header + sealed personal fields).
    pub const HOLDERS: &str = "holders";
    /// Photos (sealed).
    pub const PHOTOS: &str = "photos";
    /// Access-level definitions.
    pub const ACCESS: &str = "access";
    /// Admin audit trail.
    pub const AUDIT: &str = "audit";
    /// Index: holder id ‖ card id → (empty).
    pub const HOLDER_CARDS: &str = "holder_cards";
    /// Every family, in open order.
    pub const ALL: [&str; 8] = [
        CARDS,
        READERS,
        JOURNAL,
        HOLDERS,
        PHOTOS,
        ACCESS,
        AUDIT,
        HOLDER_CARDS,
    ];
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error.
    #[error("database: {0}")]
    Db(#[from] rocksdb::Error),
    /// A stored value does not decode.
    #[error("corrupt {what} record in the database")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
    },
    /// The data directory could not be created.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Time stamp (µs) at the start of a journal key, if the key is one.
pub fn journal_key_time(key: &[u8]) -> Option<u64> {
    key.get(..8)
        .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
}

/// The shared database handle.
#[derive(Clone)]
pub struct Store {
    db: Arc<DB>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database in `dir`. `retention_micros`
    /// and `clock` drive the journal's compaction filter.
    pub fn open(dir: &Path, clock: SharedClock, retention_micros: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_compression_type(DBCompressionType::None);
        db_opts.increase_parallelism(2);
        // Archived WAL files are deleted at once, so an erased record does
        // not live on in an old log.
        db_opts.set_wal_ttl_seconds(0);
        db_opts.set_wal_size_limit_mb(0);
        db_opts.set_keep_log_file_num(5);

        let mut plain = Options::default();
        plain.set_compression_type(DBCompressionType::None);

        let mut journal = Options::default();
        journal.set_compression_type(DBCompressionType::None);
        journal.set_write_buffer_size(64 << 20);
        journal.set_compaction_filter(
            "portcullis-journal-retention",
            move |_level, key, _value| {
                let cutoff = clock.now_micros().saturating_sub(retention_micros);
                match journal_key_time(key) {
                    Some(t) if t >= cutoff => Keep::Keep,
                    _ => Keep::Remove,
                }
            },
        );

        let cfs = vec![
            ColumnFamilyDescriptor::new(cf::CARDS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::READERS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::JOURNAL, journal),
            ColumnFamilyDescriptor::new(cf::HOLDERS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::PHOTOS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::ACCESS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::AUDIT, plain.clone()),
            ColumnFamilyDescriptor::new(cf::HOLDER_CARDS, plain),
        ];
        let db = DB::open_cf_descriptors(&db_opts, dir, cfs)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// The raw database.
    pub fn db(&self) -> &DB {
        &self.db
    }

    /// A column family handle. Every family is created at open, so this
    /// cannot fail for the names in [`cf`].
    pub fn cf(&self, name: &'static str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column family created at open")
    }

    /// Flushes every memtable to SST files (used before forced compaction and
    /// at shutdown).
    pub fn flush_all(&self) -> Result<(), StoreError> {
        for name in cf::ALL {
            self.db.flush_cf(self.cf(name))?;
        }
        self.db.flush_wal(true)?;
        Ok(())
    }
}
