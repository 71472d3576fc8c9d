//! The verification hot path, piece by piece: frame codec, access-number
//! transform, map look-up at 1 M and 10 M credentials (hits and misses, one
//! and two threads), and the whole decision.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use portcullis::crypto::numbers::{AccessNumber, Digest, Transform};
use portcullis::policy::credentials::{CardStatus, CredentialMap, Entry};
use portcullis::policy::decide::decide;
use portcullis::policy::levels::{AccessControl, Definitions, Level, Schedule, Window};
use portcullis::protocol::{Credential, Frame, VerifyRequest};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Large allocations (the credential map) get transparent huge pages.
#[global_allocator]
static ALLOC: portcullis::sys::hugepages::HugePageAlloc = portcullis::sys::hugepages::HugePageAlloc;

fn frame_codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    let req = Frame::Verify(VerifyRequest {
        request_id: 42,
        door: 7,
        credential: Credential::Random128([0x5a; 16]),
    });
    let mut bytes = Vec::new();
    req.encode(&mut bytes);
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_verify", |b| {
        b.iter(|| Frame::decode(black_box(&bytes), 512).unwrap())
    });
    let mut out = Vec::with_capacity(64);
    let answer = Frame::VerifyResult {
        request_id: 42,
        decision: portcullis::protocol::Decision::Grant,
        reason: portcullis::protocol::Reason::Granted,
    };
    g.bench_function("encode_verify_result", |b| {
        b.iter(|| {
            out.clear();
            black_box(&answer).encode(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn transform(c: &mut Criterion) {
    let t = Transform::new(&[7; 32]);
    let n = AccessNumber([3; 16]);
    c.bench_function("transform/aes256_mmo", |b| {
        b.iter(|| t.digest(black_box(&n)))
    });
}

/// A map of `n` credentials with random digests, plus the digests present.
fn build_map(n: usize) -> (Arc<CredentialMap>, Vec<Digest>) {
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
    let map = CredentialMap::with_capacity(n);
    // Sample of present keys for look-ups (a stride through them all would
    // not fit the cache either; 1 M random picks is plenty).
    let mut sample = Vec::with_capacity(1 << 20);
    for i in 0..n {
        let d = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        map.insert(
            d,
            Entry {
                card_id: i as u64,
                holder: i as u32,
                valid_from: 0,
                valid_until: 0,
                status: CardStatus::Active,
            },
        );
        if sample.len() < (1 << 20) {
            sample.push(d);
        } else if rng.next_u32() % 8 == 0 {
            let j = (rng.next_u32() as usize) & ((1 << 20) - 1);
            sample[j] = d;
        }
    }
    (Arc::new(map), sample)
}

fn map_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("map_lookup");
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(4));
    for n in [1_000_000usize, 10_000_000] {
        let (map, present) = build_map(n);
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let absent: Vec<Digest> = (0..(1 << 20))
            .map(|_| (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
            .collect();
        g.throughput(Throughput::Elements(1));
        for (kind, keys) in [("hit", &present), ("miss", &absent)] {
            // Cycle through every sampled key (a mask would visit only a few
            // of them when the sample is not a power of two long).
            let len = keys.len();
            g.bench_with_input(
                BenchmarkId::new(format!("{kind}/1thread"), n),
                &n,
                |b, _| {
                    let mut i = 0usize;
                    b.iter(|| {
                        i += 1;
                        if i == len {
                            i = 0;
                        }
                        black_box(map.get(keys[i]))
                    })
                },
            );
            // Two threads at once: each iteration is one look-up on each.
            g.bench_with_input(
                BenchmarkId::new(format!("{kind}/2threads"), n),
                &n,
                |b, _| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for t in 0..2usize {
                                let map = &map;
                                s.spawn(move || {
                                    let mut i = t * 7919;
                                    for _ in 0..iters {
                                        i = (i + 1) % len;
                                        black_box(map.get(keys[i]));
                                    }
                                });
                            }
                        });
                        start.elapsed()
                    })
                },
            );
        }
    }
    g.finish();
}

fn decision(c: &mut Criterion) {
    let t = Transform::new(&[9; 32]);
    let map = CredentialMap::with_capacity(1_000_000);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut numbers = Vec::new();
    for i in 0..1_000_000u64 {
        let mut n = [0u8; 16];
        rng.fill_bytes(&mut n);
        let n = AccessNumber(n);
        map.insert(
            t.digest(&n),
            Entry {
                card_id: i,
                holder: (i & 4095) as u32,
                valid_from: 0,
                valid_until: 0,
                status: CardStatus::Active,
            },
        );
        if numbers.len() < 4096 {
            numbers.push(n);
        }
    }
    // Every holder holds one level: door group of 16 doors, weekday
    // schedule; the decision runs the full path (card, holder, door, hour).
    let access = AccessControl::new("UTC").unwrap();
    let mut defs = Definitions::default();
    defs.door_groups.insert("g".into(), (1..=16).collect());
    defs.schedules.insert(
        "s".into(),
        Schedule {
            windows: vec![Window {
                days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                    .map(String::from)
                    .to_vec(),
                from: "00:00".into(),
                to: "24:00".into(),
            }],
            open_on_holidays: true,
        },
    );
    defs.levels.insert(
        "l".into(),
        Level {
            door_group: "g".into(),
            schedule: Some("s".into()),
            valid_from: None,
            valid_until: None,
        },
    );
    access.install(defs).unwrap();
    for h in 0..4096u64 {
        access.set_holder(h, true, vec!["l".into()]);
    }
    let now = 1_795_000_000;
    assert_eq!(
        decide(
            &t,
            &map,
            &access,
            &Credential::Random128(numbers[1].0),
            3,
            now
        )
        .reason,
        portcullis::protocol::Reason::Granted
    );
    let mut i = 0;
    c.bench_function("decision/transform+lookup+levels/1M", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            decide(
                &t,
                &map,
                &access,
                &Credential::Random128(numbers[i].0),
                3,
                now,
            )
        })
    });
}

criterion_group!(benches, frame_codec, transform, map_lookup, decision);
criterion_main!(benches);
