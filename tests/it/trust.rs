//! Regression tests for the defects found by attacking the appliance
//! (issue 9): role edges, races on read-modify-write, faults.

use portcullis::decision::Reason;
use portcullis::identity::Role;
use portcullis::protocol::Frame;
use serde_json::json;

use crate::common::{Harness, READER};

fn reason(f: Frame) -> Reason {
    match f {
        Frame::VerifyResult { reason, .. } => reason,
        other => panic!("expected VERIFY_RESULT, got {other:?}"),
    }
}

/// Defect 1: a replacement by the card office (or anyone) must not lift a
/// suspension or a revocation, nor stand in for a first card.
#[tokio::test]
async fn replacement_never_lifts_a_suspension_or_revocation() {
    let h = Harness::start().await;
    let a = h.admin();
    let clerk = h.admin_as(Role::CardOffice, "clerk");
    let mut r = h.reader(READER).await;

    // No card yet: the card office cannot issue a first card by "replacing".
    let fresh = h.holder(1).await;
    for c in [&clerk, &a] {
        let (s, v) = c
            .request("POST", &format!("/v1/holders/{fresh}/replace-card"), None)
            .await
            .unwrap();
        assert_eq!(s, 409, "{v}");
        assert!(v["error"].as_str().unwrap().contains("no card in use"), "{v}");
    }
    assert!(h.app().core().cards.of_holder(fresh).unwrap().is_empty());

    // Suspended: refused for every role; the card stays suspended and no
    // new credential appears.
    let holder = h.holder(2).await;
    let (card, n) = h.issue_to(holder).await;
    let (s, _) = a
        .request("POST", &format!("/v1/cards/{card}/suspend"), None)
        .await
        .unwrap();
    assert_eq!(s, 200);
    let before = h.app().core().cards.map().len();
    for c in [&clerk, &a] {
        let (s, v) = c
            .request("POST", &format!("/v1/holders/{holder}/replace-card"), None)
            .await
            .unwrap();
        assert_eq!(s, 409, "{v}");
        assert!(v["error"].as_str().unwrap().contains("suspended"), "{v}");
        assert!(v.get("access_number").is_none());
    }
    assert_eq!(h.app().core().cards.map().len(), before);
    assert_eq!(reason(r.verify(1, 1, &n).await.unwrap()), Reason::Suspended);

    // Revoked: nothing in use, so nothing to replace.
    let (s, _) = a
        .request("POST", &format!("/v1/cards/{card}/revoke"), None)
        .await
        .unwrap();
    assert_eq!(s, 200);
    let (s, v) = clerk
        .request("POST", &format!("/v1/holders/{holder}/replace-card"), None)
        .await
        .unwrap();
    assert_eq!(s, 409, "{v}");
    assert_eq!(reason(r.verify(2, 1, &n).await.unwrap()), Reason::Revoked);
    // The security office may then issue a new first card.
    let (s, v) = a
        .request("POST", "/v1/cards", Some(&json!({ "holder": holder })))
        .await
        .unwrap();
    assert_eq!(s, 201, "{v}");
}
