//! Police investigations: requests signed by the chief of police.
//!
//! Policy ("Activity Logs", "Exploratory", "Digital Image Protection and
//! Distribution"): the police may use access logs, or obtain a person's
//! photo, only in a criminal investigation and only against a written
//! request signed by the chief. Here the request is a JSON document signed
//! with the chief's Ed25519 key (kept off the appliance; the security office
//! registers the public key). The appliance checks the signature, freshness,
//! scope and that the request was not used before, and answers only inside
//! the scope.
//!
//! Stored in the `investigations` column family: `chief-key` → public key;
//! `used/<signature hex>` → time used (replay protection). The per-subject
//! daily counts are [`crate::lookup::limits`]; the notification outbox is
//! [`crate::records::outbox`].

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::clock::{Micros, DAY_MICROS};
use crate::store::{cf, Store, StoreError};

/// What a signed request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestPurpose {
    /// Access-log records of the subject in the window.
    Journal,
    /// The subject's photo.
    Photo,
}

/// Whom a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Subject {
    /// One card.
    Card(u64),
    /// A cardholder (all their cards).
    Holder(u64),
}

impl Subject {
    /// `card:12` / `holder:7`.
    pub fn label(&self) -> String {
        match self {
            Subject::Card(c) => format!("card:{c}"),
            Subject::Holder(h) => format!("holder:{h}"),
        }
    }
}

/// The request document the chief signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDocument {
    /// Format version (1).
    pub version: u8,
    /// The police case number.
    pub case_number: String,
    /// Journal records or a photo.
    pub purpose: RequestPurpose,
    /// Whom it is about.
    pub subject: Subject,
    /// Start of the window (RFC 3339), for journal requests.
    pub from: String,
    /// End of the window (RFC 3339, exclusive).
    pub to: String,
    /// Why (kept in the signed document; not copied into logs).
    pub reason: String,
    /// Photo requests: the legal process under which the photo is released
    /// outside the institute (e.g. `subpoena`); the person must then be
    /// informed.
    #[serde(default)]
    pub legal_process: Option<String>,
    /// When the chief signed it (RFC 3339).
    pub issued_at: String,
    /// When it stops being valid (RFC 3339); at most 7 days after issue.
    pub expires_at: String,
    /// Random, so two otherwise equal requests differ.
    pub nonce: String,
}

/// The signed envelope police submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    /// The document's exact bytes, hex-encoded (what was signed).
    pub document: String,
    /// Ed25519 signature over those bytes, hex-encoded.
    pub signature: String,
}

/// Why a request was refused. Each is recorded in the look-up audit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No chief key registered.
    #[error("no chief-of-police key is registered; the security office must register it first")]
    NoChiefKey,
    /// The envelope is not hex / not 64 bytes of signature.
    #[error("the request is not a signed request envelope (document and signature in hex)")]
    Malformed,
    /// The signature does not verify: unsigned, tampered, or signed by
    /// someone else.
    #[error("the signature does not verify against the chief's key: the request is unsigned, altered or not from the chief")]
    BadSignature,
    /// The signed document is not a valid request.
    #[error("the signed document is not a valid request: {0}")]
    BadDocument(String),
    /// Not yet valid.
    #[error("the request is not valid yet")]
    NotYetValid,
    /// Expired.
    #[error("the request has expired")]
    Expired,
    /// Valid for too long.
    #[error("a request may be valid for at most 7 days")]
    TooLong,
    /// Window not in the past or outside retention.
    #[error("the window must lie in the past and inside the {0}-day retention window")]
    Window(u32),
    /// Used before.
    #[error("this request has already been used")]
    Replayed,
    /// Per-subject daily limit reached.
    #[error("the daily look-up limit for this subject has been reached")]
    Limit,
    /// Wrong purpose for the endpoint.
    #[error("this request is for {0}, not for this endpoint")]
    WrongPurpose(&'static str),
}

fn parse_time(s: &str) -> Result<Micros, RequestError> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| RequestError::BadDocument("times are RFC 3339".into()))?;
    u64::try_from(t.unix_timestamp_nanos() / 1000)
        .map_err(|_| RequestError::BadDocument("time out of range".into()))
}

/// A request that passed signature, freshness and window checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The document.
    pub doc: RequestDocument,
    /// Window start (µs).
    pub from: Micros,
    /// Window end (µs).
    pub to: Micros,
    /// Replay key (the signature, hex).
    pub id: String,
}

/// Signs a document with the chief's key (used by the chief's own tool, off
/// the appliance).
pub fn sign(key: &SigningKey, doc: &RequestDocument) -> SignedRequest {
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    let sig = key.sign(&bytes);
    SignedRequest {
        document: hex::encode(&bytes),
        signature: hex::encode(sig.to_bytes()),
    }
}

