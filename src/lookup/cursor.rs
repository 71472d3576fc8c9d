//! Journal look-up cursors and per-look-up pseudonyms.
//!
//! A paginated look-up is one look-up: it is counted against the daily
//! per-subject limit when its first page is read, and its later pages are
//! reached only with the cursor the appliance handed out. A cursor is
//! `time.seq.issued.mac`, where the MAC (HMAC-SHA256 under a key that lives
//! only in this process) binds the position to the caller and to every
//! parameter of the look-up; a cursor made up, altered, reused for another
//! subject or window, or older than [`CURSOR_LIFETIME`] is refused.
//!
//! Look-ups by door or reader troubleshoot equipment, not people: their
//! records name cards by a pseudonym that is stable within one look-up (so
//! "the same card failed five times" is visible) and meaningless outside it.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::clock::Micros;

/// How long a cursor stays usable after the first page.
pub const CURSOR_LIFETIME: Micros = 3_600 * 1_000_000;

/// Why a cursor was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not of the form the appliance hands out.
    #[error("`after` must be the `next` value of a previous page")]
    Malformed,
    /// The MAC does not match: altered, or for another look-up or caller.
    #[error("`after` does not belong to this look-up (same caller, subject, window and ticket)")]
    Foreign,
    /// Older than the cursor lifetime.
    #[error("this look-up's cursor has expired; start the look-up again")]
    Expired,
}

/// A verified position inside a look-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// When the look-up's first page was read (µs).
    pub issued: Micros,
    /// The last record already returned: (time µs, sequence).
    pub after: (Micros, u64),
}

/// The cursor and pseudonym key of this process.
pub struct Pager {
    key: [u8; 32],
}

impl std::fmt::Debug for Pager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pager(<key>)")
    }
}

impl Default for Pager {
    fn default() -> Self {
        Self::new()
    }
}

impl Pager {
    /// A pager with a fresh random key.
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self { key }
    }

    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m
    }

    /// The cursor continuing look-up `scope` (caller and every parameter)
    /// after `after`; `issued` is when its first page was read.
    pub fn cursor(&self, scope: &str, issued: Micros, after: (Micros, u64)) -> String {
        let (t, s) = after;
        let tag = self
            .mac(&[
                b"cursor",
                scope.as_bytes(),
                &issued.to_be_bytes(),
                &t.to_be_bytes(),
                &s.to_be_bytes(),
            ])
            .finalize()
            .into_bytes();
        format!("{t}.{s}.{issued}.{}", hex::encode(&tag[..16]))
    }

    /// Checks a cursor handed out for `scope` at `now`.
    pub fn verify(&self, scope: &str, cursor: &str, now: Micros) -> Result<Position, CursorError> {
        let mut it = cursor.split('.');
        let mut num = || -> Result<u64, CursorError> {
            it.next()
                .and_then(|p| p.parse().ok())
                .ok_or(CursorError::Malformed)
        };
        let (t, s, issued) = (num()?, num()?, num()?);
        let tag = it
            .next()
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() == 16)
            .ok_or(CursorError::Malformed)?;
        if it.next().is_some() {
            return Err(CursorError::Malformed);
        }
        self.mac(&[
            b"cursor",
            scope.as_bytes(),
            &issued.to_be_bytes(),
            &t.to_be_bytes(),
            &s.to_be_bytes(),
        ])
        .verify_truncated_left(&tag)
        .map_err(|_| CursorError::Foreign)?;
        if now.saturating_sub(issued) > CURSOR_LIFETIME {
            return Err(CursorError::Expired);
        }
        Ok(Position {
            issued,
            after: (t, s),
        })
    }

    /// The pseudonym of `card` inside look-up `scope` begun at `issued`.
    pub fn pseudonym(&self, scope: &str, issued: Micros, card: u64) -> String {
        let tag = self
            .mac(&[
                b"pseudonym",
                scope.as_bytes(),
                &issued.to_be_bytes(),
                &card.to_be_bytes(),
            ])
            .finalize()
            .into_bytes();
        hex::encode(&tag[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_bind_scope_and_expire() {
        let p = Pager::new();
        let c = p.cursor("a|card:1", 1_000, (5, 6));
        assert_eq!(
            p.verify("a|card:1", &c, 2_000),
            Ok(Position {
                issued: 1_000,
                after: (5, 6)
            })
        );
        assert_eq!(p.verify("a|card:2", &c, 2_000), Err(CursorError::Foreign));
        assert_eq!(
            Pager::new().verify("a|card:1", &c, 2_000),
            Err(CursorError::Foreign)
        );
        let moved = c.replacen("5.", "4.", 1);
        assert_eq!(
            p.verify("a|card:1", &moved, 2_000),
            Err(CursorError::Foreign)
        );
        assert_eq!(
            p.verify("a|card:1", "0:0", 2_000),
            Err(CursorError::Malformed)
        );
        assert_eq!(
            p.verify("a|card:1", &c, 1_000 + CURSOR_LIFETIME + 1),
            Err(CursorError::Expired)
        );
        assert_eq!(
            p.pseudonym("s", 1, 7),
            p.pseudonym("s", 1, 7),
            "stable within a look-up"
        );
        assert_ne!(p.pseudonym("s", 1, 7), p.pseudonym("s", 2, 7));
    }
}
