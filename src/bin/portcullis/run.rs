//! `run`, `default-config` and `pki`: the appliance itself and its PKI.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use portcullis::clock::SystemClock;
use portcullis::pki::PkiDir;
use portcullis::{Appliance, Config};

use crate::flags::PkiCmd;

/// `run`: starts the appliance; SIGTERM drains, SIGINT stops at once.
pub fn run(config: Option<&Path>, check: bool) -> Result<()> {
    let config = match config {
        Some(p) => Config::load(p)?,
        None => {
            let c = Config::default();
            c.validate()?;
            c
        }
    };
    if check {
        let missing = config.missing_files();
        if !missing.is_empty() {
            anyhow::bail!(
                "the configuration names files that do not exist: {}",
                missing.join("; ")
            );
        }
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
        // Handlers before the start: a SIGTERM that arrives as soon as the
        // appliance says it has started still drains and exits cleanly.
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let app = Appliance::start(config, Arc::new(SystemClock)).await?;
        let deadline = tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM: draining");
                drain
            }
            _ = int.recv() => {
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

/// `default-config`.
pub fn default_config() -> Result<()> {
    print!("{}", toml::to_string_pretty(&Config::default())?);
    Ok(())
}

/// `pki init`, `pki issue`.
pub fn pki(cmd: PkiCmd) -> Result<()> {
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
