//! [`MessageStore`] over the `messages` table, with deletion and its audit record.
//!
//! A message is visible while its `seq` is above its room's `cleared_through_seq`, no
//! pending erasure covers it and its room's retention has not expired it
//! ([`crate::filter_sql`]). Every
//! write to a room's messages (send, delete, clear) first bumps the room row's
//! `write_version`, which takes that row's write lock, so these writes serialize per room:
//! a clear counts exactly the messages committed before it and none sent after it, and
//! of two deletes of one message exactly one finds it. Under the same lock each of them
//! keeps the room's `visible_count` exact (send +1, delete −1, clear 0), so `totalCount`
//! and a clear's `deletedCount` are one row read, whatever the room's size. In the same
//! transactions, stored idempotent answers that embed a deleted message keep only their
//! redacted bodies (`super::idempotency::redact_answers`).

use super::DieselStore;
use super::{Backlog, EventQueueing};
use crate::db::DbConnection;
use crate::filter_sql;
use crate::rows::{MessageRow, NewDeletionRow, NewMessageRow, count, from_ms, to_ms};
use crate::schema::{deletions, erasures, messages, room_members, rooms};
use chrono::{DateTime, Utc};
use diesel::dsl::{max, sql};
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use roomwarden_domain::audit_chain::GENESIS;
use roomwarden_domain::auth::Actor;
use roomwarden_domain::error::StoreError;
use roomwarden_domain::filter::{Bound, MessageFilter};
use roomwarden_domain::ids::{ClientId, DeleteTarget, MessageId, RoomId};
use roomwarden_domain::model::{
    DeleteOutcome, Deletion, DeletionRequest, ExpiredRoom, Message, MessageContent, MessagePage,
    RECALL_TYPE, RetentionDays, RetentionOrigin,
};
use roomwarden_domain::ports::{MessageStore, StoreResult};
use roomwarden_domain::roles::{Membership, Role};

/// Adds `delta` to the room's visible count; call holding the room's lock.
fn add_visible(conn: &mut DbConnection, room: &str, delta: i64) -> QueryResult<()> {
    diesel::update(rooms::table.find(room))
        .set(rooms::visible_count.eq(rooms::visible_count + delta))
        .execute(conn)
        .map(|_| ())
}

/// Takes the room row's write lock; `false` when the room does not exist.
pub(super) fn lock_room(conn: &mut DbConnection, room: &str) -> QueryResult<bool> {
    let n = diesel::update(rooms::table.find(room))
        .set(rooms::write_version.eq(rooms::write_version + 1))
        .execute(conn)?;
    Ok(n > 0)
}

/// What `room` records about the actor (nothing for the API key): two primary-key reads.
fn membership(conn: &mut DbConnection, room: &str, actor: &Actor) -> QueryResult<Membership> {
    let Some(id) = actor.client_id().filter(|_| !actor.is_platform_admin()) else {
        return Ok(Membership::default());
    };
    let owner: Option<String> = rooms::table.find(room).select(rooms::owner).first(conn)?;
    let manager: Option<bool> = room_members::table
        .find((room, id.as_str()))
        .select(room_members::is_manager)
        .first(conn)
        .optional()?;
    Ok(Membership {
        is_owner: owner.as_deref() == Some(id.as_str()),
        is_manager: manager == Some(true),
        is_member: manager.is_some(),
    })
}

/// What the visibility rule needs besides the row: the time of the read and the default
/// retention (see [`crate::filter_sql`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    now_ms: i64,
    default: Option<RetentionDays>,
}

impl Rule {
    /// The rule of `store` at this moment.
    pub(crate) fn now(store: &DieselStore) -> Self {
        Self {
            now_ms: chrono::Utc::now().timestamp_millis(),
            default: store.default_retention(),
        }
    }

    /// SQL: visible beyond the watermark (see [`filter_sql::visible`]).
    pub(crate) fn sql(self, with_expired: bool) -> SqlLiteral<Bool> {
        filter_sql::visible(self.now_ms, self.default, with_expired)
    }

