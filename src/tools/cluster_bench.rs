//! Measurements of a cluster of appliances (docs/PERFORMANCE.md, issue
//! 12), against real appliances and real NATS servers on loopback:
//!
//! - **propagation**: how long an admin change made on one appliance takes
//!   to be in force on every appliance, seen from readers connected to
//!   each (a card suspended and resumed, over and over);
//! - **fill-log**: a change log of a given length, published straight to
//!   the cluster's stream as an appliance would publish it (each change a
//!   department's record with its audit entry), so that the time a stopped
//!   or new appliance takes to catch up can be measured.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use hdrhistogram::Histogram;

use crate::api::types::Doors;
use crate::api::Op;
use crate::client::AdminClient;
use crate::crypto::numbers::AccessNumber;
use crate::ledger::{Change, Effect};
use crate::pki::identity::{Identity, Role};
use crate::pki::PkiDir;
use crate::protocol::{Frame, Reason};
use crate::records::dlcs::{Dlc, DlcKind};
use crate::store::audit::AuditEntry;
use crate::tools::loadgen::{issue_cards_with_ids, LoadError, LOAD_DOORS, LOAD_READER};
use crate::ReaderClient;

/// What [`propagation`] measured, in microseconds.
#[derive(Debug, Clone, Default)]
pub struct PropagationReport {
    /// Rounds (changes) measured.
    pub rounds: usize,
    /// From sending the change to its acknowledgement by the appliance
    /// that made it: p50, p99, max.
    pub ack_us: [f64; 3],
    /// From sending the change until every appliance answers by it: p50,
    /// p99, max.
    pub everywhere_us: [f64; 3],
    /// From the acknowledgement until every appliance answers by it.
    pub after_ack_us: [f64; 3],
}

fn quantiles(h: &Histogram<u64>) -> [f64; 3] {
    [
        h.value_at_quantile(0.5) as f64,
        h.value_at_quantile(0.99) as f64,
        h.max() as f64,
    ]
}

fn loopback(a: SocketAddr) -> Result<(), LoadError> {
    if a.ip().is_loopback() {
        Ok(())
    } else {
        Err(LoadError::NotLoopback(a))
    }
}

/// Suspends and resumes one card `rounds` times through `admin` (one
/// appliance) and, after each change, asks every reader address in
/// `readers` (one per appliance) until each answers by it.
pub async fn propagation(
    admin_addr: SocketAddr,
    readers: &[SocketAddr],
    certs: PathBuf,
    rounds: usize,
) -> Result<PropagationReport, LoadError> {
    loopback(admin_addr)?;
    for r in readers {
        loopback(*r)?;
    }
    let setup = |what: &str, e: &dyn std::fmt::Display| LoadError::Setup(format!("{what}: {e}"));
    let pki = PkiDir::new(&certs);
    let me = pki.client(Role::SecurityOffice, "admin");
    let tls = crate::protocol::tls::client_config(&pki.ca_cert(), &me.cert, &me.key)
        .map_err(|e| setup("security-office certificate", &e))?;
    let admin = AdminClient::new(admin_addr, tls);
    let reader = pki.client(Role::Reader, LOAD_READER);
    if !reader.cert.exists() {
        pki.issue(Role::Reader, LOAD_READER)
            .map_err(|e| setup("reader certificate", &e))?;
    }
    admin
        .call(Op::ReaderRegister, &[&LOAD_READER])
        .json(&Doors {
            doors: (1..=LOAD_DOORS).collect(),
        })
        .expect::<serde_json::Value>()
        .await
        .map_err(|e| setup("registering the reader", &e))?;
    let (card, number) = issue_cards_with_ids(&admin, 1)
        .await?
        .pop()
        .ok_or_else(|| LoadError::Setup("no card issued".into()))?;
    let rtls = crate::protocol::tls::client_config(&pki.ca_cert(), &reader.cert, &reader.key)
        .map_err(|e| setup("reader certificate", &e))?;
    let mut conns = Vec::new();
    for &r in readers {
        conns.push(
            ReaderClient::connect(r, rtls.clone())
                .await
                .map_err(|e| setup(&format!("connecting to {r}"), &e))?,
        );
    }
    // The card is known everywhere before the first round.
    let mut id = 0u32;
    for c in conns.iter_mut() {
        until(
            c,
            &mut id,
            &number,
            Reason::Granted,
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| setup("waiting for the card on every appliance", &e))?;
    }
    let mk = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut ack, mut everywhere, mut after_ack) = (mk(), mk(), mk());
    for round in 0..rounds {
        let (op, want) = if round % 2 == 0 {
            (Op::CardSuspend, Reason::Suspended)
        } else {
            (Op::CardResume, Reason::Granted)
        };
        let t0 = Instant::now();
        admin
            .call(op, &[&card])
            .expect::<serde_json::Value>()
            .await
            .map_err(|e| setup("changing the card", &e))?;
        let acked = t0.elapsed();
        let mut last = Duration::ZERO;
        for c in conns.iter_mut() {
            until(c, &mut id, &number, want, Duration::from_secs(30))
                .await
                .map_err(|e| setup("waiting for the change", &e))?;
            last = last.max(t0.elapsed());
        }
        let us = |d: Duration| (d.as_micros() as u64).max(1);
        let _ = ack.record(us(acked));
        let _ = everywhere.record(us(last));
        let _ = after_ack.record(us(last.saturating_sub(acked)));
    }
    Ok(PropagationReport {
        rounds,
        ack_us: quantiles(&ack),
        everywhere_us: quantiles(&everywhere),
        after_ack_us: quantiles(&after_ack),
    })
}

