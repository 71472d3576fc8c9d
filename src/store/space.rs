//! Free space on the data directory's filesystem, and what may still be
//! written when it runs low.
//!
//! RocksDB 7.8 cannot be trusted with a full disk: a failed write leaves
//! its file writers in a state where the next append aborts the process,
//! and it resumes from ENOSPC only once free space exceeds its largest write
//! buffer. So the appliance never lets RocksDB meet a full disk:
//!
//! - below `storage.reserve_mb` the journal takes no more records: every
//!   decision is refused (fail secure), `/readyz` says so and
//!   `portcullis_storage_low` is 1, until free space is back above
//!   `storage.resume_mb` (hysteresis), when decisions resume by themselves;
//! - admin changes are tiny and go on — a revocation must still be possible
//!   on a filling disk — until `storage.admin_reserve_mb`, below which they
//!   are refused with a clear error.
//!
//! The reserve covers what one more memtable flush needs (the new WAL's
//! preallocation of 1.1 × the 64 MiB write buffer plus the SST written),
//! measured in `docs/SECURITY.md`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The free-space watch of one filesystem.
#[derive(Debug)]
pub struct Space {
    path: PathBuf,
    free: AtomicU64,
    low: AtomicBool,
    critical: AtomicBool,
    reserve: u64,
    resume: u64,
    admin_reserve: u64,
}

/// Bytes available to unprivileged writers on the filesystem of `path`.
pub fn available(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; `c` is a valid
    // NUL-terminated path for the duration of the call.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut s) != 0 {
            return None;
        }
        Some((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
    }
}

/// A change in what may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changed.
    None,
    /// The journal stopped taking records.
    JournalStopped,
    /// The journal takes records again.
    JournalResumed,
    /// Admin changes are refused.
    AdminStopped,
    /// Admin changes are accepted again.
    AdminResumed,
}

impl Space {
    /// A watch of `path`'s filesystem with the given thresholds (bytes).
    pub fn new(path: &Path, reserve: u64, resume: u64, admin_reserve: u64) -> Self {
        let s = Self {
            path: path.to_owned(),
            free: AtomicU64::new(u64::MAX),
            low: AtomicBool::new(false),
            critical: AtomicBool::new(false),
            reserve,
            resume,
            admin_reserve,
        };
        s.refresh();
        s
    }

    /// Measures again; returns what changed.
    pub fn refresh(&self) -> Vec<Transition> {
        let Some(free) = available(&self.path) else {
            return vec![];
        };
        self.free.store(free, Ordering::Relaxed);
        let mut t = Vec::new();
        let low = self.low.load(Ordering::Relaxed);
        if !low && free < self.reserve {
            self.low.store(true, Ordering::SeqCst);
            t.push(Transition::JournalStopped);
        } else if low && free >= self.resume {
            self.low.store(false, Ordering::SeqCst);
            t.push(Transition::JournalResumed);
        }
        let critical = self.critical.load(Ordering::Relaxed);
        if !critical && free < self.admin_reserve {
            self.critical.store(true, Ordering::SeqCst);
            t.push(Transition::AdminStopped);
        } else if critical && free >= self.admin_reserve.saturating_mul(2).min(self.reserve) {
            self.critical.store(false, Ordering::SeqCst);
            t.push(Transition::AdminResumed);
        }
        t
    }

    /// Free bytes at the last measurement.
    pub fn free(&self) -> u64 {
        self.free.load(Ordering::Relaxed)
    }

    /// Whether the journal may take records.
    pub fn journal_allowed(&self) -> bool {
        !self.low.load(Ordering::Relaxed)
    }

    /// Whether admin changes may be written.
    pub fn admin_allowed(&self) -> bool {
        !self.critical.load(Ordering::Relaxed)
    }

    /// Whether `bytes` more (and the reserve) fit now.
    pub fn fits(&self, bytes: u64) -> bool {
        available(&self.path).is_some_and(|f| f >= self.reserve.saturating_add(bytes))
    }

    /// The journal reserve in bytes.
    pub fn reserve(&self) -> u64 {
        self.reserve
    }
}
