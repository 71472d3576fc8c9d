//! The reader listener: TLS 1.3 with client certificates, protocol v1.
//!
//! One task per connection, framed by the shared
//! [`crate::protocol::Connection`]. Each round reads what the socket has,
//! decodes every whole frame, decides each VERIFY from the map, queues the decision
//! records in one journal append, waits for their group commit, and writes
//! every answer of the round in one TLS write. Pipelined requests therefore
//! cost one journal hand-off, one commit wait and one write per round, not
//! per request.

use std::sync::Arc;
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::app::shared::Shared;
use crate::config::ms;
use crate::pki::identity::{self, Role};
use crate::protocol::Reason;
use crate::protocol::{Connection, DoorEvent, ErrorCode, Frame, MIN_VERSION, VERSION};
use crate::records::readers::Reader;
use crate::server::listener::{accept_loop, Pending};
use crate::server::tls::failure_reason;
use crate::store::journal::{EventRecord, Journaled, Record};

/// Accepts reader connections until `stop` turns true, within the bounds
/// of the reader [`Gate`] (see [`crate::server::listener`]).
pub async fn run(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    core: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let gate = core.gates.reader.clone();
    let metrics = core.metrics.clone();
    let conn_stop = stop.clone();
    accept_loop(listener, gate, metrics, stop, move |a| {
        connection(a, acceptor.clone(), core.clone(), conn_stop.clone())
    })
    .await
}

/// Decrements the connection gauge when the connection ends, however it ends.
struct Open(Arc<Shared>);
impl Drop for Open {
    fn drop(&mut self) {
        self.0.metrics.connections.decrement(1.0);
    }
}

async fn connection(
    p: Pending,
    acceptor: TlsAcceptor,
    core: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let Pending { tcp, guard, .. } = p;
    let _ = tcp.set_nodelay(true);
    let cfg = &core.config.reader;
    let tls = match timeout(ms(cfg.handshake_timeout_ms), acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let reason = failure_reason(&e);
            core.metrics.tls_failure(false, reason).increment(1);
            tracing::debug!(reason, "reader TLS handshake failed");
            return;
        }
        Err(_) => {
            core.metrics.tls_failure(false, "timeout").increment(1);
            return;
        }
    };
    let session = tls.get_ref().1;
    let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    // A resumed session skipped the certificate checks of a full
    // handshake; the dates are the one that may have changed since (the
    // rest is checked below for every connection). Closed as a full
    // handshake with an expired certificate would be: counted, no frame.
    if resumed && !identity::valid_at(session.peer_certificates(), unix_now()) {
        core.metrics
            .tls_failure(false, "bad_certificate")
            .increment(1);
        let reader = identity::from_peer_certificates(session.peer_certificates())
            .map(|id| id.name)
            .unwrap_or_default();
        tracing::warn!(
            reader,
            "resumed reader session closed: its certificate is out of its validity dates"
        );
        return;
    }
    let peer_id = identity::from_peer_certificates(session.peer_certificates());
    let mut conn = Connection::new(tls, cfg.max_frame);
    let id = match peer_id {
        Ok(id) => id,
        Err(e) => {
            core.metrics
                .tls_failure(false, "bad_certificate")
                .increment(1);
            tracing::info!(error = %e, "reader certificate carries no identity");
            return;
        }
    };
    if id.role != Role::Reader {
        tracing::warn!(role = %id.role, "non-reader certificate on the reader port refused");
        refuse(&mut conn, &core, ErrorCode::RoleNotPermitted).await;
        return;
    }
    if core.revoked.is_revoked(&id.serial) {
        tracing::warn!(reader = %id.name, "revoked reader certificate refused");
        refuse(&mut conn, &core, ErrorCode::CertificateRevoked).await;
        return;
    }
    let Some(reader) = core.readers.by_name(&id.name) else {
        tracing::warn!(reader = %id.name, "unregistered reader refused");
        refuse(&mut conn, &core, ErrorCode::ReaderNotRegistered).await;
        return;
    };
    // A clustered appliance that has just started answers nobody from
    // state it has not checked against the cluster: the door goes to
    // another appliance.
    if core.cluster.as_ref().is_some_and(|c| !c.serving_readers()) {
        tracing::info!(reader = %id.name, "reader refused: not caught up with the cluster yet");
        refuse(&mut conn, &core, ErrorCode::NotReady).await;
        return;
    }
    // Authenticated and registered: no longer pending; a session slot now,
    // or a refusal if the listener is full.
    drop(guard);
    let Some(_slot) = core
        .gates
        .reader
        .enter_as(&id.name, cfg.max_sessions_per_reader, 0, true)
    else {
        tracing::warn!(reader = %id.name, "reader refused: listener at max_connections");
        refuse(&mut conn, &core, ErrorCode::AtCapacity).await;
        return;
    };
    core.metrics.connections.increment(1.0);
    core.metrics.connections_total.increment(1);
    if resumed {
        core.metrics.connections_resumed.increment(1);
    }
    let _open = Open(core.clone());
    Session {
        core: core.clone(),
        reader,
        serial: id.serial,
        stop,
    }
    .run(&mut conn)
    .await;
}

