//! The office's desk procedures: the door registry, key authorizers and
//! key orders (submission, ready, pick-up at 7-019 with the card check,
//! return), and finding a cardholder by MIT ID number.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{read, ApiError, ApiResult, AppState, Caller};
use crate::api::types::{AuthorizerBody, Created, DoorBody, FindHolder, PickupBody};
use crate::crypto::numbers::AccessNumber;
use crate::ledger::{self, Change, Effect};
use crate::pki::identity::Role;
use crate::protocol::Reason;
use crate::records::doors::Door;
use crate::records::keyorders::{
    self, KeyAuthorizer, KeyOrder, OrderError, OrderRequest, OrderStatus, PickupProof,
};
use crate::records::office::OfficeEffect;
use crate::records::outbox::Notification;

/// `POST /v1/holders/find`: the holder id for an MIT ID number.
pub async fn find_holder(State(s): AppState, body: Bytes) -> ApiResult {
    let b: FindHolder = super::error::json_body(&body)?;
    let id = read(&s, move |s| {
        Ok(s.holders.find_by_id_number(&b.id_number)?)
    })
    .await?;
    match id {
        Some(id) => Ok(Json(json!({ "id": id })).into_response()),
        None => Err(ApiError::not_found("no cardholder with that MIT ID number")),
    }
}

/// `GET /v1/doors`
pub async fn doors(State(s): AppState) -> ApiResult {
    let list = read(&s, |s| Ok(crate::records::doors::list(&s.store)?)).await?;
    Ok(Json(list).into_response())
}

/// `PUT /v1/doors/{door}`
pub async fn put_door(
    caller: Caller,
    State(s): AppState,
    Path(door): Path<u32>,
    body: Bytes,
) -> ApiResult {
    let b: DoorBody = super::error::json_body(&body)?;
    let d = Door {
        door,
        name: b.name,
        building: b.building,
        residence_hall: b.residence_hall,
    };
    d.validate()?;
    let out = d.clone();
    ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let entry = caller.audit(
            now,
            format!("door:{door}"),
            json!({ "residence_hall": d.residence_hall }),
        );
        Ok::<_, ApiError>((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::Door(d.clone())))
                .audited(entry),
            (),
        ))
    })
    .await?;
    Ok(Json(out).into_response())
}

/// `GET /v1/key-authorizers`
pub async fn authorizers(State(s): AppState) -> ApiResult {
    let list = read(&s, |s| Ok(keyorders::authorizers(&s.store)?)).await?;
    Ok(Json(list).into_response())
}

/// `PUT /v1/key-authorizers/{dlc}/{handle}`
pub async fn put_authorizer(
    caller: Caller,
    State(s): AppState,
    Path((dlc, handle)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let b: AuthorizerBody = super::error::json_body(&body)?;
    let a = KeyAuthorizer {
        handle,
        dlc,
        name: b.name,
        email: b.email,
        master: b.master,
    };
    a.validate()?;
    let out = a.clone();
    ledger::commit(&s, move |s| {
        if !crate::records::dlcs::exists(&s.store, &a.dlc)? {
            return Err(ApiError::not_found(format!(
                "no DLC {}; register the department, lab or center first",
                a.dlc
            )));
        }
        let now = s.clock.now_micros();
        let entry = caller.audit(
            now,
            format!("key-authorizer:{}/{}", a.dlc, a.handle),
            json!({ "master": a.master }),
        );
        Ok((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::Authorizer(a.clone())))
                .audited(entry),
            (),
        ))
    })
    .await?;
    Ok(Json(out).into_response())
}

