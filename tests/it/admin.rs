//! The admin API: roles from certificates, clear errors, nothing changed by
//! bad input.

use portcullis::pki::identity::Role;
use serde_json::json;

use crate::common::{Harness, READER};

#[tokio::test]
async fn identity_comes_from_the_certificate() {
    let h = Harness::start().await;
    let (s, v) = h
        .admin_as(Role::CardOffice, "clerk")
        .request("GET", "/v1/whoami", None)
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
            .request("POST", "/v1/cards", Some(&json!({ "holder": 1 })))
            .await
            .unwrap();
        assert_eq!(s, 403, "{role} issued a card: {v}");
        assert!(v["error"].as_str().unwrap().contains("security-office"));
        let (s, _) = c
            .request("POST", &format!("/v1/cards/{id}/revoke"), None)
            .await
            .unwrap();
        assert_eq!(s, 403, "{role} revoked a card");
        let (s, _) = c
            .request("PUT", "/v1/readers/x", Some(&json!({ "doors": [1] })))
            .await
            .unwrap();
        assert_eq!(s, 403, "{role} registered a reader");
    }
    assert_eq!(h.app().core().cards.map().len(), 1);
    // The card office may read a card's status.
    let (s, v) = h
        .admin_as(Role::CardOffice, "clerk")
        .request("GET", &format!("/v1/cards/{id}"), None)
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
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("POST", "/v1/cards", b"not json".to_vec(), 400),
        (
            "POST",
            "/v1/cards",
            br#"{"holder": 1, "race": "x"}"#.to_vec(),
            400,
        ),
        ("POST", "/v1/cards", br#"{"holder": -1}"#.to_vec(), 400),
        (
            "POST",
            "/v1/cards",
            br#"{"holder": 1, "valid_from": 100, "valid_until": 50}"#.to_vec(),
            422,
        ),
        ("POST", "/v1/cards", vec![b' '; 2_000_000], 413),
        ("POST", "/v1/cards/999/revoke", vec![], 404),
        (
            "PUT",
            "/v1/readers/bad%20name",
            br#"{"doors": [1]}"#.to_vec(),
            422,
        ),
        ("PUT", "/v1/readers/ok", br#"{"doors": []}"#.to_vec(), 422),
    ];
    for (method, path, body, want) in cases {
        let (s, v) = a.request_raw(method, path, body).await.unwrap();
        assert_eq!(s, want, "{method} {path}: {v}");
        if want != 413 {
            assert!(
                v["error"].is_string(),
                "{method} {path}: no error message: {v}"
            );
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
    let (s, v) = h
        .admin()
        .request("POST", &format!("/v1/cards/{id}/revoke"), None)
        .await
        .unwrap();
    assert_eq!(s, 409, "{v}");
}
