//! The web console: server-rendered pages for the office's staff, key
//! authorizers and the Director, on the admin listener, with the same
//! identities as the admin API (the client certificate the browser
//! presents).
//!
//! The console decides nothing and writes nothing itself. Every page is
//! gated by the operation of the one role table ([`crate::api::Op`]) it
//! shows, and every read or change it makes is a call of that API, made
//! in-process through the same router, guard, ledger and audit trail as a
//! CLI call: a role the table refuses is refused here too, in words.
//!
//! Forms carry a token bound to the caller's certificate (a page of
//! another site cannot make the browser post here), keep their input when
//! a change is refused, and every change confirms what it did.

mod desk;
mod holders;
mod html;
mod keys;
mod pages;
mod video;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method as HttpMethod, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::Sha256;

use crate::api::{Method, Op};
use crate::pki::identity::Identity;
pub use html::Message;

/// What every console handler shares: the API it calls and the secret its
/// form tokens are made with.
#[derive(Clone)]
pub struct Console {
    api: Router,
    secret: Arc<[u8; 32]>,
}

/// The pages, each with the operation that gates it: the navigation shows a
/// page only to the roles that operation admits.
pub const PAGES: &[(&str, &str, Op)] = &[
    ("/console/holders", "Cardholders", Op::HolderCards),
    ("/console/alarms", "Alarms", Op::AlarmsList),
    ("/console/doors", "Readers and doors", Op::ReadersList),
    ("/console/journal", "Access resolution", Op::JournalLookup),
    ("/console/keys", "Key orders", Op::KeyOrdersList),
    ("/console/video", "Video", Op::VideoExportsList),
    (
        "/console/notifications",
        "Notifications",
        Op::NotificationsList,
    ),
    ("/console/audit", "Audit trail", Op::AuditRead),
];

/// The caller of one page, from the connection's certificate.
pub struct Caller {
    /// Who.
    pub id: Identity,
    console: Console,
}

impl FromRequestParts<Console> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Identity>().cloned() {
            Some(id) => Ok(Caller {
                id,
                console: c.clone(),
            }),
            None => Err((StatusCode::UNAUTHORIZED, "no client certificate").into_response()),
        }
    }
}

impl Caller {
    /// "name (role)".
    pub fn who(&self) -> String {
        format!("{} ({})", self.id.name, self.id.role)
    }

    /// The navigation for this caller's role.
    pub fn nav(&self) -> Vec<(&'static str, &'static str)> {
        let mut n = vec![("/console", "Home")];
        n.extend(
            PAGES
                .iter()
                .filter(|(_, _, op)| op.allows(self.id.role))
                .map(|(href, label, _)| (*href, *label)),
        );
        n
    }

    /// Whether this caller's role may call `op`.
    pub fn may(&self, op: Op) -> bool {
        op.allows(self.id.role)
    }

    /// This caller's form token.
    pub fn csrf(&self) -> String {
        let mut m =
            Hmac::<Sha256>::new_from_slice(&self.console.secret[..]).expect("any key length");
        m.update(self.id.serial.as_bytes());
        m.update(b"\0");
        m.update(self.id.name.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// A whole page for this caller.
    pub fn page(&self, title: &str, message: Option<&Message>, body: &str) -> Response {
        self.page_status(StatusCode::OK, title, message, body)
    }

    /// A whole page with a status.
    pub fn page_status(
        &self,
        status: StatusCode,
        title: &str,
        message: Option<&Message>,
        body: &str,
    ) -> Response {
        let html = html::page(title, &self.who(), &self.nav(), message, body);
        let mut r = (status, html).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; script-src 'none'; frame-ancestors 'none'",
            ),
        );
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        r
    }

    /// The page a role may not see, in words.
    pub fn refused(&self, op: Op) -> Response {
        let allowed: Vec<&str> = op.roles().iter().map(|r| r.as_str()).collect();
        self.page_status(
            StatusCode::FORBIDDEN,
            "Not for your role",
            Some(&Message::error(format!(
                "Your role ({}) may not use this page. It is for: {}.",
                self.id.role,
                allowed.join(", ")
            ))),
            "<p><a href=\"/console\">Back to the start page</a></p>",
        )
    }

