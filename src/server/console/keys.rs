//! Key orders: an authorizer submits for their DLC and records returns; the
//! office marks orders ready and hands keys over at 7-019, where the desk
//! reader reads the person's ID card into the pick-up form.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::html::{esc, form, input, select, table, v};
use super::{read_form, Caller, Console, Form, Message};
use crate::api::Op;

/// The routes of this area.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console/keys", get(index))
        .route("/console/keys/submit", post(submit))
        .route("/console/keys/{id}/pickup", get(pickup_page).post(pickup))
        .route("/console/keys/{id}/{step}", post(step))
}

fn submit_form(c: &Caller, f: Option<&Form>) -> String {
    let g = |k: &str| f.map(|f| f.get(k)).unwrap_or_default();
    let mut s = format!(
        "<h2>New key order</h2>{}",
        form("/console/keys/submit", &c.csrf(), "card")
    );
    s += &input(
        "dlc",
        "Department, lab or center (code)",
        &g("dlc"),
        "required",
    );
    s += &select(
        "kind",
        "Keys",
        &[
            ("room", "Individual room keys"),
            ("master", "DLC master key"),
        ],
        &g("kind"),
    );
    s += &input(
        "rooms",
        "Rooms, comma-separated (E52-419, E52-420)",
        &g("rooms"),
        "",
    );
    s += &input(
        "copies",
        "Copies of each",
        &{
            let c = g("copies");
            if c.is_empty() {
                "1".into()
            } else {
                c
            }
        },
        "inputmode=\"numeric\"",
    );
    s += &input(
        "recipient",
        "Cardholder id of the person picking them up",
        &g("recipient"),
        "required inputmode=\"numeric\"",
    );
    s += &input("rt", "Request Tracker number (optional)", &g("rt"), "");
    s += "<button>Submit the order</button></form>";
    s
}

