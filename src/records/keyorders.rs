//! Key orders (the office's FAQ): every DLC has key authorizers; one marked
//! for master keys may order the DLC's master keys, the others only
//! individual room keys. An order is submitted by an authorizer of its DLC,
//! marked ready by the office (which notifies the authorizer), picked up at
//! the Customer Service Center (room 7-019, weekdays 8 a.m. to 4 p.m.) by
//! the person it is for, who presents a valid MIT ID card and names the
//! authorizer or gives the Request Tracker number, and returned to the
//! authorizer, who records it.
//!
//! Nothing here is free text: rooms are building-room codes, the Request
//! Tracker number is digits, the recipient is a cardholder id; the
//! authorizer's name and work e-mail are the two facts the procedure
//! itself needs (the name is what the person says at the counter, the
//! e-mail where "your keys are ready" goes).

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros};
use crate::pki::identity::{is_valid_name, NAME_RULE};
use crate::store::{cf, docs, Store, StoreError};

const AUTHORIZER: &[u8] = b"authz/";
const ORDER: &[u8] = b"order/";

/// Where keys are picked up.
pub const PICKUP_ROOM: &str = "7-019";
/// Opening hours of the Customer Service Center, minutes of a weekday in
/// the access time zone: 8 a.m. to 4 p.m.
pub const PICKUP_HOURS: (usize, usize) = (8 * 60, 16 * 60);

/// A key authorizer of one DLC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuthorizer {
    /// The handle of their `key-authorizer` certificate.
    pub handle: String,
    /// The DLC they order keys for.
    pub dlc: String,
    /// Their name, as a person picking up keys gives it.
    pub name: String,
    /// Their work e-mail, for "your keys are ready" and return notices.
    pub email: String,
    /// May order the DLC's master keys (their name is in bold on the Key
    /// Authorizer page); otherwise individual room keys only.
    pub master: bool,
}

/// Master keys of the DLC, or individual room keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The DLC's master key.
    Master,
    /// Keys to the rooms listed.
    Room,
}

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Submitted by an authorizer.
    Submitted,
    /// Cut and waiting at 7-019; the authorizer was notified.
    Ready,
    /// Handed over to the person it is for.
    PickedUp,
    /// The person asked to return the keys; the authorizer was notified.
    ReturnRequested,
    /// The authorizer has the keys back.
    Returned,
}

impl OrderStatus {
    /// The name used in the API and the console.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Submitted => "submitted",
            OrderStatus::Ready => "ready",
            OrderStatus::PickedUp => "picked_up",
            OrderStatus::ReturnRequested => "return_requested",
            OrderStatus::Returned => "returned",
        }
    }
}

/// One step of an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// When (RFC 3339).
    pub at: String,
    /// The status it reached.
    pub status: OrderStatus,
    /// Who did it (certificate handle and role).
    pub by: String,
}

/// A key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOrder {
    /// Its number.
    pub id: u64,
    /// The DLC it is for.
    pub dlc: String,
    /// Master or room keys.
    pub kind: KeyKind,
    /// For room keys: the rooms (`E52-419`).
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Copies of each key.
    pub copies: u8,
    /// The cardholder who picks the keys up and holds them.
    pub recipient: u64,
    /// The Request Tracker number, if the order has one.
    #[serde(default)]
    pub rt: Option<String>,
    /// The authorizer who submitted it (handle).
    pub authorizer: String,
    /// Where it is.
    pub status: OrderStatus,
    /// Every step, oldest first.
    pub history: Vec<OrderEvent>,
    /// The card checked at pick-up.
    #[serde(default)]
    pub picked_up_with_card: Option<u64>,
}

/// What an authorizer asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// The DLC.
    pub dlc: String,
    /// Master or room keys.
    pub kind: KeyKind,
    /// Rooms, for room keys.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Copies of each key (1 to 10).
    #[serde(default = "one")]
    pub copies: u8,
    /// The cardholder the keys are for.
    pub recipient: u64,
    /// The Request Tracker number, if any.
    #[serde(default)]
    pub rt: Option<String>,
}

fn one() -> u8 {
    1
}

