//! Access resolution: troubleshooting look-ups in the decision journal, by
//! the security and card offices, under the rules of [`crate::lookup`].
//!
//! The records are read first, with no lock held; then one ledger change
//! counts the look-up against its subject's daily limit and records it in
//! the look-up audit — or, past the limit, records the refusal and returns
//! nothing. Every refusal is recorded too.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use super::{read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{JournalPage, JournalQuery, JournalRecord, LookupBy};
use crate::app::shared::Shared;
use crate::clock::rfc3339;
use crate::ledger::{self, Change, Effect};
use crate::lookup::{self, limits, LookupError, MAX_PAGE};
use crate::police::RequestError;
use crate::store::journal::{By, Entry};
use crate::store::lookups::{Lookup, Purpose};

/// A record as card look-ups and police requests show it.
pub(super) fn record(e: &Entry) -> JournalRecord {
    let r = &e.record;
    let unknown = r.card == 0 && r.tag != 0;
    JournalRecord {
        time: rfc3339(e.time),
        reader: r.reader,
        door: r.door,
        card: Some(r.card),
        card_ref: None,
        decision: r.decision.as_str().into(),
        reason: r.reason.as_str().into(),
        unknown_number_tag: unknown.then(|| format!("{:016x}", r.tag)),
    }
}

/// Records a refused look-up (and counts it) and returns the error to
/// answer with.
pub(super) async fn refused(
    s: &Arc<Shared>,
    caller: &Caller,
    purpose: Purpose,
    reference: &str,
    scope: String,
    err: ApiError,
) -> ApiError {
    s.metrics.lookup(purpose.as_str(), "refused");
    let (caller, reference, outcome) = (
        caller.clone(),
        reference.to_owned(),
        format!("refused: {}", err.message),
    );
    let logged = ledger::commit(s, move |s| {
        let now = s.clock.now_micros();
        let entry = Lookup::new(now, &caller.id, purpose, &reference, scope, 0, &outcome);
        Ok::<_, ApiError>((Change::at(now).looked_up(entry), ()))
    })
    .await;
    match logged {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn lookup_error(e: LookupError) -> ApiError {
    match e {
        LookupError::Window(_) => ApiError::invalid(e.to_string()),
        LookupError::Ticket | LookupError::Time(_) => ApiError::bad_request(e.to_string()),
    }
}

/// `GET /v1/journal`: access resolution (troubleshooting).
pub async fn lookup(
    caller: Caller,
    State(s): AppState,
    Query(q): Query<JournalQuery>,
) -> ApiResult {
    lookup::check_ticket(&q.ticket).map_err(lookup_error)?;
    let from = lookup::parse_time("from", &q.from).map_err(lookup_error)?;
    let to = lookup::parse_time("to", &q.to).map_err(lookup_error)?;
    let now = s.journal.now();
    let by = q.by.as_str();
    let scope = format!("{by}:{} {}..{}", q.id, q.from, q.to);
    let purpose = Purpose::AccessResolution;
    let days = s.config.journal.retention_days;
    if let Err(e) = lookup::check_window(from, to, now, s.journal.retention(), days) {
        return Err(refused(&s, &caller, purpose, &q.ticket, scope, lookup_error(e)).await);
    }
    // A look-up is counted when its first page is read; later pages
    // continue it only with the cursor handed out, which is bound to the
    // caller and every parameter.
    let cursor_scope = format!(
        "{}|{}|{by}|{}|{from}|{to}|{}",
        caller.id.name, caller.id.role, q.id, q.ticket
    );
    let (issued, after) = match &q.after {
        Some(a) => match s.pager.verify(&cursor_scope, a, now) {
            Ok(p) => (p.issued, Some(p.after)),
            Err(e) => {
                let err = ApiError::bad_request(e.to_string());
                return Err(refused(&s, &caller, purpose, &q.ticket, scope, err).await);
            }
        },
        None => (now, None),
    };
    let limit = q.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let (by_store, subject) = match q.by {
        LookupBy::Card => (By::Card, q.id),
        LookupBy::Door => (By::Door, q.id),
        LookupBy::Reader => (By::Reader, q.id),
    };
    let mut entries = read(&s, move |s| {
        Ok(s.journal
            .read_by(by_store, subject, from, to, after, limit + 1)?)
    })
    .await?;
    let more = entries.len() > limit;
    entries.truncate(limit);

    let first_page = q.after.is_none();
    let subject_label = format!("{by}:{}", q.id);
    let (c, ticket, returned, sc) = (
        caller.clone(),
        q.ticket.clone(),
        entries.len(),
        scope.clone(),
    );
    let admitted = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let mut change = Change::at(now);
        if first_page {
            let max = s.config.investigations.max_lookups_per_subject_per_day;
            match limits::plan_count(&s.store, &subject_label, now, max)? {
                Some(counted) => change = change.with(Effect::LookupCounted(counted)),
                None => {
                    let msg = format!("refused: {}", RequestError::Limit);
                    let entry = Lookup::new(now, &c.id, purpose, &ticket, sc, 0, &msg);
                    return Ok::<_, ApiError>((change.looked_up(entry), false));
                }
            }
        }
        let entry = Lookup::new(now, &c.id, purpose, &ticket, sc, returned, "ok");
        Ok((change.looked_up(entry), true))
    })
    .await?;
    if !admitted {
        s.metrics.lookup(purpose.as_str(), "refused");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            RequestError::Limit.to_string(),
        ));
    }
    s.metrics.lookup(purpose.as_str(), "ok");
    let next = if more {
        entries
            .last()
            .map(|e| s.pager.cursor(&cursor_scope, issued, (e.time, e.seq)))
    } else {
        None
    };
    // Equipment look-ups name cards by a pseudonym local to this look-up.
    let records = entries
        .iter()
        .map(|e| {
            let mut rec = record(e);
            if q.by != LookupBy::Card {
                rec.card = None;
                rec.card_ref = (e.record.card != 0)
                    .then(|| s.pager.pseudonym(&cursor_scope, issued, e.record.card));
            }
            rec
        })
        .collect();
    Ok(Json(JournalPage { records, next }).into_response())
}
