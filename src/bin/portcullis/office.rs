//! `door`, `key-authorizer`, `key-order`, `video`, `photo`: the office's
//! procedures through the admin API.

use anyhow::{bail, Context, Result};
use portcullis::api::Op;
use serde_json::{json, Value};

use crate::common::print;
use crate::flags_office::{DoorCmd, KeyAuthorizerCmd, KeyOrderCmd, PhotoCmd, VideoCmd};

pub async fn door(cmd: DoorCmd) -> Result<()> {
    let v: Value = match cmd {
        DoorCmd::Set {
            door,
            name,
            building,
            residence_hall,
            admin,
        } => admin
            .client()?
            .call(Op::DoorPut, &[&door])
            .json(&json!({ "name": name, "building": building, "residence_hall": residence_hall }))
            .expect()
            .await?,
        DoorCmd::List { admin } => admin.client()?.call(Op::DoorsList, &[]).expect().await?,
    };
    print(&v)
}

pub async fn key_authorizer(cmd: KeyAuthorizerCmd) -> Result<()> {
    let v: Value = match cmd {
        KeyAuthorizerCmd::Set {
            dlc,
            handle,
            name,
            email,
            master,
            admin,
        } => {
            admin
                .client()?
                .call(Op::AuthorizerPut, &[&dlc, &handle])
                .json(&json!({ "name": name, "email": email, "master": master }))
                .expect()
                .await?
        }
        KeyAuthorizerCmd::List { admin } => {
            admin
                .client()?
                .call(Op::AuthorizersList, &[])
                .expect()
                .await?
        }
        KeyAuthorizerCmd::Remove { dlc, handle, admin } => {
            let (s, v) = admin
                .client()?
                .call(Op::AuthorizerRemove, &[&dlc, &handle])
                .send()
                .await?;
            if s >= 300 {
                bail!("{}", v["error"].as_str().unwrap_or("refused"));
            }
            json!({ "removed": handle, "dlc": dlc })
        }
    };
    print(&v)
}

pub async fn key_order(cmd: KeyOrderCmd) -> Result<()> {
    let v: Value = match cmd {
        KeyOrderCmd::Submit {
            dlc,
            kind,
            rooms,
            copies,
            recipient,
            rt,
            admin,
        } => {
            admin
                .client()?
                .call(Op::KeyOrderSubmit, &[])
                .json(&json!({ "dlc": dlc, "kind": kind, "rooms": rooms, "copies": copies, "recipient": recipient, "rt": rt }))
                .expect()
                .await?
        }
        KeyOrderCmd::List { admin } => admin.client()?.call(Op::KeyOrdersList, &[]).expect().await?,
        KeyOrderCmd::Show { order, admin } => {
            admin.client()?.call(Op::KeyOrderShow, &[&order]).expect().await?
        }
        KeyOrderCmd::Ready { order, admin } => {
            admin.client()?.call(Op::KeyOrderReady, &[&order]).expect().await?
        }
        KeyOrderCmd::Pickup {
            order,
            number,
            authorizer_name,
            rt,
            admin,
        } => {
            admin
                .client()?
                .call(Op::KeyOrderPickup, &[&order])
                .json(&json!({ "access_number": number, "authorizer_name": authorizer_name, "rt": rt }))
                .expect()
                .await?
        }
        KeyOrderCmd::ReturnRequest { order, admin } => {
            admin
                .client()?
                .call(Op::KeyOrderReturnRequest, &[&order])
                .expect()
                .await?
        }
        KeyOrderCmd::Returned { order, admin } => {
            admin
                .client()?
                .call(Op::KeyOrderReturned, &[&order])
                .expect()
                .await?
        }
    };
    print(&v)
}

