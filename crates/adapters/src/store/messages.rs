//! [`MessageStore`] over the `messages` table, with deletion and its audit record.
//!
//! A message is visible while its `seq` is above its room's `cleared_through_seq`. Every
//! write to a room's messages (send, delete, clear) first bumps the room row's
//! `write_version`, which takes that row's write lock, so these writes serialize per room:
//! a clear counts exactly the messages committed before it and none sent after it, and
//! of two deletes of one message exactly one finds it. Under the same lock each of them
//! keeps the room's `visible_count` exact (send +1, delete −1, clear 0), so `totalCount`
//! and a clear's `deletedCount` are one row read, whatever the room's size. In the same
//! transactions, stored idempotent answers that embed a deleted message keep only their
//! redacted bodies (`super::idempotency::redact_answers`).

use super::{Backlog, EventQueueing};
use super::{DieselStore, unsigned};
use crate::db::DbConnection;
use crate::rows::{MessageRow, NewDeletionRow, NewMessageRow, count};
use crate::schema::{deletions, messages, room_members, rooms};
use diesel::dsl::max;
use diesel::prelude::*;
use roomwarden_domain::auth::Actor;
use roomwarden_domain::ids::{DeleteTarget, MessageId, RoomId};
use roomwarden_domain::model::{
    DeleteOutcome, Deletion, DeletionRequest, Message, MessageContent, MessagePage, RECALL_TYPE,
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

/// The visible message `id` of `room`, with its `seq`.
pub(super) fn find_visible(
    conn: &mut DbConnection,
    room: &str,
    id: &str,
) -> QueryResult<Option<(i64, MessageRow)>> {
    messages::table
        .inner_join(rooms::table)
        .filter(messages::room_id.eq(room))
        .filter(messages::id.eq(id))
        .filter(messages::seq.gt(rooms::cleared_through_seq))
        .select((messages::seq, MessageRow::as_select()))
        .first(conn)
        .optional()
}

/// Writes the audit record and the event of `deletion`; inside the deletion's transaction.
fn record(conn: &mut DbConnection, deletion: &Deletion, queued: bool) -> QueryResult<()> {
    diesel::insert_into(deletions::table)
        .values(NewDeletionRow::from(deletion))
        .execute(conn)?;
    super::outbox::record(conn, deletion, queued)
}

/// The room as the deletion finds it, under its lock.
struct Locked {
    cleared: i64,
    purged: i64,
    visible: i64,
    /// Whether the deletion's event is queued for the dispatcher.
    queued: bool,
}

/// What a committed deletion leaves to do after its transaction.
struct Committed {
    outcome: DeleteOutcome,
    needs_purge: bool,
    /// Whether the event is queued for the dispatcher.
    queued: bool,
}

impl Committed {
    /// Nothing deleted, nothing to do afterwards.
    fn nothing(outcome: DeleteOutcome) -> Self {
        Self {
            outcome,
            needs_purge: false,
            queued: false,
        }
    }
}

fn delete_one(
    conn: &mut DbConnection,
    request: &DeletionRequest,
    id: &MessageId,
    room_state: &Locked,
) -> QueryResult<Committed> {
    let cleared = room_state.cleared;
    let room = request.room.as_str();
    let removed = diesel::delete(
        messages::table
            .filter(messages::room_id.eq(room))
            .filter(messages::id.eq(id.as_str()))
            .filter(messages::seq.gt(cleared)),
    )
    .execute(conn)?;
    if removed == 0 {
        return Ok(Committed::nothing(DeleteOutcome::MessageNotFound));
    }
    add_visible(conn, room, -i64::try_from(removed).unwrap_or(i64::MAX))?;
    super::idempotency::redact_answers(conn, room, Some(id.as_str()))?;
    let deletion = Deletion::committed(request, unsigned(removed));
    record(conn, &deletion, room_state.queued)?;
    Ok(Committed {
        outcome: DeleteOutcome::Deleted(deletion),
        needs_purge: false,
        queued: room_state.queued,
    })
}

/// Moves the room's watermark to its newest message, so everything up to it is invisible
/// at once; removes the rows in the same transaction when there are at most `batch` of them,
/// else leaves them to the purger, which removes `batch` rows at a time (durably: `purged_through_seq` stays behind).
fn clear_all(
    conn: &mut DbConnection,
    request: &DeletionRequest,
    room_state: &Locked,
    batch: usize,
) -> QueryResult<Committed> {
    let (cleared, purged, visible) = (room_state.cleared, room_state.purged, room_state.visible);
    let room = request.room.as_str();
    let newest: Option<i64> = messages::table
        .filter(messages::room_id.eq(room))
        .select(max(messages::seq))
        .first(conn)?;
    let watermark = newest.unwrap_or(0).max(cleared);
    // Every visible message is above the old watermark and at or below the new one.
    let cleared_now = visible;
    let small = usize::try_from(cleared_now).is_ok_and(|n| n <= batch);
    if small && cleared_now > 0 {
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
    let deletion = Deletion::committed(request, count(cleared_now));
    record(conn, &deletion, room_state.queued)?;
    Ok(Committed {
        outcome: DeleteOutcome::Deleted(deletion),
        needs_purge: purged_now < watermark,
        queued: room_state.queued,
    })
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
        self.with_conn(|conn| {
            Ok(find_visible(conn, room.as_str(), id.as_str())?.map(|(_, row)| row.into()))
        })
    }

    fn recall_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>> {
        self.with_write(|conn| {
            let Some((seq, _)) = find_visible(conn, room.as_str(), id.as_str())? else {
                return Ok(None);
            };
            diesel::update(messages::table.find(seq))
                .set((
                    messages::body.eq(MessageContent::recalled().as_json()),
                    messages::message_type.eq(RECALL_TYPE),
                ))
                .execute(conn)?;
            Ok(find_visible(conn, room.as_str(), id.as_str())?.map(|(_, row)| row.into()))
        })
    }

    fn list_messages(
        &self,
        room: &RoomId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> StoreResult<Option<MessagePage>> {
        let room = room.as_str();
        self.with_conn(|conn| {
            let before_seq = match before {
                None => None,
                Some(id) => match find_visible(conn, room, id.as_str())? {
                    None => return Ok(None),
                    Some((seq, _)) => Some(seq),
                },
            };
            let total_count: i64 = rooms::table
                .find(room)
                .select(rooms::visible_count)
                .first(conn)
                .optional()?
                .unwrap_or(0);
            let rows: Vec<MessageRow> = messages::table
                .inner_join(rooms::table)
                .filter(messages::room_id.eq(room))
                .filter(messages::seq.gt(rooms::cleared_through_seq))
                .filter(messages::seq.lt(before_seq.unwrap_or(i64::MAX)))
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
        self.with_conn(|conn| {
            let row = messages::table
                .inner_join(rooms::table)
                .filter(messages::room_id.eq(room.as_str()))
                .filter(messages::seq.gt(rooms::cleared_through_seq))
                .order(messages::seq.desc())
                .select(MessageRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(Message::from))
        })
    }

    fn delete(&self, request: &DeletionRequest) -> StoreResult<DeleteOutcome> {
        let mut conn = self.conn()?;
        let committed = self
            .database()
            .write(&mut conn, |conn| {
                let room = request.room.as_str();
                if !lock_room(conn, room)? {
                    return Ok(Committed::nothing(DeleteOutcome::RoomNotFound));
                }
                // Holding the room's write lock, which role changes also take: the role
                // read here is the one in force when the deletion commits.
                if !Role::of(&request.actor, membership(conn, room, &request.actor)?).can_moderate()
                {
                    return Ok(Committed::nothing(DeleteOutcome::PermissionDenied));
                }
                let (cleared, purged, visible, webhook): (i64, i64, i64, Option<String>) =
                    rooms::table
                        .find(room)
                        .select((
                            rooms::cleared_through_seq,
                            rooms::purged_through_seq,
                            rooms::visible_count,
                            rooms::webhook,
                        ))
                        .first(conn)?;
                let room_state = Locked {
                    cleared,
                    purged,
                    visible,
                    queued: self.queueing == EventQueueing::All || webhook.is_some(),
                };
                match &request.target {
                    DeleteTarget::One(id) => delete_one(conn, request, id, &room_state),
                    DeleteTarget::All => clear_all(conn, request, &room_state, self.purge_batch),
                }
            })
            .map_err(crate::error::query)?;
        if let DeleteOutcome::Deleted(deletion) = &committed.outcome {
            tracing::debug!(
                deletion = %deletion.id,
                count = deletion.deleted_count,
                purge_later = committed.needs_purge,
                "deletion committed"
            );
            self.db.scrub_wal();
            if committed.queued {
                self.listener.committed(Backlog::Event);
            }
        }
        if committed.needs_purge {
            self.listener.committed(Backlog::Purge);
        }
        Ok(committed.outcome)
    }
}
