//! The trails: `audit`, `journal lookup`, `retention check`,
//! `notifications ...`.

use anyhow::{bail, Context, Result};
use portcullis::api::types::{AuditQuery, JournalPage, JournalQuery, LookupBy};
use portcullis::api::Op;
use portcullis::clock::{Clock, SystemClock};
use portcullis::Config;
use serde_json::Value;

use crate::common::print;
use crate::flags::{AdminOpts, BackupCmd, JournalCmd, NotificationsCmd, RetentionCmd};

pub async fn audit(limit: usize, admin: AdminOpts) -> Result<()> {
    let q = AuditQuery {
        limit: Some(limit),
        ..AuditQuery::default()
    };
    let v: Value = admin
        .client()?
        .call(Op::AuditRead, &[])
        .query(&q)
        .expect()
        .await?;
    print(&v)
}

pub async fn journal(cmd: JournalCmd) -> Result<()> {
    let JournalCmd::Lookup {
        by,
        id,
        from,
        to,
        ticket,
        after,
        admin,
    } = cmd;
    let by = match by.as_str() {
        "card" => LookupBy::Card,
        "door" => LookupBy::Door,
        "reader" => LookupBy::Reader,
        other => bail!("--by is card, door or reader, not `{other}`"),
    };
    let q = JournalQuery {
        by,
        id,
        from,
        to,
        ticket,
        after,
        limit: None,
    };
    let page: JournalPage = admin
        .client()?
        .call(Op::JournalLookup, &[])
        .query(&q)
        .expect()
        .await?;
    print(&page)
}

pub fn retention(cmd: RetentionCmd) -> Result<()> {
    let RetentionCmd::Check { config } = cmd;
    let config = match config {
        Some(p) => Config::load(&p)?,
        None => Config::default(),
    };
    let store = portcullis::store::Store::open_read_only(&config.data_dir)
        .with_context(|| format!("opening {} read-only", config.data_dir.display()))?;
    let report = portcullis::store::retention::report(
        &store,
        SystemClock.now_micros(),
        config.retention().as_micros() as u64,
    )?;
    print(&report)?;
    if !report.ok {
        bail!(
            "journal data older than the {}-day window is present",
            config.journal.retention_days
        );
    }
    Ok(())
}

pub async fn notifications(cmd: NotificationsCmd) -> Result<()> {
    let v: Value = match cmd {
        NotificationsCmd::List { admin } => {
            admin
                .client()?
                .call(Op::NotificationsList, &[])
                .expect()
                .await?
        }
        NotificationsCmd::Done { id, admin } => {
            admin
                .client()?
                .call(Op::NotificationDone, &[&id])
                .expect()
                .await?
        }
    };
    print(&v)
}

pub async fn backup(cmd: BackupCmd) -> Result<()> {
    let v: Value = match cmd {
        BackupCmd::Create { with_keys, admin } => {
            admin
                .client()?
                .call(Op::BackupCreate, &[])
                .json(&serde_json::json!({ "with_keys": with_keys }))
                .expect()
                .await?
        }
        BackupCmd::List { admin } => admin.client()?.call(Op::BackupList, &[]).expect().await?,
    };
    print(&v)
}

pub fn restore(from: &std::path::Path, config: Option<&std::path::Path>) -> Result<()> {
    let config = match config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let clock: portcullis::clock::SharedClock = std::sync::Arc::new(SystemClock);
    let m = portcullis::store::backup::restore(
        from,
        &config.data_dir,
        &config.keys_dir,
        clock,
        config.retention().as_micros() as u64,
    )
    .with_context(|| {
        format!(
            "restoring {} into {}",
            from.display(),
            config.data_dir.display()
        )
    })?;
    println!(
        "restored the backup of {} (ledger position {}) into {}; expired records erased",
        m.created,
        m.ledger_position,
        config.data_dir.display()
    );
    if !m.with_keys {
        println!(
            "the backup holds no keys: put the appliance's keys in {} before starting (their check values: {:?})",
            config.keys_dir.display(),
            m.key_checks
        );
    }
    Ok(())
}
