//! Door alarms: which doors are forced open, held open, tampered with or
//! without their reader, now — derived from the door events controllers
//! report, kept through the ledger (so every appliance shows the same
//! alarms and an acknowledgement is audited), shown to the security office
//! with who to call.
//!
//! The events themselves are journaled with the decisions, under the same
//! 14-day retention and purpose rules; this holds only the alarms in force.

use std::collections::BTreeMap;

use dashmap::DashMap;
use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::protocol::DoorEventKind;
use crate::store::{cf, Store, StoreError};

const PREFIX: &[u8] = b"alarm/";

/// Who to call about an alarm (the office's FAQ: an alarm that no one
/// seems to respond to goes to the police).
pub const CALL_POLICE: &str = "MIT Police: dial 100 from any MIT phone, or 617-253-1212";
/// Who to call about a reader out of service.
pub const CALL_TECHNICIANS: &str = "security office technicians";
/// Who to call about a residence hall door out of service (the FAQ).
pub const CALL_HOUSE_MANAGER: &str = "the residence's house manager";

/// One alarm in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// The door.
    pub door: u32,
    /// `forced_open`, `held_open`, `tamper` or `reader_offline`.
    pub kind: String,
    /// When the controller observed it begin (RFC 3339).
    pub since: String,
    /// The controller (reader certificate name) that reported it.
    pub reported_by: String,
    /// Who acknowledged it, if anyone.
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    /// When.
    #[serde(default)]
    pub acknowledged_at: Option<String>,
    /// Who to call.
    pub call: String,
    /// The door's name and building, when the door is registered (filled
    /// in when alarms are listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door_name: Option<String>,
}

impl Alarm {
    /// A new alarm of `kind` at `door`.
    pub fn new(door: u32, kind: DoorEventKind, since: String, reported_by: &str) -> Self {
        Alarm {
            door,
            kind: kind.as_str().to_owned(),
            since,
            reported_by: reported_by.to_owned(),
            acknowledged_by: None,
            acknowledged_at: None,
            call: match kind {
                DoorEventKind::ReaderOffline => CALL_TECHNICIANS,
                _ => CALL_POLICE,
            }
            .to_owned(),
            door_name: None,
        }
    }

    /// This alarm as shown: with the door's name, and who to call for a
    /// door out of order decided by the door's registry (a residence
    /// hall's: the house manager).
    pub fn described(mut self, door: Option<&crate::records::doors::Door>) -> Self {
        if let Some(d) = door {
            self.door_name = Some(format!("{} ({})", d.name, d.building));
            if self.kind() == Some(DoorEventKind::ReaderOffline) {
                self.call = d.call_when_out_of_order().to_owned();
            }
        }
        self
    }

    /// Its kind.
    pub fn kind(&self) -> Option<DoorEventKind> {
        DoorEventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == self.kind)
    }
}

fn key(door: u32, kind: DoorEventKind) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&door.to_be_bytes());
    k.push(kind.code());
    k
}

/// The alarms in force, in memory.
#[derive(Debug, Default)]
pub struct Alarms {
    active: DashMap<(u32, u8), Alarm>,
}

impl Alarms {
    /// Loads the alarms in force.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        let a = Self::default();
        for item in store.db().iterator_cf(
            store.cf(cf::META),
            IteratorMode::From(PREFIX, Direction::Forward),
        ) {
            let (k, v) = item?;
            if !k.starts_with(PREFIX) {
                break;
            }
            let alarm: Alarm =
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt { what: "alarm" })?;
            if let Some(kind) = alarm.kind() {
                a.active.insert((alarm.door, kind.code()), alarm);
            }
        }
        Ok(a)
    }

    /// The alarm of `kind` at `door`, if in force.
    pub fn get(&self, door: u32, kind: DoorEventKind) -> Option<Alarm> {
        self.active.get(&(door, kind.code())).map(|a| a.clone())
    }

    /// Every alarm in force, by door and kind.
    pub fn list(&self) -> Vec<Alarm> {
        let mut v: Vec<Alarm> = self.active.iter().map(|a| a.clone()).collect();
        v.sort_by_key(|a| (a.door, a.kind.clone()));
        v
    }

    /// Doors with at least one alarm in force, and alarms in force by kind.
    pub fn counts(&self) -> (usize, BTreeMap<&'static str, usize>) {
        let mut doors = std::collections::BTreeSet::new();
        let mut by_kind: BTreeMap<&'static str, usize> =
            DoorEventKind::ALL.iter().map(|k| (k.as_str(), 0)).collect();
        for a in self.active.iter() {
            doors.insert(a.door);
            if let Some(k) = a.kind() {
                *by_kind.entry(k.as_str()).or_default() += 1;
            }
        }
        (doors.len(), by_kind)
    }

    /// Makes a written alarm (raised or acknowledged) apply.
    pub fn install_set(&self, a: &Alarm) {
        if let Some(k) = a.kind() {
            self.active.insert((a.door, k.code()), a.clone());
        }
    }

    /// Makes a written clearing apply.
    pub fn install_clear(&self, door: u32, kind: DoorEventKind) {
        self.active.remove(&(door, kind.code()));
    }
}

/// Adds an alarm (raised or acknowledged) to `batch`.
pub fn stage_set(store: &Store, batch: &mut WriteBatch, a: &Alarm) -> Result<(), StoreError> {
    let kind = a.kind().ok_or(StoreError::Corrupt { what: "alarm" })?;
    let v = serde_json::to_vec(a).map_err(|_| StoreError::Corrupt { what: "alarm" })?;
    batch.put_cf(store.cf(cf::META), key(a.door, kind), v);
    Ok(())
}

/// Adds an alarm's end to `batch`.
pub fn stage_clear(store: &Store, batch: &mut WriteBatch, door: u32, kind: DoorEventKind) {
    batch.delete_cf(store.cf(cf::META), key(door, kind));
}
