//! Deleting one message, the listed messages (`_bulk`), or every message of a room (`_all`
//! without a filter), inside the deletion's transaction and under the room's lock.

use super::{Committed, Locked, record};
use crate::db::DbConnection;
use crate::rows::count;
use crate::schema::{messages, rooms};
use crate::store::idempotency::redact_answers;
use crate::store::room_lock::add_visible;
use crate::store::visibility::{Rule, find_visible, has_erasures};
use diesel::dsl::max;
use diesel::prelude::*;
use roomwarden_domain::ids::MessageId;
use roomwarden_domain::model::{DeleteOutcome, Deletion, DeletionRequest};

/// One message: `MessageNotFound` unless it is visible in the room.
pub(super) fn delete_one(
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
    redact_answers(conn, room, Some(id.as_str()))?;
    let mut deletion = Deletion::committed(request, 1);
    record(conn, &mut deletion, room_state)?;
    Ok(Committed::deleted(deletion, false, room_state.queued))
}

/// Removes the listed messages visible in the room, in one statement.
pub(super) fn delete_bulk(
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
        redact_answers(conn, room, Some(id.as_str()))?;
    }
    let mut deletion = Deletion::committed_bulk(request, removed);
    record(conn, &mut deletion, room_state)?;
    Ok(Committed::deleted(deletion, false, room_state.queued))
}

/// Moves the room's watermark to its newest message, so everything up to it is invisible
/// at once; removes the rows in the same transaction when there are at most `batch` of them,
/// else leaves them to the purger, which removes `batch` rows at a time (durably: `purged_through_seq` stays behind).
pub(super) fn clear_all(
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
    redact_answers(conn, room, None)?;
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