/// Verifies `number` at door 1 until the answer is `want`.
async fn until(
    c: &mut ReaderClient,
    id: &mut u32,
    number: &AccessNumber,
    want: Reason,
    limit: Duration,
) -> Result<(), String> {
    let end = Instant::now() + limit;
    loop {
        *id = id.wrapping_add(1);
        match c.verify(*id, 1, number).await {
            Ok(Frame::VerifyResult { reason, .. }) if reason == want => return Ok(()),
            Ok(Frame::VerifyResult { .. }) => {}
            Ok(other) => return Err(format!("unexpected answer {other:?}")),
            Err(e) => return Err(e.to_string()),
        }
        if Instant::now() > end {
            return Err(format!("never answered {}", want.as_str()));
        }
    }
}

/// Publishes `changes` changes to the change stream `<prefix>_CHANGES` of
/// the NATS servers at `nats` (after whatever it holds), each one
/// department record and its audit entry, in one order; returns the
/// stream's last position and the publishing rate (changes/s).
pub async fn fill_log(nats: &str, prefix: &str, changes: u64) -> Result<(u64, f64), LoadError> {
    let err = |what: &str, e: &dyn std::fmt::Display| LoadError::Setup(format!("{what}: {e}"));
    let client = async_nats::connect(nats)
        .await
        .map_err(|e| err("connecting to NATS", &e))?;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(30))
        .max_ack_inflight(4096)
        .build(client);
    let name = format!("{prefix}_CHANGES");
    let subject = format!("{}.changes", prefix.to_ascii_lowercase());
    let mut stream = js
        .get_stream(&name)
        .await
        .map_err(|e| err("finding the change stream (start an appliance first)", &e))?;
    let mut last = stream
        .info()
        .await
        .map_err(|e| err("reading the change stream", &e))?
        .state
        .last_sequence;
    let who = Identity {
        name: "fill-log".into(),
        role: Role::SecurityOffice,
        serial: String::new(),
    };
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for i in 0..changes {
        let now = crate::clock::Clock::now_micros(&crate::clock::SystemClock);
        let code = format!("Bench{}", i % 1000);
        let dlc = Dlc {
            code: code.clone(),
            name: format!("Bench department {}", i % 1000),
            kind: DlcKind::Department,
        };
        let change = Change::at(now)
            .with(Effect::Dlc(dlc))
            .audited(AuditEntry::new(
                now,
                &who,
                "dlc.put",
                format!("dlc:{code}"),
                serde_json::Value::Null,
            ));
        let msg = jetstream::message::PublishMessage::build()
            .payload(Bytes::from(crate::cluster::encode_change(&change)))
            .expected_last_sequence(last);
        let ack = js
            .send_publish(subject.clone(), msg)
            .await
            .map_err(|e| err("publishing", &e))?;
        last += 1;
        pending.push_back(ack);
        if pending.len() >= 1024 {
            if let Some(a) = pending.pop_front() {
                a.await.map_err(|e| err("publishing", &e))?;
            }
        }
    }
    for a in pending {
        a.await.map_err(|e| err("publishing", &e))?;
    }
    let rate = changes as f64 / started.elapsed().as_secs_f64().max(1e-9);
    Ok((last, rate))
}
