//! The video policy at the desk and at the Director's: cameras, written
//! installation and alteration requests and their determination, export
//! requests, the held clip, and the Director's decision.

use axum::body::Bytes;
use axum::extract::{Multipart, Path};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::html::{esc, form, input, select, table, upload_form, v};
use super::{read_form, Caller, Console, Form, Message};
use crate::api::Op;

/// The routes of this area.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console/video", get(index))
        .route("/console/video/requests", post(submit_work))
        .route("/console/video/requests/{id}/decide", post(decide_work))
        .route("/console/video/exports", post(submit_export))
        .route("/console/video/exports/{id}/clip", post(hold))
        .route("/console/video/exports/{id}/collect", post(collect))
        .route("/console/video/exports/{id}/decide", post(decide_export))
}

async fn page(c: &Caller, message: Option<Message>, f: Option<&Form>) -> Response {
    let g = |k: &str| f.map(|f| f.get(k)).unwrap_or_default();
    let mut body = String::new();
    if c.may(Op::CamerasList) {
        let cams = c.call(Op::CamerasList, &[], None).await.unwrap_or_default();
        let rows: Vec<Vec<String>> = cams
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|x| {
                vec![
                    v(&x["name"]),
                    v(&x["location"]),
                    format!("{} days", v(&x["recording_days"])),
                    "off".into(),
                ]
            })
            .collect();
        body += &format!("<section><h2>Cameras</h2>{}<p class=\"muted\">Every camera records at most 14 days cumulative, audio disabled.</p></section>", table(&["camera", "location", "recording", "audio"], &rows));
    }
    if c.may(Op::VideoWorkList) {
        let works = c
            .call(Op::VideoWorkList, &[], None)
            .await
            .unwrap_or_default();
        let mut rows = Vec::new();
        for w in works.as_array().cloned().unwrap_or_default() {
            let id = w["id"].as_u64().unwrap_or(0);
            let mut act = String::new();
            if c.may(Op::VideoWorkDecide) && w["status"] == "pending" {
                for (approve, label) in [(true, "Approve"), (false, "Deny")] {
                    act += &format!(
                        "{}<input type=\"hidden\" name=\"approve\" value=\"{approve}\"><button>{label}</button></form>",
                        form(&format!("/console/video/requests/{id}/decide"), &c.csrf(), "inline")
                    );
                }
            }
            rows.push(vec![
                id.to_string(),
                v(&w["kind"]),
                format!(
                    "{} at {}, {} days",
                    v(&w["camera"]["name"]),
                    v(&w["camera"]["location"]),
                    v(&w["camera"]["recording_days"])
                ),
                v(&w["document"]),
                format!("<span class=\"tag\">{}</span>", v(&w["status"])),
                act,
            ]);
        }
        body += &format!(
            "<section><h2>Installation and alteration requests</h2>{}",
            table(
                &["request", "kind", "camera", "written request", "status", ""],
                &rows
            )
        );
        if c.may(Op::VideoWorkSubmit) {
            body += &form("/console/video/requests", &c.csrf(), "card");
            body += &select(
                "kind",
                "Kind",
                &[("install", "Install a camera"), ("alter", "Alter a camera")],
                &g("kind"),
            );
            body += &input("camera", "Camera name", &g("camera"), "required");
            body += &input(
                "location",
                "Location (building or building-room)",
                &g("location"),
                "required",
            );
            body += &input(
                "days",
                "Days of recording kept (at most 14)",
                &g("days"),
                "required inputmode=\"numeric\"",
            );
            body += &input(
                "document",
                "Written request reference",
                &g("document"),
                "required",
            );
            body += &input("contractor", "Contractor (optional)", &g("contractor"), "");
            body += "<p class=\"muted\">Audio capabilities are always disabled.</p><button>Submit to the Director</button></form>";
        }
        body += "</section>";
    }
    let exports = c
        .call(Op::VideoExportsList, &[], None)
        .await
        .unwrap_or_default();
    let mut rows = Vec::new();
    for e in exports.as_array().cloned().unwrap_or_default() {
        let id = e["id"].as_u64().unwrap_or(0);
        let status = e["status"].as_str().unwrap_or("");
        let mut act = String::new();
        if c.may(Op::VideoExportHold) && status == "awaiting_clip" {
            act += &format!(
                "{}<input type=\"file\" name=\"clip\" required aria-label=\"clip of export {id}\"><button>Hold the clip</button></form>",
                upload_form(&format!("/console/video/exports/{id}/clip"), &c.csrf())
            );
        }
        if c.may(Op::VideoExportDecide) && (status == "held" || status == "awaiting_clip") {
            for (approve, label) in [(true, "Approve and release"), (false, "Deny and delete")] {
                if approve && status != "held" {
                    continue;
                }
                act += &format!(
                    "{}<input type=\"hidden\" name=\"approve\" value=\"{approve}\"><button id=\"export-{id}-{}\">{label}</button></form>",
                    form(&format!("/console/video/exports/{id}/decide"), &c.csrf(), "inline"),
                    if approve { "approve" } else { "deny" }
                );
            }
        }
        if c.may(Op::VideoExportCollect)
            && (status == "approved" || status == "released")
            && e["requester"] == c.id.name.as_str()
        {
            act += &format!(
                "{}<button>Collect the clip (once)</button></form>",
                form(
                    &format!("/console/video/exports/{id}/collect"),
                    &c.csrf(),
                    "inline"
                )
            );
        }
        let clip = match (e["clip_bytes"].as_u64(), e["deleted_at"].as_str()) {
            (_, Some(d)) => format!("deleted {}", esc(d)),
            (Some(b), None) => format!("{b} bytes, sealed"),
            _ => "—".into(),
        };
        rows.push(vec![
            id.to_string(),
            v(&e["camera"]),
            format!("{} – {}", v(&e["from"]), v(&e["to"])),
            format!("{} ({})", v(&e["requester"]), v(&e["requester_role"])),
            v(&e["document"]),
            format!(
                "<span class=\"tag\" id=\"export-{id}-status\">{}</span>",
                esc(status)
            ),
            clip,
            act,
        ]);
    }
    body += &format!(
        "<section><h2>Export requests</h2>{}",
        table(
            &[
                "export",
                "camera",
                "window",
                "requested by",
                "written request",
                "status",
                "clip",
                ""
            ],
            &rows
        )
    );
    if c.may(Op::VideoExportSubmit) {
        body += &form("/console/video/exports", &c.csrf(), "card");
        body += &input("camera", "Camera", &g("camera"), "required");
        body += &input(
            "from",
            "From (RFC 3339, e.g. 2026-12-01T14:00:00Z)",
            &g("from"),
            "required",
        );
        body += &input("to", "To", &g("to"), "required");
        body += &input(
            "document",
            "Written request reference",
            &g("document"),
            "required",
        );
        body += "<button>Submit to the Director</button></form>";
    }
    body += "<p class=\"muted\">An exported clip is held, sealed, until the Director or a designee decides. Approved, it is released to the requester; denied, it is deleted with no further appeal.</p></section>";
    let status = if message.as_ref().is_some_and(|m| !m.ok) {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    c.page_status(status, "Video", message.as_ref(), &body)
}