    /// For a room with this retention of its own: the time (ms) before which its messages
    /// have expired, if any.
    pub(super) fn cutoff_ms(self, own: Option<i32>) -> Option<i64> {
        let days = crate::rows::retention(own).or(self.default)?;
        Some(days.cutoff(from_ms(self.now_ms)).timestamp_millis())
    }

    /// SQL over `messages` joined with `rooms`: not expired (see [`filter_sql::unexpired_sql`]).
    pub(super) fn unexpired_sql(self) -> String {
        filter_sql::unexpired_sql(self.now_ms, self.default)
    }

    /// The text of [`Self::sql`] without expired rows (see [`filter_sql::visible_sql`]).
    fn visible_sql(self) -> String {
        filter_sql::visible_sql(self.now_ms, self.default)
    }

    /// How many of the room's rows above the watermark only the retention hides (0 for a
    /// room without retention). A range over the `(room_id, created_at)` index.
    fn expired_count(
        self,
        conn: &mut DbConnection,
        room: &str,
        own: Option<i32>,
    ) -> QueryResult<i64> {
        let Some(cutoff) = self.cutoff_ms(own) else {
            return Ok(0);
        };
        messages::table
            .inner_join(rooms::table)
            .filter(messages::room_id.eq(room))
            .filter(messages::created_at.lt(cutoff))
            .filter(messages::seq.gt(rooms::cleared_through_seq))
            .filter(sql::<Bool>(filter_sql::NOT_ERASED))
            .count()
            .get_result(conn)
    }
}

/// The visible message `id` of `room`, with its `seq`.
pub(super) fn find_visible(
    conn: &mut DbConnection,
    room: &str,
    id: &str,
    rule: Rule,
) -> QueryResult<Option<(i64, MessageRow)>> {
    messages::table
        .inner_join(rooms::table)
        .filter(messages::room_id.eq(room))
        .filter(messages::id.eq(id))
        .filter(messages::seq.gt(rooms::cleared_through_seq))
        .filter(rule.sql(false))
        .select((messages::seq, MessageRow::as_select()))
        .first(conn)
        .optional()
}

/// Whether the room has pending erasures (rows hidden but not yet removed).
fn has_erasures(conn: &mut DbConnection, room: &str) -> QueryResult<bool> {
    erasures::table
        .filter(erasures::room_id.eq(room))
        .select(erasures::seq)
        .first::<i64>(conn)
        .optional()
        .map(|found| found.is_some())
}

/// Writes the audit record (linked to the room's previous one) and the event of
/// `deletion`; inside the deletion's transaction.
fn record(conn: &mut DbConnection, deletion: &mut Deletion, room: &Locked) -> QueryResult<()> {
    super::chain::link_after(&room.audit_head, deletion);
    diesel::insert_into(deletions::table)
        .values(NewDeletionRow::from(&*deletion))
        .execute(conn)?;
    super::outbox::record(conn, deletion, room.queued)
}

/// The room as the deletion finds it, under its lock.
struct Locked {
    cleared: i64,
    purged: i64,
    visible: i64,
    /// The room's own retention.
    retention: Option<i32>,
    /// Whether the deletion's event is queued for the dispatcher.
    queued: bool,
    /// The `hash` of the room's newest audit record ([`GENESIS`] without one), read after
    /// the lock, so no other deletion of the room can come between it and this one.
    audit_head: String,
}

/// What a committed deletion leaves to do after its transaction.
pub(super) struct Committed {
    outcome: DeleteOutcome,
    needs_purge: bool,
    /// Whether the event is queued for the dispatcher.
    queued: bool,
}

impl Committed {
    /// Nothing deleted, nothing to do afterwards.
    pub(super) fn nothing(outcome: DeleteOutcome) -> Self {
        Self {
            outcome,
            needs_purge: false,
            queued: false,
        }
    }

    /// `deletion` recorded; the purger has work when `needs_purge`.
    pub(super) fn deleted(deletion: Deletion, needs_purge: bool, queued: bool) -> Self {
        Self {
            outcome: DeleteOutcome::Deleted(deletion),
            needs_purge,
            queued,
        }
    }
}

