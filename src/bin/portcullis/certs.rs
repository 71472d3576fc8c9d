//! `cert ...`: revoking certificates.

use std::path::Path;

use anyhow::{bail, Context, Result};
use portcullis::api::Op;
use portcullis::pki::identity::{self, Identity};
use portcullis::protocol::tls;
use serde_json::{json, Value};

use crate::common::print;
use crate::flags::CertCmd;

fn identity_of(path: &Path) -> Result<Identity> {
    let certs = tls::load_certs(path)?;
    let leaf = certs.first().context("no certificate in the file")?;
    Ok(identity::from_der(leaf.as_ref())?)
}

pub async fn run(cmd: CertCmd) -> Result<()> {
    match cmd {
        CertCmd::Revoke {
            serial,
            cert,
            reason,
            admin,
        } => {
            let serial = match (serial, cert) {
                (Some(s), None) => s,
                (None, Some(c)) => identity_of(&c)?.serial,
                _ => bail!("give --serial or --cert"),
            };
            let v: Value = admin
                .client()?
                .call(Op::CertRevoke, &[])
                .json(&json!({ "serial": serial, "reason": reason }))
                .expect()
                .await?;
            print(&v)
        }
        CertCmd::Revoked { admin } => {
            let v: Value = admin
                .client()?
                .call(Op::CertRevokedList, &[])
                .expect()
                .await?;
            print(&v)
        }
        CertCmd::Show { cert } => {
            let id = identity_of(&cert)?;
            print(&json!({ "name": id.name, "role": id.role, "serial": id.serial }))
        }
    }
}
