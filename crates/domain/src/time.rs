//! Times as the API stores and shows them, and the [`Clock`] the server reads them from.

use chrono::{DateTime, Utc};

/// Truncates a time to whole milliseconds, the precision of every stored and shown time.
#[must_use]
pub fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// ISO 8601 UTC with milliseconds and `Z` (`2023-10-15T10:30:45.123Z`), the format of every
/// time the API and the events show.
#[must_use]
pub fn iso8601(t: DateTime<Utc>) -> String {
    // Not `format("%Y-…")`, which parses its format string on every call.
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Where the time comes from. One clock is given at the edge (the server's start-up, an
/// embedding service, a test) to the store and to the handlers alike, so that the time a
/// request is recorded at and the time its reads are judged at (the retention's cutoff, a
/// token's expiry, an idempotency key's lease) come from the same source.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that is the system's moved by an offset that can be changed while it is shared:
/// for tests (and drills) that need a later time, such as messages past a retention,
/// without waiting for it.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: std::sync::atomic::AtomicI64,
}

impl OffsetClock {
    /// The system's clock, not moved yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock on by `by` (back, when negative), from wherever it is.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = self.offset_ms.load(std::sync::atomic::Ordering::SeqCst);
        Utc::now() + chrono::Duration::milliseconds(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_is_utc_with_milliseconds_and_z() {
        for (ms, shown) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_697_365_845_123, "2023-10-15T10:30:45.123Z"),
            (1_697_365_845_000, "2023-10-15T10:30:45.000Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ] {
            let t = DateTime::from_timestamp_millis(ms).expect("in range");
            assert_eq!(iso8601(t), shown);
        }
    }

    #[test]
    fn an_offset_clock_runs_ahead_by_what_it_was_moved() {
        let clock = OffsetClock::new();
        let system = SystemClock;
        assert!((clock.now() - system.now()).num_seconds().abs() < 60);
        clock.advance(chrono::Duration::days(8));
        clock.advance(chrono::Duration::days(-1));
        let ahead = clock.now() - system.now();
        assert!(ahead > chrono::Duration::days(7) - chrono::Duration::minutes(1));
        assert!(ahead < chrono::Duration::days(7) + chrono::Duration::minutes(1));
    }
}
