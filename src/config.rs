//! Appliance configuration: a TOML file whose every field has a default.
//!
//! The defaults are the "embedded defaults" a newcomer runs with: loopback
//! listeners, the dev PKI under `certs/`, data under `data/`. `validate()`
//! refuses anything unsafe, above all a retention longer than the office's
//! 14 days.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Most table files RocksDB keeps open at once (the rest are reopened on
/// demand): bounds the appliance's file descriptors.
pub const ROCKSDB_MAX_OPEN_FILES: u32 = 512;

/// The office's retention limit for access logs, in days. Configuration may
/// shorten it, never lengthen it.
pub const MAX_RETENTION_DAYS: u32 = 14;

/// Hard ceiling for a reader frame, whatever the configuration says: the
/// length prefix is a `u16`.
pub const HARD_MAX_FRAME: usize = u16::MAX as usize;

/// A configuration error, with the offending field named.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {cause}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path} is invalid: {cause}")]
    Parse {
        /// The path given.
        path: PathBuf,
        /// The parser's error, naming line and field.
        cause: toml::de::Error,
    },
    /// A value is out of its allowed range.
    #[error("config field `{field}` {problem}")]
    Invalid {
        /// Dotted field name.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where RocksDB keeps credentials and the decision journal.
    pub data_dir: PathBuf,
    /// Where appliance secrets live (owner-only permissions).
    pub keys_dir: PathBuf,
    /// TLS material.
    pub tls: TlsConfig,
    /// The reader listener and its bounds.
    pub reader: ReaderConfig,
    /// The admin (HTTPS, mTLS) listener.
    pub admin: AdminConfig,
    /// The plain-HTTP metrics and health listener.
    pub metrics: MetricsConfig,
    /// The decision journal.
    pub journal: JournalConfig,
    /// Shutdown behaviour.
    pub shutdown: ShutdownConfig,
    /// The async runtime.
    pub runtime: RuntimeConfig,
    /// Access levels.
    pub access: AccessConfig,
    /// Journal look-ups.
    pub investigations: InvestigationsConfig,
    /// Free space and RocksDB's own log.
    pub storage: StorageConfig,
    /// Online backups.
    pub backup: BackupConfig,
    /// Several appliances sharing their state through NATS JetStream.
    /// Empty `nats`: this appliance runs alone.
    pub cluster: ClusterConfig,
    /// E-mail notices (key orders) sent through an SMTP relay.
    pub notify: NotifyConfig,
    /// Exported video clips.
    pub video: VideoConfig,
}

/// E-mail notices: a key order ready, keys to be returned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// The SMTP relay (`host:port`), normally the site's relay on this
    /// machine's loopback; empty: notices wait in the outbox for the office.
    pub smtp: String,
    /// The sender address.
    pub from: String,
    /// Seconds between attempts after a failure.
    pub retry_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            smtp: String::new(),
            from: "semo-keys@localhost".into(),
            retry_secs: 10,
        }
    }
}

/// Exported video clips held for the Director.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VideoConfig {
    /// The largest clip held (bytes): a short excerpt, sealed in the
    /// database; longer footage stays on the recorder.
    pub max_clip_bytes: usize,
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self {
            max_clip_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Several appliances sharing one change log and their journals through
/// NATS JetStream (see docs/CLUSTER.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// NATS server URLs (`nats://host:port`); empty: no cluster.
    pub nats: Vec<String>,
    /// This appliance's name in the cluster: unique, 1–32 of
    /// `[a-z0-9-]`.
    pub name: String,
    /// This appliance's number in the cluster, 1–255, unique: it keeps the
    /// journal positions of different appliances apart.
    pub node: u8,
    /// Replicas of each stream (3 survives the loss of one NATS server).
    pub replicas: usize,
    /// How long a change may wait for the stream's acknowledgement before
    /// it is refused.
    pub commit_timeout_ms: u64,
    /// The replicated journal's age limit in seconds; 0: the journal's
    /// retention window. It can shorten the window, never lengthen it.
    pub journal_max_age_secs: u64,
    /// Stream name prefix (tests give each cluster its own).
    pub stream_prefix: String,
    /// A starting appliance refuses readers (`not_ready`, so doors use
    /// another appliance) until it has caught up with the change log, at
    /// most this long; after that, with the cluster still out of reach, it
    /// serves from its own last state, degraded and said so loudly (a
    /// campus whose NATS servers are all down must not stay locked).
    pub start_serving_after_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            nats: Vec::new(),
            name: String::new(),
            node: 0,
            replicas: 3,
            commit_timeout_ms: 5_000,
            journal_max_age_secs: 0,
            stream_prefix: "PORTCULLIS".into(),
            start_serving_after_ms: 30_000,
        }
    }
}

