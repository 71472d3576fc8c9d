//! The web console in a real browser (headless Chromium from Debian,
//! driven through ChromeDriver), each member of staff with their own client
//! certificate: cards issued and replaced at the counter (the old card then
//! denied at a reader), a key order from submission to pick-up with the
//! card check, a video export from request to a denied determination and
//! the clip's deletion, and pages a role must not see refused in words.
//!
//! `PORTCULLIS_SCREENSHOTS=docs/console cargo test --test it console::`
//! refreshes the screenshots in `docs/console/`.

use portcullis::api::Op;
use portcullis::clock::Clock;
use portcullis::pki::identity::Role;
use portcullis::protocol::Reason;
use serde_json::json;

use crate::browser::Browser;
use crate::common::{fixture_person, Harness, READER};

fn reason(f: portcullis::protocol::Frame) -> Reason {
    match f {
        portcullis::protocol::Frame::VerifyResult { reason, .. } => reason,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cards_are_issued_and_replaced_in_the_browser_and_the_old_card_is_denied() {
    let h = Harness::start().await;
    let admin = h.app().admin_addr();
    let office = Browser::open(&h.pki, Role::SecurityOffice, "admin", admin).await;
    office.goto("/console").await;
    office.wait_text("header", "admin (security-office)").await;
    office.screenshot("home-security-office").await;

    // A new cardholder from the form; a forbidden field cannot even be
    // typed (there is none), and a bad value keeps the form's input.
    office.click("nav a[href=\"/console/holders\"]").await;
    let person = fixture_person(5);
    office
        .fill("#id_number", person["id_number"].as_str().unwrap())
        .await;
    office
        .fill("#last_name", person["last_name"].as_str().unwrap())
        .await;
    office.fill("#first_name", "Test").await;
    office.fill("#department", "No-Such-DLC").await;
    office
        .click("form[action=\"/console/holders/create\"] button")
        .await;
    office.wait_text("#message", "department").await;
    assert_eq!(
        office.value("#last_name").await,
        person["last_name"].as_str().unwrap()
    );
    office.fill("#department", "Physics").await;
    office
        .click("form[action=\"/console/holders/create\"] button")
        .await;
    let m = office.wait_text("#message", "created").await;
    let holder: u64 = m
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("the holder id in the confirmation");
    // Levels for the doors (through the API: access levels are not the
    // counter's work).
    let (s, v) = h
        .admin()
        .call(Op::HolderLevels, &[&holder])
        .json(&json!({ "levels": ["everywhere"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    office.goto(&format!("/console/holders/{holder}")).await;
    office
        .click(&format!(
            "form[action=\"/console/holders/{holder}/issue\"] button"
        ))
        .await;
    office.wait_text("#message", "issued").await;
    let first: portcullis::crypto::numbers::AccessNumber =
        office.text("#access-number").await.trim().parse().unwrap();
    office.screenshot("holder-card-issued").await;
    let mut reader = h.reader(READER).await;
    assert_eq!(
        reason(reader.verify(1, 1, &first).await.unwrap()),
        Reason::Granted
    );

    // The card office replaces it, finding the person by MIT ID number.
    h.pki.issue(Role::CardOffice, "counter").unwrap();
    let counter = Browser::open(&h.pki, Role::CardOffice, "counter", admin).await;
    counter.goto("/console/holders").await;
    counter
        .fill("#query", person["id_number"].as_str().unwrap())
        .await;
    counter
        .click("form[action=\"/console/holders/find\"] button")
        .await;
    counter
        .wait_text("h1", &format!("Cardholder {holder}"))
        .await;
    // The card office sees cards and the photo, not the record, and may
    // not issue a first card.
    assert!(!counter.text("body").await.contains("last name"));
    assert!(!counter.text("body").await.contains("Issue a first card"));
    counter
        .click(&format!(
            "form[action=\"/console/holders/{holder}/replace\"] button"
        ))
        .await;
    counter
        .wait_text("#message", "no longer open any door")
        .await;
    let second: portcullis::crypto::numbers::AccessNumber =
        counter.text("#access-number").await.trim().parse().unwrap();
    counter.screenshot("holder-card-replaced").await;
    assert_eq!(
        reason(reader.verify(2, 1, &first).await.unwrap()),
        Reason::Superseded
    );
    assert_eq!(
        reason(reader.verify(3, 1, &second).await.unwrap()),
        Reason::Granted
    );
    // The security office's page still shows the first card: its replace
    // form is refused rather than killing the card just programmed.
    office
        .click(&format!(
            "form[action=\"/console/holders/{holder}/replace\"] button"
        ))
        .await;
    office.wait_text("#message", "already used").await;
    assert_eq!(
        reason(reader.verify(4, 1, &second).await.unwrap()),
        Reason::Granted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_order_from_submission_to_pick_up_with_the_card_check() {
    let h = Harness::start().await;
    let admin = h.app().admin_addr();
    let a = h.admin();
    let recipient = h.holder(1).await;
    let (_, card) = h.issue_to(recipient).await;
    let (_, stranger) = h.issue(2).await;
    let (s, v) = a
        .call(Op::AuthorizerPut, &[&"Physics", &"kauth"])
        .json(
            &json!({ "name": "Sample Authorizer", "email": "kauth@example.edu", "master": false }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    h.pki.issue(Role::KeyAuthorizer, "kauth").unwrap();

    // The authorizer submits; a refused order keeps its input.
    let ka = Browser::open(&h.pki, Role::KeyAuthorizer, "kauth", admin).await;
    ka.goto("/console/keys").await;
    ka.fill("#dlc", "Physics").await;
    ka.choose("#kind", "master").await;
    ka.fill("#recipient", &recipient.to_string()).await;
    ka.click("form[action=\"/console/keys/submit\"] button")
        .await;
    ka.wait_text("#message", "not its master keys").await;
    assert_eq!(ka.value("#recipient").await, recipient.to_string());
    ka.choose("#kind", "room").await;
    ka.fill("#rooms", "6-201, 6-203").await;
    ka.fill("#rt", "RT-424242").await;
    ka.click("form[action=\"/console/keys/submit\"] button")
        .await;
    let m = ka.wait_text("#message", "submitted").await;
    let order: u64 = m.split_whitespace().find_map(|w| w.parse().ok()).unwrap();
    ka.screenshot("key-orders-authorizer").await;

    // The office marks it ready.
    let office = Browser::open(&h.pki, Role::SecurityOffice, "admin", admin).await;
    office.goto("/console/keys").await;
    office
        .click(&format!(
            "form[action=\"/console/keys/{order}/ready\"] button"
        ))
        .await;
    office.wait_text("#message", "ready").await;

    // At 7-019 on a Monday morning: the desk reader reads a card into the
    // form. Someone else's card is refused, and the form keeps the name.
    h.clock
        .set(crate::common::next_monday_at(h.clock.now_micros(), 10));
    let counter = Browser::open(&h.pki, Role::CardOffice, "clerk", admin).await;
    counter.goto(&format!("/console/keys/{order}/pickup")).await;
    counter.fill("#access_number", &stranger.reveal()).await;
    counter.fill("#authorizer_name", "Sample Authorizer").await;
    counter
        .click(&format!(
            "form[action=\"/console/keys/{order}/pickup\"] button"
        ))
        .await;
    counter
        .wait_text("#message", "not the card of the person")
        .await;
    assert_eq!(counter.value("#authorizer_name").await, "Sample Authorizer");
    assert_eq!(
        counter.value("#access_number").await,
        "",
        "the number is never echoed back"
    );
    counter.screenshot("key-pickup-refused").await;
    counter.fill("#access_number", &card.reveal()).await;
    counter
        .click(&format!(
            "form[action=\"/console/keys/{order}/pickup\"] button"
        ))
        .await;
    counter.wait_text("#message", "handed over").await;
    counter
        .wait_text(&format!("#order-{order}-status"), "picked_up")
        .await;
    let (_, o) = a.call(Op::KeyOrderShow, &[&order]).send().await.unwrap();
    assert_eq!(o["status"], "picked_up");
    assert!(!counter.text("body").await.contains(&card.reveal()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_video_export_from_request_to_denial_and_the_clips_deletion() {
    let h = Harness::start().await;
    let admin = h.app().admin_addr();
    h.pki.issue(Role::Director, "director").unwrap();
    let office = Browser::open(&h.pki, Role::SecurityOffice, "admin", admin).await;
    let director = Browser::open(&h.pki, Role::Director, "director", admin).await;

    // A camera: requested at the desk (the 14-day limit holds), approved by
    // the Director.
    office.goto("/console/video").await;
    office.fill("#camera", "lobby-1").await;
    office.fill("#location", "E52-100").await;
    office.fill("#days", "30").await;
    office
        .fill(
            "form[action=\"/console/video/requests\"] #document",
            "VR-2026-0042",
        )
        .await;
    office
        .click("form[action=\"/console/video/requests\"] button")
        .await;
    office.wait_text("#message", "at most 14 days").await;
    office.fill("#days", "14").await;
    office
        .click("form[action=\"/console/video/requests\"] button")
        .await;
    office
        .wait_text("#message", "submitted to the Director")
        .await;
    director.goto("/console/video").await;
    director
        .click("form[action=\"/console/video/requests/1/decide\"] button")
        .await;
    director.wait_text("#message", "approved").await;

    // An export request, and the clip held.
    let now = h.clock.now_micros();
    office.goto("/console/video").await;
    office
        .fill("form[action=\"/console/video/exports\"] #camera", "lobby-1")
        .await;
    office
        .fill("#from", &portcullis::clock::rfc3339(now - 7_200_000_000))
        .await;
    office
        .fill("#to", &portcullis::clock::rfc3339(now - 3_600_000_000))
        .await;
    office
        .fill(
            "form[action=\"/console/video/exports\"] #document",
            "MITPD-2026-201",
        )
        .await;
    office
        .click("form[action=\"/console/video/exports\"] button")
        .await;
    office
        .wait_text("#message", "Export request 1 submitted")
        .await;
    let clip_path = h.dir.path().join("clip.bin");
    let clip: Vec<u8> = (0..150_000u32).map(|i| (i * 13 % 253) as u8).collect();
    std::fs::write(&clip_path, &clip).unwrap();
    office
        .fill(
            "form[action=\"/console/video/exports/1/clip\"] input[type=file]",
            clip_path.to_str().unwrap(),
        )
        .await;
    office
        .click("form[action=\"/console/video/exports/1/clip\"] button")
        .await;
    office.wait_text("#message", "held, sealed").await;
    office.screenshot("video-export-held").await;
    let core = h.app().core();
    let sealed = core.clips.sealed(1).unwrap().unwrap();
    let marker = sealed[sealed.len() / 2..sealed.len() / 2 + 32].to_vec();

    // The Director denies it: deleted, and gone from every file.
    director.goto("/console/video").await;
    director.screenshot("video-director").await;
    director.click("#export-1-deny").await;
    director
        .wait_text("#message", "deleted, with no further appeal")
        .await;
    director.wait_text("#export-1-status", "denied").await;
    assert!(core.clips.sealed(1).unwrap().is_none());
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !crate::common::files_containing(&h.data_dir(), &marker).is_empty() {
        assert!(
            std::time::Instant::now() < end,
            "the denied clip is still on disk"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(director.text("body").await.contains("deleted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_role_is_refused_a_page_it_must_not_see() {
    let h = Harness::start().await;
    let admin = h.app().admin_addr();
    let counter = Browser::open(&h.pki, Role::CardOffice, "clerk", admin).await;
    counter.goto("/console").await;
    let nav = counter.text("nav").await;
    assert!(
        nav.contains("Cardholders") && nav.contains("Key orders"),
        "{nav}"
    );
    assert!(
        !nav.contains("Video") && !nav.contains("Audit") && !nav.contains("Alarms"),
        "{nav}"
    );
    counter.goto("/console/video").await;
    counter
        .wait_text("#message", "Your role (card-office) may not use this page")
        .await;
    counter.screenshot("refused-card-office-video").await;
    let auditor = Browser::open(&h.pki, Role::Auditor, "audit", admin).await;
    auditor.goto("/console/holders").await;
    auditor.wait_text("#message", "may not use this page").await;
    auditor.goto("/console/audit").await;
    auditor.wait_text("h1", "Audit trail").await;
    // The refused page changed nothing and called nothing: the audit trail
    // holds no entry by the card office.
    let (_, trail) = h
        .admin_as(Role::Auditor, "audit")
        .call(Op::AuditRead, &[])
        .send()
        .await
        .unwrap();
    assert!(!trail.to_string().contains("\"clerk\""), "{trail}");
}
