//! Cardholders at the counter: find one (by MIT ID number or holder id),
//! see their cards, issue, replace, suspend, resume or revoke a card, see
//! the photo for card production, record photo permissions and copies.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::html::{esc, form, input, select, table, v};
use super::{read_form, Caller, Console, Message};
use crate::api::Op;

/// The routes of this area.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console/holders", get(index))
        .route("/console/holders/find", post(find))
        .route("/console/holders/create", post(create))
        .route("/console/holders/{id}", get(show))
        .route("/console/holders/{id}/photo", get(photo))
        .route("/console/holders/{id}/issue", post(issue))
        .route("/console/holders/{id}/replace", post(replace))
        .route(
            "/console/holders/{id}/cards/{card}/{action}",
            post(card_action),
        )
        .route(
            "/console/holders/{id}/photo-permission",
            post(photo_permission),
        )
        .route("/console/holders/{id}/photo-copy", post(photo_copy))
}

fn find_form(c: &Caller, id_number: &str) -> String {
    format!(
        "{}{}<button>Find</button></form>",
        form("/console/holders/find", &c.csrf(), "card"),
        input(
            "query",
            "MIT ID number (or holder id, as #12)",
            id_number,
            "required autocomplete=\"off\""
        )
    )
}

fn create_form(c: &Caller, f: Option<&super::Form>) -> String {
    let g = |k: &str| f.map(|f| f.get(k)).unwrap_or_default();
    let mut out = format!(
        "<h2>New cardholder</h2>{}",
        form("/console/holders/create", &c.csrf(), "card")
    );
    out += &input("id_number", "MIT ID number", &g("id_number"), "required");
    out += &input("last_name", "Last name", &g("last_name"), "required");
    out += &input("first_name", "First name", &g("first_name"), "required");
    out += &select(
        "status",
        "Status",
        &[
            ("registered", "registered"),
            ("employed", "employed"),
            ("affiliated", "affiliated"),
            ("on_leave", "on leave"),
            ("left", "left"),
        ],
        &g("status"),
    );
    out += &input(
        "department",
        "Department, lab or center (code)",
        &g("department"),
        "required",
    );
    out += &select(
        "affiliation",
        "Affiliation",
        &[
            ("student", "student"),
            ("faculty", "faculty"),
            ("staff", "staff"),
            ("affiliate", "affiliate"),
        ],
        &g("affiliation"),
    );
    out += &input(
        "office_address",
        "Office address (employees: E52-419)",
        &g("office_address"),
        "",
    );
    out += &input(
        "date_of_birth",
        "Date of birth (affiliates: YYYY-MM-DD)",
        &g("date_of_birth"),
        "",
    );
    out += "<p class=\"muted\">Only the policy's fields exist: nothing about race, religion, nationality, ethnic background or gender can be recorded.</p><button>Create</button></form>";
    out
}

async fn index(c: Caller) -> Response {
    if !c.may(Op::HolderCards) {
        return c.refused(Op::HolderCards);
    }
    let mut body = find_form(&c, "");
    if c.may(Op::HolderCreate) {
        body += &create_form(&c, None);
    }
    c.page("Cardholders", None, &body)
}

async fn find(c: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let q = f.get("query");
    if let Some(id) = q.strip_prefix('#').and_then(|n| n.parse::<u64>().ok()) {
        return Redirect::to(&format!("/console/holders/{id}")).into_response();
    }
    match c
        .call(Op::HolderFind, &[], Some(&json!({ "id_number": q })))
        .await
    {
        Ok(v) => Redirect::to(&format!("/console/holders/{}", v["id"])).into_response(),
        Err(e) => {
            let mut body = find_form(&c, &q);
            if c.may(Op::HolderCreate) {
                body += &create_form(&c, None);
            }
            c.page_status(
                StatusCode::NOT_FOUND,
                "Cardholders",
                Some(&Message::error(e)),
                &body,
            )
        }
    }
}

