//! Grant or deny, and why.
//!
//! The numeric codes are part of the reader protocol and of the journal
//! format: never renumber, only add.

use std::fmt;

/// The answer to a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Decision {
    /// Do not open.
    Deny = 0,
    /// Open.
    Grant = 1,
}

impl Decision {
    /// Wire code.
    pub fn code(self) -> u8 {
        self as u8
    }
    /// From a wire code.
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Decision::Deny),
            1 => Some(Decision::Grant),
            _ => None,
        }
    }
    /// Lower-case name, as used in metric labels and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Deny => "deny",
            Decision::Grant => "grant",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Deny => "DENY",
            Decision::Grant => "GRANT",
        })
    }
}

/// Why a decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    /// The card is valid here and now.
    Granted = 0,
    /// No card has this access number.
    Unknown = 1,
    /// The card was revoked.
    Revoked = 2,
    /// A newer card was issued to the same person: possibly a lost or stolen
    /// card in use.
    Superseded = 3,
    /// The card is suspended.
    Suspended = 4,
    /// The card is past its expiry date.
    Expired = 5,
    /// The cardholder's access levels do not include this door.
    DoorNotPermitted = 6,
    /// The door is permitted but not at this time.
    OutsideSchedule = 7,
    /// The cardholder is inactive (left, on leave).
    HolderInactive = 8,
    /// The card's validity has not started yet.
    NotYetValid = 9,
    /// The credential format is not one this appliance reads.
    UnsupportedFormat = 10,
}

impl Reason {
    /// Every reason, in code order.
    pub const ALL: [Reason; 11] = [
        Reason::Granted,
        Reason::Unknown,
        Reason::Revoked,
        Reason::Superseded,
        Reason::Suspended,
        Reason::Expired,
        Reason::DoorNotPermitted,
        Reason::OutsideSchedule,
        Reason::HolderInactive,
        Reason::NotYetValid,
        Reason::UnsupportedFormat,
    ];

    /// Wire code.
    pub fn code(self) -> u8 {
        self as u8
    }
    /// From a wire code.
    pub fn from_code(c: u8) -> Option<Self> {
        Reason::ALL.get(usize::from(c)).copied()
    }
    /// The decision this reason implies.
    pub fn decision(self) -> Decision {
        if self == Reason::Granted {
            Decision::Grant
        } else {
            Decision::Deny
        }
    }
    /// snake_case name, as used in metric labels and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Granted => "granted",
            Reason::Unknown => "unknown",
            Reason::Revoked => "revoked",
            Reason::Superseded => "superseded",
            Reason::Suspended => "suspended",
            Reason::Expired => "expired",
            Reason::DoorNotPermitted => "door_not_permitted",
            Reason::OutsideSchedule => "outside_schedule",
            Reason::HolderInactive => "holder_inactive",
            Reason::NotYetValid => "not_yet_valid",
            Reason::UnsupportedFormat => "unsupported_format",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(usize::from(r.code()), i);
            assert_eq!(Reason::from_code(r.code()), Some(*r));
        }
        assert_eq!(Reason::from_code(200), None);
        assert_eq!(Decision::from_code(1), Some(Decision::Grant));
        assert_eq!(Decision::from_code(2), None);
        assert_eq!(Reason::Granted.decision(), Decision::Grant);
        assert_eq!(Reason::Superseded.decision(), Decision::Deny);
    }
}
