//! Starting and stopping the whole appliance.

pub mod alarms;
pub mod mailer;
pub mod shared;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::app::shared::Shared;
use crate::clock::SharedClock;
use crate::config::{ms, Config, ConfigError};
use crate::crypto::numbers::Transform;
use crate::policy::levels::AccessControl;
use crate::records::cardholder::HolderBook;
use crate::records::cards::CardBook;
use crate::records::readers::Readers;
use crate::server::tls::{self, TlsError};
use crate::store::journal::{Journal, JournalOptions};
use crate::store::space::Space;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// The appliance could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// TLS material missing or unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The keys do not fit the data directory (missing, or not the keys the
    /// data was written with).
    #[error(transparent)]
    Keys(#[from] crate::store::keys::KeyBindError),
    /// The database could not be opened or loaded.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Access-level or record-key set-up failed.
    #[error("{0}")]
    Access(String),
    /// The cluster link could not be set up.
    #[error("{0}")]
    Cluster(String),
    /// The held video clips could not be opened or swept.
    #[error(transparent)]
    Clips(#[from] crate::records::clips::ClipError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        cause: std::io::Error,
    },
}

/// A running appliance.
pub struct Appliance {
    core: Arc<Shared>,
    reader_addr: SocketAddr,
    admin_addr: SocketAddr,
    metrics_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Appliance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appliance")
            .field("reader", &self.reader_addr)
            .field("admin", &self.admin_addr)
            .field("metrics", &self.metrics_addr)
            .finish()
    }
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every reader connection finished before the deadline.
    pub drained: bool,
}

/// Binds a listener whose kernel queue holds `backlog` connections that
/// are not yet accepted (the kernel caps it at `net.core.somaxconn`).
fn bind(addr: SocketAddr, backlog: usize) -> Result<TcpListener, StartError> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    };
    socket
        .and_then(|s| {
            s.set_reuseaddr(true)?;
            s.bind(addr)?;
            s.listen(u32::try_from(backlog).unwrap_or(u32::MAX))
        })
        .map_err(|cause| StartError::Bind { addr, cause })
}

