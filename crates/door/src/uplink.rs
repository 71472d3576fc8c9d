//! The controller's one connection to the appliance: mutual TLS with the
//! controller's certificate, HELLO for version 2, then VERIFYs pipelined
//! as card reads arrive and door events sent in order from the buffer.
//!
//! Addresses are tried in turn; after a round in which none answered the
//! controller waits, doubling the wait up to a maximum, with jitter so
//! controllers restarted together do not return together. While no
//! appliance is connected every card read is denied at once (fail
//! secure) and counted; events wait in the buffer.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_protocol::{
    ClientError, Credential, Decision, ErrorCode, Frame, ReaderClient, Reason, VerifyRequest,
};
use rand::Rng;
use rustls::ClientConfig;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::timeout;

use crate::buffer::EventBuffer;
use crate::config::Uplink as Cfg;
use crate::metrics::{FailCause, Metrics};
use crate::reader::ReaderMsg;

/// The appliance's answer to a card read, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Open the door.
    Grant,
    /// Do not; the appliance's reason.
    Deny(Reason),
    /// The appliance refused the request itself (a door not registered to
    /// this controller).
    Refused(ErrorCode),
    /// No answer: denied at the door.
    FailSecure(FailCause),
}

/// A card read to verify.
#[derive(Debug)]
pub struct Job {
    /// The door.
    pub door: u32,
    /// What the reader read.
    pub credential: Credential,
    /// Chosen by the reader thread; echoed in the answer.
    pub token: u64,
    /// Where the answer goes.
    pub reply: std::sync::mpsc::Sender<ReaderMsg>,
}

impl Job {
    fn answer(self, verdict: Verdict, metrics: &Metrics) {
        if let Verdict::FailSecure(c) = verdict {
            metrics.fail_secure(c);
        }
        let _ = self.reply.send(ReaderMsg::Verdict {
            token: self.token,
            verdict,
        });
    }
}

/// Card reads waiting for a free slot on the connection before they are
/// denied as `overloaded`.
const BACKLOG: usize = 1024;

/// Everything the uplink task needs.
pub struct Uplink {
    /// Timings.
    pub cfg: Cfg,
    /// Appliance addresses, in the order tried.
    pub appliances: Vec<SocketAddr>,
    /// TLS client configuration with the controller's certificate.
    pub tls: Arc<ClientConfig>,
    /// Card reads from the reader threads.
    pub jobs: mpsc::Receiver<Job>,
    /// Door events waiting.
    pub buffer: Arc<Mutex<EventBuffer>>,
    /// Rung when an event is added to the buffer.
    pub events: Arc<Notify>,
    /// Every reader thread, told when the uplink comes and goes.
    pub readers: Vec<std::sync::mpsc::Sender<ReaderMsg>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Turns true at shutdown.
    pub stop: watch::Receiver<bool>,
}

