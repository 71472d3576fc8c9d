//! The ledger: every administrative change, one at a time, in one order.
//!
//! A change is *decided* against the present state — ids allocated,
//! numbers drawn, records sealed, rules checked — into a [`Change`]: the
//! exact records to write ([`Effect`]s) plus the audit and look-up entries
//! that describe it. It is then *applied*: one synchronous RocksDB batch
//! holds every effect, every entry and the ledger position, so a change is
//! either wholly on disk with its audit entry or not at all (a kill -9
//! cannot separate them); only then are the in-memory structures (the
//! credential map, readers, access levels) updated.
//!
//! [`commit`] decides and applies under one lock, off the reactor, so every
//! read-modify-write of the records — single use of a police request, the
//! daily look-up limit, id allocation, key rotation against uploads — is
//! serialised by construction. Because a change carries decided values,
//! not intentions, applying it is deterministic: the same change applied
//! on another appliance produces the same records, which is what a
//! replicated log of changes needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::app::shared::Shared;
use crate::clock::Micros;
use crate::lookup::limits::{self, Counted};
use crate::policy::levels::Definitions;
use crate::records::cardholder::{HolderPut, PhotoPut};
use crate::records::cards::Card;
use crate::records::outbox::{self, Notification};
use crate::records::readers::Reader;
use crate::store::audit::AuditEntry;
use crate::store::lookups::Lookup;
use crate::store::{cf, Store, StoreError};

/// One record-level effect of a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// A card record, new or changed.
    Card(Card),
    /// A cardholder record, new or changed.
    Holder(HolderPut),
    /// A photo, new or re-sealed.
    Photo(PhotoPut),
    /// A reader, registered or with new doors.
    Reader(Reader),
    /// A reader removed, by name.
    ReaderRemoved(String),
    /// Every access-level definition.
    Access(Definitions),
    /// A department, lab or center, new or renamed.
    Dlc(crate::records::dlcs::Dlc),
    /// A certificate revoked.
    Revoked(crate::records::revocations::Revocation),
    /// A door alarm raised or acknowledged.
    AlarmSet(crate::records::alarms::Alarm),
    /// A door alarm over (door, event kind code).
    AlarmCleared(u32, u8),
    /// The chief of police's public key.
    ChiefKey([u8; 32]),
    /// A signed police request used (its replay key), and when.
    RequestUsed {
        /// The replay key.
        id: String,
        /// When.
        at: Micros,
    },
    /// A look-up counted against its subject's daily limit.
    LookupCounted(Counted),
    /// A notification, new or marked done.
    Notification(Notification),
    /// A record key made current (its id and check value).
    RecordKey {
        /// Key id.
        id: u32,
        /// Check value.
        check: [u8; 8],
    },
    /// Record keys retired: no record is sealed with them any more.
    RecordKeysRetired(Vec<u32>),
    /// One of the office's procedures (doors, keys, video, photos).
    Office(crate::records::office::OfficeEffect),
}

/// A decided change: effects and the entries that describe them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// When it was decided (µs).
    pub time: Micros,
    /// What it writes, in order.
    pub effects: Vec<Effect>,
    /// Audit trail entries.
    pub audit: Vec<AuditEntry>,
    /// Look-up audit entries.
    pub lookups: Vec<Lookup>,
}

impl Change {
    /// An empty change decided at `time`.
    pub fn at(time: Micros) -> Self {
        Change {
            time,
            effects: Vec::new(),
            audit: Vec::new(),
            lookups: Vec::new(),
        }
    }

    /// Adds an effect.
    pub fn with(mut self, e: Effect) -> Self {
        self.effects.push(e);
        self
    }

    /// Adds an audit entry.
    pub fn audited(mut self, a: AuditEntry) -> Self {
        self.audit.push(a);
        self
    }

    /// Adds a look-up audit entry.
    pub fn looked_up(mut self, l: Lookup) -> Self {
        self.lookups.push(l);
        self
    }

    /// Whether it changes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty() && self.audit.is_empty() && self.lookups.is_empty()
    }
}

