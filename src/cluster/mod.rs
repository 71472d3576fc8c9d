//! Several appliances sharing their state through NATS JetStream.
//!
//! Two streams, replicated by the NATS servers (`cluster.replicas`):
//!
//! - **changes** (`<PREFIX>_CHANGES`, subject `<prefix>.changes`, no age
//!   limit): every administrative change, as the ledger decided it, in one
//!   order. A change is published with the stream position it was decided
//!   against (`Nats-Expected-Last-Sequence`): if another appliance got
//!   there first, the stream refuses it, this appliance applies what it
//!   missed and decides again. The stream position *is* the ledger
//!   position, so every appliance applies the same changes in the same
//!   order to its RocksDB and memory. An admin request is answered only
//!   after the stream has the change and this appliance has applied it.
//! - **journal** (`<PREFIX>_JOURNAL`, subjects `<prefix>.journal.<node>`,
//!   age limit the retention window): each appliance's own decisions and
//!   door events, copied from its journal after they are in its WAL, in
//!   batches; every appliance imports the others' into its own journal, so
//!   look-ups (under the same purpose rules and limits) see every door.
//!   The stream's age limit erases the replicated copy; the appliances'
//!   own compaction erases theirs.
//!
//! Never replicated: key material (changes carry key identifiers and check
//! values only; every appliance needs the same `keys/`), access numbers
//! (only their keyed transform exists anywhere), the appliance's TLS
//! identity.
//!
//! Cut off from NATS, an appliance keeps verifying from its last state and
//! journaling locally (replicated when the link returns) and refuses admin
//! changes with an explicit error.

mod journal;

use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use crate::app::shared::Shared;
use crate::config::ClusterConfig;
use crate::ledger::{Change, Durability, LedgerError};

/// The format version of a change on the stream.
const CHANGE_V1: u8 = 1;
/// Header naming the appliance that published a message.
const ORIGIN: &str = "Portcullis-Origin";

/// Encodes a change for the stream.
pub fn encode_change(c: &Change) -> Vec<u8> {
    let mut out = vec![CHANGE_V1];
    ciborium::into_writer(c, &mut out).expect("a change always serialises");
    out
}

/// Decodes a change from the stream.
pub fn decode_change(b: &[u8]) -> Result<Change, String> {
    match b.split_first() {
        Some((&CHANGE_V1, rest)) => ciborium::from_reader(rest).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("change format {v} is newer than this appliance")),
        None => Err("empty change".into()),
    }
}

const MEMBER_OF: &[u8] = b"cluster/member-of";

/// While catching up, changes copied from the log are synced at least
/// this often (and at the end of every burst).
const SYNC_EVERY: usize = 1024;

/// Ties a data directory to one cluster (its stream prefix) or to running
/// alone: ledger positions mean different things in each, so a directory
/// never moves between them.
pub fn bind_data_dir(
    store: &crate::store::Store,
    cfg: &ClusterConfig,
    applied: u64,
) -> Result<(), ClusterError> {
    let meta = store.cf(crate::store::cf::META);
    let member = store
        .db()
        .get_cf(meta, MEMBER_OF)
        .map_err(|e| ClusterError(e.to_string()))?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    match (cfg.enabled(), member) {
        (true, None) if applied > 0 => Err(ClusterError(format!(
            "this data directory holds {applied} changes made by an appliance running alone; a clustered appliance starts from an empty data directory and takes the cluster's state from its change log"
        ))),
        (true, None) => store
            .db()
            .put_cf(meta, MEMBER_OF, cfg.stream_prefix.as_bytes())
            .map_err(|e| ClusterError(e.to_string())),
        (true, Some(p)) if p != cfg.stream_prefix => Err(ClusterError(format!(
            "this data directory belongs to cluster {p}, not {}",
            cfg.stream_prefix
        ))),
        (false, Some(p)) => Err(ClusterError(format!(
            "this data directory belongs to cluster {p}: configure [cluster] to run it"
        ))),
        _ => Ok(()),
    }
}