fn delete_one(
    conn: &mut DbConnection,
    request: &DeletionRequest,
    id: &MessageId,
    room_state: &Locked,
    rule: Rule,
) -> QueryResult<Committed> {
    let room = request.room.as_str();
    let Some((seq, _)) = find_visible(conn, room, id.as_str(), rule)? else {
        return Ok(Committed::nothing(DeleteOutcome::MessageNotFound));
    };
    diesel::delete(messages::table.find(seq)).execute(conn)?;
    add_visible(conn, room, -1)?;
    super::idempotency::redact_answers(conn, room, Some(id.as_str()))?;
    let mut deletion = Deletion::committed(request, 1);
    record(conn, &mut deletion, room_state)?;
    Ok(Committed::deleted(deletion, false, room_state.queued))
}

/// Removes the listed messages visible in the room, in one statement.
fn delete_bulk(
    conn: &mut DbConnection,
    request: &DeletionRequest,
    ids: &[MessageId],
    room_state: &Locked,
    rule: Rule,
) -> QueryResult<Committed> {
    let room = request.room.as_str();
    let listed: Vec<&str> = ids.iter().map(MessageId::as_str).collect();
    let found: Vec<(i64, String)> = messages::table
        .inner_join(rooms::table)
        .filter(messages::room_id.eq(room))
        .filter(messages::id.eq_any(&listed))
        .filter(messages::seq.gt(rooms::cleared_through_seq))
        .filter(rule.sql(false))
        .select((messages::seq, messages::id))
        .load(conn)?;
    if found.is_empty() {
        return Ok(Committed::nothing(DeleteOutcome::MessageNotFound));
    }
    let seqs: Vec<i64> = found.iter().map(|(seq, _)| *seq).collect();
    diesel::delete(messages::table.filter(messages::seq.eq_any(&seqs))).execute(conn)?;
    add_visible(conn, room, -i64::try_from(seqs.len()).unwrap_or(i64::MAX))?;
    // Reported in the order listed.
    let removed: Vec<MessageId> = ids
        .iter()
        .filter(|id| found.iter().any(|(_, f)| f == id.as_str()))
        .cloned()
        .collect();
    for id in &removed {
        super::idempotency::redact_answers(conn, room, Some(id.as_str()))?;
    }
    let mut deletion = Deletion::committed_bulk(request, removed);
    record(conn, &mut deletion, room_state)?;
    Ok(Committed::deleted(deletion, false, room_state.queued))
}

/// Moves the room's watermark to its newest message, so everything up to it is invisible
/// at once; removes the rows in the same transaction when there are at most `batch` of them,
/// else leaves them to the purger, which removes `batch` rows at a time (durably: `purged_through_seq` stays behind).
fn clear_all(
    conn: &mut DbConnection,
    request: &DeletionRequest,
    room_state: &Locked,
    budget: &mut usize,
    rule: Rule,
) -> QueryResult<Committed> {
    let (cleared, purged, visible) = (room_state.cleared, room_state.purged, room_state.visible);
    let room = request.room.as_str();
    let newest: Option<i64> = messages::table
        .filter(messages::room_id.eq(room))
        .select(max(messages::seq))
        .first(conn)?;
    let watermark = newest.unwrap_or(0).max(cleared);
    // Every visible message is above the old watermark and at or below the new one; rows
    // that only the retention hides go too but were not visible, so they do not count.
    let cleared_now = visible - rule.expired_count(conn, room, room_state.retention)?;
    // Rows a pending erasure hides are not in `visible` but would go in the same DELETE:
    // with any pending, the rows are left to the purger, however few are visible.
    let erased = has_erasures(conn, room)?;
    let small = !erased && usize::try_from(visible).is_ok_and(|n| n <= *budget);
    if small {
        *budget -= usize::try_from(visible).unwrap_or(0);
    }
    if small && visible > 0 {
        diesel::delete(
            messages::table
                .filter(messages::room_id.eq(room))
                .filter(messages::seq.gt(cleared))
                .filter(messages::seq.le(watermark)),
        )
        .execute(conn)?;
    }
    // Rows at or below `purged` are gone; if nothing older is pending, a small clear
    // leaves nothing behind.
    let purged_now = if small && purged >= cleared {
        watermark
    } else {
        purged
    };
    diesel::update(rooms::table.find(room))
        .set((
            rooms::cleared_through_seq.eq(watermark),
            rooms::purged_through_seq.eq(purged_now),
            rooms::visible_count.eq(0),
        ))
        .execute(conn)?;
    super::idempotency::redact_answers(conn, room, None)?;
    if cleared_now == 0 && request.skip_if_nothing {
        return Ok(Committed {
            needs_purge: purged_now < watermark,
            ..Committed::nothing(DeleteOutcome::NothingMatched)
        });
    }
    let mut deletion = Deletion::committed(request, count(cleared_now));
    record(conn, &mut deletion, room_state)?;
    Ok(Committed::deleted(
        deletion,
        purged_now < watermark,
        room_state.queued,
    ))
}