async fn index(c: Caller) -> Response {
    if !c.may(Op::VideoExportsList) {
        return c.refused(Op::VideoExportsList);
    }
    page(&c, None, None).await
}

async fn submit_work(c: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let Ok(days) = f.get("days").parse::<u8>() else {
        return page(
            &c,
            Some(Message::error("days of recording is a number (at most 14)")),
            Some(&f),
        )
        .await;
    };
    let b = json!({
        "kind": f.get("kind"),
        "camera": { "name": f.get("camera"), "location": f.get("location"), "recording_days": days, "audio": false },
        "document": f.get("document"),
        "contractor": f.opt("contractor"),
    });
    match c.call(Op::VideoWorkSubmit, &[], Some(&b)).await {
        Ok(v) => {
            page(
                &c,
                Some(Message::ok(format!(
                    "Request {} submitted to the Director.",
                    v["id"]
                ))),
                None,
            )
            .await
        }
        Err(e) => page(&c, Some(Message::error(e)), Some(&f)).await,
    }
}

async fn decide_work(c: Caller, Path(id): Path<u64>, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let approve = f.get("approve") == "true";
    let m = match c
        .call(
            Op::VideoWorkDecide,
            &[&id],
            Some(&json!({ "approve": approve })),
        )
        .await
    {
        Ok(_) if approve => Message::ok(format!(
            "Request {id} approved; the camera is in the registry."
        )),
        Ok(_) => Message::ok(format!("Request {id} denied.")),
        Err(e) => Message::error(e),
    };
    page(&c, Some(m), None).await
}

