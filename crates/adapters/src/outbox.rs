//! The transactional outbox of deletion events and its dispatcher.
//!
//! [`record`] is called inside the deletion's transaction, so an event exists exactly when
//! its deletion committed. The dispatcher thread ([`spawn_dispatcher`]) claims due events (a lease, so that
//! several processes on one database do not send the same event at the same time), hands
//! each to the [`Notifier`] for the room's webhook (else the global one), and records the
//! outcome: delivered, retry later per [`RetryPolicy`], failed, or skipped (no webhook).

use crate::db::DbConnection;
use crate::rows::{from_ms, to_ms};
use crate::schema::{outbox, rooms};
use crate::store::DieselStore;
use crate::worker::Worker;
use chrono::{Duration, Utc};
use diesel::prelude::*;
use roomwarden_domain::events::{
    AfterFailure, DeletionEvent, MESSAGE_DELETED, Notifier, NotifyError, OutgoingEvent, RetryPolicy,
};
use roomwarden_domain::model::{Deletion, iso8601};
use roomwarden_domain::ports::StoreResult;
use serde::Serialize;
use std::sync::Arc;

/// Where an event stands; stored as its lowercase name in `outbox.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Waiting for (another) attempt.
    Pending,
    /// Acknowledged by a receiver.
    Delivered,
    /// Given up (retry window over, or destination refused).
    Failed,
    /// No webhook for the room.
    Skipped,
}

impl OutboxState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    /// The state a stored name stands for.
    #[must_use]
    pub fn parse(stored: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed, Self::Skipped]
            .into_iter()
            .find(|s| s.as_str() == stored)
    }
}

/// How many events one dispatcher claims (and sends concurrently) at a time.
const CLAIM_BATCH: i64 = 16;

#[derive(Serialize)]
struct EventBody<'a> {
    id: &'a str,
    event: &'a str,
    #[serde(rename = "roomID")]
    room_id: &'a str,
    #[serde(rename = "createdAt")]
    created_at: String,
    data: EventData<'a>,
}

#[derive(Serialize)]
struct EventData<'a> {
    room: &'a str,
    #[serde(rename = "messageID")]
    message_id: &'a str,
    #[serde(rename = "deletedCount")]
    deleted_count: u64,
    #[serde(rename = "deletedBy")]
    deleted_by: &'a str,
    #[serde(rename = "deletedAt")]
    deleted_at: String,
    reason: Option<&'a str>,
}

/// The JSON body of the event announcing `deletion` (docs/events.md).
#[must_use]
pub fn event_body(event: &DeletionEvent) -> String {
    let d = &event.deletion;
    let body = EventBody {
        id: &event.id,
        event: MESSAGE_DELETED,
        room_id: d.room.as_str(),
        created_at: iso8601(event.created_at),
        data: EventData {
            room: d.room.as_str(),
            message_id: &d.message_id,
            deleted_count: d.deleted_count,
            deleted_by: &d.deleted_by,
            deleted_at: iso8601(d.deleted_at),
            reason: d.reason.as_ref().map(|r| r.as_str()),
        },
    };
    serde_json::to_string(&body)
        .unwrap_or_else(|_| unreachable!("plain strings and numbers always serialize"))
}

/// Writes the event of `deletion`; call inside the deletion's transaction.
pub(crate) fn record(conn: &mut DbConnection, deletion: &Deletion) -> QueryResult<()> {
    let event = DeletionEvent::of(deletion);
    let created = to_ms(event.created_at);
    diesel::insert_into(outbox::table)
        .values((
            outbox::event_id.eq(&event.id),
            outbox::room_id.eq(deletion.room.as_str()),
            outbox::message_id.eq(&deletion.message_id),
            outbox::payload.eq(event_body(&event)),
            outbox::created_at.eq(created),
            outbox::state.eq(OutboxState::Pending.as_str()),
            outbox::next_attempt_at.eq(created),
        ))
        .execute(conn)
        .map(|_| ())
}

/// `(seq, event_id, room_id, payload, attempts, created_at, room webhook)`.
type ClaimRow = (i64, String, String, String, i32, i64, Option<String>);

/// A claimed event, with where to send it.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    seq: i64,
    /// The event.
    pub event: OutgoingEvent,
    /// The room's webhook, if any.
    pub room_webhook: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Creation time.
    pub created_at: chrono::DateTime<Utc>,
}

