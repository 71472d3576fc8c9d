//! Reading the trails: who the caller is, the admin audit trail, the
//! look-up audit, and the retention report.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::Json;

use axum::body::Bytes;
use serde_json::json;

use super::{read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{AuditQuery, LookupsQuery};
use crate::ledger::{self, Change};

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
    let mut v = serde_json::to_value(&report).unwrap_or_default();
    // In a cluster, the replicated copy is erased by its stream's age
    // limit: reported beside the local journal.
    if let Some(c) = &s.cluster {
        v["replicated"] = match c.journal_report(s.clock.now_micros()).await {
            Some(r) => serde_json::to_value(r).unwrap_or_default(),
            None => serde_json::json!({ "error": "the cluster cannot be reached" }),
        };
    }
    Ok(Json(v).into_response())
}

/// The body of `POST /v1/backups`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    /// Copy the key files too (only when asked: keys in clear beside the
    /// data they protect).
    #[serde(default)]
    with_keys: bool,
}

/// `POST /v1/backups`: a checkpoint made under the ledger lock, so it holds
/// exactly the changes up to its recorded position.
pub async fn create_backup(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let b: BackupRequest = if body.is_empty() {
        BackupRequest::default()
    } else {
        super::error::json_body(&body)?
    };
    let info = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let checks = crate::store::keys::checks(&s.store)?;
        let m = crate::store::backup::manifest(now, s.ledger.applied(), checks, b.with_keys);
        let keys = b.with_keys.then_some(s.config.keys_dir.as_path());
        let info = crate::store::backup::create(&s.store, &s.config.backup.dir, m, keys)?;
        let entry = caller.audit(
            now,
            "backup",
            json!({ "position": info.manifest.ledger_position, "with_keys": b.with_keys }),
        );
        Ok::<_, ApiError>((Change::at(now).audited(entry), info))
    })
    .await?;
    tracing::info!(path = %info.path.display(), with_keys = info.manifest.with_keys, "backup made");
    Ok(Json(info).into_response())
}

/// `GET /v1/backups`
pub async fn backups(State(s): AppState) -> ApiResult {
    let list = read(&s, |s| {
        Ok(crate::store::backup::list(&s.config.backup.dir)?)
    })
    .await?;
    Ok(Json(list).into_response())
}
