//! The load generator: real mTLS reader connections against a running
//! appliance on loopback, closed-loop (as fast as answers come) or open-loop
//! (a fixed offered rate, latency measured from each request's intended send
//! time so queueing is not hidden). Every answer is checked.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::mpsc;

use crate::api::types::{Created, Doors, IssueCard, IssuedCard, Levels};
use crate::api::Op;
use crate::client::{AdminClient, AdminError, ClientError, ReaderClient};
use crate::crypto::numbers::{AccessNumber, Generator};
use crate::pki::identity::Role;
use crate::pki::PkiDir;
use crate::policy::levels::{Definitions, Level};
use crate::protocol::client::ReaderStream;
use crate::protocol::Reason;
use crate::protocol::{Connection, Credential, Frame, VerifyRequest};

/// The reader identity the load generator connects as.
pub const LOAD_READER: &str = "load-reader";
/// Connections per load reader certificate (below the appliance's default
/// `reader.max_sessions_per_reader`).
pub const SESSIONS_PER_READER: usize = 200;
/// Doors registered to it.
pub const LOAD_DOORS: u32 = 16;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Reader listener (must be loopback).
    pub addr: SocketAddr,
    /// Admin listener (must be loopback), for set-up.
    pub admin: SocketAddr,
    /// Dev PKI directory.
    pub certs: PathBuf,
    /// Reader connections.
    pub connections: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Measured duration (zero: connect only, the reconnect storm).
    pub duration: Duration,
    /// Open loop: total offered verifications per second.
    pub rate: Option<f64>,
    /// Share of requests for known cards (the rest are random numbers).
    pub known_fraction: f64,
    /// Cards to issue for the run (ignored with `numbers`).
    pub cards: usize,
    /// Use these access numbers as the known cards instead of issuing.
    pub numbers: Option<Vec<AccessNumber>>,
    /// Print a progress line every second.
    pub progress: bool,
    /// With a zero duration: after the first storm, close every connection
    /// cleanly and measure a second storm of the same readers coming back,
    /// each with the session ticket of its first connection (readers
    /// reconnecting to a running appliance, not after its restart).
    pub reconnect: bool,
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Connections admitted.
    pub connected: usize,
    /// Connections that failed to connect.
    pub connect_failures: usize,
    /// Seconds from the first connect until every connection was admitted
    /// and had its first answer.
    pub connect_secs: f64,
    /// With `reconnect`: connections admitted in the second storm.
    pub reconnected: usize,
    /// Of those, on a resumed TLS session.
    pub resumed: usize,
    /// Seconds the second storm took, as `connect_secs`.
    pub reconnect_secs: f64,
    /// Connections of the second storm that failed.
    pub reconnect_failures: usize,
    /// Answers received in the measured phase.
    pub answered: u64,
    /// Answers whose decision was not the expected one.
    pub wrong: u64,
    /// ERROR frames or broken connections.
    pub errors: u64,
    /// Measured seconds.
    pub elapsed: f64,
    /// Latency percentiles in microseconds: p50, p99, p99.9, max.
    pub p50_us: f64,
    /// p99.
    pub p99_us: f64,
    /// p99.9.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
}

impl LoadReport {
    /// Answers per second.
    pub fn throughput(&self) -> f64 {
        if self.elapsed > 0.0 {
            self.answered as f64 / self.elapsed
        } else {
            0.0
        }
    }

    /// One line, `key=value`, for scripts.
    pub fn result_line(&self, opts: &LoadOptions) -> String {
        format!(
            "RESULT mode={} connections={} depth={} connected={} connect_failures={} connect_s={:.3} reconnected={} reconnect_failures={} resumed={} reconnect_s={:.3} answered={} rps={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} wrong={} errors={}",
            if opts.rate.is_some() { "open" } else { "closed" },
            opts.connections,
            opts.depth,
            self.connected,
            self.connect_failures,
            self.connect_secs,
            self.reconnected,
            self.reconnect_failures,
            self.resumed,
            self.reconnect_secs,
            self.answered,
            self.throughput(),
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.wrong,
            self.errors
        )
    }
}

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Load is only ever sent to loopback.
    #[error("load tests only target loopback addresses (127.0.0.0/8, ::1); {0} is not")]
    NotLoopback(SocketAddr),
    /// Set-up failed.
    #[error("set-up: {0}")]
    Setup(String),
    /// Bad options.
    #[error("{0}")]
    Options(String),
}

