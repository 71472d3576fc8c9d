//! The door registry: what each door number is, where, and whether it is a
//! residence hall's — which decides who is called when it fails (the
//! office's FAQ: a residence hall door that does not work is the house
//! manager's; an alarm no one answers is the police's).

use serde::{Deserialize, Serialize};

use crate::pki::identity::{is_valid_name, NAME_RULE};
use crate::store::{cf, docs, Store, StoreError};

const PREFIX: &[u8] = b"door/";

/// One door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Door {
    /// The door number readers and controllers use.
    pub door: u32,
    /// A short label (`N52-lobby-east`): the name rule, no free text.
    pub name: String,
    /// The building, as MIT numbers them (`N52`, `7`, `W20`).
    pub building: String,
    /// A residence hall's door.
    #[serde(default)]
    pub residence_hall: bool,
}

/// A door definition that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DoorError(pub String);

/// Whether `b` is a building code: at most two capitals, then one to three
/// digits.
pub fn is_building(b: &str) -> bool {
    let letters = b.bytes().take_while(u8::is_ascii_uppercase).count();
    let digits = &b[letters..];
    letters <= 2 && (1..=3).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit())
}

impl Door {
    /// Checks the label and the building.
    pub fn validate(&self) -> Result<(), DoorError> {
        if self.door == 0 {
            return Err(DoorError("door numbers start at 1".into()));
        }
        if !is_valid_name(&self.name) {
            return Err(DoorError(format!("a door's name is {NAME_RULE}")));
        }
        if !is_building(&self.building) {
            return Err(DoorError(
                "a building is at most two capital letters and one to three digits (N52, 7, W20)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Who to call when the door itself does not work (a reader lost).
    pub fn call_when_out_of_order(&self) -> &'static str {
        if self.residence_hall {
            crate::records::alarms::CALL_HOUSE_MANAGER
        } else {
            crate::records::alarms::CALL_TECHNICIANS
        }
    }
}

fn key(door: u32) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&door.to_be_bytes());
    k
}

/// One door, if registered.
pub fn get(store: &Store, door: u32) -> Result<Option<Door>, StoreError> {
    docs::get(store, cf::OFFICE, &key(door))
}

/// Every registered door, by number.
pub fn list(store: &Store) -> Result<Vec<Door>, StoreError> {
    docs::list(store, cf::OFFICE, PREFIX)
}

/// Adds a door (new or changed) to `batch`.
pub fn stage(store: &Store, batch: &mut rocksdb::WriteBatch, d: &Door) -> Result<(), StoreError> {
    docs::stage_put(store, batch, cf::OFFICE, &key(d.door), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doors_are_codes_not_text() {
        let d = Door {
            door: 7,
            name: "N52-lobby".into(),
            building: "N52".into(),
            residence_hall: false,
        };
        assert!(d.validate().is_ok());
        for b in ["Lobby", "n52", "ABC1", "52X", ""] {
            let mut bad = d.clone();
            bad.building = b.into();
            assert!(bad.validate().is_err(), "{b}");
        }
        let mut bad = d.clone();
        bad.name = "the door by the chapel".into();
        assert!(bad.validate().is_err());
        let mut hall = d;
        hall.residence_hall = true;
        assert!(hall.call_when_out_of_order().contains("house manager"));
    }
}
