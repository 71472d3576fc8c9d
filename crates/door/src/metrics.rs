//! The controller's Prometheus metrics and its operations port
//! (`/metrics`, `/healthz`, `/readyz`). Counts and timings only: no card
//! data, no door-level labels.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use portcullis_protocol::DoorEventKind;
use tokio::net::TcpListener;

/// What became of a card read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The appliance granted; the strike was released.
    Grant,
    /// The appliance denied.
    Deny,
    /// No answer from the appliance: denied at the door.
    FailSecure,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Grant, Outcome::Deny, Outcome::FailSecure];
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Grant => "grant",
            Outcome::Deny => "deny",
            Outcome::FailSecure => "fail_secure",
        }
    }
}

/// Why a card read was denied without the appliance's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailCause {
    /// No connection to any appliance.
    Unreachable,
    /// Connected, but no answer in time.
    Timeout,
    /// More card reads waiting than the controller queues.
    Overloaded,
}

impl FailCause {
    const ALL: [FailCause; 3] = [
        FailCause::Unreachable,
        FailCause::Timeout,
        FailCause::Overloaded,
    ];
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailCause::Unreachable => "unreachable",
            FailCause::Timeout => "timeout",
            FailCause::Overloaded => "overloaded",
        }
    }
}

/// Why a reader session ended or never began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The transport could not be opened (connection refused, no device).
    Unreachable,
    /// The reader answered but no secure channel came up (wrong key, or a
    /// reader that cannot do Secure Channel).
    NoSecureChannel,
    /// Nothing answered on an open transport.
    Silent,
    /// An established session went offline (timeout, NAK) or its
    /// transport closed.
    Lost,
}

impl SessionEnd {
    const ALL: [SessionEnd; 4] = [
        SessionEnd::Unreachable,
        SessionEnd::NoSecureChannel,
        SessionEnd::Silent,
        SessionEnd::Lost,
    ];
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::Unreachable => "unreachable",
            SessionEnd::NoSecureChannel => "no_secure_channel",
            SessionEnd::Silent => "silent",
            SessionEnd::Lost => "lost",
        }
    }
}

/// Upper bounds of the verify round-trip histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Every metric of the controller.
#[derive(Debug, Default)]
pub struct Metrics {
    card_reads: [AtomicU64; 3],
    fail_secure: [AtomicU64; 3],
    session_ends: [AtomicU64; 4],
    /// Sessions accepted without a secure channel (`allow_insecure`).
    pub insecure_sessions: AtomicU64,
    /// Card reads ignored because the reader had no usable session.
    pub reads_ignored: AtomicU64,
    /// Readers configured.
    pub readers: AtomicI64,
    /// Readers with a usable session.
    pub readers_usable: AtomicI64,
    /// Readers whose usable session has no secure channel.
    pub readers_insecure: AtomicI64,
    door_events: [[AtomicU64; 2]; DoorEventKind::ALL.len()],
    /// Doors with an alarm in force.
    pub doors_in_alarm: AtomicI64,
    /// Events waiting for the appliance.
    pub events_buffered: AtomicI64,
    /// Events dropped to stay within the buffer's bound.
    pub events_dropped: AtomicU64,
    /// Events the appliance refused (a door not registered to this
    /// controller).
    pub events_refused: AtomicU64,
    /// Events that could not be written to the buffer file.
    pub events_unpersisted: AtomicU64,
    /// Card reads the appliance refused (a door not registered to this
    /// controller); denied at the door.
    pub verifies_refused: AtomicU64,
    /// 1 while connected to an appliance.
    pub uplink_up: AtomicI64,
    /// Connection attempts that succeeded / failed.
    pub uplink_connects: AtomicU64,
    /// See [`Metrics::uplink_connects`].
    pub uplink_connect_failures: AtomicU64,
    verify_buckets: [AtomicU64; BUCKETS.len()],
    verify_count: AtomicU64,
    verify_sum_us: AtomicU64,
}

