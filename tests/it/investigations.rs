//! Issue 5: the journal is used only for access resolution and for police
//! investigations under the chief's signed request; every look-up is
//! recorded; nothing outlives the window.

use ed25519_dalek::SigningKey;
use portcullis::api::types::{JournalQuery, LookupBy};
use portcullis::api::Op;
use portcullis::client::AdminClient;
use portcullis::clock::{rfc3339, Clock, DAY_MICROS};
use portcullis::pki::identity::Role;
use portcullis::police::{sign, RequestDocument, RequestPurpose, SignedRequest, Subject};
use serde_json::{json, Value};

use crate::common::{random_number, Harness, READER};

const HOUR: u64 = 3_600_000_000;
/// Just beyond `investigations.min_lookup_age_minutes` (10).
const LIVE_GUARD: u64 = 11 * 60_000_000;

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

/// An access-resolution look-up.
async fn lookup(c: &AdminClient, q: &JournalQuery) -> (u16, Value) {
    c.call(Op::JournalLookup, &[])
        .query(q)
        .send()
        .await
        .unwrap()
}

/// A look-up `by` (card, door, reader) of `id` over `[from, to)`.
fn jq(by: &str, id: u64, from: u64, to: u64, ticket: &str) -> JournalQuery {
    JournalQuery {
        by: match by {
            "card" => LookupBy::Card,
            "door" => LookupBy::Door,
            _ => LookupBy::Reader,
        },
        id,
        from: rfc3339(from),
        to: rfc3339(to),
        ticket: ticket.to_owned(),
        after: None,
        limit: None,
    }
}

/// A harness with police, a chief key registered, and a card with history:
/// two verifications 3 days ago, one 1 hour ago; another card's verification
/// in between.
struct Scene {
    h: Harness,
    chief: SigningKey,
    card: u64,
    holder: u64,
    other_card: u64,
    t0: u64,
}

async fn scene(limit: u32) -> Scene {
    scene_with(limit, false).await
}