/// A filter resolved against the room: the `seq` range and time window it covers.
struct Resolved<'a> {
    above: i64,
    through: i64,
    after_ms: i64,
    before_ms: i64,
    senders: Vec<&'a str>,
    /// Whether the room has pending erasures (else the rule's `NOT EXISTS` is left out:
    /// erasures of a room are only added under its lock).
    erased: bool,
}

/// Resolves `filter`'s message bounds in `room` (`None` when one is not visible there).
fn resolve<'a>(
    conn: &mut DbConnection,
    room: &str,
    filter: &'a MessageFilter,
    rule: Rule,
) -> QueryResult<Option<Resolved<'a>>> {
    let mut seq_of = |bound: &Option<Bound>| -> QueryResult<Option<Option<i64>>> {
        match bound {
            Some(Bound::Message(id)) => {
                Ok(find_visible(conn, room, id.as_str(), rule)?.map(|(seq, _)| Some(seq)))
            }
            _ => Ok(Some(None)),
        }
    };
    let Some(before_seq) = seq_of(&filter.before)? else {
        return Ok(None);
    };
    let Some(after_seq) = seq_of(&filter.after)? else {
        return Ok(None);
    };
    let (cleared, newest): (i64, Option<i64>) = rooms::table
        .find(room)
        .select((
            rooms::cleared_through_seq,
            messages::table
                .filter(messages::room_id.eq(room))
                .select(max(messages::seq))
                .single_value(),
        ))
        .first(conn)?;
    let newest = newest.unwrap_or(0);
    let erased = has_erasures(conn, room)?;
    let time = |b: &Option<Bound>| b.as_ref().and_then(Bound::time).map(to_ms);
    Ok(Some(Resolved {
        above: cleared.max(after_seq.unwrap_or(0)),
        through: before_seq.map_or(newest, |b| newest.min(b - 1)),
        after_ms: time(&filter.after).unwrap_or(i64::MIN),
        before_ms: time(&filter.before).unwrap_or(i64::MAX),
        senders: filter.senders.iter().map(ClientId::as_str).collect(),
        erased,
    }))
}

type Candidates<'a> = messages::BoxedQuery<'a, <DbConnection as diesel::Connection>::Backend>;

/// The room's rows that `r` covers (not erased), sent at or after `not_before` when given.
fn candidates<'a>(room: &'a str, r: &Resolved<'a>, not_before: Option<i64>) -> Candidates<'a> {
    let mut q = messages::table
        .filter(messages::room_id.eq(room))
        .filter(messages::seq.gt(r.above))
        .filter(messages::seq.le(r.through))
        .into_boxed();
    if r.erased {
        q = q.filter(sql::<Bool>(filter_sql::NOT_ERASED));
    }
    if !r.senders.is_empty() {
        q = q.filter(messages::sender.eq_any(r.senders.clone()));
    }
    if r.after_ms != i64::MIN {
        q = q.filter(messages::created_at.gt(r.after_ms));
    }
    if r.before_ms != i64::MAX {
        q = q.filter(messages::created_at.lt(r.before_ms));
    }
    if let Some(cutoff) = not_before {
        q = q.filter(messages::created_at.ge(cutoff));
    }
    q
}

