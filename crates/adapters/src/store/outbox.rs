//! The transactional outbox of deletion events: its SQL.
//!
//! `record` is called inside the deletion's transaction, so an event exists exactly when
//! its deletion committed. The dispatcher ([`crate::workers::dispatcher`]) claims due
//! events with a lease (so that several processes on one database do not send the same
//! event at the same time) and records each outcome here. A state is stored as its
//! [`DeliveryState`] name. The operators' view (listing, redelivery) is
//! `store::event_log`.

use crate::db::DbConnection;
use crate::rows::{from_ms, to_ms};
use crate::schema::{outbox, rooms};
use crate::store::DieselStore;
use chrono::{Duration, Utc};
use diesel::prelude::*;
use roomwarden_domain::events::EventEncoder;
use roomwarden_domain::events::{DeliveryState, OutgoingEvent};
use roomwarden_domain::ids::{DeletionId, RoomId};
use roomwarden_domain::model::Deletion;
use roomwarden_domain::ports::StoreResult;

/// Writes the event of `deletion`, its body as `events` encodes it; call inside the
/// deletion's transaction. `queued`: whether a dispatcher is to send it (it has a
/// destination); if not, it is written as `skipped`, finished at once, and only the
/// real-time feed reads it.
pub(crate) fn record(
    conn: &mut DbConnection,
    events: &dyn EventEncoder,
    deletion: &Deletion,
    queued: bool,
) -> QueryResult<()> {
    record_many(conn, events, &[(deletion, queued)])
}

/// [`record`] for several deletions (each with whether it is queued), in one statement.
pub(crate) fn record_many(
    conn: &mut DbConnection,
    events: &dyn EventEncoder,
    deletions: &[(&Deletion, bool)],
) -> QueryResult<()> {
    let rows: Vec<_> = deletions
        .iter()
        .map(|(deletion, queued)| {
            let created = to_ms(deletion.deleted_at);
            let (state, finished) = if *queued {
                (DeliveryState::Pending, None)
            } else {
                (DeliveryState::Skipped, Some(created))
            };
            (
                outbox::deletion_id.eq(deletion.id.as_str()),
                outbox::room_id.eq(deletion.room.as_str()),
                outbox::message_id.eq(deletion.message_id()),
                outbox::payload.eq(events.webhook_body(deletion)),
                outbox::created_at.eq(created),
                outbox::state.eq(state.as_str()),
                outbox::next_attempt_at.eq(created),
                outbox::finished_at.eq(finished),
            )
        })
        .collect();
    match rows.as_slice() {
        // One row, one form of the statement: kept prepared.
        [row] => crate::db::per_backend!(conn, c => diesel::insert_into(outbox::table)
            .values(row)
            .execute(c)),
        _ => crate::db::per_backend!(conn, c => diesel::insert_into(outbox::table)
            .values(&rows)
            .execute(c)),
    }
    .map(|_| ())
}

/// Writes the `MESSAGE_REPORTED` event of a new `report` (under the report's ID, its body as
/// `events` encodes it), in the report's transaction; `queued` as for [`record`].
pub(crate) fn record_report(
    conn: &mut DbConnection,
    events: &dyn EventEncoder,
    report: &roomwarden_domain::report::Report,
    queued: bool,
) -> QueryResult<()> {
    let created = to_ms(report.created_at);
    let (state, finished) = if queued {
        (DeliveryState::Pending, None)
    } else {
        (DeliveryState::Skipped, Some(created))
    };
    let row = (
        outbox::deletion_id.eq(report.id.as_str()),
        outbox::room_id.eq(report.room.as_str()),
        outbox::message_id.eq(report.message.as_str()),
        outbox::payload.eq(events.report_body(report)),
        outbox::created_at.eq(created),
        outbox::state.eq(state.as_str()),
        outbox::next_attempt_at.eq(created),
        outbox::finished_at.eq(finished),
    );
    crate::db::per_backend!(conn, c => diesel::insert_into(outbox::table)
        .values(&row)
        .execute(c))
    .map(|_| ())
}

/// `(seq, deletion_id, room_id, payload, attempts, created_at, redelivered_at, room webhook)`.
type ClaimRow = (
    i64,
    String,
    String,
    String,
    i32,
    i64,
    Option<i64>,
    Option<String>,
);

/// A claimed event, with where to send it.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    pub(crate) seq: i64,
    /// The claim (`claimed_by`, `claimed_until`): the outcome is recorded only while the
    /// row still carries it.
    pub(crate) claim: (String, i64),
    /// The event.
    pub event: OutgoingEvent,
    /// The room's webhook, if any.
    pub room_webhook: Option<String>,
    /// Failed attempts so far in this delivery round.
    pub attempts: u32,
    /// Creation time.
    pub created_at: chrono::DateTime<Utc>,
    /// Start of the delivery round, from which the retry window counts: the last
    /// redelivery, else the creation.
    pub round_start: chrono::DateTime<Utc>,
}