/// The replicated journal's erasure, as `GET /v1/retention` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JournalReport {
    /// The stream.
    pub stream: String,
    /// Batches of records it holds.
    pub messages: u64,
    /// Its age limit (seconds): records older are erased by the NATS
    /// servers.
    pub max_age_secs: u64,
    /// When its oldest record was decided (RFC 3339), if it holds any.
    pub oldest: Option<String>,
    /// Whether everything it holds is inside the limit (with one minute
    /// for the servers' expiry sweep).
    pub within_window: bool,
}

/// What the cluster link is doing, for readiness and metrics.
#[derive(Debug, Default)]
pub struct Status {
    /// The streams exist and this appliance has found them.
    pub streams: AtomicBool,
    /// Caught up with the change log at least once since start.
    pub caught_up: AtomicBool,
    /// Changes on the stream not yet applied here (last seen).
    pub behind: AtomicU64,
    /// Why the follower cannot apply the next change, if it cannot.
    pub stuck: Mutex<Option<String>>,
    /// A misconfiguration seen on the streams (two appliances with one
    /// node number), until restart.
    pub conflict: Mutex<Option<String>>,
}

/// The link to the cluster.
pub struct Cluster {
    cfg: ClusterConfig,
    client: async_nats::Client,
    js: jetstream::Context,
    changes: String,
    changes_subject: String,
    journal: String,
    journal_prefix: String,
    stream: tokio::sync::OnceCell<stream::Stream>,
    journal_stream: tokio::sync::OnceCell<stream::Stream>,
    /// Readiness and lag.
    pub status: Status,
    /// When this appliance started (readers wait for the catch-up, within
    /// `start_serving_after_ms`).
    started: std::time::Instant,
    /// Whether the wait for the catch-up has run out (said once).
    stale_start: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.cfg.name)
            .finish()
    }
}

/// Why the cluster link could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cluster: {0}")]
pub struct ClusterError(String);

