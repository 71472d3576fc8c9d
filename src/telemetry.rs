//! Prometheus metrics, with every hot-path handle registered once.
//!
//! Each appliance owns its own recorder (no global state), so several can
//! run in one process (the integration tests do). Names follow Prometheus
//! conventions: `portcullis_` prefix, `_total` counters, base units.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::protocol::Reason;
use crate::protocol::{DoorEventKind, ErrorCode};

/// Metric names.
pub mod name {
    /// Verifications answered, by decision and reason.
    pub const VERIFICATIONS: &str = "portcullis_verifications_total";
    /// Time from reading a VERIFY to having its answer journaled and ready.
    pub const VERIFY_SECONDS: &str = "portcullis_verification_duration_seconds";
    /// Open reader connections.
    pub const CONNECTIONS: &str = "portcullis_reader_connections";
    /// Reader connections admitted since start.
    pub const CONNECTIONS_TOTAL: &str = "portcullis_reader_connections_accepted_total";
    /// Of those, admitted on a resumed TLS session (a session ticket).
    pub const CONNECTIONS_RESUMED: &str = "portcullis_reader_connections_resumed_total";
    /// Failed TLS handshakes, by reason and listener.
    pub const TLS_FAILURES: &str = "portcullis_tls_handshake_failures_total";
    /// Frames or connections refused, by error code.
    pub const FRAMES_REJECTED: &str = "portcullis_frames_rejected_total";
    /// Records per journal group commit.
    pub const JOURNAL_BATCH: &str = "portcullis_journal_batch_records";
    /// Time per journal group commit.
    pub const JOURNAL_COMMIT_SECONDS: &str = "portcullis_journal_commit_duration_seconds";
    /// Records waiting for the journal writer.
    pub const JOURNAL_QUEUE: &str = "portcullis_journal_queue_records";
    /// Records committed to the journal.
    pub const JOURNAL_RECORDS: &str = "portcullis_journal_records_total";
    /// Journal writes that failed.
    pub const JOURNAL_ERRORS: &str = "portcullis_journal_write_errors_total";
    /// Age of the oldest record physically in the journal.
    pub const JOURNAL_OLDEST_AGE: &str = "portcullis_journal_oldest_record_age_seconds";
    /// Scheduled retention compactions run.
    pub const RETENTION_RUNS: &str = "portcullis_journal_retention_compactions_total";
    /// Credentials in the map.
    pub const CREDENTIALS: &str = "portcullis_credentials_loaded";
    /// Presentations of a card replaced by a newer one: possible lost or
    /// stolen card in use.
    pub const SUPERSEDED_PRESENTED: &str = "portcullis_superseded_card_presented_total";
    /// Admin API requests by operation and outcome.
    pub const ADMIN_REQUESTS: &str = "portcullis_admin_requests_total";
    /// Journal look-ups by purpose and outcome.
    pub const LOOKUPS: &str = "portcullis_journal_lookups_total";
    /// Connections refused before being served, by listener and reason.
    pub const CONNECTIONS_REFUSED: &str = "portcullis_connections_refused_total";
    /// Failed `accept()` calls (e.g. out of file descriptors), by listener.
    pub const ACCEPT_ERRORS: &str = "portcullis_accept_errors_total";
    /// Open connections per listener.
    pub const LISTENER_CONNECTIONS: &str = "portcullis_listener_connections";
    /// Configured connection maximum per listener.
    pub const LISTENER_MAX: &str = "portcullis_listener_max_connections";
    /// Free bytes on the data directory's filesystem.
    pub const STORAGE_FREE: &str = "portcullis_storage_free_bytes";
    /// 1 while the data directory is below its reserve (decisions refused).
    pub const STORAGE_LOW: &str = "portcullis_storage_low";
    /// 1 while the data directory is below its admin reserve (admin changes
    /// refused).
    pub const STORAGE_CRITICAL: &str = "portcullis_storage_critical";
    /// Door events reported by controllers, by kind (beginnings).
    pub const DOOR_EVENTS: &str = "portcullis_door_events_total";
    /// Doors with at least one alarm in force.
    pub const DOORS_IN_ALARM: &str = "portcullis_doors_in_alarm";
    /// Alarms in force, by kind.
    pub const DOOR_ALARMS: &str = "portcullis_door_alarms";
    /// Door events whose alarm update was dropped (queue full).
    pub const ALARM_UPDATES_DROPPED: &str = "portcullis_alarm_updates_dropped_total";
    /// Door events whose alarm update waits to be committed (it is retried
    /// until the change can be made: storage or the cluster refused it).
    pub const ALARM_UPDATES_PENDING: &str = "portcullis_alarm_updates_pending";
    /// E-mail notices waiting to be sent.
    pub const NOTIFICATIONS_PENDING: &str = "portcullis_notifications_pending";
    /// E-mail notices sent.
    pub const NOTIFICATIONS_SENT: &str = "portcullis_notifications_sent_total";
    /// Failed attempts to send an e-mail notice.
    pub const NOTIFICATIONS_FAILED: &str = "portcullis_notifications_failed_total";
    /// Scheduled erasures skipped for lack of free space.
    pub const RETENTION_SKIPPED: &str = "portcullis_journal_retention_skipped_total";
    /// 1 while connected to NATS (clustered appliances only).
    pub const CLUSTER_CONNECTED: &str = "portcullis_cluster_connected";
    /// Changes on the cluster's log not yet applied by this appliance.
    pub const CLUSTER_BEHIND: &str = "portcullis_cluster_changes_behind";
    /// The last position of the cluster's change log applied here.
    pub const CLUSTER_APPLIED: &str = "portcullis_cluster_applied_position";
    /// Changes decided again because another appliance committed first.
    pub const CLUSTER_CONFLICTS: &str = "portcullis_cluster_commit_conflicts_total";
    /// Admin changes refused because the cluster could not be reached or did not confirm.
    pub const CLUSTER_REFUSED: &str = "portcullis_cluster_changes_refused_total";
    /// Records journaled here and not yet in the replicated journal.
    pub const CLUSTER_JOURNAL_UNREPLICATED: &str =
        "portcullis_cluster_journal_unreplicated_records";
    /// Age of the oldest record journaled here and not yet replicated.
    pub const CLUSTER_JOURNAL_LAG: &str = "portcullis_cluster_journal_lag_seconds";
    /// Records of this appliance copied to the replicated journal.
    pub const CLUSTER_JOURNAL_REPLICATED: &str = "portcullis_cluster_journal_replicated_total";
    /// Records of other appliances imported into this journal.
    pub const CLUSTER_JOURNAL_IMPORTED: &str = "portcullis_cluster_journal_imported_total";
    /// Age of the oldest record in the replicated journal (erased at the retention window).
    pub const CLUSTER_JOURNAL_OLDEST_AGE: &str = "portcullis_cluster_journal_oldest_age_seconds";
}

