//! Reader registration.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, AppState, Caller};
use crate::api::types::Doors;
use crate::ledger::{self, Change, Effect};
use crate::records::revocations::Revocation;

/// `GET /v1/readers`
pub async fn list(State(s): AppState) -> ApiResult {
    Ok(Json(s.readers.list()).into_response())
}

/// `PUT /v1/readers/{name}`
pub async fn register(
    caller: Caller,
    State(s): AppState,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b: Doors = super::error::json_body(&body)?;
    let r = ledger::commit(&s, move |s| {
        let r = s.readers.plan_register(&name, &b.doors)?;
        let entry = caller.audit(
            s.clock.now_micros(),
            format!("reader:{}", r.name),
            json!({ "doors": r.doors }),
        );
        let change = Change::at(entry.time_us)
            .with(Effect::Reader(r.clone()))
            .audited(entry);
        Ok::<_, ApiError>((change, r))
    })
    .await?;
    tracing::info!(reader = %r.name, doors = r.doors.len(), "reader registered");
    Ok(Json(r).into_response())
}

/// `DELETE /v1/readers/{name}`
pub async fn remove(caller: Caller, State(s): AppState, Path(name): Path<String>) -> ApiResult {
    let r = ledger::commit(&s, move |s| {
        let Some(r) = s.readers.by_name(&name) else {
            return Err(ApiError::not_found(format!("no reader named {name}")));
        };
        let entry = caller.audit(
            s.clock.now_micros(),
            format!("reader:{}", r.name),
            Value::Null,
        );
        let change = Change::at(entry.time_us)
            .with(Effect::ReaderRemoved(r.name.clone()))
            .audited(entry);
        Ok((change, r))
    })
    .await?;
    tracing::info!(reader = %r.name, "reader removed");
    Ok(Json(r).into_response())
}

/// `POST /v1/certificates/revoked`
pub async fn revoke_certificate(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let mut r: Revocation = super::error::json_body(&body)?;
    r.serial = Revocation::normalised(&r.serial).ok_or_else(|| {
        ApiError::invalid("serial must be the certificate's serial number in hex")
    })?;
    if r.serial == caller.id.serial {
        return Err(ApiError::invalid(
            "a certificate cannot revoke itself; another security-office certificate must",
        ));
    }
    let out = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let mut r = r.clone();
        r.at = crate::clock::rfc3339(now);
        let entry = caller.audit(
            now,
            format!("certificate:{}", r.serial),
            json!({ "reason": r.reason }),
        );
        let change = Change::at(now)
            .with(Effect::Revoked(r.clone()))
            .audited(entry);
        Ok::<_, ApiError>((change, r))
    })
    .await?;
    tracing::warn!(serial = %out.serial, "certificate revoked");
    Ok(Json(out).into_response())
}

/// `GET /v1/certificates/revoked`
pub async fn revoked_certificates(State(s): AppState) -> ApiResult {
    let list = super::read(&s, |s| Ok(crate::records::revocations::list(&s.store)?)).await?;
    Ok(Json(list).into_response())
}

/// `GET /v1/alarms`
pub async fn alarms(State(s): AppState) -> ApiResult {
    let list = super::read(&s, |s| {
        let doors = crate::records::doors::list(&s.store)?;
        Ok(s.alarms
            .list()
            .into_iter()
            .map(|a| {
                let d = doors.iter().find(|d| d.door == a.door);
                a.described(d)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(list).into_response())
}

/// `POST /v1/alarms/{door}/{kind}/ack`
pub async fn ack_alarm(
    caller: Caller,
    State(s): AppState,
    Path((door, kind)): Path<(u32, String)>,
) -> ApiResult {
    let Some(kind) = crate::protocol::DoorEventKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
    else {
        return Err(ApiError::invalid(
            "kind is forced_open, held_open, tamper or reader_offline",
        ));
    };
    let a = ledger::commit(&s, move |s| {
        let Some(mut a) = s.alarms.get(door, kind) else {
            return Err(ApiError::not_found(format!(
                "no {} alarm in force at door {door}",
                kind.as_str()
            )));
        };
        let now = s.clock.now_micros();
        a.acknowledged_by = Some(caller.id.name.clone());
        a.acknowledged_at = Some(crate::clock::rfc3339(now));
        let entry = caller.audit(
            now,
            format!("door:{door}"),
            json!({ "kind": kind.as_str() }),
        );
        let change = Change::at(now)
            .with(Effect::AlarmSet(a.clone()))
            .audited(entry);
        Ok((change, a))
    })
    .await?;
    Ok(Json(a).into_response())
}
