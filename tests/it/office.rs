//! The office's procedures through the admin API (issue 13): key orders
//! from submission to return with real e-mail through a real SMTP server,
//! the video policy with a denied export's clip erased from the files, and
//! photo distribution under the permissions and the opt-out.

use portcullis::api::Op;
use portcullis::clock::Clock;
use portcullis::pki::identity::Role;
use serde_json::{json, Value};

use crate::common::{Harness, SmtpSink};

async fn call(
    c: &portcullis::AdminClient,
    op: Op,
    args: &[&(dyn std::fmt::Display + Sync)],
    body: Value,
) -> (u16, Value) {
    c.call(op, args).json(&body).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_order_from_submission_to_return_with_its_notices() {
    let sink = SmtpSink::start();
    let relay = sink.addr.to_string();
    let h = Harness::start_with(|c| {
        c.notify.smtp = relay;
        c.notify.from = "semo-keys@example.edu".into();
        c.notify.retry_secs = 1;
    })
    .await;
    for (role, name) in [
        (Role::KeyAuthorizer, "kauth"),
        (Role::KeyAuthorizer, "kmaster"),
        (Role::KeyAuthorizer, "chem-auth"),
    ] {
        h.pki.issue(role, name).unwrap();
    }
    let a = h.admin();
    let clerk = h.admin_as(Role::CardOffice, "clerk");
    let kauth = h.admin_as(Role::KeyAuthorizer, "kauth");
    let kmaster = h.admin_as(Role::KeyAuthorizer, "kmaster");
    let chem = h.admin_as(Role::KeyAuthorizer, "chem-auth");
    // Physics is registered by the harness's holders; Chemistry here.
    let (s, v) = call(
        &a,
        Op::DlcPut,
        &[&"Chemistry"],
        json!({ "code": "Chemistry", "name": "Chemistry", "kind": "department" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let recipient = h.holder(1).await;
    let (_, number) = h.issue_to(recipient).await;
    let other = h.holder(2).await;
    let (_, other_number) = h.issue_to(other).await;
    for (dlc, handle, master, email) in [
        ("Physics", "kauth", false, "kauth@example.edu"),
        ("Physics", "kmaster", true, "kmaster@example.edu"),
        ("Chemistry", "chem-auth", true, "chem@example.edu"),
    ] {
        let (s, v) = call(
            &a,
            Op::AuthorizerPut,
            &[&dlc, &handle],
            json!({ "name": format!("Sample {handle}"), "email": email, "master": master }),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    // Free text has no place: a bad e-mail or name is refused.
    let (s, _) = call(
        &a,
        Op::AuthorizerPut,
        &[&"Physics", &"x"],
        json!({ "name": "X", "email": "x@y\r\nBcc: z@w.org" }),
    )
    .await;
    assert_eq!(s, 422);

    // Submission: only an authorizer of the DLC; master keys only by a
    // master authorizer.
    let rooms = json!({ "dlc": "Physics", "kind": "room", "rooms": ["6-201", "6-203"], "recipient": recipient, "rt": "RT-123456" });
    let (s, v) = call(&chem, Op::KeyOrderSubmit, &[], rooms.clone()).await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not a key authorizer of Physics"),
        "{v}"
    );
    let master = json!({ "dlc": "Physics", "kind": "master", "recipient": recipient });
    let (s, v) = call(&kauth, Op::KeyOrderSubmit, &[], master.clone()).await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("not its master keys"),
        "{v}"
    );
    let (s, v) = call(&kmaster, Op::KeyOrderSubmit, &[], master).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(
        &kauth,
        Op::KeyOrderSubmit,
        &[],
        json!({ "dlc": "Physics", "kind": "room", "rooms": ["the lab"], "recipient": recipient }),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = call(&kauth, Op::KeyOrderSubmit, &[], rooms).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    // The other DLC's authorizer does not see it.
    let (s, _) = chem.call(Op::KeyOrderShow, &[&id]).send().await.unwrap();
    assert_eq!(s, 404);
    let (_, list) = chem.call(Op::KeyOrdersList, &[]).send().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0);

    // Not ready yet: no pick-up.
    h.clock
        .set(crate::common::next_monday_at(h.clock.now_micros(), 10));
    let pickup = |n: &portcullis::crypto::numbers::AccessNumber, proof: Value| {
        let mut b = proof;
        b["access_number"] = json!(n.reveal());
        b
    };
    let (s, v) = call(
        &clerk,
        Op::KeyOrderPickup,
        &[&id],
        pickup(&number, json!({ "rt": "123456" })),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    // Ready: the authorizer gets an e-mail through the relay.
    let (s, v) = call(&a, Op::KeyOrderReady, &[&id], json!({})).await;
    assert_eq!(s, 200, "{v}");
    let mail = sink.wait_for(1).await;
    assert!(
        mail[0].contains("X-Envelope-To: kauth@example.edu"),
        "{}",
        mail[0]
    );
    assert!(
        mail[0].contains(&format!("Key order {id} is ready")),
        "{}",
        mail[0]
    );
    assert!(mail[0].contains("7-019"));

    // Pick-up: the wrong person's card, a wrong name, outside hours — all
    // refused; nothing changes.
    let (s, v) = call(
        &clerk,
        Op::KeyOrderPickup,
        &[&id],
        pickup(&other_number, json!({ "rt": "RT-123456" })),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not the card of the person"),
        "{v}"
    );
    let (s, v) = call(
        &clerk,
        Op::KeyOrderPickup,
        &[&id],
        pickup(&number, json!({ "authorizer_name": "Someone Else" })),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = call(
        &clerk,
        Op::KeyOrderPickup,
        &[&id],
        pickup(&crate::common::random_number(), json!({ "rt": "123456" })),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    h.clock
        .set(crate::common::next_monday_at(h.clock.now_micros(), 17));
    let (s, v) = call(
        &clerk,
        Op::KeyOrderPickup,
        &[&id],
        pickup(&number, json!({ "rt": "123456" })),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("weekdays from 8 a.m. to 4 p.m."),
        "{v}"
    );
    h.clock
        .set(crate::common::next_monday_at(h.clock.now_micros(), 9));
    // A replaced card is dead for this too.
    let (s, v) = call(&a, Op::CardReplace, &[&recipient], json!({})).await;
    assert_eq!(s, 201, "{v}");
    let new_number: portcullis::crypto::numbers::AccessNumber =
        v["access_number"].as_str().unwrap().parse().unwrap();
    let (s, v) = call(
        &clerk,
        Op::KeyOrderPickup,
        &[&id],
        pickup(&number, json!({ "rt": "123456" })),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("superseded"), "{v}");
    let (_, o) = a.call(Op::KeyOrderShow, &[&id]).send().await.unwrap();
    assert_eq!(o["status"], "ready");
    // The right card and the authorizer's name: handed over, recorded.
    let (s, v) = call(
        &clerk,
        Op::KeyOrderPickup,
        &[&id],
        pickup(&new_number, json!({ "authorizer_name": "sample KAUTH" })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "picked_up");
    let (s, _) = call(
        &clerk,
        Op::KeyOrderPickup,
        &[&id],
        pickup(&new_number, json!({ "rt": "123456" })),
    )
    .await;
    assert_eq!(s, 409, "handed over twice");

    // Return: the authorizer is told, then records it; nobody else can.
    let (s, v) = call(&clerk, Op::KeyOrderReturnRequest, &[&id], json!({})).await;
    assert_eq!(s, 200, "{v}");
    let mail = sink.wait_for(2).await;
    assert!(
        mail[1].contains(&format!("Keys of order {id} are being returned")),
        "{}",
        mail[1]
    );
    let (s, _) = call(&chem, Op::KeyOrderReturned, &[&id], json!({})).await;
    assert_eq!(s, 404);
    let (s, v) = call(&kauth, Op::KeyOrderReturned, &[&id], json!({})).await;
    assert_eq!(s, 200, "{v}");
    let history: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "submitted",
            "ready",
            "picked_up",
            "return_requested",
            "returned"
        ]
    );

    // The notices are marked sent; the audit trail has every step and no
    // access number anywhere.
    let (_, out) = a.call(Op::NotificationsList, &[]).send().await.unwrap();
    assert!(
        out.as_array()
            .unwrap()
            .iter()
            .all(|n| n["done"] == true && n["mail"]["sent_at"].is_string()),
        "{out}"
    );
    let (_, audit) = h
        .admin_as(Role::Auditor, "audit")
        .call(Op::AuditRead, &[])
        .send()
        .await
        .unwrap();
    let text = audit.to_string();
    assert!(
        text.contains("key-order.pickup")
            && text.contains("refused")
            && text.contains("handed over")
    );
    for n in [&number, &new_number, &other_number] {
        assert!(!text.contains(&n.reveal()) && !text.contains(&hex::encode(n.0)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_exports_are_held_until_the_director_decides_and_a_denial_erases_the_clip() {
    let h = Harness::start().await;
    for (role, name) in [
        (Role::Director, "director"),
        (Role::DirectorDesignee, "deputy"),
        (Role::Police, "officer1"),
    ] {
        h.pki.issue(role, name).unwrap();
    }
    let a = h.admin();
    let director = h.admin_as(Role::Director, "director");
    let deputy = h.admin_as(Role::DirectorDesignee, "deputy");
    let police = h.admin_as(Role::Police, "officer1");
    let camera =
        json!({ "name": "lobby-1", "location": "E52-100", "recording_days": 14, "audio": false });

    // The policy's limits, at the request.
    for bad in [
        json!({ "name": "lobby-1", "location": "E52-100", "recording_days": 15, "audio": false }),
        json!({ "name": "lobby-1", "location": "E52-100", "recording_days": 14, "audio": true }),
    ] {
        let (s, v) = call(
            &a,
            Op::VideoWorkSubmit,
            &[],
            json!({ "kind": "install", "camera": bad, "document": "VR-2026-0001" }),
        )
        .await;
        assert_eq!(s, 422, "{v}");
    }
    let (s, v) = call(&a, Op::VideoWorkSubmit, &[], json!({ "kind": "install", "camera": camera, "document": "VR-2026-0002", "contractor": "acme-security" })).await;
    assert_eq!(s, 201, "{v}");
    let work = v["id"].as_u64().unwrap();
    // Not installed until approved, and only the Director or a designee
    // approves.
    let (_, cams) = a.call(Op::CamerasList, &[]).send().await.unwrap();
    assert_eq!(cams.as_array().unwrap().len(), 0);
    let (s, _) = call(
        &a,
        Op::VideoWorkDecide,
        &[&work],
        json!({ "approve": true }),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = call(
        &deputy,
        Op::VideoWorkDecide,
        &[&work],
        json!({ "approve": true }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, cams) = a.call(Op::CamerasList, &[]).send().await.unwrap();
    assert_eq!(cams[0]["name"], "lobby-1");

    // An export request by the police, for a window the camera still has.
    let now = h.clock.now_micros();
    let ask = json!({
        "camera": "lobby-1",
        "from": portcullis::clock::rfc3339(now - 7_200_000_000),
        "to": portcullis::clock::rfc3339(now - 3_600_000_000),
        "document": "MITPD-2026-117",
    });
    let (s, v) = call(&police, Op::VideoExportSubmit, &[], ask).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    // SEMO holds the exported clip, sealed.
    let mut clip = b"PORTCULLIS-TEST-CLIP-".to_vec();
    clip.extend((0..200_000u32).map(|i| (i * 7 % 251) as u8));
    let (s, v) = a
        .call(Op::VideoExportHold, &[&id])
        .bytes(clip.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "held");
    let core = h.app().core();
    let sealed = core.clips.sealed(id).unwrap().unwrap();
    assert!(
        !sealed.windows(21).any(|w| w == &clip[..21]),
        "the clip is not sealed"
    );
    let marker = sealed[sealed.len() / 2..sealed.len() / 2 + 32].to_vec();
    // A backup made now does not carry it: the clip exists on this
    // appliance only, so a denial can delete every copy.
    let (s, v) = a
        .call(Op::BackupCreate, &[])
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let backup = std::path::PathBuf::from(v["path"].as_str().unwrap());
    let found = crate::common::files_containing(&backup, &marker);
    assert!(
        found.is_empty(),
        "the held clip is in the backup: {found:?}"
    );
    // Nobody collects it before the decision.
    let (s, _) = police
        .call(Op::VideoExportCollect, &[&id])
        .send_bytes()
        .await
        .unwrap();
    assert_eq!(s, 409);

    // Denied: the clip is deleted — out of the database and out of every
    // file — and there is no appeal.
    let (s, v) = call(
        &director,
        Op::VideoExportDecide,
        &[&id],
        json!({ "approve": false }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "denied");
    assert!(v["deleted_at"].is_string());
    assert!(core.clips.sealed(id).unwrap().is_none());
    // RocksDB deletes a retired write-ahead log in the background: give it
    // a moment, no more.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let found = crate::common::files_containing(&h.data_dir(), &marker);
        if found.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the denied clip is still in {found:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (s, v) = call(
        &director,
        Op::VideoExportDecide,
        &[&id],
        json!({ "approve": true }),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("no appeal"));
    let (s, _) = police
        .call(Op::VideoExportCollect, &[&id])
        .send_bytes()
        .await
        .unwrap();
    assert_eq!(s, 409);

    // Another, approved: released to its requester only, and recorded.
    let ask = json!({
        "camera": "lobby-1",
        "from": portcullis::clock::rfc3339(now - 3_000_000_000),
        "to": portcullis::clock::rfc3339(now - 2_000_000_000),
        "document": "MITPD-2026-118",
    });
    let (_, v) = call(&police, Op::VideoExportSubmit, &[], ask).await;
    let id2 = v["id"].as_u64().unwrap();
    let (s, _) = a
        .call(Op::VideoExportHold, &[&id2])
        .bytes(clip.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    let (s, _) = call(
        &deputy,
        Op::VideoExportDecide,
        &[&id2],
        json!({ "approve": true }),
    )
    .await;
    assert_eq!(s, 200);
    h.pki.issue(Role::Police, "officer2").unwrap();
    let (s, _) = h
        .admin_as(Role::Police, "officer2")
        .call(Op::VideoExportCollect, &[&id2])
        .send_bytes()
        .await
        .unwrap();
    assert_eq!(s, 404, "another officer's export");
    // Not even the security office: it is released to its requester.
    let (s, _) = a
        .call(Op::VideoExportCollect, &[&id2])
        .send_bytes()
        .await
        .unwrap();
    assert_eq!(s, 404);
    let (s, got) = police
        .call(Op::VideoExportCollect, &[&id2])
        .send_bytes()
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(got, clip);
    // Released once; the office keeps no copy.
    assert!(core.clips.sealed(id2).unwrap().is_none());
    let (s, _) = police
        .call(Op::VideoExportCollect, &[&id2])
        .send_bytes()
        .await
        .unwrap();
    assert_eq!(s, 409);
    let (_, list) = police.call(Op::VideoExportsList, &[]).send().await.unwrap();
    let e2 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id2)
        .unwrap();
    assert_eq!(e2["status"], "released");
    // A window older than the camera keeps is refused.
    let old = json!({
        "camera": "lobby-1",
        "from": portcullis::clock::rfc3339(now - 15 * 86_400_000_000),
        "to": portcullis::clock::rfc3339(now - 15 * 86_400_000_000 + 60_000_000),
        "document": "MITPD-2026-119",
    });
    let (s, v) = call(&police, Op::VideoExportSubmit, &[], old).await;
    assert_eq!(s, 422, "{v}");
}

#[tokio::test]
async fn photos_are_distributed_only_as_the_policy_says() {
    let h = Harness::start().await;
    let a = h.admin();
    let clerk = h.admin_as(Role::CardOffice, "clerk");
    // A student (the fixtures are students) and a staff member.
    let student = h.holder(1).await;
    let mut staff = crate::common::fixture_person(9);
    staff["affiliation"] = json!("staff");
    staff["status"] = json!("employed");
    let (s, v) = call(&a, Op::HolderCreate, &[], staff).await;
    assert_eq!(s, 201, "{v}");
    let employee = v["id"].as_u64().unwrap();
    for id in [student, employee] {
        let (s, _) = a
            .call(Op::PhotoUpload, &[&id])
            .bytes(crate::common::jpeg(id))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200);
    }
    // Permissions: the Dean's for a student, written for anyone else.
    let (s, _) = call(
        &a,
        Op::PhotoPermissionSet,
        &[&student],
        json!({ "kind": "written", "reference": "W-1" }),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &a,
        Op::PhotoPermissionSet,
        &[&employee],
        json!({ "kind": "dean", "reference": "DUE-1" }),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &a,
        Op::PhotoPermissionSet,
        &[&employee],
        json!({ "kind": "written", "reference": "W-2026-8" }),
    )
    .await;
    assert_eq!(s, 200);
    // Released within the Institute only.
    let (s, _) = call(
        &a,
        Op::PhotoRelease,
        &[&employee],
        json!({ "to_dlc": "Outside-Press" }),
    )
    .await;
    assert_eq!(s, 422);
    let (s, bytes) = a
        .call(Op::PhotoRelease, &[&employee])
        .json(&json!({ "to_dlc": "Physics" }))
        .send_bytes()
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(bytes, crate::common::jpeg(employee));
    // Hard copies: a student's to the listed recipients; not an employee's
    // to a student's housemaster.
    let (s, v) = call(
        &a,
        Op::PhotoHardCopy,
        &[&student],
        json!({ "recipient": "housemaster" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = call(
        &a,
        Op::PhotoHardCopy,
        &[&employee],
        json!({ "recipient": "housemaster" }),
    )
    .await;
    assert_eq!(s, 403);
    // The opt-out: nothing goes out any more, but the person's own copy.
    let (s, _) = call(
        &a,
        Op::PhotoWithheld,
        &[&student],
        json!({ "withheld": true }),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = call(
        &a,
        Op::PhotoHardCopy,
        &[&student],
        json!({ "recipient": "faculty" }),
    )
    .await;
    assert_eq!(s, 403);
    assert!(v["error"].as_str().unwrap().contains("withheld"), "{v}");
    let (s, _) = clerk
        .call(Op::PhotoOwnCopy, &[&student])
        .json(&json!({ "format": "digital" }))
        .send_bytes()
        .await
        .unwrap();
    assert_eq!(s, 200);
    let (s, _) = call(
        &clerk,
        Op::PhotoOwnCopy,
        &[&student],
        json!({ "format": "hard-copy" }),
    )
    .await;
    assert_eq!(s, 403, "a second own copy");
    // The record, with the notation.
    let (s, v) = a
        .call(Op::PhotoDistributions, &[&student])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(v["withheld"], true);
    assert!(v["notation"].as_str().unwrap().contains("withheld"));
    let kinds: Vec<&str> = v["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["what"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["hard_copy", "own_copy"]);
}

/// Read-then-write steps hammered at once: one order is handed over once,
/// one export is decided once, one person gets one own copy, however many
/// clerks press the button together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_counter_steps_happen_once() {
    let h = std::sync::Arc::new(Harness::start().await);
    h.pki.issue(Role::KeyAuthorizer, "kauth").unwrap();
    h.pki.issue(Role::Director, "director").unwrap();
    let a = h.admin();
    let recipient = h.holder(1).await;
    let (_, number) = h.issue_to(recipient).await;
    let (s, v) = call(
        &a,
        Op::AuthorizerPut,
        &[&"Physics", &"kauth"],
        json!({ "name": "Sample Authorizer", "email": "kauth@example.edu" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let kauth = h.admin_as(Role::KeyAuthorizer, "kauth");
    let (_, v) = call(
        &kauth,
        Op::KeyOrderSubmit,
        &[],
        json!({ "dlc": "Physics", "kind": "room", "rooms": ["6-201"], "recipient": recipient }),
    )
    .await;
    let order = v["id"].as_u64().unwrap();
    let (s, _) = call(&a, Op::KeyOrderReady, &[&order], json!({})).await;
    assert_eq!(s, 200);
    h.clock
        .set(crate::common::next_monday_at(h.clock.now_micros(), 10));
    let codes = |tasks: Vec<tokio::task::JoinHandle<u16>>| async move {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    };
    let pickups = (0..10)
        .map(|_| {
            let h = h.clone();
            let body =
                json!({ "access_number": number.reveal(), "authorizer_name": "Sample Authorizer" });
            tokio::spawn(async move {
                call(
                    &h.admin_as(Role::CardOffice, "clerk"),
                    Op::KeyOrderPickup,
                    &[&order],
                    body,
                )
                .await
                .0
            })
        })
        .collect();
    let got = codes(pickups).await;
    assert_eq!(got.iter().filter(|c| **c == 200).count(), 1, "{got:?}");
    assert!(got.iter().all(|c| *c == 200 || *c == 409), "{got:?}");

    // One camera, one export held, ten decisions at once.
    let (_, v) = call(&a, Op::VideoWorkSubmit, &[], json!({ "kind": "install", "camera": { "name": "c1", "location": "E52", "recording_days": 7, "audio": false }, "document": "VR-1" })).await;
    let work = v["id"].as_u64().unwrap();
    let director = h.admin_as(Role::Director, "director");
    let (s, _) = call(
        &director,
        Op::VideoWorkDecide,
        &[&work],
        json!({ "approve": true }),
    )
    .await;
    assert_eq!(s, 200);
    let now = h.clock.now_micros();
    let (_, v) = call(&a, Op::VideoExportSubmit, &[], json!({ "camera": "c1", "from": portcullis::clock::rfc3339(now - 7_200_000_000), "to": portcullis::clock::rfc3339(now - 3_600_000_000), "document": "VX-1" })).await;
    let export = v["id"].as_u64().unwrap();
    let (s, _) = a
        .call(Op::VideoExportHold, &[&export])
        .bytes(vec![7; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    let decisions = (0..10)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                call(
                    &h.admin_as(Role::Director, "director"),
                    Op::VideoExportDecide,
                    &[&export],
                    json!({ "approve": i % 2 == 0 }),
                )
                .await
                .0
            })
        })
        .collect();
    let got = codes(decisions).await;
    assert_eq!(got.iter().filter(|c| **c == 200).count(), 1, "{got:?}");

    // One own copy.
    let (s, _) = a
        .call(Op::PhotoUpload, &[&recipient])
        .bytes(crate::common::jpeg(1))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    let copies = (0..10)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move {
                call(
                    &h.admin(),
                    Op::PhotoOwnCopy,
                    &[&recipient],
                    json!({ "format": "hard-copy" }),
                )
                .await
                .0
            })
        })
        .collect();
    let got = codes(copies).await;
    assert_eq!(got.iter().filter(|c| **c == 200).count(), 1, "{got:?}");
}