impl Appliance {
    /// Opens storage, loads every credential, and starts the listeners.
    pub async fn start(config: Config, clock: SharedClock) -> Result<Self, StartError> {
        config.validate()?;
        // Everything the appliance creates (database files, logs, keys) is
        // owner-only.
        // SAFETY: umask only changes this process's file-creation mask.
        unsafe {
            libc::umask(0o077);
        }
        for w in config.warnings() {
            tracing::warn!("configuration: {w}");
        }
        let fds = crate::sys::fdlimit::raise_to(config.descriptor_budget());
        if fds < config.descriptor_budget() {
            tracing::warn!(
                limit = fds,
                needed = config.descriptor_budget(),
                "open-file limit below the configured connection bounds; accept() will fail before max_connections is reached"
            );
        }
        let server_tls = tls::server_config(
            &config.tls.ca_cert,
            &config.tls.server_cert,
            &config.tls.server_key,
        )?;
        let metrics = Arc::new(Metrics::new());

        let cluster = if config.cluster.enabled() {
            Some(
                crate::cluster::Cluster::connect(&config.cluster)
                    .await
                    .map_err(|e| StartError::Cluster(e.to_string()))?,
            )
        } else {
            None
        };
        let (alarm_tx, mut alarm_rx) = tokio::sync::mpsc::channel(10_000);
        // Loading millions of cards is blocking work: not on the reactor.
        let core = {
            let config = config.clone();
            let clock = clock.clone();
            let metrics = metrics.clone();
            let cluster = cluster.clone();
            tokio::task::spawn_blocking(move || -> Result<Shared, StartError> {
                let retention = config.retention().as_micros() as u64;
                // A damaged database is refused before RocksDB's recovery
                // could make its loss permanent: read-only first.
                if config.data_dir.join("CURRENT").exists() {
                    let ro = Store::open_read_only(&config.data_dir)?;
                    crate::ledger::Ledger::check(&ro, &config.data_dir)?;
                }
                let store = Store::open_with(
                    &config.data_dir,
                    clock.clone(),
                    retention,
                    &crate::store::Tuning::from_config(&config),
                )?;
                let mb = |v: u64| v << 20;
                let space = Arc::new(Space::new(
                    &config.data_dir,
                    mb(config.storage.reserve_mb),
                    mb(config.storage.resume_mb),
                    mb(config.storage.admin_reserve_mb),
                ));
                let keys = crate::store::keys::bind(&config.keys_dir, &store)?;
                let cards = CardBook::load(
                    store.clone(),
                    Transform::new(&keys.transform),
                    clock.clone(),
                )?;
                let readers = Readers::load(store.clone())?;
                let access = Arc::new(
                    AccessControl::new(&config.access.timezone)
                        .map_err(|e| StartError::Access(e.to_string()))?,
                );
                crate::records::access::load(&store, &access)?;
                let holders = HolderBook::load(store.clone(), keys.vault, access.clone())?;
                let ledger = crate::ledger::Ledger::open(&store, &config.data_dir)?;
                crate::cluster::bind_data_dir(&store, &config.cluster, ledger.applied())
                    .map_err(|e| StartError::Cluster(e.to_string()))?;
                let journal = Journal::start(
                    store.clone(),
                    clock.clone(),
                    JournalOptions {
                        sync: config.journal.sync,
                        max_batch: config.journal.max_batch,
                        max_queue: config.journal.max_queue,
                        retention,
                        card_index: config.journal.card_index,
                        write_buffer: config.journal.write_buffer_mb << 20,
                        node: if config.cluster.enabled() {
                            config.cluster.node
                        } else {
                            0
                        },
                    },
                    metrics.clone(),
                    space.clone(),
                )?;
                let revoked = crate::records::revocations::Revocations::load(&store)?;
                let alarms = crate::records::alarms::Alarms::load(&store)?;
                let here = if config.cluster.enabled() {
                    config.cluster.name.clone()
                } else {
                    "this appliance".to_owned()
                };
                let clips =
                    crate::records::clips::Clips::open(store.clone(), &config.keys_dir, &here)?;
                // A clip whose request no longer holds it here (a crash
                // between a denial and its erasure, a restored backup) is
                // deleted and erased before anything else runs.
                let swept = clips.sweep(|id| {
                    crate::records::video::export(&store, id)
                        .ok()
                        .flatten()
                        .is_some_and(|e| {
                            matches!(
                                e.status,
                                crate::records::video::ExportStatus::Held
                                    | crate::records::video::ExportStatus::Approved
                            ) && e.held_on.as_deref() == Some(clips.here())
                        })
                })?;
                if swept > 0 {
                    tracing::warn!(
                        clips = swept,
                        "video clips no longer held were erased at start"
                    );
                } else {
                    // A clip deleted by a change whose physical erasure did
                    // not finish (a crash, a failed flush) leaves the files
                    // now.
                    clips.erase()?;
                }
                Ok(Shared::new(
                    config, clock, store, cards, readers, access, holders, journal, ledger, space,
                    revoked, alarms, alarm_tx, metrics, cluster, clips,
                ))
            })
            .await
            .expect("start-up task does not panic")?
        };
        let core = Arc::new(core);
        core.metrics.credentials.set(core.cards.map().len() as f64);
        core.journal.refresh_oldest_gauge();

        // A reconnect storm waits in the reader listener's queue while
        // `max_handshakes` are served: room for every reader, so none is
        // dropped and left to TCP's retransmission timers.
        let reader_l = bind(
            config.reader.listen,
            config.reader.max_connections.max(1024),
        )?;
        if let Some(cap) = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|cap| *cap < config.reader.max_connections)
        {
            tracing::info!(
                queue = cap,
                handshakes = config.reader.max_handshakes,
                "the kernel caps the reader listener's queue (net.core.somaxconn): in a reconnect storm of more readers than queue plus handshakes, the rest wait for TCP retransmission"
            );
        }
        let admin_l = bind(config.admin.listen, 1024)?;
        let metrics_l = bind(config.metrics.listen, 1024)?;
        let addr = |l: &TcpListener, a: SocketAddr| l.local_addr().unwrap_or(a);
        let reader_addr = addr(&reader_l, config.reader.listen);
        let admin_addr = addr(&admin_l, config.admin.listen);
        let metrics_addr = addr(&metrics_l, config.metrics.listen);

