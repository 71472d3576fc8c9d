//! Access-level definitions and record-key rotation.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{AccessSummary, Rotated};
use crate::ledger::{self, Change, Effect};
use crate::policy::levels::{AccessControl, Definitions};
use crate::records::cardholder::Resealed;

/// Records re-sealed in one change of a rotation, at most.
const RESEAL_RECORDS: usize = 256;
/// Bytes (plain text) re-sealed in one change, about.
const RESEAL_BYTES: usize = 16 << 20;

/// `GET /v1/access`
pub async fn show(State(s): AppState) -> ApiResult {
    Ok(Json(s.access.definitions()).into_response())
}

/// `PUT /v1/access`: replaces every door group, schedule, level and holiday.
pub async fn set(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let defs: Definitions = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid access definitions: {e}")))?;
    AccessControl::validate(&defs).map_err(|e| ApiError::invalid(e.to_string()))?;
    let summary = AccessSummary {
        door_groups: defs.door_groups.keys().cloned().collect(),
        schedules: defs.schedules.keys().cloned().collect(),
        levels: defs.levels.keys().cloned().collect(),
        holidays: defs.holidays.len(),
    };
    let detail = serde_json::to_value(&summary).unwrap_or_default();
    ledger::commit(&s, move |s| {
        let change = Change::at(s.clock.now_micros()).with(Effect::Access(defs.clone()));
        let entry = caller.audit(change.time, "access", detail.clone());
        Ok::<_, ApiError>((change.audited(entry), ()))
    })
    .await?;
    Ok(Json(summary).into_response())
}

/// `POST /v1/keys/rotate`: a new record key becomes current, every record
/// still sealed under another key is re-sealed in bounded steps, then the
/// old keys are retired and their files deleted. Uploads go on meanwhile
/// (sealed under the new key); an interrupted rotation is finished by the
/// next one.
pub async fn rotate_keys(caller: Caller, State(s): AppState) -> ApiResult {
    let begin = caller.clone();
    let key = ledger::commit(&s, move |s| {
        let (id, check) = s.holders.vault().create_key()?;
        let change = Change::at(s.clock.now_micros()).with(Effect::RecordKey { id, check });
        let entry = begin.audit(
            change.time,
            format!("record-key:{id}"),
            json!({ "step": "begin" }),
        );
        Ok::<_, ApiError>((change.audited(entry), id))
    })
    .await?;
    let mut records = 0;
    loop {
        let n = ledger::commit(&s, move |s| {
            let chunk = s.holders.plan_reseal(RESEAL_RECORDS, RESEAL_BYTES)?;
            let mut change = Change::at(s.clock.now_micros());
            let n = chunk.len();
            for r in chunk {
                change = change.with(match r {
                    Resealed::Holder(h) => Effect::Holder(h),
                    Resealed::Photo(p) => Effect::Photo(p),
                });
            }
            Ok::<_, ApiError>((change, n))
        })
        .await?;
        if n == 0 {
            break;
        }
        records += n;
    }
    ledger::commit(&s, move |s| {
        // Only keys no record is sealed with: another rotation may have
        // made a newer key current since this one's last step.
        let in_use = s.holders.key_ids_in_use()?;
        let retired: Vec<u32> = s
            .holders
            .vault()
            .others()
            .into_iter()
            .filter(|k| !in_use.contains(k))
            .collect();
        let change =
            Change::at(s.clock.now_micros()).with(Effect::RecordKeysRetired(retired.clone()));
        let entry = caller.audit(
            change.time,
            format!("record-key:{key}"),
            json!({ "step": "done", "records": records, "retired": retired }),
        );
        Ok::<_, ApiError>((change.audited(entry), ()))
    })
    .await?;
    // Old ciphertexts may linger in old files until compaction; without
    // their keys they are unreadable, and compaction removes them.
    read(&s, |s| Ok(s.holders.compact()?)).await?;
    Ok(Json(Rotated {
        key_id: key,
        records_reencrypted: records,
    })
    .into_response())
}
