//! Request and response bodies of the admin API, shared by the handlers
//! and the client. Requests refuse unknown fields.

use serde::{Deserialize, Serialize};

use crate::policy::credentials::CardStatus;

/// Every error answer: `{"error": "..."}`, safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
}

/// `POST /v1/cards`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueCard {
    /// Cardholder id.
    pub holder: u64,
    /// Valid from (Unix seconds); absent = now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<u32>,
    /// Valid until (Unix seconds, exclusive); absent = no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<u32>,
}

/// `POST /v1/holders/{id}/replace-card` (the body may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceCard {
    /// Valid until (Unix seconds, exclusive); absent = no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<u32>,
}

/// `PUT /v1/cards/{id}/expiry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiry {
    /// Valid until (Unix seconds, exclusive); `null` clears the expiry.
    pub valid_until: Option<u32>,
}

/// What an operator sees about a card: never the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardView {
    /// Card id.
    pub id: u64,
    /// Cardholder id.
    pub holder: u64,
    /// Status.
    pub status: CardStatus,
    /// Valid from (Unix seconds).
    pub valid_from: u32,
    /// Valid until (Unix seconds), if it expires.
    pub valid_until: Option<u32>,
    /// Issued (RFC 3339).
    pub issued_at: String,
}

/// A new card: the only time its access number is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCard {
    /// The card.
    pub card: CardView,
    /// The access number, grouped `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`.
    pub access_number: String,
    /// A reminder that it is shown once.
    pub note: String,
    /// Replacements: the ids of the cards it superseded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded: Option<Vec<u64>>,
}

/// `PUT /v1/readers/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doors {
    /// Doors the reader serves.
    pub doors: Vec<u32>,
}

/// `PUT /v1/holders/{id}/levels`, and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    /// Cardholder id (answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Level names.
    pub levels: Vec<String>,
}

/// `PUT /v1/holders/{id}/photo/withheld`, and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withheld {
    /// Cardholder id (answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Whether the person asked that their photo not be distributed.
    pub withheld: bool,
}

/// `PUT /v1/police/chief-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChiefKey {
    /// Ed25519 public key, hex.
    pub public_key: String,
}

/// The answer to `PUT /v1/police/chief-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChiefKeyRegistered {
    /// The key registered, hex.
    pub registered: String,
}

/// The answer to `POST /v1/holders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// The new record's id.
    pub id: u64,
}

/// The answer to `PATCH /v1/holders/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Updated {
    /// Cardholder id.
    pub id: u64,
    /// Names of the fields changed.
    pub updated: Vec<String>,
}

/// The answer to a photo upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoStored {
    /// Cardholder id.
    pub id: u64,
    /// MIME type found by content.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The answer to `PUT /v1/access`: names only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSummary {
    /// Door groups defined.
    pub door_groups: Vec<String>,
    /// Schedules defined.
    pub schedules: Vec<String>,
    /// Levels defined.
    pub levels: Vec<String>,
    /// Holidays defined.
    pub holidays: usize,
}

/// The answer to `POST /v1/keys/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotated {
    /// The new record key's id.
    pub key_id: u32,
    /// Records (cardholders and photos) re-encrypted.
    pub records_reencrypted: usize,
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// From (µs since epoch), default 0.
    #[serde(default)]
    pub from: u64,
    /// To (µs since epoch), default now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    /// At most this many entries (default 1000, max 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Query of `GET /v1/lookups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupsQuery {
    /// From (µs since epoch).
    #[serde(default)]
    pub from: u64,
    /// At most this many (default 1000, max 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// What a journal look-up is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupBy {
    /// A card id (card problems; counts against the card's daily limit).
    Card,
    /// A door (equipment; cards appear only as pseudonyms).
    Door,
    /// A reader id (equipment; cards appear only as pseudonyms).
    Reader,
}

impl LookupBy {
    /// `card`, `door` or `reader`.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupBy::Card => "card",
            LookupBy::Door => "door",
            LookupBy::Reader => "reader",
        }
    }
}

/// Query of `GET /v1/journal`: access resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalQuery {
    /// `card`, `door` or `reader`.
    pub by: LookupBy,
    /// The card id, door number or reader id.
    pub id: u64,
    /// Window start (RFC 3339).
    pub from: String,
    /// Window end (RFC 3339, exclusive).
    pub to: String,
    /// The troubleshooting ticket this look-up serves.
    pub ticket: String,
    /// Continue this look-up: the previous page's `next` cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Page size (default and maximum 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// One decision as a look-up shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// When (RFC 3339).
    pub time: String,
    /// Reader id.
    pub reader: u32,
    /// Door.
    pub door: u32,
    /// Card id: card look-ups and police requests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<u64>,
    /// Door and reader look-ups: the card's pseudonym within this look-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_ref: Option<String>,
    /// `grant` or `deny` (decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// Why (decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For numbers that matched no card: a short tag of the number's
    /// transform, so repeated tries of one unknown card are visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_number_tag: Option<String>,
    /// A door event (door and reader look-ups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<DoorEventView>,
}

