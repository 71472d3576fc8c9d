//! Police use of the access log and of photos, under a request signed by
//! the chief of police ([`crate::police`]); the chief's key; the
//! notification outbox.
//!
//! A request is checked (signature, freshness, scope) without touching any
//! state; the records or the photo are read; then one ledger change marks
//! the request used, counts the look-up against its subject's daily limit,
//! records it in the look-up audit and, for a photo released under legal
//! process, queues the notification that the person must be informed — all
//! or nothing, so a request is used once however many copies arrive at
//! once. Every refusal is recorded too.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::journal::{record, refused};
use super::{no_store, read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{ChiefKey, ChiefKeyRegistered, Investigation, NotificationMarked};
use crate::app::shared::Shared;
use crate::ledger::{self, Change, Effect};
use crate::lookup::{limits, MAX_POLICE_RECORDS};
use crate::police::{self, RequestError, RequestPurpose, SignedRequest, Subject, Verified};
use crate::records::outbox::{self, Notification};
use crate::store::lookups::{Lookup, Purpose};

/// `PUT /v1/police/chief-key`: the security office registers the chief's
/// Ed25519 public key.
pub async fn set_chief_key(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let b: ChiefKey = super::error::json_body(&body)?;
    let key = hex::decode(b.public_key.trim())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| {
            ApiError::invalid("public_key must be a 32-byte Ed25519 public key in hex")
        })?;
    let hexed = hex::encode(key.as_bytes());
    let detail = json!({ "public_key": hexed });
    ledger::commit(&s, move |s| {
        let change = Change::at(s.clock.now_micros()).with(Effect::ChiefKey(*key.as_bytes()));
        let entry = caller.audit(change.time, "chief-key", detail.clone());
        Ok::<_, ApiError>((change.audited(entry), ()))
    })
    .await?;
    Ok(Json(ChiefKeyRegistered { registered: hexed }).into_response())
}

fn purpose_of(want: RequestPurpose) -> Purpose {
    match want {
        RequestPurpose::Journal => Purpose::Exploratory,
        RequestPurpose::Photo => Purpose::ExploratoryPhoto,
    }
}

/// Checks a signed request for `want` without touching state; records a
/// refusal.
async fn check(
    s: &Arc<Shared>,
    caller: &Caller,
    body: &[u8],
    want: RequestPurpose,
) -> Result<Verified, ApiError> {
    let purpose = purpose_of(want);
    let chief = {
        let st = s.store.clone();
        read(s, move |_| Ok(police::chief_key(&st)?)).await?
    };
    let refuse = |reference: String, scope: String, e: RequestError| async move {
        refused(s, caller, purpose, &reference, scope, e.into()).await
    };
    let Some(chief) = chief else {
        return Err(refuse("-".into(), "-".into(), RequestError::NoChiefKey).await);
    };
    let req: SignedRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(_) => return Err(refuse("-".into(), "-".into(), RequestError::Malformed).await),
    };
    let now = s.journal.now();
    let retention_days = s.config.journal.retention_days;
    let v = match police::verify(&chief, &req, now, s.journal.retention(), retention_days) {
        Ok(v) => v,
        Err(e) => return Err(refuse("-".into(), "-".into(), e).await),
    };
    if v.doc.purpose != want {
        let name = match v.doc.purpose {
            RequestPurpose::Journal => "journal records",
            RequestPurpose::Photo => "a photo",
        };
        let scope = scope_of(&v);
        return Err(refuse(
            v.doc.case_number.clone(),
            scope,
            RequestError::WrongPurpose(name),
        )
        .await);
    }
    Ok(v)
}

fn scope_of(v: &Verified) -> String {
    format!("{} {}..{}", v.doc.subject.label(), v.doc.from, v.doc.to)
}

