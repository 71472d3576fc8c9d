//! The RocksDB database and its column families.
//!
//! | column family | key | value |
//! | --- | --- | --- |
//! | `cards` | card id (u64 BE) | [`crate::records::cards::Card`] record |
//! | `readers` | reader name | reader id and doors |
//! | `journal` | time µs (u64 BE) ‖ sequence (u64 BE) | [`crate::store::journal::Record`] |
//! | `holders` | holder id (u64 BE) | clear header ‖ sealed personal fields |
//! | `photos` | holder id (u64 BE) | image type ‖ sealed image |
//! | `access` | `definitions` | door groups, schedules, levels, holidays (JSON) |
//! | `audit` | time µs ‖ sequence | [`crate::store::audit::AuditEntry`] (JSON) |
//! | `holder_cards` | holder id ‖ card id | (empty): which cards a holder has |
//! | `journal_index` | kind (1 = card) ‖ hour (u32) ‖ card id ‖ time ‖ sequence | (empty) |
//! | `lookups` | time µs ‖ sequence | [`crate::store::lookups::Lookup`] (JSON) |
//! | `investigations` | see [`crate::police`] | |
//! | `meta` | `key-check/...`, `ledger/applied`, `next/reader` | facts about the data directory: key check values, the ledger position, id high-water marks |
//! | `dlcs` | DLC code | [`crate::records::dlcs::Dlc`] (JSON) |
//!
//! The journal and its index carry a compaction filter that drops every
//! record older than the retention window, so any compaction erases expired
//! records; [`crate::store::journal`] also runs a forced compaction on a schedule.

pub mod audit;
pub mod backup;
pub mod docs;
pub mod journal;
pub mod keys;
pub mod lookups;
pub mod retention;
pub mod space;
pub mod timelog;

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
    /// Journal secondary index: kind ‖ hour ‖ id ‖ time ‖ sequence → (empty).
    pub const JOURNAL_INDEX: &str = "journal_index";
    /// Look-up audit: who read the journal, why, and how much.
    pub const LOOKUPS: &str = "lookups";
    /// Investigation state: chief's key, used request hashes, per-subject
    /// daily counts, the notification outbox.
    pub const INVESTIGATIONS: &str = "investigations";
    /// Facts about the data directory itself: check values of the keys its
    /// records were written with.
    pub const META: &str = "meta";
    /// Departments, labs and centers.
    pub const DLCS: &str = "dlcs";
    /// The office's procedures: doors, key authorizers and key orders,
    /// cameras and video requests, photo permissions and distributions
    /// (JSON documents by key, see [`super::docs`]).
    pub const OFFICE: &str = "office";
    /// Exported video clips held for the Director's decision (sealed);
    /// a denied clip is deleted and compacted away.
    pub const CLIPS: &str = "clips";
    /// Every family, in open order.
    pub const ALL: [&str; 15] = [
        CARDS,
        READERS,
        JOURNAL,
        HOLDERS,
        PHOTOS,
        ACCESS,
        AUDIT,
        HOLDER_CARDS,
        JOURNAL_INDEX,
        LOOKUPS,
        INVESTIGATIONS,
        META,
        DLCS,
        OFFICE,
        CLIPS,
    ];
    /// The families that hold access-log data and are erased after the
    /// retention window.
    pub const RETAINED: [&str; 2] = [JOURNAL, JOURNAL_INDEX];
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
    /// Not enough free space for the operation beyond the reserve.
    #[error("not enough free space in the data directory")]
    NoSpace,
    /// The directory holds files but no database (its CURRENT file is
    /// gone): never replaced by an empty one.
    #[error("{0} holds files but no database (CURRENT is missing): it is damaged; restore it from a backup (a new database is created only in an empty directory)")]
    NotADatabase(std::path::PathBuf),
    /// The database lost changes that were acknowledged.
    #[error("the database holds changes up to ledger position {have}, but changes up to {acknowledged} were acknowledged: it was damaged (for example a truncated write-ahead log), and a revoked card could work again; restore the data directory from a backup")]
    LostChanges {
        /// The database's position.
        have: u64,
        /// The last acknowledged position.
        acknowledged: u64,
    },
}

pub use crate::config::ROCKSDB_MAX_OPEN_FILES as MAX_OPEN_FILES;

/// The ledger's acknowledged-position marker, a file in the data directory
/// beside RocksDB's (see [`crate::ledger`]).
pub const LEDGER_MARKER: &str = "LEDGER-POSITION";

