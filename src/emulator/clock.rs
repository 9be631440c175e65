//! Time as the emulator sees it. Everything time-dependent (LRO completion, throttling refill,
//! "new principal" windows) reads this clock, so tests can drive it exactly with [`ManualClock`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of "now", as time since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Duration;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }
}

/// A clock that only moves when told to (nanosecond resolution).
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// Starts at 2026-01-01T00:00:00Z so timestamps in bodies look plausible.
    pub fn new() -> Self {
        ManualClock {
            nanos: Arc::new(AtomicU64::new(1_767_225_600 * 1_000_000_000)),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// RFC 3339 with 7 fractional digits, the way ARM writes timestamps.
pub fn rfc3339(t: Duration) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos() as i128)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let base = dt
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    format!("{base}.{:07}Z", dt.nanosecond() / 100)
}
