//! What the journal stores, byte by byte: decisions (version byte 1) and
//! door events (version byte 2), both 27 bytes, keyed by time and sequence;
//! and the optional card index's keys.

use portcullis_protocol::{DoorEvent, DoorEventKind};

use crate::clock::Micros;
use crate::protocol::{Decision, Reason};
use crate::store::StoreError;

/// One decision, as journaled. Holds a credential reference, never an
/// access number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Reader id (see [`crate::records::readers`]).
    pub reader: u32,
    /// Door.
    pub door: u32,
    /// Card id, or 0 when the number matched no card.
    pub card: u64,
    /// For unknown numbers, [`crate::crypto::numbers::journal_tag`] of the digest;
    /// otherwise 0.
    pub tag: u64,
    /// Grant or deny.
    pub decision: Decision,
    /// Why.
    pub reason: Reason,
}

const RECORD_V1: u8 = 1;
/// Encoded record length.
pub const RECORD_LEN: usize = 1 + 4 + 4 + 8 + 8 + 1 + 1;

impl Record {
    /// Fixed-layout encoding.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0] = RECORD_V1;
        b[1..5].copy_from_slice(&self.reader.to_be_bytes());
        b[5..9].copy_from_slice(&self.door.to_be_bytes());
        b[9..17].copy_from_slice(&self.card.to_be_bytes());
        b[17..25].copy_from_slice(&self.tag.to_be_bytes());
        b[25] = self.decision.code();
        b[26] = self.reason.code();
        b
    }

    /// Decodes a stored record.
    pub fn decode(v: &[u8]) -> Result<Record, StoreError> {
        let bad = || StoreError::Corrupt { what: "journal" };
        if v.len() != RECORD_LEN || v[0] != RECORD_V1 {
            return Err(bad());
        }
        let u32_at = |i: usize| u32::from_be_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]);
        let u64_at = |i: usize| u64::from_be_bytes(v[i..i + 8].try_into().unwrap_or([0; 8]));
        Ok(Record {
            reader: u32_at(1),
            door: u32_at(5),
            card: u64_at(9),
            tag: u64_at(17),
            decision: Decision::from_code(v[25]).ok_or_else(bad)?,
            reason: Reason::from_code(v[26]).ok_or_else(bad)?,
        })
    }
}

/// A door event as journaled: which reader (controller) reported it, and
/// the event itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecord {
    /// Reader id of the controller that reported it.
    pub reader: u32,
    /// The event.
    pub event: DoorEvent,
}

const EVENT_V1: u8 = 2;

impl EventRecord {
    /// Fixed-layout encoding (version byte 2).
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let e = &self.event;
        let mut b = [0u8; RECORD_LEN];
        b[0] = EVENT_V1;
        b[1..5].copy_from_slice(&self.reader.to_be_bytes());
        b[5..13].copy_from_slice(&e.event_id.to_be_bytes());
        b[13..17].copy_from_slice(&e.door.to_be_bytes());
        b[17] = e.kind.code();
        b[18] = u8::from(e.begins);
        b[19..27].copy_from_slice(&e.observed_us.to_be_bytes());
        b
    }

    fn decode(v: &[u8]) -> Result<EventRecord, StoreError> {
        let bad = || StoreError::Corrupt { what: "journal" };
        let u64_at = |i: usize| u64::from_be_bytes(v[i..i + 8].try_into().unwrap_or([0; 8]));
        Ok(EventRecord {
            reader: u32::from_be_bytes([v[1], v[2], v[3], v[4]]),
            event: DoorEvent {
                event_id: u64_at(5),
                door: u32::from_be_bytes([v[13], v[14], v[15], v[16]]),
                kind: DoorEventKind::from_code(v[17]).ok_or_else(bad)?,
                begins: match v[18] {
                    0 => false,
                    1 => true,
                    _ => return Err(bad()),
                },
                observed_us: u64_at(19),
            },
        })
    }
}

/// Whatever the journal holds: decisions and door events, under the same
/// retention and the same purpose rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journaled {
    /// A decision.
    Decision(Record),
    /// A door event.
    Event(EventRecord),
}

