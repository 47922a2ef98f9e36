//! Deletion events: the `MESSAGE_DELETED` model, the delivery policy and the notifier port.
//!
//! Every committed deletion produces exactly one event, announced under the deletion's ID. Storage writes it to an outbox in the
//! deletion's own transaction; a dispatcher later hands it to a [`Notifier`] until a receiver
//! acknowledges it, retrying on the schedule of [`RetryPolicy`].

use crate::ids::{DeletionId, RoomId};
use chrono::{DateTime, Duration, Utc};

/// The event name of a deletion.
pub const MESSAGE_DELETED: &str = "MESSAGE_DELETED";

/// A deletion's event as stored in the outbox, ready to send. It is announced under the
/// deletion's own ID (the audit record's), stable across retries, so receivers can
/// de-duplicate by it; the body is built once, in the deletion's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEvent {
    /// The deletion announced (= the audit record's ID, the body's `id`).
    pub deletion: DeletionId,
    /// The room.
    pub room: RoomId,
    /// The exact JSON body to send (identical on every attempt).
    pub body: String,
}

/// Why a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The receiver answered with a non-2xx status.
    #[error("receiver answered HTTP {0}")]
    Status(u16),
    /// No answer: connection refused, timeout, DNS, TLS, ...
    #[error("receiver unreachable: {0}")]
    Transport(String),
    /// The destination is not allowed (the webhook address policy); retrying cannot help.
    #[error("destination refused: {0}")]
    Refused(String),
}

/// Sends one event to one destination.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Notifier: Send + Sync {
    /// Delivers `event` to `destination`. MUST return `Ok` only when the receiver
    /// acknowledged it (HTTP 2xx for webhooks), and MUST give up within its own timeout.
    fn notify(&self, destination: &str, event: &OutgoingEvent) -> Result<(), NotifyError>;
}

/// When to try again after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure.
    pub first_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
    /// How long after the event's creation retries go on before it is recorded as failed.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 2 s, doubling to a 5-minute cap, for 1 hour 10 minutes (so that the last attempts
    /// still fall after the first hour).
    fn default() -> Self {
        Self {
            first_delay: Duration::seconds(2),
            max_delay: Duration::minutes(5),
            give_up_after: Duration::minutes(70),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Stop and record the event as failed.
    GiveUp,
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt (1-based): `first_delay` doubled
    /// `attempts - 1` times, capped at `max_delay`.
    #[must_use]
    pub fn delay(&self, attempts: u32) -> Duration {
        let mut delay = self.first_delay;
        for _ in 1..attempts {
            delay = delay + delay;
            if delay >= self.max_delay {
                return self.max_delay;
            }
        }
        delay.min(self.max_delay)
    }

    /// After the `attempts`-th failure at `now` of an event created at `created_at`.
    #[must_use]
    pub fn after_failure(
        &self,
        attempts: u32,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> AfterFailure {
        if now - created_at >= self.give_up_after {
            AfterFailure::GiveUp
        } else {
            AfterFailure::RetryAt(now + self.delay(attempts))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_two_seconds_to_a_five_minute_cap() {
        let p = RetryPolicy::default();
        let secs: Vec<i64> = (1..=10).map(|n| p.delay(n).num_seconds()).collect();
        assert_eq!(secs, vec![2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(p.delay(1000).num_seconds(), 300);
    }

    #[test]
    fn retries_go_on_for_at_least_an_hour() {
        let p = RetryPolicy::default();
        let created = Utc::now();
        // Simulate an always-failing receiver: attempts at the scheduled times.
        let mut now = created;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match p.after_failure(attempts, created, now) {
                AfterFailure::RetryAt(next) => now = next,
                AfterFailure::GiveUp => break,
            }
        }
        assert!(
            now - created >= Duration::hours(1),
            "gave up after {:?}",
            now - created
        );
        assert!(attempts > 15, "{attempts} attempts");
    }
}