/// A change could not be applied; nothing of it was written or installed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database refused the batch.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task deciding or applying the change died.
    #[error("the change was abandoned")]
    Abandoned,
    /// The data directory is nearly full: the change was not made.
    #[error("the data directory is nearly full: the change was not made; free space on the appliance's data disk and retry")]
    StorageFull,
    /// In a cluster, this appliance cannot reach NATS: the change was not
    /// made.
    #[error("this appliance is cut off from the cluster (NATS): changes are refused here, verifications continue; make the change on another appliance or when the link returns")]
    ClusterUnavailable,
    /// The cluster did not confirm the change in time.
    #[error("the cluster did not confirm the change in time: it may or may not have been made; check before retrying")]
    ClusterUncertain,
    /// Other appliances kept changing the records first.
    #[error("too many concurrent changes on other appliances: the change was not made; retry")]
    ClusterBusy,
    /// The cluster has the change; this appliance could not apply it.
    #[error("the change is committed to the cluster but this appliance could not apply it ({0}); it is not ready until it can")]
    ClusterApply(String),
}

const APPLIED: &[u8] = b"ledger/applied";

/// The ledger's position and lock.
#[derive(Debug)]
pub struct Ledger {
    gate: Arc<tokio::sync::Mutex<()>>,
    applied: AtomicU64,
    /// The last position synced and recorded in the marker.
    acknowledged: AtomicU64,
    /// `LEDGER-POSITION` in the data directory: the last position
    /// acknowledged, written after each change outside RocksDB, so a
    /// database that lost acknowledged changes is refused at start.
    marker: std::path::PathBuf,
}

fn position(store: &Store) -> Result<u64, StoreError> {
    let Some(meta) = store.try_cf(cf::META) else {
        return Ok(0);
    };
    Ok(match store.db().get_cf(meta, APPLIED)? {
        Some(v) => u64::from_be_bytes(
            <[u8; 8]>::try_from(v.as_slice())
                .map_err(|_| StoreError::Corrupt { what: "ledger" })?,
        ),
        None => 0,
    })
}

pub use crate::store::LEDGER_MARKER as MARKER;

impl Ledger {
    /// Opens the ledger at the position stored in `store` (checked first
    /// with [`Ledger::check`]).
    pub fn open(store: &Store, data_dir: &std::path::Path) -> Result<Self, StoreError> {
        let at = position(store)?;
        Ok(Self {
            gate: Arc::new(tokio::sync::Mutex::new(())),
            applied: AtomicU64::new(at),
            acknowledged: AtomicU64::new(at),
            marker: data_dir.join(MARKER),
        })
    }

    /// Refuses a database that holds fewer changes than were acknowledged
    /// (the `LEDGER-POSITION` marker in `data_dir`). Run on a read-only
    /// open, before RocksDB's recovery may make a damaged log's loss
    /// permanent.
    pub fn check(store: &Store, data_dir: &std::path::Path) -> Result<(), StoreError> {
        let applied = position(store)?;
        let acknowledged = match std::fs::read_to_string(data_dir.join(MARKER)) {
            Ok(s) => s.trim().parse::<u64>().map_err(|_| StoreError::Corrupt {
                what: "ledger marker",
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        if acknowledged > applied {
            return Err(StoreError::LostChanges {
                have: applied,
                acknowledged,
            });
        }
        Ok(())
    }

    /// Records `seq` as acknowledged (after it is durable in RocksDB).
    fn mark(&self, seq: u64) {
        self.acknowledged.fetch_max(seq, Ordering::SeqCst);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let tmp = self.marker.with_extension("tmp");
            let mut f = std::fs::File::create(&tmp)?;
            writeln!(f, "{seq}")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.marker)
        };
        if let Err(e) = write() {
            // The change is durable; only the damage check lags behind.
            tracing::error!(error = %e, "could not record the ledger position");
        }
    }

    /// The position of the last change applied.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::SeqCst)
    }

    /// Whether changes were applied without a sync since the last one.
    pub(crate) fn unsynced(&self) -> bool {
        self.acknowledged.load(Ordering::SeqCst) < self.applied()
    }
}

