//! `holder ...`.

use anyhow::{Context, Result};
use portcullis::api::types::{CardView, Created, Levels, Withheld};
use portcullis::api::Op;
use serde_json::{json, Value};

use crate::common::print;
use crate::flags::HolderCmd;

pub async fn run(cmd: HolderCmd) -> Result<()> {
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
            let c: Created = admin
                .client()?
                .call(Op::HolderCreate, &[])
                .json(&body)
                .expect()
                .await?;
            println!("cardholder {} created", c.id);
        }
        HolderCmd::Find { id_number, admin } => {
            let v: Value = admin
                .client()?
                .call(Op::HolderFind, &[])
                .json(&serde_json::json!({ "id_number": id_number }))
                .expect()
                .await?;
            print(&v)?;
        }
        HolderCmd::Show { holder, admin } => {
            let v: Value = admin
                .client()?
                .call(Op::HolderShow, &[&holder])
                .expect()
                .await?;
            print(&v)?;
        }
        HolderCmd::Update {
            holder,
            fields,
            admin,
        } => {
            let body: Value = serde_json::from_str(&fields).context("--fields is not JSON")?;
            let v: Value = admin
                .client()?
                .call(Op::HolderUpdate, &[&holder])
                .json(&body)
                .expect()
                .await?;
            print(&v)?;
        }
        HolderCmd::Levels {
            holder,
            levels,
            admin,
        } => {
            let v: Levels = admin
                .client()?
                .call(Op::HolderLevels, &[&holder])
                .json(&Levels { id: None, levels })
                .expect()
                .await?;
            print(&v)?;
        }
        HolderCmd::Photo {
            holder,
            file,
            admin,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let v: Value = admin
                .client()?
                .call(Op::PhotoUpload, &[&holder])
                .bytes(bytes)
                .expect()
                .await?;
            print(&v)?;
        }
        HolderCmd::WithholdPhoto { holder, off, admin } => {
            let v: Withheld = admin
                .client()?
                .call(Op::PhotoWithheld, &[&holder])
                .json(&Withheld {
                    id: None,
                    withheld: !off,
                })
                .expect()
                .await?;
            print(&v)?;
        }
        HolderCmd::Cards { holder, admin } => {
            let v: Vec<CardView> = admin
                .client()?
                .call(Op::HolderCards, &[&holder])
                .expect()
                .await?;
            print(&v)?;
        }
    }
    Ok(())
}
