//! Access levels: which doors a cardholder may open, and when.
//!
//! A **door group** is a named set of doors. A **schedule** is a set of
//! weekly time windows in the appliance's configured time zone, closed on
//! holidays unless it says otherwise. A **level** joins a door group to a
//! schedule (or to "always") with an optional validity window. A cardholder
//! holds levels.
//!
//! Everything is compiled ahead of time: per holder, a map from door to its
//! grants, each with a 10 080-bit week bitmap. A verification does one hash
//! look-up and a bit test, no storage I/O; the local minute of the week is
//! cached per wall-clock minute.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::protocol::Reason;

/// Minutes in a week.
pub const WEEK_MINUTES: usize = 7 * 24 * 60;

/// A weekly time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Days: mon, tue, wed, thu, fri, sat, sun.
    pub days: Vec<String>,
    /// Start, "HH:MM" (inclusive).
    pub from: String,
    /// End, "HH:MM" (exclusive; "24:00" is the end of the day).
    pub to: String,
}

/// A named weekly schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Windows during which the schedule is open.
    pub windows: Vec<Window>,
    /// Whether the schedule is also open on holidays (default: closed).
    #[serde(default)]
    pub open_on_holidays: bool,
}

/// A named access level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// The door group it opens.
    pub door_group: String,
    /// The schedule; `None` means at all times.
    #[serde(default)]
    pub schedule: Option<String>,
    /// First valid day, YYYY-MM-DD (local), inclusive.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// Last valid day, YYYY-MM-DD (local), inclusive.
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// Every definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definitions {
    /// Door groups by name.
    pub door_groups: BTreeMap<String, Vec<u32>>,
    /// Schedules by name.
    pub schedules: BTreeMap<String, Schedule>,
    /// Levels by name.
    pub levels: BTreeMap<String, Level>,
    /// Holidays, YYYY-MM-DD (local).
    pub holidays: BTreeSet<String>,
}

/// A definition that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LevelError(pub String);

fn bad(m: impl Into<String>) -> LevelError {
    LevelError(m.into())
}

/// Names of groups, schedules and levels: short, from a restricted alphabet.
pub fn check_name(name: &str) -> Result<(), LevelError> {
    if !crate::pki::identity::is_valid_name(name) {
        return Err(bad(format!(
            "names are {}",
            crate::pki::identity::NAME_RULE
        )));
    }
    Ok(())
}

fn parse_hm(s: &str) -> Option<usize> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (usize, usize) = (h.parse().ok()?, m.parse().ok()?);
    if (h < 24 && m < 60) || (h == 24 && m == 0) {
        Some(h * 60 + m)
    } else {
        None
    }
}

fn day_index(d: &str) -> Option<usize> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|x| *x == d)
}

/// Parses a YYYY-MM-DD day into days since the Unix epoch.
pub fn parse_day(s: &str) -> Option<i32> {
    let d: jiff::civil::Date = s.parse().ok()?;
    let epoch = jiff::civil::date(1970, 1, 1);
    Some(epoch.until(d).ok()?.get_days())
}

/// A week bitmap, one bit per minute from Monday 00:00.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekBits {
    bits: Box<[u64]>,
    open_on_holidays: bool,
}

impl WeekBits {
    /// Compiles a schedule.
    pub fn compile(s: &Schedule) -> Result<WeekBits, LevelError> {
        let mut bits = vec![0u64; WEEK_MINUTES.div_ceil(64)].into_boxed_slice();
        if s.windows.is_empty() || s.windows.len() > 64 {
            return Err(bad("a schedule has between 1 and 64 windows"));
        }
        for w in &s.windows {
            let from =
                parse_hm(&w.from).ok_or_else(|| bad("window times are HH:MM, 00:00 to 24:00"))?;
            let to =
                parse_hm(&w.to).ok_or_else(|| bad("window times are HH:MM, 00:00 to 24:00"))?;
            if from >= to {
                return Err(bad("a window's `from` must be before its `to`"));
            }
            if w.days.is_empty() || w.days.len() > 7 {
                return Err(bad("a window names between one and seven days"));
            }
            let mut days = [false; 7];
            for d in &w.days {
                let day = day_index(d)
                    .ok_or_else(|| bad("days are mon, tue, wed, thu, fri, sat, sun"))?;
                days[day] = true;
            }
            for day in (0..7).filter(|d| days[*d]) {
                for m in day * 1440 + from..day * 1440 + to {
                    bits[m / 64] |= 1 << (m % 64);
                }
            }
        }
        Ok(WeekBits {
            bits,
            open_on_holidays: s.open_on_holidays,
        })
    }

    /// Whether the schedule is open at `minute_of_week`.
    #[inline]
    pub fn open(&self, minute_of_week: usize, holiday: bool) -> bool {
        if holiday && !self.open_on_holidays {
            return false;
        }
        self.bits
            .get(minute_of_week / 64)
            .is_some_and(|w| w & (1 << (minute_of_week % 64)) != 0)
    }
}

