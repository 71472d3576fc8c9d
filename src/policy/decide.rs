//! The decision itself: transform, map look-up, card state, then the
//! holder's status and access levels for this door at this time. No I/O, so
//! it is benchmarked on its own.

use crate::crypto::numbers::{journal_tag, AccessNumber, Transform};
use crate::policy::credentials::CredentialMap;
use crate::policy::levels::AccessControl;
use crate::protocol::{Credential, Reason};

/// The outcome of one verification, before journaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Why (implies the decision).
    pub reason: Reason,
    /// Card id, 0 for unknown numbers.
    pub card: u64,
    /// Journal tag for unknown numbers, else 0.
    pub tag: u64,
}

/// Decides on `credential` at `door` at `now_secs`: the card's own state
/// first, then the holder's status and access levels.
#[inline]
pub fn decide(
    transform: &Transform,
    map: &CredentialMap,
    access: &AccessControl,
    credential: &Credential,
    door: u32,
    now_secs: u32,
) -> Verdict {
    match credential {
        Credential::Random128(n) => {
            let d = transform.digest(&AccessNumber(*n));
            match map.get(d) {
                Some(e) => {
                    let mut reason = e.card_reason(now_secs);
                    if reason == Reason::Granted {
                        reason = access.check(u64::from(e.holder), door, now_secs);
                    }
                    Verdict {
                        reason,
                        card: e.card_id,
                        tag: 0,
                    }
                }
                None => Verdict {
                    reason: Reason::Unknown,
                    card: 0,
                    tag: journal_tag(d),
                },
            }
        }
        Credential::Unsupported { .. } => Verdict {
            reason: Reason::UnsupportedFormat,
            card: 0,
            tag: 0,
        },
    }
}