/// Counts of outbox rows by state, for operations and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting for (another) attempt.
    pub pending: u64,
    /// Acknowledged by a receiver.
    pub delivered: u64,
    /// Given up after the retry window.
    pub failed: u64,
    /// No webhook was configured for the room.
    pub skipped: u64,
}

impl DieselStore {
    /// Claims up to `limit` due events for `worker` until `lease` from now. A claimed event
    /// is not claimed by anyone else before the lease ends.
    ///
    /// # Errors
    /// A storage failure.
    pub fn claim_due_events(
        &self,
        worker: &str,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        let now = to_ms(Utc::now());
        let until = now + lease.num_milliseconds();
        self.with_conn(|conn| {
            let candidates: Vec<i64> = outbox::table
                .filter(outbox::state.eq(OutboxState::Pending.as_str()))
                .filter(outbox::next_attempt_at.le(now))
                .filter(outbox::claimed_until.lt(now))
                .order(outbox::seq.asc())
                .limit(limit)
                .select(outbox::seq)
                .load(conn)?;
            let mut claimed = Vec::new();
            for seq in candidates {
                let won = diesel::update(
                    outbox::table
                        .find(seq)
                        .filter(outbox::state.eq(OutboxState::Pending.as_str()))
                        .filter(outbox::claimed_until.lt(now)),
                )
                .set((
                    outbox::claimed_by.eq(worker),
                    outbox::claimed_until.eq(until),
                ))
                .execute(conn)?;
                if won == 1 {
                    claimed.push(seq);
                }
            }
            if claimed.is_empty() {
                return Ok(Vec::new());
            }
            let rows: Vec<ClaimRow> = outbox::table
                .left_join(rooms::table)
                .filter(outbox::seq.eq_any(&claimed))
                .order(outbox::seq.asc())
                .select((
                    outbox::seq,
                    outbox::event_id,
                    outbox::room_id,
                    outbox::payload,
                    outbox::attempts,
                    outbox::created_at,
                    rooms::webhook.nullable(),
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(
                    |(seq, id, room, body, attempts, created_at, webhook)| ClaimedEvent {
                        seq,
                        event: OutgoingEvent { id, room, body },
                        room_webhook: webhook,
                        attempts: u32::try_from(attempts).unwrap_or_default(),
                        created_at: from_ms(created_at),
                    },
                )
                .collect())
        })
    }

    fn finish_event(
        &self,
        seq: i64,
        state: OutboxState,
        error: Option<&str>,
        attempts: u32,
    ) -> StoreResult<()> {
        let now = to_ms(Utc::now());
        self.with_conn(|conn| {
            diesel::update(outbox::table.find(seq))
                .set((
                    outbox::state.eq(state.as_str()),
                    outbox::finished_at.eq(Some(now)),
                    outbox::last_error.eq(error),
                    outbox::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
                    outbox::claimed_until.eq(0),
                ))
                .execute(conn)
                .map(|_| ())
        })
    }

    fn retry_event(
        &self,
        seq: i64,
        at: chrono::DateTime<Utc>,
        error: &str,
        attempts: u32,
    ) -> StoreResult<()> {
        self.with_conn(|conn| {
            diesel::update(outbox::table.find(seq))
                .set((
                    outbox::next_attempt_at.eq(to_ms(at)),
                    outbox::last_error.eq(Some(error)),
                    outbox::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
                    outbox::claimed_until.eq(0),
                ))
                .execute(conn)
                .map(|_| ())
        })
    }

    /// How many events are in each state.
    ///
    /// # Errors
    /// A storage failure.
    pub fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        self.with_conn(|conn| {
            let rows: Vec<(String, i64)> = outbox::table
                .group_by(outbox::state)
                .select((outbox::state, diesel::dsl::count_star()))
                .load(conn)?;
            let mut counts = OutboxCounts::default();
            for (state, n) in rows {
                let n = u64::try_from(n).unwrap_or_default();
                match OutboxState::parse(&state) {
                    Some(OutboxState::Pending) => counts.pending = n,
                    Some(OutboxState::Delivered) => counts.delivered = n,
                    Some(OutboxState::Failed) => counts.failed = n,
                    Some(OutboxState::Skipped) => counts.skipped = n,
                    None => tracing::warn!(state, "unknown outbox state"),
                }
            }
            Ok(counts)
        })
    }
}