        let (stop, stop_rx) = watch::channel(false);
        let reader_acceptor = TlsAcceptor::from(tls::reader_server_config(
            &server_tls,
            config.reader.session_resumption,
        )?);
        let acceptor = TlsAcceptor::from(server_tls);
        let mut tasks = vec![
            tokio::spawn(crate::server::reader::run(
                reader_l,
                reader_acceptor,
                core.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(crate::server::admin::run(
                admin_l,
                acceptor,
                core.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(crate::server::ops::run(
                metrics_l,
                core.clone(),
                stop_rx.clone(),
            )),
        ];
        // Histogram upkeep keeps exporter memory flat under load.
        {
            let core = core.clone();
            let every = ms(config.metrics.upkeep_interval_ms);
            tasks.push(tokio::spawn(async move {
                let mut t = tokio::time::interval(every);
                loop {
                    t.tick().await;
                    core.metrics.upkeep();
                }
            }));
        }
        // E-mail notices, when a relay is configured.
        tasks.push(tokio::spawn(crate::app::mailer::run(
            core.clone(),
            stop_rx.clone(),
        )));
        if let Some(c) = &core.cluster {
            tasks.extend(c.spawn(core.clone(), stop_rx.clone()));
        }
        core.alarm_gauges();
        // Door events become alarms, one at a time and in order, through
        // the ledger.
        {
            let core = core.clone();
            tasks.push(tokio::spawn(async move {
                while let Some((by, e)) = alarm_rx.recv().await {
                    // An alarm is never given up: a change refused now (a
                    // full disk, the cluster out of reach) is retried, in
                    // order, until it is made. Each attempt is decided
                    // against the state then, so a retry after an
                    // uncertain commit changes nothing twice.
                    let mut wait = Duration::from_millis(100);
                    loop {
                        core.metrics
                            .alarm_updates_pending
                            .set((alarm_rx.len() + 1) as f64);
                        match crate::app::alarms::commit_event(&core, by.clone(), e).await {
                            Ok(()) => break,
                            Err(err) => {
                                tracing::error!(error = %err, door = e.door, kind = e.kind.as_str(), "alarm state could not be updated; retrying");
                                tokio::time::sleep(wait).await;
                                wait = (wait * 2).min(Duration::from_secs(5));
                            }
                        }
                    }
                    core.metrics.alarm_updates_pending.set(alarm_rx.len() as f64);
                }
            }));
        }
        // The free-space watch: what may be written, said loudly when it
        // changes.
        {
            let core = core.clone();
            tasks.push(tokio::spawn(async move {
                let mut t = tokio::time::interval(Duration::from_millis(250));
                loop {
                    t.tick().await;
                    for change in core.space.refresh() {
                        use crate::store::space::Transition as T;
                        let free = core.space.free();
                        match change {
                            T::JournalStopped => tracing::error!(free, "data directory below its reserve: decisions are refused until space is freed"),
                            T::JournalResumed => tracing::warn!(free, "free space back above the resume mark: decisions resume"),
                            T::AdminStopped => tracing::error!(free, "data directory nearly full: admin changes are refused"),
                            T::AdminResumed => tracing::warn!(free, "admin changes accepted again"),
                            T::None => {}
                        }
                    }
                    core.metrics.storage_free.set(core.space.free() as f64);
                    core.metrics.storage_low.set(f64::from(u8::from(!core.space.journal_allowed())));
                    core.metrics.storage_critical.set(f64::from(u8::from(!core.space.admin_allowed())));
                }
            }));
        }
        // Scheduled erasure of expired journal records.
        {
            let core = core.clone();
            let every = Duration::from_secs(config.journal.compaction_interval_secs);
            tasks.push(tokio::spawn(async move {
                let mut t = tokio::time::interval(every);
                t.tick().await;
                loop {
                    t.tick().await;
                    let c = core.clone();
                    match tokio::task::spawn_blocking(move || {
                        let now = c.clock.now_micros();
                        let retention = c.journal.retention();
                        match crate::store::backup::prune(&c.config.backup.dir, now, retention) {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(
                                backups = n,
                                "backups older than the retention window erased"
                            ),
                            Err(e) => {
                                tracing::error!(error = %e, "expired backups could not be erased")
                            }
                        }
                        c.journal.erase_expired()
                    })
                    .await
                    {
                        Ok(Ok(())) => tracing::info!("scheduled journal retention compaction done"),
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "journal retention compaction failed")
                        }
                        Err(_) => {}
                    }
                }
            }));
        }
        tracing::info!(%reader_addr, %admin_addr, %metrics_addr, credentials = core.cards.map().len(), "appliance started");
        Ok(Self {
            core,
            reader_addr,
            admin_addr,
            metrics_addr,
            stop,
            tasks,
        })
    }

    /// Shared state (for tests and tools in the same process).
    pub fn core(&self) -> &Arc<Shared> {
        &self.core
    }
    /// Where readers connect.
    pub fn reader_addr(&self) -> SocketAddr {
        self.reader_addr
    }
    /// Where the admin API listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Stops accepting, lets open reader connections answer what they have
    /// read (they are then told `shutting_down`), flushes the journal and
    /// closes the database. Gives up waiting for connections after
    /// `deadline`; the journal is flushed either way.
    pub async fn shutdown(self, deadline: Duration) -> ShutdownReport {
        self.core.set_draining();
        let _ = self.stop.send(true);
        let drained = self.core.gates.reader.drained(deadline).await;
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        let core = self.core;
        let _ = tokio::task::spawn_blocking(move || {
            core.journal.close();
            if let Err(e) = core.store.flush_all() {
                tracing::error!(error = %e, "final flush failed");
            }
        })
        .await;
        tracing::info!(drained, "appliance stopped");
        ShutdownReport { drained }
    }
}
