//! Verifications over real mTLS.

use portcullis::api::Op;
use std::collections::HashMap;

use portcullis::client::{ClientError, ReaderClient};
use portcullis::pki::identity::Role;
use portcullis::pki::PkiDir;
use portcullis::protocol::tls;
use portcullis::protocol::{Credential, ErrorCode, Frame, VerifyRequest};
use portcullis::protocol::{Decision, Reason};

use crate::common::{random_number, Harness, OTHER_READER, READER};

fn result(f: Frame) -> (Decision, Reason) {
    match f {
        Frame::VerifyResult {
            decision, reason, ..
        } => (decision, reason),
        other => panic!("expected VERIFY_RESULT, got {other:?}"),
    }
}

#[tokio::test]
async fn issued_card_is_granted_and_unknown_number_denied() {
    let h = Harness::start().await;
    let (_, number) = h.issue(100).await;
    let mut r = h.reader(READER).await;
    assert_eq!(
        result(r.verify(1, 1, &number).await.unwrap()),
        (Decision::Grant, Reason::Granted)
    );
    assert_eq!(
        result(r.verify(2, 2, &random_number()).await.unwrap()),
        (Decision::Deny, Reason::Unknown)
    );
}

#[tokio::test]
async fn revocation_applies_to_an_open_connection() {
    let h = Harness::start().await;
    let (id, number) = h.issue(7).await;
    let mut r = h.reader(READER).await;
    assert_eq!(
        result(r.verify(1, 1, &number).await.unwrap()).0,
        Decision::Grant
    );
    h.revoke(id).await;
    assert_eq!(
        result(r.verify(2, 1, &number).await.unwrap()),
        (Decision::Deny, Reason::Revoked)
    );
}

#[tokio::test]
async fn missing_certificate_is_refused() {
    let h = Harness::start().await;
    let cfg = tls::client_config_anonymous(&h.pki.ca_cert()).unwrap();
    let res = ReaderClient::connect(h.app().reader_addr(), cfg).await;
    assert!(res.is_err(), "a reader without a certificate was admitted");
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let h = Harness::start().await;
    let foreign = PkiDir::new(h.dir.path().join("foreign"));
    foreign.init(false).unwrap();
    let me = foreign.issue(Role::Reader, READER).unwrap();
    // Trust the real appliance CA, but present the foreign certificate.
    let cfg = tls::client_config(&h.pki.ca_cert(), &me.cert, &me.key).unwrap();
    let res = ReaderClient::connect(h.app().reader_addr(), cfg).await;
    assert!(res.is_err(), "a certificate from another CA was admitted");
}

#[tokio::test]
async fn non_reader_role_is_refused_on_the_reader_port() {
    let h = Harness::start().await;
    let cfg = h.client_tls(Role::SecurityOffice, "admin");
    match ReaderClient::connect(h.app().reader_addr(), cfg).await {
        Err(ClientError::Refused(ErrorCode::RoleNotPermitted)) => {}
        other => panic!("expected role_not_permitted, got {other:?}"),
    }
}

#[tokio::test]
async fn unregistered_reader_is_refused() {
    let h = Harness::start().await;
    match h.try_reader("unregistered").await {
        Err(ClientError::Refused(ErrorCode::ReaderNotRegistered)) => {}
        other => panic!("expected reader_not_registered, got {other:?}"),
    }
}

#[tokio::test]
async fn reader_may_only_ask_about_its_own_doors() {
    let h = Harness::start().await;
    let (_, number) = h.issue(1).await;
    let mut r = h.reader(READER).await;
    // Door 3 belongs to the other reader.
    match r.verify(5, 3, &number).await {
        Err(ClientError::Refused(ErrorCode::DoorNotAssigned)) => {}
        other => panic!("expected door_not_assigned, got {other:?}"),
    }
    // The connection stays usable for its own doors.
    assert_eq!(
        result(r.verify(6, 2, &number).await.unwrap()).0,
        Decision::Grant
    );
    let mut other = h.reader(OTHER_READER).await;
    assert_eq!(
        result(other.verify(7, 3, &number).await.unwrap()).0,
        Decision::Grant
    );
    // Re-registering moves the door at once, on the open connection too.
    h.register(READER, &[1, 2, 3]).await;
    assert_eq!(
        result(r.verify(8, 3, &number).await.unwrap()).0,
        Decision::Grant
    );
}

