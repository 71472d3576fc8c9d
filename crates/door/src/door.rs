//! One door's supervision: from its contact and request-to-exit inputs,
//! its reader's tamper switch and whether its reader can be used, the
//! alarms that begin and end. Pure logic over a clock passed in, so every
//! rule is tested without a reader.
//!
//! The rules:
//! - **forced open**: the contact opens while the door is not authorised
//!   (no grant's strike window and no request to exit in force). A first
//!   report of "open" from a door whose state was unknown counts too: an
//!   unsupervised door is not assumed closed.
//! - **held open**: an authorised opening lasts longer than the door's held
//!   time. A forced door is already in alarm and is not also "held".
//! - Both end when the contact closes.
//! - **tamper**: the reader's tamper switch, begins and ends with it.
//! - **reader offline**: the reader unusable (no connection, no secure
//!   channel) for longer than the offline time; ends once it is usable.
//!   Contact state is kept across an outage: what happened meanwhile is
//!   unknown, and the `reader_offline` alarm says so.

use std::time::{Duration, Instant};

use portcullis_protocol::DoorEventKind;

/// An alarm beginning or ending at this door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// What.
    pub kind: DoorEventKind,
    /// Begins (`true`) or ends.
    pub begins: bool,
}

/// Door timings.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Strike released for this long after a grant; an opening within it is
    /// authorised.
    pub strike: Duration,
    /// An authorised opening may last this long.
    pub held_open: Duration,
    /// Unusable this long, the reader is reported offline.
    pub offline_after: Duration,
}

/// A door's state.
#[derive(Debug)]
pub struct Door {
    t: Timings,
    /// `None` until the reader first reports the contact.
    open: Option<bool>,
    opened_at: Option<Instant>,
    rex: bool,
    rex_released: Option<Instant>,
    granted_at: Option<Instant>,
    tamper: bool,
    usable: bool,
    unusable_since: Instant,
    forced: bool,
    held: bool,
    offline: bool,
}

impl Door {
    /// A door whose reader is not yet usable, as of `now`.
    pub fn new(t: Timings, now: Instant) -> Self {
        Self {
            t,
            open: None,
            opened_at: None,
            rex: false,
            rex_released: None,
            granted_at: None,
            tamper: false,
            usable: false,
            unusable_since: now,
            forced: false,
            held: false,
            offline: false,
        }
    }

    fn authorised(&self, now: Instant) -> bool {
        let within =
            |at: Option<Instant>| at.is_some_and(|a| now.duration_since(a) <= self.t.strike);
        self.rex || within(self.granted_at) || within(self.rex_released)
    }

    /// The strike was released for a grant.
    pub fn granted(&mut self, now: Instant) {
        self.granted_at = Some(now);
    }

    /// The request-to-exit input changed.
    pub fn rex(&mut self, pressed: bool, now: Instant) {
        if self.rex && !pressed {
            self.rex_released = Some(now);
        }
        self.rex = pressed;
    }

    /// The contact input reported `open`.
    pub fn contact(&mut self, open: bool, now: Instant, out: &mut Vec<Change>) {
        let was = self.open;
        self.open = Some(open);
        if was == Some(open) {
            return;
        }
        if open {
            self.opened_at = Some(now);
            if !self.authorised(now) && !self.forced {
                self.forced = true;
                out.push(Change {
                    kind: DoorEventKind::ForcedOpen,
                    begins: true,
                });
            }
        } else {
            self.opened_at = None;
            if self.forced {
                self.forced = false;
                out.push(Change {
                    kind: DoorEventKind::ForcedOpen,
                    begins: false,
                });
            }
            if self.held {
                self.held = false;
                out.push(Change {
                    kind: DoorEventKind::HeldOpen,
                    begins: false,
                });
            }
        }
    }

    /// The reader's tamper switch.
    pub fn tamper(&mut self, on: bool, out: &mut Vec<Change>) {
        if on != self.tamper {
            self.tamper = on;
            out.push(Change {
                kind: DoorEventKind::Tamper,
                begins: on,
            });
        }
    }

    /// Whether the reader is usable (online, with a secure channel unless
    /// the door allows otherwise).
    pub fn reader_usable(&mut self, usable: bool, now: Instant, out: &mut Vec<Change>) {
        if usable == self.usable {
            return;
        }
        self.usable = usable;
        if usable {
            if self.offline {
                self.offline = false;
                out.push(Change {
                    kind: DoorEventKind::ReaderOffline,
                    begins: false,
                });
            }
        } else {
            self.unusable_since = now;
        }
    }

