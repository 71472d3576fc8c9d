//! The `portcullis` command: runs the appliance and talks to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use portcullis::client::{AdminClient, ReaderClient};
use portcullis::clock::SystemClock;
use portcullis::crypto::numbers::AccessNumber;
use portcullis::pki::identity::Role;
use portcullis::pki::PkiDir;
use portcullis::protocol::tls;
use portcullis::protocol::Frame;
use portcullis::{Appliance, Config};

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Credential verification appliance"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// The notification outbox (people to inform of a photo release).
    #[command(subcommand)]
    Notifications(NotificationsCmd),
    /// Drive a running appliance with many reader connections (loopback only).
    Load(LoadArgs),
    /// Scale data sets: create N synthetic credentials, measure loading them.
    #[command(subcommand)]
    Scale(ScaleCmd),
}

#[derive(Args)]
struct LoadArgs {
    /// Reader listener.
    #[arg(long, default_value = "127.0.0.1:7443")]
    addr: SocketAddr,
    /// Admin listener (for set-up: registering the load reader, issuing cards).
    #[arg(long, default_value = "127.0.0.1:7444")]
    admin: SocketAddr,
    /// Certificate directory (dev PKI).
    #[arg(long, default_value = "certs")]
    certs: PathBuf,
    /// Reader connections.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Measured seconds (0: connect only, the reconnect storm).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Open loop: total offered verifications per second. Without it, closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Share of requests for known cards; the rest are random (unknown) numbers.
    #[arg(long, default_value_t = 0.9)]
    known: f64,
    /// Cards to issue for the run.
    #[arg(long, default_value_t = 1000)]
    cards: usize,
    /// Write the issued test numbers to this file (one per line).
    #[arg(long)]
    save_numbers: Option<PathBuf>,
    /// Use the numbers in this file instead of issuing cards.
    #[arg(long)]
    numbers: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum ScaleCmd {
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
enum PkiCmd {
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

/// How to reach the admin API and as whom.
#[derive(Args, Clone)]
struct AdminOpts {
    /// Admin listener.
    #[arg(long, default_value = "127.0.0.1:7444")]
    admin: SocketAddr,
    /// Certificate directory (CA and clients/).
    #[arg(long, default_value = "certs")]
    certs: PathBuf,
    /// Act as this role (selects the client certificate).
    #[arg(long = "as-role", default_value = "security-office")]
    as_role: Role,
    /// Act as this identity (selects the client certificate).
    #[arg(long = "as", default_value = "admin")]
    as_name: String,
}

impl AdminOpts {
    fn client(&self) -> Result<AdminClient> {
        let pki = PkiDir::new(&self.certs);
        let me = pki.client(self.as_role, &self.as_name);
        let cfg = tls::client_config(&pki.ca_cert(), &me.cert, &me.key).with_context(|| {
            format!(
                "loading client certificate for {} {} (issue one with `portcullis pki issue --role {} --name {}`)",
                self.as_role, self.as_name, self.as_role, self.as_name
            )
        })?;
        Ok(AdminClient::new(self.admin, cfg))
    }
}

#[derive(Subcommand)]
enum CardCmd {
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
enum HolderCmd {
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
enum PoliceCmd {
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
enum JournalCmd {
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
enum RetentionCmd {
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
enum NotificationsCmd {
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
enum AccessCmd {
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
enum ReaderCmd {
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

/// Large allocations (the credential map) get transparent huge pages.
#[global_allocator]
static ALLOC: portcullis::sys::hugepages::HugePageAlloc = portcullis::sys::hugepages::HugePageAlloc;

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run {
            config,
            check_config,
        } => run(config.as_deref(), check_config),
        Command::DefaultConfig => {
            print!("{}", toml::to_string_pretty(&Config::default())?);
            Ok(())
        }
        Command::Pki(cmd) => pki(cmd),
        Command::Card(cmd) => runtime()?.block_on(card(cmd)),
        Command::Reader(cmd) => runtime()?.block_on(reader(cmd)),
        Command::Holder(cmd) => runtime()?.block_on(holder(cmd)),
        Command::Access(cmd) => runtime()?.block_on(access(cmd)),
        Command::RotateKeys { admin } => runtime()?.block_on(async move {
            let (s, v) = admin
                .client()?
                .request("POST", "/v1/keys/rotate", None)
                .await?;
            show(s, &v)
        }),
        Command::Audit { limit, admin } => runtime()?.block_on(async move {
            let (s, v) = admin
                .client()?
                .request("GET", &format!("/v1/audit?limit={limit}"), None)
                .await?;
            show(s, &v)
        }),
        Command::Police(cmd) => police(cmd),
        Command::Journal(JournalCmd::Lookup {
            by,
            id,
            from,
            to,
            ticket,
            after,
            admin,
        }) => runtime()?.block_on(async move {
            let enc = |v: &str| -> String {
                v.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect()
            };
            let mut path = format!(
                "/v1/journal?by={}&id={id}&from={}&to={}&ticket={}",
                enc(&by),
                enc(&from),
                enc(&to),
                enc(&ticket)
            );
            if let Some(a) = after {
                path.push_str(&format!("&after={}", enc(&a)));
            }
            let (s, v) = admin.client()?.request("GET", &path, None).await?;
            show(s, &v)
        }),
        Command::Retention(RetentionCmd::Check { config }) => {
            let config = match config {
                Some(p) => Config::load(&p)?,
                None => Config::default(),
            };
            let store = portcullis::store::Store::open_read_only(&config.data_dir)
                .with_context(|| format!("opening {} read-only", config.data_dir.display()))?;
            let now = portcullis::clock::Clock::now_micros(&SystemClock);
            let report = portcullis::store::retention::report(
                &store,
                now,
                config.retention().as_micros() as u64,
            )?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.ok {
                bail!(
                    "journal data older than the {}-day window is present",
                    config.journal.retention_days
                );
            }
            Ok(())
        }
        Command::Notifications(cmd) => runtime()?.block_on(async move {
            let (s, v) = match cmd {
                NotificationsCmd::List { admin } => {
                    admin
                        .client()?
                        .request("GET", "/v1/notifications", None)
                        .await?
                }
                NotificationsCmd::Done { id, admin } => {
                    admin
                        .client()?
                        .request("POST", &format!("/v1/notifications/{id}/done"), None)
                        .await?
                }
            };
            show(s, &v)
        }),
        Command::Load(args) => load(args),
        Command::Scale(cmd) => scale(cmd),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn run(config: Option<&Path>, check: bool) -> Result<()> {
    let config = match config {
        Some(p) => Config::load(p)?,
        None => {
            let c = Config::default();
            c.validate()?;
            c
        }
    };
    if check {
        let warnings = config.warnings();
        for w in &warnings {
            println!("warning: {w}");
        }
        if warnings.is_empty() {
            println!("configuration is valid");
        } else {
            println!("configuration is valid, with the warnings above");
        }
        return Ok(());
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.runtime.worker_threads > 0 {
        builder.worker_threads(config.runtime.worker_threads);
    }
    let rt = builder.enable_all().thread_name("portcullis").build()?;
    rt.block_on(async move {
        let drain = Duration::from_millis(config.shutdown.drain_deadline_ms);
        let app = Appliance::start(config, Arc::new(SystemClock)).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let deadline = tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM: draining");
                drain
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("SIGINT: stopping now");
                Duration::ZERO
            }
        };
        let report = app.shutdown(deadline).await;
        if !report.drained {
            tracing::warn!("some reader connections were still open at the deadline");
        }
        anyhow::Ok(())
    })
}

fn pki(cmd: PkiCmd) -> Result<()> {
    match cmd {
        PkiCmd::Init { dir, force } => {
            let p = PkiDir::new(&dir);
            p.init(force)?;
            println!(
                "created {} and {} (keys are mode 0600 and git-ignored)",
                p.ca_cert().display(),
                p.server().cert.display()
            );
        }
        PkiCmd::Issue { role, name, dir } => {
            let issued = PkiDir::new(&dir).issue(role, &name)?;
            println!("{}\n{}", issued.cert.display(), issued.key.display());
        }
    }
    Ok(())
}

fn parse_day_end(s: &str) -> Result<u32> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).with_context(|| format!("`{s}` is not YYYY-MM-DD"))?;
    let end = d
        .next_day()
        .context("date out of range")?
        .midnight()
        .assume_utc()
        .unix_timestamp();
    u32::try_from(end).context("date out of range")
}

fn show(status: u16, body: &serde_json::Value) -> Result<()> {
    if (200..300).contains(&status) {
        println!("{}", serde_json::to_string_pretty(body)?);
        Ok(())
    } else {
        let msg = body
            .get("error")
            .and_then(|e| e.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| body.to_string());
        bail!("HTTP {status}: {msg}")
    }
}

async fn card(cmd: CardCmd) -> Result<()> {
    match cmd {
        CardCmd::Issue {
            holder,
            valid_until,
            json: json_out,
            admin,
        } => {
            let mut body = json!({ "holder": holder });
            if let Some(d) = valid_until {
                body["valid_until"] = json!(parse_day_end(&d)?);
            }
            let (s, v) = admin
                .client()?
                .request("POST", "/v1/cards", Some(&body))
                .await?;
            if json_out || !(200..300).contains(&s) {
                return show(s, &v);
            }
            println!(
                "card {} issued to holder {}",
                v["card"]["id"], v["card"]["holder"]
            );
            println!(
                "access number (shown once): {}",
                v["access_number"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        CardCmd::Replace {
            holder,
            valid_until,
            admin,
        } => {
            let mut body = json!({});
            if let Some(d) = valid_until {
                body["valid_until"] = json!(parse_day_end(&d)?);
            }
            let (s, v) = admin
                .client()?
                .request(
                    "POST",
                    &format!("/v1/holders/{holder}/replace-card"),
                    Some(&body),
                )
                .await?;
            if !(200..300).contains(&s) {
                return show(s, &v);
            }
            println!(
                "card {} issued to holder {} (superseded: {})",
                v["card"]["id"], holder, v["superseded"]
            );
            println!(
                "access number (shown once): {}",
                v["access_number"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        CardCmd::Suspend { card, admin } => {
            let (s, v) = admin
                .client()?
                .request("POST", &format!("/v1/cards/{card}/suspend"), None)
                .await?;
            show(s, &v)
        }
        CardCmd::Resume { card, admin } => {
            let (s, v) = admin
                .client()?
                .request("POST", &format!("/v1/cards/{card}/resume"), None)
                .await?;
            show(s, &v)
        }
        CardCmd::Expiry {
            card,
            valid_until,
            admin,
        } => {
            let until = if valid_until == "none" {
                serde_json::Value::Null
            } else {
                json!(parse_day_end(&valid_until)?)
            };
            let (s, v) = admin
                .client()?
                .request(
                    "PUT",
                    &format!("/v1/cards/{card}/expiry"),
                    Some(&json!({ "valid_until": until })),
                )
                .await?;
            show(s, &v)
        }
        CardCmd::Revoke { card, admin } => {
            let (s, v) = admin
                .client()?
                .request("POST", &format!("/v1/cards/{card}/revoke"), None)
                .await?;
            show(s, &v)
        }
        CardCmd::Show { card, admin } => {
            let (s, v) = admin
                .client()?
                .request("GET", &format!("/v1/cards/{card}"), None)
                .await?;
            show(s, &v)
        }
    }
}

async fn reader(cmd: ReaderCmd) -> Result<()> {
    match cmd {
        ReaderCmd::Register { name, doors, admin } => {
            let (s, v) = admin
                .client()?
                .request(
                    "PUT",
                    &format!("/v1/readers/{name}"),
                    Some(&json!({ "doors": doors })),
                )
                .await?;
            show(s, &v)
        }
        ReaderCmd::Remove { name, admin } => {
            let (s, v) = admin
                .client()?
                .request("DELETE", &format!("/v1/readers/{name}"), None)
                .await?;
            show(s, &v)
        }
        ReaderCmd::Verify {
            door,
            number,
            addr,
            name,
            certs,
        } => {
            let number: AccessNumber = number.parse()?;
            let pki = PkiDir::new(&certs);
            let me = pki.client(Role::Reader, &name);
            let cfg = tls::client_config(&pki.ca_cert(), &me.cert, &me.key)
                .with_context(|| format!("loading reader certificate {}", me.cert.display()))?;
            let mut c = ReaderClient::connect(addr, cfg).await?;
            match c.verify(1, door, &number).await? {
                Frame::VerifyResult {
                    decision, reason, ..
                } => {
                    println!("{decision} ({reason})");
                    Ok(())
                }
                other => bail!("unexpected answer {other:?}"),
            }
        }
    }
}

fn load(a: LoadArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&a.known) {
        bail!("--known is a fraction between 0 and 1");
    }
    let numbers = match &a.numbers {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}", p.display()))?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.parse::<AccessNumber>())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // Issue the cards here when their numbers are to be saved, so the
        // same set can drive another system (make compare).
        let numbers = match (numbers, &a.save_numbers) {
            (Some(n), _) => Some(n),
            (None, Some(path)) => {
                let pki = PkiDir::new(&a.certs);
                let me = pki.client(Role::SecurityOffice, "admin");
                let cfg = tls::client_config(&pki.ca_cert(), &me.cert, &me.key)?;
                let n = portcullis::tools::loadgen::issue_cards(&AdminClient::new(a.admin, cfg), a.cards).await?;
                let text: String = n.iter().map(|x| x.reveal() + "\n").collect();
                std::fs::write(path, text)?;
                Some(n)
            }
            (None, None) => None,
        };
        let opts = portcullis::tools::loadgen::LoadOptions {
            addr: a.addr,
            admin: a.admin,
            certs: a.certs.clone(),
            connections: a.connections,
            depth: a.depth,
            duration: Duration::from_secs_f64(a.duration.max(0.0)),
            rate: a.rate,
            known_fraction: a.known,
            cards: a.cards,
            numbers,
            progress: !a.quiet,
        };
        let report = portcullis::tools::loadgen::run(opts.clone()).await?;
        println!(
            "connections {} admitted in {:.3} s ({} failed)",
            report.connected, report.connect_secs, report.connect_failures
        );
        if report.elapsed > 0.0 {
            println!(
                "{} answers in {:.1} s: {:.0}/s; latency p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us; wrong {}, errors {}",
                report.answered,
                report.elapsed,
                report.throughput(),
                report.p50_us,
                report.p99_us,
                report.p999_us,
                report.max_us,
                report.wrong,
                report.errors
            );
        }
        println!("{}", report.result_line(&opts));
        if report.wrong > 0 {
            bail!("{} answers were wrong", report.wrong);
        }
        anyhow::Ok(())
    })
}

fn scale(cmd: ScaleCmd) -> Result<()> {
    match cmd {
        ScaleCmd::Create { dir, cards } => {
            if dir.exists() {
                bail!("{} exists; choose a new directory", dir.display());
            }
            let t = portcullis::tools::scale::create(&dir, cards)?;
            println!(
                "wrote {cards} synthetic credentials to {} in {:.1} s",
                dir.display(),
                t.as_secs_f64()
            );
        }
        ScaleCmd::Measure { dir } => {
            if !dir.exists() {
                bail!("{} does not exist", dir.display());
            }
            let (cost, _book) = portcullis::tools::scale::measure_load(&dir)?;
            println!(
                "loaded {} credentials in {:.2} s; RSS grew {:.1} MiB = {:.1} bytes per credential (RSS now {:.1} MiB)",
                cost.credentials,
                cost.load.as_secs_f64(),
                cost.rss_growth as f64 / 1048576.0,
                cost.bytes_per_credential(),
                cost.rss_after as f64 / 1048576.0
            );
            println!(
                "RESULT credentials={} load_s={:.3} bytes_per_credential={:.1}",
                cost.credentials,
                cost.load.as_secs_f64(),
                cost.bytes_per_credential()
            );
        }
    }
    Ok(())
}

async fn holder(cmd: HolderCmd) -> Result<()> {
    match cmd {
        HolderCmd::Create {
            id_number,
            last_name,
            first_name,
            status,
            department,
            affiliation,
            office_address,
            date_of_birth,
            admin,
        } => {
            let mut body = json!({
                "id_number": id_number,
                "last_name": last_name,
                "first_name": first_name,
                "status": status,
                "department": department,
                "affiliation": affiliation,
            });
            if let Some(a) = office_address {
                body["office_address"] = json!(a);
            }
            if let Some(d) = date_of_birth {
                body["date_of_birth"] = json!(d);
            }
            let (s, v) = admin
                .client()?
                .request("POST", "/v1/holders", Some(&body))
                .await?;
            if (200..300).contains(&s) {
                println!("cardholder {} created", v["id"]);
                Ok(())
            } else {
                show(s, &v)
            }
        }
        HolderCmd::Show { holder, admin } => {
            let (s, v) = admin
                .client()?
                .request("GET", &format!("/v1/holders/{holder}"), None)
                .await?;
            show(s, &v)
        }
        HolderCmd::Update {
            holder,
            fields,
            admin,
        } => {
            let body: serde_json::Value =
                serde_json::from_str(&fields).context("--fields is not JSON")?;
            let (s, v) = admin
                .client()?
                .request("PATCH", &format!("/v1/holders/{holder}"), Some(&body))
                .await?;
            show(s, &v)
        }
        HolderCmd::Levels {
            holder,
            levels,
            admin,
        } => {
            let (s, v) = admin
                .client()?
                .request(
                    "PUT",
                    &format!("/v1/holders/{holder}/levels"),
                    Some(&json!({ "levels": levels })),
                )
                .await?;
            show(s, &v)
        }
        HolderCmd::Photo {
            holder,
            file,
            admin,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let (s, v) = admin
                .client()?
                .request_raw("PUT", &format!("/v1/holders/{holder}/photo"), bytes)
                .await?;
            show(s, &v)
        }
        HolderCmd::WithholdPhoto { holder, off, admin } => {
            let (s, v) = admin
                .client()?
                .request(
                    "PUT",
                    &format!("/v1/holders/{holder}/photo/withheld"),
                    Some(&json!({ "withheld": !off })),
                )
                .await?;
            show(s, &v)
        }
        HolderCmd::Cards { holder, admin } => {
            let (s, v) = admin
                .client()?
                .request("GET", &format!("/v1/holders/{holder}/cards"), None)
                .await?;
            show(s, &v)
        }
    }
}

async fn access(cmd: AccessCmd) -> Result<()> {
    match cmd {
        AccessCmd::Show { admin } => {
            let (s, v) = admin.client()?.request("GET", "/v1/access", None).await?;
            show(s, &v)
        }
        AccessCmd::Set {
            file,
            json: inline,
            admin,
        } => {
            let text = match (file, inline) {
                (Some(f), _) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
                (None, Some(j)) => j,
                (None, None) => bail!("give --file or --json"),
            };
            let body: serde_json::Value =
                serde_json::from_str(&text).context("definitions are not JSON")?;
            let (s, v) = admin
                .client()?
                .request("PUT", "/v1/access", Some(&body))
                .await?;
            show(s, &v)
        }
    }
}

fn police(cmd: PoliceCmd) -> Result<()> {
    use portcullis::police::{RequestDocument, RequestPurpose, SignedRequest, Subject};
    match cmd {
        PoliceCmd::Keygen { out } => {
            if out.exists() {
                bail!(
                    "{} exists; refusing to overwrite a signing key",
                    out.display()
                );
            }
            let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let mut f = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&out)?
            };
            use std::io::Write;
            writeln!(f, "{}", hex::encode(key.to_bytes()))?;
            println!("{}", hex::encode(key.verifying_key().as_bytes()));
            Ok(())
        }
        PoliceCmd::RegisterKey { public_key, admin } => runtime()?.block_on(async move {
            let (s, v) = admin
                .client()?
                .request(
                    "PUT",
                    "/v1/police/chief-key",
                    Some(&json!({ "public_key": public_key })),
                )
                .await?;
            show(s, &v)
        }),
        PoliceCmd::Sign {
            key,
            case,
            card,
            holder,
            from,
            to,
            reason,
            photo,
            legal_process,
            valid_hours,
            out,
        } => {
            let text = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {}", key.display()))?;
            let bytes: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .context("the key file holds 32 bytes of hex")?;
            let key = ed25519_dalek::SigningKey::from_bytes(&bytes);
            let subject = match (card, holder) {
                (Some(c), None) => Subject::Card(c),
                (None, Some(h)) => Subject::Holder(h),
                _ => bail!("give exactly one of --card or --holder"),
            };
            let now = portcullis::clock::Clock::now_micros(&SystemClock);
            let mut nonce = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
            let doc = RequestDocument {
                version: 1,
                case_number: case,
                purpose: if photo {
                    RequestPurpose::Photo
                } else {
                    RequestPurpose::Journal
                },
                subject,
                from,
                to,
                reason,
                legal_process,
                issued_at: portcullis::clock::rfc3339(now),
                expires_at: portcullis::clock::rfc3339(now + valid_hours.min(168) * 3_600_000_000),
                nonce: hex::encode(nonce),
            };
            let signed: SignedRequest = portcullis::police::sign(&key, &doc);
            std::fs::write(&out, serde_json::to_vec_pretty(&signed)?)?;
            println!("signed request written to {}", out.display());
            Ok(())
        }
        PoliceCmd::Submit {
            request,
            photo_out,
            admin,
        } => runtime()?.block_on(async move {
            let body = std::fs::read(&request)
                .with_context(|| format!("reading {}", request.display()))?;
            let path = if photo_out.is_some() {
                "/v1/investigations/photo"
            } else {
                "/v1/investigations"
            };
            let (s, bytes) = admin.client()?.request_bytes("POST", path, body).await?;
            match (photo_out, s) {
                (Some(out), 200) => {
                    std::fs::write(&out, bytes)?;
                    println!("photo written to {}", out.display());
                    Ok(())
                }
                _ => {
                    let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                    show(s, &v)
                }
            }
        }),
    }
}