/// The same TLS configuration with an empty session-ticket store.
fn forget_sessions(tls: &Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut fresh = (**tls).clone();
    fresh.resumption = rustls::client::Resumption::default();
    Arc::new(fresh)
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

enum Ended {
    /// The connection ended; try again.
    Lost(String),
    /// Shutting down.
    Stop,
}

impl Uplink {
    fn tell_readers(&self, up: bool) {
        self.metrics.uplink_up.store(i64::from(up), Relaxed);
        for r in &self.readers {
            let _ = r.send(ReaderMsg::Uplink(up));
        }
    }

    /// Runs until shutdown.
    pub async fn run(mut self) {
        let mut round = 0u32;
        let mut first = 0usize;
        self.tell_readers(false);
        loop {
            let mut connected = false;
            for i in 0..self.appliances.len() {
                let at = (first + i) % self.appliances.len();
                let addr = self.appliances[at];
                let connect = timeout(
                    ms(self.cfg.connect_timeout_ms),
                    ReaderClient::connect(addr, self.tls.clone()),
                );
                let Some(r) = self.deny_while(connect).await else {
                    return;
                };
                let client = match r {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => {
                        self.metrics.uplink_connect_failures.fetch_add(1, Relaxed);
                        if round == 0 {
                            tracing::warn!(%addr, error = %e, "appliance not reachable");
                        }
                        match e {
                            // "Try another appliance": capacity, a start
                            // still catching up with its cluster, a drain.
                            ClientError::Refused(
                                ErrorCode::AtCapacity
                                | ErrorCode::NotReady
                                | ErrorCode::ShuttingDown,
                            ) => {
                                tracing::info!(%addr, error = %e, "appliance not serving now; trying the next");
                            }
                            ClientError::Refused(_) => {
                                tracing::error!(%addr, error = %e, "appliance refused this controller");
                            }
                            _ => {
                                // Perhaps a resumed TLS session the appliance
                                // closed (a certificate past its dates): the
                                // next try makes a full handshake, whose
                                // error says what is wrong.
                                self.tls = forget_sessions(&self.tls);
                            }
                        }
                        continue;
                    }
                    Err(_) => {
                        self.metrics.uplink_connect_failures.fetch_add(1, Relaxed);
                        if round == 0 {
                            tracing::warn!(%addr, "appliance did not answer in time");
                        }
                        continue;
                    }
                };
                self.metrics.uplink_connects.fetch_add(1, Relaxed);
                tracing::info!(%addr, version = client.version, "connected to the appliance");
                if client.version < 2 {
                    tracing::error!(%addr, "the appliance speaks version 1 only: door events stay buffered");
                }
                first = at;
                connected = true;
                self.tell_readers(true);
                let began = Instant::now();
                let ended = self.session(client).await;
                self.tell_readers(false);
                match ended {
                    Ended::Stop => return,
                    Ended::Lost(why) => {
                        tracing::warn!(%addr, why, "connection to the appliance lost");
                    }
                }
                // A connection that lasted resets the back-off.
                if began.elapsed() > Duration::from_secs(10) {
                    round = 0;
                }
                break;
            }
            if connected {
                continue;
            }
            // Every address failed: wait, doubling, with jitter.
            let cap = self.cfg.backoff_max_ms;
            let base = self
                .cfg
                .backoff_min_ms
                .saturating_mul(1u64 << round.min(16))
                .min(cap);
            let wait = rand::thread_rng().gen_range(base / 2..=base);
            round = round.saturating_add(1);
            if self
                .deny_while(tokio::time::sleep(ms(wait)))
                .await
                .is_none()
            {
                return;
            }
        }
    }

    /// Awaits `fut`, denying every card read that arrives meanwhile;
    /// `None` at shutdown.
    async fn deny_while<F: std::future::Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Some(out),
                job = self.jobs.recv() => match job {
                    Some(j) => j.answer(Verdict::FailSecure(FailCause::Unreachable), &self.metrics),
                    None => return None,
                },
                _ = self.stop.changed() => return None,
            }
        }
    }

    async fn session(&mut self, client: ReaderClient) -> Ended {
        let version = client.version;
        let max_in_flight = usize::from(client.max_in_flight.max(2));
        let mut conn = client.into_connection();
        let verify_timeout = ms(self.cfg.verify_timeout_ms);
        let ping = ms(self.cfg.ping_ms);
        let mut inflight: HashMap<u32, (Job, Instant)> = HashMap::new();
        let mut backlog: VecDeque<(Job, Instant)> = VecDeque::new();
        let mut next_id: u32 = 1;
        // Events sent and not yet acknowledged, oldest first.
        let mut unacked: VecDeque<u64> = VecDeque::new();
        let mut sent_through: u64 = 0;
        let mut pinged = false;
        let mut last_rx = Instant::now();
        let mut last_tx = Instant::now();
        let mut tick = tokio::time::interval(ms(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let ended = loop {
            // Fill free slots: events first (they wait longest), then card
            // reads. One slot stays free for a PING.
            let room = |inflight: usize, unacked: usize| max_in_flight - 1 > inflight + unacked;
            if version >= 2 {
                let buf = self.buffer.lock().expect("buffer lock");
                for e in buf.after(sent_through) {
                    if !room(inflight.len(), unacked.len()) || unacked.len() >= max_in_flight / 2 {
                        break;
                    }
                    conn.queue(&Frame::Event(*e));
                    sent_through = e.event_id;
                    unacked.push_back(e.event_id);
                }
            }
            while room(inflight.len(), unacked.len()) {
                let Some((job, at)) = backlog.pop_front() else {
                    break;
                };
                let id = next_id;
                next_id = next_id.wrapping_add(1).max(1);
                conn.queue(&Frame::Verify(VerifyRequest {
                    request_id: id,
                    door: job.door,
                    credential: job.credential,
                }));
                inflight.insert(id, (job, at));
            }
            if conn.has_queued() {
                last_tx = Instant::now();
                match timeout(ms(self.cfg.connect_timeout_ms), conn.flush()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break Ended::Lost(format!("write: {e}")),
                    Err(_) => break Ended::Lost("write timed out".into()),
                }
            }

            tokio::select! {
                biased;
                _ = self.stop.changed() => break Ended::Stop,
                r = conn.fill() => {
                    match r {
                        Ok(0) => break Ended::Lost("closed by the appliance".into()),
                        Err(e) => break Ended::Lost(format!("read: {e}")),
                        Ok(_) => {}
                    }
                    last_rx = Instant::now();
                    pinged = false;
                    let mut fatal = None;
                    loop {
                        let frame = match conn.next_frame() {
                            Ok(Some(f)) => f,
                            Ok(None) => break,
                            Err(e) => {
                                fatal = Some(format!("bad frame from the appliance: {e}"));
                                break;
                            }
                        };
                        match frame {
                            Frame::VerifyResult { request_id, decision, reason } => {
                                if let Some((job, at)) = inflight.remove(&request_id) {
                                    self.metrics.verify_seconds(at.elapsed());
                                    let v = if decision == Decision::Grant {
                                        Verdict::Grant
                                    } else {
                                        Verdict::Deny(reason)
                                    };
                                    job.answer(v, &self.metrics);
                                }
                            }
                            Frame::EventAck { event_id } => {
                                while unacked.front().is_some_and(|id| *id <= event_id) {
                                    unacked.pop_front();
                                }
                                let mut buf = self.buffer.lock().expect("buffer lock");
                                if let Err(e) = buf.forget_through(event_id) {
                                    tracing::warn!(error = %e, "could not record an acknowledgement in the event buffer");
                                }
                                self.metrics.events_buffered.store(buf.len() as i64, Relaxed);
                            }
                            Frame::Error { request_id, code } if !code.is_fatal() => {
                                if let Some((job, _)) = inflight.remove(&request_id) {
                                    self.metrics.verifies_refused.fetch_add(1, Relaxed);
                                    tracing::error!(door = job.door, code = code.as_str(), "the appliance refused a card read: is the door registered to this controller?");
                                    job.answer(Verdict::Refused(code), &self.metrics);
                                } else if unacked.iter().any(|id| *id as u32 == request_id) {
                                    // The acknowledgement that follows
                                    // covers it; it is not resent.
                                    self.metrics.events_refused.fetch_add(1, Relaxed);
                                    tracing::error!(code = code.as_str(), "the appliance refused a door event: is the door registered to this controller?");
                                }
                            }
                            Frame::Error { code, .. } => {
                                fatal = Some(format!("appliance closed the connection: {}", code.as_str()));
                                break;
                            }
                            Frame::Pong { .. } => {}
                            other => {
                                fatal = Some(format!("unexpected frame from the appliance: {other:?}"));
                                break;
                            }
                        }
                    }
                    if let Some(why) = fatal {
                        break Ended::Lost(why);
                    }
                }
                job = self.jobs.recv() => match job {
                    None => break Ended::Stop,
                    Some(job) => {
                        if backlog.len() >= BACKLOG {
                            job.answer(Verdict::FailSecure(FailCause::Overloaded), &self.metrics);
                        } else {
                            backlog.push_back((job, Instant::now()));
                        }
                    }
                },
                _ = self.events.notified() => {}
                _ = tick.tick() => {
                    let now = Instant::now();
                    // Unanswered in time: denied at the door. A late answer
                    // finds nothing and is ignored.
                    let late: Vec<u32> = inflight
                        .iter()
                        .filter(|(_, (_, at))| now.duration_since(*at) > verify_timeout)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in late {
                        if let Some((job, _)) = inflight.remove(&id) {
                            job.answer(Verdict::FailSecure(FailCause::Timeout), &self.metrics);
                        }
                    }
                    while backlog.front().is_some_and(|(_, at)| now.duration_since(*at) > verify_timeout) {
                        if let Some((job, _)) = backlog.pop_front() {
                            job.answer(Verdict::FailSecure(FailCause::Timeout), &self.metrics);
                        }
                    }
                    if now.duration_since(last_rx) > 3 * ping {
                        break Ended::Lost("the appliance stopped answering".into());
                    }
                    if !pinged && now.duration_since(last_tx) > ping && now.duration_since(last_rx) > ping {
                        pinged = true;
                        conn.queue(&Frame::Ping { request_id: 0 });
                    }
                }
            }
        };
        // Whatever was asked and not answered is denied at the door.
        for (_, (job, _)) in inflight.drain() {
            job.answer(Verdict::FailSecure(FailCause::Unreachable), &self.metrics);
        }
        for (job, _) in backlog.drain(..) {
            job.answer(Verdict::FailSecure(FailCause::Unreachable), &self.metrics);
        }
        ended
    }
}
