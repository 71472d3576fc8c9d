//! `card ...`.

use anyhow::Result;
use portcullis::api::types::{CardView, Expiry, IssueCard, IssuedCard, ReplaceCard};
use portcullis::api::Op;

use crate::common::{day_end, print};
use crate::flags::CardCmd;

pub async fn run(cmd: CardCmd) -> Result<()> {
    match cmd {
        CardCmd::Issue {
            holder,
            valid_until,
            json,
            admin,
        } => {
            let body = IssueCard {
                holder,
                valid_from: None,
                valid_until: valid_until.as_deref().map(day_end).transpose()?,
            };
            let issued: IssuedCard = admin
                .client()?
                .call(Op::CardIssue, &[])
                .json(&body)
                .expect()
                .await?;
            if json {
                return print(&issued);
            }
            println!(
                "card {} issued to holder {}",
                issued.card.id, issued.card.holder
            );
            println!("access number (shown once): {}", issued.access_number);
        }
        CardCmd::Replace {
            holder,
            valid_until,
            admin,
        } => {
            let body = ReplaceCard {
                valid_until: valid_until.as_deref().map(day_end).transpose()?,
            };
            let issued: IssuedCard = admin
                .client()?
                .call(Op::CardReplace, &[&holder])
                .json(&body)
                .expect()
                .await?;
            println!(
                "card {} issued to holder {holder} (superseded: {:?})",
                issued.card.id,
                issued.superseded.unwrap_or_default()
            );
            println!("access number (shown once): {}", issued.access_number);
        }
        CardCmd::Suspend { card, admin } => status(admin, Op::CardSuspend, card).await?,
        CardCmd::Resume { card, admin } => status(admin, Op::CardResume, card).await?,
        CardCmd::Revoke { card, admin } => status(admin, Op::CardRevoke, card).await?,
        CardCmd::Show { card, admin } => status(admin, Op::CardShow, card).await?,
        CardCmd::Expiry {
            card,
            valid_until,
            admin,
        } => {
            let until = if valid_until == "none" {
                None
            } else {
                Some(day_end(&valid_until)?)
            };
            let c: CardView = admin
                .client()?
                .call(Op::CardExpiry, &[&card])
                .json(&Expiry { valid_until: until })
                .expect()
                .await?;
            print(&c)?;
        }
    }
    Ok(())
}

async fn status(admin: crate::flags::AdminOpts, op: Op, card: u64) -> Result<()> {
    let c: CardView = admin.client()?.call(op, &[&card]).expect().await?;
    print(&c)
}
