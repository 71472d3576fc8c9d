//! Issue 4: card lifecycle, cardholder records under the policy, photos,
//! access levels, the audit trail and roles — all through the real API.

use portcullis::api::Op;
use portcullis::client::AdminClient;
use portcullis::pki::identity::Role;
use portcullis::protocol::Frame;
use portcullis::protocol::Reason;
use serde_json::{json, Value};

use crate::common::{files_containing, fixture_person, random_number, Harness, READER};

fn reason(f: Frame) -> Reason {
    match f {
        Frame::VerifyResult { reason, .. } => reason,
        other => panic!("expected VERIFY_RESULT, got {other:?}"),
    }
}

async fn call(
    c: &AdminClient,
    op: Op,
    args: &[&(dyn std::fmt::Display + Sync)],
    body: Option<Value>,
) -> (u16, Value) {
    let mut call = c.call(op, args);
    if let Some(b) = &body {
        call = call.json(b);
    }
    call.send().await.unwrap()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn replacement_kills_every_older_card_at_once_and_is_counted() {
    let h = Harness::start().await;
    let holder = h.holder(1).await;
    let (first, n1) = h.issue_to(holder).await;
    let mut r = h.reader(READER).await;
    assert_eq!(reason(r.verify(1, 1, &n1).await.unwrap()), Reason::Granted);

    // A second first-issue is refused: that is what replacements are for.
    let (s, v) = call(
        &h.admin(),
        Op::CardIssue,
        &[],
        Some(json!({ "holder": holder })),
    )
    .await;
    assert_eq!(s, 422, "{v}");

    // The card office may issue replacements.
    let clerk = h.admin_as(Role::CardOffice, "clerk");
    let (s, v) = call(&clerk, Op::CardReplace, &[&holder], None).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["superseded"], json!([first]));
    let n2: portcullis::crypto::numbers::AccessNumber =
        v["access_number"].as_str().unwrap().parse().unwrap();
    let (s, v) = call(&clerk, Op::CardReplace, &[&holder], None).await;
    assert_eq!(s, 201, "{v}");
    let n3: portcullis::crypto::numbers::AccessNumber =
        v["access_number"].as_str().unwrap().parse().unwrap();

    // On the connection that was already open: both older cards are dead.
    assert_eq!(
        reason(r.verify(2, 1, &n1).await.unwrap()),
        Reason::Superseded
    );
    assert_eq!(
        reason(r.verify(3, 1, &n2).await.unwrap()),
        Reason::Superseded
    );
    assert_eq!(reason(r.verify(4, 1, &n3).await.unwrap()), Reason::Granted);
    let text = h.app().core().metrics.render();
    assert_eq!(
        metric(&text, "portcullis_superseded_card_presented_total"),
        2.0
    );

    // The card office can read status but not revoke.
    let (s, cards) = call(&clerk, Op::HolderCards, &[&holder], None).await;
    assert_eq!(s, 200);
    let statuses: Vec<&str> = cards
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["superseded", "superseded", "active"]);
    let (s, _) = call(&clerk, Op::CardRevoke, &[&first], None).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn suspend_resume_expiry_and_inactive_holders() {
    let mut h = Harness::start().await;
    let holder = h.holder(2).await;
    let (card, n) = h.issue_to(holder).await;
    let a = h.admin();
    let mut r = h.reader(READER).await;
    assert_eq!(call(&a, Op::CardSuspend, &[&card], None).await.0, 200);
    assert_eq!(reason(r.verify(1, 1, &n).await.unwrap()), Reason::Suspended);
    assert_eq!(call(&a, Op::CardSuspend, &[&card], None).await.0, 409);
    assert_eq!(call(&a, Op::CardResume, &[&card], None).await.0, 200);
    assert_eq!(reason(r.verify(2, 1, &n).await.unwrap()), Reason::Granted);

    // Expiry: one day from the appliance's clock; then move the clock.
    let now = portcullis::clock::Clock::now_micros(&h.clock) / 1_000_000;
    let (s, v) = call(
        &a,
        Op::CardExpiry,
        &[&card],
        Some(json!({ "valid_until": now + 86_400 })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(reason(r.verify(3, 1, &n).await.unwrap()), Reason::Granted);
    h.clock.advance(2 * portcullis::clock::DAY_MICROS);
    assert_eq!(reason(r.verify(4, 1, &n).await.unwrap()), Reason::Expired);
    let (s, _) = call(
        &a,
        Op::CardExpiry,
        &[&card],
        Some(json!({ "valid_until": null })),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(reason(r.verify(5, 1, &n).await.unwrap()), Reason::Granted);

    // The person leaves: every card denied, at once.
    let (s, v) = call(
        &a,
        Op::HolderUpdate,
        &[&holder],
        Some(json!({ "status": "left" })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        reason(r.verify(6, 1, &n).await.unwrap()),
        Reason::HolderInactive
    );
    drop(r);

    // All of it survives a restart.
    h.restart().await;
    let mut r = h.reader(READER).await;
    assert_eq!(
        reason(r.verify(7, 1, &n).await.unwrap()),
        Reason::HolderInactive
    );
    let (s, _) = call(
        &h.admin(),
        Op::HolderUpdate,
        &[&holder],
        Some(json!({ "status": "registered" })),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(reason(r.verify(8, 1, &n).await.unwrap()), Reason::Granted);
}

#[tokio::test]
async fn cardholder_records_hold_exactly_the_policy_fields() {
    let h = Harness::start().await;
    let a = h.admin();
    for field in [
        "race",
        "religion",
        "nationality",
        "ethnic_background",
        "gender",
    ] {
        let mut p = fixture_person(3);
        p[field] = json!("anything");
        let (s, v) = call(&a, Op::HolderCreate, &[], Some(p)).await;
        assert_eq!(s, 422, "{field}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains("never stores"), "{field}: {msg}");
        assert!(!msg.contains("anything"), "the value must not be echoed");
    }
    let mut p = fixture_person(3);
    p["comments"] = json!("free text");
    let (s, v) = call(&a, Op::HolderCreate, &[], Some(p)).await;
    assert_eq!(s, 422);
    assert!(v["error"].as_str().unwrap().contains("unknown field"));
    // Affiliates only for date of birth; employees only for office address.
    let mut p = fixture_person(3);
    p["date_of_birth"] = json!("2001-02-03");
    assert_eq!(call(&a, Op::HolderCreate, &[], Some(p)).await.0, 422);
    let mut p = fixture_person(3);
    p["office_address"] = json!("Building 7");
    assert_eq!(call(&a, Op::HolderCreate, &[], Some(p)).await.0, 422);
    // A forbidden field through an update is refused too, and changes nothing.
    let id = h.holder(3).await;
    let (s, _) = call(
        &a,
        Op::HolderUpdate,
        &[&id],
        Some(json!({ "gender": "x", "last_name": "Changed" })),
    )
    .await;
    assert_eq!(s, 422);
    let (_, rec) = call(&a, Op::HolderShow, &[&id], None).await;
    assert_eq!(rec["last_name"], fixture_person(3)["last_name"]);
    // Only the security office reads records.
    for (role, name) in [
        (Role::CardOffice, "clerk"),
        (Role::Auditor, "audit"),
        (Role::Reader, READER),
    ] {
        let (s, _) = call(&h.admin_as(role, name), Op::HolderShow, &[&id], None).await;
        assert_eq!(s, 403, "{role}");
        let (s, _) = call(
            &h.admin_as(role, name),
            Op::HolderCreate,
            &[],
            Some(fixture_person(4)),
        )
        .await;
        assert_eq!(s, 403, "{role}");
    }
}

/// A tiny but complete PNG (1x1), generated here.
fn png_fixture() -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    v.extend_from_slice(&[0, 0, 0, 13]);
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&[
        0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89,
    ]);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(b"IEND");
    v.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
    v
}

#[tokio::test]
async fn personal_data_and_photos_are_encrypted_at_rest_and_keys_rotate() {
    let h = Harness::start().await;
    let a = h.admin();
    let mut p = fixture_person(5);
    p["last_name"] = json!("Quixotically");
    let (s, v) = call(&a, Op::HolderCreate, &[], Some(p)).await;
    assert_eq!(s, 201);
    let id = v["id"].as_u64().unwrap();
    // A recognisable JPEG body.
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend_from_slice(b"PHOTO-BYTES-FIXTURE-7f3a9c");
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    let (s, v) = a
        .call(Op::PhotoUpload, &[&id])
        .bytes(jpeg.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    // Content is checked: not an image, refused.
    let (s, _) = a
        .call(Op::PhotoUpload, &[&id])
        .bytes(b"GIF89a-not-allowed".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(s, 422);

    let core = h.app().core().clone();
    core.store.flush_all().unwrap();
    let data = h.data_dir();
    assert!(
        files_containing(&data, b"Quixotically").is_empty(),
        "name found at rest"
    );
    assert!(
        files_containing(&data, b"PHOTO-BYTES-FIXTURE").is_empty(),
        "photo found at rest"
    );
    // The scan can find things: the door-group name is stored in clear.
    assert!(!files_containing(&data, b"everywhere").is_empty());

    // Rotate the key: the record still reads, under the new key.
    let (s, v) = call(&a, Op::KeysRotate, &[], None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["key_id"], 2);
    let (_, rec) = call(&a, Op::HolderShow, &[&id], None).await;
    assert_eq!(rec["last_name"], "Quixotically");
    let keys: Vec<String> = std::fs::read_dir(&h.config.keys_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        keys.contains(&"records-2.key".to_owned()) && !keys.contains(&"records-1.key".to_owned()),
        "{keys:?}"
    );
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(h.config.keys_dir.join("records-2.key"))
            .unwrap()
            .permissions()
            .mode()
    };
    assert_eq!(mode & 0o077, 0);
    let (s, got) = {
        let c = h.admin_as(Role::CardOffice, "clerk");
        let r = c.call(Op::PhotoShow, &[&id]).send().await.unwrap();
        (r.0, r.1)
    };
    assert_eq!(s, 200);
    assert!(got.as_str().unwrap_or("").contains("PHOTO-BYTES-FIXTURE"));
}

#[tokio::test]
async fn withheld_photo_stays_for_cards_but_is_not_distributed() {
    let h = Harness::start().await;
    let a = h.admin();
    let id = h.holder(6).await;
    let png = png_fixture();
    let (s, v) = a
        .call(Op::PhotoUpload, &[&id])
        .bytes(png)
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    // A student's photo goes out digitally on the Dean's permission only.
    let release = json!({ "to_dlc": "Physics" });
    let (s, v) = call(&a, Op::PhotoRelease, &[&id], Some(release.clone())).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = call(
        &a,
        Op::PhotoPermissionSet,
        &[&id],
        Some(json!({ "kind": "dean", "reference": "DUE-2026-14" })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        a.call(Op::PhotoRelease, &[&id])
            .json(&release)
            .send_bytes()
            .await
            .unwrap()
            .0,
        200
    );
    let (s, _) = call(
        &a,
        Op::PhotoWithheld,
        &[&id],
        Some(json!({ "withheld": true })),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = call(&a, Op::PhotoRelease, &[&id], Some(release)).await;
    assert_eq!(s, 403);
    assert!(v["error"].as_str().unwrap().contains("withheld"));
    // Still there for replacing the card.
    assert_eq!(
        a.call(Op::PhotoShow, &[&id])
            .bytes(vec![])
            .send()
            .await
            .unwrap()
            .0,
        200
    );
    let (_, rec) = call(&a, Op::HolderShow, &[&id], None).await;
    assert_eq!(rec["photo"]["withheld"], true);
    assert!(rec["photo"]["notation"]
        .as_str()
        .unwrap()
        .contains("at the cardholder's request"));
}

#[tokio::test]
async fn access_levels_doors_schedules_and_holidays() {
    let h = Harness::start().await;
    let a = h.admin();
    let (s, v) = call(&a, Op::AccessSet, &[],
        Some(json!({
            "door_groups": { "all": [1, 2, 3], "lab": [2] },
            "schedules": {
                "never-now": { "windows": [{ "days": ["mon"], "from": "00:00", "to": "00:01" }] },
                "always": { "windows": [{ "days": ["mon","tue","wed","thu","fri","sat","sun"], "from": "00:00", "to": "24:00" }] }
            },
            "levels": {
                "everywhere": { "door_group": "all" },
                "lab-odd-hours": { "door_group": "lab", "schedule": "never-now" },
                "lab-always-but-holidays": { "door_group": "lab", "schedule": "always" }
            },
            "holidays": []
        })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let holder = h.holder(7).await;
    let (_, n) = h.issue_to(holder).await;
    let set = |levels: Value| {
        let a = a.clone();
        async move {
            let (s, v) = call(
                &a,
                Op::HolderLevels,
                &[&holder],
                Some(json!({ "levels": levels })),
            )
            .await;
            assert_eq!(s, 200, "{v}");
        }
    };
    let mut r = h.reader(READER).await;
    set(json!(["lab-odd-hours"])).await;
    assert_eq!(
        reason(r.verify(1, 1, &n).await.unwrap()),
        Reason::DoorNotPermitted
    );
    // Only 1/10080 of the week is open; the test clock is not in it unless
    // it is Monday 00:00 in New York, which the clock is moved away from.
    // The next Saturday 05:00 UTC at least a day ahead (Saturday in New
    // York too), so the card (valid from now) is already valid.
    let day = portcullis::clock::Clock::now_micros(&h.clock) / 86_400_000_000 + 1;
    let saturday = day + (5 + 7 - (day + 3) % 7) % 7; // 1970-01-01 was a Thursday
    h.clock.set(saturday * 86_400_000_000 + 5 * 3_600_000_000);
    let saturday_date = jiff::civil::date(1970, 1, 1)
        .checked_add(jiff::Span::new().days(saturday as i64))
        .unwrap()
        .to_string();
    assert_eq!(
        reason(r.verify(2, 2, &n).await.unwrap()),
        Reason::OutsideSchedule
    );
    set(json!(["lab-always-but-holidays"])).await;
    assert_eq!(reason(r.verify(3, 2, &n).await.unwrap()), Reason::Granted);
    // Declare that Saturday (New York time) a holiday: closed.
    let mut defs = call(&a, Op::AccessShow, &[], None).await.1;
    defs["holidays"] = json!([saturday_date]);
    assert_eq!(call(&a, Op::AccessSet, &[], Some(defs)).await.0, 200);
    assert_eq!(
        reason(r.verify(4, 2, &n).await.unwrap()),
        Reason::OutsideSchedule
    );
    // Inconsistent definitions are refused and change nothing.
    let (s, v) = call(&a, Op::AccessSet, &[], Some(json!({ "door_groups": {}, "schedules": {}, "levels": { "x": { "door_group": "missing" } }, "holidays": [] }))).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        reason(r.verify(5, 2, &n).await.unwrap()),
        Reason::OutsideSchedule
    );
    // A level that does not exist cannot be assigned.
    let (s, _) = call(
        &a,
        Op::HolderLevels,
        &[&holder],
        Some(json!({ "levels": ["nope"] })),
    )
    .await;
    assert_eq!(s, 422);
    // Unknown numbers stay unknown whatever the levels.
    assert_eq!(
        reason(r.verify(6, 2, &random_number()).await.unwrap()),
        Reason::Unknown
    );
}

#[tokio::test]
async fn audit_trail_records_who_what_when_for_auditors_only() {
    let h = Harness::start().await;
    let mut p = fixture_person(8);
    p["last_name"] = json!("Zebedee");
    let (s, v) = call(&h.admin(), Op::HolderCreate, &[], Some(p)).await;
    assert_eq!(s, 201);
    let id = v["id"].as_u64().unwrap();
    let (s, v) = call(
        &h.admin(),
        Op::CardIssue,
        &[],
        Some(json!({ "holder": id })),
    )
    .await;
    assert_eq!(s, 201);
    let number = v["access_number"].as_str().unwrap().to_owned();
    let card = v["card"]["id"].as_u64().unwrap();
    assert_eq!(
        call(&h.admin(), Op::CardRevoke, &[&card], None).await.0,
        200
    );

    let (s, _) = call(&h.admin(), Op::AuditRead, &[], None).await;
    assert_eq!(
        s, 403,
        "the security office does not read its own audit trail"
    );
    let (s, log) = call(
        &h.admin_as(Role::Auditor, "audit"),
        Op::AuditRead,
        &[],
        None,
    )
    .await;
    assert_eq!(s, 200);
    let text = log.to_string();
    assert!(
        !text.contains("Zebedee"),
        "personal data in the audit trail"
    );
    assert!(
        !text.contains(&number) && !text.contains(&number.replace('-', "")),
        "access number in the audit trail"
    );
    let entries = log.as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "access.update",
        "holder.create",
        "card.issue",
        "card.revoke",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    let revoke = entries
        .iter()
        .find(|e| e["action"] == "card.revoke")
        .unwrap();
    assert_eq!(revoke["who"], "admin");
    assert_eq!(revoke["role"], "security-office");
    assert_eq!(revoke["target"], format!("card:{card}"));
    assert!(revoke["time"].as_str().unwrap().ends_with('Z'));
}