impl Metrics {
    /// A card read's outcome.
    pub fn card_read(&self, o: Outcome) {
        self.card_reads[o as usize].fetch_add(1, Relaxed);
    }

    /// A card read denied at the door without an answer.
    pub fn fail_secure(&self, c: FailCause) {
        self.fail_secure[c as usize].fetch_add(1, Relaxed);
    }

    /// A reader session ended or could not begin.
    pub fn session_end(&self, e: SessionEnd) {
        self.session_ends[e as usize].fetch_add(1, Relaxed);
    }

    /// A door event observed.
    pub fn door_event(&self, kind: DoorEventKind, begins: bool) {
        let i = DoorEventKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(0);
        self.door_events[i][usize::from(begins)].fetch_add(1, Relaxed);
    }

    /// A VERIFY answered after `d`.
    pub fn verify_seconds(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (b, c) in BUCKETS.iter().zip(&self.verify_buckets) {
            if s <= *b {
                c.fetch_add(1, Relaxed);
            }
        }
        self.verify_count.fetch_add(1, Relaxed);
        self.verify_sum_us.fetch_add(d.as_micros() as u64, Relaxed);
    }

    /// What keeps the controller from doing its job, if anything.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.uplink_up.load(Relaxed) == 0 {
            p.push("no appliance connected: card reads are denied".to_owned());
        }
        let (usable, all) = (
            self.readers_usable.load(Relaxed),
            self.readers.load(Relaxed),
        );
        if usable < all {
            p.push(format!("{} of {all} readers not usable", all - usable));
        }
        p
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        let n = "portcullis_controller_card_reads_total";
        head(&mut o, n, "counter", "Card reads by outcome at the door.");
        for x in Outcome::ALL {
            let _ = writeln!(
                o,
                "{n}{{outcome=\"{}\"}} {}",
                x.as_str(),
                self.card_reads[x as usize].load(Relaxed)
            );
        }
        let n = "portcullis_controller_fail_secure_total";
        head(
            &mut o,
            n,
            "counter",
            "Card reads denied at the door without the appliance's answer, by cause.",
        );
        for x in FailCause::ALL {
            let _ = writeln!(
                o,
                "{n}{{cause=\"{}\"}} {}",
                x.as_str(),
                self.fail_secure[x as usize].load(Relaxed)
            );
        }
        let n = "portcullis_controller_reader_sessions_failed_total";
        head(&mut o, n, "counter", "Reader sessions that ended or could not begin, by cause (no_secure_channel: wrong key or a reader without Secure Channel).");
        for x in SessionEnd::ALL {
            let _ = writeln!(
                o,
                "{n}{{cause=\"{}\"}} {}",
                x.as_str(),
                self.session_ends[x as usize].load(Relaxed)
            );
        }
        let n = "portcullis_controller_door_events_total";
        head(
            &mut o,
            n,
            "counter",
            "Door events observed, by kind and phase.",
        );
        for (i, k) in DoorEventKind::ALL.iter().enumerate() {
            for (phase, j) in [("begins", 1), ("ends", 0)] {
                let _ = writeln!(
                    o,
                    "{n}{{kind=\"{}\",phase=\"{phase}\"}} {}",
                    k.as_str(),
                    self.door_events[i][j].load(Relaxed)
                );
            }
        }
        let scalars: [(&str, &str, &str, i64); 14] = [
            (
                "portcullis_controller_insecure_sessions_total",
                "counter",
                "Reader sessions accepted without a secure channel (allow_insecure).",
                self.insecure_sessions.load(Relaxed) as i64,
            ),
            (
                "portcullis_controller_card_reads_ignored_total",
                "counter",
                "Card reads from a reader without a usable session.",
                self.reads_ignored.load(Relaxed) as i64,
            ),
            (
                "portcullis_controller_readers",
                "gauge",
                "Readers configured.",
                self.readers.load(Relaxed),
            ),
            (
                "portcullis_controller_readers_usable",
                "gauge",
                "Readers with a usable OSDP session.",
                self.readers_usable.load(Relaxed),
            ),
            (
                "portcullis_controller_readers_insecure",
                "gauge",
                "Usable readers without a secure channel.",
                self.readers_insecure.load(Relaxed),
            ),
            (
                "portcullis_controller_doors_in_alarm",
                "gauge",
                "Doors with an alarm in force.",
                self.doors_in_alarm.load(Relaxed),
            ),
            (
                "portcullis_controller_events_buffered",
                "gauge",
                "Door events waiting for the appliance.",
                self.events_buffered.load(Relaxed),
            ),
            (
                "portcullis_controller_events_dropped_total",
                "counter",
                "Door events dropped, oldest first, to stay within events.max_events.",
                self.events_dropped.load(Relaxed) as i64,
            ),
            (
                "portcullis_controller_events_refused_total",
                "counter",
                "Door events the appliance refused (door not registered to this controller).",
                self.events_refused.load(Relaxed) as i64,
            ),
            (
                "portcullis_controller_events_unpersisted_total",
                "counter",
                "Door events that could not be written to the buffer file.",
                self.events_unpersisted.load(Relaxed) as i64,
            ),
            (
                "portcullis_controller_verifies_refused_total",
                "counter",
                "Card reads the appliance refused (door not registered to this controller).",
                self.verifies_refused.load(Relaxed) as i64,
            ),
            (
                "portcullis_controller_uplink_up",
                "gauge",
                "1 while connected to an appliance.",
                self.uplink_up.load(Relaxed),
            ),
            (
                "portcullis_controller_uplink_connects_total",
                "counter",
                "Successful connections to an appliance.",
                self.uplink_connects.load(Relaxed) as i64,
            ),
            (
                "portcullis_controller_uplink_connect_failures_total",
                "counter",
                "Failed connection attempts to an appliance.",
                self.uplink_connect_failures.load(Relaxed) as i64,
            ),
        ];
        for (name, kind, help, v) in scalars {
            head(&mut o, name, kind, help);
            let _ = writeln!(o, "{name} {v}");
        }
        let n = "portcullis_controller_verify_seconds";
        head(
            &mut o,
            n,
            "histogram",
            "Card read sent to the appliance until its answer.",
        );
        for (b, c) in BUCKETS.iter().zip(&self.verify_buckets) {
            let _ = writeln!(o, "{n}_bucket{{le=\"{b}\"}} {}", c.load(Relaxed));
        }
        let count = self.verify_count.load(Relaxed);
        let _ = writeln!(o, "{n}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            o,
            "{n}_sum {}",
            self.verify_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "{n}_count {count}");
        o
    }
}

fn respond(status: StatusCode, ctype: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(ctype),
    );
    r
}

/// Serves the operations port until the runtime stops. Connections live
/// at most ten seconds and at most 64 are served at once.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(64));
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let m = metrics.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let m = m.clone();
                async move {
                    const TEXT: &str = "text/plain; charset=utf-8";
                    Ok::<_, std::convert::Infallible>(match req.uri().path() {
                        "/metrics" => respond(
                            StatusCode::OK,
                            "text/plain; version=0.0.4; charset=utf-8",
                            m.render(),
                        ),
                        "/healthz" => respond(StatusCode::OK, TEXT, "ok\n".into()),
                        "/readyz" => {
                            let p = m.problems();
                            if p.is_empty() {
                                respond(StatusCode::OK, TEXT, "ready\n".into())
                            } else {
                                respond(
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    TEXT,
                                    format!("not ready: {}\n", p.join("; ")),
                                )
                            }
                        }
                        _ => respond(StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
                    })
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc);
            let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
        });
    }
}

/// Binds the operations port.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
