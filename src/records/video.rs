//! The video policy: a registry of cameras, each recording at most 14 days
//! cumulative with audio disabled; installations and alterations only on a
//! written request approved by the Director of Security or a designee; and
//! export requests, in writing to the Director, for which SEMO personnel
//! export the clip and hold it (sealed at rest, as photos are) until the
//! Director decides: approved, it is released to the requester and the
//! release recorded; denied, it is deleted, with no appeal.
//!
//! A camera enters or changes in the registry only when its request is
//! approved, so every camera on record went through the Director. A spec
//! that records more than 14 days or has audio on is refused at the
//! request and again at the approval.

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros};
use crate::pki::identity::{is_valid_name, NAME_RULE};
use crate::store::{cf, docs, Store, StoreError};

const CAMERA: &[u8] = b"camera/";
const WORK: &[u8] = b"vwork/";
const EXPORT: &[u8] = b"vexport/";

/// The longest a camera may keep recordings (days, cumulative).
pub const MAX_RECORDING_DAYS: u8 = 14;

/// A camera as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    /// Its name (the name rule).
    pub name: String,
    /// Where it is: a building-room code or a building (`E52`, `E52-419`).
    pub location: String,
    /// How many days of recording it keeps, cumulative (1 to 14).
    pub recording_days: u8,
    /// Audio capture: must be false (federal and state law).
    pub audio: bool,
}

impl Camera {
    /// Checks the policy's limits and the codes.
    pub fn validate(&self) -> Result<(), VideoError> {
        if !is_valid_name(&self.name) {
            return Err(VideoError::Invalid(format!(
                "a camera's name is {NAME_RULE}"
            )));
        }
        let place_ok = crate::records::doors::is_building(&self.location)
            || crate::records::keyorders::is_room(&self.location);
        if !place_ok {
            return Err(VideoError::Invalid(
                "a camera's location is a building or a building-room code (E52, E52-419)".into(),
            ));
        }
        if self.recording_days == 0 || self.recording_days > MAX_RECORDING_DAYS {
            return Err(VideoError::Policy(format!(
                "a camera records at most {MAX_RECORDING_DAYS} days cumulative (asked: {})",
                self.recording_days
            )));
        }
        if self.audio {
            return Err(VideoError::Policy(
                "audio capabilities are disabled on every camera, in accordance with federal and state law".into(),
            ));
        }
        Ok(())
    }
}

/// Installing a camera, or altering one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// A new camera.
    Install,
    /// A change to a camera's components or capabilities.
    Alter,
}

/// Pending, approved or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Determination {
    /// Waiting for the Director or a designee.
    Pending,
    /// Approved.
    Approved,
    /// Denied.
    Denied,
}

/// A written request to install or alter a camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkRequest {
    /// Its number.
    pub id: u64,
    /// Install or alter.
    pub kind: WorkKind,
    /// The camera as it will be.
    pub camera: Camera,
    /// The reference of the written request (the document outlining the
    /// work, by an outside contractor if any): `VR-2026-0042`.
    pub document: String,
    /// The contractor doing the work, if any (the name rule).
    #[serde(default)]
    pub contractor: Option<String>,
    /// Who submitted it, when.
    pub submitted_by: String,
    /// When (RFC 3339).
    pub submitted_at: String,
    /// The determination.
    pub status: Determination,
    /// Who decided, and when.
    #[serde(default)]
    pub decided_by: Option<String>,
    /// When.
    #[serde(default)]
    pub decided_at: Option<String>,
}

/// Where an export request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Received; the clip is being exported by SEMO personnel.
    AwaitingClip,
    /// The clip is exported and held (sealed) for the Director.
    Held,
    /// Approved: the requester may collect it.
    Approved,
    /// Collected by the requester (recorded).
    Released,
    /// Denied: the clip was deleted; no appeal.
    Denied,
}

impl ExportStatus {
    /// The name used in the API and the console.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::AwaitingClip => "awaiting_clip",
            ExportStatus::Held => "held",
            ExportStatus::Approved => "approved",
            ExportStatus::Released => "released",
            ExportStatus::Denied => "denied",
        }
    }
}