/// A door event as look-ups show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoorEventView {
    /// `forced_open`, `held_open`, `tamper` or `reader_offline`.
    pub kind: String,
    /// Whether the condition began (or ended).
    pub begins: bool,
    /// When the controller observed it (RFC 3339).
    pub observed: String,
    /// The controller's event id.
    pub event_id: u64,
}

/// One page of an access-resolution look-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalPage {
    /// The records, oldest first.
    pub records: Vec<JournalRecord>,
    /// The cursor for the next page, if there is one.
    pub next: Option<String>,
}

/// The answer to a police journal request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Investigation {
    /// The police case.
    pub case_number: String,
    /// The subject's records inside the signed window.
    pub records: Vec<JournalRecord>,
    /// Whether more records existed than one answer carries.
    pub truncated: bool,
}

/// The answer to marking a notification done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationMarked {
    /// The notification.
    pub id: String,
    /// Always true.
    pub done: bool,
}

impl From<&crate::records::cards::Card> for CardView {
    fn from(c: &crate::records::cards::Card) -> Self {
        CardView {
            id: c.id,
            holder: u64::from(c.entry.holder),
            status: c.entry.status,
            valid_from: c.entry.valid_from,
            valid_until: (c.entry.valid_until != 0).then_some(c.entry.valid_until),
            issued_at: crate::clock::rfc3339(c.issued_at),
        }
    }
}

/// `POST /v1/holders/find`: the MIT ID number (in the body, so it is in no
/// URL or access log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindHolder {
    /// The MIT ID number.
    pub id_number: String,
}

/// `PUT /v1/doors/{door}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorBody {
    /// A short label (the name rule).
    pub name: String,
    /// The building code.
    pub building: String,
    /// A residence hall's door.
    #[serde(default)]
    pub residence_hall: bool,
}

/// `PUT /v1/key-authorizers/{dlc}/{handle}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerBody {
    /// Their name.
    pub name: String,
    /// Their work e-mail.
    pub email: String,
    /// May order master keys.
    #[serde(default)]
    pub master: bool,
}

/// `POST /v1/key-orders/{id}/pickup`: what the person at 7-019 presents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickupBody {
    /// The access number the desk reader read from their ID card.
    pub access_number: String,
    /// The name of the key authorizer who submitted the order, or …
    #[serde(default)]
    pub authorizer_name: Option<String>,
    /// … the order's Request Tracker number.
    #[serde(default)]
    pub rt: Option<String>,
}

/// `POST /v1/video/requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkBody {
    /// Install or alter.
    pub kind: crate::records::video::WorkKind,
    /// The camera as it will be.
    pub camera: crate::records::video::Camera,
    /// The written request's reference.
    pub document: String,
    /// The contractor, if any.
    #[serde(default)]
    pub contractor: Option<String>,
}

/// `POST .../decision`: the Director's (or designee's) determination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Approve (true) or deny (false).
    pub approve: bool,
}

/// `PUT /v1/holders/{id}/photo/permission`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionBody {
    /// The Dean's (students) or the person's written permission.
    pub kind: crate::records::cardholder::distribution::PermissionKind,
    /// The permission document's reference.
    pub reference: String,
}

/// `POST /v1/holders/{id}/photo/release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    /// The DLC receiving it (within the Institute).
    pub to_dlc: String,
}

/// `POST /v1/holders/{id}/photo/hard-copy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardCopyBody {
    /// Who receives it.
    pub recipient: crate::records::cardholder::distribution::HardCopyRecipient,
}

/// `POST /v1/holders/{id}/photo/own-copy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnCopyBody {
    /// `digital` or `hard-copy`.
    pub format: String,
}

/// `GET /v1/holders/{id}/photo/distributions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionsView {
    /// The person asked that their photo not be distributed.
    pub withheld: bool,
    /// The notation, when withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notation: Option<String>,
    /// The permission on record.
    #[serde(default)]
    pub permission: Option<crate::records::cardholder::distribution::PhotoPermission>,
    /// Every distribution, oldest first.
    pub distributions: Vec<crate::records::cardholder::distribution::Distribution>,
}