async fn create(c: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut rec = json!({
        "id_number": f.get("id_number"),
        "last_name": f.get("last_name"),
        "first_name": f.get("first_name"),
        "status": f.get("status"),
        "department": f.get("department"),
        "affiliation": f.get("affiliation"),
    });
    if let Some(a) = f.opt("office_address") {
        rec["office_address"] = json!(a);
    }
    if let Some(d) = f.opt("date_of_birth") {
        rec["date_of_birth"] = json!(d);
    }
    match c.call(Op::HolderCreate, &[], Some(&rec)).await {
        Ok(v) => {
            let id = v["id"].as_u64().unwrap_or(0);
            holder_page(
                &c,
                id,
                Some(Message::ok(format!("Cardholder {id} created."))),
            )
            .await
        }
        Err(e) => {
            let body = find_form(&c, "") + &create_form(&c, Some(&f));
            c.page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Cardholders",
                Some(&Message::error(e)),
                &body,
            )
        }
    }
}

async fn show(c: Caller, Path(id): Path<u64>) -> Response {
    if !c.may(Op::HolderCards) {
        return c.refused(Op::HolderCards);
    }
    holder_page(&c, id, None).await
}

/// The holder page: cards and what this role may do with them; the record
/// and the photo when the role may see them.
async fn holder_page(c: &Caller, id: u64, message: Option<Message>) -> Response {
    holder_page_with(c, id, message, "").await
}

async fn holder_page_with(c: &Caller, id: u64, message: Option<Message>, extra: &str) -> Response {
    let cards = match c.call(Op::HolderCards, &[&id], None).await {
        Ok(v) => v,
        Err(e) => {
            return c.page_status(
                StatusCode::NOT_FOUND,
                &format!("Cardholder {id}"),
                Some(&Message::error(e)),
                &find_form(c, ""),
            )
        }
    };
    let mut body = String::from(extra);
    if c.may(Op::HolderShow) {
        if let Ok(r) = c.call(Op::HolderShow, &[&id], None).await {
            let mut rows = Vec::new();
            for k in [
                "id_number",
                "last_name",
                "first_name",
                "status",
                "department",
                "affiliation",
                "office_address",
                "date_of_birth",
            ] {
                if !r[k].is_null() {
                    rows.push(vec![esc(&k.replace('_', " ")), v(&r[k])]);
                }
            }
            if r["photo"]["withheld"] == true {
                rows.push(vec![
                    "photo".into(),
                    format!("<span class=\"tag\">{}</span>", v(&r["photo"]["notation"])),
                ]);
            }
            body += &format!(
                "<section><h2>Record</h2>{}</section>",
                table(&["field", "value"], &rows)
            );
        }
    }
    if c.may(Op::PhotoShow) {
        body += &format!(
            "<section><h2>Photo (card production)</h2><img src=\"/console/holders/{id}/photo\" alt=\"photo of cardholder {id}\" class=\"photo\"><p class=\"muted\">Every view is recorded in the audit trail.</p></section>"
        );
    }
    let mut rows = Vec::new();
    for card in cards.as_array().cloned().unwrap_or_default() {
        let cid = card["id"].as_u64().unwrap_or(0);
        let status = card["status"].as_str().unwrap_or("");
        let mut actions = String::new();
        if c.may(Op::CardSuspend) {
            for (action, label, when) in [
                ("suspend", "Suspend", "active"),
                ("resume", "Resume", "suspended"),
                ("revoke", "Revoke", ""),
            ] {
                if (when.is_empty() && status != "revoked" && status != "superseded")
                    || status == when
                {
                    actions += &format!(
                        "{}<button class=\"secondary\">{label}</button></form>",
                        form(
                            &format!("/console/holders/{id}/cards/{cid}/{action}"),
                            &c.csrf(),
                            "inline"
                        )
                    );
                }
            }
        }
        rows.push(vec![
            cid.to_string(),
            format!("<span class=\"tag\">{}</span>", esc(status)),
            v(&card["issued_at"]),
            card["valid_until"]
                .as_u64()
                .map(|u| crate::clock::rfc3339(u * 1_000_000))
                .map(|s| esc(&s))
                .unwrap_or_else(|| "—".into()),
            actions,
        ]);
    }
    body += &format!(
        "<section><h2>Cards</h2>{}",
        table(&["card", "status", "issued", "valid until", ""], &rows)
    );
    // Each form names the state it was made for (the card in use, the
    // number of cards): sent again (a reload), it is refused instead of
    // replacing the card just programmed.
    let state = cards_state(&cards);
    if c.may(Op::CardReplace) {
        body += &format!(
            "{}<input type=\"hidden\" name=\"state\" value=\"{}\"><button>Replace the card</button> <span class=\"muted\">Every older card of this person stops working at once.</span></form>",
            form(&format!("/console/holders/{id}/replace"), &c.csrf(), "inline"),
            esc(&state)
        );
    }
    if c.may(Op::CardIssue) {
        body += &format!(
            " {}<input type=\"hidden\" name=\"state\" value=\"{}\"><button class=\"secondary\">Issue a first card</button></form>",
            form(&format!("/console/holders/{id}/issue"), &c.csrf(), "inline"),
            esc(&state)
        );
    }
    body += "</section>";
    if c.may(Op::PhotoPermissionSet) || c.may(Op::PhotoOwnCopy) {
        body += &photo_section(c, id).await;
    }
    c.page(&format!("Cardholder {id}"), message.as_ref(), &body)
}