async fn submit_export(c: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let b = json!({ "camera": f.get("camera"), "from": f.get("from"), "to": f.get("to"), "document": f.get("document") });
    match c.call(Op::VideoExportSubmit, &[], Some(&b)).await {
        Ok(v) => {
            page(
                &c,
                Some(Message::ok(format!(
                    "Export request {} submitted to the Director.",
                    v["id"]
                ))),
                None,
            )
            .await
        }
        Err(e) => page(&c, Some(Message::error(e)), Some(&f)).await,
    }
}

/// The clip, uploaded as a file: the token is a field of the same form.
async fn hold(c: Caller, Path(id): Path<u64>, headers: HeaderMap, mut mp: Multipart) -> Response {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return c.page_status(
                StatusCode::FORBIDDEN,
                "Refused",
                Some(&Message::error("This form was not sent from the console.")),
                "",
            );
        }
    }
    let (mut csrf, mut clip) = (None, None);
    loop {
        match mp.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return page(
                        &c,
                        Some(Message::error("the upload could not be read (too large?)")),
                        None,
                    )
                    .await;
                };
                match name.as_str() {
                    "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    "clip" => clip = Some(bytes),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => {
                return page(
                    &c,
                    Some(Message::error("the upload could not be read (too large?)")),
                    None,
                )
                .await
            }
        }
    }
    if csrf.as_deref() != Some(c.csrf().as_str()) {
        return c.page_status(
            StatusCode::FORBIDDEN,
            "Refused",
            Some(&Message::error(
                "This form has expired or was not made for you; open the page again.",
            )),
            "",
        );
    }
    let Some(clip) = clip.filter(|b| !b.is_empty()) else {
        return page(
            &c,
            Some(Message::error("choose the exported clip's file")),
            None,
        )
        .await;
    };
    let n = clip.len();
    let (s, bytes) = c
        .call_raw(
            Op::VideoExportHold,
            &[&id],
            Some((clip.to_vec(), "application/octet-stream")),
        )
        .await;
    let m = match super::answer(s, &bytes) {
        Ok(_) => Message::ok(format!(
            "The clip of export {id} ({n} bytes) is held, sealed, for the Director."
        )),
        Err(e) => Message::error(e),
    };
    page(&c, Some(m), None).await
}

async fn decide_export(
    c: Caller,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let approve = f.get("approve") == "true";
    let m = match c
        .call(
            Op::VideoExportDecide,
            &[&id],
            Some(&json!({ "approve": approve })),
        )
        .await
    {
        Ok(_) if approve => Message::ok(format!(
            "Export {id} approved: its requester may collect the clip."
        )),
        Ok(_) => Message::ok(format!(
            "Export {id} denied: the clip is deleted, with no further appeal."
        )),
        Err(e) => Message::error(e),
    };
    page(&c, Some(m), None).await
}

/// Collecting is a change (the release is recorded and the office's copy
/// deleted): a form, never a link.
async fn collect(c: Caller, Path(id): Path<u64>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = read_form(&c, &headers, &body) {
        return *r;
    }
    let (s, bytes) = c.call_raw(Op::VideoExportCollect, &[&id], None).await;
    if let Err(e) = super::answer(s, &bytes) {
        return page(&c, Some(Message::error(e)), None).await;
    }
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) =
        axum::http::HeaderValue::from_str(&format!("attachment; filename=\"export-{id}.bin\""))
    {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}