/// Decides a change against the present state and applies it, under the
/// ledger lock and off the reactor. `decide` returns the change and the
/// caller's answer; an `Err` from it writes nothing. An empty change is
/// not written.
///
/// The lock is taken and held by a task of its own, not by the caller: a
/// caller that goes away (a client hanging up mid-request drops its
/// handler) cannot release the lock while its change is still being
/// applied, so no two changes ever interleave.
pub async fn commit<T, E, F>(shared: &Arc<Shared>, decide: F) -> Result<T, E>
where
    F: Fn(&Shared) -> Result<(Change, T), E> + Send + Sync + 'static,
    T: Send + 'static,
    E: From<LedgerError> + Send + 'static,
{
    let s = shared.clone();
    let decide = Arc::new(decide);
    let task = tokio::spawn(async move {
        let gate = s.ledger.gate.clone();
        let _turn = gate.lock_owned().await;
        // In a cluster the stream orders changes: publish, then apply.
        if let Some(c) = s.cluster.clone() {
            return c.commit(&s, decide).await;
        }
        tokio::task::spawn_blocking(move || {
            let (change, out) = decide(&s)?;
            if !change.is_empty() {
                apply(&s, &change)?;
            }
            Ok(out)
        })
        .await
        .map_err(|_| E::from(LedgerError::Abandoned))?
    });
    task.await.map_err(|_| E::from(LedgerError::Abandoned))?
}

impl Ledger {
    /// Takes the ledger lock (the cluster's follower applies under it).
    pub(crate) async fn lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.gate.clone().lock_owned().await
    }
}

/// How an applied change reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Synced before the call returns, and the acknowledged position
    /// recorded: every change this appliance answers for.
    Synced,
    /// Written to the WAL without a sync: changes a follower copies from
    /// the cluster's log while catching up, where the log, not this disk,
    /// is what keeps them. A later [`sync_position`] makes every one of
    /// them durable at once (the WAL is written in order); a power cut
    /// before it loses only what the log still holds.
    Deferred,
}

/// Applies `change` at ledger position `seq`, which must be the next one
/// (a change from the cluster's log; the caller holds the ledger lock).
pub(crate) fn apply_at(
    s: &Shared,
    change: &Change,
    seq: u64,
    durability: Durability,
) -> Result<(), LedgerError> {
    let next = s.ledger.applied() + 1;
    if seq != next {
        return Err(LedgerError::ClusterApply(format!(
            "position {seq} arrived where {next} was expected"
        )));
    }
    apply_with(s, change, durability)
}

/// Makes every change applied so far durable (one synced write; the WAL
/// is ordered, so it covers every deferred one before it) and records the
/// position as acknowledged.
pub(crate) fn sync_position(s: &Shared) -> Result<(), LedgerError> {
    let seq = s.ledger.applied();
    s.store
        .db()
        .put_cf_opt(
            s.store.cf(cf::META),
            APPLIED,
            seq.to_be_bytes(),
            &crate::store::sync_write(),
        )
        .map_err(StoreError::from)?;
    s.ledger.mark(seq);
    Ok(())
}

/// Writes `change` as the next ledger position, synced, then installs it
/// in memory.
fn apply(s: &Shared, change: &Change) -> Result<(), LedgerError> {
    apply_with(s, change, Durability::Synced)
}

