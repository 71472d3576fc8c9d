//! The decision journal: every decision, group-committed to RocksDB by a
//! dedicated writer thread, kept at most 14 days.
//!
//! Connections hand their records to [`Journal::append`], which stamps time
//! and a sequence number and returns the sequence of the last record. The
//! writer takes everything queued (up to `max_batch`) into one `WriteBatch`
//! with the WAL on, writes it, and publishes the highest committed sequence
//! on a watch channel; a connection answers only once that sequence covers
//! its records. One RocksDB write (and, if configured, one fsync) serves
//! every connection that queued in the meantime.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rocksdb::{
    BottommostLevelCompaction, CompactOptions, Direction, IteratorMode, WriteBatch, WriteOptions,
};
use tokio::sync::watch;

use crate::clock::{Micros, SharedClock};
use crate::protocol::{Decision, Reason};
use crate::store::space::Space;
use crate::store::{cf, journal_key_time, Store, StoreError};
use crate::telemetry::Metrics;

/// One decision, as journaled. Holds a credential reference, never an
/// access number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Reader id (see [`crate::records::readers`]).
    pub reader: u32,
    /// Door.
    pub door: u32,
    /// Card id, or 0 when the number matched no card.
    pub card: u64,
    /// For unknown numbers, [`crate::crypto::numbers::journal_tag`] of the digest;
    /// otherwise 0.
    pub tag: u64,
    /// Grant or deny.
    pub decision: Decision,
    /// Why.
    pub reason: Reason,
}

const RECORD_V1: u8 = 1;
/// Encoded record length.
pub const RECORD_LEN: usize = 1 + 4 + 4 + 8 + 8 + 1 + 1;

impl Record {
    /// Fixed-layout encoding.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0] = RECORD_V1;
        b[1..5].copy_from_slice(&self.reader.to_be_bytes());
        b[5..9].copy_from_slice(&self.door.to_be_bytes());
        b[9..17].copy_from_slice(&self.card.to_be_bytes());
        b[17..25].copy_from_slice(&self.tag.to_be_bytes());
        b[25] = self.decision.code();
        b[26] = self.reason.code();
        b
    }

    /// Decodes a stored record.
    pub fn decode(v: &[u8]) -> Result<Record, StoreError> {
        let bad = || StoreError::Corrupt { what: "journal" };
        if v.len() != RECORD_LEN || v[0] != RECORD_V1 {
            return Err(bad());
        }
        let u32_at = |i: usize| u32::from_be_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]);
        let u64_at = |i: usize| u64::from_be_bytes(v[i..i + 8].try_into().unwrap_or([0; 8]));
        Ok(Record {
            reader: u32_at(1),
            door: u32_at(5),
            card: u64_at(9),
            tag: u64_at(17),
            decision: Decision::from_code(v[25]).ok_or_else(bad)?,
            reason: Reason::from_code(v[26]).ok_or_else(bad)?,
        })
    }
}

/// A record with its journal position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// When it was journaled (µs since epoch).
    pub time: Micros,
    /// Sequence number.
    pub seq: u64,
    /// The decision.
    pub record: Record,
}

/// Journal key: time then sequence, both big-endian, so keys sort by time.
pub fn key(time: Micros, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&time.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// What a look-up selects records by. Only cards can have a secondary
/// index (`journal.card_index`); door and reader look-ups scan the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Card id (card problems).
    Card,
    /// Door (equipment troubleshooting).
    Door,
    /// Reader id (equipment troubleshooting).
    Reader,
}

/// The first byte of every card index key (kept for the stored format).
const CARD_INDEX: u8 = 1;

/// Length of an index key.
pub const INDEX_KEY_LEN: usize = 29;
/// Offset of the time stamp in an index key.
pub const INDEX_TIME_AT: usize = 13;
const HOUR_MICROS: Micros = 3_600_000_000;

