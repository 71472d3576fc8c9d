//! Cardholder records and photos. Reading a record or a photo is itself
//! audited, in the same step as the read.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{no_store, read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{CardView, Created, Levels, PhotoStored, Updated, Withheld};
use crate::ledger::{self, Change, Effect};
use crate::records::cardholder::fields::Personal;
use crate::records::cardholder::photo::PhotoKind;
use crate::records::cardholder::{HolderError, PHOTO_WITHHELD_NOTATION};
use crate::records::dlcs::Dlc;

/// `POST /v1/holders`
pub async fn create(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let v: Value = super::error::json_body(&body)?;
    let p = Personal::from_json(&v).map_err(|e| ApiError::invalid(e.to_string()))?;
    let fields: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let id = ledger::commit(&s, move |s| {
        let put = s.holders.plan_create(&p)?;
        let id = put.id;
        let change = Change::at(s.clock.now_micros()).with(Effect::Holder(put));
        let entry = caller.audit(
            change.time,
            format!("holder:{id}"),
            json!({ "fields": fields }),
        );
        Ok::<_, ApiError>((change.audited(entry), id))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(Created { id })).into_response())
}

/// `GET /v1/holders/{id}`
pub async fn show(caller: Caller, State(s): AppState, Path(hid): Path<u64>) -> ApiResult {
    let v = ledger::commit(&s, move |s| {
        let (h, p) = s.holders.get(hid)?;
        let photo_on_file = s.holders.has_photo(hid)?;
        let mut v = serde_json::to_value(&p).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert("id".into(), json!(hid));
            o.insert("active".into(), json!(h.active));
            o.insert("levels".into(), json!(h.levels));
            let mut photo = json!({ "on_file": photo_on_file, "withheld": h.photo_withheld });
            if h.photo_withheld {
                photo["notation"] = json!(PHOTO_WITHHELD_NOTATION);
            }
            o.insert("photo".into(), photo);
        }
        let now = s.clock.now_micros();
        let entry = caller.audit(now, format!("holder:{hid}"), Value::Null);
        Ok::<_, ApiError>((Change::at(now).audited(entry), v))
    })
    .await?;
    Ok(no_store(Json(v).into_response()))
}

/// `PATCH /v1/holders/{id}`
pub async fn update(
    caller: Caller,
    State(s): AppState,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let v: Value = super::error::json_body(&body)?;
    let changed = ledger::commit(&s, move |s| {
        let (put, changed) = s.holders.plan_update(hid, &v)?;
        let change = Change::at(s.clock.now_micros()).with(Effect::Holder(put));
        let entry = caller.audit(
            change.time,
            format!("holder:{hid}"),
            json!({ "fields": changed }),
        );
        Ok::<_, ApiError>((change.audited(entry), changed))
    })
    .await?;
    Ok(Json(Updated {
        id: hid,
        updated: changed,
    })
    .into_response())
}

/// `PUT /v1/holders/{id}/levels`
pub async fn levels(
    caller: Caller,
    State(s): AppState,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: Levels = super::error::json_body(&body)?;
    let levels = b.levels.clone();
    ledger::commit(&s, move |s| {
        let put = s.holders.plan_levels(hid, b.levels.clone())?;
        let change = Change::at(s.clock.now_micros()).with(Effect::Holder(put));
        let entry = caller.audit(
            change.time,
            format!("holder:{hid}"),
            json!({ "levels": b.levels }),
        );
        Ok::<_, ApiError>((change.audited(entry), ()))
    })
    .await?;
    Ok(Json(Levels {
        id: Some(hid),
        levels,
    })
    .into_response())
}

/// `GET /v1/holders/{id}/cards`
pub async fn cards(State(s): AppState, Path(hid): Path<u64>) -> ApiResult {
    let cards = read(&s, move |s| {
        if !s.holders.exists(hid)? {
            return Err(HolderError::NotFound(hid).into());
        }
        Ok(s.cards
            .of_holder(hid)?
            .iter()
            .map(CardView::from)
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(cards).into_response())
}

/// `PUT /v1/holders/{id}/photo` (the image as the body)
pub async fn upload_photo(
    caller: Caller,
    State(s): AppState,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let kind = ledger::commit(&s, move |s| {
        let (put, kind) = s.holders.plan_photo(hid, &body)?;
        let change = Change::at(s.clock.now_micros()).with(Effect::Photo(put));
        let entry = caller.audit(
            change.time,
            format!("holder:{hid}"),
            json!({ "type": kind.mime(), "bytes": body.len() }),
        );
        Ok::<_, ApiError>((change.audited(entry), kind))
    })
    .await?;
    Ok(Json(PhotoStored {
        id: hid,
        kind: kind.mime().into(),
    })
    .into_response())
}

/// An image answer, never cached.
pub(super) fn image(kind: PhotoKind, bytes: Vec<u8>) -> Response {
    let mut r = bytes.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()));
    no_store(r)
}

/// `GET /v1/holders/{id}/photo`: for producing and replacing cards.
pub async fn show_photo(caller: Caller, State(s): AppState, Path(hid): Path<u64>) -> ApiResult {
    let (kind, bytes) = ledger::commit(&s, move |s| {
        let photo = s.holders.photo(hid)?;
        let now = s.clock.now_micros();
        let entry = caller.audit(now, format!("holder:{hid}"), Value::Null);
        Ok::<_, ApiError>((Change::at(now).audited(entry), photo))
    })
    .await?;
    Ok(image(kind, bytes))
}

/// `PUT /v1/holders/{id}/photo/withheld`
pub async fn withheld(
    caller: Caller,
    State(s): AppState,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: Withheld = super::error::json_body(&body)?;
    let w = b.withheld;
    ledger::commit(&s, move |s| {
        let put = s.holders.plan_withheld(hid, w)?;
        let change = Change::at(s.clock.now_micros()).with(Effect::Holder(put));
        let entry = caller.audit(
            change.time,
            format!("holder:{hid}"),
            json!({ "withheld": w }),
        );
        Ok::<_, ApiError>((change.audited(entry), ()))
    })
    .await?;
    Ok(Json(Withheld {
        id: Some(hid),
        withheld: w,
    })
    .into_response())
}

/// `GET /v1/dlcs`
pub async fn dlcs(State(s): AppState) -> ApiResult {
    let list = read(&s, |s| Ok(crate::records::dlcs::list(&s.store)?)).await?;
    Ok(Json(list).into_response())
}

/// `PUT /v1/dlcs/{code}`
pub async fn put_dlc(
    caller: Caller,
    State(s): AppState,
    Path(code): Path<String>,
    body: Bytes,
) -> ApiResult {
    let mut d: Dlc = super::error::json_body(&body)?;
    if d.code != code {
        return Err(ApiError::invalid("the body's code differs from the path's"));
    }
    d.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
    let out = d.clone();
    d.name = d.name.trim().to_owned();
    ledger::commit(&s, move |s| {
        let entry = caller.audit(
            s.clock.now_micros(),
            format!("dlc:{}", d.code),
            json!({ "kind": d.kind }),
        );
        let change = Change::at(entry.time_us)
            .with(Effect::Dlc(d.clone()))
            .audited(entry);
        Ok::<_, ApiError>((change, ()))
    })
    .await?;
    Ok(Json(out).into_response())
}
