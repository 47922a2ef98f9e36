//! Times as the API stores and shows them.

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
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
