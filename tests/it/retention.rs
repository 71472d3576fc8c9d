//! The 14-day window, with an injected clock.

use std::time::Duration;

use portcullis::clock::DAY_MICROS;
use portcullis::crypto::numbers::journal_tag;

use crate::common::{files_containing, random_number, Harness, READER};

#[tokio::test]
async fn record_visible_before_14_days_gone_at_14_and_erased_from_files() {
    // Scheduled compaction every second so the test sees the schedule work.
    let h = Harness::start_with(|c| c.journal.compaction_interval_secs = 1).await;
    let core = h.app().core().clone();
    let unknown = random_number();
    let tag = journal_tag(core.cards.transform().digest(&unknown));
    let t0 = h.clock.clone();
    {
        let mut r = h.reader(READER).await;
        r.verify(1, 1, &unknown).await.unwrap();
    }
    let recs = core.journal.read(0, u64::MAX, 10).unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].item.decision().unwrap().tag, tag);

    // The record is in the RocksDB files (so the scan below can fail).
    core.store.flush_all().unwrap();
    let needle = tag.to_be_bytes();
    assert!(
        !files_containing(&h.data_dir(), &needle).is_empty(),
        "the scan must be able to find a live record"
    );

    // One second before 14 days: still visible.
    t0.advance(14 * DAY_MICROS - 1_000_000);
    assert_eq!(core.journal.read(0, u64::MAX, 10).unwrap().len(), 1);
    assert!(!files_containing(&h.data_dir(), &needle).is_empty());

    // At 14 days: no read returns it, whatever range is asked for.
    t0.advance(1_000_000);
    assert!(core.journal.read(0, u64::MAX, 10).unwrap().is_empty());

    // The scheduled compaction erases it physically.
    let mut erased = false;
    for _ in 0..100 {
        if core.journal.oldest_stored().unwrap().is_none() {
            erased = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        erased,
        "scheduled compaction did not erase the expired record"
    );
    // Let a compaction that may be in flight finish deleting its inputs.
    core.journal.erase_expired().unwrap();
    let left = files_containing(&h.data_dir(), &needle);
    assert!(left.is_empty(), "expired record still in {left:?}");
}

#[tokio::test]
async fn newer_records_survive_erasure() {
    let h = Harness::start().await;
    let core = h.app().core().clone();
    let old = random_number();
    let new = random_number();
    let mut r = h.reader(READER).await;
    r.verify(1, 1, &old).await.unwrap();
    h.clock.advance(10 * DAY_MICROS);
    r.verify(2, 1, &new).await.unwrap();
    // A compaction before expiry moves both records to the bottom level; the
    // next one must still drop the expired one from there.
    core.journal.erase_expired().unwrap();
    assert_eq!(core.journal.read(0, u64::MAX, 10).unwrap().len(), 2);
    h.clock.advance(5 * DAY_MICROS);
    core.journal.erase_expired().unwrap();
    let left = core.journal.read(0, u64::MAX, 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].item.decision().unwrap().tag,
        journal_tag(core.cards.transform().digest(&new))
    );
    let oldest = core.journal.oldest_stored().unwrap().unwrap();
    assert_eq!(oldest, left[0].time);
}

#[test]
fn configuration_cannot_lengthen_retention() {
    let mut c = portcullis::Config::default();
    c.journal.retention_days = 30;
    assert!(c.validate().is_err());
}
