//! Journal throughput by group-commit size: records per second committed
//! into RocksDB with the WAL on, fsync off and on. The writer is kept busy
//! (the queue never runs dry) and takes exactly `batch` records per commit.

use portcullis::store::space::Space;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use portcullis::clock::{SharedClock, SystemClock};
use portcullis::protocol::{Decision, Reason};
use portcullis::store::journal::{AppendError, Journal, JournalOptions, Journaled, Record};
use portcullis::store::Store;
use portcullis::telemetry::Metrics;

const RETENTION: u64 = 14 * 86_400 * 1_000_000;

fn journal_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("journal_commit");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    let runs: [(bool, bool, &[usize]); 3] = [
        (false, false, &[1, 64, 1024, 8192]),
        (false, true, &[1024]),
        (true, false, &[64, 1024, 8192]),
    ];
    for (sync, card_index, sizes) in runs {
        for &batch in sizes {
            let dir = tempfile::tempdir().unwrap();
            let clock: SharedClock = Arc::new(SystemClock);
            let store = Store::open(dir.path(), clock.clone(), RETENTION).unwrap();
            let journal = Journal::start(
                store,
                clock,
                JournalOptions {
                    sync,
                    max_batch: batch,
                    max_queue: batch * 8,
                    retention: RETENTION,
                    card_index,
                    write_buffer: 64 << 20,
                    node: 0,
                },
                Arc::new(Metrics::new()),
                Arc::new(Space::new(dir.path(), 1, 2, 0)),
            )
            .unwrap();
            let records: Vec<Journaled> = (0..batch as u64)
                .map(|i| {
                    Journaled::Decision(Record {
                        reader: 1,
                        door: (i % 16) as u32,
                        card: i,
                        tag: 0,
                        decision: Decision::Grant,
                        reason: Reason::Granted,
                    })
                })
                .collect();
            g.throughput(Throughput::Elements(batch as u64));
            let name = match (sync, card_index) {
                (true, _) => "fsync_on",
                (false, false) => "fsync_off",
                (false, true) => "fsync_off_card_index",
            };
            g.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, _| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    let mut last = None;
                    for _ in 0..iters {
                        loop {
                            match journal.append(&records) {
                                Ok(t) => {
                                    last = Some(t);
                                    break;
                                }
                                Err(AppendError::Full) => {
                                    std::thread::sleep(Duration::from_micros(20))
                                }
                                Err(e) => panic!("journal: {e}"),
                            }
                        }
                    }
                    if let Some(t) = last {
                        journal.wait_committed_blocking(t).unwrap();
                    }
                    start.elapsed()
                })
            });
            journal.close();
        }
    }
    g.finish();
}

criterion_group!(benches, journal_append);
criterion_main!(benches);
