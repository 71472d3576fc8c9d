//! Protocol violations: each gets an ERROR frame and a close, and never
//! disturbs other connections.

use portcullis::protocol::Decision;
use portcullis::protocol::{ErrorCode, Frame};

use crate::common::{Harness, READER};

/// Sends `bytes` on a fresh (HELLO-completed unless `raw`) connection and
/// expects an ERROR with `code`, then the close.
async fn expect_error(h: &Harness, raw: bool, bytes: &[u8], half_close: bool, code: ErrorCode) {
    let mut c = if raw {
        portcullis::client::ReaderClient::connect_raw(
            h.app().reader_addr(),
            h.client_tls(portcullis::pki::identity::Role::Reader, READER),
        )
        .await
        .unwrap()
    } else {
        h.reader(READER).await
    };
    c.send_bytes(bytes).await.unwrap();
    if half_close {
        c.finish_sending().await.unwrap();
    }
    let got = c.recv().await.unwrap();
    assert_eq!(
        got,
        Some(Frame::Error {
            request_id: 0,
            code
        }),
        "for {bytes:02x?}"
    );
    assert_eq!(
        c.recv().await.unwrap(),
        None,
        "connection must close after a fatal error"
    );
}

#[tokio::test]
async fn violations_get_an_error_and_a_close_while_others_keep_working() {
    let h = Harness::start().await;
    let (_, number) = h.issue(1).await;
    let mut bystander = h.reader(READER).await;
    assert_eq!(
        match bystander.verify(1, 1, &number).await.unwrap() {
            Frame::VerifyResult { decision, .. } => decision,
            f => panic!("{f:?}"),
        },
        Decision::Grant
    );

    // Zero length.
    expect_error(&h, false, &[0, 0], false, ErrorCode::MalformedFrame).await;
    // Oversize: announced length above max_frame (512), refused from the header.
    expect_error(
        &h,
        false,
        &[0xff, 0xff, 0x10],
        false,
        ErrorCode::FrameTooLarge,
    )
    .await;
    // PING with a short body.
    expect_error(
        &h,
        false,
        &[0, 3, 0x20, 0, 0],
        false,
        ErrorCode::MalformedFrame,
    )
    .await;
    // Unknown frame type.
    expect_error(&h, false, &[0, 1, 0x55], false, ErrorCode::UnexpectedFrame).await;
    // An appliance-only frame from the reader.
    expect_error(
        &h,
        false,
        &[0, 5, 0x21, 0, 0, 0, 1],
        false,
        ErrorCode::UnexpectedFrame,
    )
    .await;
    // Truncated: half a VERIFY, then end of stream.
    expect_error(
        &h,
        false,
        &[0, 27, 0x10, 0, 0, 0, 1],
        true,
        ErrorCode::MalformedFrame,
    )
    .await;
    // VERIFY before HELLO.
    let mut verify = Vec::new();
    Frame::Ping { request_id: 1 }.encode(&mut verify);
    expect_error(&h, true, &verify, false, ErrorCode::UnexpectedFrame).await;
    // HELLO with the wrong magic.
    expect_error(
        &h,
        true,
        &[0, 7, 1, b'N', b'O', b'P', b'E', 1, 1],
        false,
        ErrorCode::MalformedFrame,
    )
    .await;
    // HELLO for a version this appliance does not speak.
    let mut hello = Vec::new();
    Frame::Hello {
        min_version: 3,
        max_version: 4,
    }
    .encode(&mut hello);
    expect_error(&h, true, &hello, false, ErrorCode::UnsupportedVersion).await;

    // The bystander never noticed.
    match bystander.verify(2, 2, &number).await.unwrap() {
        Frame::VerifyResult { decision, .. } => assert_eq!(decision, Decision::Grant),
        f => panic!("{f:?}"),
    }

    // Every violation was counted.
    let text = h.app().core().metrics.render();
    for code in [
        "malformed_frame",
        "frame_too_large",
        "unexpected_frame",
        "unsupported_version",
    ] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "portcullis_frames_rejected_total{{code=\"{code}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no metric line for {code}"));
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(v >= 1.0, "{line}");
    }
}

#[tokio::test]
async fn too_many_in_flight_is_refused() {
    let h = Harness::start_with(|c| c.reader.max_in_flight = 4).await;
    let mut c = h.reader(READER).await;
    assert_eq!(c.max_in_flight, 4);
    let mut bytes = Vec::new();
    for i in 0..10 {
        Frame::Ping { request_id: i }.encode(&mut bytes);
    }
    c.send_bytes(&bytes).await.unwrap();
    let mut pongs = 0;
    loop {
        match c.recv().await.unwrap() {
            Some(Frame::Pong { .. }) => pongs += 1,
            Some(Frame::Error { code, .. }) => {
                assert_eq!(code, ErrorCode::TooManyInFlight);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pongs <= 4, "answered {pongs} beyond the limit");
    assert_eq!(c.recv().await.unwrap(), None);
}

#[tokio::test]
async fn idle_connection_is_closed_with_a_reason() {
    let h = Harness::start_with(|c| c.reader.idle_timeout_ms = 200).await;
    let mut c = h.reader(READER).await;
    assert_eq!(
        c.recv().await.unwrap(),
        Some(Frame::Error {
            request_id: 0,
            code: ErrorCode::IdleTimeout
        })
    );
    assert_eq!(c.recv().await.unwrap(), None);
}
