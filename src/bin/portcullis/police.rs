//! `police ...`: the chief's key (off the appliance), signing and
//! submitting requests.

use anyhow::{bail, Context, Result};
use portcullis::api::types::{ChiefKey, Investigation};
use portcullis::api::Op;
use portcullis::client::refused;
use portcullis::clock::{rfc3339, Clock, SystemClock};
use portcullis::police::{RequestDocument, RequestPurpose, SignedRequest, Subject};
use serde_json::Value;

use crate::common::{block_on, print};
use crate::flags::PoliceCmd;

pub fn run(cmd: PoliceCmd) -> Result<()> {
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
        PoliceCmd::RegisterKey { public_key, admin } => block_on(async move {
            let v: Value = admin
                .client()?
                .call(Op::ChiefKeySet, &[])
                .json(&ChiefKey { public_key })
                .expect()
                .await?;
            print(&v)
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
            let now = SystemClock.now_micros();
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
                issued_at: rfc3339(now),
                expires_at: rfc3339(now + valid_hours.min(168) * 3_600_000_000),
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
        } => block_on(async move {
            let body = std::fs::read(&request)
                .with_context(|| format!("reading {}", request.display()))?;
            let client = admin.client()?;
            match photo_out {
                Some(out) => {
                    let (s, bytes) = client
                        .call(Op::InvestigatePhoto, &[])
                        .bytes(body)
                        .send_bytes()
                        .await?;
                    if s != 200 {
                        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        return Err(refused(s, &v).into());
                    }
                    std::fs::write(&out, bytes)?;
                    println!("photo written to {}", out.display());
                    Ok(())
                }
                None => {
                    let v: Investigation = client
                        .call(Op::Investigate, &[])
                        .bytes(body)
                        .expect()
                        .await?;
                    print(&v)
                }
            }
        }),
    }
}