impl Cluster {
    /// Connects (in the background: an appliance starts even when no NATS
    /// server answers, and serves from its own state).
    pub async fn connect(cfg: &ClusterConfig) -> Result<Arc<Self>, ClusterError> {
        let name = cfg.name.clone();
        let client = async_nats::ConnectOptions::new()
            .name(format!("portcullis-{name}"))
            .retry_on_initial_connect()
            // The configured servers, and only those: which servers an
            // appliance may use is the operator's decision.
            .ignore_discovered_servers()
            .retain_servers_order()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(2))
            .ping_interval(Duration::from_secs(2))
            .reconnect_delay_callback(|n| Duration::from_millis((50u64 << n.min(5)).min(2_000)))
            .event_callback(move |ev| {
                let name = name.clone();
                async move {
                    match ev {
                        async_nats::Event::Disconnected => tracing::warn!(appliance = %name, "cut off from NATS: admin changes are refused, verifications continue"),
                        async_nats::Event::Connected => tracing::info!(appliance = %name, "connected to NATS"),
                        other => tracing::debug!(event = %other, "NATS"),
                    }
                }
            })
            .connect(cfg.nats.as_slice())
            .await
            .map_err(|e| ClusterError(e.to_string()))?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_millis(cfg.commit_timeout_ms))
            .max_ack_inflight(1024)
            .build(client.clone());
        let lower = cfg.stream_prefix.to_ascii_lowercase();
        Ok(Arc::new(Self {
            changes: format!("{}_CHANGES", cfg.stream_prefix),
            changes_subject: format!("{lower}.changes"),
            journal: format!("{}_JOURNAL", cfg.stream_prefix),
            journal_prefix: format!("{lower}.journal"),
            cfg: cfg.clone(),
            client,
            js,
            stream: tokio::sync::OnceCell::new(),
            journal_stream: tokio::sync::OnceCell::new(),
            status: Status::default(),
            started: std::time::Instant::now(),
            stale_start: AtomicBool::new(false),
        }))
    }

    /// This appliance's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Whether the link to NATS is up.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// How long the replicated journal keeps a record: the retention
    /// window, or the configured shorter limit.
    pub(crate) fn journal_age(&self, retention: Duration) -> Duration {
        match self.cfg.journal_max_age_secs {
            0 => retention,
            s => Duration::from_secs(s).min(retention),
        }
    }

    /// When the oldest record in the replicated journal was decided (µs),
    /// read from the stream's first batch; `None` when it holds none or
    /// cannot be read.
    async fn oldest_replicated(&self) -> Option<u64> {
        let stream = self.journal_stream.get()?;
        let info = stream.get_info().await.ok()?;
        if info.state.messages == 0 {
            return None;
        }
        let m = stream
            .get_raw_message(info.state.first_sequence)
            .await
            .ok()?;
        journal::decode(&m.payload)?
            .iter()
            .map(|(k, _)| journal::time_of(k))
            .min()
    }

    /// Creates (or finds) both streams; retried until it works.
    async fn ensure_streams(&self, retention: Duration) {
        let mut wait = Duration::from_millis(100);
        loop {
            let changes = self
                .js
                .get_or_create_stream(stream::Config {
                    name: self.changes.clone(),
                    subjects: vec![self.changes_subject.clone()],
                    num_replicas: self.cfg.replicas,
                    storage: stream::StorageType::File,
                    allow_direct: true,
                    deny_delete: true,
                    deny_purge: true,
                    description: Some("Portcullis administrative changes, in order".into()),
                    ..Default::default()
                })
                .await;
            let age = self.journal_age(retention);
            let changes = changes.map_err(|e| e.to_string());
            let journal = match &changes {
                Ok(_) => self
                    .js
                    .create_or_update_stream(stream::Config {
                        name: self.journal.clone(),
                        subjects: vec![format!("{}.>", self.journal_prefix)],
                        num_replicas: self.cfg.replicas,
                        storage: stream::StorageType::File,
                        max_age: age,
                        // Each batch also carries its own time to live,
                        // counted from its oldest record's decision.
                        allow_message_ttl: true,
                        duplicate_window: age.min(Duration::from_secs(120)),
                        description: Some(
                            "Portcullis decisions and door events of every appliance, erased at the retention window".into(),
                        ),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.clone()),
            };
            let found = match (changes, journal) {
                (Ok(c), Ok(())) => match self.js.get_stream(&self.journal).await {
                    Ok(j) => Some((c, j)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster streams not ready yet");
                        None
                    }
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cluster streams not ready yet");
                    None
                }
            };
            if let Some((c, j)) = found {
                let _ = self.stream.set(c);
                let _ = self.journal_stream.set(j);
                self.status.streams.store(true, SeqCst);
                return;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }

    /// Commits a change decided by `decide` (called with the ledger lock
    /// held): published with the position it was decided against, then
    /// applied here. Another appliance's change in between: apply it,
    /// decide again.
    pub(crate) async fn commit<T, E, F>(&self, s: &Arc<Shared>, decide: Arc<F>) -> Result<T, E>
    where
        F: Fn(&Shared) -> Result<(Change, T), E> + Send + Sync + 'static,
        T: Send + 'static,
        E: From<LedgerError> + Send + 'static,
    {
        for _ in 0..16 {
            if !self.connected() || !self.status.streams.load(SeqCst) {
                s.metrics.cluster_refused.increment(1);
                return Err(LedgerError::ClusterUnavailable.into());
            }
            let (sc, d) = (s.clone(), decide.clone());
            let (change, out) = tokio::task::spawn_blocking(move || d(&sc))
                .await
                .map_err(|_| E::from(LedgerError::Abandoned))??;
            if change.is_empty() {
                return Ok(out);
            }
            if !s.space.admin_allowed() {
                return Err(LedgerError::StorageFull.into());
            }
            let expected = s.ledger.applied();
            let msg = PublishMessage::build()
                .payload(Bytes::from(encode_change(&change)))
                .expected_last_sequence(expected)
                .header(ORIGIN, self.cfg.name.as_str());
            let sent = match self
                .js
                .send_publish(self.changes_subject.clone(), msg)
                .await
            {
                Ok(ack) => tokio::time::timeout(
                    Duration::from_millis(self.cfg.commit_timeout_ms),
                    ack.into_future(),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(async_nats::jetstream::context::PublishError::new(
                        PublishErrorKind::TimedOut,
                    ))
                }),
                Err(e) => Err(e),
            };
            match sent {
                Ok(ack) => {
                    let sc = s.clone();
                    let seq = ack.sequence;
                    tokio::task::spawn_blocking(move || {
                        crate::ledger::apply_at(&sc, &change, seq, Durability::Synced)
                    })
                    .await
                    .map_err(|_| E::from(LedgerError::Abandoned))?
                    .map_err(|e| {
                        tracing::error!(position = seq, error = %e, "a change committed to the cluster could not be applied here");
                        E::from(LedgerError::ClusterApply(e.to_string()))
                    })?;
                    s.metrics.cluster_applied.set(seq as f64);
                    return Ok(out);
                }
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    s.metrics.cluster_conflicts.increment(1);
                    self.catch_up(s).await.map_err(E::from)?;
                }
                // The servers refused it: it is not in the log.
                Err(e)
                    if matches!(
                        e.kind(),
                        PublishErrorKind::StreamNotFound
                            | PublishErrorKind::MaxAckPending
                            | PublishErrorKind::MaxPayloadExceeded
                    ) =>
                {
                    s.metrics.cluster_refused.increment(1);
                    tracing::warn!(error = %e, "change refused by the cluster");
                    return Err(LedgerError::ClusterUnavailable.into());
                }
                // Sent, but no answer (a timeout, a connection lost on the
                // way): the log may or may not have it. The caller is told
                // so; this appliance applies it from the log if it is there.
                Err(e) => {
                    s.metrics.cluster_refused.increment(1);
                    tracing::warn!(error = %e, "change not confirmed by the cluster");
                    return Err(LedgerError::ClusterUncertain.into());
                }
            }
        }
        Err(LedgerError::ClusterBusy.into())
    }

    /// Applies every change on the stream after this appliance's position
    /// (the ledger lock is held by the caller).
    async fn catch_up(&self, s: &Arc<Shared>) -> Result<(), LedgerError> {
        let Some(stream) = self.stream.get() else {
            return Err(LedgerError::ClusterUnavailable);
        };
        let mut deferred = 0usize;
        let r = loop {
            let seq = s.ledger.applied() + 1;
            let m = match stream.direct_get(seq).await {
                Ok(m) => m,
                Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => break Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the change log");
                    break Err(LedgerError::ClusterUnavailable);
                }
            };
            // Copied from the log: synced in groups (see `Durability`).
            deferred += 1;
            let d = if deferred % SYNC_EVERY == 0 {
                Durability::Synced
            } else {
                Durability::Deferred
            };
            if let Err(e) = self.apply_message(s, seq, &m.payload, d).await {
                break Err(e);
            }
        };
        if deferred > 0 {
            let sc = s.clone();
            tokio::task::spawn_blocking(move || crate::ledger::sync_position(&sc))
                .await
                .map_err(|_| LedgerError::Abandoned)??;
        }
        r
    }

    async fn apply_message(
        &self,
        s: &Arc<Shared>,
        seq: u64,
        payload: &[u8],
        durability: Durability,
    ) -> Result<(), LedgerError> {
        let change = match decode_change(payload) {
            Ok(c) => c,
            Err(e) => {
                let why = format!("change {seq} cannot be read: {e}");
                *self.status.stuck.lock().expect("status lock") = Some(why.clone());
                return Err(LedgerError::ClusterApply(why));
            }
        };
        let sc = s.clone();
        let r = tokio::task::spawn_blocking(move || {
            crate::ledger::apply_at(&sc, &change, seq, durability)
        })
        .await
        .map_err(|_| LedgerError::Abandoned)?;
        match r {
            Ok(()) => {
                *self.status.stuck.lock().expect("status lock") = None;
                s.metrics.cluster_applied.set(seq as f64);
                Ok(())
            }
            Err(e) => {
                let why = format!("change {seq} cannot be applied: {e}");
                *self.status.stuck.lock().expect("status lock") = Some(why.clone());
                Err(LedgerError::ClusterApply(why))
            }
        }
    }

    /// Follows the change log: applies each change from another
    /// appliance, in order, as it arrives.
    async fn follow(self: Arc<Self>, s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
        use jetstream::consumer::{pull, DeliverPolicy};
        let Some(stream) = self.stream.get().cloned() else {
            return;
        };
        loop {
            let start = s.ledger.applied() + 1;
            let consumer = stream
                .create_consumer(pull::OrderedConfig {
                    deliver_policy: DeliverPolicy::ByStartSequence {
                        start_sequence: start,
                    },
                    filter_subject: self.changes_subject.clone(),
                    ..Default::default()
                })
                .await;
            let mut msgs = match consumer {
                Ok(c) => match c.messages().await {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(error = %e, "change log consumer");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
                Err(e) => {
                    tracing::debug!(error = %e, "change log consumer");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            loop {
                let next = tokio::select! {
                    _ = stop.changed() => return,
                    m = tokio::time::timeout(Duration::from_secs(2), msgs.next()) => m,
                };
                let next = match next {
                    Ok(n) => n,
                    Err(_) => {
                        if s.ledger.unsynced() {
                            let _turn = s.ledger.lock().await;
                            let sc = s.clone();
                            let _ = tokio::task::spawn_blocking(move || {
                                crate::ledger::sync_position(&sc)
                            })
                            .await;
                        }
                        // Quiet for a while. If the log has moved on
                        // without this consumer (its server went and it
                        // was not rebuilt), read the log directly and
                        // start a new consumer.
                        if self.status.behind.load(SeqCst) == 0 {
                            continue;
                        }
                        tracing::warn!("the change log consumer is silent while the log moved on; reading it directly");
                        let _turn = s.ledger.lock().await;
                        if let Err(e) = self.catch_up(&s).await {
                            tracing::warn!(error = %e, "could not catch up with the change log");
                        }
                        break;
                    }
                };
                let Some(Ok(m)) = next else { break };
                let Ok(info) = m.info() else { break };
                let (seq, pending) = (info.stream_sequence, info.pending);
                let _turn = s.ledger.lock().await;
                let applied = s.ledger.applied();
                if seq <= applied {
                    continue;
                }
                if seq != applied + 1 {
                    // A gap (the consumer started elsewhere): start again
                    // from what this appliance has.
                    break;
                }
                // Behind: copied from the log and synced in groups, the
                // last of a burst synced at once.
                let d = if pending == 0 || seq % SYNC_EVERY as u64 == 0 {
                    Durability::Synced
                } else {
                    Durability::Deferred
                };
                if let Err(e) = self.apply_message(&s, seq, &m.payload, d).await {
                    tracing::error!(error = %e, "the change log cannot be applied here; retrying");
                    drop(_turn);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    break;
                }
                self.status.behind.store(pending, SeqCst);
                s.metrics.cluster_behind.set(pending as f64);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Keeps readiness and the lag metrics current.
    async fn watch_status(self: Arc<Self>, s: Arc<Shared>) {
        let mut was = true;
        loop {
            let up = self.connected();
            s.metrics.cluster_connected.set(f64::from(u8::from(up)));
            if up != was {
                was = up;
                if up {
                    tracing::info!("link to the cluster back: admin changes accepted again");
                } else {
                    tracing::error!("cut off from the cluster: admin changes are refused; verifications continue from the last state");
                }
            }
            if up {
                if let Some(stream) = self.stream.get() {
                    if let Ok(info) = stream.get_info().await {
                        let behind = info.state.last_sequence.saturating_sub(s.ledger.applied());
                        self.status.behind.store(behind, SeqCst);
                        s.metrics.cluster_behind.set(behind as f64);
                        if behind == 0 && !self.status.caught_up.swap(true, SeqCst) {
                            tracing::info!(
                                position = s.ledger.applied(),
                                "caught up with the cluster's change log"
                            );
                        }
                    }
                }
                if self.journal_stream.get().is_some() {
                    let age = match self.oldest_replicated().await {
                        Some(t) => s.clock.now_micros().saturating_sub(t) as f64 / 1e6,
                        None => 0.0,
                    };
                    s.metrics.cluster_journal_oldest_age.set(age);
                }
            }
            s.metrics.cluster_applied.set(s.ledger.applied() as f64);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The replicated journal's state, or `None` when it cannot be read.
    pub async fn journal_report(&self, now: u64) -> Option<JournalReport> {
        let info = self.journal_stream.get()?.get_info().await.ok()?;
        let max_age = info.config.max_age.as_secs();
        // Judged by when the oldest record was decided, not when its batch
        // was stored.
        let (oldest, within) = match self.oldest_replicated().await {
            None => (None, true),
            Some(first) => {
                let age = now.saturating_sub(first) / 1_000_000;
                (Some(crate::clock::rfc3339(first)), age <= max_age + 60)
            }
        };
        Some(JournalReport {
            stream: self.journal.clone(),
            messages: info.state.messages,
            max_age_secs: max_age,
            oldest,
            within_window: within,
        })
    }

    /// What keeps this appliance from being ready (not caught up, or
    /// unable to apply the log), if anything.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(why) = self.status.stuck.lock().expect("status lock").clone() {
            p.push(format!("cluster: {why}"));
        }
        if let Some(why) = self.status.conflict.lock().expect("status lock").clone() {
            p.push(format!("cluster: {why}"));
        }
        if !self.status.caught_up.load(SeqCst) && !self.waited_out() {
            p.push(format!(
                "cluster: catching up with the change log ({} behind)",
                self.status.behind.load(SeqCst)
            ));
        }
        p
    }

    /// Whether readers are served: once caught up with the change log
    /// since start, or, when that takes longer than
    /// `start_serving_after_ms`, from this appliance's own last state
    /// (degraded, logged once).
    pub fn serving_readers(&self) -> bool {
        if self.status.caught_up.load(SeqCst) {
            return true;
        }
        if !self.waited_out() {
            return false;
        }
        if !self.stale_start.swap(true, SeqCst) {
            tracing::error!(
                "not caught up with the cluster since start: serving readers from this appliance's last state (changes made meanwhile elsewhere are not applied here yet)"
            );
        }
        true
    }

    /// Whether the wait for the first catch-up since start has run out.
    fn waited_out(&self) -> bool {
        self.started.elapsed() >= Duration::from_millis(self.cfg.start_serving_after_ms)
    }

    /// What works but is degraded.
    pub fn degraded(&self) -> Vec<String> {
        let mut d = Vec::new();
        if !self.connected() {
            d.push("cut off from the cluster (NATS): admin changes are refused, verifications continue from the last state".into());
        }
        if self.waited_out() && !self.status.caught_up.load(SeqCst) {
            d.push(
                "serving readers from state not yet confirmed against the cluster since start"
                    .into(),
            );
        }
        d
    }

    /// Starts the follower, the status watch and the journal's replication.
    pub fn spawn(
        self: &Arc<Self>,
        s: Arc<Shared>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let me = self.clone();
        let sc = s.clone();
        let st = stop.clone();
        let follow = tokio::spawn(async move {
            me.ensure_streams(sc.config.retention()).await;
            tracing::info!(changes = %me.changes, journal = %me.journal, "cluster streams ready");
            let m2 = me.clone();
            let s2 = sc.clone();
            let st2 = st.clone();
            tokio::spawn(journal::replicate(m2.clone(), s2.clone(), st2.clone()));
            tokio::spawn(journal::import(m2, s2, st2));
            me.follow(sc, st).await;
        });
        let status = tokio::spawn(self.clone().watch_status(s));
        vec![follow, status]
    }
}
