//! Group commits: by the writer thread, or by the appending connection
//! itself when no commit is under way.
//!
//! One commit at a time, in queue order (the `writing` flag of the queue).
//! When the journal does not fsync, a connection that appends while nobody
//! is committing writes the queue itself, on its own thread: no hand-off
//! to the writer thread and back, which at tens of thousands of rounds a
//! second is two thread wake-ups per round. Such a write never waits for
//! RocksDB to slow writers down (`no_slowdown`): if it would, the batch
//! goes back to the head of the queue for the writer thread, which may
//! wait. With `sync` on, every commit is the writer thread's (an fsync
//! must not hold an async worker).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rocksdb::{ErrorKind, WriteBatch, WriteOptions};
use tokio::sync::watch;

use super::record::{card_index_key, key, Journaled};
use super::{Committed, JournalOptions, Shared};
use crate::clock::Micros;
use crate::store::space::Space;
use crate::store::{cf, Store, StoreError};
use crate::telemetry::Metrics;

/// A queued record: sequence, time stamp, record.
pub(super) type Item = (u64, Micros, Journaled);

/// Rounds an appending connection commits before it leaves the rest to the
/// writer thread (it holds an async worker meanwhile).
const INLINE_ROUNDS: usize = 3;

/// Everything a commit needs, shared by the writer thread and appenders.
pub(super) struct Committer {
    pub(super) shared: Arc<Shared>,
    store: Store,
    opts: JournalOptions,
    metrics: Arc<Metrics>,
    space: Arc<Space>,
    committed: watch::Sender<Committed>,
    /// The writer thread's options (may wait out a write stall).
    wopts: WriteOptions,
    /// An appender's options: never wait out a stall.
    inline: WriteOptions,
    /// A commit is running: checked, in debug builds, to catch two at once
    /// (the queue's `writing` flag is what prevents it).
    running: std::sync::atomic::AtomicBool,
}

enum Outcome {
    Done,
    /// RocksDB would have slowed the write down: nothing was written.
    Stalled,
}