/// TLS handshake failure reasons (a fixed set: labels never carry input).
pub const TLS_FAILURE_REASONS: [&str; 7] = [
    "no_certificate",
    "unknown_ca",
    "bad_certificate",
    "incompatible",
    "protocol",
    "timeout",
    "io",
];

const FATAL_CODES: [ErrorCode; 14] = [
    ErrorCode::DoorNotAssigned,
    ErrorCode::MalformedFrame,
    ErrorCode::FrameTooLarge,
    ErrorCode::UnsupportedVersion,
    ErrorCode::UnexpectedFrame,
    ErrorCode::TooManyInFlight,
    ErrorCode::IdleTimeout,
    ErrorCode::RoleNotPermitted,
    ErrorCode::ReaderNotRegistered,
    ErrorCode::ShuttingDown,
    ErrorCode::Internal,
    ErrorCode::AtCapacity,
    ErrorCode::CertificateRevoked,
    ErrorCode::NotReady,
];

static META: Metadata<'static> =
    Metadata::new("portcullis", metrics::Level::INFO, Some("portcullis"));

/// Every metric handle the appliance uses.
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    verifications: [Counter; Reason::ALL.len()],
    /// See [`name::VERIFY_SECONDS`].
    pub verify_seconds: Histogram,
    /// See [`name::CONNECTIONS`].
    pub connections: Gauge,
    /// See [`name::CONNECTIONS_TOTAL`].
    pub connections_total: Counter,
    /// See [`name::CONNECTIONS_RESUMED`].
    pub connections_resumed: Counter,
    tls_failures_reader: [Counter; TLS_FAILURE_REASONS.len()],
    tls_failures_admin: [Counter; TLS_FAILURE_REASONS.len()],
    frames_rejected: [Counter; FATAL_CODES.len()],
    /// See [`name::JOURNAL_BATCH`].
    pub journal_batch: Histogram,
    /// See [`name::JOURNAL_COMMIT_SECONDS`].
    pub journal_commit_seconds: Histogram,
    /// See [`name::JOURNAL_QUEUE`].
    pub journal_queue: Gauge,
    /// See [`name::JOURNAL_RECORDS`].
    pub journal_records: Counter,
    /// See [`name::JOURNAL_ERRORS`].
    pub journal_errors: Counter,
    /// See [`name::JOURNAL_OLDEST_AGE`].
    pub journal_oldest_age: Gauge,
    /// See [`name::RETENTION_RUNS`].
    pub retention_runs: Counter,
    /// See [`name::RETENTION_SKIPPED`].
    pub retention_skipped: Counter,
    /// See [`name::STORAGE_FREE`].
    pub storage_free: Gauge,
    /// See [`name::STORAGE_LOW`].
    pub storage_low: Gauge,
    /// See [`name::STORAGE_CRITICAL`].
    pub storage_critical: Gauge,
    /// See [`name::DOORS_IN_ALARM`].
    pub doors_in_alarm: Gauge,
    /// See [`name::ALARM_UPDATES_DROPPED`].
    pub alarm_updates_dropped: Counter,
    /// See [`name::ALARM_UPDATES_PENDING`].
    pub alarm_updates_pending: Gauge,
    /// See [`name::NOTIFICATIONS_PENDING`].
    pub notifications_pending: Gauge,
    /// See [`name::NOTIFICATIONS_SENT`].
    pub notifications_sent: Counter,
    /// See [`name::NOTIFICATIONS_FAILED`].
    pub notifications_failed: Counter,
    /// See [`name::CLUSTER_CONNECTED`].
    pub cluster_connected: Gauge,
    /// See [`name::CLUSTER_BEHIND`].
    pub cluster_behind: Gauge,
    /// See [`name::CLUSTER_APPLIED`].
    pub cluster_applied: Gauge,
    /// See [`name::CLUSTER_CONFLICTS`].
    pub cluster_conflicts: Counter,
    /// See [`name::CLUSTER_REFUSED`].
    pub cluster_refused: Counter,
    /// See [`name::CLUSTER_JOURNAL_UNREPLICATED`].
    pub cluster_journal_unreplicated: Gauge,
    /// See [`name::CLUSTER_JOURNAL_LAG`].
    pub cluster_journal_lag: Gauge,
    /// See [`name::CLUSTER_JOURNAL_REPLICATED`].
    pub cluster_journal_replicated: Counter,
    /// See [`name::CLUSTER_JOURNAL_IMPORTED`].
    pub cluster_journal_imported: Counter,
    /// See [`name::CLUSTER_JOURNAL_OLDEST_AGE`].
    pub cluster_journal_oldest_age: Gauge,
    door_events: [Counter; DoorEventKind::ALL.len()],
    door_alarms: [Gauge; DoorEventKind::ALL.len()],
    /// See [`name::CREDENTIALS`].
    pub credentials: Gauge,
    /// See [`name::SUPERSEDED_PRESENTED`].
    pub superseded_presented: Counter,
    refused: [[Counter; Refusal::ALL.len()]; Listener::ALL.len()],
    accept_errors: [Counter; Listener::ALL.len()],
    listener_open: [Gauge; Listener::ALL.len()],
    listener_max: [Gauge; Listener::ALL.len()],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn labels(pairs: &[(&'static str, &'static str)]) -> Vec<Label> {
    pairs.iter().map(|(k, v)| Label::new(*k, *v)).collect()
}

