//! Regression tests for the defects found by attacking the appliance
//! (issue 9): role edges, races on read-modify-write, faults.

use portcullis::api::Op;
use portcullis::pki::identity::Role;
use portcullis::protocol::Frame;
use portcullis::protocol::Reason;
use serde_json::json;

use crate::common::{jpeg, Harness, READER};

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
        let (s, v) = c.call(Op::CardReplace, &[&fresh]).send().await.unwrap();
        assert_eq!(s, 409, "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("no card in use"),
            "{v}"
        );
    }
    assert!(h.app().core().cards.of_holder(fresh).unwrap().is_empty());

    // Suspended: refused for every role; the card stays suspended and no
    // new credential appears.
    let holder = h.holder(2).await;
    let (card, n) = h.issue_to(holder).await;
    let (s, _) = a.call(Op::CardSuspend, &[&card]).send().await.unwrap();
    assert_eq!(s, 200);
    let before = h.app().core().cards.map().len();
    for c in [&clerk, &a] {
        let (s, v) = c.call(Op::CardReplace, &[&holder]).send().await.unwrap();
        assert_eq!(s, 409, "{v}");
        assert!(v["error"].as_str().unwrap().contains("suspended"), "{v}");
        assert!(v.get("access_number").is_none());
    }
    assert_eq!(h.app().core().cards.map().len(), before);
    assert_eq!(reason(r.verify(1, 1, &n).await.unwrap()), Reason::Suspended);

    // Revoked: nothing in use, so nothing to replace.
    let (s, _) = a.call(Op::CardRevoke, &[&card]).send().await.unwrap();
    assert_eq!(s, 200);
    let (s, v) = clerk
        .call(Op::CardReplace, &[&holder])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 409, "{v}");
    assert_eq!(reason(r.verify(2, 1, &n).await.unwrap()), Reason::Revoked);
    // The security office may then issue a new first card.
    let (s, v) = a
        .call(Op::CardIssue, &[])
        .json(&json!({ "holder": holder }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 201, "{v}");
}