async fn list_page(c: &Caller, message: Option<Message>, form_state: Option<&Form>) -> Response {
    let orders = match c.call(Op::KeyOrdersList, &[], None).await {
        Ok(v) => v.as_array().cloned().unwrap_or_default(),
        Err(e) => {
            return c.page_status(
                StatusCode::FORBIDDEN,
                "Key orders",
                Some(&Message::error(e)),
                "",
            )
        }
    };
    let mut rows = Vec::new();
    for o in &orders {
        let id = o["id"].as_u64().unwrap_or(0);
        let status = o["status"].as_str().unwrap_or("");
        let mut act = String::new();
        let mut button = |op: Op, step: &str, label: &str, when: &[&str]| {
            if c.may(op) && when.contains(&status) {
                act += &format!(
                    "{}<button>{label}</button></form>",
                    form(&format!("/console/keys/{id}/{step}"), &c.csrf(), "inline")
                );
            }
        };
        button(Op::KeyOrderReady, "ready", "Mark ready", &["submitted"]);
        button(
            Op::KeyOrderReturnRequest,
            "return-request",
            "Return requested",
            &["picked_up"],
        );
        button(
            Op::KeyOrderReturned,
            "returned",
            "Keys returned",
            &["picked_up", "return_requested"],
        );
        if c.may(Op::KeyOrderPickup) && status == "ready" {
            act += &format!("<a href=\"/console/keys/{id}/pickup\">Hand over</a>");
        }
        let what = match o["kind"].as_str() {
            Some("master") => format!("master key of {}", v(&o["dlc"])),
            _ => format!(
                "{} ({})",
                esc(&o["rooms"]
                    .as_array()
                    .map(|r| r
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()),
                v(&o["dlc"])
            ),
        };
        rows.push(vec![
            id.to_string(),
            what,
            v(&o["copies"]),
            v(&o["recipient"]),
            v(&o["authorizer"]),
            format!(
                "<span class=\"tag\" id=\"order-{id}-status\">{}</span>",
                esc(status)
            ),
            act,
        ]);
    }
    let mut body = table(
        &[
            "order",
            "keys",
            "copies",
            "for cardholder",
            "authorizer",
            "status",
            "",
        ],
        &rows,
    );
    if c.may(Op::KeyOrderSubmit) {
        body += &submit_form(c, form_state);
    }
    body += "<p class=\"muted\">Keys are picked up at the Customer Service Center, room 7-019, weekdays 8 a.m. to 4 p.m., with a valid MIT ID card and the authorizer's name or the Request Tracker number.</p>";
    let status = if message.as_ref().is_some_and(|m| !m.ok) {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    c.page_status(status, "Key orders", message.as_ref(), &body)
}

async fn index(c: Caller) -> Response {
    if !c.may(Op::KeyOrdersList) {
        return c.refused(Op::KeyOrdersList);
    }
    list_page(&c, None, None).await
}

async fn submit(c: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let rooms: Vec<String> = f
        .get("rooms")
        .split(',')
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    let (Ok(copies), Ok(recipient)) = (
        f.get("copies").parse::<u8>(),
        f.get("recipient").parse::<u64>(),
    ) else {
        return list_page(
            &c,
            Some(Message::error("copies and the cardholder id are numbers")),
            Some(&f),
        )
        .await;
    };
    let b = json!({ "dlc": f.get("dlc"), "kind": f.get("kind"), "rooms": rooms, "copies": copies, "recipient": recipient, "rt": f.opt("rt") });
    match c.call(Op::KeyOrderSubmit, &[], Some(&b)).await {
        Ok(v) => {
            list_page(
                &c,
                Some(Message::ok(format!("Key order {} submitted.", v["id"]))),
                None,
            )
            .await
        }
        Err(e) => list_page(&c, Some(Message::error(e)), Some(&f)).await,
    }
}

async fn step(
    c: Caller,
    Path((id, step)): Path<(u64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = read_form(&c, &headers, &body) {
        return *r;
    }
    let (op, done) = match step.as_str() {
        "ready" => (Op::KeyOrderReady, "is ready; the authorizer is notified"),
        "return-request" => (
            Op::KeyOrderReturnRequest,
            "is to be returned; the authorizer is notified",
        ),
        "returned" => (Op::KeyOrderReturned, "is recorded as returned"),
        _ => return c.page_status(StatusCode::NOT_FOUND, "Not found", None, ""),
    };
    let m = match c.call(op, &[&id], Some(&json!({}))).await {
        Ok(_) => Message::ok(format!("Key order {id} {done}.")),
        Err(e) => Message::error(e),
    };
    list_page(&c, Some(m), None).await
}

fn pickup_form(c: &Caller, id: u64, f: Option<&Form>) -> String {
    let g = |k: &str| f.map(|f| f.get(k)).unwrap_or_default();
    let mut s = form(&format!("/console/keys/{id}/pickup"), &c.csrf(), "card");
    // The desk reader types the card's number into the focused field; the
    // number is never shown back (the field is a password field).
    s += &input(
        "access_number",
        "Present the ID card at the desk reader",
        "",
        "type=\"password\" required autofocus autocomplete=\"off\"",
    );
    s += &input(
        "authorizer_name",
        "Name of the key authorizer",
        &g("authorizer_name"),
        "autocomplete=\"off\"",
    );
    s += &input(
        "rt",
        "or the Request Tracker number",
        &g("rt"),
        "autocomplete=\"off\"",
    );
    s += "<button>Hand over the keys</button></form>";
    s
}

async fn pickup_page(c: Caller, Path(id): Path<u64>) -> Response {
    if !c.may(Op::KeyOrderPickup) {
        return c.refused(Op::KeyOrderPickup);
    }
    let o = match c.call(Op::KeyOrderShow, &[&id], None).await {
        Ok(o) => o,
        Err(e) => {
            return c.page_status(
                StatusCode::NOT_FOUND,
                "Key pick-up",
                Some(&Message::error(e)),
                "",
            )
        }
    };
    let body = format!(
        "<section><p>Order {id}: {} for cardholder {}, status <span class=\"tag\">{}</span>.</p></section>{}",
        v(&o["kind"]),
        v(&o["recipient"]),
        v(&o["status"]),
        pickup_form(&c, id, None)
    );
    c.page(&format!("Key pick-up, order {id}"), None, &body)
}

async fn pickup(c: Caller, Path(id): Path<u64>, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let b = json!({
        "access_number": f.get("access_number"),
        "authorizer_name": f.opt("authorizer_name"),
        "rt": f.opt("rt"),
    });
    match c.call(Op::KeyOrderPickup, &[&id], Some(&b)).await {
        Ok(o) => {
            list_page(
                &c,
                Some(Message::ok(format!(
                    "Keys of order {id} handed over (card {} checked).",
                    o["picked_up_with_card"]
                ))),
                None,
            )
            .await
        }
        Err(e) => c.page_status(
            StatusCode::CONFLICT,
            &format!("Key pick-up, order {id}"),
            Some(&Message::error(e)),
            &pickup_form(&c, id, Some(&f)),
        ),
    }
}
