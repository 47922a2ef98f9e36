//! [`EventLog`] over the `outbox` table: the operators' view of deletion events and their
//! delivery, and redelivery. The dispatcher's side of the same rows is [`super::outbox`].

use super::{Backlog, DieselStore, EventQueueing};
use crate::db::DbConnection;
use crate::rows::{EventRow, to_ms};
use crate::schema::{outbox, rooms};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use roomwarden_domain::error::StoreError;
use roomwarden_domain::events::{DeliveryState, EventDelivery, Redelivered, Redelivery};
use roomwarden_domain::ids::{DeletionId, RoomId};
use roomwarden_domain::ports::{EventLog, StoreResult};

/// The domain's view of stored rows; a state no version of ours writes is a broken invariant.
fn deliveries(rows: Vec<EventRow>) -> StoreResult<Vec<EventDelivery>> {
    rows.into_iter()
        .map(|row| {
            let state = row.state.clone();
            row.into_delivery().ok_or_else(|| {
                StoreError::Internal(anyhow::anyhow!("unknown outbox state {state:?}"))
            })
        })
        .collect()
}

/// The event at `seq`, as stored now.
fn read_event(conn: &mut DbConnection, seq: i64) -> QueryResult<EventRow> {
    outbox::table
        .find(seq)
        .select(EventRow::as_select())
        .first(conn)
}

impl EventLog for DieselStore {
    fn list_events(
        &self,
        state: Option<DeliveryState>,
        room: Option<&RoomId>,
        before: Option<&DeletionId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<EventDelivery>>> {
        let rows = self.with_conn(|conn| {
            let before_seq = match before {
                None => None,
                Some(id) => {
                    let found = outbox::table
                        .filter(outbox::deletion_id.eq(id.as_str()))
                        .select(outbox::seq)
                        .first::<i64>(conn)
                        .optional()?;
                    match found {
                        None => return Ok(None),
                        some => some,
                    }
                }
            };
            // Newest first by `seq`, the order rows were written; the indexes
            // (room_id, seq) and (state, seq) serve the filtered listings.
            let mut query = outbox::table.select(EventRow::as_select()).into_boxed();
            if let Some(state) = state {
                query = query.filter(outbox::state.eq(state.as_str()));
            }
            if let Some(room) = room {
                query = query.filter(outbox::room_id.eq(room.as_str()));
            }
            if let Some(seq) = before_seq {
                query = query.filter(outbox::seq.lt(seq));
            }
            query
                .order(outbox::seq.desc())
                .limit(i64::from(limit))
                .load::<EventRow>(conn)
                .map(Some)
        })?;
        rows.map(deliveries).transpose()
    }

    fn redeliver_event(
        &self,
        id: &DeletionId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Redelivered>> {
        let now = to_ms(now);
        let done = self.with_write(|conn| {
            let found: Option<(i64, Option<String>)> = outbox::table
                .left_join(rooms::table)
                .filter(outbox::deletion_id.eq(id.as_str()))
                .select((outbox::seq, rooms::webhook.nullable()))
                .first(conn)
                .optional()?;
            let Some((seq, webhook)) = found else {
                return Ok(None);
            };
            // The rule a new event of the room would be queued by now (`outbox::record`): a
            // global webhook, else the room's own.
            let outcome = if self.queueing != EventQueueing::All && webhook.is_none() {
                Redelivery::NoDestination
            } else {
                // Only a pending event under a live claim is being attempted; finished
                // events have no claim (`claimed_until` 0). The condition holds in the
                // statement itself, so a claim taken since the read above is respected.
                let queued = diesel::update(
                    outbox::table
                        .filter(outbox::seq.eq(seq))
                        .filter(outbox::claimed_until.lt(now)),
                )
                .set((
                    outbox::state.eq(DeliveryState::Pending.as_str()),
                    outbox::attempts.eq(0),
                    outbox::last_error.eq(None::<String>),
                    outbox::next_attempt_at.eq(now),
                    outbox::claimed_by.eq(None::<String>),
                    outbox::claimed_until.eq(0),
                    outbox::finished_at.eq(None::<i64>),
                    outbox::redelivered_at.eq(Some(now)),
                ))
                .execute(conn)?;
                if queued == 1 {
                    Redelivery::Queued
                } else {
                    Redelivery::InFlight
                }
            };
            Ok(Some((outcome, seq)))
        })?;
        let Some((outcome, seq)) = done else {
            return Ok(None);
        };
        // Read after the commit, not inside it: on MySQL a transaction whose update matched
        // nothing (in flight) would read its own snapshot, from before the attempt ended.
        let row = self.with_conn(|conn| read_event(conn, seq))?;
        if outcome == Redelivery::Queued {
            self.committed(Backlog::Event, false);
        }
        let event = deliveries(vec![row])?
            .pop()
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("redelivered event vanished")))?;
        Ok(Some(Redelivered { outcome, event }))
    }
}
