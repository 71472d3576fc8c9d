//! The state every listener works on, behind one `Arc`: the records and
//! their books, the journal, the ledger that orders changes, metrics and the
//! listeners' bounds. Listeners read it; only the [`crate::ledger`] changes
//! the records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::policy::decide::{decide, Verdict};
use crate::policy::levels::AccessControl;
use crate::protocol::Credential;
use crate::records::cardholder::HolderBook;
use crate::records::cards::CardBook;
use crate::records::readers::Readers;
use crate::server::listener::{Gate, Listener};
use crate::store::audit::AuditLog;
use crate::store::journal::Journal;
use crate::store::lookups::LookupLog;
use crate::store::Store;
use crate::telemetry::Metrics;

/// The appliance's state.
#[derive(Debug)]
pub struct Shared {
    /// Validated configuration.
    pub config: Config,
    /// The clock decisions and the journal use.
    pub clock: SharedClock,
    /// The database.
    pub store: Store,
    /// Cards and the credential map.
    pub cards: CardBook,
    /// Registered readers.
    pub readers: Readers,
    /// Access levels, compiled per holder.
    pub access: Arc<AccessControl>,
    /// Cardholder records and photos.
    pub holders: HolderBook,
    /// Admin audit trail.
    pub audit: AuditLog,
    /// Look-up audit.
    pub lookups: LookupLog,
    /// The order of administrative changes.
    pub ledger: crate::ledger::Ledger,
    /// Free space on the data directory.
    pub space: Arc<crate::store::space::Space>,
    /// Revoked certificates.
    pub revoked: crate::records::revocations::Revocations,
    /// Door alarms in force.
    pub alarms: crate::records::alarms::Alarms,
    /// Door events on their way to the alarm state (see
    /// [`Shared::door_event`]).
    alarm_events: tokio::sync::mpsc::Sender<(String, crate::protocol::DoorEvent)>,
    /// Look-up cursors and pseudonyms.
    pub pager: crate::lookup::cursor::Pager,
    /// Connection bounds of every listener.
    pub gates: Gates,
    /// The decision journal.
    pub journal: Journal,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The cluster link, when this appliance is one of several.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Exported video clips held on this appliance.
    pub clips: crate::records::clips::Clips,
    draining: AtomicBool,
}

/// The [`Gate`] of each listener.
#[derive(Debug, Clone)]
pub struct Gates {
    /// Readers.
    pub reader: Gate,
    /// Admin API.
    pub admin: Gate,
    /// Metrics and health.
    pub ops: Gate,
}

impl Gates {
    fn new(c: &Config, metrics: &Arc<Metrics>) -> Self {
        let gate = |l, max, pending| Gate::new(l, max, pending).with_metrics(metrics.clone());
        Self {
            reader: gate(
                Listener::Reader,
                c.reader.max_connections,
                Some((c.reader.max_handshakes, c.reader.max_handshakes_per_ip)),
            ),
            admin: gate(
                Listener::Admin,
                c.admin.max_connections,
                Some((c.admin.max_handshakes, c.admin.max_handshakes_per_ip)),
            ),
            ops: gate(
                Listener::Ops,
                c.metrics.max_connections,
                Some((0, c.metrics.max_connections_per_ip)),
            ),
        }
    }

    /// The gate of `l`.
    pub fn get(&self, l: Listener) -> &Gate {
        match l {
            Listener::Reader => &self.reader,
            Listener::Admin => &self.admin,
            Listener::Ops => &self.ops,
        }
    }
}

impl std::fmt::Debug for dyn crate::clock::Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Shared {
    /// Assembles the state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        clock: SharedClock,
        store: Store,
        cards: CardBook,
        readers: Readers,
        access: Arc<AccessControl>,
        holders: HolderBook,
        journal: Journal,
        ledger: crate::ledger::Ledger,
        space: Arc<crate::store::space::Space>,
        revoked: crate::records::revocations::Revocations,
        alarms: crate::records::alarms::Alarms,
        alarm_events: tokio::sync::mpsc::Sender<(String, crate::protocol::DoorEvent)>,
        metrics: Arc<Metrics>,
        cluster: Option<Arc<crate::cluster::Cluster>>,
        clips: crate::records::clips::Clips,
    ) -> Self {
        Self {
            pager: crate::lookup::cursor::Pager::new(),
            gates: Gates::new(&config, &metrics),
            audit: AuditLog::open(store.clone()),
            lookups: LookupLog::open(store.clone()),
            config,
            clock,
            store,
            cards,
            readers,
            access,
            holders,
            journal,
            ledger,
            space,
            revoked,
            alarms,
            alarm_events,
            metrics,
            cluster,
            clips,
            draining: AtomicBool::new(false),
        }
    }

    /// Current time in whole seconds, as card validity is kept.
    #[inline]
    pub fn now_secs(&self) -> u32 {
        (self.clock.now_micros() / 1_000_000).min(u64::from(u32::MAX)) as u32
    }

    /// Decides on a credential at a door: a transform, two hash look-ups,
    /// a bit test; no I/O.
    #[inline]
    pub fn decide(&self, credential: &Credential, door: u32, now_secs: u32) -> Verdict {
        decide(
            self.cards.transform(),
            self.cards.map(),
            &self.access,
            credential,
            door,
            now_secs,
        )
    }

    /// A door event journaled: counted, and handed to the alarm task, which
    /// raises or ends the alarm through the ledger. A full queue drops the
    /// hand-over (counted); the event itself is journaled either way.
    pub fn door_event(&self, reported_by: &str, e: crate::protocol::DoorEvent) {
        if e.begins {
            self.metrics.door_event(e.kind);
        }
        if self
            .alarm_events
            .try_send((reported_by.to_owned(), e))
            .is_err()
        {
            self.metrics.alarm_updates_dropped.increment(1);
            tracing::error!(
                door = e.door,
                kind = e.kind.as_str(),
                "alarm update dropped: queue full"
            );
        }
    }

    /// Sets the alarm gauges from the alarms in force.
    pub fn alarm_gauges(&self) {
        let (doors, by_kind) = self.alarms.counts();
        self.metrics.doors_in_alarm.set(doors as f64);
        for (kind, n) in by_kind {
            self.metrics.door_alarms(kind, n);
        }
    }

    /// Marks the appliance as draining (readiness goes false).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the appliance should receive traffic.
    pub fn ready(&self) -> bool {
        self.readiness().is_empty()
    }

    /// Why the appliance should not receive traffic (empty when ready).
    pub fn readiness(&self) -> Vec<String> {
        let mut p: Vec<String> = Vec::new();
        if self.draining.load(Ordering::SeqCst) {
            p.push("shutting down".into());
        }
        if let Some(why) = self.journal.problem() {
            p.push(why.into());
        }
        if !self.space.admin_allowed() {
            p.push("data directory nearly full: admin changes are refused".into());
        }
        if self.gates.reader.exhausted() {
            p.push("reader listener at max_connections (new readers are refused)".into());
        }
        if let Some(c) = &self.cluster {
            p.extend(c.problems());
        }
        p
    }

    /// What works but not fully (shown by `/readyz` while ready).
    pub fn degraded(&self) -> Vec<String> {
        self.cluster
            .as_ref()
            .map(|c| c.degraded())
            .unwrap_or_default()
    }
}