async fn photo_section(c: &Caller, id: u64) -> String {
    let mut s = String::from("<section><h2>Photo distribution</h2>");
    if let Ok(d) = c.call(Op::PhotoDistributions, &[&id], None).await {
        if d["withheld"] == true {
            s += &format!("<p class=\"tag\">{}</p>", v(&d["notation"]));
        }
        match d["permission"].as_object() {
            Some(p) => {
                s += &format!(
                    "<p>Permission on record: {} ({})</p>",
                    v(&p["kind"].clone()),
                    v(&p["reference"].clone())
                )
            }
            None => s += "<p class=\"muted\">No permission on record: no digital release.</p>",
        }
        let rows: Vec<Vec<String>> = d["distributions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|x| {
                vec![
                    v(&x["at"]),
                    v(&x["what"]),
                    v(&x["recipient"]),
                    v(&x["to_dlc"]),
                    v(&x["format"]),
                ]
            })
            .collect();
        s += &table(&["when", "what", "recipient", "DLC", "format"], &rows);
    }
    if c.may(Op::PhotoPermissionSet) {
        s += &form(
            &format!("/console/holders/{id}/photo-permission"),
            &c.csrf(),
            "card",
        );
        s += &select(
            "kind",
            "Permission",
            &[
                ("dean", "Dean for Undergraduate Education (students)"),
                ("written", "The person's written permission"),
            ],
            "",
        );
        s += &input("reference", "Permission reference", "", "required");
        s += "<button>Record the permission</button></form>";
    }
    s += &form(
        &format!("/console/holders/{id}/photo-copy"),
        &c.csrf(),
        "card",
    );
    let mut options = vec![("own-copy", "The person's own copy (hard copy, once)")];
    if c.may(Op::PhotoHardCopy) {
        options.extend([
            (
                "undergraduate-academic-affairs",
                "Hard copy: Undergraduate Academic Affairs",
            ),
            ("freshman-advisor", "Hard copy: freshman advisor"),
            ("academic-department", "Hard copy: academic department"),
            ("faculty", "Hard copy: faculty teaching the student"),
            (
                "counseling-student-support",
                "Hard copy: Counseling and Student Support",
            ),
            ("housemaster", "Hard copy: housemaster"),
        ]);
    }
    s += &select("copy", "Copy", &options, "");
    s += "<button>Record the copy</button></form></section>";
    s
}