/// A written request to export video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRequest {
    /// Its number.
    pub id: u64,
    /// The camera.
    pub camera: String,
    /// The window wanted, RFC 3339.
    pub from: String,
    /// End of the window.
    pub to: String,
    /// The written request's reference (`MITPD-2026-117`, `VX-2026-0003`).
    pub document: String,
    /// Who asked (certificate handle), and their role.
    pub requester: String,
    /// The requester's role.
    pub requester_role: String,
    /// When (RFC 3339).
    pub submitted_at: String,
    /// Where it is.
    pub status: ExportStatus,
    /// The held clip's size in bytes, while held.
    #[serde(default)]
    pub clip_bytes: Option<u64>,
    /// The held clip's SHA-256 (hex), while it exists.
    #[serde(default)]
    pub clip_sha256: Option<String>,
    /// The appliance holding the clip (clips stay on the appliance they
    /// were uploaded to).
    #[serde(default)]
    pub held_on: Option<String>,
    /// Who decided, and when.
    #[serde(default)]
    pub decided_by: Option<String>,
    /// When.
    #[serde(default)]
    pub decided_at: Option<String>,
    /// When the clip was deleted (a denial).
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// When the requester collected it.
    #[serde(default)]
    pub released_at: Option<String>,
}

/// Why a video request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    /// A value breaks a rule of form.
    #[error("{0}")]
    Invalid(String),
    /// The video policy forbids it.
    #[error("{0}")]
    Policy(String),
    /// Not possible in the request's present state.
    #[error("{0}")]
    Refused(String),
    /// No such request or camera.
    #[error("{0}")]
    NotFound(String),
}

/// A document reference: 3 to 40 of `A-Z a-z 0-9 - / .`, starting with a
/// letter.
pub fn is_reference(r: &str) -> bool {
    (3..=40).contains(&r.len())
        && r.starts_with(|c: char| c.is_ascii_alphabetic())
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/.".contains(&b))
}

fn key(prefix: &[u8], id: u64) -> Vec<u8> {
    [prefix, &id.to_be_bytes()[..]].concat()
}

fn camera_key(name: &str) -> Vec<u8> {
    [CAMERA, name.as_bytes()].concat()
}

/// One camera.
pub fn camera(store: &Store, name: &str) -> Result<Option<Camera>, StoreError> {
    docs::get(store, cf::OFFICE, &camera_key(name))
}

/// Every camera.
pub fn cameras(store: &Store) -> Result<Vec<Camera>, StoreError> {
    docs::list(store, cf::OFFICE, CAMERA)
}

/// One installation or alteration request.
pub fn work(store: &Store, id: u64) -> Result<Option<WorkRequest>, StoreError> {
    docs::get(store, cf::OFFICE, &key(WORK, id))
}

/// Every installation or alteration request.
pub fn works(store: &Store) -> Result<Vec<WorkRequest>, StoreError> {
    docs::list(store, cf::OFFICE, WORK)
}

/// One export request.
pub fn export(store: &Store, id: u64) -> Result<Option<ExportRequest>, StoreError> {
    docs::get(store, cf::OFFICE, &key(EXPORT, id))
}

/// Every export request.
pub fn exports(store: &Store) -> Result<Vec<ExportRequest>, StoreError> {
    docs::list(store, cf::OFFICE, EXPORT)
}

/// Adds a camera to `batch`.
pub fn stage_camera(
    store: &Store,
    b: &mut rocksdb::WriteBatch,
    c: &Camera,
) -> Result<(), StoreError> {
    docs::stage_put(store, b, cf::OFFICE, &camera_key(&c.name), c)
}

/// Adds a work request to `batch`.
pub fn stage_work(
    store: &Store,
    b: &mut rocksdb::WriteBatch,
    w: &WorkRequest,
) -> Result<(), StoreError> {
    docs::stage_put(store, b, cf::OFFICE, &key(WORK, w.id), w)
}

/// Adds an export request to `batch`.
pub fn stage_export(
    store: &Store,
    b: &mut rocksdb::WriteBatch,
    e: &ExportRequest,
) -> Result<(), StoreError> {
    docs::stage_put(store, b, cf::OFFICE, &key(EXPORT, e.id), e)
}

