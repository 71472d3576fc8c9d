//! Time as the appliance sees it.
//!
//! Every decision record is stamped with this clock and the 14-day retention
//! window is measured against it, so tests can move time instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch.
pub type Micros = u64;

/// One day in microseconds.
pub const DAY_MICROS: Micros = 86_400 * 1_000_000;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// Current time in microseconds since the Unix epoch.
    fn now_micros(&self) -> Micros;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> Micros {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as Micros)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; for tests and drills.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `start` microseconds.
    pub fn new(start: Micros) -> Self {
        Self {
            now: Arc::new(AtomicU64::new(start)),
        }
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now_micros())
    }

    /// Move the clock forward by `micros`.
    pub fn advance(&self, micros: Micros) {
        self.now.fetch_add(micros, Ordering::SeqCst);
    }

    /// Set the clock to `micros`.
    pub fn set(&self, micros: Micros) {
        self.now.store(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> Micros {
        self.now.load(Ordering::SeqCst)
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// Formats microseconds since the epoch as RFC 3339 (UTC), for humans.
pub fn rfc3339(micros: Micros) -> String {
    let nanos = i128::from(micros) * 1000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{micros}us"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000);
        assert_eq!(c.now_micros(), 1_000);
        c.advance(DAY_MICROS);
        assert_eq!(c.now_micros(), 1_000 + DAY_MICROS);
        c.set(5);
        assert_eq!(c.now_micros(), 5);
    }

    #[test]
    fn rfc3339_formats_epoch() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