async fn refuse(conn: &mut Connection<TlsStream<TcpStream>>, core: &Shared, code: ErrorCode) {
    core.metrics.frame_rejected(code).increment(1);
    conn.queue(&Frame::Error {
        request_id: 0,
        code,
    });
    let w = ms(core.config.reader.write_timeout_ms);
    let _ = timeout(w, async {
        conn.flush().await?;
        conn.shutdown().await
    })
    .await;
}

struct Session {
    core: Arc<Shared>,
    reader: Reader,
    /// The certificate's serial, re-checked whenever a certificate is
    /// revoked.
    serial: String,
    stop: watch::Receiver<bool>,
}

impl Session {
    async fn run(mut self, conn: &mut Connection<TlsStream<TcpStream>>) {
        let core = self.core.clone();
        let cfg = &core.config.reader;
        let max_frame = cfg.max_frame;
        let max_in_flight = cfg.max_in_flight;
        let mut records: Vec<Journaled> = Vec::with_capacity(64);
        let mut events: Vec<DoorEvent> = Vec::new();
        // The highest event this connection has seen: events arrive in
        // order, each acknowledged cumulatively.
        let mut last_event = core.journal.event_mark(self.reader.id);
        let mut hello = false;
        let mut version = MIN_VERSION;
        let mut revocations = core.revoked.generation();
        let mut revoked_rx = core.revoked.subscribe();
        // One idle timer for the connection's life, re-armed only when it
        // fires early: a timer made per round costs a timer-wheel insert
        // and removal per answer (measured in docs/PERFORMANCE.md).
        let mut last_read = tokio::time::Instant::now();
        let idle = tokio::time::sleep(ms(cfg.handshake_timeout_ms));
        tokio::pin!(idle);
        loop {
            // Read.
            let wait = ms(if hello {
                cfg.idle_timeout_ms
            } else {
                cfg.handshake_timeout_ms
            });
            let mut fatal: Option<ErrorCode> = None;
            let mut closing = false;
            tokio::select! {
                biased;
                _ = crate::server::shutdown::stopped(&mut self.stop) => {
                    fatal = Some(ErrorCode::ShuttingDown);
                }
                // An idle connection hears of a revocation at once.
                Ok(()) = revoked_rx.changed() => {}
                () = &mut idle => {
                    let due = last_read + wait;
                    if tokio::time::Instant::now() >= due {
                        fatal = Some(ErrorCode::IdleTimeout);
                    } else {
                        idle.as_mut().reset(due);
                        continue;
                    }
                }
                r = conn.fill() => match r {
                    Err(_) => return,
                    Ok(0) => {
                        // End of stream. A partial frame left behind is a
                        // truncated frame; otherwise a clean close.
                        if conn.buffered() == 0 {
                            closing = true;
                        } else {
                            fatal = Some(ErrorCode::MalformedFrame);
                        }
                    }
                    Ok(_) => last_read = tokio::time::Instant::now(),
                }
            }
            let started = Instant::now();
            // A revocation applies to open connections at their next round.
            let generation = core.revoked.generation();
            if generation != revocations {
                revocations = generation;
                if core.revoked.is_revoked(&self.serial) {
                    fatal = Some(ErrorCode::CertificateRevoked);
                }
            }

            // Decode and decide every whole frame buffered.
            let now = core.now_secs();
            let mut requests = 0usize;
            let mut verifies = 0usize;
            let mut ack: Option<u64> = None;
            while fatal.is_none() {
                let frame = match conn.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        fatal = Some(e.error_code());
                        break;
                    }
                };
                if !hello {
                    match frame {
                        // The highest version both speak.
                        Frame::Hello {
                            min_version,
                            max_version,
                        } if max_version.min(VERSION) >= min_version.max(MIN_VERSION) => {
                            hello = true;
                            version = max_version.min(VERSION);
                            conn.queue(&Frame::HelloOk {
                                version,
                                max_frame: max_frame as u16,
                                max_in_flight: max_in_flight as u16,
                            });
                        }
                        Frame::Hello { .. } => fatal = Some(ErrorCode::UnsupportedVersion),
                        _ => fatal = Some(ErrorCode::UnexpectedFrame),
                    }
                    continue;
                }
                requests += 1;
                if requests > max_in_flight {
                    fatal = Some(ErrorCode::TooManyInFlight);
                    break;
                }
                match frame {
                    Frame::Verify(req) => {
                        if !core.readers.permits(self.reader.id, req.door) {
                            core.metrics
                                .frame_rejected(ErrorCode::DoorNotAssigned)
                                .increment(1);
                            conn.queue(&Frame::Error {
                                request_id: req.request_id,
                                code: ErrorCode::DoorNotAssigned,
                            });
                            continue;
                        }
                        let v = core.decide(&req.credential, req.door, now);
                        let decision = v.reason.decision();
                        core.metrics.verification(v.reason).increment(1);
                        if v.reason == Reason::Superseded {
                            core.metrics.superseded_presented.increment(1);
                        }
                        records.push(Journaled::Decision(Record {
                            reader: self.reader.id,
                            door: req.door,
                            card: v.card,
                            tag: v.tag,
                            decision,
                            reason: v.reason,
                        }));
                        verifies += 1;
                        conn.queue(&Frame::VerifyResult {
                            request_id: req.request_id,
                            decision,
                            reason: v.reason,
                        });
                    }
                    Frame::Ping { request_id } => {
                        conn.queue(&Frame::Pong { request_id });
                    }
                    Frame::Event(e) if version >= 2 => {
                        if !core.readers.permits(self.reader.id, e.door) {
                            // Refused, not journaled: the controller drops it.
                            core.metrics
                                .frame_rejected(ErrorCode::DoorNotAssigned)
                                .increment(1);
                            conn.queue(&Frame::Error {
                                request_id: e.event_id as u32,
                                code: ErrorCode::DoorNotAssigned,
                            });
                            // Covered by the acknowledgement: resending it
                            // would only be refused again.
                            last_event = last_event.max(e.event_id);
                            ack = Some(last_event);
                            continue;
                        }
                        // Resent after a lost acknowledgement: acknowledged
                        // again, journaled once.
                        if e.event_id > last_event {
                            records.push(Journaled::Event(EventRecord {
                                reader: self.reader.id,
                                event: e,
                            }));
                            events.push(e);
                        }
                        last_event = last_event.max(e.event_id);
                        ack = Some(last_event);
                    }
                    // A second HELLO, or a frame only the appliance sends.
                    _ => fatal = Some(ErrorCode::UnexpectedFrame),
                }
            }

