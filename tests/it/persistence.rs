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
