//! Deletion events: the `MESSAGE_DELETED` model, the delivery policy and the notifier port.
//!
//! Every committed deletion produces exactly one event, announced under the deletion's ID. Storage writes it to an outbox in the
//! deletion's own transaction; a dispatcher later hands it to a [`Notifier`] until a receiver
//! acknowledges it, retrying on the schedule of [`RetryPolicy`]. Operators see each event and
//! its delivery as an [`EventDelivery`] and can send one again ([`Redelivered`]), through the
//! [`crate::ports::EventLog`] port.

use crate::ids::{DeletionId, RoomId};
use crate::model::Deletion;
use chrono::{DateTime, Duration, Utc};

/// The event name of a deletion.
pub const MESSAGE_DELETED: &str = "MESSAGE_DELETED";

/// The event name of a new report ([`crate::report`]).
pub const MESSAGE_REPORTED: &str = "MESSAGE_REPORTED";

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

/// How a deletion's event is written: the body of its webhook. Storage calls it in the
/// deletion's transaction and keeps the bytes in the outbox, then sends them unchanged on
/// every attempt and redelivery; the server supplies its wire format (docs/events.md).
pub trait EventEncoder: Send + Sync + std::fmt::Debug {
    /// The webhook body announcing `deletion`, its record as committed (`hash` included).
    fn webhook_body(&self, deletion: &Deletion) -> String;

    /// The webhook body announcing a new `report` (`MESSAGE_REPORTED`), announced under the
    /// report's ID; it never holds the message's content.
    fn report_body(&self, report: &crate::report::Report) -> String;
}

/// An [`EventEncoder`] that writes the deletion's audit record with its `hash`, as the
/// export shows it ([`crate::record_json::deletion_record`]); for a store used without a
/// server's wire format (an embedding service's, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordBody;

impl EventEncoder for RecordBody {
    fn webhook_body(&self, deletion: &Deletion) -> String {
        let mut record = crate::record_json::deletion_record(deletion);
        record["hash"] = deletion
            .hash
            .as_deref()
            .map_or(serde_json::Value::Null, Into::into);
        record.to_string()
    }

    fn report_body(&self, report: &crate::report::Report) -> String {
        crate::record_json::report_record(report).to_string()
    }
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

/// Where an event's webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// A receiver acknowledged it.
    Delivered,
    /// Given up: the retry window ended, or the destination was refused.
    Failed,
    /// Not sent: it had no destination (neither the room's webhook nor a global one).
    Skipped,
}

impl DeliveryState {
    /// Every state, in the order of a delivery's life.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Delivered, Self::Failed, Self::Skipped];

    /// The state's name as the API and storage write it: `pending`, `delivered`, `failed`,
    /// `skipped`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    /// The state a name stands for.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A deletion event in the outbox and its webhook delivery, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDelivery {
    /// The event's ID (= its deletion's and audit record's ID).
    pub id: DeletionId,
    /// The room.
    pub room: RoomId,
    /// The event's JSON body, exactly as it is sent.
    pub body: String,
    /// Where its delivery stands.
    pub state: DeliveryState,
    /// Attempts in the current delivery round (since creation, or the last redelivery).
    pub attempts: u32,
    /// Why the last attempt of the round failed; `None` when none did.
    pub last_error: Option<String>,
    /// When the next attempt is due; only for a pending event.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When a receiver acknowledged it; only for a delivered event.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the event was written (its deletion's time).
    pub created_at: DateTime<Utc>,
}

/// What a redelivery did with the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    /// Queued for immediate delivery as a new round: pending, due now, no attempts, no
    /// last error, and the retry window counted from now.
    Queued,
    /// Left as it was: it has no destination now (no webhook on its room, and no global
    /// webhook), so the dispatcher would only mark it skipped again.
    NoDestination,
    /// Left as it was: a dispatcher is attempting it right now; that attempt's outcome is
    /// recorded as usual.
    InFlight,
}

/// A redelivered event: what the redelivery did, and the event afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivered {
    /// What the redelivery did.
    pub outcome: Redelivery,
    /// The event afterwards.
    pub event: EventDelivery,
}

/// When to try again after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure.
    pub first_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
    /// How long after the start of its delivery round (the event's creation, or its last
    /// redelivery) retries go on before the event is recorded as failed.
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

    /// After the `attempts`-th failure at `now` of a delivery round that started at
    /// `round_start` (the event's creation, or its last redelivery). The window only decides
    /// after an attempt, so a round always makes at least one.
    #[must_use]
    pub fn after_failure(
        &self,
        attempts: u32,
        round_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> AfterFailure {
        if now - round_start >= self.give_up_after {
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

    #[test]
    fn a_round_started_by_a_redelivery_retries_for_the_whole_window_again() {
        let p = RetryPolicy::default();
        let created = Utc::now() - Duration::days(3);
        let redelivered = Utc::now();
        assert_eq!(
            p.after_failure(1, created, redelivered),
            AfterFailure::GiveUp
        );
        assert_eq!(
            p.after_failure(1, redelivered, redelivered),
            AfterFailure::RetryAt(redelivered + Duration::seconds(2))
        );
    }

    #[test]
    fn states_read_back_by_name() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::parse("Pending"), None);
        assert_eq!(DeliveryState::parse("lost"), None);
    }
}