/// A replacement is valid no longer than the card it stands in for: the
/// card office cannot lift an expiry the security office set, nor replace
/// a card that has expired.
#[tokio::test]
async fn replacement_never_extends_a_cards_validity() {
    let h = Harness::start().await;
    let a = h.admin();
    let clerk = h.admin_as(Role::CardOffice, "clerk");
    let mut r = h.reader(READER).await;
    let holder = h.holder(1).await;
    let (card, _) = h.issue_to(holder).await;
    let now = portcullis::clock::Clock::now_micros(&h.clock) / 1_000_000;
    let until = now + 3_600;
    let (s, v) = a
        .call(Op::CardExpiry, &[&card])
        .json(&json!({ "valid_until": until }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");

    // Asking for more is refused; asking for nothing carries the expiry.
    let (s, v) = clerk
        .call(Op::CardReplace, &[&holder])
        .json(&json!({ "valid_until": until + 86_400 }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("valid longer"), "{v}");
    let (s, v) = clerk
        .call(Op::CardReplace, &[&holder])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["card"]["valid_until"].as_u64(), Some(until), "{v}");
    let n: portcullis::crypto::numbers::AccessNumber =
        v["access_number"].as_str().unwrap().parse().unwrap();
    assert_eq!(reason(r.verify(1, 1, &n).await.unwrap()), Reason::Granted);

    // Expired: no replacement, for any role; the card stays expired.
    h.clock.advance(2 * 3_600 * 1_000_000);
    for c in [&clerk, &a] {
        let (s, v) = c.call(Op::CardReplace, &[&holder]).send().await.unwrap();
        assert_eq!(s, 409, "{v}");
        assert!(v["error"].as_str().unwrap().contains("expired"), "{v}");
    }
    assert_eq!(reason(r.verify(2, 1, &n).await.unwrap()), Reason::Expired);
}

/// Defect 3: a data directory with records is never opened with missing
/// or different keys; a fresh one gets keys.
#[tokio::test]
async fn missing_or_wrong_keys_refuse_to_start() {
    let mut h = Harness::start().await;
    let holder = h.holder(1).await;
    h.issue_to(holder).await;
    h.stop().await;
    let keys = h.config.keys_dir.clone();
    let backup = h.dir.path().join("keys-backup");
    copy_dir(&keys, &backup);

    // The transform key deleted.
    std::fs::remove_file(keys.join("transform.key")).unwrap();
    let e = h.try_boot().await.unwrap_err().to_string();
    assert!(e.contains("transform key") && e.contains("missing"), "{e}");
    assert!(
        !keys.join("transform.key").exists(),
        "a new key was generated"
    );

    // The whole key directory deleted.
    std::fs::remove_dir_all(&keys).unwrap();
    let e = h.try_boot().await.unwrap_err().to_string();
    assert!(e.contains("missing"), "{e}");

    // Another appliance's keys.
    let other = tempfile::tempdir().unwrap();
    let store_dir = other.path().join("data");
    {
        let clock: portcullis::clock::SharedClock =
            std::sync::Arc::new(portcullis::clock::SystemClock);
        let store = portcullis::store::Store::open(&store_dir, clock, 1).unwrap();
        portcullis::store::keys::bind(&other.path().join("keys"), &store).unwrap();
    }
    copy_dir(&other.path().join("keys"), &keys);
    let e = h.try_boot().await.unwrap_err().to_string();
    assert!(e.contains("not the key"), "{e}");

    // A record key missing while its transform key is right.
    std::fs::remove_dir_all(&keys).unwrap();
    copy_dir(&backup, &keys);
    std::fs::remove_file(keys.join("records-1.key")).unwrap();
    let e = h.try_boot().await.unwrap_err().to_string();
    assert!(e.contains("record key 1"), "{e}");

    // The right keys: starts, and the card still works.
    std::fs::remove_dir_all(&keys).unwrap();
    copy_dir(&backup, &keys);
    h.try_boot().await.unwrap();
    let cards = h.app().core().cards.of_holder(holder).unwrap();
    assert_eq!(cards.len(), 1);
    let (s, v) = h
        .admin()
        .call(Op::HolderShow, &[&holder])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        std::fs::copy(e.path(), &dst).unwrap();
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Defect 5: key rotation concurrent with photo uploads loses no
/// acknowledged upload and leaves nothing sealed under a retired key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_rotation_concurrent_with_photo_uploads() {
    let mut h = Harness::start().await;
    let mut holders = Vec::new();
    for n in 0..10 {
        holders.push(h.holder(n).await);
    }
    let uploads = holders.iter().map(|&hid| {
        let a = h.admin();
        tokio::spawn(async move {
            let mut last_ok = None;
            for i in 0..16u64 {
                let tag = hid * 1000 + i;
                let (s, v) = a
                    .call(Op::PhotoUpload, &[&hid])
                    .bytes(big_jpeg(tag))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(s, 200, "{v}");
                last_ok = Some(tag);
            }
            (hid, last_ok.unwrap())
        })
    });
    let uploads: Vec<_> = uploads.collect();
    let a = h.admin();
    let rotations = tokio::spawn(async move {
        for _ in 0..15 {
            let (s, v) = a.call(Op::KeysRotate, &[]).send().await.unwrap();
            assert_eq!(s, 200, "{v}");
        }
    });
    let mut last = Vec::new();
    for u in uploads {
        last.push(u.await.unwrap());
    }
    rotations.await.unwrap();
    let check = |h: &Harness, last: Vec<(u64, u64)>| {
        let a = h.admin();
        async move {
            for (hid, tag) in last {
                let (s, bytes) = a
                    .call(Op::PhotoShow, &[&hid])
                    .bytes(vec![])
                    .send_bytes()
                    .await
                    .unwrap();
                assert_eq!(s, 200, "{}", String::from_utf8_lossy(&bytes));
                assert!(
                    bytes == big_jpeg(tag),
                    "holder {hid}: an acknowledged upload was lost"
                );
            }
        }
    };
    check(&h, last.clone()).await;
    // A further rotation still works, and so does a restart.
    let (s, v) = h.admin().call(Op::KeysRotate, &[]).send().await.unwrap();
    assert_eq!(s, 200, "{v}");
    h.restart().await;
    check(&h, last).await;
}

/// A 128 KiB photo: large enough that re-encrypting a few of them takes
/// long enough for uploads to land inside a rotation.
fn big_jpeg(tag: u64) -> Vec<u8> {
    let mut v = jpeg(tag);
    let tail = v.split_off(v.len() - 2);
    v.resize(128 * 1024, 0x22);
    v.extend(tail);
    v
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Raw TCP connections from `source` (a loopback address) to `addr`, in
/// order; `None` where the connection was reset while connecting.
async fn raw_connections(
    source: &str,
    addr: std::net::SocketAddr,
    n: usize,
) -> Vec<Option<tokio::net::TcpStream>> {
    let mut v = Vec::new();
    for _ in 0..n {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(format!("{source}:0").parse().unwrap()).unwrap();
        v.push(s.connect(addr).await.ok());
    }
    v
}

/// Whether the appliance has reset or closed `c` (it reads EOF or an error
/// within a short while).
async fn was_closed(c: &mut Option<tokio::net::TcpStream>) -> bool {
    use tokio::io::AsyncReadExt;
    let Some(c) = c else { return true };
    let mut b = [0u8; 1];
    matches!(
        tokio::time::timeout(std::time::Duration::from_millis(300), c.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// Defect 4: idle or slow connections to the metrics port are bounded and
/// timed out, and cannot starve the reader port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_port_connections_are_capped_and_timed_out() {
    let h = Harness::start_with(|c| {
        c.metrics.max_connections = 8;
        c.metrics.max_connections_per_ip = 0;
        c.metrics.header_timeout_ms = 400;
    })
    .await;
    let (_, n) = h.issue(1).await;
    let ops = h.app().metrics_addr();
    let mut idle = raw_connections("127.0.0.1", ops, 60).await;
    // Beyond the cap they are reset at once.
    let mut closed = 0;
    for c in idle.iter_mut().skip(8) {
        closed += usize::from(was_closed(c).await);
    }
    assert_eq!(closed, 52);
    // Readers are not affected.
    let mut r = h.reader(READER).await;
    assert_eq!(reason(r.verify(1, 1, &n).await.unwrap()), Reason::Granted);
    // The idle ones time out waiting for their headers; scrapes work again.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    for c in idle.iter_mut().take(8) {
        assert!(
            was_closed(c).await,
            "an idle metrics connection outlived the header timeout"
        );
    }
    let (s, text) = crate::common::http_get(ops, "/metrics").await;
    assert_eq!(s, 200);
    assert!(
        metric(
            &text,
            "portcullis_connections_refused_total{listener=\"ops\",reason=\"capacity\"}"
        ) >= 52.0,
        "{text}"
    );
}

/// At `max_connections` a reader is refused with `at_capacity` at once,
/// and `/readyz` says why; a slot freed is usable again.
#[tokio::test]
async fn reader_listener_at_capacity_refuses_and_is_not_ready() {
    let h = Harness::start_with(|c| c.reader.max_connections = 2).await;
    let (_, n) = h.issue(1).await;
    let mut a = h.reader(READER).await;
    let b = h.reader(READER).await;
    match h.try_reader(READER).await {
        Err(portcullis::client::ClientError::Refused(code)) => {
            assert_eq!(code, portcullis::protocol::ErrorCode::AtCapacity)
        }
        other => panic!("expected at_capacity, got {other:?}"),
    }
    let (s, body) = crate::common::http_get(h.app().metrics_addr(), "/readyz").await;
    assert_eq!(s, 503);
    assert!(body.contains("max_connections"), "{body}");
    drop(b);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut c = h.reader(READER).await;
    assert_eq!(reason(c.verify(1, 1, &n).await.unwrap()), Reason::Granted);
    assert_eq!(reason(a.verify(2, 1, &n).await.unwrap()), Reason::Granted);
}

/// One host's flood of connections that never finish their TLS handshake
/// cannot take the admin listener from everybody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_floods_are_bounded_per_address() {
    let h = Harness::start_with(|c| {
        c.admin.max_handshakes = 16;
        c.admin.max_handshakes_per_ip = 4;
        c.reader.max_handshakes_per_ip = 4;
    })
    .await;
    let admin = h.app().admin_addr();
    let mut flood = raw_connections("127.0.0.2", admin, 40).await;
    let mut reset = 0;
    for c in flood.iter_mut().skip(4) {
        reset += usize::from(was_closed(c).await);
    }
    assert_eq!(
        reset, 36,
        "connections beyond the per-address cap are reset"
    );
    // Others still get their answers, at once.
    let (s, v) = h.admin().call(Op::Whoami, &[]).send().await.unwrap();
    assert_eq!(s, 200, "{v}");
    // Same on the reader listener.
    let mut rflood = raw_connections("127.0.0.2", h.app().reader_addr(), 20).await;
    let (_, n) = h.issue(1).await;
    let mut r = h.reader(READER).await;
    assert_eq!(reason(r.verify(1, 1, &n).await.unwrap()), Reason::Granted);
    let text = h.app().core().metrics.render();
    assert!(
        metric(
            &text,
            "portcullis_connections_refused_total{listener=\"admin\",reason=\"per_address\"}"
        ) >= 36.0
    );
    drop(rflood.drain(..));
}

/// A configuration whose bounds exceed the open-file limit is reported, and
/// listeners sharing a port are refused.
#[test]
fn configuration_checks_descriptors_and_ports() {
    let mut c = portcullis::Config::default();
    c.reader.max_connections = 1_000_000;
    let w = c.warnings();
    assert!(w.iter().any(|w| w.contains("open-file limit")), "{w:?}");
    let mut c = portcullis::Config::default();
    c.admin.listen = c.reader.listen;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("same port"), "{e}");
    let mut c = portcullis::Config::default();
    c.tls.ca_cert = "/nonexistent/ca.crt".into();
    assert!(c.warnings().iter().any(|w| w.contains("does not exist")));
    // `--check-config` fails on them, naming the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, toml::to_string(&c).unwrap()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["run", "--check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a missing CA certificate passed the check"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/ca.crt"), "{err}");
}

/// No free text: a department is a registered code; access definitions
/// take no unknown keys; a reader id is never given to another reader, not
/// even after a removal and a restart.
#[tokio::test]
async fn no_free_text_no_unknown_keys_no_reused_reader_ids() {
    let mut h = Harness::start().await;
    let a = h.admin();
    let mut p = crate::common::fixture_person(1);
    p["department"] = json!("Religion-Gender");
    let (s, v) = a.call(Op::HolderCreate, &[]).json(&p).send().await.unwrap();
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not a registered department"),
        "{v}"
    );
    let (s, v) = a
        .call(Op::AccessSet, &[])
        .json(&json!({ "door_groups": {}, "schedules": {}, "levels": {}, "holidays": [], "notes": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("notes"), "{v}");

    async fn register(a: &portcullis::client::AdminClient, name: &str) -> u64 {
        let (s, v) = a
            .call(Op::ReaderRegister, &[&name])
            .json(&json!({ "doors": [9] }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
        v["id"].as_u64().unwrap()
    }
    let old = register(&a, "temporary").await;
    let (s, _) = a
        .call(Op::ReaderRemove, &[&"temporary"])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    h.restart().await;
    let new = register(&h.admin(), "newcomer").await;
    assert!(new > old, "reader id {old} was given again ({new})");
}

/// The serial of a certificate the harness issued.
fn serial_of(h: &Harness, role: Role, name: &str) -> String {
    let pem = std::fs::read(h.pki.client(role, name).cert).unwrap();
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .unwrap()
        .unwrap();
    portcullis::pki::identity::from_der(der.as_ref())
        .unwrap()
        .serial
}

/// Revokes a certificate by serial, as the security office.
async fn revoke_certificate(h: &Harness, serial: &str) {
    let (s, v) = h
        .admin()
        .call(Op::CertRevoke, &[])
        .json(&json!({ "serial": serial, "reason": "lost" }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
}

/// A revoked certificate is refused at once, without a restart: a staff
/// certificate on its next request (even on a kept-alive connection), a
/// reader's open connection at once and its next connection too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_certificates_are_refused_at_once() {
    let h = Harness::start().await;
    let (_, n) = h.issue(1).await;
    let clerk = h.admin_as(Role::CardOffice, "clerk");
    assert_eq!(clerk.call(Op::Whoami, &[]).send().await.unwrap().0, 200);
    let mut r = h.reader(READER).await;
    assert_eq!(reason(r.verify(1, 1, &n).await.unwrap()), Reason::Granted);

    let a = h.admin();
    for serial in [
        serial_of(&h, Role::CardOffice, "clerk"),
        serial_of(&h, Role::Reader, READER),
    ] {
        revoke_certificate(&h, &serial).await;
    }
    let (s, v) = clerk.call(Op::Whoami, &[]).send().await.unwrap();
    assert_eq!(s, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("revoked"));
    // The open reader connection is closed with the reason, unprompted.
    match tokio::time::timeout(std::time::Duration::from_secs(5), r.recv()).await {
        Ok(Ok(Some(Frame::Error { code, .. }))) => {
            assert_eq!(code, portcullis::protocol::ErrorCode::CertificateRevoked)
        }
        other => panic!("expected certificate_revoked, got {other:?}"),
    }
    match h.try_reader(READER).await {
        Err(portcullis::client::ClientError::Refused(code)) => {
            assert_eq!(code, portcullis::protocol::ErrorCode::CertificateRevoked)
        }
        other => panic!("expected certificate_revoked, got {other:?}"),
    }
    // Other certificates work; the list shows both; bad input is refused.
    assert_eq!(h.reader(crate::common::OTHER_READER).await.max_frame, 512);
    let (s, v) = h
        .admin_as(Role::Auditor, "audit")
        .call(Op::CertRevokedList, &[])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (s, _) = a
        .call(Op::CertRevoke, &[])
        .json(&json!({ "serial": "not hex", "reason": "lost" }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 422);
}

/// A client that hangs up mid-request must not let another change in
/// while its own is still being written (the attack found that two
/// replacements then got one card id, leaving access numbers that worked
/// after the office revoked them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_hanging_up_mid_change_cannot_interleave_changes() {
    let h = Harness::start().await;
    let holder = h.holder(1).await;
    h.issue_to(holder).await;
    let clerk = h.admin_as(Role::CardOffice, "clerk");
    for i in 0..60u64 {
        let impatient = clerk.clone();
        let ghost = tokio::spawn(async move {
            let _ = tokio::time::timeout(
                std::time::Duration::from_micros(500 + (i * 377) % 4000),
                impatient.call(Op::CardReplace, &[&holder]).send(),
            )
            .await;
        });
        let (s, v) = clerk
            .call(Op::CardReplace, &[&holder])
            .send()
            .await
            .unwrap();
        assert!(s == 201 || s == 409, "{s}: {v}");
        ghost.await.unwrap();
    }
    // Let every abandoned change finish.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let core = h.app().core();
    let cards = core.cards.of_holder(holder).unwrap();
    let ids: std::collections::BTreeSet<u64> = cards.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), cards.len(), "two cards share an id");
    let active = cards
        .iter()
        .filter(|c| c.entry.status == portcullis::policy::credentials::CardStatus::Active)
        .count();
    assert_eq!(active, 1, "{cards:?}");
    // The live map agrees with the records for every card.
    for c in &cards {
        let live = core
            .cards
            .map()
            .get(c.digest)
            .expect("every card is in the map");
        assert_eq!(live, c.entry, "card {} differs in the map", c.id);
    }
    assert_eq!(core.cards.map().len(), cards.len());
}

/// No one certificate can take a listener from everybody else: sessions
/// are capped per certificate, and the security office keeps slots of its
/// own on the admin listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_certificate_cannot_take_a_listener() {
    use tokio::io::AsyncReadExt;
    let h = Harness::start_with(|c| {
        c.reader.max_sessions_per_reader = 2;
        c.admin.max_connections = 6;
        c.admin.max_sessions_per_identity = 3;
        c.admin.reserved_for_security_office = 2;
    })
    .await;
    // Readers: the third session of one certificate is refused; another
    // reader is not.
    let _a = h.reader(READER).await;
    let _b = h.reader(READER).await;
    assert!(matches!(
        h.try_reader(READER).await,
        Err(portcullis::client::ClientError::Refused(_))
    ));
    h.reader(crate::common::OTHER_READER).await;
    // Admin: idle sessions held open (no request sent).
    let hold = |role: Role, name: &str| {
        let cfg = h.client_tls(role, name);
        let addr = h.app().admin_addr();
        async move { portcullis::client::tls_connect(addr, cfg).await.unwrap() }
    };
    let alive = |mut s: portcullis::protocol::client::ReaderStream| async move {
        let mut b = [0u8; 1];
        let r = tokio::time::timeout(std::time::Duration::from_millis(300), s.read(&mut b)).await;
        (r.is_err(), s)
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(hold(Role::CardOffice, "clerk").await);
    }
    // A fourth session of the same certificate is closed at once.
    let (open, _) = alive(hold(Role::CardOffice, "clerk").await).await;
    assert!(!open, "a fourth session of one certificate was kept");
    // Another certificate fills the rest but the reserve...
    held.push(hold(Role::Auditor, "audit").await);
    let (open, _) = alive(hold(Role::Auditor, "audit").await).await;
    assert!(!open, "the security office's reserve was given away");
    // ...which the security office still finds.
    let (s, v) = h.admin().call(Op::Whoami, &[]).send().await.unwrap();
    assert_eq!(s, 200, "{v}");
}

/// One raw HTTPS request to the admin listener as `role`/`name`, with
/// extra header lines; the status.
async fn raw_admin(h: &Harness, role: Role, name: &str, request_line: &str, headers: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tls = tokio_rustls::TlsConnector::from(h.client_tls(role, name));
    let tcp = tokio::net::TcpStream::connect(h.app().admin_addr())
        .await
        .unwrap();
    let server = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = tls.connect(server, tcp).await.unwrap();
    let req = format!(
        "{request_line} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Staff import their certificate into a browser for the console: a page of
/// another site that browser visits must not be able to call the API or the
/// console in their name (a form or an image posting to the appliance).
#[tokio::test]
async fn another_sites_page_cannot_act_through_a_staff_browser() {
    let h = Harness::start().await;
    let (card, n) = h.issue(1).await;
    let revoke = format!("POST /v1/cards/{card}/revoke");
    for headers in [
        "Origin: https://elsewhere.example\r\nSec-Fetch-Site: cross-site\r\n",
        "Origin: https://elsewhere.example\r\n",
        "Sec-Fetch-Site: same-site\r\n",
    ] {
        let s = raw_admin(&h, Role::SecurityOffice, "admin", &revoke, headers).await;
        assert_eq!(s, 403, "{headers}");
    }
    let mut r = h.reader(READER).await;
    assert_eq!(reason(r.verify(1, 1, &n).await.unwrap()), Reason::Granted);
    // The console's pages too, side effects or not.
    let s = raw_admin(
        &h,
        Role::SecurityOffice,
        "admin",
        "GET /console/holders/1/photo",
        "Sec-Fetch-Site: cross-site\r\n",
    )
    .await;
    assert_eq!(s, 403);
    let s = raw_admin(
        &h,
        Role::SecurityOffice,
        "admin",
        "GET /console",
        "Sec-Fetch-Site: same-origin\r\n",
    )
    .await;
    assert_eq!(s, 200);
    // The CLI and the typed client send neither header.
    let s = raw_admin(&h, Role::SecurityOffice, "admin", &revoke, "").await;
    assert_eq!(s, 200);
}

/// The value of the series named `name` whose labels include every one of
/// `labels` (`key="value"`) in the metrics exposition; 0 when absent.
async fn counter(h: &Harness, name: &str, labels: &[&str]) -> f64 {
    let (_, text) = crate::common::http_get(h.app().metrics_addr(), "/metrics").await;
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter(|l| labels.iter().all(|x| l.contains(x)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Sends HELLO on a connection that has only done TLS; the first answer.
async fn hello(c: &mut portcullis::client::ReaderClient) -> Option<Frame> {
    c.send(&Frame::Hello {
        min_version: portcullis::protocol::MIN_VERSION,
        max_version: portcullis::protocol::VERSION,
    })
    .await
    .ok()?;
    tokio::time::timeout(std::time::Duration::from_secs(5), c.recv())
        .await
        .expect("an answer or a close")
        .ok()
        .flatten()
}

/// A reader that comes back with its session ticket skips the certificate
/// signatures, not the appliance's checks: a revoked certificate, an
/// unregistered reader and a certificate past its dates are refused on a
/// resumed session as on a full handshake; without `session_resumption`
/// nobody resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_reader_sessions_are_checked_like_new_ones() {
    use portcullis::client::ReaderClient;
    use portcullis::protocol::ErrorCode;
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};

    let h = Harness::start().await;
    let (_, n) = h.issue(1).await;
    let addr = h.app().reader_addr();
    let resumed_total = "portcullis_reader_connections_resumed_total";

    // A door controller keeps one configuration (and its ticket store).
    let tls = h.client_tls(Role::Reader, READER);
    let mut first = ReaderClient::connect(addr, tls.clone()).await.unwrap();
    assert!(!first.resumed());
    assert_eq!(
        reason(first.verify(1, 1, &n).await.unwrap()),
        Reason::Granted
    );
    drop(first);
    let mut again = ReaderClient::connect(addr, tls.clone()).await.unwrap();
    assert!(again.resumed(), "the second connection should resume");
    assert_eq!(
        reason(again.verify(2, 1, &n).await.unwrap()),
        Reason::Granted
    );
    drop(again);
    assert_eq!(counter(&h, resumed_total, &[]).await, 1.0);

    // Unregistered on a resumed session.
    let stranger = h.client_tls(Role::Reader, "unregistered");
    let mut c = ReaderClient::connect_raw(addr, stranger.clone())
        .await
        .unwrap();
    assert!(!c.resumed());
    assert!(matches!(hello(&mut c).await, Some(Frame::Error { .. })));
    let mut c = ReaderClient::connect_raw(addr, stranger).await.unwrap();
    assert!(c.resumed());
    match hello(&mut c).await {
        Some(Frame::Error { code, .. }) => assert_eq!(code, ErrorCode::ReaderNotRegistered),
        other => panic!("expected reader_not_registered, got {other:?}"),
    }

    // Revoked between the ticket and its use.
    revoke_certificate(&h, &serial_of(&h, Role::Reader, READER)).await;
    let mut c = ReaderClient::connect_raw(addr, tls).await.unwrap();
    assert!(c.resumed());
    match hello(&mut c).await {
        Some(Frame::Error { code, .. }) => assert_eq!(code, ErrorCode::CertificateRevoked),
        other => panic!("expected certificate_revoked, got {other:?}"),
    }

    // A certificate that expires while its ticket is held: issued here
    // for a registered reader, valid for a few seconds.
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(h.pki.ca_key()).unwrap()).unwrap();
    let ca =
        CertificateParams::from_ca_cert_pem(&std::fs::read_to_string(h.pki.ca_cert()).unwrap())
            .unwrap()
            .self_signed(&ca_key)
            .unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::OrganizationName, "Portcullis");
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, Role::Reader.as_str());
    p.distinguished_name
        .push(DnType::CommonName, crate::common::OTHER_READER);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::seconds(3);
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("r.crt"), dir.path().join("r.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let brief =
        portcullis::protocol::tls::client_config(&h.pki.ca_cert(), &cert_path, &key_path).unwrap();
    let c = ReaderClient::connect(addr, brief.clone()).await.unwrap();
    assert!(!c.resumed());
    drop(c);
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    let failures = "portcullis_tls_handshake_failures_total";
    let bad = ["listener=\"reader\"", "reason=\"bad_certificate\""];
    let failures_before = counter(&h, failures, &bad).await;
    let mut c = ReaderClient::connect_raw(addr, brief.clone())
        .await
        .unwrap();
    assert!(c.resumed());
    assert_eq!(hello(&mut c).await, None, "closed without an answer");
    assert_eq!(counter(&h, failures, &bad).await, failures_before + 1.0);
    // The closed session still handed out a new ticket, so a client that
    // keeps its tickets is closed the same way each time (the door
    // controller forgets them after a failed connection)...
    let mut c = ReaderClient::connect_raw(addr, brief).await.unwrap();
    assert!(c.resumed());
    assert_eq!(hello(&mut c).await, None);
    assert_eq!(counter(&h, failures, &bad).await, failures_before + 2.0);
    // ...and a full handshake fails in TLS itself, naming the expiry.
    let fresh =
        portcullis::protocol::tls::client_config(&h.pki.ca_cert(), &cert_path, &key_path).unwrap();
    match ReaderClient::connect(addr, fresh).await {
        Err(portcullis::client::ClientError::Io(e)) => {
            assert!(e.to_string().contains("Expired"), "{e}")
        }
        Err(e) => panic!("expected a TLS error, got {e}"),
        Ok(_) => panic!("an expired certificate was admitted"),
    }
    assert_eq!(
        counter(&h, resumed_total, &[]).await,
        1.0,
        "only admitted ones count"
    );

    // The appliance's suite order, whatever the client prefers (ring's
    // default puts AES-256 first).
    {
        use portcullis::protocol::tls::{load_certs, load_key, roots};
        let me = h.pki.client(Role::Reader, crate::common::OTHER_READER);
        let theirs = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots(&h.pki.ca_cert()).unwrap())
        .with_client_auth_cert(load_certs(&me.cert).unwrap(), load_key(&me.key).unwrap())
        .unwrap();
        let s = portcullis::protocol::client::tls_connect(addr, std::sync::Arc::new(theirs))
            .await
            .unwrap();
        assert_eq!(
            s.get_ref().1.negotiated_cipher_suite().map(|c| c.suite()),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
    }

    // People at the admin listener always make a full handshake.
    let staff = h.client_tls(Role::SecurityOffice, "admin");
    for _ in 0..2 {
        let s = portcullis::protocol::client::tls_connect(h.app().admin_addr(), staff.clone())
            .await
            .unwrap();
        assert_eq!(
            s.get_ref().1.handshake_kind(),
            Some(rustls::HandshakeKind::Full)
        );
    }

    // Switched off: no tickets, so no resumption.
    let off = Harness::start_with(|c| c.reader.session_resumption = false).await;
    let tls = off.client_tls(Role::Reader, READER);
    for _ in 0..2 {
        let c = ReaderClient::connect(off.app().reader_addr(), tls.clone())
            .await
            .unwrap();
        assert!(!c.resumed());
    }
}

/// The load generator's reconnect storm (`portcullis load --duration 0
/// --reconnect`, what `make compare` measures): every reader is admitted,
/// drops its connection and comes back on a resumed session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconnect_storm_brings_every_reader_back_resumed() {
    let h = Harness::start().await;
    let opts = portcullis::tools::loadgen::LoadOptions {
        addr: h.app().reader_addr(),
        admin: h.app().admin_addr(),
        certs: h.dir.path().join("certs"),
        connections: 300,
        depth: 1,
        duration: std::time::Duration::ZERO,
        rate: None,
        known_fraction: 0.9,
        cards: 10,
        numbers: None,
        progress: false,
        reconnect: true,
    };
    let report = portcullis::tools::loadgen::run(opts.clone()).await.unwrap();
    assert_eq!((report.connect_failures, report.reconnect_failures), (0, 0));
    assert_eq!(report.connected, 300);
    assert_eq!(report.reconnected, 300);
    assert_eq!(report.resumed, 300);
    assert!(report.result_line(&opts).contains(" resumed=300 "));
    // Without tickets on the appliance, the same storm comes back in full
    // handshakes.
    let off = Harness::start_with(|c| c.reader.session_resumption = false).await;
    let report = portcullis::tools::loadgen::run(portcullis::tools::loadgen::LoadOptions {
        addr: off.app().reader_addr(),
        admin: off.app().admin_addr(),
        certs: off.dir.path().join("certs"),
        ..opts
    })
    .await
    .unwrap();
    assert_eq!((report.reconnected, report.resumed), (300, 0));
}