impl ClusterConfig {
    /// Whether this appliance is part of a cluster.
    pub fn enabled(&self) -> bool {
        !self.nats.is_empty()
    }
}

/// Online backups.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Where backups are made (ideally another disk); each is erased once
    /// it is older than the retention window, as the journal is.
    pub dir: PathBuf,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("backups"),
        }
    }
}

/// Free space on the data directory, and RocksDB's own log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Below this many MiB free, decisions are refused (fail secure) so
    /// RocksDB never meets a full disk; it must cover one memtable flush.
    pub reserve_mb: u64,
    /// Decisions resume once this many MiB are free again.
    pub resume_mb: u64,
    /// Below this many MiB free, admin changes are refused too.
    pub admin_reserve_mb: u64,
    /// Where RocksDB writes its own log. Empty: in the data directory, fatal
    /// messages only. Give a directory on another filesystem to keep
    /// RocksDB's full diagnostic log.
    pub rocksdb_log_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            reserve_mb: 128,
            resume_mb: 160,
            admin_reserve_mb: 32,
            rocksdb_log_dir: PathBuf::new(),
        }
    }
}

/// Journal look-ups.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InvestigationsConfig {
    /// Look-ups about one card or person allowed per day (access resolution
    /// by card and police requests together).
    pub max_lookups_per_subject_per_day: u32,
    /// An access-resolution window must end at least this many minutes ago:
    /// the log is for troubleshooting, not for following anyone live.
    pub min_lookup_age_minutes: u32,
}

impl Default for InvestigationsConfig {
    fn default() -> Self {
        Self {
            max_lookups_per_subject_per_day: 10,
            min_lookup_age_minutes: 10,
        }
    }
}

/// Access levels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// IANA time zone in which schedules and holidays are read.
    pub timezone: String,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            timezone: "America/New_York".into(),
        }
    }
}

/// The async runtime.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads for connections; 0 = one per CPU core. The journal
    /// writer is one more thread beside them.
    pub worker_threads: usize,
}

/// Certificates and keys, PEM files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The CA that signs every client certificate (readers and staff).
    pub ca_cert: PathBuf,
    /// The appliance's server certificate chain.
    pub server_cert: PathBuf,
    /// The appliance's server private key.
    pub server_key: PathBuf,
}

/// Reader listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReaderConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Maximum simultaneous reader connections; further ones are reset at
    /// once (so a reader tries another appliance) and counted.
    pub max_connections: usize,
    /// Connections that may be in their TLS handshake (not yet
    /// authenticated) at once; more wait in the kernel backlog.
    pub max_handshakes: usize,
    /// Of those, at most this many from one address (0 = no cap: door
    /// controllers behind one address, or a power-cut reconnect storm
    /// through a NAT, must not be refused). Beyond it: reset.
    pub max_handshakes_per_ip: usize,
    /// Sessions one reader certificate may hold (0 = no cap), so one
    /// misused certificate cannot take every slot.
    pub max_sessions_per_reader: usize,
    /// Maximum frame length (type byte plus body) accepted from a reader.
    pub max_frame: usize,
    /// Maximum unanswered requests one connection may have outstanding.
    pub max_in_flight: usize,
    /// Time allowed for a TLS handshake plus the protocol HELLO.
    pub handshake_timeout_ms: u64,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout_ms: u64,
    /// Time allowed for one write of answers to the socket.
    pub write_timeout_ms: u64,
    /// TLS 1.3 session tickets for readers: a reader that lost its
    /// connection (a network blip, a switch restart) comes back without the
    /// certificate signatures of a full handshake. Its certificate is still
    /// checked on every connection against the revocation list, the reader
    /// register and its validity dates. Ticket keys live in memory only (a
    /// new one at the first handshake after 6 hours, the one before still
    /// accepted), so a restart means full handshakes.
    pub session_resumption: bool,
}

