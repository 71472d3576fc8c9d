//! The purpose-bound use of the access log (the office's "Activity Logs"
//! policy): its two permitted uses, the rules every look-up obeys, the
//! per-subject daily limit, cursors and pseudonyms.
//!
//! There is deliberately no "where is this person" or "last seen" query, no
//! subscription and no standing query: every look-up is a bounded window in
//! the past, inside the retention window, for a ticket (access resolution)
//! or a case (police, under the chief's signed request — see
//! [`crate::police`]), counted against its subject's daily limit, and
//! itself recorded in the look-up audit.

pub mod cursor;
pub mod limits;

use crate::clock::Micros;

/// Largest page of an access-resolution look-up.
pub const MAX_PAGE: usize = 1000;
/// Most records one police request returns.
pub const MAX_POLICE_RECORDS: usize = 10_000;

/// Why a look-up was refused before the journal was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No usable ticket reference.
    #[error("a troubleshooting ticket reference (1-64 characters: letters, digits, - _ . # /) is required")]
    Ticket,
    /// A time that is not RFC 3339.
    #[error("`{0}` must be an RFC 3339 time")]
    Time(&'static str),
    /// A window not wholly in the past and inside the retention window.
    #[error("the window must lie in the past and inside the {0}-day retention window")]
    Window(u32),
    /// A window reaching into the last minutes: that would follow a person
    /// live.
    #[error("the window must end at least {0} minutes ago: the access log is not for following anyone live")]
    Live(u64),
}

/// Checks a troubleshooting ticket reference.
pub fn check_ticket(t: &str) -> Result<(), LookupError> {
    let ok = !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.#/".contains(&b));
    ok.then_some(()).ok_or(LookupError::Ticket)
}

/// Parses an RFC 3339 time into µs since the epoch.
pub fn parse_time(field: &'static str, s: &str) -> Result<Micros, LookupError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp_nanos() / 1000).ok())
        .ok_or(LookupError::Time(field))
}

/// Checks that `[from, to)` lies in the past and inside the retention
/// window (`retention` µs, `days` for the message) at `now`.
pub fn check_window(
    from: Micros,
    to: Micros,
    now: Micros,
    retention: Micros,
    days: u32,
) -> Result<(), LookupError> {
    if from >= to || to > now || from < now.saturating_sub(retention) {
        return Err(LookupError::Window(days));
    }
    Ok(())
}

/// Checks that a window ends at least `min_age` µs before `now`.
pub fn check_not_live(to: Micros, now: Micros, min_age: Micros) -> Result<(), LookupError> {
    if to > now.saturating_sub(min_age) {
        return Err(LookupError::Live(min_age / 60_000_000));
    }
    Ok(())
}

/// The subject a card look-up counts against: its holder (one person),
/// or the card itself when no such card exists.
pub fn card_subject(cards: &crate::records::cards::CardBook, card: u64) -> String {
    match cards.get(card) {
        Ok(c) => format!("holder:{}", c.entry.holder),
        Err(_) => format!("card:{card}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_and_windows() {
        assert!(check_ticket("HD-4711").is_ok());
        assert_eq!(check_ticket(""), Err(LookupError::Ticket));
        assert_eq!(check_ticket("a b"), Err(LookupError::Ticket));
        assert_eq!(check_ticket(&"x".repeat(65)), Err(LookupError::Ticket));
        let day = 86_400_000_000;
        assert!(check_window(10 * day, 11 * day, 12 * day, 14 * day, 14).is_ok());
        assert!(check_window(10 * day, 13 * day, 12 * day, 14 * day, 14).is_err());
        assert!(check_window(0, day, 20 * day, 14 * day, 14).is_err());
        assert!(check_window(day, day, 2 * day, 14 * day, 14).is_err());
        assert_eq!(
            parse_time("from", "yesterday"),
            Err(LookupError::Time("from"))
        );
    }
}