impl Journaled {
    /// Fixed-layout encoding.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        match self {
            Journaled::Decision(r) => r.encode(),
            Journaled::Event(e) => e.encode(),
        }
    }

    /// Decodes a stored value of either kind.
    pub fn decode(v: &[u8]) -> Result<Journaled, StoreError> {
        match (v.len(), v.first()) {
            (RECORD_LEN, Some(&RECORD_V1)) => Record::decode(v).map(Journaled::Decision),
            (RECORD_LEN, Some(&EVENT_V1)) => EventRecord::decode(v).map(Journaled::Event),
            _ => Err(StoreError::Corrupt { what: "journal" }),
        }
    }

    /// The reader that reported it.
    pub fn reader(&self) -> u32 {
        match self {
            Journaled::Decision(r) => r.reader,
            Journaled::Event(e) => e.reader,
        }
    }

    /// The door it concerns.
    pub fn door(&self) -> u32 {
        match self {
            Journaled::Decision(r) => r.door,
            Journaled::Event(e) => e.event.door,
        }
    }

    /// The decision, if it is one.
    pub fn decision(&self) -> Option<&Record> {
        match self {
            Journaled::Decision(r) => Some(r),
            Journaled::Event(_) => None,
        }
    }
}

/// A journaled item with its journal position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// When it was journaled (µs since epoch).
    pub time: Micros,
    /// Sequence number.
    pub seq: u64,
    /// What was journaled.
    pub item: Journaled,
}

/// Journal key: time then sequence, both big-endian, so keys sort by time.
pub fn key(time: Micros, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&time.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// What a look-up selects records by. Only cards can have a secondary
/// index (`journal.card_index`); door and reader look-ups scan the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Card id (card problems).
    Card,
    /// Door (equipment troubleshooting).
    Door,
    /// Reader id (equipment troubleshooting).
    Reader,
}

/// The first byte of every card index key (kept for the stored format).
pub(super) const CARD_INDEX: u8 = 1;

/// Length of an index key.
pub const INDEX_KEY_LEN: usize = 29;
/// Offset of the time stamp in an index key.
pub const INDEX_TIME_AT: usize = 13;
pub(super) const HOUR_MICROS: Micros = 3_600_000_000;

/// Card index key: 1 ‖ hour (u32) ‖ card ‖ time ‖ sequence (29 bytes). The
/// hour comes first so index files of different hours do not overlap:
/// compaction moves old hours down without rewriting them, and only the
/// current hour's entries (in card order) are ever merged.
pub fn card_index_key(id: u64, time: Micros, seq: u64) -> [u8; INDEX_KEY_LEN] {
    let mut k = [0u8; INDEX_KEY_LEN];
    k[0] = CARD_INDEX;
    k[1..5].copy_from_slice(&((time / HOUR_MICROS) as u32).to_be_bytes());
    k[5..13].copy_from_slice(&id.to_be_bytes());
    k[13..21].copy_from_slice(&time.to_be_bytes());
    k[21..29].copy_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_beside_decisions() {
        let e = EventRecord {
            reader: 4,
            event: DoorEvent {
                event_id: 9,
                door: 10,
                kind: DoorEventKind::HeldOpen,
                begins: false,
                observed_us: 12345,
            },
        };
        assert_eq!(Journaled::decode(&e.encode()).unwrap(), Journaled::Event(e));
        let mut bad = e.encode();
        bad[17] = 99;
        assert!(Journaled::decode(&bad).is_err());
        bad[0] = 7;
        assert!(Journaled::decode(&bad).is_err());
    }

    #[test]
    fn record_round_trip_and_garbage() {
        let r = Record {
            reader: 3,
            door: 4,
            card: 5,
            tag: 6,
            decision: Decision::Deny,
            reason: Reason::Revoked,
        };
        assert_eq!(Record::decode(&r.encode()).unwrap(), r);
        assert!(Record::decode(&r.encode()[1..]).is_err());
        let mut bad = r.encode();
        bad[26] = 200;
        assert!(Record::decode(&bad).is_err());
    }

    #[test]
    fn keys_sort_by_time() {
        assert!(key(1, 99) < key(2, 0));
        assert!(key(5, 1) < key(5, 2));
    }
}
