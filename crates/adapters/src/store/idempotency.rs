//! [`IdempotencyStore`] over the `idempotency_keys` table.
//!
//! A claim is a compare-and-set, not a locking read: insert the record, and on a key
//! violation read the one that is there; a stale one (expired, or in flight with a lapsed
//! lease) is taken over by an update that names what was read (its claim ID, still stale),
//! so of two racing claims exactly one changes it. Each step is its own short transaction:
//! on MySQL a failed insert leaves a shared lock on the existing row until its transaction
//! ends, and two claims holding it while both updating would deadlock.
//!
//! Answers that embed a message keep its room and ID beside a redacted body.
//! [`redact_answers`] runs inside every deletion's transaction (under the room's lock) and
//! swaps in the redacted bodies; [`IdempotencyStore::complete_key`] takes the same lock and
//! stores the redacted body at once when the message is already gone.

use super::DieselStore;
use super::room_lock::lock_room;
use super::visibility::{Rule, find_visible};
use crate::cached::update;
use crate::db::DbConnection;
use crate::rows::to_ms;
use crate::schema::idempotency_keys as keys;
use diesel::prelude::*;
use roomwarden_domain::error::StoreError;
use roomwarden_domain::idempotency::{
    ClaimOutcome, Completion, Fingerprint, KeyClaim, StoredResponse, Ticket,
};
use roomwarden_domain::ports::{IdempotencyStore, StoreResult};

/// `state` of a claim whose request runs.
const RUNNING: &str = "running";
/// `state` of a record with a stored answer.
const DONE: &str = "done";

/// How often a claim retries when the record changes between its steps (another claim
/// took it over, the sweep removed it). Each retry means another request made progress.
const CLAIM_ATTEMPTS: usize = 8;

/// The stored record, as a claim reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = keys)]
struct KeyRow {
    fingerprint: String,
    claim_id: String,
    state: String,
    status: Option<i32>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
    lease_until: i64,
    expires_at: i64,
}

impl KeyRow {
    fn is_stale(&self, now: i64) -> bool {
        self.expires_at <= now || (self.state == RUNNING && self.lease_until <= now)
    }

    fn outcome(self, request: &Fingerprint) -> StoreResult<ClaimOutcome> {
        if self.fingerprint != request.as_str() {
            return Ok(ClaimOutcome::Mismatch);
        }
        if self.state == RUNNING {
            return Ok(ClaimOutcome::InFlight);
        }
        let status = self
            .status
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("stored answer has no status")))?;
        Ok(ClaimOutcome::Replay(StoredResponse {
            status,
            content_type: self.content_type.unwrap_or_default(),
            body: self.body.unwrap_or_default(),
        }))
    }
}

/// What a redaction sets: the redacted body in place of the answer, and no embedded
/// message left. `body` is assigned first: MySQL evaluates assignments left to right.
macro_rules! redaction {
    () => {
        (
            keys::body.eq(keys::redacted_body),
            keys::redacted_body.eq(None::<Vec<u8>>),
            keys::content_room.eq(None::<String>),
            keys::content_message.eq(None::<String>),
        )
    };
}

/// Replaces the stored answers that embed a deleted message of `room` (`message`, or every
/// message of the room for a clear) by their redacted bodies. Call inside the deletion's
/// transaction, holding the room's lock.
pub(crate) fn redact_answers(
    conn: &mut DbConnection,
    room: &str,
    message: Option<&str>,
) -> QueryResult<usize> {
    let redaction = || redaction!();
    match message {
        Some(id) => update(
            keys::table,
            redaction(),
            keys::content_room
                .eq(room)
                .and(keys::content_message.eq(id)),
        )
        .execute(conn),
        None => update(keys::table, redaction(), keys::content_room.eq(room)).execute(conn),
    }
}

