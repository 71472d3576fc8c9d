//! The journal's writer thread: group commits, failures, probes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rocksdb::{WriteBatch, WriteOptions};
use tokio::sync::watch;

use super::record::{card_index_key, key, Journaled};
use super::{Committed, JournalOptions, Shared};
use crate::clock::Micros;
use crate::store::space::Space;
use crate::store::{cf, Store, StoreError};
use crate::telemetry::Metrics;

pub(super) fn writer_loop(
    shared: Arc<Shared>,
    store: Store,
    opts: JournalOptions,
    metrics: Arc<Metrics>,
    space: Arc<Space>,
    committed: watch::Sender<Committed>,
) {
    let mut wopts = WriteOptions::default();
    wopts.set_sync(opts.sync);
    let mut batch_items: Vec<(u64, Micros, Journaled)> = Vec::with_capacity(opts.max_batch);
    let fail = |why: &str| {
        metrics.journal_errors.increment(1);
        if !shared.failing.swap(true, Ordering::SeqCst) {
            tracing::error!(
                error = why,
                "journal write failed; decisions are refused until writes succeed again"
            );
        }
        shared.commits.failed();
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
        let mut marks: Vec<(u32, u64)> = Vec::new();
        for (seq, time, item) in &batch_items {
            batch.put_cf(cfh, key(*time, *seq), item.encode());
            match item {
                // Optionally, card look-ups are indexed: one entry per known
                // card. Otherwise (the default) every look-up scans the
                // window, which keeps the writer at full speed.
                Journaled::Decision(rec) if opts.card_index && rec.card != 0 => {
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
        let last = batch_items.last().map(|i| i.0).unwrap_or(0);
        if let Some((seq, time, _)) = batch_items.last() {
            batch.put_cf(store.cf(cf::META), super::LAST_KEY, key(*time, *seq));
        }
        match store.db().write_opt(batch, &wopts) {
            Ok(()) => {
                metrics
                    .journal_commit_seconds
                    .record(started.elapsed().as_secs_f64());
                metrics.journal_batch.record(batch_items.len() as f64);
                metrics.journal_records.increment(batch_items.len() as u64);
                shared.commits.committed(last);
                committed.send_modify(|c| c.seq = c.seq.max(last));
                for (reader, id) in marks {
                    shared
                        .event_marks
                        .entry(reader)
                        .and_modify(|m| *m = (*m).max(id))
                        .or_insert(id);
                }
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