/// Admin listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Maximum simultaneous admin connections.
    pub max_connections: usize,
    /// Connections that may be in their TLS handshake at once; more wait in
    /// the kernel backlog.
    pub max_handshakes: usize,
    /// Of those, at most this many from one address (0 = no cap); beyond
    /// it a connection is reset, so one host's flood of unfinished
    /// handshakes leaves room for everybody else.
    pub max_handshakes_per_ip: usize,
    /// Sessions one certificate may hold (0 = no cap).
    pub max_sessions_per_identity: usize,
    /// Sessions kept for the security office only.
    pub reserved_for_security_office: usize,
    /// Maximum request body in bytes.
    pub max_body: usize,
    /// TLS handshake timeout.
    pub handshake_timeout_ms: u64,
}

/// Metrics and health listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Listen address (plain HTTP: it serves no personal data).
    pub listen: SocketAddr,
    /// Maximum simultaneous connections (scrapers, health checks).
    pub max_connections: usize,
    /// Of those, at most this many from one address (0 = no cap), so idle
    /// connections from one host cannot starve the scraper.
    pub max_connections_per_ip: usize,
    /// Time allowed for a request's headers to arrive.
    pub header_timeout_ms: u64,
    /// A connection is closed after this long, kept alive or not.
    pub connection_timeout_ms: u64,
    /// How often histogram samples are folded into buckets, which keeps their
    /// memory flat under sustained load.
    pub upkeep_interval_ms: u64,
}

/// Decision journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct JournalConfig {
    /// Days a decision record is kept; at most 14.
    pub retention_days: u32,
    /// Fsync the WAL for every group commit (otherwise the record is in the
    /// WAL in the OS page cache: it survives a process crash, not a power cut).
    pub sync: bool,
    /// How often expired records are physically erased by compaction.
    pub compaction_interval_secs: u64,
    /// Largest number of records in one group commit.
    pub max_batch: usize,
    /// Largest number of records waiting for the writer; readers wait (back
    /// pressure) rather than the queue growing without bound.
    pub max_queue: usize,
    /// Keep a secondary index of decisions by card. Look-ups by card then
    /// seek instead of scanning the window; the index costs roughly 40% of
    /// peak journal throughput (docs/PERFORMANCE.md). It expires with the
    /// records.
    pub card_index: bool,
    /// The journal's RocksDB write buffer in MiB; `storage.reserve_mb` must
    /// be at least twice it.
    pub write_buffer_mb: u64,
}