    /// Calls `op` through the admin API as this caller; the status and the
    /// raw body.
    pub async fn call_raw(
        &self,
        op: Op,
        args: &[&(dyn std::fmt::Display + Sync)],
        body: Option<(Vec<u8>, &'static str)>,
    ) -> (StatusCode, Bytes) {
        self.call_uri(op, op.path_with(args), body).await
    }

    /// Calls a GET operation with a query string; the answer, or the API's
    /// error in words.
    pub async fn call_query(&self, op: Op, query: &str) -> Result<Value, String> {
        let (s, bytes) = self
            .call_uri(op, format!("{}?{query}", op.path_with(&[])), None)
            .await;
        answer(s, &bytes)
    }

    async fn call_uri(
        &self,
        op: Op,
        uri: String,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> (StatusCode, Bytes) {
        use tower::ServiceExt;
        let method = match op.method() {
            Method::Get => HttpMethod::GET,
            Method::Post => HttpMethod::POST,
            Method::Put => HttpMethod::PUT,
            Method::Patch => HttpMethod::PATCH,
            Method::Delete => HttpMethod::DELETE,
        };
        let mut b = axum::http::Request::builder().method(method).uri(uri);
        let body = match body {
            Some((bytes, ct)) => {
                b = b.header(header::CONTENT_TYPE, ct);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let Ok(mut req) = b.body(body) else {
            return (StatusCode::INTERNAL_SERVER_ERROR, Bytes::new());
        };
        req.extensions_mut().insert(self.id.clone());
        let resp = match self.console.api.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (status, bytes)
    }

    /// Calls `op` with a JSON body (or none); the answer, or the API's
    /// error in words.
    pub async fn call(
        &self,
        op: Op,
        args: &[&(dyn std::fmt::Display + Sync)],
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let body = body.map(|b| {
            (
                serde_json::to_vec(b).unwrap_or_default(),
                "application/json",
            )
        });
        let (s, bytes) = self.call_raw(op, args, body).await;
        answer(s, &bytes)
    }
}

/// An API answer: its JSON, or its error in words.
pub fn answer(s: StatusCode, bytes: &[u8]) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    if s.is_success() {
        Ok(v)
    } else {
        Err(v["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("refused ({s})")))
    }
}

/// A posted form, its token checked.
pub struct Form(pub HashMap<String, String>);

impl Form {
    /// A field, trimmed; empty when absent.
    pub fn get(&self, k: &str) -> String {
        self.0
            .get(k)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    }

    /// A field, or `None` when empty.
    pub fn opt(&self, k: &str) -> Option<String> {
        Some(self.get(k)).filter(|s| !s.is_empty())
    }
}

/// Reads a URL-encoded form and checks its token against the caller's.
pub fn read_form(
    c: &Caller,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<Form, Box<Response>> {
    // A browser says where a request comes from; another site's is refused.
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err(Box::new(c.page_status(
                StatusCode::FORBIDDEN,
                "Refused",
                Some(&Message::error("This form was not sent from the console.")),
                "",
            )));
        }
    }
    let map: HashMap<String, String> = serde_urlencoded::from_bytes(body).map_err(|_| {
        Box::new(c.page_status(
            StatusCode::BAD_REQUEST,
            "Refused",
            Some(&Message::error("The form could not be read.")),
            "",
        ))
    })?;
    if map.get("csrf").map(String::as_str) != Some(c.csrf().as_str()) {
        return Err(Box::new(c.page_status(
            StatusCode::FORBIDDEN,
            "Refused",
            Some(&Message::error(
                "This form has expired or was not made for you; open the page again.",
            )),
            "",
        )));
    }
    Ok(Form(map))
}

/// Refuses every console request another site's page makes the browser
/// send: a link, an image or a form elsewhere must not view a photo, count
/// a look-up or change anything in a member of staff's name.
async fn same_site_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let foreign = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s != "same-origin" && s != "none");
    if foreign {
        return (
            StatusCode::FORBIDDEN,
            "the console is opened directly, not from another site's page",
        )
            .into_response();
    }
    next.run(req).await
}

async fn style() -> Response {
    let mut r = html::STYLE.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css"));
    r
}

/// The console's routes, calling `api` (the admin API's router).
pub fn router(api: Router, max_upload: usize) -> Router {
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let c = Console {
        api,
        secret: Arc::new(secret),
    };
    let r: Router<Console> = Router::new()
        .route("/console/style.css", get(style))
        .merge(pages::routes());
    r.layer(axum::middleware::from_fn(same_site_only))
        .layer(axum::extract::DefaultBodyLimit::max(max_upload))
        .with_state(c)
}