/// Why an order or an authorizer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// A value breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this for this DLC or order.
    #[error("{0}")]
    NotAuthorized(String),
    /// Not possible in the order's present state (or at this hour).
    #[error("{0}")]
    Refused(String),
    /// No such order.
    #[error("no key order {0}")]
    NotFound(u64),
}

fn email_ok(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 120
        && !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
}

fn person_name_ok(n: &str) -> bool {
    !n.trim().is_empty()
        && n.chars().count() <= 100
        && n.chars().all(|c| c.is_alphabetic() || " -'.".contains(c))
}

/// A room code: a building (at most two capitals and one to three digits)
/// and a room (one to four digits and at most one capital).
pub fn is_room(r: &str) -> bool {
    let Some((b, room)) = r.split_once('-') else {
        return false;
    };
    let digits = room.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &room[digits..];
    crate::records::doors::is_building(b)
        && (1..=4).contains(&digits)
        && rest.len() <= 1
        && rest.bytes().all(|c| c.is_ascii_uppercase())
}

/// A Request Tracker number, normalised to its digits (`RT-123456`,
/// `RT123456` and `123456` are one number).
pub fn normalise_rt(rt: &str) -> Option<String> {
    let t = rt.trim();
    let digits = t
        .strip_prefix("RT-")
        .or_else(|| t.strip_prefix("RT"))
        .or_else(|| t.strip_prefix("rt-"))
        .or_else(|| t.strip_prefix("rt"))
        .unwrap_or(t);
    ((4..=10).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.to_owned())
}

impl KeyAuthorizer {
    /// Checks every field (the DLC's existence is checked by the caller).
    pub fn validate(&self) -> Result<(), OrderError> {
        if !is_valid_name(&self.handle) {
            return Err(OrderError::Invalid(format!(
                "an authorizer's handle is their certificate's name: {NAME_RULE}"
            )));
        }
        if !person_name_ok(&self.name) {
            return Err(OrderError::Invalid(
                "an authorizer's name is letters, spaces, '-', ''' and '.', at most 100".into(),
            ));
        }
        if !email_ok(&self.email) {
            return Err(OrderError::Invalid(
                "the e-mail address is not one (name@domain)".into(),
            ));
        }
        Ok(())
    }
}

fn authorizer_key(dlc: &str, handle: &str) -> Vec<u8> {
    [AUTHORIZER, dlc.as_bytes(), b"/", handle.as_bytes()].concat()
}

fn order_key(id: u64) -> Vec<u8> {
    [ORDER, &id.to_be_bytes()[..]].concat()
}

/// The authorizer `handle` of `dlc`, if registered.
pub fn authorizer(
    store: &Store,
    dlc: &str,
    handle: &str,
) -> Result<Option<KeyAuthorizer>, StoreError> {
    docs::get(store, cf::OFFICE, &authorizer_key(dlc, handle))
}

/// Every authorizer, by DLC.
pub fn authorizers(store: &Store) -> Result<Vec<KeyAuthorizer>, StoreError> {
    docs::list(store, cf::OFFICE, AUTHORIZER)
}

/// The DLCs `handle` is an authorizer of.
pub fn dlcs_of(store: &Store, handle: &str) -> Result<Vec<String>, StoreError> {
    Ok(authorizers(store)?
        .into_iter()
        .filter(|a| a.handle == handle)
        .map(|a| a.dlc)
        .collect())
}

/// One order.
pub fn get(store: &Store, id: u64) -> Result<Option<KeyOrder>, StoreError> {
    docs::get(store, cf::OFFICE, &order_key(id))
}

/// Every order, oldest first.
pub fn list(store: &Store) -> Result<Vec<KeyOrder>, StoreError> {
    docs::list(store, cf::OFFICE, ORDER)
}

/// Adds an authorizer to `batch`.
pub fn stage_authorizer(
    store: &Store,
    batch: &mut rocksdb::WriteBatch,
    a: &KeyAuthorizer,
) -> Result<(), StoreError> {
    docs::stage_put(
        store,
        batch,
        cf::OFFICE,
        &authorizer_key(&a.dlc, &a.handle),
        a,
    )
}

