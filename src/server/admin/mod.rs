//! The admin API: HTTPS with client certificates, JSON in and out.
//!
//! The caller's identity and role come from the certificate (inserted into
//! each request by the listener); every handler states which roles may call
//! it. Errors are JSON `{"error": "..."}` with a fitting status code.

pub mod journal;
pub mod records;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::app::shared::Core;
use crate::config::ms;
use crate::pki::identity::{self, Identity, Role};
use crate::records::cards::{CardError, CardView, IssueRequest};
use crate::records::readers::ReaderError;
use crate::server::admin::records::audit;
use crate::server::listener::{accept_loop, Pending};
use crate::server::tls::failure_reason;

/// An admin API error: status plus a message safe to show the caller.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn forbidden(id: &Identity, allowed: &[Role]) -> Self {
        let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
        Self::new(
            StatusCode::FORBIDDEN,
            format!(
                "role {} may not do this; allowed: {}",
                id.role,
                names.join(", ")
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<CardError> for ApiError {
    fn from(e: CardError) -> Self {
        let status = match &e {
            CardError::NotFound(_) => StatusCode::NOT_FOUND,
            CardError::WrongStatus { .. } | CardError::Refused(_) => StatusCode::CONFLICT,
            CardError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CardError::Store(_) => {
                tracing::error!(error = %e, "card store failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<ReaderError> for ApiError {
    fn from(e: ReaderError) -> Self {
        let status = match &e {
            ReaderError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ReaderError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// Refuses the request unless the caller holds one of `allowed`.
pub fn require(id: &Identity, allowed: &[Role]) -> Result<(), ApiError> {
    if allowed.contains(&id.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(id, allowed))
    }
}

type ApiResult = Result<Response, ApiError>;

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The routes.
pub fn router(core: Arc<Core>) -> Router {
    use crate::server::admin::journal as logs;
    use crate::server::admin::records as rec;
    let limit = core.config.admin.max_body;
    Router::new()
        .route("/v1/whoami", get(whoami))
        .route("/v1/cards", post(issue_card))
        .route("/v1/cards/{id}", get(get_card))
        .route("/v1/cards/{id}/revoke", post(revoke_card))
        .route("/v1/cards/{id}/suspend", post(suspend_card))
        .route("/v1/cards/{id}/resume", post(resume_card))
        .route("/v1/cards/{id}/expiry", put(set_expiry))
        .route("/v1/holders", post(rec::create_holder))
        .route(
            "/v1/holders/{id}",
            get(rec::get_holder).patch(rec::update_holder),
        )
        .route("/v1/holders/{id}/levels", put(rec::set_levels))
        .route("/v1/holders/{id}/cards", get(rec::holder_cards))
        .route("/v1/holders/{id}/replace-card", post(replace_card))
        .route(
            "/v1/holders/{id}/photo",
            put(rec::put_photo).get(rec::get_photo),
        )
        .route(
            "/v1/holders/{id}/photo/distribution",
            get(rec::distribute_photo),
        )
        .route("/v1/holders/{id}/photo/withheld", put(rec::set_withheld))
        .route("/v1/access", get(rec::get_access).put(rec::put_access))
        .route("/v1/keys/rotate", post(rec::rotate_keys))
        .route("/v1/audit", get(rec::read_audit))
        .route("/v1/journal", get(logs::resolution))
        .route("/v1/police/chief-key", put(logs::set_chief_key))
        .route("/v1/investigations", post(logs::investigate))
        .route("/v1/investigations/photo", post(logs::investigate_photo))
        .route("/v1/notifications", get(logs::notifications))
        .route("/v1/notifications/{id}/done", post(logs::notification_done))
        .route("/v1/lookups", get(logs::lookups))
        .route("/v1/retention", get(logs::retention))
        .route("/v1/readers", get(list_readers))
        .route(
            "/v1/readers/{name}",
            put(register_reader).delete(remove_reader),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(core)
}

async fn whoami(Extension(id): Extension<Identity>) -> Json<Identity> {
    Json(id)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    holder: u64,
    #[serde(default)]
    valid_from: Option<u32>,
    #[serde(default)]
    valid_until: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceBody {
    #[serde(default)]
    valid_until: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpiryBody {
    valid_until: Option<u32>,
}

/// Parses a JSON request body, refusing it with a clear 400.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn issued(
    card: &crate::records::cards::Card,
    number: &crate::crypto::numbers::AccessNumber,
    extra: serde_json::Value,
) -> Response {
    let mut body = json!({
        "card": CardView::from(card),
        "access_number": number.reveal(),
        "note": "the access number is shown only this once; program the card now",
    });
    if let (Some(o), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    no_store((StatusCode::CREATED, Json(body)).into_response())
}

fn require_holder(core: &Core, holder: u64) -> Result<(), ApiError> {
    match core.holders.exists(holder) {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no cardholder with id {holder}; create the cardholder record first"),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn issue_card(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    body: axum::body::Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let b: IssueBody = json_body(&body)?;
    require_holder(&core, b.holder)?;
    let result = core.cards.issue(IssueRequest {
        holder: b.holder,
        valid_from: b.valid_from,
        valid_until: b.valid_until,
    });
    core.metrics
        .admin_request("card_issue", if result.is_ok() { "ok" } else { "error" });
    let (card, number) = result?;
    audit(
        &core,
        &id,
        "card.issue",
        format!("card:{}", card.id),
        json!({ "holder": b.holder }),
    )?;
    tracing::info!(card = card.id, "card issued");
    core.metrics.credentials.set(core.cards.map().len() as f64);
    Ok(issued(&card, &number, json!({})))
}

async fn replace_card(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(holder): Path<u64>,
    body: axum::body::Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice, Role::CardOffice])?;
    let b: ReplaceBody = if body.is_empty() {
        ReplaceBody { valid_until: None }
    } else {
        json_body(&body)?
    };
    require_holder(&core, holder)?;
    let result = core.cards.replace(IssueRequest {
        holder,
        valid_from: None,
        valid_until: b.valid_until,
    });
    core.metrics
        .admin_request("card_replace", if result.is_ok() { "ok" } else { "error" });
    let (card, number, superseded) = result?;
    audit(
        &core,
        &id,
        "card.replace",
        format!("card:{}", card.id),
        json!({ "holder": holder, "superseded": superseded }),
    )?;
    tracing::info!(
        card = card.id,
        superseded = superseded.len(),
        "replacement card issued"
    );
    core.metrics.credentials.set(core.cards.map().len() as f64);
    Ok(issued(&card, &number, json!({ "superseded": superseded })))
}

async fn get_card(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(card): Path<u64>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice, Role::CardOffice])?;
    let c = core.cards.get(card)?;
    Ok(Json(CardView::from(&c)).into_response())
}

async fn card_change(
    core: &Core,
    id: &Identity,
    card: u64,
    action: &'static str,
    result: Result<crate::records::cards::Card, CardError>,
) -> ApiResult {
    core.metrics
        .admin_request(action, if result.is_ok() { "ok" } else { "error" });
    let c = result?;
    audit(
        core,
        id,
        action,
        format!("card:{}", c.id),
        serde_json::Value::Null,
    )?;
    tracing::info!(card, action, "card changed");
    Ok(Json(CardView::from(&c)).into_response())
}

async fn revoke_card(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(card): Path<u64>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let r = core.cards.revoke(card);
    card_change(&core, &id, card, "card.revoke", r).await
}

async fn suspend_card(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(card): Path<u64>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let r = core.cards.suspend(card);
    card_change(&core, &id, card, "card.suspend", r).await
}

async fn resume_card(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(card): Path<u64>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let r = core.cards.resume(card);
    card_change(&core, &id, card, "card.resume", r).await
}

async fn set_expiry(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(card): Path<u64>,
    body: axum::body::Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let b: ExpiryBody = json_body(&body)?;
    let r = core.cards.set_expiry(card, b.valid_until);
    card_change(&core, &id, card, "card.expiry", r).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReaderBody {
    doors: Vec<u32>,
}

async fn register_reader(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let b: ReaderBody = json_body(&body)?;
    let result = core.readers.register(&name, &b.doors);
    core.metrics.admin_request(
        "reader_register",
        if result.is_ok() { "ok" } else { "error" },
    );
    let r = result?;
    audit(
        &core,
        &id,
        "reader.register",
        format!("reader:{}", r.name),
        json!({ "doors": r.doors }),
    )?;
    tracing::info!(reader = %r.name, doors = r.doors.len(), "reader registered");
    Ok(Json(r).into_response())
}

async fn remove_reader(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
    Path(name): Path<String>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    let result = core.readers.remove(&name);
    core.metrics
        .admin_request("reader_remove", if result.is_ok() { "ok" } else { "error" });
    match result? {
        Some(r) => {
            audit(
                &core,
                &id,
                "reader.remove",
                format!("reader:{}", r.name),
                serde_json::Value::Null,
            )?;
            tracing::info!(reader = %r.name, "reader removed");
            Ok(Json(r).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no reader named {name}"),
        )),
    }
}

async fn list_readers(
    State(core): State<Arc<Core>>,
    Extension(id): Extension<Identity>,
) -> ApiResult {
    require(&id, &[Role::SecurityOffice])?;
    Ok(Json(core.readers.list()).into_response())
}

/// Serves the admin API until `stop` turns true, within the bounds of the
/// admin [`crate::server::listener::Gate`].
pub async fn run(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    core: Arc<Core>,
    stop: watch::Receiver<bool>,
) {
    let app = router(core.clone());
    let gate = core.gates.admin.clone();
    let metrics = core.metrics.clone();
    let conn_stop = stop.clone();
    accept_loop(listener, gate, metrics, stop, move |a| {
        connection(
            a,
            acceptor.clone(),
            core.clone(),
            app.clone(),
            conn_stop.clone(),
        )
    })
    .await
}

async fn connection(
    p: Pending,
    acceptor: TlsAcceptor,
    core: Arc<Core>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let Pending { tcp, guard, .. } = p;
    let hs = ms(core.config.admin.handshake_timeout_ms);
    let tls = match tokio::time::timeout(hs, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            core.metrics
                .tls_failure(true, failure_reason(&e))
                .increment(1);
            return;
        }
        Err(_) => {
            core.metrics.tls_failure(true, "timeout").increment(1);
            return;
        }
    };
    let id = match identity::from_peer_certificates(tls.get_ref().1.peer_certificates()) {
        Ok(id) => id,
        Err(_) => {
            core.metrics
                .tls_failure(true, "bad_certificate")
                .increment(1);
            return;
        }
    };
    drop(guard);
    let Some(_slot) = core.gates.admin.enter() else {
        return;
    };
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(id.clone());
        let app = app.clone();
        async move {
            use tower::ServiceExt;
            app.oneshot(req).await
        }
    });
    let io = hyper_util::rt::TokioIo::new(tls);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(ms(30_000))
        .serve_connection(io, svc);
    // An idle keep-alive connection must not hold the appliance open at
    // shutdown, nor a slot for ever.
    tokio::select! {
        _ = tokio::time::timeout(ms(300_000), conn) => {}
        _ = crate::server::shutdown::stopped(&mut stop) => {}
    }
}
