//! The admin API: HTTPS with client certificates, JSON in and out.
//!
//! Every route comes from the one table in [`crate::api::Op`]. Before a
//! handler runs, [`guard`] reads the caller's identity (put on the request
//! by the listener from the client certificate), refuses a role the table
//! does not allow for that operation, hands the handler a [`Caller`], and
//! afterwards counts `portcullis_admin_requests_total{op,outcome}` — for
//! every route, with one label scheme. Handlers change records only through
//! the [`crate::ledger`], which writes the caller's audit entry in the same
//! atomic batch as the change. Errors are `{"error": "..."}` with a status
//! chosen in [`error`].

mod access;
mod cards;
pub mod error;
mod holders;
mod journal;
mod office;
mod photos;
mod police;
mod readers;
mod trails;
mod video;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::api::{Method, Op};
use crate::app::shared::Shared;
use crate::clock::Micros;
use crate::config::ms;
use crate::pki::identity::{self, Identity};
use crate::server::listener::{accept_loop, Pending};
use crate::server::tls::failure_reason;
use crate::store::audit::AuditEntry;
pub use error::ApiError;

type ApiResult = Result<Response, ApiError>;
type AppState = State<Arc<Shared>>;

/// The authenticated caller of one operation, as admitted by [`guard`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who, from the client certificate.
    pub id: Identity,
    /// What they are calling.
    pub op: Op,
}

impl Caller {
    /// "name (role)": who did a step, as the office's records name them.
    pub fn by(&self) -> String {
        format!("{} ({})", self.id.name, self.id.role)
    }

    /// An audit entry of this call, at `now`, about `target`.
    pub fn audit(
        &self,
        now: Micros,
        target: impl Into<String>,
        detail: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry::new(now, &self.id, self.op.name(), target.into(), detail)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "route without a guard")
        })
    }
}

/// Whether a request comes from a web page of another site: a browser
/// that holds a staff certificate (for the console) would otherwise let any
/// page it visits call the API in that person's name. Browsers say where a
/// request comes from (`Sec-Fetch-Site`, `Origin`); the CLI, the typed
/// client and the console's in-process calls send neither.
fn from_a_web_page(req: &Request) -> bool {
    let h = req.headers();
    let fetch_site = h
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s != "none");
    fetch_site || h.contains_key(header::ORIGIN)
}

/// Admits a request to `op` only for the roles the table allows, and
/// counts its outcome.
async fn guard(
    State((shared, op)): State<(Arc<Shared>, Op)>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = req.extensions().get::<Identity>().cloned();
    let response = match id {
        _ if from_a_web_page(&req) => ApiError::new(
            StatusCode::FORBIDDEN,
            "the admin API is not called from web pages; use the console's own pages",
        )
        .into_response(),
        Some(id) if shared.revoked.is_revoked(&id.serial) => ApiError::new(
            StatusCode::FORBIDDEN,
            "this client certificate has been revoked",
        )
        .into_response(),
        Some(id) if op.allows(id.role) => {
            req.extensions_mut().insert(Caller { id, op });
            next.run(req).await
        }
        Some(id) => {
            let names: Vec<&str> = op.roles().iter().map(|r| r.as_str()).collect();
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "role {} may not do this ({op}); allowed: {}",
                    id.role,
                    names.join(", ")
                ),
            )
            .into_response()
        }
        None => ApiError::new(StatusCode::UNAUTHORIZED, "no client certificate identity")
            .into_response(),
    };
    let status = response.status();
    let outcome = if status.is_success() {
        "ok"
    } else if status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED {
        "forbidden"
    } else if status.is_client_error() {
        "refused"
    } else {
        "error"
    };
    shared.metrics.admin_request(op.name(), outcome);
    response
}

fn filter(m: Method) -> MethodFilter {
    match m {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    }
}