/// Adds an authorizer's removal to `batch`.
pub fn stage_authorizer_removed(
    store: &Store,
    batch: &mut rocksdb::WriteBatch,
    dlc: &str,
    handle: &str,
) {
    docs::stage_delete(store, batch, cf::OFFICE, &authorizer_key(dlc, handle));
}

/// Adds an order (new or changed) to `batch`.
pub fn stage_order(
    store: &Store,
    batch: &mut rocksdb::WriteBatch,
    o: &KeyOrder,
) -> Result<(), StoreError> {
    docs::stage_put(store, batch, cf::OFFICE, &order_key(o.id), o)
}

/// Plans a new order submitted by the authorizer `handle` (the
/// recipient's existence is checked by the caller).
pub fn plan_submit(
    store: &Store,
    handle: &str,
    by: &str,
    req: OrderRequest,
    now: Micros,
) -> Result<KeyOrder, OrderError> {
    let store_err = |e: StoreError| OrderError::Invalid(e.to_string());
    let Some(a) = authorizer(store, &req.dlc, handle).map_err(store_err)? else {
        return Err(OrderError::NotAuthorized(format!(
            "{handle} is not a key authorizer of {}: only the DLC's own authorizers submit its key orders",
            req.dlc
        )));
    };
    match req.kind {
        KeyKind::Master if !a.master => {
            return Err(OrderError::NotAuthorized(format!(
                "{handle} may order individual room keys for {}, not its master keys",
                req.dlc
            )))
        }
        KeyKind::Master if !req.rooms.is_empty() => {
            return Err(OrderError::Invalid(
                "a master key order names no rooms".into(),
            ))
        }
        KeyKind::Room if req.rooms.is_empty() || req.rooms.len() > 20 => {
            return Err(OrderError::Invalid(
                "a room key order names one to twenty rooms".into(),
            ))
        }
        _ => {}
    }
    if req.rooms.iter().any(|r| !is_room(r)) {
        return Err(OrderError::Invalid(
            "rooms are building-room codes (E52-419, 7-019)".into(),
        ));
    }
    if !(1..=10).contains(&req.copies) {
        return Err(OrderError::Invalid("copies: 1 to 10".into()));
    }
    let rt = match &req.rt {
        Some(rt) => Some(normalise_rt(rt).ok_or_else(|| {
            OrderError::Invalid("a Request Tracker number is 4 to 10 digits (RT-123456)".into())
        })?),
        None => None,
    };
    Ok(KeyOrder {
        id: docs::next_id(store, cf::OFFICE, ORDER).map_err(store_err)?,
        dlc: req.dlc,
        kind: req.kind,
        rooms: req.rooms,
        copies: req.copies,
        recipient: req.recipient,
        rt,
        authorizer: handle.to_owned(),
        status: OrderStatus::Submitted,
        history: vec![OrderEvent {
            at: rfc3339(now),
            status: OrderStatus::Submitted,
            by: by.to_owned(),
        }],
        picked_up_with_card: None,
    })
}

impl KeyOrder {
    /// Moves to `to` from one of `from`, recording who and when.
    pub fn advance(
        mut self,
        from: &[OrderStatus],
        to: OrderStatus,
        by: &str,
        now: Micros,
    ) -> Result<KeyOrder, OrderError> {
        if !from.contains(&self.status) {
            return Err(OrderError::Refused(format!(
                "key order {} is {}; it cannot become {}",
                self.id,
                self.status.as_str(),
                to.as_str()
            )));
        }
        self.status = to;
        self.history.push(OrderEvent {
            at: rfc3339(now),
            status: to,
            by: by.to_owned(),
        });
        Ok(self)
    }

    /// What the keys are, in words for a notice (no personal data).
    pub fn describe(&self) -> String {
        match self.kind {
            KeyKind::Master => format!("{} master key(s) of {}", self.copies, self.dlc),
            KeyKind::Room => format!(
                "{} key(s) each to {} ({})",
                self.copies,
                self.rooms.join(", "),
                self.dlc
            ),
        }
    }
}

/// What the person at the counter gives besides their card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickupProof {
    /// The name of the authorizer who submitted the order.
    AuthorizerName(String),
    /// The order's Request Tracker number.
    RequestTracker(String),
}

