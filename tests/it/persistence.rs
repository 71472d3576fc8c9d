//! Restart and shutdown.

use std::time::Duration;

use portcullis::protocol::{Decision, Reason};
use portcullis::protocol::{ErrorCode, Frame};

use crate::common::{random_number, Harness, READER};

#[tokio::test]
async fn restart_keeps_credentials_and_journal() {
    let mut h = Harness::start().await;
    let (_, kept) = h.issue(1).await;
    let (gone_id, gone) = h.issue(2).await;
    h.revoke(gone_id).await;
    {
        let mut r = h.reader(READER).await;
        r.verify(1, 1, &kept).await.unwrap();
        r.verify(2, 1, &gone).await.unwrap();
        r.verify(3, 1, &random_number()).await.unwrap();
    }
    let before = h.app().core().journal.read(0, u64::MAX, 100).unwrap();
    assert_eq!(before.len(), 3);

    h.restart().await;

    assert_eq!(h.app().core().cards.map().len(), 2);
    let after = h.app().core().journal.read(0, u64::MAX, 100).unwrap();
    assert_eq!(
        after, before,
        "journal records survive the restart unchanged"
    );
    let mut r = h.reader(READER).await;
    let got = |f: Frame| match f {
        Frame::VerifyResult { reason, .. } => reason,
        f => panic!("{f:?}"),
    };
    assert_eq!(got(r.verify(4, 1, &kept).await.unwrap()), Reason::Granted);
    assert_eq!(got(r.verify(5, 1, &gone).await.unwrap()), Reason::Revoked);
    // Sequence numbers continue: the new record does not overwrite an old one.
    let all = h.app().core().journal.read(0, u64::MAX, 100).unwrap();
    assert_eq!(all.len(), 5);
    let last = all.iter().map(|e| e.seq).max().unwrap();
    assert!(before.iter().all(|e| e.seq < last));
}

#[tokio::test]
async fn sigterm_style_drain_answers_then_says_shutting_down() {
    let mut h = Harness::start().await;
    let (_, n) = h.issue(1).await;
    let mut r = h.reader(READER).await;
    match r.verify(1, 1, &n).await.unwrap() {
        Frame::VerifyResult { decision, .. } => assert_eq!(decision, Decision::Grant),
        f => panic!("{f:?}"),
    }
    let app = h.app.take().unwrap();
    let stopping = tokio::spawn(app.shutdown(Duration::from_secs(5)));
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::Error {
            request_id: 0,
            code: ErrorCode::ShuttingDown
        })
    );
    assert_eq!(r.recv().await.unwrap(), None);
    let report = stopping.await.unwrap();
    assert!(report.drained);
}

/// An online backup restores into a fresh directory on another appliance:
/// the records as they were, with every record expired since erased, and
/// backups themselves erased once older than the window.
#[tokio::test]
async fn backups_restore_and_expire_like_the_journal() {
    use portcullis::api::Op;
    use portcullis::clock::{SharedClock, DAY_MICROS};
    use portcullis::pki::identity::Role;
    use portcullis::store::{backup, cf, Store};

    let h = crate::common::Harness::start_with(|c| {
        c.backup.dir =
            std::env::temp_dir().join(format!("portcullis-backups-{}", rand::random::<u64>()));
    })
    .await;
    let (card, n) = h.issue(1).await;
    let mut r = h.reader(crate::common::READER).await;
    r.verify(1, 1, &n).await.unwrap();
    let a = h.admin();
    let (s, v) = a
        .call(Op::BackupCreate, &[])
        .json(&serde_json::json!({ "with_keys": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let path = std::path::PathBuf::from(v["path"].as_str().unwrap());
    // Changes after the backup are not in it.
    h.revoke(card).await;
    let (s, list) = h
        .admin_as(Role::Auditor, "audit")
        .call(Op::BackupList, &[])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Restore fifteen days later: the card as it was (active), the
    // decision erased, the ledger position recorded.
    let target = tempfile::tempdir().unwrap();
    let later = portcullis::clock::ManualClock::new(
        portcullis::clock::Clock::now_micros(&h.clock) + 15 * DAY_MICROS,
    );
    let clock: SharedClock = std::sync::Arc::new(later);
    let retention = 14 * DAY_MICROS;
    let m = backup::restore(
        &path,
        &target.path().join("data"),
        &target.path().join("keys"),
        clock.clone(),
        retention,
    )
    .unwrap();
    assert!(m.with_keys && m.ledger_position > 0);
    // Not over a database.
    assert!(backup::restore(
        &path,
        &target.path().join("data"),
        &target.path().join("keys"),
        clock,
        retention
    )
    .is_err());
    {
        let store = Store::open_read_only(&target.path().join("data")).unwrap();
        let journal = store
            .db()
            .iterator_cf(store.cf(cf::JOURNAL), rocksdb::IteratorMode::Start)
            .count();
        assert_eq!(journal, 0, "expired decisions survived the restore");
        let (_, v) = store
            .db()
            .iterator_cf(store.cf(cf::CARDS), rocksdb::IteratorMode::Start)
            .next()
            .unwrap()
            .unwrap();
        let c = portcullis::records::cards::Card::decode(&card.to_be_bytes(), &v).unwrap();
        assert_eq!(
            c.entry.status,
            portcullis::policy::credentials::CardStatus::Active
        );
    }
    // The restored directory starts with the restored keys.
    let mut other = h.config.clone();
    other.data_dir = target.path().join("data");
    other.keys_dir = target.path().join("keys");
    other.backup.dir = target.path().join("backups");
    let app = portcullis::Appliance::start(other, std::sync::Arc::new(h.clock.clone()))
        .await
        .expect("the restored appliance starts");
    app.shutdown(std::time::Duration::from_secs(2)).await;

    // Backups age out with the window.
    let now = portcullis::clock::Clock::now_micros(&h.clock);
    assert_eq!(
        backup::prune(&h.config.backup.dir, now, retention).unwrap(),
        0
    );
    assert_eq!(
        backup::prune(&h.config.backup.dir, now + retention, retention).unwrap(),
        1
    );
    let _ = std::fs::remove_dir_all(&h.config.backup.dir);
}