/// `(rows covered, of which visible now)`: a filtered deletion removes the first and
/// reports the second (the rest only the retention hides already).
fn count_covered(
    conn: &mut DbConnection,
    room: &str,
    r: &Resolved<'_>,
    rule: Rule,
    retention: Option<i32>,
    by_retention: bool,
) -> QueryResult<(i64, i64)> {
    let all: i64 = candidates(room, r, None).count().get_result(conn)?;
    let cutoff = rule
        .cutoff_ms(retention)
        .filter(|_| all > 0 && !by_retention);
    let Some(cutoff) = cutoff else {
        return Ok((all, all));
    };
    let shown: i64 = candidates(room, r, Some(cutoff)).count().get_result(conn)?;
    Ok((all, shown))
}

/// A filtered `_all`: the matching rows are removed in the transaction when few, else
/// covered by erasures (one per sender) that hide them at once and that the purger works off.
fn clear_matching(
    conn: &mut DbConnection,
    request: &DeletionRequest,
    room_state: &Locked,
    budget: &mut usize,
    rule: Rule,
) -> QueryResult<Committed> {
    let room = request.room.as_str();
    let Some(r) = resolve(conn, room, &request.filter, rule)? else {
        return Ok(Committed::nothing(DeleteOutcome::MessageNotFound));
    };
    let by_retention = request.actor == Actor::Retention;
    let (covered, shown) = count_covered(conn, room, &r, rule, room_state.retention, by_retention)?;
    if shown == 0 && request.skip_if_nothing {
        return Ok(Committed::nothing(DeleteOutcome::NothingMatched));
    }
    // Stored answers that embed a covered message lose it; the others keep theirs.
    let embedded = super::idempotency::embedded_messages(conn, room)?;
    if !embedded.is_empty() {
        let hit: Vec<String> = candidates(room, &r, None)
            .filter(messages::id.eq_any(&embedded))
            .select(messages::id)
            .load(conn)?;
        for id in &hit {
            super::idempotency::redact_answers(conn, room, Some(id))?;
        }
    }
    let large = usize::try_from(covered).map_or(true, |n| n > *budget);
    if !large {
        *budget -= usize::try_from(covered).unwrap_or(0);
    }
    if large {
        let senders: Vec<&str> = if r.senders.is_empty() {
            vec![""]
        } else {
            r.senders.clone()
        };
        for sender in senders {
            diesel::insert_into(erasures::table)
                .values((
                    erasures::deletion_id.eq(request.id.as_str()),
                    erasures::room_id.eq(room),
                    erasures::sender.eq(sender),
                    erasures::above_seq.eq(r.above),
                    erasures::through_seq.eq(r.through),
                    erasures::after_ms.eq(r.after_ms),
                    erasures::before_ms.eq(r.before_ms),
                ))
                .execute(conn)?;
        }
    } else if covered > 0 {
        let seqs: Vec<i64> = candidates(room, &r, None)
            .select(messages::seq)
            .load(conn)?;
        for chunk in seqs.chunks(1_000) {
            diesel::delete(messages::table.filter(messages::seq.eq_any(chunk))).execute(conn)?;
        }
    }
    add_visible(conn, room, -covered)?;
    let mut deletion = Deletion::committed(request, count(shown));
    record(conn, &mut deletion, room_state)?;
    Ok(Committed::deleted(deletion, large, room_state.queued))
}