impl Committer {
    pub(super) fn new(
        shared: Arc<Shared>,
        store: Store,
        opts: JournalOptions,
        metrics: Arc<Metrics>,
        space: Arc<Space>,
        committed: watch::Sender<Committed>,
    ) -> Self {
        let mut wopts = WriteOptions::default();
        wopts.set_sync(opts.sync);
        let mut inline = WriteOptions::default();
        inline.set_sync(opts.sync);
        inline.set_no_slowdown(true);
        Committer {
            shared,
            store,
            opts,
            metrics,
            space,
            committed,
            wopts,
            inline,
            running: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether appenders may commit themselves.
    pub(super) fn inline_allowed(&self) -> bool {
        !self.opts.sync && !self.shared.failing.load(Ordering::Relaxed)
    }

    fn fail(&self, why: &str) {
        self.metrics.journal_errors.increment(1);
        if !self.shared.failing.swap(true, Ordering::SeqCst) {
            tracing::error!(
                error = why,
                "journal write failed; decisions are refused until writes succeed again"
            );
        }
        self.shared.commits.failed();
        self.committed.send_modify(|c| c.epoch += 1);
    }

    /// Writes one batch and wakes its waiters (or, on failure, every
    /// waiter of the epoch, to answer nothing).
    fn commit(&self, items: &[Item], inline: bool) -> Outcome {
        let overlapping = self.running.swap(true, Ordering::AcqRel);
        debug_assert!(!overlapping, "two journal commits at once");
        let outcome = self.commit_one(items, inline);
        self.running.store(false, Ordering::Release);
        outcome
    }

    fn commit_one(&self, items: &[Item], inline: bool) -> Outcome {
        if !self.space.journal_allowed() {
            // Appended just before the reserve was reached: not written,
            // not answered.
            self.fail("data directory below its free-space reserve");
            return Outcome::Done;
        }
        let started = Instant::now();
        let store = &self.store;
        let mut batch = WriteBatch::default();
        let cfh = store.cf(cf::JOURNAL);
        let idx = store.cf(cf::JOURNAL_INDEX);
        let mut marks: Vec<(u32, u64)> = Vec::new();
        for (seq, time, item) in items {
            batch.put_cf(cfh, key(*time, *seq), item.encode());
            match item {
                // Optionally, card look-ups are indexed: one entry per known
                // card. Otherwise (the default) every look-up scans the
                // window, which keeps the writer at full speed.
                Journaled::Decision(rec) if self.opts.card_index && rec.card != 0 => {
                    batch.put_cf(idx, card_index_key(rec.card, *time, *seq), []);
                }
                Journaled::Event(e) => match marks.iter_mut().find(|m| m.0 == e.reader) {
                    Some(m) => m.1 = m.1.max(e.event.event_id),
                    None => marks.push((e.reader, e.event.event_id)),
                },
                _ => {}
            }
        }
        // Each controller's highest event journaled, in the same batch: a
        // controller resending after a lost acknowledgement is recognised.
        for (reader, id) in &marks {
            batch.put_cf(
                store.cf(cf::META),
                super::event_mark_key(*reader),
                id.to_be_bytes(),
            );
        }
        let last = items.last().map(|i| i.0).unwrap_or(0);
        if let Some((seq, time, _)) = items.last() {
            batch.put_cf(store.cf(cf::META), super::LAST_KEY, key(*time, *seq));
        }
        let wopts = if inline { &self.inline } else { &self.wopts };
        match store.db().write_opt(batch, wopts) {
            Ok(()) => {
                let m = &self.metrics;
                m.journal_commit_seconds
                    .record(started.elapsed().as_secs_f64());
                m.journal_batch.record(items.len() as f64);
                m.journal_records.increment(items.len() as u64);
                self.shared.commits.committed(last);
                self.committed.send_modify(|c| c.seq = c.seq.max(last));
                for (reader, id) in marks {
                    self.shared
                        .event_marks
                        .entry(reader)
                        .and_modify(|m| *m = (*m).max(id))
                        .or_insert(id);
                }
                if self.shared.failing.swap(false, Ordering::SeqCst) {
                    tracing::info!("journal writes succeed again; decisions resume");
                }
                Outcome::Done
            }
            Err(e) if inline && e.kind() == ErrorKind::Incomplete => {
                self.metrics.journal_inline_stalls.increment(1);
                Outcome::Stalled
            }
            Err(e) => {
                self.fail(e.as_ref());
                Outcome::Done
            }
        }
    }

    /// Commits `items`, just taken from the queue by an appender that set
    /// `writing`, then whatever queued meanwhile, for a few rounds; then
    /// clears `writing` and leaves the rest to the writer thread.
    pub(super) fn commit_inline(&self, mut items: Vec<Item>) {
        for round in 1..=INLINE_ROUNDS {
            let stalled = matches!(self.commit(&items, true), Outcome::Stalled);
            let mut q = self.shared.lock_queue();
            if stalled {
                // Back to the head of the queue, in order, for the writer.
                for item in items.drain(..).rev() {
                    q.items.push_front(item);
                }
            }
            items.clear();
            if stalled || q.items.is_empty() || round == INLINE_ROUNDS || !self.inline_allowed() {
                q.writing = false;
                let more = !q.items.is_empty() || q.closed;
                self.metrics.journal_queue.set(q.items.len() as f64);
                drop(q);
                if more {
                    self.shared.wake.notify_one();
                }
                return;
            }
            let n = q.items.len().min(self.opts.max_batch);
            items.extend(q.items.drain(..n));
        }
    }
}

pub(super) fn writer_loop(c: Arc<Committer>) {
    let shared = &c.shared;
    let mut items: Vec<Item> = Vec::with_capacity(c.opts.max_batch);
    loop {
        {
            let mut q = shared.lock_queue();
            // Wait for records nobody is committing, or for the close once
            // everything is written.
            while (q.items.is_empty() || q.writing)
                && !(q.closed && q.items.is_empty() && !q.writing)
            {
                if shared.failing.load(Ordering::SeqCst) && q.items.is_empty() && !q.writing {
                    // Probe once a second: a journal that refuses decisions
                    // gets no traffic to find out it has recovered.
                    let (g, t) = shared
                        .wake
                        .wait_timeout(q, std::time::Duration::from_secs(1))
                        .unwrap_or_else(|p| p.into_inner());
                    q = g;
                    if t.timed_out() && q.items.is_empty() && !q.writing {
                        drop(q);
                        if c.space.journal_allowed() && probe(&c.store).is_ok() {
                            shared.failing.store(false, Ordering::SeqCst);
                            tracing::info!("journal writes succeed again; decisions resume");
                        }
                        q = shared.lock_queue();
                    }
                } else {
                    q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            }
            if q.items.is_empty() {
                // Closed, and everything is written.
                return;
            }
            q.writing = true;
            let n = q.items.len().min(c.opts.max_batch);
            items.extend(q.items.drain(..n));
            c.metrics.journal_queue.set(q.items.len() as f64);
        }
        c.commit(&items, false);
        items.clear();
        let mut q = shared.lock_queue();
        q.writing = false;
    }
}

/// A tiny write through the same WAL, to learn whether writes succeed.
fn probe(store: &Store) -> Result<(), StoreError> {
    store
        .db()
        .put_cf(store.cf(cf::META), b"journal/probe", [])?;
    Ok(())
}