/// Card index key: 1 ‖ hour (u32) ‖ card ‖ time ‖ sequence (29 bytes). The
/// hour comes first so index files of different hours do not overlap:
/// compaction moves old hours down without rewriting them, and only the
/// current hour's entries (in card order) are ever merged.
pub fn card_index_key(id: u64, time: Micros, seq: u64) -> [u8; INDEX_KEY_LEN] {
    let mut k = [0u8; INDEX_KEY_LEN];
    k[0] = CARD_INDEX;
    k[1..5].copy_from_slice(&((time / HOUR_MICROS) as u32).to_be_bytes());
    k[5..13].copy_from_slice(&id.to_be_bytes());
    k[13..21].copy_from_slice(&time.to_be_bytes());
    k[21..29].copy_from_slice(&seq.to_be_bytes());
    k
}

/// What the writer has made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Committed {
    /// Every record with a sequence at or below this, appended in the
    /// current epoch, is in the WAL.
    pub seq: u64,
    /// Bumped by every failed write (or refused batch). A waiter whose
    /// records were appended in an earlier epoch cannot know whether they
    /// were in the failed batch, so it answers nothing (fail secure).
    pub epoch: u64,
}

/// What [`Journal::append`] hands back: the position to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The sequence of the last record appended.
    pub seq: u64,
    /// The epoch it was appended in.
    pub epoch: u64,
}

/// Why an append was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The queue is full; wait for a commit and retry.
    #[error("journal queue full")]
    Full,
    /// The journal is closed or has failed.
    #[error("journal unavailable")]
    Unavailable,
}

struct Queue {
    items: VecDeque<(u64, Micros, Record)>,
    next_seq: u64,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// The last write failed and no write has succeeded since.
    failing: std::sync::atomic::AtomicBool,
}

/// Journal settings.
#[derive(Debug, Clone, Copy)]
pub struct JournalOptions {
    /// Fsync the WAL per group commit.
    pub sync: bool,
    /// Records per group commit, at most.
    pub max_batch: usize,
    /// Records queued, at most.
    pub max_queue: usize,
    /// Retention window in microseconds.
    pub retention: Micros,
    /// Keep a secondary index by card (faster card look-ups over long
    /// windows, at a cost in journal throughput).
    pub card_index: bool,
    /// The journal's write buffer in bytes (a flush needs about that much
    /// free space).
    pub write_buffer: u64,
}

/// Handle to the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    shared: Arc<Shared>,
    committed: watch::Receiver<Committed>,
    store: Store,
    clock: SharedClock,
    opts: JournalOptions,
    metrics: Arc<Metrics>,
    space: Arc<Space>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("opts", &self.opts).finish()
    }
}