/// Runs a load test.
pub async fn run(opts: LoadOptions) -> Result<LoadReport, LoadError> {
    for a in [opts.addr, opts.admin] {
        if !a.ip().is_loopback() {
            return Err(LoadError::NotLoopback(a));
        }
    }
    if opts.connections == 0 || opts.depth == 0 || opts.depth > 65_535 {
        return Err(LoadError::Options(
            "connections must be at least 1 and depth between 1 and 65535".into(),
        ));
    }
    if opts.reconnect && !opts.duration.is_zero() {
        return Err(LoadError::Options(
            "reconnect measures a storm: it needs a duration of 0".into(),
        ));
    }
    if opts.duration > Duration::from_secs(3600) {
        return Err(LoadError::Options("duration is at most one hour".into()));
    }
    let pki = PkiDir::new(&opts.certs);
    let admin_id = pki.client(Role::SecurityOffice, "admin");
    let admin_tls =
        crate::protocol::tls::client_config(&pki.ca_cert(), &admin_id.cert, &admin_id.key)
            .map_err(|e| LoadError::Setup(format!("security-office certificate: {e}")))?;
    let admin = AdminClient::new(opts.admin, admin_tls);
    // One reader certificate per `SESSIONS_PER_READER` connections, as
    // door controllers each have their own (the appliance caps the sessions
    // of one certificate).
    let doors: Vec<u32> = (1..=LOAD_DOORS).collect();
    let mut reader_tls = Vec::new();
    for i in 0..opts.connections.div_ceil(SESSIONS_PER_READER) {
        let name = if i == 0 {
            LOAD_READER.to_owned()
        } else {
            format!("{LOAD_READER}-{i}")
        };
        let reader = pki.client(Role::Reader, &name);
        if !reader.cert.exists() {
            pki.issue(Role::Reader, &name)
                .map_err(|e| LoadError::Setup(e.to_string()))?;
        }
        admin
            .call(Op::ReaderRegister, &[&name])
            .json(&Doors {
                doors: doors.clone(),
            })
            .expect::<serde_json::Value>()
            .await
            .map_err(|e| LoadError::Setup(format!("registering load reader {name}: {e}")))?;
        let mut tls =
            (*crate::protocol::tls::client_config(&pki.ca_cert(), &reader.cert, &reader.key)
                .map_err(|e| LoadError::Setup(e.to_string()))?)
            .clone();
        // Every connection makes a full handshake, as after a campus-wide
        // power cut or an appliance restart.
        tls.resumption = rustls::client::Resumption::disabled();
        reader_tls.push(tls);
    }
    // One configuration per connection: with `reconnect`, each keeps its
    // own session ticket, as each door controller does.
    let tls: Vec<Arc<rustls::ClientConfig>> = (0..opts.connections)
        .map(|i| {
            let mut c = reader_tls[i / SESSIONS_PER_READER].clone();
            if opts.reconnect {
                c.resumption = rustls::client::Resumption::in_memory_sessions(1);
            }
            Arc::new(c)
        })
        .collect();
    let known = match &opts.numbers {
        Some(n) if !n.is_empty() => Arc::new(n.clone()),
        _ => Arc::new(issue_cards(&admin, opts.cards.max(1)).await?),
    };

    let mut report = LoadReport::default();
    let first = storm(opts.addr, &tls).await;
    report.connect_secs = first.secs;
    report.connected = first.conns.len();
    report.connect_failures = first.failures;
    let mut conns = first.conns;
    if opts.reconnect {
        // Every reader closes its connection (close_notify, then the
        // appliance's close, so its session slot is free) and comes back at
        // once. An outage that leaves the appliance holding the old
        // sessions until their idle timeout is not what this measures.
        let closing: Vec<_> = conns
            .drain(..)
            .map(|mut c| {
                tokio::spawn(async move {
                    let _ = c.finish_sending().await;
                    while let Ok(Some(_)) = c.recv().await {}
                })
            })
            .collect();
        for c in closing {
            let _ = c.await;
        }
        let again = storm(opts.addr, &tls).await;
        report.reconnect_secs = again.secs;
        report.reconnected = again.conns.len();
        report.resumed = again.conns.iter().filter(|c| c.resumed()).count();
        report.reconnect_failures = again.failures;
        conns = again.conns;
    }
    if opts.duration.is_zero() || conns.is_empty() {
        return Ok(report);
    }

    // Measured phase.
    let counters = Arc::new(Counters::default());
    let start = Instant::now() + Duration::from_millis(50);
    let deadline = start + opts.duration;
    let progress = if opts.progress {
        let c = counters.clone();
        Some(tokio::spawn(async move {
            let mut last = 0;
            let mut t = tokio::time::interval(Duration::from_secs(1));
            t.tick().await;
            loop {
                t.tick().await;
                let now = c.answered.load(Ordering::Relaxed);
                eprintln!(
                    "  {:>5.1}s answered {:>10}  {:>9}/s  wrong {}  errors {}",
                    start.elapsed().as_secs_f64(),
                    now,
                    now - last,
                    c.wrong.load(Ordering::Relaxed),
                    c.errors.load(Ordering::Relaxed)
                );
                last = now;
            }
        }))
    } else {
        None
    };
    let (pacer_rx, pacer) = start_pacer(conns.len(), opts.rate, start, deadline);
    let mut tasks = Vec::with_capacity(conns.len());
    for ((i, c), rx) in conns.into_iter().enumerate().zip(pacer_rx) {
        let w = Worker {
            known: known.clone(),
            known_fraction: opts.known_fraction,
            depth: opts.depth,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            counters: counters.clone(),
            conn_index: i,
        };
        tasks.push(tokio::spawn(w.run(c, start, deadline, rx)));
    }
    finish(&mut report, tasks, pacer, &counters, opts.duration).await;
    if let Some(p) = progress {
        p.abort();
    }
    Ok(report)
}