async fn photo(c: Caller, Path(id): Path<u64>) -> Response {
    if !c.may(Op::PhotoShow) {
        return c.refused(Op::PhotoShow);
    }
    let (s, bytes) = c.call_raw(Op::PhotoShow, &[&id], None).await;
    if !s.is_success() {
        return (s, "no photo").into_response();
    }
    // The photo rules' own detection (the API checked it at upload).
    let Ok(kind) = crate::records::cardholder::photo::check_photo(&bytes) else {
        return (StatusCode::NOT_FOUND, "no photo").into_response();
    };
    let mime = kind.mime();
    let mut r = bytes.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The answer of an issue or a replacement: the number, once.
fn issued_message(ans: &Value, replaced: bool) -> (Message, String) {
    let card = ans["card"]["id"].as_u64().unwrap_or(0);
    let superseded = ans["superseded"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let text = if replaced {
        format!(
            "Card {card} issued as a replacement; card(s) {superseded} no longer open any door."
        )
    } else {
        format!("Card {card} issued.")
    };
    let extra = format!(
        "<section><h2>Access number of card {card}</h2><p class=\"secret\" id=\"access-number\">{}</p><p class=\"muted\">Shown this once: program the card now. It is not kept anywhere.</p></section>",
        v(&ans["access_number"])
    );
    (Message::ok(text), extra)
}

/// What a card form was made for: the holder's cards and their status.
fn cards_state(cards: &Value) -> String {
    cards
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| format!("{}:{}", c["id"], c["status"].as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Refuses a card form made for another state of the holder's cards (sent
/// twice, or after someone else's change).
async fn stale(c: &Caller, id: u64, f: &super::Form) -> Option<Response> {
    let now = c.call(Op::HolderCards, &[&id], None).await.ok()?;
    if cards_state(&now) == f.get("state") {
        return None;
    }
    Some(
        holder_page(
            c,
            id,
            Some(Message::error(
                "This form was already used, or the cards changed since the page was shown: nothing was done. Check the cards below.",
            )),
        )
        .await,
    )
}

async fn issue(c: Caller, Path(id): Path<u64>, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if let Some(r) = stale(&c, id, &f).await {
        return r;
    }
    match c
        .call(Op::CardIssue, &[], Some(&json!({ "holder": id })))
        .await
    {
        Ok(v) => {
            let (m, extra) = issued_message(&v, false);
            holder_page_with(&c, id, Some(m), &extra).await
        }
        Err(e) => holder_page(&c, id, Some(Message::error(e))).await,
    }
}

async fn replace(c: Caller, Path(id): Path<u64>, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if let Some(r) = stale(&c, id, &f).await {
        return r;
    }
    match c.call(Op::CardReplace, &[&id], Some(&json!({}))).await {
        Ok(v) => {
            let (m, extra) = issued_message(&v, true);
            holder_page_with(&c, id, Some(m), &extra).await
        }
        Err(e) => holder_page(&c, id, Some(Message::error(e))).await,
    }
}

async fn card_action(
    c: Caller,
    Path((id, card, action)): Path<(u64, u64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = read_form(&c, &headers, &body) {
        return *r;
    }
    let op = match action.as_str() {
        "suspend" => Op::CardSuspend,
        "resume" => Op::CardResume,
        "revoke" => Op::CardRevoke,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let m = match c.call(op, &[&card], Some(&json!({}))).await {
        Ok(v) => Message::ok(format!(
            "Card {card} is now {}.",
            v["status"].as_str().unwrap_or("changed")
        )),
        Err(e) => Message::error(e),
    };
    holder_page(&c, id, Some(m)).await
}

async fn photo_permission(
    c: Caller,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let b = json!({ "kind": f.get("kind"), "reference": f.get("reference") });
    let m = match c.call(Op::PhotoPermissionSet, &[&id], Some(&b)).await {
        Ok(_) => Message::ok(format!("Permission {} recorded.", f.get("reference"))),
        Err(e) => Message::error(e),
    };
    holder_page(&c, id, Some(m)).await
}

async fn photo_copy(c: Caller, Path(id): Path<u64>, headers: HeaderMap, body: Bytes) -> Response {
    let f = match read_form(&c, &headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let copy = f.get("copy");
    let r = if copy == "own-copy" {
        c.call(
            Op::PhotoOwnCopy,
            &[&id],
            Some(&json!({ "format": "hard-copy" })),
        )
        .await
    } else {
        c.call(
            Op::PhotoHardCopy,
            &[&id],
            Some(&json!({ "recipient": copy })),
        )
        .await
    };
    let m = match r {
        Ok(_) => {
            Message::ok("The copy is recorded; print it from the card-production photo.".to_owned())
        }
        Err(e) => Message::error(e),
    };
    holder_page(&c, id, Some(m)).await
}
