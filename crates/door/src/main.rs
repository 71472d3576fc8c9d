//! `portcullis-door`: a door controller. It is the OSDP Control Panel for
//! its doors' readers, supervises each door's contact, exit button and
//! tamper switch, and holds one mutual-TLS connection to a Portcullis
//! appliance that answers every card read.
//!
//! ```text
//!  reader ──OSDP/SC──▶ reader thread ──Job──▶ uplink task ──VERIFY──▶ appliance
//!  (one thread each)     │  ▲                   │  ▲
//!                        │  └──── Verdict ──────┘  │
//!                        └─ door events ─▶ buffer ─┴──EVENT──▶ (acknowledged)
//! ```

#![warn(missing_docs)]

mod buffer;
mod config;
mod door;
mod metrics;
mod reader;
mod uplink;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rand::RngCore;
use tokio::sync::{watch, Notify};

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "portcullis-door",
    version,
    about = "Portcullis door controller (OSDP readers, door alarms)"
)]
struct Args {
    /// The configuration file.
    #[arg(long, short, default_value = "door.toml", global = true)]
    config: PathBuf,
    /// Check the configuration (files, keys, certificates) and exit.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes a new random Secure Channel Base Key (mode 0600) for a reader.
    NewKey {
        /// Where; refused if it exists.
        path: PathBuf,
        /// Also print the key, to load into the reader.
        #[arg(long)]
        print: bool,
    },
}

fn main() {
    let args = Args::parse();
    init_logging();
    let code = match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("portcullis-door: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // libosdp's debug output dumps packets, card reads included: it is
    // never shown above warnings, whatever RUST_LOG asks for.
    let filter = filter.add_directive("libosdp=warn".parse().expect("literal directive"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn run(args: Args) -> Result<()> {
    if let Some(Cmd::NewKey { path, print }) = args.cmd {
        let mut key = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("{}", path.display()))?;
        writeln!(f, "{hex}")?;
        f.sync_all()?;
        if print {
            println!("{hex}");
        }
        return Ok(());
    }
    let cfg = Config::load(&args.config)?;
    let tls =
        portcullis_protocol::tls::client_config(&cfg.tls.ca_cert, &cfg.tls.cert, &cfg.tls.key)
            .context("tls")?;
    if args.check_config {
        println!(
            "{}: configuration valid: {} door(s), {} appliance address(es)",
            args.config.display(),
            cfg.doors.len(),
            cfg.appliances.len()
        );
        for d in &cfg.doors {
            let t = match &d.transport {
                config::Transport::Tcp(a) => format!("tcp {a}"),
                config::Transport::Serial { path, baud } => {
                    format!("serial {} @ {baud}", path.display())
                }
            };
            let sc = if d.allow_insecure {
                "PLAIN TEXT (no Secure Channel; the key is never sent)"
            } else {
                "secure channel required"
            };
            println!(
                "  door {}: OSDP address {} over {t}, {sc}",
                d.door, d.osdp_address
            );
        }
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(serve(cfg, tls))
}

async fn serve(cfg: Config, tls: Arc<rustls::ClientConfig>) -> Result<()> {
    let metrics = Arc::new(metrics::Metrics::default());
    let (buf, opened) = buffer::EventBuffer::open(&cfg.events.path, cfg.events.max_events)
        .with_context(|| format!("event buffer {}", cfg.events.path.display()))?;
    if opened.cut_bytes > 0 {
        tracing::warn!(
            bytes = opened.cut_bytes,
            "event buffer: a torn or damaged tail was cut"
        );
    }
    metrics.events_buffered.store(buf.len() as i64, Relaxed);
    let buffer = Arc::new(Mutex::new(buf));
    let events = Arc::new(Notify::new());
    let listener = metrics::bind(cfg.metrics.listen)
        .await
        .with_context(|| format!("metrics.listen {}", cfg.metrics.listen))?;
    let metrics_addr = listener.local_addr()?;
    tokio::spawn(metrics::serve(listener, metrics.clone()));

    let (jobs_tx, jobs_rx) = tokio::sync::mpsc::channel(4096);
    let stop = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    metrics.readers.store(cfg.doors.len() as i64, Relaxed);
    let mut inboxes = Vec::new();
    let mut threads = Vec::new();
    for d in &cfg.doors {
        let scbk = config::read_scbk(&d.scbk_file).map_err(anyhow::Error::msg)?;
        let (tx, rx) = std::sync::mpsc::channel();
        inboxes.push(tx.clone());
        let r = reader::Reader {
            cfg: d.clone(),
            osdp: cfg.osdp.clone(),
            scbk,
            jobs: jobs_tx.clone(),
            rx,
            tx,
            buffer: buffer.clone(),
            events: events.clone(),
            metrics: metrics.clone(),
            stop: stop.clone(),
            give_up: Duration::from_millis(cfg.uplink.verify_timeout_ms + 2_000),
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("door-{}", d.door))
                .spawn(move || r.run())?,
        );
    }
    drop(jobs_tx);
    let uplink = uplink::Uplink {
        cfg: cfg.uplink.clone(),
        appliances: cfg.appliances.clone(),
        tls,
        jobs: jobs_rx,
        buffer: buffer.clone(),
        events,
        readers: inboxes,
        metrics: metrics.clone(),
        stop: stop_rx,
    };
    let uplink = tokio::spawn(uplink.run());
    tracing::info!(
        name = %cfg.name,
        doors = cfg.doors.len(),
        buffered = opened.pending,
        %metrics_addr,
        "door controller started"
    );

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping");
    stop.store(true, Relaxed);
    let _ = stop_tx.send(true);
    for t in threads {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    let _ = uplink.await;
    tracing::info!("door controller stopped");
    Ok(())
}
