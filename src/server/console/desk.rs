//! The start page and the security office's desk: door alarms and who to
//! call, readers and doors, access-resolution look-ups with a ticket, the
//! notification outbox, and the auditors' trail.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::html::{esc, form, input, select, table, v};
use super::{read_form, Caller, Console, Message, PAGES};
use crate::api::types::JournalQuery;
use crate::api::Op;

/// The routes of this area.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console", get(home))
        .route("/console/alarms", get(alarms))
        .route("/console/alarms/{door}/{kind}/ack", post(ack))
        .route("/console/doors", get(doors))
        .route("/console/doors/set", post(set_door))
        .route("/console/journal", get(journal))
        .route("/console/notifications", get(notifications))
        .route("/console/notifications/{id}/done", post(notification_done))
        .route("/console/audit", get(audit))
}

async fn home(c: Caller) -> Response {
    let mut body = format!(
        "<section><p>Signed in by your certificate as <strong>{}</strong>, role <span class=\"tag\">{}</span>.</p>",
        esc(&c.id.name),
        esc(c.id.role.as_str())
    );
    let mine: Vec<_> = PAGES.iter().filter(|(_, _, op)| c.may(*op)).collect();
    if mine.is_empty() {
        body += "<p>Your role has no page here.</p>";
    } else {
        body += "<ul>";
        for (href, label, _) in mine {
            body += &format!("<li><a href=\"{}\">{}</a></li>", esc(href), esc(label));
        }
        body += "</ul>";
    }
    body += "</section>";
    if c.may(Op::AlarmsList) {
        if let Ok(a) = c.call(Op::AlarmsList, &[], None).await {
            let n = a.as_array().map(|a| a.len()).unwrap_or(0);
            body += &format!(
                "<section><p><a href=\"/console/alarms\">{n} door alarm(s) in force.</a> An alarm no one responds to: call MIT Police, 100 from any MIT phone or 617-253-1212.</p></section>"
            );
        }
    }
    c.page("Portcullis console", None, &body)
}

async fn alarms_page(c: &Caller, message: Option<Message>) -> Response {
    let list = match c.call(Op::AlarmsList, &[], None).await {
        Ok(v) => v.as_array().cloned().unwrap_or_default(),
        Err(e) => {
            return c.page_status(
                StatusCode::FORBIDDEN,
                "Door alarms",
                Some(&Message::error(e)),
                "",
            )
        }
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            let door = a["door"].as_u64().unwrap_or(0);
            let kind = a["kind"].as_str().unwrap_or("");
            let ack = if a["acknowledged_by"].is_string() {
                format!("acknowledged by {}", v(&a["acknowledged_by"]))
            } else {
                format!(
                    "{}<button>Acknowledge</button></form>",
                    form(
                        &format!("/console/alarms/{door}/{kind}/ack"),
                        &c.csrf(),
                        "inline"
                    )
                )
            };
            vec![
                format!("{door} {}", v(&a["door_name"])),
                format!("<span class=\"tag\">{}</span>", esc(kind)),
                v(&a["since"]),
                v(&a["reported_by"]),
                format!("<strong>{}</strong>", v(&a["call"])),
                ack,
            ]
        })
        .collect();
    let body = table(&["door", "alarm", "since", "reported by", "who to call", ""], &rows)
        + "<p class=\"muted\">An alarm stays until the door reports it over; acknowledging it records who saw it.</p>";
    c.page("Door alarms", message.as_ref(), &body)
}

async fn alarms(c: Caller) -> Response {
    if !c.may(Op::AlarmsList) {
        return c.refused(Op::AlarmsList);
    }
    alarms_page(&c, None).await
}

