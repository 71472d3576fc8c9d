//! Admin API for cardholders, photos, access levels, record keys and the
//! audit trail. Every change is written to the audit trail with the
//! caller's certificate identity; entries name records by id only.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::shared::Core;
use crate::pki::identity::{Identity, Role};
use crate::policy::levels::Definitions;
use crate::records::cardholder::fields::Personal;
use crate::records::cardholder::{save_definitions, HolderError, PHOTO_WITHHELD_NOTATION};
use crate::records::cards::CardView;
use crate::server::admin::{json_body, require, ApiError};

type ApiResult = Result<Response, ApiError>;

impl From<HolderError> for ApiError {
    fn from(e: HolderError) -> Self {
        let status = match &e {
            HolderError::NotFound(_) | HolderError::NoPhoto(_) => StatusCode::NOT_FOUND,
            HolderError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            HolderError::Withheld => StatusCode::FORBIDDEN,
            HolderError::Store(_) | HolderError::Vault(_) => {
                tracing::error!(error = %e, "cardholder store failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, e.to_string())
    }
}

/// Records an audit entry; a failure to audit fails the request.
pub fn audit(
    core: &Core,
    id: &Identity,
    action: &str,
    target: String,
    detail: Value,
) -> Result<(), ApiError> {
    core.audit.record(id, action, target, detail).map_err(|e| {
        tracing::error!(error = %e, "audit write failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the change could not be audited",
        )
    })
}

fn json_value(body: &[u8]) -> Result<Value, ApiError> {
    json_body(body)
}

/// `POST /v1/holders`
pub async fn create_holder(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    body: Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let v = json_value(&body)?;
    let p = Personal::from_json(&v)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let hid = core.holders.create(&p)?;
    let fields: Vec<&String> = v
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    audit(
        &core,
        &id,
        "holder.create",
        format!("holder:{hid}"),
        json!({ "fields": fields }),
    )?;
    Ok((StatusCode::CREATED, Json(json!({ "id": hid }))).into_response())
}

/// `GET /v1/holders/{id}`
pub async fn get_holder(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(hid): Path<u64>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let (h, p) = core.holders.get(hid)?;
    let photo_on_file = core.holders.has_photo(hid)?;
    audit(
        &core,
        &id,
        "holder.view",
        format!("holder:{hid}"),
        Value::Null,
    )?;
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
    let mut r = Json(v).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `PATCH /v1/holders/{id}`
pub async fn update_holder(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let v = json_value(&body)?;
    let changed = core.holders.update(hid, &v)?;
    audit(
        &core,
        &id,
        "holder.update",
        format!("holder:{hid}"),
        json!({ "fields": changed }),
    )?;
    Ok(Json(json!({ "id": hid, "updated": changed })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelsBody {
    levels: Vec<String>,
}

/// `PUT /v1/holders/{id}/levels`
pub async fn set_levels(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let b: LevelsBody = json_body(&body)?;
    core.holders.set_levels(hid, b.levels.clone())?;
    audit(
        &core,
        &id,
        "holder.levels",
        format!("holder:{hid}"),
        json!({ "levels": b.levels }),
    )?;
    Ok(Json(json!({ "id": hid, "levels": b.levels })).into_response())
}

/// `GET /v1/holders/{id}/cards`
pub async fn holder_cards(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(hid): Path<u64>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice, Role::CardOffice])?;
    if !core.holders.exists(hid)? {
        return Err(HolderError::NotFound(hid).into());
    }
    let cards: Vec<CardView> = core
        .cards
        .of_holder(hid)?
        .iter()
        .map(CardView::from)
        .collect();
    Ok(Json(cards).into_response())
}

/// `PUT /v1/holders/{id}/photo` (the image as the body)
pub async fn put_photo(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let kind = core.holders.put_photo(hid, &body)?;
    audit(
        &core,
        &id,
        "photo.upload",
        format!("holder:{hid}"),
        json!({ "type": kind.mime(), "bytes": body.len() }),
    )?;
    Ok(Json(json!({ "id": hid, "type": kind.mime() })).into_response())
}

fn image(kind: crate::records::cardholder::fields::PhotoKind, bytes: Vec<u8>) -> Response {
    let mut r = bytes.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /v1/holders/{id}/photo`: for producing and replacing cards.
pub async fn get_photo(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(hid): Path<u64>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice, Role::CardOffice])?;
    let (kind, bytes) = core.holders.photo(hid)?;
    audit(
        &core,
        &id,
        "photo.view.card-production",
        format!("holder:{hid}"),
        Value::Null,
    )?;
    Ok(image(kind, bytes))
}

/// `GET /v1/holders/{id}/photo/distribution`: refused when withheld.
pub async fn distribute_photo(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(hid): Path<u64>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let result = core.holders.photo_for_distribution(hid);
    let outcome = if result.is_ok() {
        "released"
    } else {
        "refused"
    };
    audit(
        &core,
        &id,
        "photo.distribution",
        format!("holder:{hid}"),
        json!({ "outcome": outcome }),
    )?;
    let (kind, bytes) = result?;
    Ok(image(kind, bytes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithheldBody {
    withheld: bool,
}

/// `PUT /v1/holders/{id}/photo/withheld`
pub async fn set_withheld(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(hid): Path<u64>,
    body: Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let b: WithheldBody = json_body(&body)?;
    core.holders.set_withheld(hid, b.withheld)?;
    audit(
        &core,
        &id,
        "photo.withheld",
        format!("holder:{hid}"),
        json!({ "withheld": b.withheld }),
    )?;
    Ok(Json(json!({ "id": hid, "withheld": b.withheld })).into_response())
}

/// `GET /v1/access`
pub async fn get_access(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    Ok(Json(core.access.definitions()).into_response())
}

/// `PUT /v1/access`: replaces every door group, schedule, level and holiday.
pub async fn put_access(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    body: Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let defs: Definitions = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid access definitions: {e}"),
        )
    })?;
    let summary = json!({
        "door_groups": defs.door_groups.keys().collect::<Vec<_>>(),
        "schedules": defs.schedules.keys().collect::<Vec<_>>(),
        "levels": defs.levels.keys().collect::<Vec<_>>(),
        "holidays": defs.holidays.len(),
    });
    save_definitions(&core.store, &core.access, defs)?;
    audit(
        &core,
        &id,
        "access.update",
        "access".into(),
        summary.clone(),
    )?;
    Ok(Json(summary).into_response())
}

/// `POST /v1/keys/rotate`
pub async fn rotate_keys(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let c = core.clone();
    let (key, records) = tokio::task::spawn_blocking(move || c.holders.rotate_key())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "key rotation task failed",
            )
        })??;
    audit(
        &core,
        &id,
        "keys.rotate",
        format!("record-key:{key}"),
        json!({ "records": records }),
    )?;
    Ok(Json(json!({ "key_id": key, "records_reencrypted": records })).into_response())
}

/// Query of `GET /v1/audit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// From (µs since epoch), default 0.
    #[serde(default)]
    from: u64,
    /// To (µs since epoch), default now.
    #[serde(default)]
    to: Option<u64>,
    /// At most this many entries (default 1000, max 10000).
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/audit`
pub async fn read_audit(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Query(q): Query<AuditQuery>,
) -> ApiResult {
    require(&id, &[Role::Auditor])?;
    let to = q.to.unwrap_or(u64::MAX);
    let limit = q.limit.unwrap_or(1000).min(10_000);
    let entries = core
        .audit
        .read(q.from, to, limit)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(entries).into_response())
}