/// Shutdown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// SIGTERM: time allowed to answer in-flight requests and flush the
    /// journal before exiting anyway.
    pub drain_deadline_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            keys_dir: PathBuf::from("keys"),
            tls: TlsConfig::default(),
            reader: ReaderConfig::default(),
            admin: AdminConfig::default(),
            metrics: MetricsConfig::default(),
            journal: JournalConfig::default(),
            shutdown: ShutdownConfig::default(),
            runtime: RuntimeConfig::default(),
            access: AccessConfig::default(),
            investigations: InvestigationsConfig::default(),
            storage: StorageConfig::default(),
            backup: BackupConfig::default(),
            cluster: ClusterConfig::default(),
            notify: NotifyConfig::default(),
            video: VideoConfig::default(),
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_cert: PathBuf::from("certs/ca.crt"),
            server_cert: PathBuf::from("certs/server.crt"),
            server_key: PathBuf::from("certs/server.key"),
        }
    }
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7443".parse().expect("literal address"),
            max_connections: 16_000,
            max_handshakes: 1_024,
            max_handshakes_per_ip: 0,
            max_sessions_per_reader: 256,
            max_frame: 512,
            max_in_flight: 256,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            write_timeout_ms: 10_000,
            session_resumption: true,
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7444".parse().expect("literal address"),
            max_connections: 64,
            max_handshakes: 64,
            max_handshakes_per_ip: 32,
            max_sessions_per_identity: 32,
            reserved_for_security_office: 8,
            max_body: 1024 * 1024,
            handshake_timeout_ms: 10_000,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9477".parse().expect("literal address"),
            max_connections: 32,
            max_connections_per_ip: 8,
            header_timeout_ms: 5_000,
            connection_timeout_ms: 60_000,
            upkeep_interval_ms: 1_000,
        }
    }
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            retention_days: MAX_RETENTION_DAYS,
            sync: false,
            compaction_interval_secs: 3_600,
            max_batch: 4_096,
            max_queue: 262_144,
            card_index: false,
            write_buffer_mb: 64,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_deadline_ms: 10_000,
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_owned(),
            cause,
        })?;
        let config: Config = toml::from_str(&text).map_err(|cause| ConfigError::Parse {
            path: path.to_owned(),
            cause,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every bound; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
            ConfigError::Invalid {
                field,
                problem: problem.into(),
            }
        }
        let j = &self.journal;
        if j.retention_days == 0 || j.retention_days > MAX_RETENTION_DAYS {
            return Err(invalid(
                "journal.retention_days",
                format!(
                    "must be between 1 and {MAX_RETENTION_DAYS} (office policy: access logs are kept 14 days at most), got {}",
                    j.retention_days
                ),
            ));
        }
        if j.compaction_interval_secs == 0 || j.compaction_interval_secs > 86_400 {
            return Err(invalid(
                "journal.compaction_interval_secs",
                "must be between 1 and 86400 so expired records are erased at least daily",
            ));
        }
        if j.max_batch == 0 || j.max_batch > 1 << 20 {
            return Err(invalid(
                "journal.max_batch",
                "must be between 1 and 1048576",
            ));
        }
        if j.max_queue < j.max_batch {
            return Err(invalid(
                "journal.max_queue",
                "must be at least journal.max_batch",
            ));
        }
        let r = &self.reader;
        if r.max_connections == 0 || r.max_connections > 1_000_000 {
            return Err(invalid(
                "reader.max_connections",
                "must be between 1 and 1000000",
            ));
        }
        // The smallest useful frame is a VERIFY with a 16-byte credential.
        if r.max_frame < 32 || r.max_frame > HARD_MAX_FRAME {
            return Err(invalid(
                "reader.max_frame",
                format!("must be between 32 and {HARD_MAX_FRAME}"),
            ));
        }
        if r.max_in_flight == 0 || r.max_in_flight > u16::MAX as usize {
            return Err(invalid(
                "reader.max_in_flight",
                "must be between 1 and 65535",
            ));
        }
        for (field, max, handshakes) in [
            ("reader", r.max_connections, r.max_handshakes),
            (
                "admin",
                self.admin.max_connections,
                self.admin.max_handshakes,
            ),
        ] {
            if handshakes == 0 || handshakes > 100_000 {
                return Err(invalid(
                    if field == "reader" {
                        "reader.max_handshakes"
                    } else {
                        "admin.max_handshakes"
                    },
                    format!("must be between 1 and 100000 ({field}.max_connections is {max})"),
                ));
            }
        }
        if self.admin.reserved_for_security_office >= self.admin.max_connections {
            return Err(invalid(
                "admin.reserved_for_security_office",
                "must be below admin.max_connections",
            ));
        }
        if self.metrics.max_connections == 0 || self.metrics.max_connections > 10_000 {
            return Err(invalid(
                "metrics.max_connections",
                "must be between 1 and 10000",
            ));
        }
        // Two listeners on one port of overlapping addresses cannot both bind.
        let addrs = [
            ("reader.listen", self.reader.listen),
            ("admin.listen", self.admin.listen),
            ("metrics.listen", self.metrics.listen),
        ];
        for (i, (fa, a)) in addrs.iter().enumerate() {
            for (fb, b) in &addrs[i + 1..] {
                let overlap =
                    a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified();
                if a.port() != 0 && a.port() == b.port() && overlap {
                    return Err(invalid(fa, format!("uses the same port as {fb}")));
                }
            }
        }
        for (field, v) in [
            ("metrics.header_timeout_ms", self.metrics.header_timeout_ms),
            (
                "metrics.connection_timeout_ms",
                self.metrics.connection_timeout_ms,
            ),
            ("reader.handshake_timeout_ms", r.handshake_timeout_ms),
            ("reader.idle_timeout_ms", r.idle_timeout_ms),
            ("reader.write_timeout_ms", r.write_timeout_ms),
            (
                "admin.handshake_timeout_ms",
                self.admin.handshake_timeout_ms,
            ),
            (
                "metrics.upkeep_interval_ms",
                self.metrics.upkeep_interval_ms,
            ),
            (
                "shutdown.drain_deadline_ms",
                self.shutdown.drain_deadline_ms,
            ),
        ] {
            if v == 0 || v > 3_600_000 {
                return Err(invalid(field, "must be between 1 and 3600000 milliseconds"));
            }
        }
        if jiff::tz::TimeZone::get(&self.access.timezone).is_err() {
            return Err(invalid(
                "access.timezone",
                format!("`{}` is not a known IANA time zone", self.access.timezone),
            ));
        }
        let l = self.investigations.max_lookups_per_subject_per_day;
        if l == 0 || l > 1000 {
            return Err(invalid(
                "investigations.max_lookups_per_subject_per_day",
                "must be between 1 and 1000",
            ));
        }
        if self.runtime.worker_threads > 256 {
            return Err(invalid(
                "runtime.worker_threads",
                "must be at most 256 (0 = one per core)",
            ));
        }
        if j.write_buffer_mb < 4 || j.write_buffer_mb > 1024 {
            return Err(invalid(
                "journal.write_buffer_mb",
                "must be between 4 and 1024",
            ));
        }
        let st = &self.storage;
        if st.reserve_mb < 2 * j.write_buffer_mb {
            return Err(invalid(
                "storage.reserve_mb",
                format!(
                    "must be at least twice journal.write_buffer_mb ({}): one memtable flush needs that much free space",
                    j.write_buffer_mb
                ),
            ));
        }
        if st.admin_reserve_mb == 0
            || st.admin_reserve_mb >= st.reserve_mb
            || st.reserve_mb >= st.resume_mb
        {
            return Err(invalid(
                "storage.reserve_mb",
                "needs 0 < admin_reserve_mb < reserve_mb < resume_mb",
            ));
        }
        if self.admin.max_connections == 0 {
            return Err(invalid("admin.max_connections", "must be at least 1"));
        }
        if self.admin.max_body < 1024 || self.admin.max_body > 16 * 1024 * 1024 {
            return Err(invalid(
                "admin.max_body",
                "must be between 1024 and 16777216",
            ));
        }
        if !self.notify.smtp.is_empty() && !self.notify.smtp.contains(':') {
            return Err(invalid("notify.smtp", "must be host:port"));
        }
        if !self.notify.from.contains('@') || self.notify.from.contains(['\r', '\n', ' ']) {
            return Err(invalid("notify.from", "must be an e-mail address"));
        }
        if !(1024..=6 * 1024 * 1024).contains(&self.video.max_clip_bytes) {
            return Err(invalid(
                "video.max_clip_bytes",
                "must be between 1024 and 6 MiB (a clip is one change of the replicated log)",
            ));
        }
        let c = &self.cluster;
        if c.enabled() {
            let name_ok = !c.name.is_empty()
                && c.name.len() <= 32
                && c.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !name_ok {
                return Err(invalid(
                    "cluster.name",
                    "must be 1-32 characters of a-z, 0-9 and '-', unique in the cluster",
                ));
            }
            if c.node == 0 {
                return Err(invalid(
                    "cluster.node",
                    "must be 1-255, unique in the cluster",
                ));
            }
            if !(1..=5).contains(&c.replicas) {
                return Err(invalid("cluster.replicas", "must be 1-5"));
            }
            if c.commit_timeout_ms < 100 {
                return Err(invalid("cluster.commit_timeout_ms", "must be at least 100"));
            }
            if c.journal_max_age_secs > u64::from(j.retention_days) * 86_400 {
                return Err(invalid(
                    "cluster.journal_max_age_secs",
                    "can shorten the journal's retention window, never lengthen it",
                ));
            }
            let prefix_ok = !c.stream_prefix.is_empty()
                && c.stream_prefix.len() <= 32
                && c.stream_prefix
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !prefix_ok {
                return Err(invalid(
                    "cluster.stream_prefix",
                    "must be 1-32 characters of A-Z, 0-9 and '_'",
                ));
            }
            if c.nats.iter().any(|u| !u.starts_with("nats://")) {
                return Err(invalid("cluster.nats", "URLs look like nats://host:port"));
            }
        }
        Ok(())
    }

    /// File descriptors the appliance may need at its configured bounds:
    /// every connection of every listener, RocksDB's open files, and a
    /// margin for logs, key files and listeners.
    pub fn descriptor_budget(&self) -> u64 {
        (self.reader.max_connections
            + self.reader.max_handshakes
            + self.admin.max_connections
            + self.admin.max_handshakes
            + self.metrics.max_connections) as u64
            + u64::from(ROCKSDB_MAX_OPEN_FILES)
            + 128
    }

    /// Files the appliance needs to start that are not there (the TLS
    /// material): `--check-config` fails on them.
    pub fn missing_files(&self) -> Vec<String> {
        let mut m = Vec::new();
        for (field, p) in [
            ("tls.ca_cert", &self.tls.ca_cert),
            ("tls.server_cert", &self.tls.server_cert),
            ("tls.server_key", &self.tls.server_key),
        ] {
            if !p.is_file() {
                m.push(format!("{field}: {} does not exist", p.display()));
            }
        }
        m
    }

    /// Problems that do not make the configuration invalid but that an
    /// operator must hear about (printed by `--check-config` and logged at
    /// start): missing TLS files, a file-descriptor limit below what the
    /// bounds need.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.missing_files();
        let need = self.descriptor_budget();
        let (_, hard) = crate::sys::fdlimit::get();
        if hard < need {
            w.push(format!(
                "the open-file limit ({hard}) is below what the configured connection bounds need ({need}): lower reader.max_connections or raise the limit (ulimit -n / LimitNOFILE)"
            ));
        }
        w
    }

    /// Retention as a duration.
    pub fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.journal.retention_days) * 86_400)
    }
}

/// Milliseconds to a `Duration`.
pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let c = Config::default();
        c.validate().unwrap();
        let text = toml::to_string(&c).unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn retention_may_shorten_never_lengthen() {
        let mut c = Config::default();
        c.journal.retention_days = 7;
        c.validate().unwrap();
        c.journal.retention_days = 15;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("journal.retention_days"), "{err}");
        c.journal.retention_days = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = toml::from_str::<Config>("[reader]\nmax_frames = 3\n").unwrap_err();
        assert!(err.to_string().contains("max_frames"), "{err}");
    }

    #[test]
    fn frame_bounds_enforced() {
        let mut c = Config::default();
        c.reader.max_frame = 70_000;
        assert!(c.validate().is_err());
        c.reader.max_frame = 8;
        assert!(c.validate().is_err());
    }
}