/// The handler of every operation (the match is exhaustive: an operation
/// added to the table without a handler does not compile).
fn handler(op: Op) -> MethodRouter<Arc<Shared>> {
    let f = filter(op.method());
    match op {
        Op::Whoami => on(f, trails::whoami),
        Op::CardIssue => on(f, cards::issue),
        Op::CardShow => on(f, cards::show),
        Op::CardRevoke => on(f, cards::revoke),
        Op::CardSuspend => on(f, cards::suspend),
        Op::CardResume => on(f, cards::resume),
        Op::CardExpiry => on(f, cards::expiry),
        Op::CardReplace => on(f, cards::replace),
        Op::HolderCreate => on(f, holders::create),
        Op::HolderShow => on(f, holders::show),
        Op::HolderUpdate => on(f, holders::update),
        Op::HolderLevels => on(f, holders::levels),
        Op::HolderCards => on(f, holders::cards),
        Op::PhotoUpload => on(f, holders::upload_photo),
        Op::PhotoShow => on(f, holders::show_photo),
        Op::PhotoRelease => on(f, photos::release),
        Op::PhotoPermissionSet => on(f, photos::set_permission),
        Op::PhotoHardCopy => on(f, photos::hard_copy),
        Op::PhotoOwnCopy => on(f, photos::own_copy),
        Op::PhotoDistributions => on(f, photos::distributions),
        Op::HolderFind => on(f, office::find_holder),
        Op::DoorsList => on(f, office::doors),
        Op::DoorPut => on(f, office::put_door),
        Op::AuthorizersList => on(f, office::authorizers),
        Op::AuthorizerPut => on(f, office::put_authorizer),
        Op::AuthorizerRemove => on(f, office::remove_authorizer),
        Op::KeyOrdersList => on(f, office::orders),
        Op::KeyOrderShow => on(f, office::order),
        Op::KeyOrderSubmit => on(f, office::submit),
        Op::KeyOrderReady => on(f, office::ready),
        Op::KeyOrderPickup => on(f, office::pickup),
        Op::KeyOrderReturnRequest => on(f, office::return_request),
        Op::KeyOrderReturned => on(f, office::returned),
        Op::CamerasList => on(f, video::cameras),
        Op::VideoWorkList => on(f, video::works),
        Op::VideoWorkSubmit => on(f, video::submit_work),
        Op::VideoWorkDecide => on(f, video::decide_work),
        Op::VideoExportsList => on(f, video::exports),
        Op::VideoExportSubmit => on(f, video::submit_export),
        Op::VideoExportHold => on(f, video::hold),
        Op::VideoExportDecide => on(f, video::decide_export),
        Op::VideoExportCollect => on(f, video::collect),
        Op::PhotoWithheld => on(f, holders::withheld),
        Op::DlcList => on(f, holders::dlcs),
        Op::DlcPut => on(f, holders::put_dlc),
        Op::AccessShow => on(f, access::show),
        Op::AccessSet => on(f, access::set),
        Op::KeysRotate => on(f, access::rotate_keys),
        Op::AuditRead => on(f, trails::audit),
        Op::LookupsRead => on(f, trails::lookups),
        Op::JournalLookup => on(f, journal::lookup),
        Op::ChiefKeySet => on(f, police::set_chief_key),
        Op::Investigate => on(f, police::investigate),
        Op::InvestigatePhoto => on(f, police::investigate_photo),
        Op::NotificationsList => on(f, police::notifications),
        Op::NotificationDone => on(f, police::notification_done),
        Op::RetentionReport => on(f, trails::retention),
        Op::CertRevoke => on(f, readers::revoke_certificate),
        Op::CertRevokedList => on(f, readers::revoked_certificates),
        Op::BackupCreate => on(f, trails::create_backup),
        Op::BackupList => on(f, trails::backups),
        Op::AlarmsList => on(f, readers::alarms),
        Op::AlarmAck => on(f, readers::ack_alarm),
        Op::ReadersList => on(f, readers::list),
        Op::ReaderRegister => on(f, readers::register),
        Op::ReaderRemove => on(f, readers::remove),
    }
}

/// The routes, one per operation of the table, each behind its guard.
pub fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.config.admin.max_body;
    let clip_limit = shared.config.video.max_clip_bytes;
    let mut r = Router::new();
    for &op in Op::ALL {
        let mut h =
            handler(op).route_layer(middleware::from_fn_with_state((shared.clone(), op), guard));
        if op == Op::VideoExportHold {
            // A held clip may be larger than any other body.
            h = h.layer(DefaultBodyLimit::max(clip_limit.max(limit)));
        }
        r = r.route(op.path(), h);
    }
    r.layer(DefaultBodyLimit::max(limit)).with_state(shared)
}

/// A response that caches nothing (records, photos, access numbers).
fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Runs blocking storage reads off the reactor.
async fn read<T, F>(shared: &Arc<Shared>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let s = shared.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(ApiError::internal)?
}

/// Serves the admin API until `stop` turns true, within the bounds of the
/// admin [`crate::server::listener::Gate`].
pub async fn run(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    core: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let api = router(core.clone());
    // The web console shares the listener, the identities and, through
    // in-process calls, every rule of the API.
    let app = api.clone().merge(crate::server::console::router(
        api,
        core.config
            .video
            .max_clip_bytes
            .max(core.config.admin.max_body)
            + 64 * 1024,
    ));
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
    core: Arc<Shared>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let Pending { tcp, guard, .. } = p;
    // A response's head and body go out in separate writes: without this,
    // Nagle holds the second until the client's delayed ACK (40 ms per
    // admin call).
    let _ = tcp.set_nodelay(true);
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
    // No one certificate can take the admin listener from everybody else,
    // and the security office always finds a slot (to revoke a certificate
    // being misused, for one).
    let cfg = &core.config.admin;
    let privileged = id.role == crate::pki::identity::Role::SecurityOffice;
    let Some(_slot) = core.gates.admin.enter_as(
        &id.name,
        cfg.max_sessions_per_identity,
        cfg.reserved_for_security_office,
        privileged,
    ) else {
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
