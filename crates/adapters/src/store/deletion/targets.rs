//! Deleting listed messages (one, or `_bulk`) or every message of a room (`_all` without a
//! filter), inside the deletion's transaction and under the room's lock: the coverage read
//! for [`deletion_plan::plan`], and its plan carried out.

use super::{Committed, Locked, link, record, settle_room};
use crate::db::DbConnection;
use crate::rows::count;
use crate::schema::{messages, rooms};
use crate::store::idempotency::redact_answers;
use crate::store::reports::Covered;
use crate::store::visibility::{Rule, find_visible, has_erasures};
use diesel::dsl::max;
use diesel::prelude::*;
use roomwarden_domain::deletion_plan::{self, Budget, Coverage, Removal, Rows};
use roomwarden_domain::ids::MessageId;
use roomwarden_domain::model::DeletionRequest;

/// The `listed` messages visible in the room, removed in one statement.
pub(super) fn delete_listed(
    conn: &mut DbConnection,
    request: &DeletionRequest,
    listed: &[MessageId],
    room_state: &Locked,
    budget: &mut Budget,
    rule: Rule,
) -> QueryResult<Committed> {
    let room = request.room.as_str();
    let found = visible_in(conn, room, listed, rule)?;
    let visible = listed
        .iter()
        .filter(|id| found.iter().any(|(_, f)| f == id.as_str()))
        .cloned()
        .collect();
    let plan = match deletion_plan::plan(request, Coverage::Listed(visible), budget) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Committed::refused(refusal)),
    };
    let seqs: Vec<i64> = found.iter().map(|(seq, _)| *seq).collect();
    match seqs.as_slice() {
        // A statement diesel prepares once per connection (`eq_any` is prepared each time).
        [seq] => diesel::delete(messages::table.find(seq)).execute(conn)?,
        _ => diesel::delete(messages::table.filter(messages::seq.eq_any(&seqs))).execute(conn)?,
    };
    let mut deletion = plan.record;
    link(conn, &mut deletion, room_state, &Covered::Seqs(&seqs))?;
    if !room_state.settle_later {
        settle_room(
            conn,
            room,
            i64::try_from(seqs.len()).unwrap_or(i64::MAX),
            &deletion,
        )?;
    }
    if !room_state.settle_later {
        for (_, id) in &found {
            redact_answers(conn, room, Some(id))?;
        }
    }
    record(conn, &deletion, room_state)?;
    Ok(Committed::deleted(deletion, false, room_state.queued))
}

/// `(seq, id)` of the `listed` messages visible in `room`: for one message, the lookup every
/// read of a message makes ([`find_visible`]); for several, one statement.
fn visible_in(
    conn: &mut DbConnection,
    room: &str,
    listed: &[MessageId],
    rule: Rule,
) -> QueryResult<Vec<(i64, String)>> {
    if let [one] = listed {
        let found = find_visible(conn, room, one.as_str(), rule)?;
        return Ok(found
            .map(|(seq, _)| (seq, one.as_str().to_owned()))
            .into_iter()
            .collect());
    }
    let ids: Vec<&str> = listed.iter().map(MessageId::as_str).collect();
    messages::table
        .inner_join(rooms::table)
        .filter(messages::room_id.eq(room))
        .filter(messages::id.eq_any(&ids))
        .filter(messages::seq.gt(rooms::cleared_through_seq))
        .filter(rule.sql(false))
        .select((messages::seq, messages::id))
        .load(conn)
}

/// Moves the room's watermark to its newest message, so everything up to it is invisible
/// at once; removes the rows in the same transaction when the plan says so, else leaves
/// them to the purger, which removes a batch of rows at a time (durably:
/// `purged_through_seq` stays behind).
pub(super) fn clear_all(
    conn: &mut DbConnection,
    request: &DeletionRequest,
    room_state: &Locked,
    budget: &mut Budget,
    rule: Rule,
) -> QueryResult<Committed> {
    let (cleared, purged, visible) = (room_state.cleared, room_state.purged, room_state.visible);
    let room = request.room.as_str();
    // Every row above the watermark that no erasure hides is counted in `visible`; those
    // only the retention hides are among them.
    let expired = if deletion_plan::counts_expired(&request.actor) {
        0
    } else {
        rule.expired_count(conn, room, room_state.retention)?
    };
    let rows = Rows {
        covered: count(visible),
        visible: count(visible - expired),
        // Rows a pending erasure hides are not in `visible` but lie in the watermark's range.
        others_hidden_among: has_erasures(conn, room)?,
    };
    let plan = match deletion_plan::plan(request, Coverage::Rows(rows), budget) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Committed::refused(refusal)),
    };
    let newest: Option<i64> = messages::table
        .filter(messages::room_id.eq(room))
        .select(max(messages::seq))
        .first(conn)?;
    let watermark = newest.unwrap_or(0).max(cleared);
    let in_place = plan.removal == Removal::InPlace;
    if in_place && visible > 0 {
        diesel::delete(
            messages::table
                .filter(messages::room_id.eq(room))
                .filter(messages::seq.gt(cleared))
                .filter(messages::seq.le(watermark)),
        )
        .execute(conn)?;
    }
    // Rows at or below `purged` are gone; if nothing older is pending, an in-place clear
    // leaves nothing behind.
    let purged_now = if in_place && purged >= cleared {
        watermark
    } else {
        purged
    };
    let mut deletion = plan.record;
    let covered = Covered::Range {
        above: i64::MIN,
        through: watermark,
        after_ms: i64::MIN,
        before_ms: i64::MAX,
        senders: &[],
    };
    link(conn, &mut deletion, room_state, &covered)?;
    diesel::update(rooms::table.find(room))
        .set((
            rooms::cleared_through_seq.eq(watermark),
            rooms::purged_through_seq.eq(purged_now),
            rooms::visible_count.eq(0),
            rooms::audit_head.eq(deletion.hash.as_deref()),
        ))
        .execute(conn)?;
    redact_answers(conn, room, None)?;
    record(conn, &deletion, room_state)?;
    Ok(Committed::deleted(
        deletion,
        purged_now < watermark,
        room_state.queued,
    ))
}