/// Checks the pick-up rules that need no card: the order is ready, it is
/// opening hours at 7-019 (`local` is the minute of the week in the access
/// time zone and whether the day is a holiday), and the proof matches.
pub fn check_pickup(
    order: &KeyOrder,
    authorizer: Option<&KeyAuthorizer>,
    proof: &PickupProof,
    local: (usize, bool),
) -> Result<(), OrderError> {
    if order.status != OrderStatus::Ready {
        return Err(OrderError::Refused(format!(
            "key order {} is {}, not ready for pick-up",
            order.id,
            order.status.as_str()
        )));
    }
    let (minute_of_week, holiday) = local;
    let (day, minute) = (minute_of_week / 1440, minute_of_week % 1440);
    if day >= 5 || holiday || minute < PICKUP_HOURS.0 || minute >= PICKUP_HOURS.1 {
        return Err(OrderError::Refused(format!(
            "keys are handed over at {PICKUP_ROOM} on weekdays from 8 a.m. to 4 p.m. only"
        )));
    }
    let ok = match proof {
        PickupProof::AuthorizerName(n) => {
            authorizer.is_some_and(|a| a.name.trim().eq_ignore_ascii_case(n.trim()))
        }
        PickupProof::RequestTracker(rt) => order.rt.is_some() && normalise_rt(rt) == order.rt,
    };
    if !ok {
        return Err(OrderError::Refused(
            "the name of the key authorizer or the Request Tracker number does not match the order"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: OrderStatus) -> KeyOrder {
        KeyOrder {
            id: 1,
            dlc: "Physics".into(),
            kind: KeyKind::Room,
            rooms: vec!["6-201".into()],
            copies: 1,
            recipient: 3,
            rt: Some("123456".into()),
            authorizer: "kauth".into(),
            status,
            history: vec![],
            picked_up_with_card: None,
        }
    }

    #[test]
    fn codes_and_numbers() {
        assert!(is_room("E52-419") && is_room("7-019") && is_room("NW12-2F"));
        assert!(!is_room("E52") && !is_room("Chapel-1") && !is_room("E52-41999"));
        assert_eq!(normalise_rt("RT-123456").as_deref(), Some("123456"));
        assert_eq!(normalise_rt("123456").as_deref(), Some("123456"));
        assert_eq!(normalise_rt("RT-12"), None);
        assert_eq!(normalise_rt("call Bob"), None);
        assert!(email_ok("k.auth@mit.edu") && !email_ok("k auth@mit.edu") && !email_ok("x@y"));
        assert!(!email_ok("a@b.c\r\nBcc: x@y.z"));
    }

    #[test]
    fn pickup_hours_proof_and_state() {
        let a = KeyAuthorizer {
            handle: "kauth".into(),
            dlc: "Physics".into(),
            name: "Sample Authorizer".into(),
            email: "kauth@example.edu".into(),
            master: false,
        };
        let monday_10 = (10 * 60, false);
        let name = PickupProof::AuthorizerName("sample authorizer".into());
        assert!(check_pickup(&order(OrderStatus::Ready), Some(&a), &name, monday_10).is_ok());
        let rt = PickupProof::RequestTracker("RT-123456".into());
        assert!(check_pickup(&order(OrderStatus::Ready), Some(&a), &rt, monday_10).is_ok());
        let wrong = PickupProof::AuthorizerName("Someone Else".into());
        assert!(check_pickup(&order(OrderStatus::Ready), Some(&a), &wrong, monday_10).is_err());
        for closed in [
            (7 * 60 + 59, false),
            (16 * 60, false),
            (5 * 1440 + 600, false),
            (600, true),
        ] {
            assert!(check_pickup(&order(OrderStatus::Ready), Some(&a), &name, closed).is_err());
        }
        assert!(check_pickup(&order(OrderStatus::Submitted), Some(&a), &name, monday_10).is_err());
        // One order cannot be advanced twice to the same place.
        let o = order(OrderStatus::Ready)
            .advance(&[OrderStatus::Ready], OrderStatus::PickedUp, "clerk", 0)
            .unwrap();
        assert!(o
            .advance(&[OrderStatus::Ready], OrderStatus::PickedUp, "clerk", 0)
            .is_err());
    }
}
