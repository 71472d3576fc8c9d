//! `access ...` and `rotate-keys`.

use anyhow::{bail, Context, Result};
use portcullis::api::types::{AccessSummary, Rotated};
use portcullis::api::Op;
use serde_json::Value;

use crate::common::print;
use crate::flags::{AccessCmd, AdminOpts, DlcCmd};

pub async fn run(cmd: AccessCmd) -> Result<()> {
    match cmd {
        AccessCmd::Show { admin } => {
            let v: Value = admin.client()?.call(Op::AccessShow, &[]).expect().await?;
            print(&v)
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
            let body: Value = serde_json::from_str(&text).context("definitions are not JSON")?;
            let v: AccessSummary = admin
                .client()?
                .call(Op::AccessSet, &[])
                .json(&body)
                .expect()
                .await?;
            print(&v)
        }
    }
}

pub async fn rotate(admin: AdminOpts) -> Result<()> {
    let v: Rotated = admin.client()?.call(Op::KeysRotate, &[]).expect().await?;
    print(&v)
}

pub async fn dlc(cmd: DlcCmd) -> Result<()> {
    match cmd {
        DlcCmd::List { admin } => {
            let v: Value = admin.client()?.call(Op::DlcList, &[]).expect().await?;
            print(&v)
        }
        DlcCmd::Set {
            code,
            name,
            kind,
            admin,
        } => {
            let body = serde_json::json!({ "code": code, "name": name, "kind": kind });
            let v: Value = admin
                .client()?
                .call(Op::DlcPut, &[&code])
                .json(&body)
                .expect()
                .await?;
            print(&v)
        }
    }
}
