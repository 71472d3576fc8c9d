//! The decision journal: every decision, group-committed to RocksDB by a
//! dedicated writer thread, kept at most 14 days.
//!
//! Connections hand their records to [`Journal::append`], which stamps time
//! and a sequence number and returns the sequence of the last record. The
//! writer takes everything queued (up to `max_batch`) into one `WriteBatch`
//! with the WAL on, writes it, and wakes the connections whose records it
//! covers (each waits for its own commit, see [`commits`]); a connection
//! answers only then. One RocksDB write (and, if configured, one fsync)
//! serves every connection that queued in the meantime. The highest
//! committed sequence is also published on a watch channel for observers
//! (the replicator, back pressure).

mod commits;
mod record;
mod writer;

pub use record::{
    card_index_key, key, By, Entry, EventRecord, Journaled, Record, INDEX_KEY_LEN, INDEX_TIME_AT,
    RECORD_LEN,
};
use record::{CARD_INDEX, HOUR_MICROS};
use writer::writer_loop;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rocksdb::{BottommostLevelCompaction, CompactOptions, Direction, IteratorMode};
use tokio::sync::watch;

use crate::clock::{Micros, SharedClock};
use crate::store::space::Space;
use crate::store::{cf, journal_key_time, Store, StoreError};
use crate::telemetry::Metrics;

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
    items: VecDeque<(u64, Micros, Journaled)>,
    next_seq: u64,
    /// Time stamps never go back (a clock stepping back reuses the last
    /// one), so this appliance's records sort in sequence order: the
    /// replicator reads them back by key.
    last_time: Micros,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Who waits for which commit.
    commits: commits::Commits,
    /// The last write failed and no write has succeeded since.
    failing: std::sync::atomic::AtomicBool,
    /// Per controller (reader id): the highest door event journaled.
    event_marks: dashmap::DashMap<u32, u64>,
}

/// A journal record as stored: its 16-byte key and its encoded value.
pub type RawRecord = ([u8; 16], Vec<u8>);

const EVENT_MARK_PREFIX: &[u8] = b"events/";
/// The last record written: time and sequence (16 bytes, a journal key).
pub(crate) const LAST_KEY: &[u8] = b"journal/last";
/// Replicated journal: the last stream position imported.
const IMPORTED_KEY: &[u8] = b"cluster/journal-imported";

/// The meta key of a controller's highest journaled event.
fn event_mark_key(reader: u32) -> Vec<u8> {
    let mut k = EVENT_MARK_PREFIX.to_vec();
    k.extend_from_slice(&reader.to_be_bytes());
    k
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
    /// This appliance's number in a cluster (0: alone): the top byte of
    /// every sequence number it assigns, so records of different
    /// appliances never share a key.
    pub node: u8,
}

