//! Admin API for the decision journal, under the office's policy: the two
//! permitted uses (access resolution; police investigations under a request
//! signed by the chief), photos for police under the same rule, the
//! notification outbox, the look-up audit, and the retention report.
//!
//! There is deliberately no "where is this person" or "last seen" query, no
//! subscription and no standing query: every look-up is a bounded window in
//! the past, carries a ticket or case, counts against a per-subject daily
//! limit, and is itself recorded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::shared::Core;
use crate::clock::{rfc3339, Micros};
use crate::pki::identity::{Identity, Role};
use crate::police::{Admission, RequestError, RequestPurpose, SignedRequest, Subject};
use crate::server::admin::records::audit;
use crate::server::admin::{json_body, require, ApiError};
use crate::store::journal::{Entry, IndexKind};
use crate::store::lookups::Purpose;

type ApiResult = Result<Response, ApiError>;

static NOTE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Largest page of records.
pub const MAX_PAGE: usize = 1000;
/// Most records one police request returns.
pub const MAX_POLICE_RECORDS: usize = 10_000;

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "journal look-up failure");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage failure")
}

fn record_json(e: &Entry) -> Value {
    let mut v = json!({
        "time": rfc3339(e.time),
        "reader": e.record.reader,
        "door": e.record.door,
        "card": e.record.card,
        "decision": e.record.decision.as_str(),
        "reason": e.record.reason.as_str(),
    });
    if e.record.card == 0 && e.record.tag != 0 {
        v["unknown_number_tag"] = json!(format!("{:016x}", e.record.tag));
    }
    v
}

fn parse_rfc3339(field: &str, s: &str) -> Result<Micros, ApiError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp_nanos() / 1000).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`{field}` must be an RFC 3339 time"),
            )
        })
}

fn lookup_log(
    core: &Core,
    id: &Identity,
    purpose: Purpose,
    reference: &str,
    scope: String,
    n: usize,
    outcome: &str,
) -> Result<(), ApiError> {
    core.metrics.lookup(
        purpose.as_str(),
        if outcome == "ok" { "ok" } else { "refused" },
    );
    core.lookups
        .record(id, purpose, reference, scope, n, outcome)
        .map_err(internal)
}