/// `DELETE /v1/key-authorizers/{dlc}/{handle}`
pub async fn remove_authorizer(
    caller: Caller,
    State(s): AppState,
    Path((dlc, handle)): Path<(String, String)>,
) -> ApiResult {
    ledger::commit(&s, move |s| {
        if keyorders::authorizer(&s.store, &dlc, &handle)?.is_none() {
            return Err(ApiError::not_found(format!(
                "{handle} is not a key authorizer of {dlc}"
            )));
        }
        let now = s.clock.now_micros();
        let entry = caller.audit(
            now,
            format!("key-authorizer:{dlc}/{handle}"),
            serde_json::Value::Null,
        );
        Ok((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::AuthorizerRemoved(
                    dlc.clone(),
                    handle.clone(),
                )))
                .audited(entry),
            (),
        ))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The orders `caller` may see: every one, or a key authorizer's own DLCs'.
fn visible(
    s: &crate::app::shared::Shared,
    caller: &Caller,
    o: &KeyOrder,
) -> Result<bool, ApiError> {
    if caller.id.role != Role::KeyAuthorizer {
        return Ok(true);
    }
    Ok(keyorders::dlcs_of(&s.store, &caller.id.name)?.contains(&o.dlc))
}

/// `GET /v1/key-orders`
pub async fn orders(caller: Caller, State(s): AppState) -> ApiResult {
    let list = read(&s, move |s| {
        let mut out = Vec::new();
        for o in keyorders::list(&s.store)? {
            if visible(s, &caller, &o)? {
                out.push(o);
            }
        }
        Ok(out)
    })
    .await?;
    Ok(Json(list).into_response())
}

/// `GET /v1/key-orders/{id}`
pub async fn order(caller: Caller, State(s): AppState, Path(id): Path<u64>) -> ApiResult {
    let o = read(&s, move |s| {
        match keyorders::get(&s.store, id)? {
            Some(o) if visible(s, &caller, &o)? => Ok(o),
            // Another DLC's order is, to this caller, no order at all.
            _ => Err(OrderError::NotFound(id).into()),
        }
    })
    .await?;
    Ok(Json(o).into_response())
}

/// `POST /v1/key-orders`: an authorizer submits an order for their DLC.
pub async fn submit(caller: Caller, State(s): AppState, body: Bytes) -> ApiResult {
    let req: OrderRequest = super::error::json_body(&body)?;
    let o = ledger::commit(&s, move |s| {
        if !s.holders.exists(req.recipient)? {
            return Err(ApiError::not_found(format!(
                "no cardholder with id {}: keys are ordered for a cardholder",
                req.recipient
            )));
        }
        let now = s.clock.now_micros();
        let o = keyorders::plan_submit(&s.store, &caller.id.name, &caller.by(), req.clone(), now)?;
        let entry = caller.audit(
            now,
            format!("key-order:{}", o.id),
            json!({ "dlc": o.dlc, "kind": o.kind, "rooms": o.rooms.len(), "copies": o.copies, "recipient": o.recipient }),
        );
        Ok::<_, ApiError>((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::KeyOrder(o.clone())))
                .audited(entry),
            o,
        ))
    })
    .await?;
    tracing::info!(order = o.id, "key order submitted");
    Ok((StatusCode::CREATED, Json(Created { id: o.id })).into_response())
}

/// Loads order `id`, or 404.
fn load(s: &crate::app::shared::Shared, id: u64) -> Result<KeyOrder, ApiError> {
    keyorders::get(&s.store, id)?.ok_or_else(|| OrderError::NotFound(id).into())
}

/// The notices about an order, queued in the outbox: to the authorizer who
/// submitted it; if they are no longer one, to the DLC's other
/// authorizers; if there is none, to the office itself.
fn notice(
    s: &crate::app::shared::Shared,
    o: &KeyOrder,
    now: u64,
    subject: &str,
    body: String,
) -> Result<Vec<Effect>, ApiError> {
    let to: Vec<KeyAuthorizer> = match keyorders::authorizer(&s.store, &o.dlc, &o.authorizer)? {
        Some(a) => vec![a],
        None => keyorders::authorizers(&s.store)?
            .into_iter()
            .filter(|a| a.dlc == o.dlc)
            .collect(),
    };
    if to.is_empty() {
        let action = format!(
            "{subject}: {} has no key authorizer to tell; tell the person by other means",
            o.dlc
        );
        let n = Notification::new(now, 0, o.recipient, "", &action);
        return Ok(vec![Effect::Notification(n)]);
    }
    Ok(to
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Effect::Notification(Notification::mail(now, i as u64, &a.email, subject, &body))
        })
        .collect())
}

/// `POST /v1/key-orders/{id}/ready`: the keys are cut; the authorizer is
/// notified.
pub async fn ready(caller: Caller, State(s): AppState, Path(id): Path<u64>) -> ApiResult {
    let o = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let o = load(s, id)?.advance(&[OrderStatus::Submitted], OrderStatus::Ready, &caller.by(), now)?;
        let mut change = Change::at(now).with(Effect::Office(OfficeEffect::KeyOrder(o.clone())));
        let body = format!(
            "Key order {} ({}) is ready.\n\nThe person it is for may pick the keys up at the Customer Service Center, room {}, weekdays from 8 a.m. to 4 p.m., with a valid MIT ID card and your name or the Request Tracker number{}.\n\nMIT Security and Emergency Management Office\n",
            o.id,
            o.describe(),
            keyorders::PICKUP_ROOM,
            o.rt.as_deref().map(|r| format!(" (RT-{r})")).unwrap_or_default()
        );
        for n in notice(s, &o, now, &format!("Key order {} is ready for pick-up", o.id), body)? {
            change = change.with(n);
        }
        let entry = caller.audit(now, format!("key-order:{id}"), json!({ "status": "ready" }));
        Ok::<_, ApiError>((change.audited(entry), o))
    })
    .await?;
    Ok(Json(o).into_response())
}