/// Uses request `v` in one change: single use, the daily limit, the
/// look-up audit entry (`returned`, `scope`) and `extra` effects. Returns
/// the refusal, if any, after recording it.
async fn admit(
    s: &Arc<Shared>,
    caller: &Caller,
    v: &Verified,
    scope: String,
    returned: usize,
    extra: Vec<Effect>,
) -> Result<(), ApiError> {
    let purpose = purpose_of(v.doc.purpose);
    let (c, id, case) = (caller.clone(), v.id.clone(), v.doc.case_number.clone());
    let subject = v.doc.subject;
    let refusal = ledger::commit(s, move |s| {
        let now = s.clock.now_micros();
        // One person, one count: a card request counts against its holder.
        let subject = match subject {
            Subject::Card(card) => crate::lookup::card_subject(&s.cards, card),
            Subject::Holder(h) => format!("holder:{h}"),
        };
        let refuse = |e: RequestError| {
            let entry = Lookup::new(
                now,
                &c.id,
                purpose,
                &case,
                scope.clone(),
                0,
                &format!("refused: {e}"),
            );
            Ok((Change::at(now).looked_up(entry), Some(e)))
        };
        if police::was_used(&s.store, &id)? {
            return refuse(RequestError::Replayed);
        }
        let max = s.config.investigations.max_lookups_per_subject_per_day;
        let Some(counted) = limits::plan_count(&s.store, &subject, now, max)? else {
            return refuse(RequestError::Limit);
        };
        let mut change = Change::at(now)
            .with(Effect::RequestUsed {
                id: id.clone(),
                at: now,
            })
            .with(Effect::LookupCounted(counted));
        // Notifications are named by the change that makes them: unique
        // and the same on every appliance.
        let seq = s.ledger.applied() + 1;
        for (i, e) in extra.iter().cloned().enumerate() {
            change = change.with(match e {
                Effect::Notification(n) => Effect::Notification(Notification::new(
                    now,
                    seq * 16 + i as u64,
                    n.holder,
                    &n.case_number,
                    &n.action,
                )),
                other => other,
            });
        }
        let entry = Lookup::new(now, &c.id, purpose, &case, scope.clone(), returned, "ok");
        Ok::<_, ApiError>((change.looked_up(entry), None))
    })
    .await?;
    match refusal {
        Some(e) => {
            s.metrics.lookup(purpose.as_str(), "refused");
            Err(e.into())
        }
        None => {
            s.metrics.lookup(purpose.as_str(), "ok");
            Ok(())
        }
    }
}

/// `POST /v1/investigations`: journal records under a signed request.
pub async fn investigate(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let v = check(&s, &caller, &body, RequestPurpose::Journal).await?;
    let (subject, from, to) = (v.doc.subject, v.from, v.to);
    let mut records = read(&s, move |s| {
        let cards: Vec<u64> = match subject {
            Subject::Card(c) => vec![c],
            Subject::Holder(h) => s.cards.of_holder(h)?.iter().map(|c| c.id).collect(),
        };
        Ok(s.journal
            .read_cards(&cards, from, to, MAX_POLICE_RECORDS + 1)?)
    })
    .await?;
    let truncated = records.len() > MAX_POLICE_RECORDS;
    records.truncate(MAX_POLICE_RECORDS);
    admit(&s, &caller, &v, scope_of(&v), records.len(), Vec::new()).await?;
    Ok(Json(Investigation {
        case_number: v.doc.case_number,
        records: records.iter().map(record).collect(),
        truncated,
    })
    .into_response())
}

/// `POST /v1/investigations/photo`: a photo under a signed request. Under
/// legal process, the person must be informed: a notification is queued in
/// the same step.
pub async fn investigate_photo(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let v = check(&s, &caller, &body, RequestPurpose::Photo).await?;
    let subject = v.doc.subject;
    let (holder, kind, bytes) = read(&s, move |s| {
        let holder = match subject {
            Subject::Holder(h) => h,
            Subject::Card(c) => u64::from(s.cards.get(c)?.entry.holder),
        };
        let (kind, bytes) = s.holders.photo(holder)?;
        Ok((holder, kind, bytes))
    })
    .await?;
    let mut extra = Vec::new();
    if let Some(process) = &v.doc.legal_process {
        let action = format!(
            "inform the cardholder that their photo was released to police under legal process ({})",
            process
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
                .take(40)
                .collect::<String>()
        );
        extra.push(Effect::Notification(Notification::new(
            s.clock.now_micros(),
            0,
            holder,
            &v.doc.case_number,
            &action,
        )));
    }
    admit(&s, &caller, &v, format!("holder:{holder} photo"), 1, extra).await?;
    let mut r = bytes.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()));
    Ok(no_store(r))
}

/// `GET /v1/notifications`: the outbox.
pub async fn notifications(State(s): AppState) -> ApiResult {
    let list = read(&s, |s| Ok(outbox::list(&s.store)?)).await?;
    Ok(Json(list).into_response())
}

/// `POST /v1/notifications/{id}/done`
pub async fn notification_done(
    caller: Caller,
    State(s): AppState,
    Path(nid): Path<String>,
) -> ApiResult {
    let id = nid.clone();
    ledger::commit(&s, move |s| {
        let Some(mut n) = outbox::get(&s.store, &id)? else {
            return Err(ApiError::not_found("no such notification"));
        };
        n.done = true;
        let entry = caller.audit(
            s.clock.now_micros(),
            format!("notification:{id}"),
            Value::Null,
        );
        let change = Change::at(entry.time_us)
            .with(Effect::Notification(n))
            .audited(entry);
        Ok((change, ()))
    })
    .await?;
    Ok(Json(NotificationMarked {
        id: nid,
        done: true,
    })
    .into_response())
}
