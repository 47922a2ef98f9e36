//! The visibility rule, as the store applies it: a message is visible while its `seq` is
//! above its room's `cleared_through_seq`, no pending erasure covers it and its room's
//! retention has not expired it (the SQL fragments are in [`crate::filter_sql`]).

use super::DieselStore;
use crate::db::DbConnection;
use crate::filter_sql;
use crate::rows::{MessageRow, from_ms};
use crate::schema::{erasures, messages, rooms};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use roomwarden_domain::model::RetentionDays;

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
            now_ms: store.now().timestamp_millis(),
            default: store.default_retention(),
        }
    }

    /// SQL: visible beyond the watermark (see [`filter_sql::visible`]).
    pub(crate) fn sql(self, with_expired: bool) -> filter_sql::Visible {
        filter_sql::visible(self.now_ms, self.default, with_expired)
    }

    /// For a room with this retention of its own: the time (ms) before which its messages
    /// have expired, if any.
    pub(in crate::store) fn cutoff_ms(self, own: Option<i32>) -> Option<i64> {
        let days = crate::rows::retention(own).or(self.default)?;
        Some(days.cutoff(from_ms(self.now_ms)).timestamp_millis())
    }

    /// SQL over `messages` joined with `rooms`: not expired (see [`filter_sql::unexpired_sql`]).
    pub(in crate::store) fn unexpired_sql(self) -> String {
        filter_sql::unexpired_sql(self.now_ms, self.default)
    }

    /// The text of [`Self::sql`] without expired rows (see [`filter_sql::visible_sql`]).
    pub(in crate::store) fn visible_sql(self) -> String {
        filter_sql::visible_sql(self.now_ms, self.default)
    }

    /// How many of the room's rows above the watermark only the retention hides (0 for a
    /// room without retention). A range over the `(room_id, created_at)` index.
    pub(in crate::store) fn expired_count(
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
pub(in crate::store) fn find_visible(
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
pub(in crate::store) fn has_erasures(conn: &mut DbConnection, room: &str) -> QueryResult<bool> {
    erasures::table
        .filter(erasures::room_id.eq(room))
        .select(erasures::seq)
        .first::<i64>(conn)
        .optional()
        .map(|found| found.is_some())
}
