//! The admin API: roles from certificates, clear errors, nothing changed by
//! bad input.

use portcullis::api::Op;
use portcullis::pki::identity::Role;
use serde_json::json;

use crate::common::{Harness, READER};

#[tokio::test]
async fn identity_comes_from_the_certificate() {
    let h = Harness::start().await;
    let (s, v) = h
        .admin_as(Role::CardOffice, "clerk")
        .call(Op::Whoami, &[])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(v, json!({ "name": "clerk", "role": "card-office" }));
}

#[tokio::test]
async fn only_the_security_office_issues_and_revokes() {
    let h = Harness::start().await;
    let (id, _) = h.issue(1).await;
    for (role, name) in [
        (Role::CardOffice, "clerk"),
        (Role::Auditor, "audit"),
        (Role::Reader, READER),
    ] {
        let c = h.admin_as(role, name);
        let (s, v) = c
            .call(Op::CardIssue, &[])
            .json(&json!({ "holder": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 403, "{role} issued a card: {v}");
        assert!(v["error"].as_str().unwrap().contains("security-office"));
        let (s, _) = c.call(Op::CardRevoke, &[&id]).send().await.unwrap();
        assert_eq!(s, 403, "{role} revoked a card");
        let (s, _) = c
            .call(Op::ReaderRegister, &[&"x"])
            .json(&json!({ "doors": [1] }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 403, "{role} registered a reader");
    }
    assert_eq!(h.app().core().cards.map().len(), 1);
    // The card office may read a card's status.
    let (s, v) = h
        .admin_as(Role::CardOffice, "clerk")
        .call(Op::CardShow, &[&id])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(v["status"], "active");
    assert!(v.get("access_number").is_none());
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let h = Harness::start().await;
    assert_eq!(h.holder(1).await, 1);
    let a = h.admin();
    let cases: Vec<(Op, String, Vec<u8>, u16)> = vec![
        (Op::CardIssue, String::new(), b"not json".to_vec(), 400),
        (
            Op::CardIssue,
            String::new(),
            br#"{"holder": 1, "race": "x"}"#.to_vec(),
            400,
        ),
        (
            Op::CardIssue,
            String::new(),
            br#"{"holder": -1}"#.to_vec(),
            400,
        ),
        (
            Op::CardIssue,
            String::new(),
            br#"{"holder": 1, "valid_from": 100, "valid_until": 50}"#.to_vec(),
            422,
        ),
        (Op::CardIssue, String::new(), vec![b' '; 2_000_000], 413),
        (Op::CardRevoke, "999".into(), vec![], 404),
        (
            Op::ReaderRegister,
            "bad name".into(),
            br#"{"doors": [1]}"#.to_vec(),
            422,
        ),
        (
            Op::ReaderRegister,
            "ok".into(),
            br#"{"doors": []}"#.to_vec(),
            422,
        ),
    ];
    for (op, arg, body, want) in cases {
        let call = if arg.is_empty() {
            a.call(op, &[])
        } else {
            a.call(op, &[&arg])
        };
        let (s, v) = call.bytes(body).send().await.unwrap();
        assert_eq!(s, want, "{op} {arg}: {v}");
        if want != 413 {
            assert!(v["error"].is_string(), "{op} {arg}: no error message: {v}");
        }
    }
    assert_eq!(h.app().core().cards.map().len(), 0);
    assert!(h.app().core().readers.by_name("ok").is_none());
}

#[tokio::test]
async fn revoking_twice_is_a_conflict() {
    let h = Harness::start().await;
    let (id, _) = h.issue(1).await;
    h.revoke(id).await;
    let (s, v) = h.admin().call(Op::CardRevoke, &[&id]).send().await.unwrap();
    assert_eq!(s, 409, "{v}");
}
