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
//! `used/<signature hex>` → time used (replay protection);
//! `count/<subject>/<day>` → look-ups of that subject that day;
//! `outbox/<time ‖ seq>` → notifications an operator must work through.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rocksdb::{Direction, IteratorMode, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros, DAY_MICROS};
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

/// Investigation state in RocksDB.
#[derive(Debug)]
pub struct Investigations {
    store: Store,
    /// Serialises the read-check-write of request use and per-subject
    /// counts, so a request is used once and a limit holds under any
    /// number of concurrent look-ups.
    gate: std::sync::Mutex<()>,
}

/// Whether a look-up may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted (and the request marked used): go ahead.
    Admitted,
    /// The signed request was used before; nothing counted.
    Replayed,
    /// The subject's daily limit is reached; nothing counted or used.
    Limit,
}

fn sync() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

/// A notification an operator must act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Id (for marking it done).
    pub id: String,
    /// When it was created.
    pub created: String,
    /// The cardholder to inform.
    pub holder: u64,
    /// The police case.
    pub case_number: String,
    /// What to do.
    pub action: String,
    /// Whether an operator marked it done.
    pub done: bool,
}

impl Investigations {
    /// Over the shared store.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            gate: std::sync::Mutex::new(()),
        }
    }

    fn cf(&self) -> &rocksdb::ColumnFamily {
        self.store.cf(cf::INVESTIGATIONS)
    }

    /// The registered chief key.
    pub fn chief_key(&self) -> Result<Option<VerifyingKey>, StoreError> {
        Ok(self
            .store
            .db()
            .get_cf(self.cf(), b"chief-key")?
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok()))
    }

    /// Registers (replaces) the chief's public key.
    pub fn set_chief_key(&self, key: &VerifyingKey) -> Result<(), StoreError> {
        self.store
            .db()
            .put_cf_opt(self.cf(), b"chief-key", key.as_bytes(), &sync())?;
        Ok(())
    }

    /// Admits one look-up of `subject` at `now`: when `request` (a signed
    /// request's replay key) is given it must not have been used, and the
    /// subject must be under `limit` look-ups today. On admission the use
    /// and the count are written in one synchronous batch; a refusal
    /// changes nothing.
    pub fn admit(
        &self,
        request: Option<&str>,
        subject: &str,
        now: Micros,
        limit: u32,
    ) -> Result<Admission, StoreError> {
        let _g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        let db = self.store.db();
        let used_key = request.map(|r| format!("used/{r}"));
        if let Some(k) = &used_key {
            if db.get_pinned_cf(self.cf(), k)?.is_some() {
                return Ok(Admission::Replayed);
            }
        }
        let count_key = format!("count/{subject}/{}", now / DAY_MICROS);
        let n = db
            .get_cf(self.cf(), &count_key)?
            .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
            .map(u32::from_be_bytes)
            .unwrap_or(0);
        if n >= limit {
            return Ok(Admission::Limit);
        }
        let mut batch = rocksdb::WriteBatch::default();
        if let Some(k) = &used_key {
            batch.put_cf(self.cf(), k, now.to_be_bytes());
        }
        batch.put_cf(self.cf(), count_key, (n + 1).to_be_bytes());
        db.write_opt(batch, &sync())?;
        Ok(Admission::Admitted)
    }

    /// Adds a notification to the outbox.
    pub fn notify(
        &self,
        holder: u64,
        case_number: &str,
        action: &str,
        now: Micros,
        seq: u64,
    ) -> Result<String, StoreError> {
        let id = format!("{now:016x}{seq:08x}");
        let n = Notification {
            id: id.clone(),
            created: rfc3339(now),
            holder,
            case_number: case_number.to_owned(),
            action: action.to_owned(),
            done: false,
        };
        let v = serde_json::to_vec(&n).map_err(|_| StoreError::Corrupt {
            what: "notification",
        })?;
        self.store
            .db()
            .put_cf_opt(self.cf(), format!("outbox/{id}"), v, &sync())?;
        Ok(id)
    }

    /// Every notification, oldest first.
    pub fn outbox(&self) -> Result<Vec<Notification>, StoreError> {
        let mut out = Vec::new();
        for item in self.store.db().iterator_cf(
            self.cf(),
            IteratorMode::From(b"outbox/", Direction::Forward),
        ) {
            let (k, v) = item?;
            if !k.starts_with(b"outbox/") {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt {
                what: "notification",
            })?);
        }
        Ok(out)
    }

    /// Marks a notification done; `false` if there is no such notification.
    pub fn done(&self, id: &str) -> Result<bool, StoreError> {
        let k = format!("outbox/{id}");
        let Some(v) = self.store.db().get_cf(self.cf(), &k)? else {
            return Ok(false);
        };
        let mut n: Notification = serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt {
            what: "notification",
        })?;
        n.done = true;
        let v = serde_json::to_vec(&n).map_err(|_| StoreError::Corrupt {
            what: "notification",
        })?;
        self.store.db().put_cf_opt(self.cf(), k, v, &sync())?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