/// Write options for changes that must survive a power cut once
/// acknowledged: the WAL is synced before the write returns.
pub fn sync_write() -> rocksdb::WriteOptions {
    let mut w = rocksdb::WriteOptions::default();
    w.set_sync(true);
    w
}

/// Time stamp (µs) at the start of a journal key, if the key is one.
pub fn journal_key_time(key: &[u8]) -> Option<u64> {
    key.get(..8)
        .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
}

/// A compaction filter that drops every key whose time stamp (8 bytes at
/// `offset`) has reached the retention window; a key that is not `len`
/// bytes long is not a journal key and is dropped too.
fn retention_filter(
    clock: SharedClock,
    retention_micros: u64,
    offset: usize,
    len: usize,
) -> impl FnMut(u32, &[u8], &[u8]) -> Keep + Send + 'static {
    move |_level, key, _value| {
        // A record is expired once its age reaches the retention window.
        let expired_at_or_before = clock.now_micros().saturating_sub(retention_micros);
        let time = (key.len() == len)
            .then(|| journal_key_time(&key[offset..]))
            .flatten();
        match time {
            Some(t) if t > expired_at_or_before => Keep::Keep,
            _ => Keep::Remove,
        }
    }
}

/// Creates the data directory (mode 0700) or tightens an existing one and
/// its files to owner-only; refuses a directory that holds files but no
/// database. Returns whether the directory is empty (a new database).
fn prepare_dir(dir: &Path) -> Result<bool, StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        return Ok(true);
    }
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let mode = e.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode & 0o700))?;
        }
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), "data directory was open to group or others; now owner-only");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    if names.is_empty() {
        return Ok(true);
    }
    if !names.iter().any(|n| n == "CURRENT") {
        return Err(StoreError::NotADatabase(dir.to_owned()));
    }
    Ok(false)
}

/// How the database is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// RocksDB's own log in this directory (another filesystem) at info
    /// level; without, the log stays in the data directory at fatal level
    /// only, so a full disk cannot make RocksDB abort on a failed log write
    /// (see [`space`]).
    pub log_dir: Option<std::path::PathBuf>,
    /// The journal's write buffer in bytes (the free-space reserve must
    /// cover about twice it).
    pub journal_write_buffer: usize,
}