#[tokio::test]
async fn a_thousand_pipelined_requests_are_all_answered_correctly() {
    let h = Harness::start().await;
    let mut known = Vec::new();
    for holder in 0..10 {
        known.push(h.issue(holder).await.1);
    }
    let (revoked_id, revoked) = h.issue(99).await;
    h.revoke(revoked_id).await;

    let mut r = h.reader(READER).await;
    let mut expected = HashMap::new();
    let mut bytes = Vec::new();
    for i in 0..1000u32 {
        let (number, want) = match i % 10 {
            0..=7 => (known[(i as usize) % known.len()], Reason::Granted),
            8 => (revoked, Reason::Revoked),
            _ => (random_number(), Reason::Unknown),
        };
        // Request ids need not be sequential.
        let rid = i.wrapping_mul(2_654_435_761);
        expected.insert(rid, want);
        Frame::Verify(VerifyRequest {
            request_id: rid,
            door: 1 + i % 2,
            credential: Credential::Random128(number.0),
        })
        .encode(&mut bytes);
    }
    r.send_bytes(&bytes).await.unwrap();
    for _ in 0..1000 {
        let f = r.recv().await.unwrap().expect("answer");
        let Frame::VerifyResult {
            request_id,
            decision,
            reason,
        } = f
        else {
            panic!("unexpected {f:?}");
        };
        let want = expected
            .remove(&request_id)
            .expect("answer to a request that was sent, once");
        assert_eq!(reason, want, "request {request_id}");
        assert_eq!(decision, want.decision());
    }
    assert!(expected.is_empty());
    assert_eq!(h.app().core().journal.queue_depth(), 0);
}

#[tokio::test]
async fn unsupported_credential_type_is_denied_with_its_reason() {
    let h = Harness::start().await;
    let mut r = h.reader(READER).await;
    r.send(&Frame::Verify(VerifyRequest {
        request_id: 77,
        door: 1,
        credential: Credential::Unsupported {
            cred_type: 0x42,
            len: 5,
        },
    }))
    .await
    .unwrap();
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::VerifyResult {
            request_id: 77,
            decision: Decision::Deny,
            reason: Reason::UnsupportedFormat
        })
    );
}

#[tokio::test]
async fn ping_is_answered_without_journaling() {
    let h = Harness::start().await;
    let mut r = h.reader(READER).await;
    r.send(&Frame::Ping { request_id: 3 }).await.unwrap();
    assert_eq!(r.recv().await.unwrap(), Some(Frame::Pong { request_id: 3 }));
    let all = h.app().core().journal.read(0, u64::MAX, 10).unwrap();
    assert!(all.is_empty());
}

#[tokio::test]
async fn removed_reader_is_refused_at_once() {
    let h = Harness::start().await;
    let (_, number) = h.issue(1).await;
    let mut r = h.reader(READER).await;
    assert_eq!(
        result(r.verify(1, 1, &number).await.unwrap()).0,
        Decision::Grant
    );
    let (s, v) = h
        .admin()
        .call(Op::ReaderRemove, &[&READER])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    match r.verify(2, 1, &number).await {
        Err(ClientError::Refused(ErrorCode::DoorNotAssigned)) => {}
        other => panic!("expected door_not_assigned, got {other:?}"),
    }
    match h.try_reader(READER).await {
        Err(ClientError::Refused(ErrorCode::ReaderNotRegistered)) => {}
        other => panic!("expected reader_not_registered, got {other:?}"),
    }
}