impl Metrics {
    /// Builds the recorder and registers every handle.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(name::VERIFY_SECONDS.into()),
                &[
                    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3,
                    100e-3, 1.0,
                ],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(name::JOURNAL_COMMIT_SECONDS.into()),
                    &[
                        50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3, 250e-3,
                        1.0,
                    ],
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(name::JOURNAL_BATCH.into()),
                    &[1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0],
                )
            })
            .expect("bucket lists are non-empty literals");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let r = &recorder;

        let describe = |n: &'static str, unit: Option<Unit>, help: &'static str, kind: u8| {
            let key = KeyName::from_const_str(n);
            match kind {
                0 => r.describe_counter(key, unit, help.into()),
                1 => r.describe_gauge(key, unit, help.into()),
                _ => r.describe_histogram(key, unit, help.into()),
            }
        };
        describe(
            name::VERIFICATIONS,
            None,
            "Verifications answered, by decision and reason.",
            0,
        );
        describe(
            name::VERIFY_SECONDS,
            Some(Unit::Seconds),
            "Time from reading a verify request to its answer being journaled and ready to send.",
            2,
        );
        describe(name::CONNECTIONS, None, "Open reader connections.", 1);
        describe(
            name::CONNECTIONS_TOTAL,
            None,
            "Reader connections admitted since start.",
            0,
        );
        describe(
            name::CONNECTIONS_RESUMED,
            None,
            "Reader connections admitted since start on a resumed TLS session.",
            0,
        );
        describe(
            name::TLS_FAILURES,
            None,
            "Failed TLS handshakes by listener and reason.",
            0,
        );
        describe(
            name::FRAMES_REJECTED,
            None,
            "Reader frames or connections refused, by protocol error code.",
            0,
        );
        describe(
            name::JOURNAL_BATCH,
            None,
            "Decision records per journal group commit.",
            2,
        );
        describe(
            name::JOURNAL_COMMIT_SECONDS,
            Some(Unit::Seconds),
            "Duration of one journal group commit.",
            2,
        );
        describe(
            name::JOURNAL_QUEUE,
            None,
            "Decision records waiting for the journal writer.",
            1,
        );
        describe(
            name::JOURNAL_RECORDS,
            None,
            "Decision records committed to the journal.",
            0,
        );
        describe(
            name::JOURNAL_ERRORS,
            None,
            "Journal writes that failed (decisions not answered).",
            0,
        );
        describe(
            name::JOURNAL_OLDEST_AGE,
            Some(Unit::Seconds),
            "Age of the oldest record physically present in the journal.",
            1,
        );
        describe(
            name::RETENTION_RUNS,
            None,
            "Scheduled retention compactions completed.",
            0,
        );
        describe(
            name::CREDENTIALS,
            None,
            "Credentials in the in-memory map.",
            1,
        );
        describe(name::SUPERSEDED_PRESENTED, None, "Presentations of cards replaced by a newer card (possible lost or stolen card in use).", 0);
        describe(
            name::ADMIN_REQUESTS,
            None,
            "Admin API requests by operation and outcome.",
            0,
        );
        describe(
            name::CONNECTIONS_REFUSED,
            None,
            "Connections reset before being served, by listener and reason (capacity, handshakes).",
            0,
        );
        describe(
            name::ACCEPT_ERRORS,
            None,
            "Failed accept() calls by listener (out of file descriptors and the like).",
            0,
        );
        describe(
            name::LISTENER_CONNECTIONS,
            None,
            "Open connections by listener.",
            1,
        );
        describe(
            name::STORAGE_FREE,
            Some(Unit::Bytes),
            "Free bytes on the data directory's filesystem.",
            1,
        );
        describe(
            name::STORAGE_LOW,
            None,
            "1 while the data directory is below its free-space reserve: decisions are refused.",
            1,
        );
        describe(
            name::STORAGE_CRITICAL,
            None,
            "1 while the data directory is below its admin reserve: admin changes are refused.",
            1,
        );
        describe(
            name::DOOR_EVENTS,
            None,
            "Door events reported by controllers (their beginnings), by kind.",
            0,
        );
        describe(
            name::DOORS_IN_ALARM,
            None,
            "Doors with at least one alarm in force.",
            1,
        );
        describe(name::DOOR_ALARMS, None, "Door alarms in force, by kind.", 1);
        describe(
            name::ALARM_UPDATES_DROPPED,
            None,
            "Door events whose alarm update was dropped because the queue was full.",
            0,
        );
        describe(
            name::CLUSTER_CONNECTED,
            None,
            "1 while connected to NATS (clustered appliances only).",
            1,
        );
        describe(
            name::CLUSTER_BEHIND,
            None,
            "Changes on the cluster's log not yet applied by this appliance.",
            1,
        );
        describe(
            name::CLUSTER_APPLIED,
            None,
            "The last position of the cluster's change log applied here.",
            1,
        );
        describe(
            name::CLUSTER_CONFLICTS,
            None,
            "Changes decided again because another appliance committed first.",
            0,
        );
        describe(
            name::CLUSTER_REFUSED,
            None,
            "Admin changes refused because the cluster could not be reached or did not confirm.",
            0,
        );
        describe(
            name::CLUSTER_JOURNAL_UNREPLICATED,
            None,
            "Records journaled here and not yet in the replicated journal.",
            1,
        );
        describe(
            name::CLUSTER_JOURNAL_LAG,
            None,
            "Age of the oldest record journaled here and not yet replicated.",
            1,
        );
        describe(
            name::CLUSTER_JOURNAL_REPLICATED,
            None,
            "Records of this appliance copied to the replicated journal.",
            0,
        );
        describe(
            name::CLUSTER_JOURNAL_IMPORTED,
            None,
            "Records of other appliances imported into this journal.",
            0,
        );
        describe(
            name::CLUSTER_JOURNAL_OLDEST_AGE,
            None,
            "Age of the oldest record in the replicated journal (erased at the retention window).",
            1,
        );
        describe(
            name::RETENTION_SKIPPED,
            None,
            "Scheduled erasures of expired journal records skipped for lack of free space.",
            0,
        );
        describe(
            name::LISTENER_MAX,
            None,
            "Configured connection maximum by listener.",
            1,
        );

        let counter =
            |n: &'static str, l: Vec<Label>| r.register_counter(&Key::from_parts(n, l), &META);
        let gauge = |n: &'static str| r.register_gauge(&Key::from_static_name(n), &META);
        let hist = |n: &'static str| r.register_histogram(&Key::from_static_name(n), &META);

        let verifications = Reason::ALL.map(|reason| {
            counter(
                name::VERIFICATIONS,
                labels(&[
                    ("decision", reason.decision().as_str()),
                    ("reason", reason.as_str()),
                ]),
            )
        });
        let tls = |listener: &'static str| {
            TLS_FAILURE_REASONS.map(|reason| {
                counter(
                    name::TLS_FAILURES,
                    labels(&[("listener", listener), ("reason", reason)]),
                )
            })
        };
        let frames_rejected =
            FATAL_CODES.map(|c| counter(name::FRAMES_REJECTED, labels(&[("code", c.as_str())])));
        let refused = Listener::ALL.map(|l| {
            Refusal::ALL.map(|why| {
                counter(
                    name::CONNECTIONS_REFUSED,
                    labels(&[("listener", l.as_str()), ("reason", why.as_str())]),
                )
            })
        });
        let accept_errors = Listener::ALL
            .map(|l| counter(name::ACCEPT_ERRORS, labels(&[("listener", l.as_str())])));
        let labelled_gauge = |n: &'static str, l: Listener| {
            r.register_gauge(
                &Key::from_parts(n, labels(&[("listener", l.as_str())])),
                &META,
            )
        };
        let listener_open = Listener::ALL.map(|l| labelled_gauge(name::LISTENER_CONNECTIONS, l));
        let listener_max = Listener::ALL.map(|l| labelled_gauge(name::LISTENER_MAX, l));

        let m = Metrics {
            verifications,
            verify_seconds: hist(name::VERIFY_SECONDS),
            connections: gauge(name::CONNECTIONS),
            connections_total: counter(name::CONNECTIONS_TOTAL, vec![]),
            connections_resumed: counter(name::CONNECTIONS_RESUMED, vec![]),
            tls_failures_reader: tls("reader"),
            tls_failures_admin: tls("admin"),
            frames_rejected,
            journal_batch: hist(name::JOURNAL_BATCH),
            journal_commit_seconds: hist(name::JOURNAL_COMMIT_SECONDS),
            journal_queue: gauge(name::JOURNAL_QUEUE),
            journal_records: counter(name::JOURNAL_RECORDS, vec![]),
            journal_errors: counter(name::JOURNAL_ERRORS, vec![]),
            journal_oldest_age: gauge(name::JOURNAL_OLDEST_AGE),
            retention_runs: counter(name::RETENTION_RUNS, vec![]),
            retention_skipped: counter(name::RETENTION_SKIPPED, vec![]),
            storage_free: gauge(name::STORAGE_FREE),
            storage_low: gauge(name::STORAGE_LOW),
            storage_critical: gauge(name::STORAGE_CRITICAL),
            doors_in_alarm: gauge(name::DOORS_IN_ALARM),
            alarm_updates_dropped: counter(name::ALARM_UPDATES_DROPPED, vec![]),
            alarm_updates_pending: gauge(name::ALARM_UPDATES_PENDING),
            notifications_pending: gauge(name::NOTIFICATIONS_PENDING),
            notifications_sent: counter(name::NOTIFICATIONS_SENT, vec![]),
            notifications_failed: counter(name::NOTIFICATIONS_FAILED, vec![]),
            cluster_connected: gauge(name::CLUSTER_CONNECTED),
            cluster_behind: gauge(name::CLUSTER_BEHIND),
            cluster_applied: gauge(name::CLUSTER_APPLIED),
            cluster_conflicts: counter(name::CLUSTER_CONFLICTS, vec![]),
            cluster_refused: counter(name::CLUSTER_REFUSED, vec![]),
            cluster_journal_unreplicated: gauge(name::CLUSTER_JOURNAL_UNREPLICATED),
            cluster_journal_lag: gauge(name::CLUSTER_JOURNAL_LAG),
            cluster_journal_replicated: counter(name::CLUSTER_JOURNAL_REPLICATED, vec![]),
            cluster_journal_imported: counter(name::CLUSTER_JOURNAL_IMPORTED, vec![]),
            cluster_journal_oldest_age: gauge(name::CLUSTER_JOURNAL_OLDEST_AGE),
            door_events: DoorEventKind::ALL
                .map(|k| counter(name::DOOR_EVENTS, labels(&[("kind", k.as_str())]))),
            door_alarms: DoorEventKind::ALL.map(|k| {
                r.register_gauge(
                    &Key::from_parts(name::DOOR_ALARMS, labels(&[("kind", k.as_str())])),
                    &META,
                )
            }),
            credentials: gauge(name::CREDENTIALS),
            superseded_presented: counter(name::SUPERSEDED_PRESENTED, vec![]),
            refused,
            accept_errors,
            listener_open,
            listener_max,
            recorder: Arc::new(recorder),
            handle,
        };
        // Counters appear in the exposition from the start, at zero.
        m.connections_total.increment(0);
        m.connections_resumed.increment(0);
        m.retention_skipped.increment(0);
        m.alarm_updates_dropped.increment(0);
        m.alarm_updates_pending.set(0.0);
        m.notifications_pending.set(0.0);
        m.notifications_sent.increment(0);
        m.notifications_failed.increment(0);
        for c in &m.door_events {
            c.increment(0);
        }
        for g in &m.door_alarms {
            g.set(0.0);
        }
        m.doors_in_alarm.set(0.0);
        m.journal_errors.increment(0);
        for row in &m.refused {
            for c in row {
                c.increment(0);
            }
        }
        for c in &m.accept_errors {
            c.increment(0);
        }
        m
    }

    /// The counter for one reason.
    #[inline]
    pub fn verification(&self, reason: Reason) -> &Counter {
        &self.verifications[usize::from(reason.code())]
    }

    /// The counter for one rejected-frame code.
    pub fn frame_rejected(&self, code: ErrorCode) -> &Counter {
        let i = FATAL_CODES.iter().position(|c| *c == code).unwrap_or(1);
        &self.frames_rejected[i]
    }

    /// The counter for one TLS failure reason on a listener.
    pub fn tls_failure(&self, admin: bool, reason: &str) -> &Counter {
        let i = TLS_FAILURE_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(4);
        if admin {
            &self.tls_failures_admin[i]
        } else {
            &self.tls_failures_reader[i]
        }
    }

    /// Counts a door event's beginning.
    pub fn door_event(&self, kind: DoorEventKind) {
        if let Some(i) = DoorEventKind::ALL.iter().position(|k| *k == kind) {
            self.door_events[i].increment(1);
        }
    }

    /// Sets the gauge of alarms in force of one kind.
    pub fn door_alarms(&self, kind: &str, n: usize) {
        if let Some(i) = DoorEventKind::ALL.iter().position(|k| k.as_str() == kind) {
            self.door_alarms[i].set(n as f64);
        }
    }

    /// Counts a connection refused before being served.
    pub fn refused(&self, listener: Listener, why: Refusal) {
        let l = Listener::ALL
            .iter()
            .position(|x| *x == listener)
            .unwrap_or(0);
        let w = Refusal::ALL.iter().position(|x| *x == why).unwrap_or(0);
        self.refused[l][w].increment(1);
    }

    /// Counts a failed `accept()`.
    pub fn accept_error(&self, listener: Listener) {
        let l = Listener::ALL
            .iter()
            .position(|x| *x == listener)
            .unwrap_or(0);
        self.accept_errors[l].increment(1);
    }

    /// Sets the open and maximum connection gauges of a listener.
    pub fn listener_gauges(&self, listener: Listener, open: usize, max: usize) {
        let l = Listener::ALL
            .iter()
            .position(|x| *x == listener)
            .unwrap_or(0);
        self.listener_open[l].set(open as f64);
        self.listener_max[l].set(max as f64);
    }

    /// Counts one admin request. Operation and outcome are fixed strings
    /// chosen by the code, never request input.
    pub fn admin_request(&self, op: &'static str, outcome: &'static str) {
        self.recorder
            .register_counter(
                &Key::from_parts(
                    name::ADMIN_REQUESTS,
                    labels(&[("op", op), ("outcome", outcome)]),
                ),
                &META,
            )
            .increment(1);
    }

    /// Counts one journal look-up (fixed label values).
    pub fn lookup(&self, purpose: &'static str, outcome: &'static str) {
        self.recorder
            .register_counter(
                &Key::from_parts(
                    name::LOOKUPS,
                    labels(&[("purpose", purpose), ("outcome", outcome)]),
                ),
                &META,
            )
            .increment(1);
    }

    /// Folds histogram samples into buckets; run periodically so memory stays
    /// flat under sustained load.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The appliance's listeners (also their metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Door readers and controllers (protocol v1 over mTLS).
    Reader,
    /// The admin API (HTTPS, mTLS).
    Admin,
    /// Metrics and health (plain HTTP).
    Ops,
}

impl Listener {
    /// Every listener.
    pub const ALL: [Listener; 3] = [Listener::Reader, Listener::Admin, Listener::Ops];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Reader => "reader",
            Listener::Admin => "admin",
            Listener::Ops => "ops",
        }
    }
}

/// Why a connection was refused before it was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every session slot is taken.
    Capacity,
    /// The source address already has its maximum of unauthenticated
    /// connections.
    PerAddress,
    /// The certificate already holds its maximum of sessions.
    PerIdentity,
}

impl Refusal {
    /// Every reason.
    pub const ALL: [Refusal; 3] = [Refusal::Capacity, Refusal::PerAddress, Refusal::PerIdentity];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Capacity => "capacity",
            Refusal::PerAddress => "per_address",
            Refusal::PerIdentity => "per_identity",
        }
    }
}
