//! Door events from controllers (protocol v2) on the appliance: journaled
//! under the journal's rules, acknowledged once journaled, deduplicated
//! when resent, turned into alarms the security office sees and
//! acknowledges, counted in metrics.

use portcullis::api::Op;
use portcullis::protocol::{DoorEvent, DoorEventKind, ErrorCode, Frame};
use serde_json::json;

use crate::common::{http_get, Harness, READER};

fn event(id: u64, door: u32, kind: DoorEventKind, begins: bool) -> Frame {
    Frame::Event(DoorEvent {
        event_id: id,
        door,
        kind,
        begins,
        observed_us: 1_796_000_000_000_000 + id,
    })
}

async fn until<F: Fn(&serde_json::Value) -> bool>(h: &Harness, f: F) -> serde_json::Value {
    for _ in 0..100 {
        let (s, v) = h.admin().call(Op::AlarmsList, &[]).send().await.unwrap();
        assert_eq!(s, 200, "{v}");
        if f(&v) {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("alarms never reached the expected state");
}

#[tokio::test]
async fn door_events_become_alarms_and_are_journaled_once() {
    let h = Harness::start().await;
    let mut r = h.reader(READER).await;
    assert_eq!(r.version, 2, "the appliance speaks version 2");
    r.send(&event(1, 1, DoorEventKind::ForcedOpen, true))
        .await
        .unwrap();
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::EventAck { event_id: 1 })
    );
    let v = until(&h, |v| v.as_array().is_some_and(|a| a.len() == 1)).await;
    assert_eq!(v[0]["door"], 1);
    assert_eq!(v[0]["kind"], "forced_open");
    assert!(v[0]["call"].as_str().unwrap().contains("Police"));
    let (_, text) = http_get(h.app().metrics_addr(), "/metrics").await;
    assert!(text.contains("portcullis_doors_in_alarm 1"), "{text}");
    assert!(
        text.contains("portcullis_door_alarms{kind=\"forced_open\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_door_events_total{kind=\"forced_open\"} 1"),
        "{text}"
    );

    // Resent (the acknowledgement was lost): acknowledged again, journaled
    // once; the journal holds exactly one record of it.
    r.send(&event(1, 1, DoorEventKind::ForcedOpen, true))
        .await
        .unwrap();
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::EventAck { event_id: 1 })
    );
    // A door the controller does not serve: refused, not journaled.
    r.send(&event(2, 3, DoorEventKind::Tamper, true))
        .await
        .unwrap();
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::Error {
            request_id: 2,
            code: ErrorCode::DoorNotAssigned
        })
    );
    // ... and covered by the acknowledgement, so it is not resent forever.
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::EventAck { event_id: 2 })
    );

    // The security office acknowledges; the alarm stays until it is over.
    let (s, v) = h
        .admin()
        .call(Op::AlarmAck, &[&1, &"forced_open"])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["acknowledged_by"], "admin");
    let (s, _) = h
        .admin()
        .call(Op::AlarmAck, &[&2, &"held_open"])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 404);
    r.send(&event(3, 1, DoorEventKind::ForcedOpen, false))
        .await
        .unwrap();
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::EventAck { event_id: 3 })
    );
    until(&h, |v| v.as_array().is_some_and(|a| a.is_empty())).await;

    // The events are in the journal, for door look-ups (not card ones).
    let core = h.app().core();
    let all = core.journal.read(0, u64::MAX, 100).unwrap();
    let events: Vec<_> = all
        .iter()
        .filter(|e| matches!(e.item, portcullis::store::journal::Journaled::Event(_)))
        .collect();
    assert_eq!(events.len(), 2, "{all:?}");
    // A version 1 reader cannot send events.
    let (s, v) = h
        .admin()
        .call(Op::ReaderRegister, &[&"v1-reader"])
        .json(&json!({ "doors": [1] }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    h.pki
        .issue(portcullis::pki::identity::Role::Reader, "v1-reader")
        .unwrap();
    let mut old = portcullis::ReaderClient::connect_raw(
        h.app().reader_addr(),
        h.client_tls(portcullis::pki::identity::Role::Reader, "v1-reader"),
    )
    .await
    .unwrap();
    old.send(&Frame::Hello {
        min_version: 1,
        max_version: 1,
    })
    .await
    .unwrap();
    assert!(matches!(
        old.recv().await.unwrap(),
        Some(Frame::HelloOk { version: 1, .. })
    ));
    old.send(&event(9, 1, DoorEventKind::Tamper, true))
        .await
        .unwrap();
    assert!(matches!(
        old.recv().await.unwrap(),
        Some(Frame::Error {
            code: ErrorCode::UnexpectedFrame,
            ..
        })
    ));
}

/// Alarms survive a restart (they are in the ledger), and the dedup mark
/// too: a controller resending after the appliance restarted is not
/// journaled twice.
#[tokio::test]
async fn alarms_and_event_marks_survive_a_restart() {
    let mut h = Harness::start().await;
    let mut r = h.reader(READER).await;
    r.send(&event(5, 2, DoorEventKind::HeldOpen, true))
        .await
        .unwrap();
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::EventAck { event_id: 5 })
    );
    until(&h, |v| v.as_array().is_some_and(|a| a.len() == 1)).await;
    drop(r);
    h.restart().await;
    let v = until(&h, |v| v.as_array().is_some_and(|a| a.len() == 1)).await;
    assert_eq!(v[0]["kind"], "held_open");
    let mut r = h.reader(READER).await;
    r.send(&event(5, 2, DoorEventKind::HeldOpen, true))
        .await
        .unwrap();
    assert_eq!(
        r.recv().await.unwrap(),
        Some(Frame::EventAck { event_id: 5 })
    );
    let all = h.app().core().journal.read(0, u64::MAX, 100).unwrap();
    assert_eq!(all.len(), 1, "resent after a restart and journaled twice");
}
