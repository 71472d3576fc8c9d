//! The video policy's procedures: the camera registry (through approved
//! requests only), installation and alteration requests for the Director,
//! and export requests whose clips are held sealed until the Director
//! decides — released to the requester, or deleted with no appeal.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use sha2::Digest;

use super::{no_store, read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{Created, DecisionBody, WorkBody};
use crate::ledger::{self, Change, Effect};
use crate::pki::identity::Role;
use crate::records::office::OfficeEffect;
use crate::records::video::{self, ExportAsk, ExportRequest, ExportStatus, VideoError};

/// `GET /v1/video/cameras`
pub async fn cameras(State(s): AppState) -> ApiResult {
    let list = read(&s, |s| Ok(video::cameras(&s.store)?)).await?;
    Ok(Json(list).into_response())
}

/// `GET /v1/video/requests`
pub async fn works(State(s): AppState) -> ApiResult {
    let list = read(&s, |s| Ok(video::works(&s.store)?)).await?;
    Ok(Json(list).into_response())
}

/// `POST /v1/video/requests`: a written installation or alteration
/// request, for the Director.
pub async fn submit_work(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let b: WorkBody = super::error::json_body(&body)?;
    let w = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let w = video::plan_work(
            &s.store,
            b.kind,
            b.camera.clone(),
            b.document.clone(),
            b.contractor.clone(),
            &caller.by(),
            now,
        )?;
        let entry = caller.audit(
            now,
            format!("video-request:{}", w.id),
            json!({ "kind": w.kind, "camera": w.camera.name, "document": w.document }),
        );
        Ok::<_, ApiError>((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::VideoWork(w.clone())))
                .audited(entry),
            w,
        ))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(Created { id: w.id })).into_response())
}

/// `POST /v1/video/requests/{id}/decision`: the Director's (or a
/// designee's) determination; an approval installs or alters the camera.
pub async fn decide_work(
    caller: Caller,
    State(s): AppState,
    Path(id): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: DecisionBody = super::error::json_body(&body)?;
    let w = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let w = video::work(&s.store, id)?
            .ok_or_else(|| VideoError::NotFound(format!("no video request {id}")))?;
        let (w, camera) = video::plan_work_decision(w, b.approve, &caller.by(), now)?;
        let mut change = Change::at(now).with(Effect::Office(OfficeEffect::VideoWork(w.clone())));
        if let Some(c) = camera {
            change = change.with(Effect::Office(OfficeEffect::Camera(c)));
        }
        let entry = caller.audit(
            now,
            format!("video-request:{id}"),
            json!({ "approved": b.approve, "camera": w.camera.name }),
        );
        Ok::<_, ApiError>((change.audited(entry), w))
    })
    .await?;
    Ok(Json(w).into_response())
}

/// `GET /v1/video/exports` (police see their own requests only).
pub async fn exports(caller: Caller, State(s): AppState) -> ApiResult {
    let list = read(&s, move |s| {
        Ok(video::exports(&s.store)?
            .into_iter()
            .filter(|e| caller.id.role != Role::Police || e.requester == caller.id.name)
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(list).into_response())
}

/// `POST /v1/video/exports`: a written export request to the Director.
pub async fn submit_export(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let ask: ExportAsk = super::error::json_body(&body)?;
    let e = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let e = video::plan_export(
            &s.store,
            ask.clone(),
            &caller.id.name,
            caller.id.role.as_str(),
            now,
        )?;
        let entry = caller.audit(
            now,
            format!("video-export:{}", e.id),
            json!({ "camera": e.camera, "from": e.from, "to": e.to, "document": e.document }),
        );
        Ok::<_, ApiError>((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::VideoExport(e.clone())))
                .audited(entry),
            e,
        ))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(Created { id: e.id })).into_response())
}

fn load(s: &crate::app::shared::Shared, id: u64) -> Result<ExportRequest, ApiError> {
    Ok(video::export(&s.store, id)?
        .ok_or_else(|| VideoError::NotFound(format!("no video export request {id}")))?)
}