/// A fast hasher for small integer keys (holder ids, door numbers), which
/// need no protection against chosen-key flooding: they are assigned by the
/// appliance or configured by the office.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(26);
    }
}

type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// One compiled grant of a door.
#[derive(Debug, Clone)]
struct Grant {
    schedule: Option<Arc<WeekBits>>,
    /// First valid local day (days since epoch), inclusive.
    from_day: i32,
    /// Last valid local day, inclusive.
    until_day: i32,
}

/// What one holder may open.
#[derive(Debug, Clone, Default)]
pub struct HolderAccess {
    /// Whether the holder is active (not left, not on leave).
    pub active: bool,
    doors: IdMap<u32, Vec<Grant>>,
}

/// The local time facts a decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalNow {
    /// Minute of the week, Monday 00:00 = 0.
    pub minute_of_week: usize,
    /// Local day (days since the Unix epoch).
    pub day: i32,
    /// Whether the day is a holiday.
    pub holiday: bool,
}

/// Access control: definitions, compiled holders, the local clock.
pub struct AccessControl {
    tz: jiff::tz::TimeZone,
    defs: RwLock<Definitions>,
    compiled_schedules: RwLock<HashMap<String, Arc<WeekBits>>>,
    holders: DashMap<u64, HolderAccess, std::hash::BuildHasherDefault<IdHasher>>,
    holder_levels: DashMap<u64, (bool, Vec<String>)>,
    /// The local facts of one wall-clock minute in a single word, so a
    /// reader can never pair one minute's stamp with another's facts; see
    /// [`AccessControl::local_now`]. 0 = empty.
    cache: AtomicU64,
}

impl std::fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessControl")
            .field("holders", &self.holders.len())
            .finish()
    }
}

impl AccessControl {
    /// Access control in time zone `tz` (an IANA name such as
    /// `America/New_York`).
    pub fn new(tz: &str) -> Result<Self, LevelError> {
        let tz =
            jiff::tz::TimeZone::get(tz).map_err(|_| bad(format!("unknown time zone `{tz}`")))?;
        Ok(Self {
            tz,
            defs: RwLock::new(Definitions::default()),
            compiled_schedules: RwLock::new(HashMap::new()),
            holders: DashMap::default(),
            holder_levels: DashMap::new(),
            cache: AtomicU64::new(0),
        })
    }

    /// Checks a complete set of definitions for consistency.
    pub fn validate(defs: &Definitions) -> Result<(), LevelError> {
        for (name, doors) in &defs.door_groups {
            check_name(name)?;
            if doors.is_empty() || doors.len() > 100_000 {
                return Err(bad(format!(
                    "door group {name} must have between 1 and 100000 doors"
                )));
            }
        }
        for (name, s) in &defs.schedules {
            check_name(name)?;
            WeekBits::compile(s)?;
        }
        for (name, l) in &defs.levels {
            check_name(name)?;
            if !defs.door_groups.contains_key(&l.door_group) {
                return Err(bad(format!(
                    "level {name}: no door group named {}",
                    l.door_group
                )));
            }
            if let Some(s) = &l.schedule {
                if !defs.schedules.contains_key(s) {
                    return Err(bad(format!("level {name}: no schedule named {s}")));
                }
            }
            let from = match &l.valid_from {
                Some(d) => Some(parse_day(d).ok_or_else(|| bad("validity dates are YYYY-MM-DD"))?),
                None => None,
            };
            let until = match &l.valid_until {
                Some(d) => Some(parse_day(d).ok_or_else(|| bad("validity dates are YYYY-MM-DD"))?),
                None => None,
            };
            if let (Some(f), Some(u)) = (from, until) {
                if f > u {
                    return Err(bad(format!(
                        "level {name}: valid_from is after valid_until"
                    )));
                }
            }
        }
        for d in &defs.holidays {
            parse_day(d).ok_or_else(|| bad("holidays are YYYY-MM-DD"))?;
        }
        Ok(())
    }