/// [`redact_answers`] for the deleted messages `ids` of `room`, in one statement (the
/// single message's, kept prepared, for one).
pub(crate) fn redact_answers_of(
    conn: &mut DbConnection,
    room: &str,
    ids: &[String],
) -> QueryResult<usize> {
    match ids {
        [] => Ok(0),
        [one] => redact_answers(conn, room, Some(one)),
        many => diesel::update(
            keys::table
                .filter(keys::content_room.eq(room))
                .filter(keys::content_message.eq_any(many)),
        )
        .set(redaction!())
        .execute(conn),
    }
}

/// The messages of `room` that stored answers embed (few: answers live for a day).
pub(crate) fn embedded_messages(conn: &mut DbConnection, room: &str) -> QueryResult<Vec<String>> {
    keys::table
        .filter(keys::content_room.eq(room))
        .select(keys::content_message)
        .load::<Option<String>>(conn)
        .map(|ids| ids.into_iter().flatten().collect())
}

/// The earliest expiry among `caller`'s unexpired records at `now` when it holds `limit`
/// of them or more (`None` below the cap). Reads at most `limit` entries of the
/// `(caller, expires_at)` index.
fn oldest_if_full(
    conn: &mut DbConnection,
    caller: &str,
    now: i64,
    limit: u32,
) -> QueryResult<Option<i64>> {
    let held = keys::table
        .filter(keys::caller.eq(caller))
        .filter(keys::expires_at.gt(now));
    let full = held
        .select(keys::expires_at)
        .order(keys::expires_at.asc())
        .offset(i64::from(limit.max(1)) - 1)
        .limit(1)
        .first::<i64>(conn)
        .optional()?;
    if full.is_none() {
        return Ok(None);
    }
    held.select(keys::expires_at)
        .order(keys::expires_at.asc())
        .first::<i64>(conn)
        .optional()
}

/// The record that the claim of `$ticket` holds, in flight.
macro_rules! held_by {
    ($ticket:expr) => {
        keys::table
            .find(($ticket.owner.as_str(), $ticket.key.as_str()))
            .filter(keys::claim_id.eq($ticket.claim.as_str()))
            .filter(keys::state.eq(RUNNING))
    };
}

impl IdempotencyStore for DieselStore {
    fn claim_key(&self, claim: &KeyClaim) -> StoreResult<ClaimOutcome> {
        let store = self.session()?;
        let (caller, key) = (claim.ticket.owner.as_str(), claim.ticket.key.as_str());
        let now = to_ms(claim.now);
        let fresh = (
            keys::fingerprint.eq(claim.fingerprint.as_str()),
            keys::claim_id.eq(claim.ticket.claim.as_str()),
            keys::state.eq(RUNNING),
            keys::created_at.eq(now),
            keys::lease_until.eq(to_ms(claim.lease_until)),
            keys::expires_at.eq(to_ms(claim.expires_at)),
        );
        for _ in 0..CLAIM_ATTEMPTS {
            if let Some(limit) = claim.limit
                && let Some(oldest) =
                    store.with_conn(|conn| oldest_if_full(conn, caller, now, limit))?
            {
                // Only a key the owner holds already may go on: it replays, waits or is refused.
                let held = store.with_conn(|conn| {
                    keys::table
                        .find((caller, key))
                        .select(KeyRow::as_select())
                        .first(conn)
                        .optional()
                })?;
                match held {
                    Some(row) if !row.is_stale(now) => return row.outcome(&claim.fingerprint),
                    // Its own stale record (a lapsed lease) is taken over below: no new record.
                    Some(row) if row.expires_at > now => {}
                    _ => return Ok(ClaimOutcome::Full(crate::rows::from_ms(oldest))),
                }
            }
            let inserted = store.with_write(|conn| {
                match diesel::insert_into(keys::table)
                    .values((keys::caller.eq(caller), keys::idem_key.eq(key), fresh))
                    .execute(conn)
                {
                    Ok(_) => Ok(true),
                    Err(e) if crate::error::is_unique_violation(&e) => Ok(false),
                    Err(e) => Err(e),
                }
            })?;
            if inserted {
                return Ok(ClaimOutcome::Started);
            }
            let Some(row) = store.with_conn(|conn| {
                keys::table
                    .find((caller, key))
                    .select(KeyRow::as_select())
                    .first(conn)
                    .optional()
            })?
            else {
                continue; // swept meanwhile: insert again
            };
            if !row.is_stale(now) {
                return row.outcome(&claim.fingerprint);
            }
            let taken = store.with_write(|conn| {
                diesel::update(
                    keys::table
                        .find((caller, key))
                        .filter(keys::claim_id.eq(&row.claim_id))
                        .filter(
                            keys::expires_at
                                .le(now)
                                .or(keys::state.eq(RUNNING).and(keys::lease_until.le(now))),
                        ),
                )
                .set((
                    fresh,
                    keys::status.eq(None::<i32>),
                    keys::content_type.eq(None::<String>),
                    keys::body.eq(None::<Vec<u8>>),
                    keys::content_room.eq(None::<String>),
                    keys::content_message.eq(None::<String>),
                    keys::redacted_body.eq(None::<Vec<u8>>),
                ))
                .execute(conn)
            })?;
            if taken == 1 {
                return Ok(ClaimOutcome::Started);
            }
        }
        Err(StoreError::Internal(anyhow::anyhow!(
            "an idempotency key changed hands {CLAIM_ATTEMPTS} times during one claim"
        )))
    }