/// `POST /v1/key-orders/{id}/pickup`: the hand-over at 7-019. The card the
/// desk reader read must be active (not superseded, suspended, revoked,
/// expired or not yet valid) and the order's recipient's; the person names
/// the authorizer or gives the RT number; it must be opening hours. Every
/// attempt is audited; the access number appears nowhere.
pub async fn pickup(
    caller: Caller,
    State(s): AppState,
    Path(id): Path<u64>,
    body: Bytes,
) -> ApiResult {
    let b: PickupBody = super::error::json_body(&body)?;
    let number: AccessNumber = b.access_number.parse().map_err(|_| {
        ApiError::bad_request("the card's access number did not read: 32 hexadecimal digits")
    })?;
    let proof = match (b.authorizer_name, b.rt) {
        (Some(n), _) if !n.trim().is_empty() => PickupProof::AuthorizerName(n),
        (_, Some(rt)) if !rt.trim().is_empty() => PickupProof::RequestTracker(rt),
        _ => {
            return Err(ApiError::bad_request(
                "give the key authorizer's name or the Request Tracker number",
            ))
        }
    };
    let result = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let order = load(s, id)?;
        let check = || -> Result<u64, ApiError> {
            let a = keyorders::authorizer(&s.store, &order.dlc, &order.authorizer)?;
            let secs = (now / 1_000_000).min(u64::from(u32::MAX)) as u32;
            keyorders::check_pickup(&order, a.as_ref(), &proof, s.access.local_week_minute(secs))?;
            let digest = s.cards.transform().digest(&number);
            let Some(entry) = s.cards.map().get(digest) else {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "the card presented is not a card of this office",
                ));
            };
            match entry.card_reason(secs) {
                Reason::Granted => {}
                r => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        format!("the card presented is not valid: {}", r.as_str()),
                    ))
                }
            }
            let (header, _) = s.holders.get(order.recipient)?;
            if !header.active {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "the person the keys are for is no longer active at the Institute",
                ));
            }
            if u64::from(entry.holder) != order.recipient {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "the card presented is not the card of the person the keys are for",
                ));
            }
            Ok(entry.card_id)
        };
        match check() {
            Ok(card) => {
                let mut o = order.clone().advance(
                    &[OrderStatus::Ready],
                    OrderStatus::PickedUp,
                    &caller.by(),
                    now,
                )?;
                o.picked_up_with_card = Some(card);
                let entry = caller.audit(
                    now,
                    format!("key-order:{id}"),
                    json!({ "outcome": "handed over", "card": card, "room": keyorders::PICKUP_ROOM }),
                );
                Ok::<_, ApiError>((
                    Change::at(now)
                        .with(Effect::Office(OfficeEffect::KeyOrder(o.clone())))
                        .audited(entry),
                    Ok(o),
                ))
            }
            Err(e) => {
                // The refusal is recorded too, without the card's number.
                let entry = caller.audit(
                    now,
                    format!("key-order:{id}"),
                    json!({ "outcome": "refused", "why": e.message }),
                );
                Ok((Change::at(now).audited(entry), Err(e)))
            }
        }
    })
    .await?;
    let o = result?;
    tracing::info!(order = o.id, "keys handed over");
    Ok(Json(o).into_response())
}

/// `POST /v1/key-orders/{id}/return-request`: the person asks to return
/// the keys; their authorizer is notified.
pub async fn return_request(caller: Caller, State(s): AppState, Path(id): Path<u64>) -> ApiResult {
    let o = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let o = load(s, id)?.advance(
            &[OrderStatus::PickedUp],
            OrderStatus::ReturnRequested,
            &caller.by(),
            now,
        )?;
        let mut change = Change::at(now).with(Effect::Office(OfficeEffect::KeyOrder(o.clone())));
        let body = format!(
            "The keys of order {} ({}) are to be returned to you.\n\nWhen you have them back, record the return (portcullis key-order returned --order {}, or the console).\n\nMIT Security and Emergency Management Office\n",
            o.id,
            o.describe(),
            o.id
        );
        for n in notice(s, &o, now, &format!("Keys of order {} are being returned", o.id), body)? {
            change = change.with(n);
        }
        let entry = caller.audit(now, format!("key-order:{id}"), json!({ "status": "return_requested" }));
        Ok::<_, ApiError>((change.audited(entry), o))
    })
    .await?;
    Ok(Json(o).into_response())
}

/// `POST /v1/key-orders/{id}/returned`: the authorizer records the keys
/// back (only an authorizer of the order's DLC).
pub async fn returned(caller: Caller, State(s): AppState, Path(id): Path<u64>) -> ApiResult {
    let o = ledger::commit(&s, move |s| {
        let now = s.clock.now_micros();
        let order = load(s, id)?;
        if !visible(s, &caller, &order)? {
            return Err(OrderError::NotFound(id).into());
        }
        let o = order.advance(
            &[OrderStatus::ReturnRequested, OrderStatus::PickedUp],
            OrderStatus::Returned,
            &caller.by(),
            now,
        )?;
        let entry = caller.audit(
            now,
            format!("key-order:{id}"),
            json!({ "status": "returned" }),
        );
        Ok::<_, ApiError>((
            Change::at(now)
                .with(Effect::Office(OfficeEffect::KeyOrder(o.clone())))
                .audited(entry),
            o,
        ))
    })
    .await?;
    Ok(Json(o).into_response())
}