/// One storm's outcome.
struct Storm {
    conns: Vec<ReaderClient>,
    failures: usize,
    secs: f64,
}

/// Connects one reader per configuration, all at once; each is admitted
/// when its first PING is answered.
async fn storm(addr: SocketAddr, tls: &[Arc<rustls::ClientConfig>]) -> Storm {
    let started = Instant::now();
    let joins: Vec<_> = tls
        .iter()
        .map(|tls| {
            let tls = tls.clone();
            tokio::spawn(async move {
                let mut c = ReaderClient::connect(addr, tls).await?;
                c.send(&Frame::Ping { request_id: 0 }).await?;
                match c.recv().await? {
                    Some(Frame::Pong { .. }) => Ok(c),
                    Some(f) => Err(ClientError::Unexpected(f)),
                    None => Err(ClientError::Closed),
                }
            })
        })
        .collect();
    let mut out = Storm {
        conns: Vec::with_capacity(tls.len()),
        failures: 0,
        secs: 0.0,
    };
    let mut first_error = None;
    for j in joins {
        match j.await {
            Ok(Ok(c)) => out.conns.push(c),
            Ok(Err(e)) => {
                out.failures += 1;
                first_error.get_or_insert(e.to_string());
            }
            Err(e) => {
                out.failures += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    out.secs = started.elapsed().as_secs_f64();
    if let Some(e) = first_error {
        tracing::warn!(failures = out.failures, first = %e, "some connections failed");
    }
    out
}

/// Open loop: one pacer thread hands out send times with sub-millisecond
/// precision (the async timer wheel ticks in milliseconds, which would add
/// up to a millisecond of the generator's own lateness to every request);
/// one receiver per connection. Closed loop (`rate` is `None`): none.
pub(crate) fn start_pacer(
    connections: usize,
    rate: Option<f64>,
    start: Instant,
    deadline: Instant,
) -> (
    Vec<Option<mpsc::UnboundedReceiver<Instant>>>,
    Option<std::thread::JoinHandle<()>>,
) {
    let mut rxs: Vec<Option<mpsc::UnboundedReceiver<Instant>>> =
        (0..connections).map(|_| None).collect();
    let pacer = rate.map(|rate| {
        let mut txs = Vec::with_capacity(connections);
        for slot in rxs.iter_mut() {
            let (tx, rx) = mpsc::unbounded_channel();
            txs.push(tx);
            *slot = Some(rx);
        }
        std::thread::spawn(move || pace(txs, rate, start, deadline))
    });
    (rxs, pacer)
}

/// Collects the workers' histograms, waits for the pacer, and fills the
/// report's counts and quantiles.
pub(crate) async fn finish(
    report: &mut LoadReport,
    tasks: Vec<tokio::task::JoinHandle<Histogram<u64>>>,
    pacer: Option<std::thread::JoinHandle<()>>,
    counters: &Counters,
    duration: Duration,
) {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 2).expect("bounds");
    for t in tasks {
        if let Ok(h) = t.await {
            let _ = hist.add(&h);
        }
    }
    if let Some(p) = pacer {
        let _ = p.join();
    }
    report.elapsed = duration.as_secs_f64();
    report.answered = counters.answered.load(Ordering::Relaxed);
    report.wrong = counters.wrong.load(Ordering::Relaxed);
    report.errors = counters.errors.load(Ordering::Relaxed);
    let us = |ns: u64| ns as f64 / 1000.0;
    report.p50_us = us(hist.value_at_quantile(0.50));
    report.p99_us = us(hist.value_at_quantile(0.99));
    report.p999_us = us(hist.value_at_quantile(0.999));
    report.max_us = us(hist.max());
}

/// Issues `n` cards through the admin API, 16 requests at a time: each to
/// its own generated test cardholder holding a `loadgen` level for the load
/// reader's doors (added to the existing access definitions).
pub async fn issue_cards(admin: &AdminClient, n: usize) -> Result<Vec<AccessNumber>, LoadError> {
    Ok(issue_cards_with_ids(admin, n)
        .await?
        .into_iter()
        .map(|(_, n)| n)
        .collect())
}

/// As [`issue_cards`], with each card's id.
pub async fn issue_cards_with_ids(
    admin: &AdminClient,
    n: usize,
) -> Result<Vec<(u64, AccessNumber)>, LoadError> {
    let setup = |what: &str, e: AdminError| LoadError::Setup(format!("{what}: {e}"));
    let mut defs: Definitions = admin
        .call(Op::AccessShow, &[])
        .expect()
        .await
        .map_err(|e| setup("reading access definitions", e))?;
    defs.door_groups
        .insert("loadgen".into(), (1..=LOAD_DOORS).collect());
    defs.levels.insert(
        "loadgen".into(),
        Level {
            door_group: "loadgen".into(),
            schedule: None,
            valid_from: None,
            valid_until: None,
        },
    );
    admin
        .call(Op::AccessSet, &[])
        .json(&defs)
        .expect::<serde_json::Value>()
        .await
        .map_err(|e| setup("adding the loadgen level", e))?;
    admin
        .call(Op::DlcPut, &[&"Loadgen"])
        .json(&json!({ "code": "Loadgen", "name": "Load generator", "kind": "department" }))
        .expect::<serde_json::Value>()
        .await
        .map_err(|e| setup("registering the loadgen department", e))?;
    let workers = 16.min(n);
    let mut joins = Vec::new();
    for w in 0..workers {
        let admin = admin.clone();
        let count = n / workers + usize::from(w < n % workers);
        joins.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(count);
            for i in 0..count {
                let person = json!({
                    "id_number": format!("LG{w:02}{i:08}"),
                    "last_name": "Loadgen",
                    "first_name": "Test",
                    "status": "registered",
                    "department": "Loadgen",
                    "affiliation": "student"
                });
                let step = |what: &'static str| move |e: AdminError| format!("{what}: {e}");
                let created: Created = admin
                    .call(Op::HolderCreate, &[])
                    .json(&person)
                    .expect()
                    .await
                    .map_err(step("creating a test cardholder"))?;
                admin
                    .call(Op::HolderLevels, &[&created.id])
                    .json(&Levels {
                        id: None,
                        levels: vec!["loadgen".into()],
                    })
                    .expect::<serde_json::Value>()
                    .await
                    .map_err(step("assigning the loadgen level"))?;
                let issued: IssuedCard = admin
                    .call(Op::CardIssue, &[])
                    .json(&IssueCard {
                        holder: created.id,
                        ..IssueCard::default()
                    })
                    .expect()
                    .await
                    .map_err(step("issuing a card"))?;
                let n: AccessNumber = issued
                    .access_number
                    .parse()
                    .map_err(|e: crate::crypto::numbers::BadAccessNumber| e.to_string())?;
                out.push((issued.card.id, n));
            }
            Ok::<_, String>(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for j in joins {
        all.extend(
            j.await
                .map_err(|e| LoadError::Setup(e.to_string()))?
                .map_err(LoadError::Setup)?,
        );
    }
    Ok(all)
}

/// Answers, wrong answers and errors, counted by every connection.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) answered: AtomicU64,
    pub(crate) wrong: AtomicU64,
    pub(crate) errors: AtomicU64,
}

struct Worker {
    known: Arc<Vec<AccessNumber>>,
    known_fraction: f64,
    depth: usize,
    rng: u64,
    counters: Arc<Counters>,
    conn_index: usize,
}

struct Slot {
    busy: bool,
    intended: Instant,
    expect: Reason,
}

impl Worker {
    fn next_rand(&mut self) -> u64 {
        // xorshift64*: cheap, and the load pattern need not be secret.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Queues one request on `conn` for slot `i`.
    fn request(
        &mut self,
        i: usize,
        slots: &mut [Slot],
        intended: Instant,
        conn: &mut Connection<ReaderStream>,
    ) {
        let r = self.next_rand();
        let known = (r % 10_000) as f64 / 10_000.0 < self.known_fraction;
        let (number, expect) = if known {
            let k = self.known[(r >> 20) as usize % self.known.len()];
            (k.0, Reason::Granted)
        } else {
            let mut n = [0u8; 16];
            n[..8].copy_from_slice(&self.next_rand().to_be_bytes());
            n[8..].copy_from_slice(&self.next_rand().to_be_bytes());
            (n, Reason::Unknown)
        };
        slots[i] = Slot {
            busy: true,
            intended,
            expect,
        };
        conn.queue(&Frame::Verify(VerifyRequest {
            request_id: i as u32,
            door: 1 + (self.conn_index as u32 + i as u32) % LOAD_DOORS,
            credential: Credential::Random128(number),
        }));
    }

    async fn run(
        mut self,
        client: ReaderClient,
        start: Instant,
        deadline: Instant,
        pacer: Option<mpsc::UnboundedReceiver<Instant>>,
    ) -> Histogram<u64> {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 2).expect("bounds");
        let mut conn = client.into_connection();
        let mut slots: Vec<Slot> = (0..self.depth)
            .map(|_| Slot {
                busy: false,
                intended: start,
                expect: Reason::Unknown,
            })
            .collect();
        let mut free: Vec<usize> = (0..self.depth).rev().collect();
        let mut pace = Pace::new(pacer, deadline);
        let open = pace.open();
        tokio::time::sleep_until(start.into()).await;
        if !open {
            // Closed loop: fill the pipeline.
            while let Some(i) = free.pop() {
                self.request(i, &mut slots, Instant::now(), &mut conn);
            }
        }
        // One timer for the whole run (a timer made per loop turn costs a
        // timer-wheel insert and removal per answer).
        let give_up = tokio::time::sleep_until((deadline + Duration::from_secs(10)).into());
        tokio::pin!(give_up);
        loop {
            while !pace.backlog.is_empty() && !free.is_empty() {
                let (Some(t), Some(i)) = (pace.backlog.pop_front(), free.pop()) else {
                    break;
                };
                self.request(i, &mut slots, t, &mut conn);
            }
            if conn.has_queued() && conn.flush().await.is_err() {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if pace.finished(free.len() == self.depth) {
                break;
            }
            tokio::select! {
                _ = pace.next(), if pace.pacing() => {}
                r = conn.fill() => {
                    match r {
                        Ok(0) | Err(_) => {
                            self.counters.errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Ok(_) => {}
                    }
                    let now = Instant::now();
                    loop {
                        match conn.next_frame() {
                            Ok(Some(f)) => {
                                match f {
                                    Frame::VerifyResult { request_id, reason, .. } => {
                                        let i = request_id as usize;
                                        let Some(slot) = slots.get_mut(i).filter(|s| s.busy) else {
                                            self.counters.errors.fetch_add(1, Ordering::Relaxed);
                                            continue;
                                        };
                                        slot.busy = false;
                                        if slot.expect != reason {
                                            self.counters.wrong.fetch_add(1, Ordering::Relaxed);
                                        }
                                        let lat = now.saturating_duration_since(slot.intended);
                                        let _ = hist.record(lat.as_nanos().max(1) as u64);
                                        self.counters.answered.fetch_add(1, Ordering::Relaxed);
                                        if !open && now < deadline {
                                            self.request(i, &mut slots, now, &mut conn);
                                        } else {
                                            free.push(i);
                                        }
                                    }
                                    _ => {
                                        self.counters.errors.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                            Ok(None) => break,
                            Err(_) => {
                                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                                return hist;
                            }
                        }
                    }
                }
                _ = &mut give_up => {
                    // Answers overdue by ten seconds: give up on them.
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        hist
    }
}

/// One connection's send schedule, the same for both targets. Closed loop:
/// no pacer; a connection sends whenever a request slot is free, until the
/// deadline. Open loop: the pacer's intended send times, queued in
/// `backlog` while the pipeline is full (so waiting counts as latency).
pub(crate) struct Pace {
    pacer: Option<mpsc::UnboundedReceiver<Instant>>,
    /// Send times that found the pipeline full, oldest first.
    pub(crate) backlog: VecDeque<Instant>,
    /// The pacer has handed out its last send time (always, closed loop).
    done: bool,
    deadline: Instant,
}

impl Pace {
    pub(crate) fn new(pacer: Option<mpsc::UnboundedReceiver<Instant>>, deadline: Instant) -> Self {
        Pace {
            done: pacer.is_none(),
            pacer,
            backlog: VecDeque::new(),
            deadline,
        }
    }

    /// Open loop (send times from the pacer).
    pub(crate) fn open(&self) -> bool {
        self.pacer.is_some()
    }

    /// Whether the pacer may still hand out send times (select guard).
    pub(crate) fn pacing(&self) -> bool {
        !self.done
    }

    /// Waits for the pacer's next send time and queues it.
    pub(crate) async fn next(&mut self) {
        match self.pacer.as_mut() {
            Some(p) => match p.recv().await {
                Some(t) => self.backlog.push_back(t),
                None => self.done = true,
            },
            None => self.done = true,
        }
    }

    /// With nothing in flight: whether the connection has finished (open
    /// loop: the pacer is done and nothing waits; closed loop: past the
    /// deadline).
    pub(crate) fn finished(&self, idle: bool) -> bool {
        idle && self.backlog.is_empty()
            && self.done
            && (self.open() || Instant::now() >= self.deadline)
    }
}

/// The open-loop pacer: hands out intended send times at `rate` per second
/// in total, round-robin over the connections, from `start` to `deadline`.
pub(crate) fn pace(
    txs: Vec<mpsc::UnboundedSender<Instant>>,
    rate: f64,
    start: Instant,
    deadline: Instant,
) {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    // The thread wakes at most every TICK and hands out every send time
    // that has come, each keeping its exact intended time (so a late hand
    // out still counts as latency): a wake-up per request at high rates
    // would cost more than it measures.
    const TICK: Duration = Duration::from_micros(100);
    let mut next = start;
    let mut k = 0usize;
    while next < deadline {
        let now = Instant::now();
        if next > now {
            std::thread::sleep((next - now).max(TICK.min(interval)));
        }
        // Hand out every send time that has come (the thread may have
        // overslept by a few microseconds).
        let now = Instant::now();
        while next <= now && next < deadline {
            let _ = txs[k % txs.len()].send(next);
            k += 1;
            next += interval;
        }
    }
}

/// Generates `n` random access numbers (for a test data set).
pub fn random_numbers(n: usize) -> Vec<AccessNumber> {
    let g = Generator::new();
    (0..n).map(|_| g.next_number()).collect()
}
