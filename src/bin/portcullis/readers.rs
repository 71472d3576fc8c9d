//! `reader ...`: register or remove a reader, or act as one.

use anyhow::{bail, Context, Result};
use portcullis::api::types::Doors;
use portcullis::api::Op;
use portcullis::client::ReaderClient;
use portcullis::crypto::numbers::AccessNumber;
use portcullis::pki::identity::Role;
use portcullis::pki::PkiDir;
use portcullis::protocol::{tls, Frame};
use serde_json::Value;

use crate::common::print;
use crate::flags::{AlarmsCmd, ReaderCmd};

pub async fn run(cmd: ReaderCmd) -> Result<()> {
    match cmd {
        ReaderCmd::Register { name, doors, admin } => {
            let v: Value = admin
                .client()?
                .call(Op::ReaderRegister, &[&name])
                .json(&Doors { doors })
                .expect()
                .await?;
            print(&v)
        }
        ReaderCmd::Remove { name, admin } => {
            let v: Value = admin
                .client()?
                .call(Op::ReaderRemove, &[&name])
                .expect()
                .await?;
            print(&v)
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

pub async fn alarms(cmd: AlarmsCmd) -> Result<()> {
    let v: Value = match cmd {
        AlarmsCmd::List { admin } => admin.client()?.call(Op::AlarmsList, &[]).expect().await?,
        AlarmsCmd::Ack { door, kind, admin } => {
            admin
                .client()?
                .call(Op::AlarmAck, &[&door, &kind])
                .expect()
                .await?
        }
    };
    print(&v)
}
