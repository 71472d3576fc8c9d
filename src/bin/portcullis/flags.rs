//! Every command and flag of the `portcullis` command, and nothing else:
//! the bodies are in the command modules.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use portcullis::pki::identity::Role;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Credential verification appliance"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the appliance.
    Run {
        /// TOML configuration file; without it the embedded defaults apply.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Validate the configuration and exit.
        #[arg(long)]
        check_config: bool,
    },
    /// Print the default configuration as TOML.
    DefaultConfig,
    /// Print what each role may do (the table the admin API enforces).
    Roles,
    /// The development PKI.
    #[command(subcommand)]
    Pki(PkiCmd),
    /// Cards, through the admin API.
    #[command(subcommand)]
    Card(CardCmd),
    /// Readers: register one, or act as one.
    #[command(subcommand)]
    Reader(ReaderCmd),
    /// Cardholder records, through the admin API.
    #[command(subcommand)]
    Holder(HolderCmd),
    /// Access levels (door groups, schedules, levels, holidays).
    #[command(subcommand)]
    Access(AccessCmd),
    /// Door alarms: those in force, and acknowledging one.
    #[command(subcommand)]
    Alarms(AlarmsCmd),
    /// Certificates: revoke one (staff or reader), list the revoked.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Departments, labs and centers (a cardholder's department is one of them).
    #[command(subcommand)]
    Dlc(DlcCmd),
    /// Rotate the key that seals cardholder records and photos.
    RotateKeys {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Read the admin audit trail (auditor role).
    Audit {
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Police investigations: the chief's key and signed requests.
    #[command(subcommand)]
    Police(PoliceCmd),
    /// Access resolution: troubleshooting look-ups in the decision journal.
    #[command(subcommand)]
    Journal(JournalCmd),
    /// Proof of erasure.
    #[command(subcommand)]
    Retention(RetentionCmd),
    /// Online backups.
    #[command(subcommand)]
    Backup(BackupCmd),
    /// Restore a backup into an empty data directory (the appliance
    /// stopped), erasing what has expired since it was made.
    Restore {
        /// The backup directory (as `backup list` shows it).
        #[arg(long)]
        from: PathBuf,
        /// Configuration file (for data_dir, keys_dir, retention_days).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The notification outbox (people to inform of a photo release).
    #[command(subcommand)]
    Notifications(NotificationsCmd),
    /// Drive a running appliance with many reader connections (loopback only).
    Load(LoadArgs),
    /// Scale data sets: create N synthetic credentials, measure loading them.
    #[command(subcommand)]
    Scale(ScaleCmd),
    /// Cluster measurements (loopback only; see docs/PERFORMANCE.md).
    #[command(subcommand)]
    ClusterBench(ClusterBenchCmd),
    /// The door registry (who to call when a door fails).
    #[command(subcommand)]
    Door(crate::flags_office::DoorCmd),
    /// DLC key authorizers.
    #[command(subcommand)]
    KeyAuthorizer(crate::flags_office::KeyAuthorizerCmd),
    /// Key orders: submit, ready, pick-up at 7-019, return.
    #[command(subcommand)]
    KeyOrder(crate::flags_office::KeyOrderCmd),
    /// The video policy: cameras, installation requests, exports.
    #[command(subcommand)]
    Video(crate::flags_office::VideoCmd),
    /// Photo distribution: permissions, releases, hard copies, own copy.
    #[command(subcommand)]
    Photo(crate::flags_office::PhotoCmd),
}

#[derive(Subcommand)]
pub enum ClusterBenchCmd {
    /// Suspend and resume a card on one appliance, over and over, and time
    /// until readers of every appliance are answered by the change.
    Propagation {
        /// Admin listener of the appliance that makes the changes.
        #[arg(long)]
        admin: SocketAddr,
        /// Reader listeners, one per appliance (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        readers: Vec<SocketAddr>,
        /// Certificate directory (the cluster's PKI).
        #[arg(long, default_value = "certs")]
        certs: PathBuf,
        /// Changes to time.
        #[arg(long, default_value_t = 200)]
        rounds: usize,
    },
    /// Publish N changes (department records, audited) to the cluster's
    /// change log, as appliances publish them, to time a catch-up.
    FillLog {
        /// A NATS server of the cluster.
        #[arg(long)]
        nats: String,
        /// The cluster's stream prefix (`cluster.stream_prefix`).
        #[arg(long, default_value = "PORTCULLIS")]
        prefix: String,
        /// How many.
        #[arg(long)]
        changes: u64,
    },
}

/// How to reach the admin API and as whom.
#[derive(Args, Clone)]
pub struct AdminOpts {
    /// Admin listener.
    #[arg(long, default_value = "127.0.0.1:7444")]
    pub admin: SocketAddr,
    /// Certificate directory (CA and clients/).
    #[arg(long, default_value = "certs")]
    pub certs: PathBuf,
    /// Act as this role (selects the client certificate).
    #[arg(long = "as-role", default_value = "security-office")]
    pub as_role: Role,
    /// Act as this identity (selects the client certificate).
    #[arg(long = "as", default_value = "admin")]
    pub as_name: String,
}

#[derive(Args)]
pub struct LoadArgs {
    /// Reader listener.
    #[arg(long, default_value = "127.0.0.1:7443")]
    pub addr: SocketAddr,
    /// Admin listener (for set-up: registering the load reader, issuing cards).
    #[arg(long, default_value = "127.0.0.1:7444")]
    pub admin: SocketAddr,
    /// Certificate directory (dev PKI).
    #[arg(long, default_value = "certs")]
    pub certs: PathBuf,
    /// Reader connections.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    pub depth: usize,
    /// Measured seconds (0: connect only, the reconnect storm).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Open loop: total offered verifications per second. Without it, closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Share of requests for known cards; the rest are random (unknown) numbers.
    #[arg(long, default_value_t = 0.9)]
    pub known: f64,
    /// Cards to issue for the run.
    #[arg(long, default_value_t = 1000)]
    pub cards: usize,
    /// Write the issued test numbers to this file (one per line).
    #[arg(long)]
    pub save_numbers: Option<PathBuf>,
    /// Use the numbers in this file instead of issuing cards.
    #[arg(long)]
    pub numbers: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// With --duration 0: close every connection after the storm and
    /// measure a second storm of the same readers coming back with their
    /// TLS session tickets.
    #[arg(long)]
    pub reconnect: bool,
    /// Drive Redis (TLS, client certificate) at this address instead of the
    /// appliance, with the same pacer and recording (see benches/compare.sh).
    #[arg(long)]
    pub redis: Option<std::net::SocketAddr>,
    /// With --redis: `get` or `lookup-journal` (GET plus XADD, by script).
    #[arg(long, default_value = "get")]
    pub redis_op: String,
    /// With --redis: the reader certificate to present.
    #[arg(long, default_value = "redis-client")]
    pub redis_client: String,
}

#[derive(Subcommand)]
pub enum ScaleCmd {
    /// Write N synthetic credentials into a new database directory.
    Create {
        /// Database directory (must not exist).
        #[arg(long)]
        dir: PathBuf,
        /// Credentials.
        #[arg(long, default_value_t = 10_000_000)]
        cards: u64,
    },
    /// Load a database as the appliance does at start-up; report time and memory.
    Measure {
        /// Database directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum PkiCmd {
    /// Create the appliance CA and the server certificate.
    Init {
        /// Directory for certificates and keys.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Replace an existing CA (every issued certificate stops working).
        #[arg(long)]
        force: bool,
    },
    /// Issue a client certificate for a role and a name.
    Issue {
        /// reader, security-office, card-office, police, police-chief, director or auditor.
        #[arg(long)]
        role: Role,
        /// The identity: a reader name or a staff handle.
        #[arg(long)]
        name: String,
        /// Directory for certificates and keys.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum CardCmd {
    /// Issue a card; prints its access number once.
    Issue {
        /// Cardholder id.
        #[arg(long)]
        holder: u64,
        /// Last day of validity (YYYY-MM-DD, UTC); the card expires at the
        /// end of it.
        #[arg(long)]
        valid_until: Option<String>,
        /// Print the full JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Issue a replacement card to a holder; every older card of theirs stops working.
    Replace {
        /// Cardholder id.
        #[arg(long)]
        holder: u64,
        /// Last day of validity (YYYY-MM-DD, UTC).
        #[arg(long)]
        valid_until: Option<String>,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Suspend a card.
    Suspend {
        /// Card id.
        #[arg(long)]
        card: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Resume a suspended card.
    Resume {
        /// Card id.
        #[arg(long)]
        card: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Set (YYYY-MM-DD) or clear ("none") a card's last day of validity.
    Expiry {
        /// Card id.
        #[arg(long)]
        card: u64,
        /// YYYY-MM-DD or none.
        #[arg(long)]
        valid_until: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Revoke a card.
    Revoke {
        /// Card id.
        #[arg(long)]
        card: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Show a card's status.
    Show {
        /// Card id.
        #[arg(long)]
        card: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum HolderCmd {
    /// Create a cardholder record (policy fields only).
    Create {
        /// Institute ID number.
        #[arg(long)]
        id_number: String,
        /// Last name.
        #[arg(long)]
        last_name: String,
        /// First name.
        #[arg(long)]
        first_name: String,
        /// registered, employed, affiliated, on_leave or left.
        #[arg(long)]
        status: String,
        /// Department.
        #[arg(long)]
        department: String,
        /// student, faculty, staff or affiliate.
        #[arg(long)]
        affiliation: String,
        /// Office address (employees only).
        #[arg(long)]
        office_address: Option<String>,
        /// Date of birth, YYYY-MM-DD (affiliates only).
        #[arg(long)]
        date_of_birth: Option<String>,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Show a cardholder record.
    Show {
        /// Cardholder id.
        #[arg(long)]
        holder: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Find a cardholder's id by MIT ID number.
    Find {
        /// The MIT ID number.
        #[arg(long)]
        id_number: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Change fields: a JSON object of policy fields, e.g. '{"status":"left"}'.
    Update {
        /// Cardholder id.
        #[arg(long)]
        holder: u64,
        /// JSON object of the fields to change.
        #[arg(long)]
        fields: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Assign access levels (replaces the holder's levels).
    Levels {
        /// Cardholder id.
        #[arg(long)]
        holder: u64,
        /// Level names, comma-separated.
        #[arg(long, value_delimiter = ',')]
        levels: Vec<String>,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Upload a photo (JPEG or PNG, at most 512 KiB).
    Photo {
        /// Cardholder id.
        #[arg(long)]
        holder: u64,
        /// Image file.
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Record (or, with --off, clear) the person's request that their photo
    /// not be distributed.
    WithholdPhoto {
        /// Cardholder id.
        #[arg(long)]
        holder: u64,
        /// Clear the request.
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// List a holder's cards and their status.
    Cards {
        /// Cardholder id.
        #[arg(long)]
        holder: u64,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum PoliceCmd {
    /// Create the chief's signing key (run on the chief's machine, not the
    /// appliance). Prints the public key to register.
    Keygen {
        /// Where to write the private key (mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Register the chief's public key (security office).
    RegisterKey {
        /// Ed25519 public key, hex.
        #[arg(long)]
        public_key: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Sign a request with the chief's key (off the appliance).
    Sign {
        /// The chief's private key file.
        #[arg(long)]
        key: PathBuf,
        /// Police case number.
        #[arg(long)]
        case: String,
        /// Subject: a card id.
        #[arg(long, conflicts_with = "holder")]
        card: Option<u64>,
        /// Subject: a cardholder id.
        #[arg(long)]
        holder: Option<u64>,
        /// Window start, RFC 3339 (journal requests).
        #[arg(long, default_value = "1970-01-01T00:00:00Z")]
        from: String,
        /// Window end, RFC 3339 (journal requests).
        #[arg(long, default_value = "1970-01-01T00:00:00Z")]
        to: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Request the subject's photo instead of journal records.
        #[arg(long)]
        photo: bool,
        /// Photo released under legal process (e.g. subpoena): the person is informed.
        #[arg(long)]
        legal_process: Option<String>,
        /// Hours the request stays valid (at most 168).
        #[arg(long, default_value_t = 24)]
        valid_hours: u64,
        /// Where to write the signed request.
        #[arg(long)]
        out: PathBuf,
    },
    /// Submit a signed request (police role).
    Submit {
        /// The signed request file.
        #[arg(long)]
        request: PathBuf,
        /// For photo requests: where to write the image.
        #[arg(long)]
        photo_out: Option<PathBuf>,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum JournalCmd {
    /// Records of one card, door or reader in a past window, for a ticket.
    Lookup {
        /// card, door or reader.
        #[arg(long)]
        by: String,
        /// The card id, door number or reader id.
        #[arg(long)]
        id: u64,
        /// Window start, RFC 3339.
        #[arg(long)]
        from: String,
        /// Window end, RFC 3339.
        #[arg(long)]
        to: String,
        /// Troubleshooting ticket reference.
        #[arg(long)]
        ticket: String,
        /// Continue after this position (the previous page's `next`).
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum RetentionCmd {
    /// Report the oldest entry in every part of the journal; fail if any is
    /// older than the window. Opens the data directory read-only, so it runs
    /// beside a running appliance.
    Check {
        /// Configuration file (for data_dir and retention_days).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum NotificationsCmd {
    /// List the outbox.
    List {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Mark a notification done.
    Done {
        /// Notification id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum AccessCmd {
    /// Print every definition as JSON.
    Show {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Replace every definition with the JSON in a file (or --json).
    Set {
        /// File holding the definitions.
        #[arg(long, conflicts_with = "json")]
        file: Option<PathBuf>,
        /// The definitions inline.
        #[arg(long)]
        json: Option<String>,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum ReaderCmd {
    /// Register a reader (by its certificate name) and its doors.
    Register {
        /// The reader's certificate common name.
        #[arg(long)]
        name: String,
        /// Doors it serves, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        doors: Vec<u32>,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Remove a reader: refused for every door at once, new connections refused.
    Remove {
        /// The reader's certificate common name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Act as a reader: verify one access number at one door.
    Verify {
        /// Door number.
        #[arg(long)]
        door: u32,
        /// Access number (32 hex digits, dashes allowed).
        #[arg(long)]
        number: String,
        /// Reader listener.
        #[arg(long, default_value = "127.0.0.1:7443")]
        addr: SocketAddr,
        /// The reader's certificate name.
        #[arg(long, default_value = "demo-reader")]
        name: String,
        /// Certificate directory.
        #[arg(long, default_value = "certs")]
        certs: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum DlcCmd {
    /// List every department, lab and center.
    List {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Register one (or rename it).
    Set {
        /// Its code (what cardholder records name).
        #[arg(long)]
        code: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// department, lab or center.
        #[arg(long, default_value = "department")]
        kind: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum CertCmd {
    /// Revoke a certificate: refused from its next request or read on.
    Revoke {
        /// The serial number (hex), as `cert show` prints it.
        #[arg(long, conflicts_with = "cert")]
        serial: Option<String>,
        /// Or the certificate file itself.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// compromised, lost, retired or superseded.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// List the revoked certificates.
    Revoked {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Show who a certificate file names and its serial number.
    Show {
        /// The certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Make a backup now (into the configured backup directory).
    Create {
        /// Copy the key files too (keys in clear beside the data: only for
        /// a backup kept as safely as the appliance itself).
        #[arg(long)]
        with_keys: bool,
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// List the backups.
    List {
        #[command(flatten)]
        admin: AdminOpts,
    },
}

#[derive(Subcommand)]
pub enum AlarmsCmd {
    /// Alarms in force, with who to call.
    List {
        #[command(flatten)]
        admin: AdminOpts,
    },
    /// Acknowledge an alarm (it stays until the door reports it over).
    Ack {
        /// The door.
        #[arg(long)]
        door: u32,
        /// forced_open, held_open, tamper or reader_offline.
        #[arg(long)]
        kind: String,
        #[command(flatten)]
        admin: AdminOpts,
    },
}