impl Tuning {
    /// How `config` says the database is opened.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let l = &config.storage.rocksdb_log_dir;
        Tuning {
            log_dir: (!l.as_os_str().is_empty()).then(|| l.clone()),
            journal_write_buffer: (config.journal.write_buffer_mb as usize) << 20,
        }
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            log_dir: None,
            journal_write_buffer: 64 << 20,
        }
    }
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
        Self::open_with(dir, clock, retention_micros, &Tuning::default())
    }

    /// As [`Store::open`], tuned.
    pub fn open_with(
        dir: &Path,
        clock: SharedClock,
        retention_micros: u64,
        tuning: &Tuning,
    ) -> Result<Self, StoreError> {
        let log_dir = tuning.log_dir.as_deref();
        let fresh = prepare_dir(dir)?;
        let mut db_opts = Options::default();
        // A database is created only in an empty directory: RocksDB would
        // otherwise start an empty one over a directory that lost its
        // CURRENT file, and delete the old table files.
        db_opts.create_if_missing(fresh);
        db_opts.create_missing_column_families(true);
        db_opts.set_compression_type(DBCompressionType::None);
        db_opts.increase_parallelism(2);
        // Compaction is background work: on two cores it must not take a
        // core away from the connections and the journal writer when they
        // are runnable (measured: p99 at 40 k/s offered, docs/PERFORMANCE.md).
        // Flushes keep their priority, so the journal never stalls for a
        // full memtable.
        let mut env = rocksdb::Env::new()?;
        env.lower_thread_pool_cpu_priority();
        env.lower_thread_pool_io_priority();
        db_opts.set_env(&env);
        // One journal writer thread: concurrent memtable inserts buy nothing,
        // and the vector memtable of the journal index requires them off.
        db_opts.set_allow_concurrent_memtable_write(false);
        // Archived WAL files are deleted at once, so an erased record does
        // not live on in an old log.
        db_opts.set_wal_ttl_seconds(0);
        db_opts.set_wal_size_limit_mb(0);
        db_opts.set_keep_log_file_num(5);
        db_opts.set_max_open_files(MAX_OPEN_FILES as i32);
        match log_dir {
            Some(l) => {
                std::fs::create_dir_all(l)?;
                db_opts.set_db_log_dir(l);
                db_opts.set_log_level(rocksdb::LogLevel::Info);
            }
            None => db_opts.set_log_level(rocksdb::LogLevel::Fatal),
        }
        db_opts.set_max_log_file_size(16 << 20);

        // Every family gets an explicit, small write buffer (the default
        // family included): RocksDB resumes from a full disk only once free
        // space exceeds the largest write buffer of any family.
        let mut plain = Options::default();
        plain.set_compression_type(DBCompressionType::None);
        plain.set_write_buffer_size(4 << 20);

        let mut journal = Options::default();
        journal.set_compression_type(DBCompressionType::None);
        journal.set_write_buffer_size(tuning.journal_write_buffer);
        // The journal is write-heavy and read rarely: let compaction fall
        // behind during a burst rather than throttle the writer (RocksDB's
        // default slow-down caps writes at 16 MB/s once L0 holds 20 files or
        // compaction debt passes 64 GB); the stop trigger still bounds L0.
        journal.set_max_write_buffer_number(4);
        journal.set_level_zero_slowdown_writes_trigger(48);
        journal.set_level_zero_stop_writes_trigger(96);
        journal.set_soft_pending_compaction_bytes_limit(0);
        journal.set_target_file_size_base(64 << 20);
        journal.set_compaction_filter(
            "portcullis-journal-retention",
            retention_filter(clock.clone(), retention_micros, 0, 16),
        );
        let mut index = journal.clone();
        // Index keys arrive in card/door order, not time order: skip-list
        // inserts at random places cost several cache misses each. A vector
        // memtable appends and sorts once at flush; the index is read only
        // by look-ups, which can afford the sort.
        index.set_memtable_factory(rocksdb::MemtableFactory::Vector);
        // Smaller memtables: each flush sorts less at once, so the sort does
        // not take a core away from the readers in one long burst.
        index.set_write_buffer_size((tuning.journal_write_buffer / 4).max(4 << 20));
        index.set_compaction_filter(
            "portcullis-journal-index-retention",
            retention_filter(
                clock,
                retention_micros,
                crate::store::journal::INDEX_TIME_AT,
                crate::store::journal::INDEX_KEY_LEN,
            ),
        );

        let cfs = vec![
            ColumnFamilyDescriptor::new("default", plain.clone()),
            ColumnFamilyDescriptor::new(cf::CARDS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::READERS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::JOURNAL, journal),
            ColumnFamilyDescriptor::new(cf::HOLDERS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::PHOTOS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::ACCESS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::AUDIT, plain.clone()),
            ColumnFamilyDescriptor::new(cf::HOLDER_CARDS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::JOURNAL_INDEX, index),
            ColumnFamilyDescriptor::new(cf::LOOKUPS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::INVESTIGATIONS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::META, plain.clone()),
            ColumnFamilyDescriptor::new(cf::DLCS, plain.clone()),
            ColumnFamilyDescriptor::new(cf::OFFICE, plain.clone()),
            ColumnFamilyDescriptor::new(cf::CLIPS, plain),
        ];
        let db = DB::open_cf_descriptors(&db_opts, dir, cfs)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Opens an existing database read-only, beside a running appliance
    /// (no lock is taken; the view is as of the open).
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        let opts = Options::default();
        // The families this database has (an older one may lack newer ones).
        let families = DB::list_cf(&opts, dir)?;
        let db = DB::open_cf_for_read_only(&opts, dir, families, false)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// A column family handle, if the database has it (read-only opens of
    /// older databases).
    pub fn try_cf(&self, name: &str) -> Option<&ColumnFamily> {
        self.db.cf_handle(name)
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

    /// Whether the directory holds records that keys protect: cards (whose
    /// digests need the transform key), cardholders or photos (sealed with
    /// record keys), or a key check value.
    pub fn holds_records(&self) -> Result<bool, StoreError> {
        for name in [cf::CARDS, cf::HOLDERS, cf::PHOTOS, cf::META] {
            if let Some(item) = self
                .db
                .iterator_cf(self.cf(name), rocksdb::IteratorMode::Start)
                .next()
            {
                item?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Flushes every memtable to SST files (used before forced compaction and
    /// at shutdown).
    pub fn flush_all(&self) -> Result<(), StoreError> {
        for name in cf::ALL {
            self.db.flush_cf(self.cf(name))?;
        }
        // A synced write rather than FlushWAL(sync): it syncs every live
        // WAL just the same, but goes through the write path, which returns
        // an error after a failed write where SyncWAL aborts the process.
        self.db
            .put_cf_opt(self.cf(cf::META), b"sync-marker", [], &sync_write())?;
        Ok(())
    }
}