    fn complete_key(
        &self,
        ticket: &Ticket,
        completion: &Completion,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        let answer = &completion.response;
        let rule = Rule::now(self);
        self.with_write(|conn| {
            let mut body = answer.body.as_slice();
            let mut embeds = None;
            if let Some(embedded) = &completion.embeds {
                let (room, message) = (embedded.room.as_str(), embedded.message.as_str());
                // The deletions' lock: a deletion of the message either committed before
                // (the message is gone: store the redacted body) or redacts after.
                if lock_room(conn, room)? && find_visible(conn, room, message, rule)?.is_some() {
                    embeds = Some((room, message, embedded.redacted_body.as_slice()));
                } else {
                    body = embedded.redacted_body.as_slice();
                }
            }
            let n = diesel::update(held_by!(ticket))
                .set((
                    keys::state.eq(DONE),
                    keys::status.eq(i32::from(answer.status)),
                    keys::content_type.eq(&answer.content_type),
                    keys::body.eq(body),
                    keys::content_room.eq(embeds.map(|(r, _, _)| r)),
                    keys::content_message.eq(embeds.map(|(_, m, _)| m)),
                    keys::redacted_body.eq(embeds.map(|(_, _, b)| b)),
                    keys::expires_at.eq(to_ms(expires_at)),
                ))
                .execute(conn)?;
            Ok(n == 1)
        })
    }

    fn release_key(&self, ticket: &Ticket) -> StoreResult<bool> {
        self.with_write(|conn| Ok(diesel::delete(held_by!(ticket)).execute(conn)? == 1))
    }

    fn remove_expired_keys(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> StoreResult<u64> {
        let now = to_ms(now);
        // The expiry of the `limit`-th oldest expired record bounds the batch (records
        // expiring in the same millisecond go with it).
        let expiries: Vec<i64> = self.with_conn(|conn| {
            keys::table
                .filter(keys::expires_at.le(now))
                .order(keys::expires_at.asc())
                .limit(i64::from(limit.max(1)))
                .select(keys::expires_at)
                .load(conn)
        })?;
        let Some(cutoff) = expiries.last().copied() else {
            return Ok(0);
        };
        let removed = self.with_write(|conn| {
            diesel::delete(keys::table.filter(keys::expires_at.le(cutoff))).execute(conn)
        })?;
        Ok(super::unsigned(removed))
    }
}
