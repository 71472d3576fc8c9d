//! Online backups and their restore.
//!
//! A backup is a RocksDB checkpoint (a consistent copy of every record,
//! made while the appliance runs) plus a manifest: when it was made, the
//! ledger position it holds, and the check values — never the material — of
//! the keys its records need. Keys are copied only when asked, into a
//! directory of their own, owner-only.
//!
//! Backups hold access-log records too, so they fall under the same 14-day
//! rule: the scheduled erasure deletes every backup older than the
//! retention window, and a restore erases, before anything else, every
//! record that has expired since the backup was made.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros, SharedClock};
use crate::store::{Store, StoreError};

/// The manifest of one backup (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// When it was made (RFC 3339).
    pub created: String,
    /// When it was made (µs).
    pub created_us: Micros,
    /// The ledger position it holds.
    pub ledger_position: u64,
    /// Check values of the keys its records need: `transform` and
    /// `records-<id>`, hex.
    pub key_checks: Vec<(String, String)>,
    /// Whether the key files are in `keys/` beside the database.
    pub with_keys: bool,
}

/// A backup on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// Its directory.
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// Makes a checkpoint of `store` under `root`, named by its time and
/// position; `keys` (the key directory) is copied beside it when given.
pub fn create(
    store: &Store,
    root: &Path,
    manifest: Manifest,
    keys: Option<&Path>,
) -> Result<BackupInfo, StoreError> {
    crate::crypto::secret::ensure_private_dir(root).map_err(|e| {
        StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            e.to_string(),
        ))
    })?;
    let name = format!(
        "{}-{:010}",
        manifest.created.replace([':', '-'], "").replace('.', "_"),
        manifest.ledger_position
    );
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)?;
    let cp = rocksdb::checkpoint::Checkpoint::new(store.db())?;
    cp.create_checkpoint(dir.join("db"))?;
    strip_clips(&dir.join("db"))?;
    if let Some(k) = keys {
        let to = dir.join("keys");
        std::fs::create_dir_all(&to)?;
        for e in std::fs::read_dir(k)? {
            let e = e?;
            if e.file_type()?.is_file() {
                std::fs::copy(e.path(), to.join(e.file_name()))?;
            }
        }
    }
    let m = serde_json::to_vec_pretty(&manifest).map_err(|_| StoreError::Corrupt {
        what: "backup manifest",
    })?;
    std::fs::write(dir.join("manifest.json"), m)?;
    Ok(BackupInfo {
        path: dir,
        manifest,
    })
}

/// Reads one backup's manifest.
pub fn read(dir: &Path) -> Result<BackupInfo, StoreError> {
    let m = std::fs::read(dir.join("manifest.json"))?;
    let manifest = serde_json::from_slice(&m).map_err(|_| StoreError::Corrupt {
        what: "backup manifest",
    })?;
    Ok(BackupInfo {
        path: dir.to_owned(),
        manifest,
    })
}

/// Every backup under `root`, oldest first.
pub fn list(root: &Path) -> Result<Vec<BackupInfo>, StoreError> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(out);
    };
    for e in entries {
        let p = e?.path();
        if p.join("manifest.json").is_file() {
            out.push(read(&p)?);
        }
    }
    out.sort_by_key(|b| b.manifest.created_us);
    Ok(out)
}

/// Deletes every backup under `root` whose age has reached `retention`;
/// returns how many.
pub fn prune(root: &Path, now: Micros, retention: Micros) -> Result<usize, StoreError> {
    let mut n = 0;
    for b in list(root)? {
        if now.saturating_sub(b.manifest.created_us) >= retention {
            std::fs::remove_dir_all(&b.path)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Restores backup `from` into `data_dir` (which must not hold a database)
/// and, if the backup carries keys, into `keys_dir`; then erases every
/// record that has expired by `clock`'s now. Returns the manifest.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    keys_dir: &Path,
    clock: SharedClock,
    retention: Micros,
) -> Result<Manifest, StoreError> {
    let info = read(from)?;
    if data_dir.exists() && std::fs::read_dir(data_dir)?.next().is_some() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} is not empty; restore into an empty directory",
                data_dir.display()
            ),
        )));
    }
    // Owner-only, whatever the caller's umask: the appliance refuses a
    // key directory others may read, and the records are confidential.
    // RocksDB creates files of its own below (the erasure's compaction),
    // so the process's mask is tightened as `Appliance::start` does.
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    private_dir(data_dir)?;
    for e in std::fs::read_dir(from.join("db"))? {
        let e = e?;
        private_copy(&e.path(), &data_dir.join(e.file_name()))?;
    }
    if info.manifest.with_keys && !keys_dir.exists() {
        private_dir(keys_dir)?;
        for e in std::fs::read_dir(from.join("keys"))? {
            let e = e?;
            private_copy(&e.path(), &keys_dir.join(e.file_name()))?;
        }
    }
    {
        let store = Store::open(data_dir, clock.clone(), retention)?;
        // The same erasure as the running journal (its compaction filter
        // drops every record whose age has reached the window): expired
        // records leave the files now, not at the first scheduled run.
        let mut opts = rocksdb::CompactOptions::default();
        opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        store.flush_all()?;
        for name in crate::store::cf::RETAINED {
            store
                .db()
                .compact_range_cf_opt(store.cf(name), None::<&[u8]>, None::<&[u8]>, &opts);
        }
    }
    std::fs::write(
        data_dir.join(crate::store::LEDGER_MARKER),
        format!("{}\n", info.manifest.ledger_position),
    )?;
    Ok(info.manifest)
}

/// Removes held video clips from a checkpoint: they stay on the appliance
/// they were uploaded to and nowhere else, so a denial can delete every
/// copy (the copy's table files are its own after the compaction; the
/// live database's are untouched).
fn strip_clips(db_dir: &Path) -> Result<(), StoreError> {
    let opts = rocksdb::Options::default();
    let families = rocksdb::DB::list_cf(&opts, db_dir)?;
    if !families.iter().any(|f| f == crate::store::cf::CLIPS) {
        return Ok(());
    }
    let db = rocksdb::DB::open_cf(&opts, db_dir, &families)?;
    let Some(c) = db.cf_handle(crate::store::cf::CLIPS) else {
        return Ok(());
    };
    let keys: Vec<Box<[u8]>> = db
        .iterator_cf(c, rocksdb::IteratorMode::Start)
        .map(|i| i.map(|(k, _)| k))
        .collect::<Result<_, _>>()?;
    for k in &keys {
        db.delete_cf(c, k)?;
    }
    if !keys.is_empty() {
        for f in &families {
            if let Some(h) = db.cf_handle(f) {
                db.flush_cf(h)?;
            }
        }
        let mut copts = rocksdb::CompactOptions::default();
        copts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        db.compact_range_cf_opt(c, None::<&[u8]>, None::<&[u8]>, &copts);
    }
    Ok(())
}

/// Creates `dir` (mode 0700), or makes an existing one owner-only.
fn private_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Copies `from` to `to` with mode 0600.
fn private_copy(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::copy(from, to)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The manifest for a backup made now of a store at ledger `position`.
pub fn manifest(
    now: Micros,
    position: u64,
    key_checks: Vec<(String, String)>,
    with_keys: bool,
) -> Manifest {
    Manifest {
        version: 1,
        created: rfc3339(now),
        created_us: now,
        ledger_position: position,
        key_checks,
        with_keys,
    }
}