/// The key of export `id`'s clip in the clips family.
pub fn clip_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// Plans a work request.
pub fn plan_work(
    store: &Store,
    kind: WorkKind,
    camera: Camera,
    document: String,
    contractor: Option<String>,
    by: &str,
    now: Micros,
) -> Result<WorkRequest, VideoError> {
    camera.validate()?;
    if !is_reference(&document) {
        return Err(VideoError::Invalid(
            "the written request's reference is 3-40 of letters, digits, '-', '/', '.' (VR-2026-0042)".into(),
        ));
    }
    if contractor.as_deref().is_some_and(|c| !is_valid_name(c)) {
        return Err(VideoError::Invalid(format!(
            "a contractor is named by {NAME_RULE}"
        )));
    }
    let exists = self::camera(store, &camera.name)
        .map_err(|e| VideoError::Invalid(e.to_string()))?
        .is_some();
    match kind {
        WorkKind::Install if exists => {
            return Err(VideoError::Refused(format!(
                "camera {} is already installed; request an alteration",
                camera.name
            )))
        }
        WorkKind::Alter if !exists => {
            return Err(VideoError::NotFound(format!("no camera {}", camera.name)))
        }
        _ => {}
    }
    Ok(WorkRequest {
        id: docs::next_id(store, cf::OFFICE, WORK)
            .map_err(|e| VideoError::Invalid(e.to_string()))?,
        kind,
        camera,
        document,
        contractor,
        submitted_by: by.to_owned(),
        submitted_at: rfc3339(now),
        status: Determination::Pending,
        decided_by: None,
        decided_at: None,
    })
}

/// Plans the determination of a pending work request; an approval also
/// returns the camera to write.
pub fn plan_work_decision(
    mut w: WorkRequest,
    approve: bool,
    by: &str,
    now: Micros,
) -> Result<(WorkRequest, Option<Camera>), VideoError> {
    if w.status != Determination::Pending {
        return Err(VideoError::Refused(format!(
            "request {} was already decided",
            w.id
        )));
    }
    if approve {
        // Checked again: the limits hold whatever was stored.
        w.camera.validate()?;
    }
    w.status = if approve {
        Determination::Approved
    } else {
        Determination::Denied
    };
    w.decided_by = Some(by.to_owned());
    w.decided_at = Some(rfc3339(now));
    let camera = approve.then(|| w.camera.clone());
    Ok((w, camera))
}

/// What an export request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportAsk {
    /// The camera.
    pub camera: String,
    /// Start of the window (RFC 3339).
    pub from: String,
    /// End of the window (RFC 3339).
    pub to: String,
    /// The written request's reference.
    pub document: String,
}

/// Plans an export request: the camera exists, the window is in the past,
/// at most a day long, and still inside what the camera keeps.
pub fn plan_export(
    store: &Store,
    ask: ExportAsk,
    requester: &str,
    role: &str,
    now: Micros,
) -> Result<ExportRequest, VideoError> {
    let cam = self::camera(store, &ask.camera)
        .map_err(|e| VideoError::Invalid(e.to_string()))?
        .ok_or_else(|| VideoError::NotFound(format!("no camera {}", ask.camera)))?;
    if !is_reference(&ask.document) {
        return Err(VideoError::Invalid(
            "the written request's reference is 3-40 of letters, digits, '-', '/', '.'".into(),
        ));
    }
    let parse = |t: &str| {
        t.parse::<jiff::Timestamp>()
            .map(|t| t.as_microsecond().max(0) as u64)
            .map_err(|_| VideoError::Invalid(format!("`{t}` is not an RFC 3339 time")))
    };
    let (from, to) = (parse(&ask.from)?, parse(&ask.to)?);
    if from >= to || to > now {
        return Err(VideoError::Invalid(
            "the window must end after it begins, and in the past".into(),
        ));
    }
    if to - from > 86_400_000_000 {
        return Err(VideoError::Invalid("a window is at most 24 hours".into()));
    }
    let kept = u64::from(cam.recording_days) * 86_400_000_000;
    if from < now.saturating_sub(kept) {
        return Err(VideoError::Policy(format!(
            "camera {} keeps {} days of recording: the window begins before that",
            cam.name, cam.recording_days
        )));
    }
    Ok(ExportRequest {
        id: docs::next_id(store, cf::OFFICE, EXPORT)
            .map_err(|e| VideoError::Invalid(e.to_string()))?,
        camera: ask.camera,
        from: rfc3339(from),
        to: rfc3339(to),
        document: ask.document,
        requester: requester.to_owned(),
        requester_role: role.to_owned(),
        submitted_at: rfc3339(now),
        status: ExportStatus::AwaitingClip,
        clip_bytes: None,
        clip_sha256: None,
        held_on: None,
        decided_by: None,
        decided_at: None,
        deleted_at: None,
        released_at: None,
    })
}