/// Checks a signed request against the chief's key at `now`.
pub fn verify(
    chief: &VerifyingKey,
    req: &SignedRequest,
    now: Micros,
    retention: Micros,
    retention_days: u32,
) -> Result<Verified, RequestError> {
    let bytes = hex::decode(&req.document).map_err(|_| RequestError::Malformed)?;
    let sig: [u8; 64] = hex::decode(&req.signature)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(RequestError::Malformed)?;
    chief
        .verify(&bytes, &Signature::from_bytes(&sig))
        .map_err(|_| RequestError::BadSignature)?;
    let doc: RequestDocument =
        serde_json::from_slice(&bytes).map_err(|e| RequestError::BadDocument(e.to_string()))?;
    if doc.version != 1 || doc.case_number.is_empty() || doc.case_number.len() > 64 {
        return Err(RequestError::BadDocument(
            "version must be 1 and the case number 1-64 characters".into(),
        ));
    }
    let issued = parse_time(&doc.issued_at)?;
    let expires = parse_time(&doc.expires_at)?;
    // Five minutes of clock skew between the chief's machine and ours.
    if issued > now + 300_000_000 {
        return Err(RequestError::NotYetValid);
    }
    if now >= expires {
        return Err(RequestError::Expired);
    }
    if expires.saturating_sub(issued) > 7 * DAY_MICROS {
        return Err(RequestError::TooLong);
    }
    let (from, to) = (parse_time(&doc.from)?, parse_time(&doc.to)?);
    if doc.purpose == RequestPurpose::Journal
        && (from >= to || to > now || from < now.saturating_sub(retention))
    {
        return Err(RequestError::Window(retention_days));
    }
    Ok(Verified {
        doc,
        from,
        to,
        id: req.signature.to_ascii_lowercase(),
    })
}

const CHIEF_KEY: &[u8] = b"chief-key";

/// The registered chief-of-police key, if any.
pub fn chief_key(store: &Store) -> Result<Option<VerifyingKey>, StoreError> {
    Ok(store
        .db()
        .get_cf(store.cf(cf::INVESTIGATIONS), CHIEF_KEY)?
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok()))
}

/// Adds the registration (replacement) of the chief's key to `batch`.
pub fn stage_chief_key(store: &Store, batch: &mut WriteBatch, key: &[u8; 32]) {
    batch.put_cf(store.cf(cf::INVESTIGATIONS), CHIEF_KEY, key);
}

fn used_key(id: &str) -> String {
    format!("used/{id}")
}

/// Whether the request with replay key `id` was used before.
pub fn was_used(store: &Store, id: &str) -> Result<bool, StoreError> {
    Ok(store
        .db()
        .get_pinned_cf(store.cf(cf::INVESTIGATIONS), used_key(id))?
        .is_some())
}

/// Adds the use of request `id` at `at` to `batch`.
pub fn stage_used(store: &Store, batch: &mut WriteBatch, id: &str, at: Micros) {
    batch.put_cf(store.cf(cf::INVESTIGATIONS), used_key(id), at.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::rfc3339;

    fn doc(now: Micros) -> RequestDocument {
        RequestDocument {
            version: 1,
            case_number: "2026-0042".into(),
            purpose: RequestPurpose::Journal,
            subject: Subject::Card(3),
            from: rfc3339(now - 2 * DAY_MICROS),
            to: rfc3339(now - DAY_MICROS),
            reason: "test".into(),
            legal_process: None,
            issued_at: rfc3339(now - 1_000_000),
            expires_at: rfc3339(now + DAY_MICROS),
            nonce: "00".into(),
        }
    }

    #[test]
    fn signed_requests_verify_and_tampering_is_caught() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let now = 1_795_000_000_000_000;
        let ret = 14 * DAY_MICROS;
        let ok = sign(&key, &doc(now));
        let v = verify(&key.verifying_key(), &ok, now, ret, 14).unwrap();
        assert_eq!(v.doc.subject, Subject::Card(3));
        // Tampered: one byte of the document changed.
        let mut bytes = hex::decode(&ok.document).unwrap();
        let pos = bytes.iter().position(|b| *b == b'3').unwrap();
        bytes[pos] = b'4';
        let bad = SignedRequest {
            document: hex::encode(bytes),
            signature: ok.signature.clone(),
        };
        assert_eq!(
            verify(&key.verifying_key(), &bad, now, ret, 14),
            Err(RequestError::BadSignature)
        );
        // Signed by someone else.
        let other = sign(&SigningKey::from_bytes(&[8; 32]), &doc(now));
        assert_eq!(
            verify(&key.verifying_key(), &other, now, ret, 14),
            Err(RequestError::BadSignature)
        );
        // Expired.
        assert_eq!(
            verify(&key.verifying_key(), &ok, now + 2 * DAY_MICROS, ret, 14),
            Err(RequestError::Expired)
        );
        // Window reaching into the future, or older than retention.
        let mut d = doc(now);
        d.to = rfc3339(now + 1);
        assert_eq!(
            verify(&key.verifying_key(), &sign(&key, &d), now, ret, 14),
            Err(RequestError::Window(14))
        );
        let mut d = doc(now);
        d.from = rfc3339(now - 15 * DAY_MICROS);
        assert_eq!(
            verify(&key.verifying_key(), &sign(&key, &d), now, ret, 14),
            Err(RequestError::Window(14))
        );
        // Garbage.
        let g = SignedRequest {
            document: "zz".into(),
            signature: "00".into(),
        };
        assert_eq!(
            verify(&key.verifying_key(), &g, now, ret, 14),
            Err(RequestError::Malformed)
        );
    }
}