async fn scene_with(limit: u32, card_index: bool) -> Scene {
    let h = Harness::start_with(|c| {
        c.investigations.max_lookups_per_subject_per_day = limit;
        c.journal.card_index = card_index;
    })
    .await;
    for (role, name) in [(Role::Police, "officer"), (Role::PoliceChief, "chief")] {
        h.pki.issue(role, name).unwrap();
    }
    let chief = SigningKey::from_bytes(&[42; 32]);
    let (s, v) = call(
        &h.admin(),
        Op::ChiefKeySet,
        &[],
        Some(json!({ "public_key": hex::encode(chief.verifying_key().as_bytes()) })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let holder = h.holder(1).await;
    let (card, n) = h.issue_to(holder).await;
    let (other_card, other) = h.issue(2).await;
    let t0 = h.clock.now_micros();
    let mut r = h.reader(READER).await;
    r.verify(1, 1, &n).await.unwrap();
    r.verify(2, 2, &n).await.unwrap();
    r.verify(3, 1, &other).await.unwrap();
    r.verify(4, 1, &random_number()).await.unwrap();
    h.clock.advance(3 * DAY_MICROS - HOUR);
    r.verify(5, 1, &n).await.unwrap();
    h.clock.advance(HOUR);
    Scene {
        h,
        chief,
        card,
        holder,
        other_card,
        t0,
    }
}

impl Scene {
    fn now(&self) -> u64 {
        self.h.clock.now_micros()
    }
    fn doc(&self, subject: Subject, from: u64, to: u64) -> RequestDocument {
        RequestDocument {
            version: 1,
            case_number: "MITPD-2026-117".into(),
            purpose: RequestPurpose::Journal,
            subject,
            from: rfc3339(from),
            to: rfc3339(to),
            reason: "investigation of a reported theft".into(),
            legal_process: None,
            issued_at: rfc3339(self.now() - 60_000_000),
            expires_at: rfc3339(self.now() + DAY_MICROS),
            nonce: hex::encode(rand::random::<[u8; 8]>()),
        }
    }
    fn police(&self) -> AdminClient {
        self.h.admin_as(Role::Police, "officer")
    }
    async fn submit(&self, req: &SignedRequest) -> (u16, Value) {
        let body = serde_json::to_vec(req).unwrap();
        self.police()
            .call(Op::Investigate, &[])
            .bytes(body)
            .send()
            .await
            .unwrap()
    }
    async fn lookups(&self) -> Vec<Value> {
        let (s, v) = call(
            &self.h.admin_as(Role::Auditor, "audit"),
            Op::LookupsRead,
            &[],
            None,
        )
        .await;
        assert_eq!(s, 200);
        v.as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn access_resolution_by_card_door_and_reader_with_a_ticket() {
    let sc = scene(10).await;
    // Windows end past the 10-minute live-tracking guard.
    let (t0, now) = (sc.t0, sc.now() - LIVE_GUARD);
    let q = |by: &str, id: u64, ticket: &str| jq(by, id, t0 - HOUR, now, ticket);
    for role in [(Role::SecurityOffice, "admin"), (Role::CardOffice, "clerk")] {
        let (s, v) = lookup(
            &sc.h.admin_as(role.0, role.1),
            &q("card", sc.card, "T-1001"),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let recs = v["records"].as_array().unwrap();
        assert_eq!(recs.len(), 3, "{v}");
        assert!(recs.iter().all(|r| r["card"] == sc.card));
    }
    // By door: door 2 saw one decision.
    let (_, v) = lookup(&sc.h.admin(), &q("door", 2, "T-1002")).await;
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    // By reader, paginated two at a time: 5 records over 3 pages.
    let mut seen = 0;
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = JournalQuery {
            limit: Some(2),
            after: after.clone(),
            ..q("reader", 1, "T-1003")
        };
        let (s, v) = lookup(&sc.h.admin(), &path).await;
        assert_eq!(s, 200, "{v}");
        seen += v["records"].as_array().unwrap().len();
        pages += 1;
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (5, 3));
    // The unknown number shows as a tag, never as a number.
    let (_, v) = lookup(&sc.h.admin(), &q("door", 1, "T-1004")).await;
    assert!(v.to_string().contains("unknown_number_tag"));

    // No ticket; a window reaching into the future; other roles.
    let (s, _) = lookup(&sc.h.admin(), &q("card", sc.card, "")).await;
    assert_eq!(s, 400);
    let future = jq("card", sc.card, t0, now + DAY_MICROS, "T-9");
    assert_eq!(lookup(&sc.h.admin(), &future).await.0, 422);
    for (role, name) in [
        (Role::Police, "officer"),
        (Role::Auditor, "audit"),
        (Role::Reader, READER),
    ] {
        assert_eq!(
            lookup(&sc.h.admin_as(role, name), &q("card", sc.card, "T-5"))
                .await
                .0,
            403,
            "{role}"
        );
    }
    // Every look-up, refused ones included, is in the look-up audit.
    let log = sc.lookups().await;
    let tickets: Vec<&str> = log
        .iter()
        .map(|e| e["reference"].as_str().unwrap())
        .collect();
    assert!(tickets.contains(&"T-1001") && tickets.contains(&"T-1003") && tickets.contains(&"T-9"));
    let refused = log.iter().find(|e| e["reference"] == "T-9").unwrap();
    assert!(refused["outcome"].as_str().unwrap().starts_with("refused"));
    assert_eq!(
        log.iter().find(|e| e["reference"] == "T-1002").unwrap()["returned"],
        1
    );
    assert_eq!(log[0]["purpose"], "access_resolution");
    // Counted by purpose.
    let metrics = sc.h.app().core().metrics.render();
    assert!(metrics.contains(
        "portcullis_journal_lookups_total{purpose=\"access_resolution\",outcome=\"ok\"}"
    ));
}

#[tokio::test]
async fn police_get_only_what_a_valid_signed_request_covers() {
    // With the card index: look-ups seek it (the other tests scan).
    let sc = scene_with(10, true).await;
    let (t0, now) = (sc.t0, sc.now());
    // Window: the first day only; subject: the person (all their cards).
    let doc = sc.doc(Subject::Holder(sc.holder), t0 - HOUR, t0 + DAY_MICROS);
    let req = sign(&sc.chief, &doc);
    let (s, v) = sc.submit(&req).await;
    assert_eq!(s, 200, "{v}");
    let recs = v["records"].as_array().unwrap();
    assert_eq!(
        recs.len(),
        2,
        "only the subject's records inside the window: {v}"
    );
    assert!(recs
        .iter()
        .all(|r| r["card"] == sc.card && r["card"] != sc.other_card));

    // Replayed.
    let (s, v) = sc.submit(&req).await;
    assert_eq!(s, 409, "{v}");
    // Tampered: the subject changed after signing.
    let mut bytes = hex::decode(&req.document).unwrap();
    let text = String::from_utf8(bytes.clone())
        .unwrap()
        .replace(&format!("\"holder\":{}", sc.holder), "\"holder\":999");
    bytes = text.into_bytes();
    let tampered = SignedRequest {
        document: hex::encode(bytes),
        signature: req.signature.clone(),
    };
    assert_eq!(sc.submit(&tampered).await.0, 403);
    // Unsigned (a signature of zeros), and signed by someone else.
    let unsigned = SignedRequest {
        document: req.document.clone(),
        signature: "00".repeat(64),
    };
    assert_eq!(sc.submit(&unsigned).await.0, 403);
    let forged = sign(
        &SigningKey::from_bytes(&[1; 32]),
        &sc.doc(Subject::Card(sc.card), t0, t0 + HOUR),
    );
    assert_eq!(sc.submit(&forged).await.0, 403);
    // Not a request at all.
    let (s, _) = sc
        .police()
        .call(Op::Investigate, &[])
        .bytes(b"please".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(s, 400);
    // Out of scope: a window in the future, or older than retention.
    let fut = sign(
        &sc.chief,
        &sc.doc(Subject::Card(sc.card), now - HOUR, now + HOUR),
    );
    assert_eq!(sc.submit(&fut).await.0, 422);
    let old = sign(
        &sc.chief,
        &sc.doc(
            Subject::Card(sc.card),
            now - 15 * DAY_MICROS,
            now - 14 * DAY_MICROS + HOUR,
        ),
    );
    assert_eq!(sc.submit(&old).await.0, 422);
    // Expired: signed now, presented after it lapsed.
    let later = sign(&sc.chief, &sc.doc(Subject::Card(sc.card), t0, t0 + HOUR));
    sc.h.clock.advance(DAY_MICROS + HOUR);
    assert_eq!(sc.submit(&later).await.0, 403);
    // Only police may submit.
    let fresh = sign(&sc.chief, &sc.doc(Subject::Card(sc.card), t0, t0 + HOUR));
    let body = serde_json::to_vec(&fresh).unwrap();
    for (role, name) in [
        (Role::SecurityOffice, "admin"),
        (Role::PoliceChief, "chief"),
        (Role::Auditor, "audit"),
    ] {
        let (s, _) =
            sc.h.admin_as(role, name)
                .call(Op::Investigate, &[])
                .bytes(body.clone())
                .send()
                .await
                .unwrap();
        assert_eq!(s, 403, "{role}");
    }
    // Every attempt is in the look-up audit, with its case and outcome.
    let log = sc.lookups().await;
    let exploratory: Vec<&Value> = log
        .iter()
        .filter(|e| e["purpose"] == "exploratory")
        .collect();
    assert!(exploratory.len() >= 8, "{exploratory:?}");
    assert_eq!(exploratory[0]["outcome"], "ok");
    assert_eq!(exploratory[0]["reference"], "MITPD-2026-117");
    assert_eq!(exploratory[0]["returned"], 2);
    for why in [
        "already been used",
        "does not verify",
        "retention window",
        "expired",
    ] {
        assert!(
            exploratory
                .iter()
                .any(|e| e["outcome"].as_str().unwrap().contains(why)),
            "no refusal for {why}"
        );
    }
}

#[tokio::test]
async fn police_photos_under_legal_process_queue_a_notification() {
    let sc = scene(10).await;
    let a = sc.h.admin();
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend_from_slice(b"fixture-photo");
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    assert_eq!(
        a.call(Op::PhotoUpload, &[&sc.holder])
            .bytes(jpeg.clone())
            .send()
            .await
            .unwrap()
            .0,
        200
    );
    // Withholding from distribution does not stop legal process.
    call(
        &a,
        Op::PhotoWithheld,
        &[&sc.holder],
        Some(json!({ "withheld": true })),
    )
    .await;

    let mut doc = sc.doc(Subject::Holder(sc.holder), 0, 0);
    doc.purpose = RequestPurpose::Photo;
    doc.legal_process = Some("subpoena".into());
    let body = serde_json::to_vec(&sign(&sc.chief, &doc)).unwrap();
    // A photo request is not a journal request.
    assert_eq!(
        sc.police()
            .call(Op::Investigate, &[])
            .bytes(body.clone())
            .send()
            .await
            .unwrap()
            .0,
        422
    );
    let mut doc2 = doc.clone();
    doc2.nonce = "ff".into();
    let body = serde_json::to_vec(&sign(&sc.chief, &doc2)).unwrap();
    let (s, img) = sc
        .police()
        .call(Op::InvestigatePhoto, &[])
        .bytes(body)
        .send_bytes()
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(img, jpeg);
    let (s, out) = call(&a, Op::NotificationsList, &[], None).await;
    assert_eq!(s, 200);
    let notes = out.as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["holder"], sc.holder);
    assert_eq!(notes[0]["done"], false);
    assert!(notes[0]["action"].as_str().unwrap().contains("inform"));
    let id = notes[0]["id"].as_str().unwrap();
    assert_eq!(call(&a, Op::NotificationDone, &[&id], None).await.0, 200);
    assert_eq!(
        call(&a, Op::NotificationsList, &[], None).await.1[0]["done"],
        true
    );
    // Without a signed request there is no police route to a photo.
    assert_eq!(
        call(&sc.police(), Op::PhotoShow, &[&sc.holder], None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn no_tracking_look_ups_about_one_subject_are_limited_per_day() {
    let sc = scene(2).await;
    // Windows end past the 10-minute live-tracking guard.
    let (t0, now) = (sc.t0, sc.now() - LIVE_GUARD);
    let path = |ticket: &str| jq("card", sc.card, t0, now, ticket);
    assert_eq!(lookup(&sc.h.admin(), &path("A")).await.0, 200);
    assert_eq!(lookup(&sc.h.admin(), &path("B")).await.0, 200);
    assert_eq!(lookup(&sc.h.admin(), &path("C")).await.0, 429);
    // Police requests about the same card count against the same limit.
    let req = sign(&sc.chief, &sc.doc(Subject::Card(sc.card), t0, t0 + HOUR));
    assert_eq!(sc.submit(&req).await.0, 429);
    // The next day the limit resets.
    sc.h.clock.advance(DAY_MICROS);
    assert_eq!(lookup(&sc.h.admin(), &path("D")).await.0, 200);
    // There is no "where is this person" interface of any kind.
    for p in [
        format!("/v1/holders/{}/last-seen", sc.holder),
        format!("/v1/holders/{}/location", sc.holder),
        format!("/v1/cards/{}/events", sc.card),
        "/v1/journal/stream".to_owned(),
    ] {
        assert_eq!(sc.h.admin().probe("GET", &p).await.unwrap().0, 404, "{p}");
    }
}

#[tokio::test]
async fn indexes_expire_with_the_records_and_the_report_proves_it() {
    let sc = scene_with(10, true).await;
    let core = sc.h.app().core().clone();
    let before = portcullis::store::retention::check(&core.journal).unwrap();
    assert!(before.ok);
    assert!(
        before.parts.iter().all(|p| p.oldest.is_some()),
        "{before:?}"
    );
    // 14 days after the first records, before the latest: the first expire,
    // in the records and in the index alike.
    sc.h.clock.advance(11 * DAY_MICROS);
    let stale = portcullis::store::retention::check(&core.journal).unwrap();
    assert!(
        !stale.ok,
        "records past the window are still stored until erasure: {stale:?}"
    );
    core.journal.erase_expired().unwrap();
    let after = portcullis::store::retention::check(&core.journal).unwrap();
    assert!(after.ok, "{after:?}");
    let oldest_index = core.journal.oldest_index_entry().unwrap().unwrap();
    let oldest_record = core.journal.oldest_stored().unwrap().unwrap();
    assert_eq!(oldest_index, oldest_record);
    assert!(sc.h.clock.now_micros() - oldest_record < 14 * DAY_MICROS);
    // Only the latest verification of the card remains findable.
    let left = core
        .journal
        .read_by(
            portcullis::store::journal::By::Card,
            sc.card,
            0,
            u64::MAX,
            None,
            100,
        )
        .unwrap();
    assert_eq!(left.len(), 1);
    // And at 14 days after that, nothing at all.
    sc.h.clock.advance(14 * DAY_MICROS);
    core.journal.erase_expired().unwrap();
    assert_eq!(core.journal.oldest_index_entry().unwrap(), None);
    assert_eq!(core.journal.oldest_stored().unwrap(), None);
}

/// Issue 9, defect 6: a signed request is used once and the per-subject
/// limit holds, however many arrive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_use_and_daily_limit_hold_under_concurrency() {
    // Several rounds, each on a fresh appliance: one lucky interleaving
    // proves little.
    for _ in 0..3 {
        single_use_and_daily_limit_round().await;
    }
}

async fn single_use_and_daily_limit_round() {
    let sc = std::sync::Arc::new(scene(10).await);
    let (t0, now) = (sc.t0, sc.now());
    // The same request 20 times at once: exactly one answer.
    let req = sign(
        &sc.chief,
        &sc.doc(Subject::Card(sc.other_card), t0 - HOUR, now),
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (sc, req) = (sc.clone(), req.clone());
            tokio::spawn(async move { sc.submit(&req).await.0 })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 409), "{codes:?}");
    // 25 distinct requests about one holder at once: exactly the limit.
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let sc = sc.clone();
            let req = sign(
                &sc.chief,
                &sc.doc(Subject::Holder(sc.holder), t0 - HOUR, now),
            );
            tokio::spawn(async move { sc.submit(&req).await.0 })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 10, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 429), "{codes:?}");
}

/// Issue 9, defect 7: pages after the first continue a counted look-up
/// only with the cursor handed out for it.
#[tokio::test]
async fn pagination_cannot_skip_the_daily_limit() {
    let sc = scene(1).await;
    // Windows end past the 10-minute live-tracking guard.
    let (t0, now) = (sc.t0, sc.now() - LIVE_GUARD);
    let path = |id: u64, ticket: &str| JournalQuery {
        limit: Some(1),
        ..jq("card", id, t0 - HOUR, now, ticket)
    };
    let after = |q: JournalQuery, a: &str| JournalQuery {
        after: Some(a.to_owned()),
        ..q
    };
    let a = sc.h.admin();
    let (s, v) = lookup(&a, &path(sc.card, "P-1")).await;
    assert_eq!(s, 200, "{v}");
    let next = v["next"].as_str().unwrap().to_owned();
    // The limit (1) is reached: a fresh look-up is refused, with or without
    // a made-up cursor.
    assert_eq!(lookup(&a, &path(sc.card, "P-2")).await.0, 429);
    for forged in ["0:0", "0.0.0.00000000000000000000000000000000", "x"] {
        let (s, v) = lookup(&a, &after(path(sc.card, "P-1"), forged)).await;
        assert_eq!(s, 400, "{forged}: {v}");
        assert!(v.get("records").is_none());
    }
    // The real cursor continues the counted look-up, but not another one:
    // not for another card, another ticket, or another caller.
    let (s, v) = lookup(&a, &after(path(sc.card, "P-1"), &next)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    let (s, _) = lookup(&a, &after(path(sc.other_card, "P-1"), &next)).await;
    assert_eq!(s, 400);
    let (s, _) = lookup(&a, &after(path(sc.card, "P-9"), &next)).await;
    assert_eq!(s, 400);
    let clerk = sc.h.admin_as(Role::CardOffice, "clerk");
    let (s, _) = lookup(&clerk, &after(path(sc.card, "P-1"), &next)).await;
    assert_eq!(s, 400);
}

/// Equipment look-ups (door, reader) are limited per day too and name cards
/// only by a pseudonym local to the look-up.
#[tokio::test]
async fn door_look_ups_do_not_name_cards() {
    let sc = scene(10).await;
    // Windows end past the 10-minute live-tracking guard.
    let (t0, now) = (sc.t0, sc.now() - LIVE_GUARD);
    let path = |by: &str, id: u64, ticket: &str| jq(by, id, t0 - HOUR, now, ticket);
    let a = sc.h.admin();
    let (s, v) = lookup(&a, &path("door", 1, "E-1")).await;
    assert_eq!(s, 200, "{v}");
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 4, "{v}");
    assert!(recs.iter().all(|r| r.get("card").is_none()), "{v}");
    // The same card twice: the same pseudonym within the look-up.
    let refs: Vec<&str> = recs.iter().filter_map(|r| r["card_ref"].as_str()).collect();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs[0], refs[2]);
    assert_ne!(refs[0], refs[1]);
    // Another look-up: other pseudonyms.
    let (_, v2) = lookup(&a, &path("door", 1, "E-2")).await;
    assert_ne!(v2["records"][0]["card_ref"], v["records"][0]["card_ref"]);
    for i in 3..=10 {
        assert_eq!(lookup(&a, &path("door", 1, &format!("E-{i}"))).await.0, 200);
    }
    assert_eq!(lookup(&a, &path("door", 1, "E-11")).await.0, 429);
    assert_eq!(lookup(&a, &path("reader", 1, "E-12")).await.0, 200);
}

/// No following anyone live or round the limit: a window must end at
/// least ten minutes ago, look-ups about a card count against its holder
/// (a replacement card starts no fresh count), and every refusal — a
/// malformed query included — is in the look-up audit.
#[tokio::test]
async fn no_live_following_and_no_fresh_count_for_a_replacement() {
    let sc = scene(2).await;
    let (t0, now) = (sc.t0, sc.now());
    let a = sc.h.admin();
    let (s, v) = lookup(&a, &jq("card", sc.card, t0 - HOUR, now - 60_000_000, "L-1")).await;
    assert_eq!(s, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("live"), "{v}");
    let old = now - LIVE_GUARD;
    assert_eq!(
        lookup(&a, &jq("card", sc.card, t0 - HOUR, old, "L-2"))
            .await
            .0,
        200
    );
    // A replacement card of the same person: the same count (2 a day).
    let (s, v) = a.call(Op::CardReplace, &[&sc.holder]).send().await.unwrap();
    assert_eq!(s, 201, "{v}");
    let new_card = v["card"]["id"].as_u64().unwrap();
    assert_eq!(
        lookup(&a, &jq("card", new_card, t0 - HOUR, old, "L-3"))
            .await
            .0,
        200
    );
    assert_eq!(
        lookup(&a, &jq("card", new_card, t0 - HOUR, old, "L-4"))
            .await
            .0,
        429
    );
    assert_eq!(
        lookup(&a, &jq("card", sc.card, t0 - HOUR, old, "L-5"))
            .await
            .0,
        429
    );
    // Malformed look-ups are refused and recorded too.
    let before = sc.lookups().await.len();
    let (s, _) = a
        .call(Op::JournalLookup, &[])
        .query(&[("by", "card"), ("id", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 400);
    let (s, _) = lookup(&a, &jq("card", sc.card, t0, old, "bad ticket!")).await;
    assert_eq!(s, 400);
    assert_eq!(
        sc.lookups().await.len(),
        before + 2,
        "refused look-ups are recorded"
    );
}