/// Dispatcher settings.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// Where events of rooms without their own webhook go (`ROOMWARDEN_WEBHOOK_URL`).
    pub global_webhook: Option<String>,
    /// Retry schedule.
    pub retry: RetryPolicy,
    /// How long a claim keeps other dispatchers away; longer than the notifier's timeout.
    pub lease: Duration,
    /// How often to look for due events when not woken.
    pub poll: std::time::Duration,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            global_webhook: None,
            retry: RetryPolicy::default(),
            lease: Duration::seconds(15),
            poll: std::time::Duration::from_millis(500),
        }
    }
}

/// Sends one claimed event and records the outcome.
fn dispatch_one(
    store: &DieselStore,
    notifier: &dyn Notifier,
    options: &DispatchOptions,
    claimed: &ClaimedEvent,
) -> StoreResult<()> {
    let Some(destination) = claimed
        .room_webhook
        .as_deref()
        .or(options.global_webhook.as_deref())
    else {
        return store.finish_event(claimed.seq, OutboxState::Skipped, None, claimed.attempts);
    };
    let attempts = claimed.attempts + 1;
    match notifier.notify(destination, &claimed.event) {
        Ok(()) => {
            tracing::info!(event = %claimed.event.id, room = %claimed.event.room, attempts, "event delivered");
            store.finish_event(claimed.seq, OutboxState::Delivered, None, attempts)
        }
        Err(e @ NotifyError::Refused(_)) => {
            let error = e.to_string();
            tracing::error!(event = %claimed.event.id, room = %claimed.event.room, attempts, error, "event not delivered: destination refused by the webhook address policy");
            store.finish_event(claimed.seq, OutboxState::Failed, Some(&error), attempts)
        }
        Err(e) => {
            let error = e.to_string();
            match options
                .retry
                .after_failure(attempts, claimed.created_at, Utc::now())
            {
                AfterFailure::RetryAt(at) => {
                    tracing::warn!(event = %claimed.event.id, room = %claimed.event.room, attempts, error, retry_at = %iso8601(at), "event delivery failed; will retry");
                    store.retry_event(claimed.seq, at, &error, attempts)
                }
                AfterFailure::GiveUp => {
                    tracing::error!(event = %claimed.event.id, room = %claimed.event.room, attempts, error, "event delivery failed permanently");
                    store.finish_event(claimed.seq, OutboxState::Failed, Some(&error), attempts)
                }
            }
        }
    }
}

/// Claims and sends due events once; returns how many it claimed.
///
/// # Errors
/// A storage failure while claiming.
pub fn dispatch_due(
    store: &DieselStore,
    notifier: &dyn Notifier,
    options: &DispatchOptions,
    worker: &str,
) -> StoreResult<usize> {
    let claimed = store.claim_due_events(worker, options.lease, CLAIM_BATCH)?;
    // Concurrently, so that one slow receiver does not hold up the others.
    std::thread::scope(|scope| {
        for event in &claimed {
            scope.spawn(move || {
                if let Err(e) = dispatch_one(store, notifier, options, event) {
                    tracing::warn!(event = %event.event.id, error = %e, "could not record the delivery outcome; the claim will expire and the event be retried");
                }
            });
        }
    });
    Ok(claimed.len())
}

/// Starts the thread that drains the outbox: woken by every committed deletion, and every
/// `options.poll` for retries that fall due.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn_dispatcher(
    store: DieselStore,
    notifier: Arc<dyn Notifier>,
    options: DispatchOptions,
) -> std::io::Result<Worker> {
    let worker = format!(
        "dispatcher-{}",
        roomwarden_domain::auth::generate_secret()
            .get(..12)
            .unwrap_or("0")
    );
    let wakeup = store.outbox_wakeup();
    Worker::spawn(
        "dispatcher",
        options.poll,
        wakeup,
        move |_| match dispatch_due(&store, notifier.as_ref(), &options, &worker) {
            Ok(claimed) => claimed > 0,
            Err(e) => {
                tracing::warn!(error = %e, "outbox unavailable; will retry");
                false
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::OutboxState;

    #[test]
    fn states_read_back_as_stored() {
        for state in [
            OutboxState::Pending,
            OutboxState::Delivered,
            OutboxState::Failed,
            OutboxState::Skipped,
        ] {
            assert_eq!(OutboxState::parse(state.as_str()), Some(state));
        }
        assert_eq!(OutboxState::parse("lost"), None);
    }
}
