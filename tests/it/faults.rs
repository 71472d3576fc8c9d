//! Faults, as an operator meets them: `kill -9` in the middle of admin
//! changes and verifications. Every acknowledged change and every answered
//! decision must be on disk afterwards, and no card may lack its audit
//! entry.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis::api::types::{Created, IssueCard, IssuedCard};
use portcullis::api::Op;
use portcullis::client::ReaderClient;
use portcullis::pki::identity::Role;
use portcullis::protocol::Frame;
use portcullis::records::cards::Card;
use portcullis::store::audit::AuditEntry;
use portcullis::store::journal::Record;
use portcullis::store::{cf, Store};
use serde_json::json;

use crate::common::fixture_person;
use crate::process::ProcHarness;

/// What the data directory holds, read with the appliance stopped.
struct OnDisk {
    cards: BTreeMap<u64, Card>,
    audited_cards: BTreeSet<u64>,
    decisions_of_reader: BTreeMap<u32, u64>,
}

fn read_disk(h: &ProcHarness) -> OnDisk {
    let store = Store::open_read_only(h.data_dir()).unwrap();
    let db = store.db();
    let mut cards = BTreeMap::new();
    for item in db.iterator_cf(store.cf(cf::CARDS), rocksdb::IteratorMode::Start) {
        let (k, v) = item.unwrap();
        let c = Card::decode(&k, &v).unwrap();
        cards.insert(c.id, c);
    }
    let mut audited_cards = BTreeSet::new();
    for item in db.iterator_cf(store.cf(cf::AUDIT), rocksdb::IteratorMode::Start) {
        let (_, v) = item.unwrap();
        let e: AuditEntry = serde_json::from_slice(&v).unwrap();
        if e.action == "card.issue" || e.action == "card.replace" {
            if let Some(id) = e.target.strip_prefix("card:").and_then(|s| s.parse().ok()) {
                audited_cards.insert(id);
            }
            // A replacement's superseded cards are named in its detail.
            for s in e.detail["superseded"].as_array().into_iter().flatten() {
                audited_cards.insert(s.as_u64().unwrap());
            }
        }
    }
    let mut decisions_of_reader = BTreeMap::new();
    for item in db.iterator_cf(store.cf(cf::JOURNAL), rocksdb::IteratorMode::Start) {
        let (_, v) = item.unwrap();
        let r = Record::decode(&v).unwrap();
        *decisions_of_reader.entry(r.reader).or_insert(0) += 1;
    }
    OnDisk {
        cards,
        audited_cards,
        decisions_of_reader,
    }
}

/// Kill -9 while sixteen writers issue and replace cards and a reader
/// verifies, eight times over the same data (enough rounds that a kill lands
/// between the two writes of a change if a change were two writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_changes_and_verifications_loses_nothing_acknowledged() {
    let h = ProcHarness::new(|_| {});
    // Acknowledged: card id → the number's holder, and answered decisions.
    let acknowledged: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let mut answered_total = 0u64;
    let mut reader_id = 0;
    for round in 0..8u64 {
        let p = h.start();
        let admin = h.admin(&p, Role::SecurityOffice, "admin");
        if round == 0 {
            let (s, v) = admin
                .call(Op::ReaderRegister, &[&"proc-reader"])
                .json(&json!({ "doors": [1] }))
                .send()
                .await
                .unwrap();
            assert_eq!(s, 200, "{v}");
            reader_id = v["id"].as_u64().unwrap() as u32;
            let (s, v) = admin
                .call(Op::AccessSet, &[])
                .json(&json!({ "door_groups": { "d": [1] }, "schedules": {}, "levels": { "l": { "door_group": "d" } }, "holidays": [] }))
                .send()
                .await
                .unwrap();
            assert_eq!(s, 200, "{v}");
        }
        let stop = Arc::new(AtomicBool::new(false));
        // Writers: a holder, a first card, then replacements, in a loop.
        let mut writers = Vec::new();
        for w in 0..16u64 {
            let (admin, stop, acked) = (admin.clone(), stop.clone(), acknowledged.clone());
            writers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let person = fixture_person(round * 100_000 + w * 10_000 + n);
                    let Ok(c) = admin
                        .call(Op::HolderCreate, &[])
                        .json(&person)
                        .expect::<Created>()
                        .await
                    else {
                        break;
                    };
                    let Ok(i) = admin
                        .call(Op::CardIssue, &[])
                        .json(&IssueCard {
                            holder: c.id,
                            ..IssueCard::default()
                        })
                        .expect::<IssuedCard>()
                        .await
                    else {
                        break;
                    };
                    acked.lock().unwrap().insert(i.card.id);
                    let Ok(r) = admin
                        .call(Op::CardReplace, &[&c.id])
                        .expect::<IssuedCard>()
                        .await
                    else {
                        break;
                    };
                    acked.lock().unwrap().insert(r.card.id);
                }
            }));
        }
        // A reader verifying as fast as it can, counting answers.
        let (tls, addr, stop_r) = (h.reader_tls(), p.reader, stop.clone());
        let verifier = tokio::spawn(async move {
            let mut answered = 0u64;
            let Ok(mut r) = ReaderClient::connect(addr, tls).await else {
                return 0;
            };
            let mut id = 0u32;
            while !stop_r.load(Ordering::Relaxed) {
                id += 1;
                match r
                    .verify(id, 1, &portcullis::crypto::numbers::AccessNumber([7u8; 16]))
                    .await
                {
                    Ok(Frame::VerifyResult { .. }) => answered += 1,
                    _ => break,
                }
            }
            answered
        });
        let after = 250 + (round * 337) % 700;
        tokio::time::sleep(Duration::from_millis(after)).await;
        p.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.await;
        }
        answered_total += verifier.await.unwrap();

        let disk = read_disk(&h);
        let acked = acknowledged.lock().unwrap().clone();
        for id in &acked {
            assert!(
                disk.cards.contains_key(id),
                "round {round}: acknowledged card {id} lost"
            );
        }
        for id in disk.cards.keys() {
            assert!(
                disk.audited_cards.contains(id),
                "round {round}: card {id} is on disk without its audit entry"
            );
        }
        let journaled = disk
            .decisions_of_reader
            .get(&reader_id)
            .copied()
            .unwrap_or(0);
        assert!(
            journaled >= answered_total,
            "round {round}: {answered_total} decisions answered, {journaled} journaled"
        );
        assert!(!acked.is_empty() || round > 0, "no change was acknowledged");
    }
    assert!(answered_total > 0);
}