/// Query of `GET /v1/journal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionQuery {
    /// `card`, `door` or `reader`.
    by: IndexKind,
    /// The card id, door number or reader id.
    id: u64,
    /// Window start (RFC 3339).
    from: String,
    /// Window end (RFC 3339, exclusive).
    to: String,
    /// The troubleshooting ticket this look-up serves.
    ticket: String,
    /// Continue this look-up: the previous page's `next` cursor.
    #[serde(default)]
    after: Option<String>,
    /// Page size (default and maximum 1000).
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/journal`: access resolution (troubleshooting).
pub async fn resolution(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Query(q): Query<ResolutionQuery>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice, Role::CardOffice])?;
    if q.ticket.is_empty()
        || q.ticket.len() > 64
        || !q
            .ticket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.#/".contains(&b))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a troubleshooting ticket reference (1-64 characters: letters, digits, - _ . # /) is required",
        ));
    }
    let (from, to) = (parse_rfc3339("from", &q.from)?, parse_rfc3339("to", &q.to)?);
    let now = core.journal.now();
    let oldest = now.saturating_sub(core.journal.retention());
    let kind_name = match q.by {
        IndexKind::Card => "card",
        IndexKind::Door => "door",
        IndexKind::Reader => "reader",
    };
    let scope = format!("{kind_name}:{} {}..{}", q.id, q.from, q.to);
    let refuse = |msg: String, status: StatusCode| -> ApiResult {
        lookup_log(
            &core,
            &id,
            Purpose::AccessResolution,
            &q.ticket,
            scope.clone(),
            0,
            &format!("refused: {msg}"),
        )?;
        Err(ApiError::new(status, msg))
    };
    if from >= to || to > now || from < oldest {
        return refuse(
            format!(
                "the window must lie in the past and inside the {}-day retention window",
                core.config.journal.retention_days
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    // A look-up is counted against its subject's daily limit when its
    // first page is read; later pages continue it only with the cursor
    // handed out, which is bound to the caller and every parameter.
    let cursor_scope = format!(
        "{}|{}|{kind_name}|{}|{from}|{to}|{}",
        id.name, id.role, q.id, q.ticket
    );
    let (issued, after) = match &q.after {
        Some(a) => match core.pager.verify(&cursor_scope, a, now) {
            Ok(p) => (p.issued, Some(p.after)),
            Err(e) => return refuse(e.to_string(), StatusCode::BAD_REQUEST),
        },
        None => {
            let admission = core
                .investigations
                .admit(
                    None,
                    &format!("{kind_name}:{}", q.id),
                    now,
                    core.config.investigations.max_lookups_per_subject_per_day,
                )
                .map_err(internal)?;
            if admission != Admission::Admitted {
                return refuse(
                    RequestError::Limit.to_string(),
                    StatusCode::TOO_MANY_REQUESTS,
                );
            }
            (now, None)
        }
    };
    let limit = q.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let c = core.clone();
    let (kind, subject) = (q.by, q.id);
    let entries = tokio::task::spawn_blocking(move || {
        c.journal.read_by(kind, subject, from, to, after, limit + 1)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let more = entries.len() > limit;
    let page = &entries[..entries.len().min(limit)];
    lookup_log(
        &core,
        &id,
        Purpose::AccessResolution,
        &q.ticket,
        scope,
        page.len(),
        "ok",
    )?;
    let next = if more {
        page.last()
            .map(|e| core.pager.cursor(&cursor_scope, issued, (e.time, e.seq)))
    } else {
        None
    };
    // Equipment look-ups name cards by a pseudonym local to this look-up.
    let records: Vec<Value> = page
        .iter()
        .map(|e| {
            let mut v = record_json(e);
            if q.by != IndexKind::Card {
                if let Some(o) = v.as_object_mut() {
                    o.remove("card");
                    if e.record.card != 0 {
                        o.insert(
                            "card_ref".into(),
                            json!(core.pager.pseudonym(&cursor_scope, issued, e.record.card)),
                        );
                    }
                }
            }
            v
        })
        .collect();
    Ok(Json(json!({ "records": records, "next": next })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChiefKeyBody {
    public_key: String,
}

/// `PUT /v1/police/chief-key`: the security office registers the chief's
/// Ed25519 public key.
pub async fn set_chief_key(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    body: Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let b: ChiefKeyBody = json_body(&body)?;
    let key = hex::decode(b.public_key.trim())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "public_key must be a 32-byte Ed25519 public key in hex",
            )
        })?;
    core.investigations.set_chief_key(&key).map_err(internal)?;
    audit(
        &core,
        &id,
        "police.chief-key",
        "chief-key".into(),
        json!({ "public_key": hex::encode(key.as_bytes()) }),
    )?;
    Ok(Json(json!({ "registered": hex::encode(key.as_bytes()) })).into_response())
}

/// Runs every check of a signed request; records refusals.
fn check_request(
    core: &Core,
    id: &Identity,
    body: &[u8],
    want: RequestPurpose,
) -> Result<crate::police::Verified, ApiError> {
    let purpose = match want {
        RequestPurpose::Journal => Purpose::Exploratory,
        RequestPurpose::Photo => Purpose::ExploratoryPhoto,
    };
    let refuse = |reference: &str, scope: String, e: RequestError| -> ApiError {
        let status = match e {
            RequestError::NoChiefKey => StatusCode::CONFLICT,
            RequestError::Malformed | RequestError::BadDocument(_) => StatusCode::BAD_REQUEST,
            RequestError::Replayed => StatusCode::CONFLICT,
            RequestError::Limit => StatusCode::TOO_MANY_REQUESTS,
            RequestError::WrongPurpose(_) | RequestError::Window(_) | RequestError::TooLong => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            RequestError::BadSignature | RequestError::NotYetValid | RequestError::Expired => {
                StatusCode::FORBIDDEN
            }
        };
        if let Err(err) = lookup_log(
            core,
            id,
            purpose,
            reference,
            scope,
            0,
            &format!("refused: {e}"),
        ) {
            return err;
        }
        ApiError::new(status, e.to_string())
    };
    let Some(chief) = core.investigations.chief_key().map_err(internal)? else {
        return Err(refuse("-", "-".into(), RequestError::NoChiefKey));
    };
    let req: SignedRequest = serde_json::from_slice(body)
        .map_err(|_| refuse("-", "-".into(), RequestError::Malformed))?;
    let now = core.journal.now();
    let v = crate::police::verify(
        &chief,
        &req,
        now,
        core.journal.retention(),
        core.config.journal.retention_days,
    )
    .map_err(|e| refuse("-", "-".into(), e))?;
    let scope = format!("{} {}..{}", v.doc.subject.label(), v.doc.from, v.doc.to);
    if v.doc.purpose != want {
        let name = match v.doc.purpose {
            RequestPurpose::Journal => "journal records",
            RequestPurpose::Photo => "a photo",
        };
        return Err(refuse(
            &v.doc.case_number,
            scope,
            RequestError::WrongPurpose(name),
        ));
    }
    let admission = core
        .investigations
        .admit(
            Some(&v.id),
            &v.doc.subject.label(),
            now,
            core.config.investigations.max_lookups_per_subject_per_day,
        )
        .map_err(internal)?;
    match admission {
        Admission::Admitted => Ok(v),
        Admission::Replayed => Err(refuse(&v.doc.case_number, scope, RequestError::Replayed)),
        Admission::Limit => Err(refuse(&v.doc.case_number, scope, RequestError::Limit)),
    }
}

/// `POST /v1/investigations`: journal records under a signed request.
pub async fn investigate(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    body: Bytes,
) -> ApiResult {
    require(&id, &[Role::Police])?;
    let v = check_request(&core, &id, &body, RequestPurpose::Journal)?;
    let cards: Vec<u64> = match v.doc.subject {
        Subject::Card(c) => vec![c],
        Subject::Holder(h) => core.cards.of_holder(h)?.iter().map(|c| c.id).collect(),
    };
    let c = core.clone();
    let (from, to) = (v.from, v.to);
    let mut records = tokio::task::spawn_blocking(move || {
        c.journal
            .read_cards(&cards, from, to, MAX_POLICE_RECORDS + 1)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let truncated = records.len() > MAX_POLICE_RECORDS;
    records.truncate(MAX_POLICE_RECORDS);
    let scope = format!("{} {}..{}", v.doc.subject.label(), v.doc.from, v.doc.to);
    lookup_log(
        &core,
        &id,
        Purpose::Exploratory,
        &v.doc.case_number,
        scope,
        records.len(),
        "ok",
    )?;
    let out: Vec<Value> = records.iter().map(record_json).collect();
    Ok(
        Json(json!({ "case_number": v.doc.case_number, "records": out, "truncated": truncated }))
            .into_response(),
    )
}

/// `POST /v1/investigations/photo`: a photo under a signed request. Under
/// legal process, the person must be informed: a notification is queued.
pub async fn investigate_photo(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    body: Bytes,
) -> ApiResult {
    require(&id, &[Role::Police])?;
    let v = check_request(&core, &id, &body, RequestPurpose::Photo)?;
    let holder = match v.doc.subject {
        Subject::Holder(h) => h,
        Subject::Card(c) => u64::from(core.cards.get(c)?.entry.holder),
    };
    let (kind, bytes) = core.holders.photo(holder)?;
    if let Some(process) = &v.doc.legal_process {
        let action = format!(
            "inform the cardholder that their photo was released to police under legal process ({})",
            process.chars().filter(|c| c.is_ascii_alphanumeric() || *c == ' ').take(40).collect::<String>()
        );
        core.investigations
            .notify(
                holder,
                &v.doc.case_number,
                &action,
                core.journal.now(),
                NOTE_SEQ.fetch_add(1, Ordering::Relaxed),
            )
            .map_err(internal)?;
    }
    lookup_log(
        &core,
        &id,
        Purpose::ExploratoryPhoto,
        &v.doc.case_number,
        format!("holder:{holder} photo"),
        1,
        "ok",
    )?;
    let mut r = bytes.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `GET /v1/notifications`: the outbox.
pub async fn notifications(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    Ok(Json(core.investigations.outbox().map_err(internal)?).into_response())
}

/// `POST /v1/notifications/{id}/done`
pub async fn notification_done(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(nid): Path<String>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    if !core.investigations.done(&nid).map_err(internal)? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such notification"));
    }
    audit(
        &core,
        &id,
        "notification.done",
        format!("notification:{nid}"),
        Value::Null,
    )?;
    Ok(Json(json!({ "id": nid, "done": true })).into_response())
}

/// Query of `GET /v1/lookups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupsQuery {
    /// From (µs since epoch).
    #[serde(default)]
    from: u64,
    /// At most this many (default 1000, max 10000).
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/lookups`: the look-up audit, for auditors.
pub async fn lookups(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Query(q): Query<LookupsQuery>,
) -> ApiResult {
    require(&id, &[Role::Auditor])?;
    let entries = core
        .lookups
        .read(q.from, q.limit.unwrap_or(1000).min(10_000))
        .map_err(internal)?;
    Ok(Json(entries).into_response())
}

/// `GET /v1/retention`: the oldest entry in every part of the journal.
pub async fn retention(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice, Role::Auditor, Role::Director])?;
    let c = core.clone();
    let report = tokio::task::spawn_blocking(move || crate::store::retention::check(&c.journal))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok(Json(report).into_response())
}