/// Counts of outbox rows by state, for operations and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
        let now = to_ms(self.now());
        let until = now + lease.num_milliseconds();
        // One connection for the three steps (the dispatcher calls outside any session).
        let store = self.session()?;
        let candidates: Vec<i64> = store.with_conn(|conn| {
            outbox::table
                .filter(outbox::state.eq(DeliveryState::Pending.as_str()))
                .filter(outbox::next_attempt_at.le(now))
                .filter(outbox::claimed_until.lt(now))
                .order(outbox::seq.asc())
                .limit(limit)
                .select(outbox::seq)
                .load(conn)
        })?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let claimed: Vec<i64> = store.with_write(|conn| {
            // One statement claims the batch; only rows still pending and unclaimed change,
            // so of two dispatchers racing for a row exactly one gets it.
            diesel::update(
                outbox::table
                    .filter(outbox::seq.eq_any(&candidates))
                    .filter(outbox::state.eq(DeliveryState::Pending.as_str()))
                    .filter(outbox::claimed_until.lt(now)),
            )
            .set((
                outbox::claimed_by.eq(worker),
                outbox::claimed_until.eq(until),
            ))
            .execute(conn)?;
            outbox::table
                .filter(outbox::seq.eq_any(&candidates))
                .filter(outbox::claimed_by.eq(worker))
                .filter(outbox::claimed_until.eq(until))
                .select(outbox::seq)
                .load(conn)
        })?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        store.with_conn(|conn| {
            let rows: Vec<ClaimRow> = outbox::table
                .left_join(rooms::table)
                .filter(outbox::seq.eq_any(&claimed))
                .order(outbox::seq.asc())
                .select((
                    outbox::seq,
                    outbox::deletion_id,
                    outbox::room_id,
                    outbox::payload,
                    outbox::attempts,
                    outbox::created_at,
                    outbox::redelivered_at,
                    rooms::webhook.nullable(),
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(
                    |(seq, id, room, body, attempts, created_at, redelivered_at, webhook)| {
                        ClaimedEvent {
                            seq,
                            claim: (worker.to_owned(), until),
                            event: OutgoingEvent {
                                deletion: DeletionId::from_trusted(id),
                                room: RoomId::from_trusted(room),
                                body,
                            },
                            room_webhook: webhook,
                            attempts: u32::try_from(attempts).unwrap_or_default(),
                            created_at: from_ms(created_at),
                            round_start: from_ms(redelivered_at.unwrap_or(created_at)),
                        }
                    },
                )
                .collect())
        })
    }

    /// Records the end of `claimed`'s delivery. Only while the row still carries the
    /// claim: a redelivery (or another dispatcher, after the lease ran out) may have taken
    /// the event over during the attempt, and its round must not get this attempt's outcome.
    /// Whether it was recorded.
    pub(crate) fn finish_event(
        &self,
        claimed: &ClaimedEvent,
        state: DeliveryState,
        error: Option<&str>,
        attempts: u32,
    ) -> StoreResult<bool> {
        let now = to_ms(self.now());
        let (worker, until) = &claimed.claim;
        self.with_write(|conn| {
            diesel::update(
                outbox::table
                    .filter(outbox::seq.eq(claimed.seq))
                    .filter(outbox::claimed_by.eq(worker))
                    .filter(outbox::claimed_until.eq(until)),
            )
            .set((
                outbox::state.eq(state.as_str()),
                outbox::finished_at.eq(Some(now)),
                outbox::last_error.eq(error),
                outbox::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
                outbox::claimed_until.eq(0),
            ))
            .execute(conn)
            .map(|n| n == 1)
        })
    }

    /// Schedules `claimed`'s next attempt at `at`; fenced like [`Self::finish_event`].
    pub(crate) fn retry_event(
        &self,
        claimed: &ClaimedEvent,
        at: chrono::DateTime<Utc>,
        error: &str,
        attempts: u32,
    ) -> StoreResult<bool> {
        let (worker, until) = &claimed.claim;
        self.with_write(|conn| {
            diesel::update(
                outbox::table
                    .filter(outbox::seq.eq(claimed.seq))
                    .filter(outbox::claimed_by.eq(worker))
                    .filter(outbox::claimed_until.eq(until)),
            )
            .set((
                outbox::next_attempt_at.eq(to_ms(at)),
                outbox::last_error.eq(Some(error)),
                outbox::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
                outbox::claimed_until.eq(0),
            ))
            .execute(conn)
            .map(|n| n == 1)
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
                match DeliveryState::parse(&state) {
                    Some(DeliveryState::Pending) => counts.pending = n,
                    Some(DeliveryState::Delivered) => counts.delivered = n,
                    Some(DeliveryState::Failed) => counts.failed = n,
                    Some(DeliveryState::Skipped) => counts.skipped = n,
                    None => tracing::warn!(state, "unknown outbox state"),
                }
            }
            Ok(counts)
        })
    }
}
