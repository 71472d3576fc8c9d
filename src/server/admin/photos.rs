//! Photo distribution (see [`crate::records::cardholder::distribution`]):
//! the permission a digital release rests on, the release itself, hard
//! copies, the person's own copy, and the record of all of them. Every
//! attempt, refused ones included, is audited.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{
    DistributionsView, HardCopyBody, OwnCopyBody, PermissionBody, ReleaseBody,
};
use crate::app::shared::Shared;
use crate::ledger::{self, Change, Effect};
use crate::records::cardholder::distribution::{self, Distributed, Subject};
use crate::records::cardholder::photo::PhotoKind;
use crate::records::cardholder::PHOTO_WITHHELD_NOTATION;
use crate::records::office::OfficeEffect;

/// `PUT /v1/holders/{id}/photo/permission`
pub async fn set_permission(
    caller: Caller,
    State(s): AppState,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: PermissionBody = super::error::json_body(&body)?;
    let p = ledger::commit(&s, move |s| {
        let (_, person) = s.holders.get(hid)?;
        let now = s.clock.now_micros();
        let p = distribution::plan_permission(
            hid,
            person.affiliation,
            b.kind,
            b.reference.clone(),
            &caller.by(),
            now,
        )?;
        let entry = caller.audit(
            now,
            format!("holder:{hid}"),
            json!({ "kind": p.kind, "reference": p.reference }),
        );
        Ok::<_, ApiError>((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::PhotoPermission(p.clone())))
                .audited(entry),
            p,
        ))
    })
    .await?;
    Ok(Json(p).into_response())
}

/// Plans one distribution against the rules and the record, and audits the
/// attempt either way; the photo comes with it when it goes out.
async fn distribute(
    s: &std::sync::Arc<Shared>,
    caller: Caller,
    hid: u64,
    what: Distributed,
    with_photo: bool,
) -> Result<(distribution::Distribution, Option<(PhotoKind, Vec<u8>)>), ApiError> {
    let result = ledger::commit(s, move |s| {
        let (header, person) = s.holders.get(hid)?;
        let permission = distribution::permission(&s.store, hid)?;
        let history = distribution::distributions(&s.store, hid)?;
        let now = s.clock.now_micros();
        let subject = Subject {
            holder: hid,
            affiliation: person.affiliation,
            withheld: header.photo_withheld,
            permission: permission.as_ref(),
            history: &history,
        };
        match distribution::plan(&subject, what.clone(), &caller.by(), now) {
            Ok(d) => {
                let photo = if with_photo {
                    Some(s.holders.photo(hid)?)
                } else {
                    None
                };
                let entry = caller.audit(
                    now,
                    format!("holder:{hid}"),
                    json!({ "outcome": "distributed", "what": d.what }),
                );
                Ok::<_, ApiError>((
                    Change::at(now)
                        .with(Effect::Office(OfficeEffect::PhotoDistribution(d.clone())))
                        .audited(entry),
                    Ok((d, photo)),
                ))
            }
            Err(e) => {
                let entry = caller.audit(
                    now,
                    format!("holder:{hid}"),
                    json!({ "outcome": "refused", "why": e.to_string() }),
                );
                Ok((Change::at(now).audited(entry), Err(ApiError::from(e))))
            }
        }
    })
    .await?;
    result
}

/// `POST /v1/holders/{id}/photo/release`: a digital copy within the
/// Institute, on the recorded permission.
pub async fn release(
    caller: Caller,
    State(s): AppState,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: ReleaseBody = super::error::json_body(&body)?;
    let known = {
        let code = b.to_dlc.clone();
        read(&s, move |s| {
            Ok(crate::records::dlcs::exists(&s.store, &code)?)
        })
        .await?
    };
    if !known {
        return Err(ApiError::invalid(format!(
            "{} is not a registered department, lab or center: releases stay within the Institute",
            b.to_dlc
        )));
    }
    let what = Distributed::DigitalRelease {
        to_dlc: b.to_dlc,
        permission: String::new(),
    };
    let (_, photo) = distribute(&s, caller, hid, what, true).await?;
    let (kind, bytes) = photo.ok_or_else(|| ApiError::internal("photo missing"))?;
    Ok(super::holders::image(kind, bytes))
}

/// `POST /v1/holders/{id}/photo/hard-copy`: recorded; the office prints.
pub async fn hard_copy(
    caller: Caller,
    State(s): AppState,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: HardCopyBody = super::error::json_body(&body)?;
    let what = Distributed::HardCopy {
        recipient: b.recipient,
        permission: None,
    };
    let (d, _) = distribute(&s, caller, hid, what, false).await?;
    Ok(Json(d).into_response())
}

/// `POST /v1/holders/{id}/photo/own-copy`: the person's single copy.
pub async fn own_copy(
    caller: Caller,
    State(s): AppState,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: OwnCopyBody = super::error::json_body(&body)?;
    let digital = b.format == "digital";
    let what = Distributed::OwnCopy { format: b.format };
    let (d, photo) = distribute(&s, caller, hid, what, digital).await?;
    match photo {
        Some((kind, bytes)) => Ok(super::holders::image(kind, bytes)),
        None => Ok(Json(d).into_response()),
    }
}

/// `GET /v1/holders/{id}/photo/distributions`
pub async fn distributions(State(s): AppState, Path(hid): Path<u64>) -> ApiResult {
    let v = read(&s, move |s| {
        let (header, _) = s.holders.get(hid)?;
        Ok(DistributionsView {
            withheld: header.photo_withheld,
            notation: header
                .photo_withheld
                .then(|| PHOTO_WITHHELD_NOTATION.to_owned()),
            permission: distribution::permission(&s.store, hid)?,
            distributions: distribution::distributions(&s.store, hid)?,
        })
    })
    .await?;
    Ok(Json(v).into_response())
}