/// Runs one deletion inside the caller's transaction: lock, permission, then the target.
/// `budget` is how many rows the transaction may still remove in place; larger sets are
/// left to the purger, so a transaction never removes more than the purge batch in total.
fn delete_in(
    store: &DieselStore,
    conn: &mut DbConnection,
    request: &DeletionRequest,
    rule: Rule,
    budget: &mut usize,
) -> QueryResult<Committed> {
    let room = request.room.as_str();
    if !lock_room(conn, room)? {
        return Ok(Committed::nothing(DeleteOutcome::RoomNotFound));
    }
    // Holding the room's write lock, which role changes also take: the role
    // read here is the one in force when the deletion commits.
    if !Role::of(&request.actor, membership(conn, room, &request.actor)?).can_moderate() {
        return Ok(Committed::nothing(DeleteOutcome::PermissionDenied));
    }
    let (cleared, purged, visible, webhook, retention, audit_head): (
        i64,
        i64,
        i64,
        Option<String>,
        Option<i32>,
        String,
    ) = rooms::table
        .find(room)
        .select((
            rooms::cleared_through_seq,
            rooms::purged_through_seq,
            rooms::visible_count,
            rooms::webhook,
            rooms::retention_days,
            // In the same read as the room's state: after the lock (this statement reads what
            // committed before it), and without a round trip of its own.
            sql::<diesel::sql_types::Text>(&format!(
                "COALESCE((SELECT d.hash FROM deletions d WHERE d.room_id = rooms.id \
                 ORDER BY d.seq DESC LIMIT 1), '{GENESIS}')"
            )),
        ))
        .first(conn)?;
    let room_state = Locked {
        cleared,
        purged,
        visible,
        retention,
        queued: store.queueing == EventQueueing::All || webhook.is_some(),
        audit_head,
    };
    match &request.target {
        DeleteTarget::One(id) => delete_one(conn, request, id, &room_state, rule),
        DeleteTarget::Bulk(ids) => delete_bulk(conn, request, ids, &room_state, rule),
        DeleteTarget::All if request.filter.is_empty() => {
            clear_all(conn, request, &room_state, budget, rule)
        }
        DeleteTarget::All => clear_matching(conn, request, &room_state, budget, rule),
    }
}

impl DieselStore {
    /// Commits `requests` in one transaction (rooms locked in ID order, so that two such
    /// calls cannot deadlock), then waits for the files to be scrubbed and wakes the workers.
    fn commit_deletions(&self, requests: &[DeletionRequest]) -> StoreResult<Vec<DeleteOutcome>> {
        let rule = Rule::now(self);
        let mut order: Vec<usize> = (0..requests.len()).collect();
        order.sort_by(|a, b| requests[*a].room.cmp(&requests[*b].room));
        let mut conn = self.conn()?;
        let committed = self
            .database()
            .write(&mut conn, |conn| {
                let mut budget = self.purge_batch;
                if super::batch_clear::applies(requests) {
                    return super::batch_clear::clear_rooms(
                        self,
                        conn,
                        requests,
                        rule,
                        &mut budget,
                    );
                }
                let mut done: Vec<Option<Committed>> = requests.iter().map(|_| None).collect();
                for &i in &order {
                    done[i] = Some(delete_in(self, conn, &requests[i], rule, &mut budget)?);
                }
                Ok(done.into_iter().flatten().collect::<Vec<_>>())
            })
            .map_err(crate::error::query)?;
        let mut any_deleted = false;
        let (mut queued, mut needs_purge) = (false, false);
        for c in &committed {
            if let DeleteOutcome::Deleted(deletion) = &c.outcome {
                tracing::debug!(
                    deletion = %deletion.id,
                    count = deletion.deleted_count,
                    purge_later = c.needs_purge,
                    "deletion committed"
                );
                any_deleted = true;
                queued |= c.queued;
            }
            needs_purge |= c.needs_purge;
        }
        if any_deleted {
            self.db.scrub_wal();
        }
        if queued {
            self.listener.committed(Backlog::Event);
        }
        if needs_purge {
            self.listener.committed(Backlog::Purge);
        }
        Ok(committed.into_iter().map(|c| c.outcome).collect())
    }
}

