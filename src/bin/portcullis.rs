//! The `portcullis` command: runs the appliance and talks to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use portcullis::access::AccessNumber;
use portcullis::client::{AdminClient, ReaderClient};
use portcullis::clock::SystemClock;
use portcullis::identity::Role;
use portcullis::pki::PkiDir;
use portcullis::protocol::Frame;
use portcullis::{tls, Appliance, Config};

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
        println!("configuration is valid");
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("portcullis")
        .build()?;
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