    /// Time passing: held-open and reader-offline alarms begin here.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Change>) {
        if let Some(at) = self.opened_at {
            if !self.forced && !self.held && now.duration_since(at) > self.t.held_open {
                self.held = true;
                out.push(Change {
                    kind: DoorEventKind::HeldOpen,
                    begins: true,
                });
            }
        }
        if !self.usable
            && !self.offline
            && now.duration_since(self.unusable_since) >= self.t.offline_after
        {
            self.offline = true;
            out.push(Change {
                kind: DoorEventKind::ReaderOffline,
                begins: true,
            });
        }
    }

    /// Whether any alarm is in force at this door.
    pub fn in_alarm(&self) -> bool {
        self.forced || self.held || self.tamper || self.offline
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DoorEventKind::*;

    const T: Timings = Timings {
        strike: Duration::from_secs(3),
        held_open: Duration::from_secs(10),
        offline_after: Duration::from_secs(2),
    };

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ch(kind: DoorEventKind, begins: bool) -> Change {
        Change { kind, begins }
    }

    fn online(t0: Instant) -> Door {
        let mut d = Door::new(T, t0);
        let mut out = Vec::new();
        d.reader_usable(true, t0, &mut out);
        d.contact(false, t0, &mut out);
        assert!(out.is_empty());
        d
    }

    #[test]
    fn opening_without_grant_or_exit_request_is_forced_until_closed() {
        let t0 = Instant::now();
        let mut d = online(t0);
        let mut out = Vec::new();
        d.contact(true, t0 + s(1), &mut out);
        assert_eq!(out, [ch(ForcedOpen, true)]);
        out.clear();
        // Forced is not also held.
        d.tick(t0 + s(60), &mut out);
        assert!(out.is_empty());
        d.contact(true, t0 + s(61), &mut out);
        assert!(out.is_empty(), "a repeated report changes nothing");
        d.contact(false, t0 + s(62), &mut out);
        assert_eq!(out, [ch(ForcedOpen, false)]);
        assert!(!d.in_alarm());
    }

    #[test]
    fn a_grant_authorises_one_strike_window_then_held_open_counts() {
        let t0 = Instant::now();
        let mut d = online(t0);
        let mut out = Vec::new();
        d.granted(t0);
        d.contact(true, t0 + s(2), &mut out);
        assert!(out.is_empty());
        d.tick(t0 + s(12), &mut out);
        assert!(out.is_empty(), "10 s held time not yet exceeded");
        d.tick(t0 + s(13), &mut out);
        assert_eq!(out, [ch(HeldOpen, true)]);
        out.clear();
        d.tick(t0 + s(14), &mut out);
        assert!(out.is_empty(), "begins once");
        d.contact(false, t0 + s(20), &mut out);
        assert_eq!(out, [ch(HeldOpen, false)]);
        out.clear();
        // The grant's window is over: the next opening is forced.
        d.contact(true, t0 + s(21), &mut out);
        assert_eq!(out, [ch(ForcedOpen, true)]);
    }

    #[test]
    fn request_to_exit_authorises_while_pressed_and_shortly_after() {
        let t0 = Instant::now();
        let mut d = online(t0);
        let mut out = Vec::new();
        d.rex(true, t0);
        d.contact(true, t0 + s(1), &mut out);
        d.contact(false, t0 + s(2), &mut out);
        d.rex(false, t0 + s(2));
        d.contact(true, t0 + s(4), &mut out);
        d.contact(false, t0 + s(5), &mut out);
        assert!(out.is_empty(), "{out:?}");
        d.contact(true, t0 + s(9), &mut out);
        assert_eq!(out, [ch(ForcedOpen, true)]);
    }

    #[test]
    fn a_first_report_of_open_is_forced() {
        let t0 = Instant::now();
        let mut d = Door::new(T, t0);
        let mut out = Vec::new();
        d.reader_usable(true, t0, &mut out);
        d.contact(true, t0, &mut out);
        assert_eq!(out, [ch(ForcedOpen, true)]);
    }

    #[test]
    fn tamper_and_reader_offline_begin_and_end() {
        let t0 = Instant::now();
        let mut d = online(t0);
        let mut out = Vec::new();
        d.tamper(true, &mut out);
        d.tamper(true, &mut out);
        d.tamper(false, &mut out);
        assert_eq!(out, [ch(Tamper, true), ch(Tamper, false)]);
        out.clear();
        d.reader_usable(false, t0 + s(10), &mut out);
        d.tick(t0 + s(11), &mut out);
        assert!(out.is_empty(), "a short outage is not reported");
        d.tick(t0 + s(12), &mut out);
        assert_eq!(out, [ch(ReaderOffline, true)]);
        out.clear();
        d.reader_usable(true, t0 + s(13), &mut out);
        assert_eq!(out, [ch(ReaderOffline, false)]);
        out.clear();
        // A blip that recovers inside the offline time reports nothing.
        d.reader_usable(false, t0 + s(20), &mut out);
        d.tick(t0 + s(21), &mut out);
        d.reader_usable(true, t0 + s(21), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_reader_that_never_comes_up_is_offline() {
        let t0 = Instant::now();
        let mut d = Door::new(T, t0);
        let mut out = Vec::new();
        d.tick(t0 + s(2), &mut out);
        assert_eq!(out, [ch(ReaderOffline, true)]);
        assert!(d.in_alarm());
    }
}