    /// A copy of the definitions.
    pub fn definitions(&self) -> Definitions {
        self.defs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the definitions (already validated and persisted) and
    /// recompiles every holder.
    pub fn install(&self, defs: Definitions) -> Result<(), LevelError> {
        Self::validate(&defs)?;
        let mut compiled = HashMap::new();
        for (name, s) in &defs.schedules {
            compiled.insert(name.clone(), Arc::new(WeekBits::compile(s)?));
        }
        *self
            .compiled_schedules
            .write()
            .unwrap_or_else(|p| p.into_inner()) = compiled;
        *self.defs.write().unwrap_or_else(|p| p.into_inner()) = defs;
        self.cache.store(0, Ordering::SeqCst);
        let ids: Vec<u64> = self.holder_levels.iter().map(|e| *e.key()).collect();
        for id in ids {
            if let Some(e) = self.holder_levels.get(&id).map(|e| e.clone()) {
                self.compile_holder(id, e.0, &e.1);
            }
        }
        Ok(())
    }

    /// Sets (and compiles) one holder's state and levels.
    pub fn set_holder(&self, holder: u64, active: bool, levels: Vec<String>) {
        self.compile_holder(holder, active, &levels);
        self.holder_levels.insert(holder, (active, levels));
    }

    /// Checks that every named level exists.
    pub fn check_levels(&self, levels: &[String]) -> Result<(), LevelError> {
        let defs = self.defs.read().unwrap_or_else(|p| p.into_inner());
        for l in levels {
            if !defs.levels.contains_key(l) {
                return Err(bad(format!("no access level named {l}")));
            }
        }
        Ok(())
    }

    fn compile_holder(&self, holder: u64, active: bool, levels: &[String]) {
        let defs = self.defs.read().unwrap_or_else(|p| p.into_inner());
        let schedules = self
            .compiled_schedules
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut doors: IdMap<u32, Vec<Grant>> = IdMap::default();
        for name in levels {
            let Some(level) = defs.levels.get(name) else {
                continue;
            };
            let Some(group) = defs.door_groups.get(&level.door_group) else {
                continue;
            };
            let grant = Grant {
                schedule: level
                    .schedule
                    .as_ref()
                    .and_then(|s| schedules.get(s).cloned()),
                from_day: level
                    .valid_from
                    .as_deref()
                    .and_then(parse_day)
                    .unwrap_or(i32::MIN),
                until_day: level
                    .valid_until
                    .as_deref()
                    .and_then(parse_day)
                    .unwrap_or(i32::MAX),
            };
            for d in group {
                doors.entry(*d).or_default().push(grant.clone());
            }
        }
        self.holders.insert(holder, HolderAccess { active, doors });
    }

    /// The local time facts for `unix_secs`, cached per minute in one
    /// atomic word: unix minute (26 bits, to 2097) ‖ local day (22 bits) ‖
    /// minute of week (14 bits) ‖ holiday (1 bit).
    pub fn local_now(&self, unix_secs: u32) -> LocalNow {
        let minute = u64::from(unix_secs / 60) & ((1 << 26) - 1);
        let word = self.cache.load(Ordering::Acquire);
        if word != 0 && word >> 37 == minute {
            return LocalNow {
                minute_of_week: ((word >> 1) & 0x3FFF) as usize,
                holiday: word & 1 != 0,
                day: ((word >> 15) & 0x3F_FFFF) as i32,
            };
        }
        let now = self.compute_local(unix_secs);
        if (0..1 << 22).contains(&now.day) {
            let word = (minute << 37)
                | ((now.day as u64) << 15)
                | ((now.minute_of_week as u64) << 1)
                | u64::from(now.holiday);
            self.cache.store(word, Ordering::Release);
        }
        now
    }

    /// Where `unix_secs` falls in the access time zone's week: the minute
    /// of the week (Monday 00:00 is 0) and whether the day is a holiday.
    pub fn local_week_minute(&self, unix_secs: u32) -> (usize, bool) {
        let l = self.compute_local(unix_secs);
        (l.minute_of_week, l.holiday)
    }

    fn compute_local(&self, unix_secs: u32) -> LocalNow {
        let ts = jiff::Timestamp::from_second(i64::from(unix_secs))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let z = ts.to_zoned(self.tz.clone());
        let weekday = z.weekday().to_monday_zero_offset() as usize;
        let minute_of_week = weekday * 1440 + z.hour() as usize * 60 + z.minute() as usize;
        let date = z.date();
        let day = jiff::civil::date(1970, 1, 1)
            .until(date)
            .map(|s| s.get_days())
            .unwrap_or(0);
        let holiday = self
            .defs
            .read()
            .map(|d| d.holidays.contains(&date.to_string()))
            .unwrap_or(false);
        LocalNow {
            minute_of_week,
            day,
            holiday,
        }
    }

    /// The holder-and-door part of a decision, for a card that is itself
    /// valid. No I/O.
    #[inline]
    pub fn check(&self, holder: u64, door: u32, unix_secs: u32) -> Reason {
        // The shard guard is held only for this evaluation: no clone, no
        // shared reference count touched per request.
        let Some(access) = self.holders.get(&holder) else {
            return Reason::HolderInactive;
        };
        if !access.active {
            return Reason::HolderInactive;
        }
        let Some(grants) = access.doors.get(&door) else {
            return Reason::DoorNotPermitted;
        };
        let now = self.local_now(unix_secs);
        let mut in_window = false;
        for g in grants {
            if now.day < g.from_day || now.day > g.until_day {
                continue;
            }
            in_window = true;
            match &g.schedule {
                None => return Reason::Granted,
                Some(s) if s.open(now.minute_of_week, now.holiday) => return Reason::Granted,
                Some(_) => {}
            }
        }
        if in_window {
            Reason::OutsideSchedule
        } else {
            Reason::DoorNotPermitted
        }
    }

    /// Forgets a holder (not used by the API: holders are never deleted
    /// while cards reference them).
    pub fn holder_count(&self) -> usize {
        self.holders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Definitions {
        let mut d = Definitions::default();
        d.door_groups.insert("labs".into(), vec![10, 11]);
        d.schedules.insert(
            "office-hours".into(),
            Schedule {
                windows: vec![Window {
                    days: vec![
                        "mon".into(),
                        "tue".into(),
                        "wed".into(),
                        "thu".into(),
                        "fri".into(),
                    ],
                    from: "08:00".into(),
                    to: "18:00".into(),
                }],
                open_on_holidays: false,
            },
        );
        d.levels.insert(
            "lab-days".into(),
            Level {
                door_group: "labs".into(),
                schedule: Some("office-hours".into()),
                valid_from: None,
                valid_until: Some("2030-12-31".into()),
            },
        );
        d.holidays.insert("2026-12-25".into());
        d
    }

    fn secs(s: &str) -> u32 {
        let z: jiff::Zoned = format!("{s}[UTC]").parse().unwrap();
        z.timestamp().as_second() as u32
    }

    #[test]
    fn schedule_doors_holidays_and_windows() {
        let ac = AccessControl::new("UTC").unwrap();
        ac.install(defs()).unwrap();
        ac.set_holder(1, true, vec!["lab-days".into()]);
        // Monday 2026-11-23 10:00 UTC.
        assert_eq!(
            ac.check(1, 10, secs("2026-11-23T10:00:00")),
            Reason::Granted
        );
        assert_eq!(
            ac.check(1, 12, secs("2026-11-23T10:00:00")),
            Reason::DoorNotPermitted
        );
        assert_eq!(
            ac.check(1, 10, secs("2026-11-23T19:00:00")),
            Reason::OutsideSchedule
        );
        // Saturday.
        assert_eq!(
            ac.check(1, 10, secs("2026-11-28T10:00:00")),
            Reason::OutsideSchedule
        );
        // Christmas, a Friday: closed.
        assert_eq!(
            ac.check(1, 10, secs("2026-12-25T10:00:00")),
            Reason::OutsideSchedule
        );
        // After the level's validity.
        assert_eq!(
            ac.check(1, 10, secs("2031-01-06T10:00:00")),
            Reason::DoorNotPermitted
        );
        // Inactive holder, unknown holder.
        ac.set_holder(1, false, vec!["lab-days".into()]);
        assert_eq!(
            ac.check(1, 10, secs("2026-11-23T10:00:00")),
            Reason::HolderInactive
        );
        assert_eq!(
            ac.check(2, 10, secs("2026-11-23T10:00:00")),
            Reason::HolderInactive
        );
    }

    #[test]
    fn minute_cache_round_trips_and_follows_the_clock() {
        let ac = AccessControl::new("UTC").unwrap();
        ac.install(defs()).unwrap();
        let t = secs("2026-11-23T10:07:30");
        let first = ac.local_now(t);
        assert_eq!(ac.local_now(t + 20), first, "same minute: cached");
        assert_eq!(first.minute_of_week, 10 * 60 + 7);
        let next = ac.local_now(t + 60);
        assert_eq!(next.minute_of_week, 10 * 60 + 8);
        assert!(ac.local_now(secs("2026-12-25T00:00:00")).holiday);
    }

    #[test]
    fn time_zone_applies() {
        let ac = AccessControl::new("America/New_York").unwrap();
        ac.install(defs()).unwrap();
        ac.set_holder(1, true, vec!["lab-days".into()]);
        // 14:00 UTC is 09:00 in New York (EST): open. 12:00 UTC is 07:00: closed.
        assert_eq!(
            ac.check(1, 10, secs("2026-11-23T14:00:00")),
            Reason::Granted
        );
        assert_eq!(
            ac.check(1, 10, secs("2026-11-23T12:00:00")),
            Reason::OutsideSchedule
        );
    }

    #[test]
    fn inconsistent_definitions_are_refused() {
        let mut d = defs();
        d.levels.get_mut("lab-days").unwrap().door_group = "nope".into();
        assert!(AccessControl::validate(&d).is_err());
        let mut d = defs();
        d.schedules.get_mut("office-hours").unwrap().windows[0].from = "19:00".into();
        assert!(AccessControl::validate(&d).is_err());
        let mut d = defs();
        d.holidays.insert("Dec 25".into());
        assert!(AccessControl::validate(&d).is_err());
    }
}