/// `PUT /v1/video/exports/{id}/clip`: SEMO personnel hold the exported
/// clip, sealed, on this appliance only, until the Director decides. The
/// clip is stored as the change is decided (under the ledger's lock); if
/// the change is then not made, the clip is swept away.
pub async fn hold(
    caller: Caller,
    State(s): AppState,
    Path(id): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let max = s.config.video.max_clip_bytes;
    if body.is_empty() || body.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a held clip is 1 byte to {max} bytes (video.max_clip_bytes)"),
        ));
    }
    let sha = hex::encode(sha2::Sha256::digest(&body));
    let result = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let e = load(s, id)?.held(body.len() as u64, sha.clone(), s.clips.here())?;
        s.clips.put(id, &body).map_err(ApiError::internal)?;
        let entry = caller.audit(
            now,
            format!("video-export:{id}"),
            json!({ "held": true, "bytes": body.len(), "sha256": sha, "on": s.clips.here() }),
        );
        Ok::<_, ApiError>((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::VideoExport(e.clone())))
                .audited(entry),
            e,
        ))
    })
    .await;
    match result {
        Ok(e) => Ok(Json(e).into_response()),
        Err(err) => {
            // Stored by a decision that was not committed: not held.
            let sc = s.clone();
            let _ = read(&s, move |_| {
                let _ = sc.clips.sweep(|cid| {
                    cid != id
                        || video::export(&sc.store, cid)
                            .ok()
                            .flatten()
                            .is_some_and(|e| {
                                e.status == ExportStatus::Held
                                    && e.held_on.as_deref() == Some(sc.clips.here())
                            })
                });
                Ok(())
            })
            .await;
            Err(err)
        }
    }
}

/// `POST /v1/video/exports/{id}/decision`: approved, the clip waits for its
/// requester; denied, it is deleted in the same change on every appliance
/// (and erased from the files as the change is applied), with no appeal.
pub async fn decide_export(
    caller: Caller,
    State(s): AppState,
    Path(id): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: DecisionBody = super::error::json_body(&body)?;
    let e = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let before = load(s, id)?;
        let had_clip = before.clip_bytes.is_some();
        let e = before.decided(b.approve, &caller.by(), now)?;
        let mut change = Change::at(now).with(Effect::Office(OfficeEffect::VideoExport(e.clone())));
        if !b.approve {
            change = change.with(Effect::Office(OfficeEffect::ClipDeleted(id)));
        }
        let entry = caller.audit(
            now,
            format!("video-export:{id}"),
            json!({ "approved": b.approve, "clip_deleted": !b.approve && had_clip }),
        );
        Ok::<_, ApiError>((change.audited(entry), e))
    })
    .await?;
    if e.status == ExportStatus::Denied {
        tracing::info!(export = id, "video export denied; clip deleted");
    }
    Ok(Json(e).into_response())
}

/// `GET /v1/video/exports/{id}/clip`: an approved clip, to its requester
/// only (the same certificate name and role), on the appliance that holds
/// it; recorded as released, and the office's copy deleted with it.
pub async fn collect(caller: Caller, State(s): AppState, Path(id): Path<u64>) -> ApiResult {
    let clip = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let e = load(s, id)?;
        if e.requester != caller.id.name || e.requester_role != caller.id.role.as_str() {
            return Err(
                VideoError::NotFound(format!("no video export request {id} of yours")).into(),
            );
        }
        let here = s.clips.here();
        if e.status == ExportStatus::Approved && e.held_on.as_deref() != Some(here) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "the clip of export {id} is held on {}; collect it there",
                    e.held_on.as_deref().unwrap_or("another appliance")
                ),
            ));
        }
        let e = e.released(now)?;
        let clip = s
            .clips
            .get(id)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal(format!("export {id}: approved clip missing")))?;
        let entry = caller.audit(
            now,
            format!("video-export:{id}"),
            json!({ "released_to": caller.by(), "bytes": clip.len() }),
        );
        Ok::<_, ApiError>((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::VideoExport(e)))
                .with(Effect::Office(OfficeEffect::ClipDeleted(id)))
                .audited(entry),
            clip,
        ))
    })
    .await?;
    let mut r = clip.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(no_store(r))
}