pub async fn video(cmd: VideoCmd) -> Result<()> {
    let v: Value = match cmd {
        VideoCmd::Cameras { admin } => admin.client()?.call(Op::CamerasList, &[]).expect().await?,
        VideoCmd::Request {
            kind,
            camera,
            location,
            days,
            document,
            contractor,
            admin,
        } => {
            admin
                .client()?
                .call(Op::VideoWorkSubmit, &[])
                .json(&json!({
                    "kind": kind,
                    "camera": { "name": camera, "location": location, "recording_days": days, "audio": false },
                    "document": document,
                    "contractor": contractor,
                }))
                .expect()
                .await?
        }
        VideoCmd::Requests { admin } => admin.client()?.call(Op::VideoWorkList, &[]).expect().await?,
        VideoCmd::DecideRequest {
            request,
            approve,
            deny: _,
            admin,
        } => {
            admin
                .client()?
                .call(Op::VideoWorkDecide, &[&request])
                .json(&json!({ "approve": approve }))
                .expect()
                .await?
        }
        VideoCmd::Export {
            camera,
            from,
            to,
            document,
            admin,
        } => {
            admin
                .client()?
                .call(Op::VideoExportSubmit, &[])
                .json(&json!({ "camera": camera, "from": from, "to": to, "document": document }))
                .expect()
                .await?
        }
        VideoCmd::Exports { admin } => admin.client()?.call(Op::VideoExportsList, &[]).expect().await?,
        VideoCmd::Hold { export, file, admin } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            admin
                .client()?
                .call(Op::VideoExportHold, &[&export])
                .bytes(bytes)
                .expect()
                .await?
        }
        VideoCmd::DecideExport {
            export,
            approve,
            deny: _,
            admin,
        } => {
            admin
                .client()?
                .call(Op::VideoExportDecide, &[&export])
                .json(&json!({ "approve": approve }))
                .expect()
                .await?
        }
        VideoCmd::Collect { export, out, admin } => {
            let (s, bytes) = admin
                .client()?
                .call(Op::VideoExportCollect, &[&export])
                .send_bytes()
                .await?;
            bytes_to(s, bytes, &out)?
        }
    };
    print(&v)
}

/// Writes a binary answer (an image, a clip) to `out`, or fails with the
/// API's error.
fn bytes_to(s: u16, bytes: Vec<u8>, out: &std::path::Path) -> Result<Value> {
    if s != 200 {
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        bail!("{}", v["error"].as_str().unwrap_or("refused"));
    }
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(json!({ "written": out, "bytes": bytes.len() }))
}

pub async fn photo(cmd: PhotoCmd) -> Result<()> {
    let v: Value = match cmd {
        PhotoCmd::Permission {
            holder,
            kind,
            reference,
            admin,
        } => {
            admin
                .client()?
                .call(Op::PhotoPermissionSet, &[&holder])
                .json(&json!({ "kind": kind, "reference": reference }))
                .expect()
                .await?
        }
        PhotoCmd::Release {
            holder,
            to_dlc,
            out,
            admin,
        } => {
            let (s, b) = admin
                .client()?
                .call(Op::PhotoRelease, &[&holder])
                .json(&json!({ "to_dlc": to_dlc }))
                .send_bytes()
                .await?;
            bytes_to(s, b, &out)?
        }
        PhotoCmd::HardCopy {
            holder,
            recipient,
            admin,
        } => {
            admin
                .client()?
                .call(Op::PhotoHardCopy, &[&holder])
                .json(&json!({ "recipient": recipient }))
                .expect()
                .await?
        }
        PhotoCmd::OwnCopy {
            holder,
            format,
            out,
            admin,
        } => {
            let (s, b) = admin
                .client()?
                .call(Op::PhotoOwnCopy, &[&holder])
                .json(&json!({ "format": format }))
                .send_bytes()
                .await?;
            match (format.as_str(), out) {
                ("digital", Some(out)) => bytes_to(s, b, &out)?,
                ("digital", None) => bail!("a digital copy needs --out FILE"),
                _ => {
                    let v: Value = serde_json::from_slice(&b)?;
                    if s >= 300 {
                        bail!("{}", v["error"].as_str().unwrap_or("refused"));
                    }
                    v
                }
            }
        }
        PhotoCmd::Distributions { holder, admin } => {
            admin
                .client()?
                .call(Op::PhotoDistributions, &[&holder])
                .expect()
                .await?
        }
    };
    print(&v)
}