            // Journal, then answer: nothing is answered before its record is
            // in the WAL.
            if !records.is_empty() {
                let journaled = match core.journal.append_wait(&records).await {
                    Ok(ticket) => core.journal.wait_committed(ticket).await.is_ok(),
                    Err(_) => false,
                };
                if !journaled {
                    conn.discard_queued();
                    ack = None;
                    fatal = Some(ErrorCode::Internal);
                } else {
                    let secs = started.elapsed().as_secs_f64();
                    core.metrics.verify_seconds.record_many(secs, verifies);
                    for e in events.drain(..) {
                        core.door_event(&self.reader.name, e);
                    }
                }
                records.clear();
                events.clear();
            }
            if let Some(event_id) = ack {
                conn.queue(&Frame::EventAck { event_id });
            }
            if let Some(code) = fatal {
                core.metrics.frame_rejected(code).increment(1);
                conn.queue(&Frame::Error {
                    request_id: 0,
                    code,
                });
                tracing::debug!(reader = %self.reader.name, code = code.as_str(), "closing reader connection");
            }
            if conn.has_queued() {
                let w = timeout(ms(cfg.write_timeout_ms), conn.flush()).await;
                if !matches!(w, Ok(Ok(()))) {
                    return;
                }
            }
            if fatal.is_some() || closing {
                let _ = timeout(ms(cfg.write_timeout_ms), conn.shutdown()).await;
                return;
            }
        }
    }
}

/// Wall-clock seconds since the epoch, as the certificate verifier uses.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
