//! Reading the trails: who the caller is, the admin audit trail, the
//! look-up audit, and the retention report.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::Json;

use super::{read, ApiResult, AppState, Caller};
use crate::api::types::{AuditQuery, LookupsQuery};

/// `GET /v1/whoami`
pub async fn whoami(caller: Caller) -> ApiResult {
    Ok(Json(caller.id).into_response())
}

/// `GET /v1/audit`
pub async fn audit(State(s): AppState, Query(q): Query<AuditQuery>) -> ApiResult {
    let to = q.to.unwrap_or(u64::MAX);
    let limit = q.limit.unwrap_or(1000).min(10_000);
    let entries = read(&s, move |s| Ok(s.audit.read(q.from, to, limit)?)).await?;
    Ok(Json(entries).into_response())
}

/// `GET /v1/lookups`: the look-up audit.
pub async fn lookups(State(s): AppState, Query(q): Query<LookupsQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(1000).min(10_000);
    let entries = read(&s, move |s| Ok(s.lookups.read(q.from, limit)?)).await?;
    Ok(Json(entries).into_response())
}

/// `GET /v1/retention`: the oldest entry in every part of the journal.
pub async fn retention(State(s): AppState) -> ApiResult {
    let report = read(&s, |s| Ok(crate::store::retention::check(&s.journal)?)).await?;
    Ok(Json(report).into_response())
}