/// Writes `change` as the next ledger position, then installs it in memory.
fn apply_with(s: &Shared, change: &Change, durability: Durability) -> Result<(), LedgerError> {
    if !s.space.admin_allowed() {
        return Err(LedgerError::StorageFull);
    }
    // A record key named by a change must be here before anything is
    // written (in a cluster it is made on one appliance and copied to the
    // others: until it is, the change waits).
    for e in &change.effects {
        match e {
            Effect::RecordKey { id, check } => {
                s.holders.vault().require(*id, *check).map_err(|e| {
                    LedgerError::ClusterApply(format!(
                        "{e}: copy it from the appliance that made it"
                    ))
                })?;
            }
            // A card the map cannot hold (from a broken or hostile peer) is
            // refused before anything is written.
            Effect::Card(c) => c.check().map_err(LedgerError::ClusterApply)?,
            _ => {}
        }
    }
    let seq = s.ledger.applied() + 1;
    let store = &s.store;
    let mut batch = WriteBatch::default();
    for e in &change.effects {
        match e {
            Effect::Card(c) => s.cards.stage(&mut batch, c),
            Effect::Holder(h) => s.holders.stage_holder(&mut batch, h),
            Effect::Photo(p) => s.holders.stage_photo(&mut batch, p),
            Effect::Reader(r) => s.readers.stage_put(&mut batch, r),
            Effect::ReaderRemoved(name) => s.readers.stage_remove(&mut batch, name),
            Effect::Access(d) => crate::records::access::stage(store, &mut batch, d)?,
            Effect::Dlc(d) => crate::records::dlcs::stage(store, &mut batch, d)?,
            Effect::Revoked(r) => crate::records::revocations::stage(store, &mut batch, r)?,
            Effect::AlarmSet(a) => crate::records::alarms::stage_set(store, &mut batch, a)?,
            Effect::AlarmCleared(door, kind) => {
                if let Some(k) = crate::protocol::DoorEventKind::from_code(*kind) {
                    crate::records::alarms::stage_clear(store, &mut batch, *door, k)
                }
            }
            Effect::ChiefKey(k) => crate::police::stage_chief_key(store, &mut batch, k),
            Effect::RequestUsed { id, at } => crate::police::stage_used(store, &mut batch, id, *at),
            Effect::LookupCounted(c) => limits::stage(store, &mut batch, c),
            Effect::Notification(n) => outbox::stage(store, &mut batch, n)?,
            Effect::RecordKey { id, check } => {
                crate::store::keys::stage_current(store, &mut batch, *id, *check)
            }
            Effect::RecordKeysRetired(ids) => {
                crate::store::keys::stage_retired(store, &mut batch, ids)
            }
            Effect::Office(o) => o.stage(store, &mut batch)?,
        }
    }
    for (i, a) in change.audit.iter().enumerate() {
        s.audit
            .log()
            .stage(&mut batch, change.time, seq, i as u64, a)?;
    }
    for (i, l) in change.lookups.iter().enumerate() {
        s.lookups
            .log()
            .stage(&mut batch, change.time, seq, i as u64, l)?;
    }
    batch.put_cf(store.cf(cf::META), APPLIED, seq.to_be_bytes());
    let opts = match durability {
        Durability::Synced => crate::store::sync_write(),
        Durability::Deferred => rocksdb::WriteOptions::default(),
    };
    store
        .db()
        .write_opt(batch, &opts)
        .map_err(StoreError::from)?;
    s.ledger.applied.store(seq, Ordering::SeqCst);
    if durability == Durability::Synced {
        s.ledger.mark(seq);
    }
    for e in &change.effects {
        install(s, e);
    }
    Ok(())
}

/// Makes a written effect live in memory.
fn install(s: &Shared, e: &Effect) {
    match e {
        Effect::Card(c) => {
            s.cards.install(c);
            s.metrics.credentials.set(s.cards.map().len() as f64);
        }
        Effect::Holder(h) => s.holders.install_holder(h),
        Effect::Reader(r) => s.readers.install_put(r),
        Effect::ReaderRemoved(name) => s.readers.install_remove(name),
        Effect::Access(d) => {
            // Validated when decided; a failure here would leave the old
            // definitions in force, which is the safe side.
            if let Err(e) = s.access.install(d.clone()) {
                tracing::error!(error = %e, "written access definitions could not be installed");
            }
        }
        Effect::RecordKey { id, .. } => {
            if let Err(e) = s.holders.vault().set_current(*id) {
                tracing::error!(key = id, error = %e, "record key could not be made current");
            }
        }
        Effect::RecordKeysRetired(ids) => s.holders.vault().retire(ids),
        Effect::Revoked(r) => s.revoked.install(r),
        Effect::AlarmSet(a) => {
            s.alarms.install_set(a);
            s.alarm_gauges();
        }
        Effect::AlarmCleared(door, kind) => {
            if let Some(k) = crate::protocol::DoorEventKind::from_code(*kind) {
                s.alarms.install_clear(*door, k);
            }
            s.alarm_gauges();
        }
        Effect::Photo(_)
        | Effect::Dlc(_)
        | Effect::ChiefKey(_)
        | Effect::RequestUsed { .. }
        | Effect::LookupCounted(_)
        | Effect::Notification(_) => {}
        // The clip's deletion is in the batch; its bytes leave the files
        // now (and, after a crash before this, at the next start).
        Effect::Office(crate::records::office::OfficeEffect::ClipDeleted(id)) => {
            if let Err(e) = s.clips.erase() {
                tracing::error!(export = id, error = %e, "a deleted video clip could not be erased yet");
            }
        }
        Effect::Office(_) => {}
    }
}