impl ExportRequest {
    /// The request with its clip held.
    pub fn held(mut self, bytes: u64, sha256: String, on: &str) -> Result<Self, VideoError> {
        if self.status != ExportStatus::AwaitingClip {
            return Err(VideoError::Refused(format!(
                "export {} is {}: its clip cannot be replaced",
                self.id,
                self.status.as_str()
            )));
        }
        self.status = ExportStatus::Held;
        self.clip_bytes = Some(bytes);
        self.clip_sha256 = Some(sha256);
        self.held_on = Some(on.to_owned());
        Ok(self)
    }

    /// The Director's determination. A denial deletes the clip (the caller
    /// writes that in the same change) and is final.
    pub fn decided(mut self, approve: bool, by: &str, now: Micros) -> Result<Self, VideoError> {
        match self.status {
            ExportStatus::Denied => {
                return Err(VideoError::Refused(format!(
                    "export {} was denied and its clip deleted; there is no appeal",
                    self.id
                )))
            }
            ExportStatus::Approved | ExportStatus::Released => {
                return Err(VideoError::Refused(format!(
                    "export {} was already approved",
                    self.id
                )))
            }
            ExportStatus::AwaitingClip if approve => {
                return Err(VideoError::Refused(format!(
                    "export {}: the clip is not held yet; nothing to approve",
                    self.id
                )))
            }
            _ => {}
        }
        self.decided_by = Some(by.to_owned());
        self.decided_at = Some(rfc3339(now));
        if approve {
            self.status = ExportStatus::Approved;
        } else {
            self.status = ExportStatus::Denied;
            if self.clip_bytes.is_some() {
                self.deleted_at = Some(rfc3339(now));
            }
            self.clip_sha256 = None;
        }
        Ok(self)
    }

    /// Collected by the requester (only once approved, and once: SEMO's
    /// copy is deleted as it is released).
    pub fn released(mut self, now: Micros) -> Result<Self, VideoError> {
        match self.status {
            ExportStatus::Approved => {
                self.released_at = Some(rfc3339(now));
                self.status = ExportStatus::Released;
                self.clip_sha256 = None;
                Ok(self)
            }
            ExportStatus::Released => Err(VideoError::Refused(format!(
                "export {} was released to its requester already; the office keeps no copy",
                self.id
            ))),
            s => Err(VideoError::Refused(format!(
                "export {} is {}: only an approved clip is released",
                self.id,
                s.as_str()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> Camera {
        Camera {
            name: "lobby-1".into(),
            location: "E52-100".into(),
            recording_days: 14,
            audio: false,
        }
    }

    #[test]
    fn the_policy_limits_hold() {
        assert!(cam().validate().is_ok());
        let mut c = cam();
        c.recording_days = 15;
        assert!(matches!(c.validate(), Err(VideoError::Policy(_))));
        let mut c = cam();
        c.audio = true;
        assert!(matches!(c.validate(), Err(VideoError::Policy(_))));
        let mut c = cam();
        c.location = "the chapel".into();
        assert!(c.validate().is_err());
        assert!(is_reference("VR-2026-0042") && !is_reference("a b") && !is_reference("--x"));
    }

    #[test]
    fn a_denial_is_final() {
        let e = ExportRequest {
            id: 1,
            camera: "lobby-1".into(),
            from: String::new(),
            to: String::new(),
            document: "VX-1".into(),
            requester: "officer".into(),
            requester_role: "police".into(),
            submitted_at: String::new(),
            status: ExportStatus::AwaitingClip,
            clip_bytes: None,
            clip_sha256: None,
            held_on: None,
            decided_by: None,
            decided_at: None,
            deleted_at: None,
            released_at: None,
        };
        assert!(e.clone().decided(true, "director", 0).is_err());
        assert!(e.clone().released(0).is_err());
        let held = e.held(10, "ab".into(), "a1").unwrap();
        let denied = held.clone().decided(false, "director", 5).unwrap();
        assert_eq!(denied.status, ExportStatus::Denied);
        assert!(denied.deleted_at.is_some());
        assert!(denied.clone().decided(true, "director", 6).is_err());
        assert!(denied.released(7).is_err());
        let approved = held.decided(true, "director", 5).unwrap();
        let released = approved.released(9).unwrap();
        assert_eq!(released.status, ExportStatus::Released);
        assert!(released.released(10).is_err(), "released twice");
    }
}