impl MessageStore for DieselStore {
    fn insert_message(&self, message: &Message) -> StoreResult<bool> {
        self.with_write(|conn| {
            if !lock_room(conn, message.room.as_str())? {
                return Err(diesel::result::Error::NotFound);
            }
            match diesel::insert_into(messages::table)
                .values(NewMessageRow::from(message))
                .execute(conn)
            {
                Ok(_) => add_visible(conn, message.room.as_str(), 1).map(|()| true),
                Err(e) if crate::error::is_unique_violation(&e) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn find_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>> {
        let rule = Rule::now(self);
        self.with_conn(|conn| {
            Ok(find_visible(conn, room.as_str(), id.as_str(), rule)?.map(|(_, row)| row.into()))
        })
    }

    fn recall_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>> {
        let rule = Rule::now(self);
        self.with_write(|conn| {
            let Some((seq, _)) = find_visible(conn, room.as_str(), id.as_str(), rule)? else {
                return Ok(None);
            };
            diesel::update(messages::table.find(seq))
                .set((
                    messages::body.eq(MessageContent::recalled().as_json()),
                    messages::message_type.eq(RECALL_TYPE),
                ))
                .execute(conn)?;
            Ok(find_visible(conn, room.as_str(), id.as_str(), rule)?.map(|(_, row)| row.into()))
        })
    }

    fn list_messages(
        &self,
        room: &RoomId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> StoreResult<Option<MessagePage>> {
        let room = room.as_str();
        let rule = Rule::now(self);
        self.with_conn(|conn| {
            let before_seq = match before {
                None => None,
                Some(id) => match find_visible(conn, room, id.as_str(), rule)? {
                    None => return Ok(None),
                    Some((seq, _)) => Some(seq),
                },
            };
            let (visible, retention): (i64, Option<i32>) = rooms::table
                .find(room)
                .select((rooms::visible_count, rooms::retention_days))
                .first(conn)
                .optional()?
                .unwrap_or((0, None));
            let total_count = visible - rule.expired_count(conn, room, retention)?;
            let rows: Vec<MessageRow> = messages::table
                .inner_join(rooms::table)
                .filter(messages::room_id.eq(room))
                .filter(messages::seq.gt(rooms::cleared_through_seq))
                .filter(messages::seq.lt(before_seq.unwrap_or(i64::MAX)))
                .filter(rule.sql(false))
                .order(messages::seq.desc())
                .limit(i64::from(limit))
                .select(MessageRow::as_select())
                .load(conn)?;
            Ok(Some(MessagePage {
                total_count: count(total_count),
                messages: rows.into_iter().map(Message::from).collect(),
            }))
        })
    }

    fn last_message(&self, room: &RoomId) -> StoreResult<Option<Message>> {
        let rule = Rule::now(self);
        self.with_conn(|conn| {
            let row = messages::table
                .inner_join(rooms::table)
                .filter(messages::room_id.eq(room.as_str()))
                .filter(messages::seq.gt(rooms::cleared_through_seq))
                .filter(rule.sql(false))
                .order(messages::seq.desc())
                .select(MessageRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(Message::from))
        })
    }

    fn delete(&self, request: &DeletionRequest) -> StoreResult<DeleteOutcome> {
        self.commit_deletions(std::slice::from_ref(request))?
            .pop()
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("a deletion without outcome")))
    }

    fn delete_many(&self, requests: &[DeletionRequest]) -> StoreResult<Vec<DeleteOutcome>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        self.commit_deletions(requests)
    }

    fn count_matching(&self, room: &RoomId, filter: &MessageFilter) -> StoreResult<Option<u64>> {
        let rule = Rule::now(self);
        let room = room.as_str();
        self.with_conn(|conn| {
            let Some((retention, visible)) = rooms::table
                .find(room)
                .select((rooms::retention_days, rooms::visible_count))
                .first::<(Option<i32>, i64)>(conn)
                .optional()?
            else {
                return Ok(Some(0));
            };
            if filter.is_empty() {
                return Ok(Some(count(
                    visible - rule.expired_count(conn, room, retention)?,
                )));
            }
            let Some(r) = resolve(conn, room, filter, rule)? else {
                return Ok(None);
            };
            let (_, shown) = count_covered(conn, room, &r, rule, retention, false)?;
            Ok(Some(count(shown)))
        })
    }

    fn count_matching_in(
        &self,
        rooms: &[RoomId],
        filter: &MessageFilter,
    ) -> StoreResult<Vec<Option<u64>>> {
        if rooms.len() < 2 || !super::batch_clear::countable(filter) {
            return rooms
                .iter()
                .map(|room| self.count_matching(room, filter))
                .collect();
        }
        let rule = Rule::now(self);
        let ids: Vec<&str> = rooms.iter().map(RoomId::as_str).collect();
        let counts = self.with_conn(|conn| {
            super::batch_clear::count_matching_in(self, conn, &ids, filter, rule)
        })?;
        Ok(counts.into_iter().map(Some).collect())
    }

    fn rooms_with_messages_from(
        &self,
        sender: &ClientId,
        among: Option<&[RoomId]>,
    ) -> StoreResult<Vec<RoomId>> {
        let rule = Rule::now(self);
        self.with_conn(|conn| {
            let mut q = messages::table
                .filter(messages::sender.eq(sender.as_str()))
                .select(messages::room_id)
                .distinct()
                .into_boxed();
            if let Some(rooms) = among {
                q = q.filter(messages::room_id.eq_any(rooms.iter().map(RoomId::as_str)));
            }
            let candidates: Vec<String> = q.load(conn)?;
            // Of those, the rooms where one of them is visible: one statement per chunk.
            let mut found = Vec::new();
            for chunk in candidates.chunks(super::batch_clear::CHUNK) {
                let shown = sql::<Bool>(
                    "EXISTS (SELECT 1 FROM messages WHERE messages.room_id = rooms.id \
                     AND messages.sender = ",
                )
                .bind::<Text, _>(sender.as_str())
                .sql(" AND messages.seq > rooms.cleared_through_seq AND ")
                .sql(&rule.visible_sql())
                .sql(")");
                let rooms: Vec<String> = rooms::table
                    .filter(rooms::id.eq_any(chunk))
                    .filter(shown)
                    .select(rooms::id)
                    .load(conn)?;
                found.extend(rooms.into_iter().map(RoomId::from_trusted));
            }
            found.sort();
            Ok(found)
        })
    }

    fn expired_rooms(
        &self,
        default_days: Option<RetentionDays>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ExpiredRoom>> {
        self.with_conn(|conn| {
            let mut q = rooms::table
                .select((
                    rooms::id,
                    rooms::retention_days,
                    rooms::retention_set_by,
                    rooms::retention_set_at,
                ))
                .order(rooms::id.asc())
                .into_boxed();
            if default_days.is_none() {
                q = q.filter(rooms::retention_days.is_not_null());
            }
            type Row = (String, Option<i32>, Option<String>, Option<i64>);
            let rooms: Vec<Row> = q.load(conn)?;
            // Rooms by the retention that applies to them; each group is checked one
            // chunk of rooms per statement, with its cutoff.
            let mut groups: std::collections::BTreeMap<u32, (RetentionDays, Vec<String>)> =
                std::collections::BTreeMap::new();
            let mut origins = std::collections::HashMap::new();
            for (room, own, set_by, set_at) in rooms {
                let set = crate::rows::retention_set(set_by, set_at);
                let own = crate::rows::retention(own);
                if let Some(origin) = RetentionOrigin::in_force(own, set, default_days) {
                    groups
                        .entry(origin.days.get())
                        .or_insert_with(|| (origin.days, Vec::new()))
                        .1
                        .push(room.clone());
                    origins.insert(room, origin);
                }
            }
            let mut expired = Vec::new();
            for (days, rooms) in groups.into_values() {
                let cutoff = days.cutoff(now);
                for chunk in rooms.chunks(super::batch_clear::CHUNK) {
                    let old = sql::<Bool>(
                        "EXISTS (SELECT 1 FROM messages WHERE messages.room_id = rooms.id \
                         AND messages.created_at < ",
                    )
                    .bind::<BigInt, _>(to_ms(cutoff))
                    .sql(" AND messages.seq > rooms.cleared_through_seq AND ")
                    .sql(filter_sql::NOT_ERASED)
                    .sql(")");
                    let found: Vec<String> = rooms::table
                        .filter(rooms::id.eq_any(chunk))
                        .filter(old)
                        .select(rooms::id)
                        .load(conn)?;
                    expired.extend(found.into_iter().filter_map(|room| {
                        let retention = origins.remove(&room)?;
                        Some(ExpiredRoom {
                            room: RoomId::from_trusted(room),
                            cutoff,
                            retention,
                        })
                    }));
                }
            }
            expired.sort_by(|a, b| a.room.cmp(&b.room));
            Ok(expired)
        })
    }
}