async fn ack(
    c: Caller,
    Path((door, kind)): Path<(u32, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = read_form(&c, &headers, &body) {
        return *r;
    }
    let m = match c
        .call(Op::AlarmAck, &[&door, &kind], Some(&json!({})))
        .await
    {
        Ok(_) => Message::ok(format!("The {kind} alarm of door {door} is acknowledged.")),
        Err(e) => Message::error(e),
    };
    alarms_page(&c, Some(m)).await
}

async fn doors_page(c: &Caller, message: Option<Message>) -> Response {
    let readers = c.call(Op::ReadersList, &[], None).await.unwrap_or_default();
    let rows: Vec<Vec<String>> = readers
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| vec![v(&r["id"]), v(&r["name"]), v(&r["doors"])])
        .collect();
    let mut body = format!(
        "<section><h2>Readers and door controllers</h2>{}</section>",
        table(&["id", "name", "doors"], &rows)
    );
    let doors = c.call(Op::DoorsList, &[], None).await.unwrap_or_default();
    let rows: Vec<Vec<String>> = doors
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            vec![
                v(&d["door"]),
                v(&d["name"]),
                v(&d["building"]),
                if d["residence_hall"] == true {
                    "residence hall: house manager".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    body += &format!(
        "<section><h2>Doors</h2>{}",
        table(&["door", "name", "building", ""], &rows)
    );
    if c.may(Op::DoorPut) {
        body += &form("/console/doors/set", &c.csrf(), "card");
        body += &input("door", "Door number", "", "required inputmode=\"numeric\"");
        body += &input("name", "Name (N52-lobby-east)", "", "required");
        body += &input("building", "Building (N52, 7, W20)", "", "required");
        body += &select(
            "residence_hall",
            "Residence hall",
            &[
                ("false", "no"),
                ("true", "yes: its house manager is called when it fails"),
            ],
            "false",
        );
        body += "<button>Register the door</button></form>";
    }
    body += "</section>";
    c.page("Readers and doors", message.as_ref(), &body)
}

async fn doors(c: Caller) -> Response {
    if !c.may(Op::ReadersList) {
        return c.refused(Op::ReadersList);
    }
    doors_page(&c, None).await
}

async fn set_door(c: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let Ok(door) = f.get("door").parse::<u32>() else {
        return doors_page(&c, Some(Message::error("a door number is a number"))).await;
    };
    let b = json!({ "name": f.get("name"), "building": f.get("building"), "residence_hall": f.get("residence_hall") == "true" });
    let m = match c.call(Op::DoorPut, &[&door], Some(&b)).await {
        Ok(_) => Message::ok(format!("Door {door} registered.")),
        Err(e) => Message::error(e),
    };
    doors_page(&c, Some(m)).await
}

/// `GET /console/journal`: the look-up form, and with a query, its page of
/// records (the API enforces the ticket, the window, the limits).
async fn journal(c: Caller, RawQuery(raw): RawQuery) -> Response {
    if !c.may(Op::JournalLookup) {
        return c.refused(Op::JournalLookup);
    }
    let parsed = raw
        .filter(|r| !r.is_empty())
        .map(|r| serde_urlencoded::from_str::<JournalQuery>(&r));
    let q = match parsed {
        Some(Ok(q)) => Some(q),
        Some(Err(e)) => {
            return c.page_status(
                StatusCode::BAD_REQUEST,
                "Access resolution",
                Some(&Message::error(format!(
                    "the look-up could not be read: {e}"
                ))),
                "<p><a href=\"/console/journal\">Start again</a></p>",
            )
        }
        None => None,
    };
    let g = |f: fn(&JournalQuery) -> String| q.as_ref().map(f).unwrap_or_default();
    let mut body = String::from("<form method=\"get\" action=\"/console/journal\" class=\"card\">");
    body += &select(
        "by",
        "Troubleshoot",
        &[
            ("door", "a door"),
            ("reader", "a reader"),
            ("card", "a card"),
        ],
        &g(|q| {
            serde_json::to_value(q.by)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        }),
    );
    body += &input(
        "id",
        "Its number",
        &g(|q| q.id.to_string()),
        "required inputmode=\"numeric\"",
    );
    body += &input(
        "from",
        "From (RFC 3339)",
        &g(|q| q.from.clone()),
        "required",
    );
    body += &input("to", "To (RFC 3339)", &g(|q| q.to.clone()), "required");
    body += &input("ticket", "Ticket", &g(|q| q.ticket.clone()), "required");
    body += "<p class=\"muted\">For troubleshooting readers and cards only, with a ticket; every look-up is recorded and counts against the daily limit. There is no search by person.</p><button>Look up</button></form>";
    let mut message = None;
    if let Some(q) = q {
        let path_q = serde_urlencoded::to_string(&q).unwrap_or_default();
        match c.call_query(Op::JournalLookup, &path_q).await {
            Ok(page) => {
                let rows: Vec<Vec<String>> = page["records"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|r| {
                        vec![
                            v(&r["time"]),
                            v(&r["reader"]),
                            v(&r["door"]),
                            if r["card"].is_null() {
                                v(&r["card_ref"])
                            } else {
                                v(&r["card"])
                            },
                            v(&r["decision"]),
                            v(&r["reason"]),
                            v(&r["event"]["kind"]),
                        ]
                    })
                    .collect();
                body += &table(
                    &[
                        "time", "reader", "door", "card", "decision", "reason", "event",
                    ],
                    &rows,
                );
            }
            Err(e) => message = Some(Message::error(e)),
        }
    }
    c.page("Access resolution", message.as_ref(), &body)
}

async fn notifications_page(c: &Caller, message: Option<Message>) -> Response {
    let list = c
        .call(Op::NotificationsList, &[], None)
        .await
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| {
            let id = n["id"].as_str().unwrap_or("");
            let done = format!(
                "{}<button>Mark done</button></form>",
                form(
                    &format!("/console/notifications/{id}/done"),
                    &c.csrf(),
                    "inline"
                )
            );
            let state = if n["done"] == true {
                if n["mail"]["sent_at"].is_string() {
                    format!("sent {}", v(&n["mail"]["sent_at"]))
                } else {
                    "done".to_owned()
                }
            } else if n["mail"].is_object() {
                let attempts = n["mail"]["attempts"].as_u64().unwrap_or(0);
                if attempts >= u64::from(crate::records::outbox::MAX_MAIL_ATTEMPTS) {
                    format!(
                        "not sent: {}; send it by hand, then {done}",
                        v(&n["mail"]["last_error"])
                    )
                } else {
                    format!("sending ({attempts} failed attempts) {done}")
                }
            } else {
                done
            };
            vec![v(&n["created"]), v(&n["action"]), state]
        })
        .collect();
    let body = table(&["created", "what", ""], &rows);
    c.page("Notifications", message.as_ref(), &body)
}

async fn notifications(c: Caller) -> Response {
    if !c.may(Op::NotificationsList) {
        return c.refused(Op::NotificationsList);
    }
    notifications_page(&c, None).await
}

async fn notification_done(
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = read_form(&c, &headers, &body) {
        return *r;
    }
    let m = match c.call(Op::NotificationDone, &[&id], Some(&json!({}))).await {
        Ok(_) => Message::ok("Marked done."),
        Err(e) => Message::error(e),
    };
    notifications_page(&c, Some(m)).await
}

async fn audit(c: Caller) -> Response {
    if !c.may(Op::AuditRead) {
        return c.refused(Op::AuditRead);
    }
    let list = c
        .call_query(Op::AuditRead, "limit=200")
        .await
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .rev()
        .map(|a| {
            vec![
                v(&a["time"]),
                format!("{} ({})", v(&a["who"]), v(&a["role"])),
                v(&a["action"]),
                v(&a["target"]),
            ]
        })
        .collect();
    c.page(
        "Audit trail",
        None,
        &table(&["time", "who", "action", "target"], &rows),
    )
}