impl Journal {
    /// Starts the writer thread. Sequence numbers continue from the highest
    /// one stored.
    pub fn start(
        store: Store,
        clock: SharedClock,
        opts: JournalOptions,
        metrics: Arc<Metrics>,
        space: Arc<Space>,
    ) -> Result<Self, StoreError> {
        let mut next_seq = 1;
        // Keys sort by time; the clock can step back, so look at the tail
        // rather than only the last key.
        for item in store
            .db()
            .iterator_cf(store.cf(cf::JOURNAL), IteratorMode::End)
            .take(1024)
        {
            let (k, _) = item?;
            if k.len() == 16 {
                let s = u64::from_be_bytes(k[8..16].try_into().unwrap_or([0; 8]));
                next_seq = next_seq.max(s + 1);
            }
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                next_seq,
                closed: false,
            }),
            wake: Condvar::new(),
            failing: std::sync::atomic::AtomicBool::new(false),
        });
        let (tx, rx) = watch::channel(Committed {
            seq: next_seq - 1,
            epoch: 0,
        });
        let writer = {
            let shared = shared.clone();
            let store = store.clone();
            let metrics = metrics.clone();
            let space = space.clone();
            std::thread::Builder::new()
                .name("journal-writer".into())
                .spawn(move || writer_loop(shared, store, opts, metrics, space, tx))
                .map_err(StoreError::Io)?
        };
        Ok(Self {
            shared,
            committed: rx,
            store,
            clock,
            opts,
            metrics,
            space,
            writer: Arc::new(Mutex::new(Some(writer))),
        })
    }

    /// Queues records; returns the ticket to wait for with
    /// [`Journal::wait_committed`] before answering. Refused while the
    /// disk is below its reserve or the journal is closed.
    pub fn append(&self, records: &[Record]) -> Result<Ticket, AppendError> {
        let epoch = self.committed.borrow().epoch;
        if records.is_empty() {
            return Ok(Ticket { seq: 0, epoch });
        }
        if !self.space.journal_allowed() {
            return Err(AppendError::Unavailable);
        }
        let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.closed {
            return Err(AppendError::Unavailable);
        }
        if q.items.len() + records.len() > self.opts.max_queue && !q.items.is_empty() {
            return Err(AppendError::Full);
        }
        // Read under the queue lock: the writer bumps the epoch only after
        // taking a batch out of the queue, so these records belong to this
        // epoch's batches or later ones.
        let epoch = self.committed.borrow().epoch;
        let now = self.clock.now_micros();
        for r in records {
            let seq = q.next_seq;
            q.next_seq += 1;
            q.items.push_back((seq, now, *r));
        }
        let last = q.next_seq - 1;
        drop(q);
        self.shared.wake.notify_one();
        Ok(Ticket { seq: last, epoch })
    }

    /// Appends, waiting for room when the queue is full (back pressure).
    pub async fn append_wait(&self, records: &[Record]) -> Result<Ticket, AppendError> {
        let mut rx = self.committed.clone();
        loop {
            match self.append(records) {
                Err(AppendError::Full) => {
                    if rx.changed().await.is_err() {
                        return Err(AppendError::Unavailable);
                    }
                }
                other => return other,
            }
        }
    }

    /// Waits until the ticket's records are committed. `Err` if a write
    /// failed since they were appended (they may be lost: answer nothing).
    pub async fn wait_committed(&self, t: Ticket) -> Result<(), AppendError> {
        let mut rx = self.committed.clone();
        let c = rx
            .wait_for(|c| c.epoch != t.epoch || c.seq >= t.seq)
            .await
            .map_err(|_| AppendError::Unavailable)?;
        if c.epoch == t.epoch {
            Ok(())
        } else {
            Err(AppendError::Unavailable)
        }
    }

    /// Waits until the ticket's records are committed (blocking; for
    /// non-async callers).
    pub fn wait_committed_blocking(&self, t: Ticket) -> Result<(), AppendError> {
        let mut rx = self.committed.clone();
        loop {
            let c = *rx.borrow_and_update();
            if c.epoch != t.epoch {
                return Err(AppendError::Unavailable);
            }
            if c.seq >= t.seq {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// Whether the journal is accepting and committing records.
    pub fn healthy(&self) -> bool {
        self.problem().is_none()
    }

    /// Why the journal is not accepting or committing records, if it is
    /// not.
    pub fn problem(&self) -> Option<&'static str> {
        if self.shared.queue.lock().map(|q| q.closed).unwrap_or(true) {
            Some("decision journal closed")
        } else if !self.space.journal_allowed() {
            Some("data directory below its free-space reserve: decisions are refused until space is freed")
        } else if self.shared.failing.load(Ordering::SeqCst) {
            Some("decision journal writes are failing: decisions are refused")
        } else {
            None
        }
    }

    /// Records waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.shared.queue.lock().map(|q| q.items.len()).unwrap_or(0)
    }

    /// Stops accepting, writes everything queued, and joins the writer.
    pub fn close(&self) {
        if let Ok(mut q) = self.shared.queue.lock() {
            q.closed = true;
        }
        self.shared.wake.notify_all();
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// The retention cut-off: the oldest time stamp still visible. A record
    /// whose age has reached the retention window is expired.
    pub fn cutoff(&self) -> Micros {
        self.clock.now_micros().saturating_sub(self.opts.retention) + 1
    }

    /// Records stamped in `[from, to)`, oldest first, at most `limit`,
    /// never older than the retention window whatever `from` says.
    pub fn read(&self, from: Micros, to: Micros, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.scan(from.max(self.cutoff()), to, None, limit, |_| true)
    }

    /// Records for one card, door or reader stamped in `[from, to)` (never
    /// older than the retention window), oldest first, starting after
    /// `after` (a previous page's last `(time, seq)`), at most `limit`.
    pub fn read_by(
        &self,
        by: By,
        id: u64,
        from: Micros,
        to: Micros,
        after: Option<(Micros, u64)>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let from = from.max(self.cutoff());
        match by {
            By::Card if self.opts.card_index => self.seek_card(id, from, to, after, limit),
            By::Card => self.scan(from, to, after, limit, |r| r.card == id),
            By::Door => self.scan(from, to, after, limit, |r| u64::from(r.door) == id),
            By::Reader => self.scan(from, to, after, limit, |r| u64::from(r.reader) == id),
        }
    }

    /// Records of any of `cards` in `[from, to)`, oldest first, at most
    /// `limit`: one scan of the window (or one index walk per card), not one
    /// scan per card.
    pub fn read_cards(
        &self,
        cards: &[u64],
        from: Micros,
        to: Micros,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let from = from.max(self.cutoff());
        if !self.opts.card_index {
            return self.scan(from, to, None, limit, |r| {
                r.card != 0 && cards.contains(&r.card)
            });
        }
        let mut all = Vec::new();
        for &card in cards {
            all.extend(self.seek_card(card, from, to, None, limit)?);
        }
        all.sort_by_key(|e| (e.time, e.seq));
        all.truncate(limit);
        Ok(all)
    }

    /// Where a page starts: just after `after`, or at `from`.
    fn resume(from: Micros, after: Option<(Micros, u64)>) -> (Micros, u64) {
        match after {
            Some((t, s)) if (t, s) >= (from, 0) => (t, s.saturating_add(1)),
            _ => (from, 0),
        }
    }

    /// Walks the card index, one seek per hour of the window
    /// (kind ‖ hour ‖ card), and fetches each record.
    fn seek_card(
        &self,
        id: u64,
        from: Micros,
        to: Micros,
        after: Option<(Micros, u64)>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let (start_t, start_s) = Self::resume(from, after);
        let db = self.store.db();
        let mut out = Vec::new();
        // Nothing is stamped after now: bound the walk over hours.
        let to = to.min(self.clock.now_micros().saturating_add(HOUR_MICROS));
        let mut hour = start_t / HOUR_MICROS;
        while out.len() < limit && hour.saturating_mul(HOUR_MICROS) < to {
            let start = if hour == start_t / HOUR_MICROS {
                card_index_key(id, start_t, start_s)
            } else {
                card_index_key(id, hour * HOUR_MICROS, 0)
            };
            for item in db.iterator_cf(
                self.store.cf(cf::JOURNAL_INDEX),
                IteratorMode::From(&start, Direction::Forward),
            ) {
                let (k, _) = item?;
                if k.len() != INDEX_KEY_LEN || k[..13] != start[..13] || out.len() >= limit {
                    break;
                }
                let time = journal_key_time(&k[INDEX_TIME_AT..]).unwrap_or(0);
                if time >= to {
                    break;
                }
                let seq = u64::from_be_bytes(k[21..29].try_into().unwrap_or([0; 8]));
                // An index entry whose record is already erased is skipped.
                if let Some(v) = db.get_pinned_cf(self.store.cf(cf::JOURNAL), key(time, seq))? {
                    out.push(Entry {
                        time,
                        seq,
                        record: Record::decode(&v)?,
                    });
                }
            }
            hour += 1;
        }
        Ok(out)
    }

    /// Scans the window (from `from`, or just after `after`) for records
    /// that `keep` accepts.
    fn scan(
        &self,
        from: Micros,
        to: Micros,
        after: Option<(Micros, u64)>,
        limit: usize,
        keep: impl Fn(&Record) -> bool,
    ) -> Result<Vec<Entry>, StoreError> {
        let (t, s) = Self::resume(from, after);
        let start = key(t, s);
        let mut out = Vec::new();
        for item in self.store.db().iterator_cf(
            self.store.cf(cf::JOURNAL),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (k, v) = item?;
            let time = journal_key_time(&k).unwrap_or(0);
            if time >= to || out.len() >= limit {
                break;
            }
            let record = Record::decode(&v)?;
            if keep(&record) {
                let seq = k
                    .get(8..16)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .map(u64::from_be_bytes)
                    .ok_or(StoreError::Corrupt { what: "journal" })?;
                out.push(Entry { time, seq, record });
            }
        }
        Ok(out)
    }

    /// Time stamp of the oldest entry physically present in the index (a
    /// full scan: for retention checks, not for scrapes).
    pub fn oldest_index_entry(&self) -> Result<Option<Micros>, StoreError> {
        let mut oldest: Option<Micros> = None;
        for item in self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::JOURNAL_INDEX), IteratorMode::Start)
        {
            let (k, _) = item?;
            if k.len() == INDEX_KEY_LEN {
                let t = journal_key_time(&k[INDEX_TIME_AT..]).unwrap_or(0);
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        }
        Ok(oldest)
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The retention window in microseconds.
    pub fn retention(&self) -> Micros {
        self.opts.retention
    }

    /// Current time on the journal's clock.
    pub fn now(&self) -> Micros {
        self.clock.now_micros()
    }

    /// Time stamp of the oldest record physically present (expired or not):
    /// what erasure has to answer for.
    pub fn oldest_stored(&self) -> Result<Option<Micros>, StoreError> {
        let mut it = self
            .store
            .db()
            .iterator_cf(self.store.cf(cf::JOURNAL), IteratorMode::Start);
        match it.next() {
            Some(item) => {
                let (k, _) = item?;
                Ok(journal_key_time(&k))
            }
            None => Ok(None),
        }
    }

    /// Updates the oldest-record-age gauge; returns the age in seconds.
    pub fn refresh_oldest_gauge(&self) -> f64 {
        let age = match self.oldest_stored() {
            Ok(Some(t)) => self.clock.now_micros().saturating_sub(t) as f64 / 1e6,
            _ => 0.0,
        };
        self.metrics.journal_oldest_age.set(age);
        age
    }

    /// Physically erases expired records and index entries: flushes every
    /// memtable (so the WAL holding them becomes obsolete and is deleted),
    /// then compacts the journal and its index down to the bottom level,
    /// bottom files included, where the retention filter drops everything
    /// whose age has reached the window.
    pub fn erase_expired(&self) -> Result<(), StoreError> {
        // A flush writes SST files and a forced compaction rewrites what it
        // compacts before deleting it: both need room beyond the reserve,
        // or RocksDB meets a full disk (see `space`). Without it, expired
        // records stay unreadable (reads never return them) until room is
        // back, and the operators are told.
        let expired_sst = [cf::JOURNAL, cf::JOURNAL_INDEX]
            .iter()
            .filter_map(|n| {
                self.store
                    .db()
                    .property_int_value_cf(self.store.cf(n), "rocksdb.total-sst-files-size")
                    .ok()
                    .flatten()
            })
            .sum::<u64>();
        let need = 2 * self.opts.write_buffer + expired_sst / 4;
        if !self.space.fits(need) {
            self.metrics.retention_skipped.increment(1);
            tracing::error!(
                free = self.space.free(),
                need,
                "not enough free space to erase expired journal records; they stay unreadable until space is freed"
            );
            return Err(StoreError::NoSpace);
        }
        self.store.flush_all()?;
        let mut opts = CompactOptions::default();
        opts.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
        opts.set_exclusive_manual_compaction(true);
        // Only the expired prefix of each family: journal keys start with
        // the time, index keys with the hour (the cut-off's hour included).
        let cutoff = self.cutoff();
        let journal_end = key(cutoff, 0);
        let mut index_end = [0u8; 5];
        index_end[0] = CARD_INDEX;
        index_end[1..5].copy_from_slice(&((cutoff / HOUR_MICROS) as u32 + 1).to_be_bytes());
        for (name, end) in [
            (cf::JOURNAL, &journal_end[..]),
            (cf::JOURNAL_INDEX, &index_end[..]),
        ] {
            self.store.db().compact_range_cf_opt(
                self.store.cf(name),
                None::<&[u8]>,
                Some(end),
                &opts,
            );
        }
        self.metrics.retention_runs.increment(1);
        self.refresh_oldest_gauge();
        Ok(())
    }
}

fn writer_loop(
    shared: Arc<Shared>,
    store: Store,
    opts: JournalOptions,
    metrics: Arc<Metrics>,
    space: Arc<Space>,
    committed: watch::Sender<Committed>,
) {
    let mut wopts = WriteOptions::default();
    wopts.set_sync(opts.sync);
    let mut batch_items: Vec<(u64, Micros, Record)> = Vec::with_capacity(opts.max_batch);
    let fail = |why: &str| {
        metrics.journal_errors.increment(1);
        if !shared.failing.swap(true, Ordering::SeqCst) {
            tracing::error!(
                error = why,
                "journal write failed; decisions are refused until writes succeed again"
            );
        }
        committed.send_modify(|c| c.epoch += 1);
    };
    loop {
        {
            let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            while q.items.is_empty() && !q.closed {
                if shared.failing.load(Ordering::SeqCst) {
                    // Probe once a second: a journal that refuses decisions
                    // gets no traffic to find out it has recovered.
                    let (g, t) = shared
                        .wake
                        .wait_timeout(q, std::time::Duration::from_secs(1))
                        .unwrap_or_else(|p| p.into_inner());
                    q = g;
                    if t.timed_out() && q.items.is_empty() {
                        drop(q);
                        if space.journal_allowed() && probe(&store).is_ok() {
                            shared.failing.store(false, Ordering::SeqCst);
                            tracing::info!("journal writes succeed again; decisions resume");
                        }
                        q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                    }
                } else {
                    q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            }
            if q.items.is_empty() && q.closed {
                return;
            }
            let n = q.items.len().min(opts.max_batch);
            batch_items.extend(q.items.drain(..n));
            metrics.journal_queue.set(q.items.len() as f64);
        }
        if !space.journal_allowed() {
            // Appended just before the reserve was reached: not written,
            // not answered.
            fail("data directory below its free-space reserve");
            batch_items.clear();
            continue;
        }
        let started = Instant::now();
        let mut batch = WriteBatch::default();
        let cfh = store.cf(cf::JOURNAL);
        let idx = store.cf(cf::JOURNAL_INDEX);
        for (seq, time, rec) in &batch_items {
            batch.put_cf(cfh, key(*time, *seq), rec.encode());
            // Optionally, card look-ups are indexed: one entry per known
            // card. Otherwise (the default) every look-up scans the window,
            // which keeps the writer at full speed.
            if opts.card_index && rec.card != 0 {
                batch.put_cf(idx, card_index_key(rec.card, *time, *seq), []);
            }
        }
        let last = batch_items.last().map(|i| i.0).unwrap_or(0);
        match store.db().write_opt(batch, &wopts) {
            Ok(()) => {
                metrics
                    .journal_commit_seconds
                    .record(started.elapsed().as_secs_f64());
                metrics.journal_batch.record(batch_items.len() as f64);
                metrics.journal_records.increment(batch_items.len() as u64);
                committed.send_modify(|c| c.seq = c.seq.max(last));
                if shared.failing.swap(false, Ordering::SeqCst) {
                    tracing::info!("journal writes succeed again; decisions resume");
                }
            }
            Err(e) => fail(e.as_ref()),
        }
        batch_items.clear();
    }
}

/// A tiny write through the same WAL, to learn whether writes succeed.
fn probe(store: &Store) -> Result<(), StoreError> {
    store
        .db()
        .put_cf(store.cf(cf::META), b"journal/probe", [])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_garbage() {
        let r = Record {
            reader: 3,
            door: 4,
            card: 5,
            tag: 6,
            decision: Decision::Deny,
            reason: Reason::Revoked,
        };
        assert_eq!(Record::decode(&r.encode()).unwrap(), r);
        assert!(Record::decode(&r.encode()[1..]).is_err());
        let mut bad = r.encode();
        bad[26] = 200;
        assert!(Record::decode(&bad).is_err());
    }

    #[test]
    fn keys_sort_by_time() {
        assert!(key(1, 99) < key(2, 0));
        assert!(key(5, 1) < key(5, 2));
    }
}