/// The top byte of a sequence number: the appliance that journaled it.
pub fn node_of(seq: u64) -> u8 {
    (seq >> 56) as u8
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
        let base = u64::from(opts.node) << 56;
        let mut next_seq = base + 1;
        let mut last_time = 0;
        if let Some(v) = store.db().get_cf(store.cf(cf::META), LAST_KEY)? {
            if v.len() == 16 {
                last_time = u64::from_be_bytes(v[..8].try_into().unwrap_or([0; 8]));
                let s = u64::from_be_bytes(v[8..].try_into().unwrap_or([0; 8]));
                if node_of(s) == opts.node {
                    next_seq = next_seq.max(s + 1);
                }
            }
        }
        // Keys sort by time; the clock can step back, so look at the tail
        // rather than only the last key (databases from before the marker).
        for item in store
            .db()
            .iterator_cf(store.cf(cf::JOURNAL), IteratorMode::End)
            .take(1024)
        {
            let (k, _) = item?;
            if k.len() == 16 {
                let s = u64::from_be_bytes(k[8..16].try_into().unwrap_or([0; 8]));
                if node_of(s) == opts.node {
                    next_seq = next_seq.max(s + 1);
                    last_time = last_time.max(journal_key_time(&k).unwrap_or(0));
                }
            }
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                next_seq,
                last_time,
                closed: false,
            }),
            wake: Condvar::new(),
            commits: commits::Commits::new(next_seq - 1),
            failing: std::sync::atomic::AtomicBool::new(false),
            event_marks: dashmap::DashMap::new(),
        });
        for item in store.db().iterator_cf(
            store.cf(cf::META),
            IteratorMode::From(EVENT_MARK_PREFIX, Direction::Forward),
        ) {
            let (k, v) = item?;
            let Some(r) = k.strip_prefix(EVENT_MARK_PREFIX) else {
                break;
            };
            if let (Ok(r), Ok(v)) = (<[u8; 4]>::try_from(r), <[u8; 8]>::try_from(v.as_ref())) {
                shared
                    .event_marks
                    .insert(u32::from_be_bytes(r), u64::from_be_bytes(v));
            }
        }
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
    pub fn append(&self, records: &[Journaled]) -> Result<Ticket, AppendError> {
        if records.is_empty() {
            return Ok(Ticket {
                seq: 0,
                epoch: self.shared.commits.epoch(),
            });
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
        let epoch = self.shared.commits.epoch();
        let now = self.clock.now_micros().max(q.last_time);
        q.last_time = now;
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
    pub async fn append_wait(&self, records: &[Journaled]) -> Result<Ticket, AppendError> {
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
        if self.shared.commits.wait(t.seq, t.epoch).await {
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

    /// The highest door event of controller `reader` journaled so far (0:
    /// none): events at or below it are acknowledged again without being
    /// journaled twice.
    pub fn event_mark(&self, reader: u32) -> u64 {
        self.shared
            .event_marks
            .get(&reader)
            .map(|m| *m)
            .unwrap_or(0)
    }

    /// This appliance's number (the top byte of its sequence numbers).
    pub fn node(&self) -> u8 {
        self.opts.node
    }

    /// What the writer has made durable, as it changes.
    pub fn committed(&self) -> watch::Receiver<Committed> {
        self.committed.clone()
    }

    /// This appliance's own records after the key `after` (a journal key,
    /// exclusive; `None`: from the start of the window) and stamped at or
    /// after `since`, oldest first, at most `limit`, as `(key, value)`. Own
    /// records sort in sequence order (their time stamps never go back), so
    /// a replicator reads on from the last key it has delivered; records
    /// that aged past `since` before they could be delivered are passed
    /// over, never delivered late.
    pub fn own_after(
        &self,
        after: Option<[u8; 16]>,
        since: Micros,
        limit: usize,
    ) -> Result<Vec<RawRecord>, StoreError> {
        let floor = key(self.cutoff().max(since), 0);
        let start = after.map_or(floor, |a| a.max(floor));
        let mut out = Vec::new();
        for item in self.store.db().iterator_cf(
            self.store.cf(cf::JOURNAL),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (k, v) = item?;
            let Ok(k) = <[u8; 16]>::try_from(k.as_ref()) else {
                continue;
            };
            if Some(k) == after {
                continue;
            }
            let seq = u64::from_be_bytes(k[8..].try_into().unwrap_or([0; 8]));
            if node_of(seq) != self.opts.node {
                continue;
            }
            out.push((k, v.to_vec()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The last replicated-journal position imported (0: none).
    pub fn imported(&self) -> Result<u64, StoreError> {
        Ok(
            match self
                .store
                .db()
                .get_cf(self.store.cf(cf::META), IMPORTED_KEY)?
            {
                Some(v) => u64::from_be_bytes(v.as_slice().try_into().unwrap_or([0; 8])),
                None => 0,
            },
        )
    }

    /// Writes records another appliance journaled (from the replicated
    /// journal at stream position `position`) beside this appliance's
    /// own, in one batch with the new import position: indexed, their
    /// controllers' event marks raised, and anything already past the
    /// retention window left out. Returns how many were written.
    pub fn import(&self, records: &[RawRecord], position: u64) -> Result<usize, StoreError> {
        let cutoff = self.cutoff();
        let mut batch = rocksdb::WriteBatch::default();
        let (jcf, idx, meta) = (
            self.store.cf(cf::JOURNAL),
            self.store.cf(cf::JOURNAL_INDEX),
            self.store.cf(cf::META),
        );
        let mut marks: Vec<(u32, u64)> = Vec::new();
        let mut n = 0;
        for (k, v) in records {
            let time = journal_key_time(k).unwrap_or(0);
            let seq = u64::from_be_bytes(k[8..].try_into().unwrap_or([0; 8]));
            if time < cutoff || node_of(seq) == self.opts.node {
                continue;
            }
            let item = Journaled::decode(v)?;
            batch.put_cf(jcf, k, v);
            match item {
                Journaled::Decision(rec) if self.opts.card_index && rec.card != 0 => {
                    batch.put_cf(idx, card_index_key(rec.card, time, seq), []);
                }
                Journaled::Event(e) => match marks.iter_mut().find(|m| m.0 == e.reader) {
                    Some(m) => m.1 = m.1.max(e.event.event_id),
                    None => marks.push((e.reader, e.event.event_id)),
                },
                _ => {}
            }
            n += 1;
        }
        for (reader, id) in &marks {
            if *id > self.event_mark(*reader) {
                batch.put_cf(meta, event_mark_key(*reader), id.to_be_bytes());
            }
        }
        batch.put_cf(meta, IMPORTED_KEY, position.to_be_bytes());
        self.store.db().write(batch)?;
        for (reader, id) in marks {
            self.shared
                .event_marks
                .entry(reader)
                .and_modify(|m| *m = (*m).max(id))
                .or_insert(id);
        }
        Ok(n)
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
        self.shared.commits.close();
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

    /// Decisions of one card, or decisions and door events of one door or
    /// reader, stamped in `[from, to)` (never
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
            By::Card => self.scan(from, to, after, limit, |j| {
                j.decision().is_some_and(|r| r.card == id)
            }),
            By::Door => self.scan(from, to, after, limit, |j| u64::from(j.door()) == id),
            By::Reader => self.scan(from, to, after, limit, |j| u64::from(j.reader()) == id),
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
            return self.scan(from, to, None, limit, |j| {
                j.decision()
                    .is_some_and(|r| r.card != 0 && cards.contains(&r.card))
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
                        item: Journaled::decode(&v)?,
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
        keep: impl Fn(&Journaled) -> bool,
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
            let item = Journaled::decode(&v)?;
            if keep(&item) {
                let seq = k
                    .get(8..16)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .map(u64::from_be_bytes)
                    .ok_or(StoreError::Corrupt { what: "journal" })?;
                out.push(Entry { time, seq, item });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Decision, Reason};

    fn record(reader: u32, n: u64) -> Journaled {
        Journaled::Decision(Record {
            reader,
            door: 1,
            card: n,
            tag: 0,
            decision: Decision::Grant,
            reason: Reason::Granted,
        })
    }

    /// Connections appending at once and waiting for their group
    /// commits: every acknowledged record is in the journal exactly once,
    /// in sequence order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_appenders_commit_everything_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let clock: SharedClock = Arc::new(crate::clock::SystemClock);
        let store = Store::open(dir.path(), clock.clone(), 3_600_000_000).unwrap();
        let metrics = Arc::new(Metrics::new());
        let space = Arc::new(Space::new(dir.path(), 0, 0, 0));
        let opts = JournalOptions {
            sync: false,
            max_batch: 64,
            max_queue: 100_000,
            retention: 3_600_000_000,
            card_index: false,
            write_buffer: 8 << 20,
            node: 0,
        };
        let journal = Journal::start(store, clock, opts, metrics, space).unwrap();
        const TASKS: u32 = 16;
        const ROUNDS: u64 = 1_500;
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let j = journal.clone();
                tokio::spawn(async move {
                    let mut acked = 0u64;
                    for r in 0..ROUNDS {
                        // One to three records per round, as a read round.
                        let batch: Vec<Journaled> =
                            (0..1 + r % 3).map(|i| record(t, r * 4 + i)).collect();
                        let ticket = j.append_wait(&batch).await.unwrap();
                        j.wait_committed(ticket).await.unwrap();
                        acked += batch.len() as u64;
                        if r % 64 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    acked
                })
            })
            .collect();
        let mut acked = 0;
        for t in tasks {
            acked += t.await.unwrap();
        }
        journal.close();
        let all = journal.read(0, u64::MAX, usize::MAX).unwrap();
        assert_eq!(all.len() as u64, acked);
        for w in all.windows(2) {
            assert!(w[0].seq < w[1].seq, "journal order is not sequence order");
            assert!(w[0].time <= w[1].time);
        }
        // Each task's records, each once.
        let mut seen = std::collections::HashSet::new();
        for e in &all {
            let Journaled::Decision(r) = e.item else {
                panic!("not a decision")
            };
            assert!(seen.insert((r.reader, r.card)), "a record twice");
        }
    }
}
