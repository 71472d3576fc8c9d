//! Card operations: issue, replace, status changes, show.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{no_store, read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{CardView, Expiry, IssueCard, IssuedCard, ReplaceCard};
use crate::app::shared::Shared;
use crate::ledger::{self, Change, Effect};
use crate::records::cards::{Card, CardError, IssueRequest, NewCard};

fn require_holder(s: &Shared, holder: u64) -> Result<(), ApiError> {
    if s.holders.exists(holder)? {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no cardholder with id {holder}; create the cardholder record first"
        )))
    }
}

/// Commits a planned new card: every record, one audit entry.
async fn commit_new(
    shared: &Arc<Shared>,
    caller: Caller,
    req: IssueRequest,
    replace: bool,
) -> Result<NewCard, ApiError> {
    ledger::commit(shared, move |s| {
        require_holder(s, req.holder)?;
        let new = s.cards.plan_new(req, replace)?;
        let superseded: Vec<u64> = new.superseded.iter().map(|c| c.id).collect();
        let detail = if replace {
            json!({ "holder": req.holder, "superseded": superseded })
        } else {
            json!({ "holder": req.holder })
        };
        let now = s.clock.now_micros();
        let mut change = Change::at(now);
        for c in new.cards() {
            change = change.with(Effect::Card(*c));
        }
        let change = change.audited(caller.audit(now, format!("card:{}", new.card.id), detail));
        Ok((change, new))
    })
    .await
}

fn issued(new: &NewCard, replace: bool) -> axum::response::Response {
    let body = IssuedCard {
        card: CardView::from(&new.card),
        access_number: new.number.reveal(),
        note: "the access number is shown only this once; program the card now".into(),
        superseded: replace.then(|| new.superseded.iter().map(|c| c.id).collect()),
    };
    no_store((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /v1/cards`
pub async fn issue(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let b: IssueCard = super::error::json_body(&body)?;
    let req = IssueRequest {
        holder: b.holder,
        valid_from: b.valid_from,
        valid_until: b.valid_until,
    };
    let new = commit_new(&s, caller, req, false).await?;
    tracing::info!(card = new.card.id, "card issued");
    Ok(issued(&new, false))
}

/// `POST /v1/holders/{id}/replace-card`
pub async fn replace(
    caller: Caller,
    State(s): AppState,
    Path(holder): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: ReplaceCard = if body.is_empty() {
        ReplaceCard::default()
    } else {
        super::error::json_body(&body)?
    };
    let req = IssueRequest {
        holder,
        valid_from: None,
        valid_until: b.valid_until,
    };
    let new = commit_new(&s, caller, req, true).await?;
    tracing::info!(
        card = new.card.id,
        superseded = new.superseded.len(),
        "replacement card issued"
    );
    Ok(issued(&new, true))
}

/// `GET /v1/cards/{id}`
pub async fn show(State(s): AppState, Path(card): Path<u64>) -> ApiResult {
    let c = read(&s, move |s| Ok(s.cards.get(card)?)).await?;
    Ok(Json(CardView::from(&c)).into_response())
}

/// Commits one status change planned by `plan`.
async fn status_change(
    s: Arc<Shared>,
    caller: Caller,
    card: u64,
    plan: impl Fn(&Shared) -> Result<Card, CardError> + Send + Sync + 'static,
) -> ApiResult {
    let op = caller.op;
    let c = ledger::commit(&s, move |s| {
        let c = plan(s)?;
        let change = Change::at(s.clock.now_micros()).with(Effect::Card(c));
        let entry = caller.audit(
            change.time,
            format!("card:{}", c.id),
            serde_json::Value::Null,
        );
        Ok::<_, ApiError>((change.audited(entry), c))
    })
    .await?;
    tracing::info!(card, action = op.name(), "card changed");
    Ok(Json(CardView::from(&c)).into_response())
}

/// `POST /v1/cards/{id}/revoke`
pub async fn revoke(caller: Caller, State(s): AppState, Path(card): Path<u64>) -> ApiResult {
    status_change(s, caller, card, move |s| s.cards.plan_revoke(card)).await
}

/// `POST /v1/cards/{id}/suspend`
pub async fn suspend(caller: Caller, State(s): AppState, Path(card): Path<u64>) -> ApiResult {
    status_change(s, caller, card, move |s| s.cards.plan_suspend(card)).await
}

/// `POST /v1/cards/{id}/resume`
pub async fn resume(caller: Caller, State(s): AppState, Path(card): Path<u64>) -> ApiResult {
    status_change(s, caller, card, move |s| s.cards.plan_resume(card)).await
}

/// `PUT /v1/cards/{id}/expiry`
pub async fn expiry(
    caller: Caller,
    State(s): AppState,
    Path(card): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: Expiry = super::error::json_body(&body)?;
    status_change(s, caller, card, move |s| {
        s.cards.plan_expiry(card, b.valid_until)
    })
    .await
}
