//! Access resolution: troubleshooting look-ups in the decision journal, by
//! the security and card offices, under the rules of [`crate::lookup`].
//!
//! The records are read first, with no lock held; then one ledger change
//! counts the look-up against its subject's daily limit and records it in
//! the look-up audit — or, past the limit, records the refusal and returns
//! nothing. Every refusal is recorded too.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use super::{read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{DoorEventView, JournalPage, JournalQuery, JournalRecord, LookupBy};
use crate::app::shared::Shared;
use crate::clock::rfc3339;
use crate::ledger::{self, Change, Effect};
use crate::lookup::{self, limits, LookupError, MAX_PAGE};
use crate::police::RequestError;
use crate::store::journal::{By, Entry, Journaled};
use crate::store::lookups::{Lookup, Purpose};

/// A record as card look-ups and police requests show it: a decision with
/// its card, or a door event.
pub(super) fn record(e: &Entry) -> JournalRecord {
    match &e.item {
        Journaled::Decision(r) => {
            let unknown = r.card == 0 && r.tag != 0;
            JournalRecord {
                time: rfc3339(e.time),
                reader: r.reader,
                door: r.door,
                card: Some(r.card),
                card_ref: None,
                decision: Some(r.decision.as_str().into()),
                reason: Some(r.reason.as_str().into()),
                unknown_number_tag: unknown.then(|| format!("{:016x}", r.tag)),
                event: None,
            }
        }
        Journaled::Event(ev) => JournalRecord {
            time: rfc3339(e.time),
            reader: ev.reader,
            door: ev.event.door,
            card: None,
            card_ref: None,
            decision: None,
            reason: None,
            unknown_number_tag: None,
            event: Some(DoorEventView {
                kind: ev.event.kind.as_str().into(),
                begins: ev.event.begins,
                observed: rfc3339(ev.event.observed_us),
                event_id: ev.event.event_id,
            }),
        },
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
        let entry = Lookup::new(
            now,
            &caller.id,
            purpose,
            &reference,
            scope.clone(),
            0,
            &outcome,
        );
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
        LookupError::Window(_) | LookupError::Live(_) => ApiError::invalid(e.to_string()),
        LookupError::Ticket | LookupError::Time(_) => ApiError::bad_request(e.to_string()),
    }
}

/// `GET /v1/journal`: access resolution (troubleshooting).
pub async fn lookup(caller: Caller, State(s): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let purpose = Purpose::AccessResolution;
    // Every refusal is recorded, a malformed query included.
    let q: JournalQuery = match serde_urlencoded::from_str(raw.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => {
            let err = ApiError::bad_request(format!("invalid look-up: {e}"));
            return Err(refused(&s, &caller, purpose, "-", "-".into(), err).await);
        }
    };
    let by = q.by.as_str();
    let scope = format!("{by}:{} {}..{}", q.id, q.from, q.to);
    let checked = lookup::check_ticket(&q.ticket).and_then(|()| {
        Ok((
            lookup::parse_time("from", &q.from)?,
            lookup::parse_time("to", &q.to)?,
        ))
    });
    let (from, to) = match checked {
        Ok(w) => w,
        Err(e) => {
            let reference = if lookup::check_ticket(&q.ticket).is_ok() {
                q.ticket.as_str()
            } else {
                "-"
            };
            return Err(refused(&s, &caller, purpose, reference, scope, lookup_error(e)).await);
        }
    };
    let now = s.journal.now();
    let days = s.config.journal.retention_days;
    let min_age = u64::from(s.config.investigations.min_lookup_age_minutes) * 60_000_000;
    let window = lookup::check_window(from, to, now, s.journal.retention(), days)
        .and_then(|()| lookup::check_not_live(to, now, min_age));
    if let Err(e) = window {
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
    // Look-ups about one card count against its holder, so a replacement
    // card does not start a fresh count.
    let subject_label = match q.by {
        LookupBy::Card => {
            let card = q.id;
            read(&s, move |s| Ok(lookup::card_subject(&s.cards, card))).await?
        }
        _ => format!("{by}:{}", q.id),
    };
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
                    let entry = Lookup::new(now, &c.id, purpose, &ticket, sc.clone(), 0, &msg);
                    return Ok::<_, ApiError>((change.looked_up(entry), false));
                }
            }
        }
        let entry = Lookup::new(now, &c.id, purpose, &ticket, sc.clone(), returned, "ok");
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
                rec.card_ref = e
                    .item
                    .decision()
                    .filter(|r| r.card != 0)
                    .map(|r| s.pager.pseudonym(&cursor_scope, issued, r.card));
            }
            rec
        })
        .collect();
    Ok(Json(JournalPage { records, next }).into_response())
}
