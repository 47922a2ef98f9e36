//! [`AuditStore`] over the `deletions` and `room_changes` tables.

use super::DieselStore;
use crate::rows::{DeletionRow, RoomChangeRow, to_ms};
use crate::schema::{deletions, room_changes};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use roomwarden_domain::ids::{DeletionId, RoomChangeId, RoomId};
use roomwarden_domain::model::Deletion;
use roomwarden_domain::ports::{AuditStore, StoreResult};
use roomwarden_domain::room_change::RoomChange;

/// The `seq` of the deletion record `id` (of `room`, when given), for a listing's cursor.
/// Another room's record is no cursor: answering as for an unknown ID reveals nothing about
/// which records exist elsewhere.
fn deletion_seq(
    conn: &mut crate::db::DbConnection,
    id: &DeletionId,
    room: Option<&RoomId>,
) -> QueryResult<Option<i64>> {
    let mut cursor = deletions::table
        .filter(deletions::id.eq(id.as_str()))
        .select(deletions::seq)
        .into_boxed();
    if let Some(room) = room {
        cursor = cursor.filter(deletions::room_id.eq(room.as_str()));
    }
    cursor.first::<i64>(conn).optional()
}

/// Which way a page of deletion records runs from its cursor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Newest first, older than the cursor.
    Older,
    /// Oldest first, newer than the cursor.
    Newer,
}

/// Up to `limit` deletion records of `room` (or every room) from the record `cursor` in
/// `direction`, with `deleted_at` in `[since, until)`; `None` for an unknown cursor.
fn deletions_page(
    conn: &mut crate::db::DbConnection,
    room: Option<&RoomId>,
    cursor: Option<&DeletionId>,
    direction: Direction,
    (since, until): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    limit: u32,
) -> QueryResult<Option<Vec<Deletion>>> {
    let from = match cursor {
        None => None,
        Some(id) => match deletion_seq(conn, id, room)? {
            None => return Ok(None),
            some => some,
        },
    };
    #[cfg(feature = "mysql")]
    if let (crate::db::DbConnection::Mysql(c), Some(room)) = (&mut *conn, room) {
        let rows = room_page_mysql(c, room.as_str(), from, direction, (since, until), limit)?;
        return Ok(Some(rows.into_iter().map(Deletion::from).collect()));
    }
    let mut query = deletions::table
        .select(DeletionRow::as_select())
        .into_boxed();
    if let Some(room) = room {
        query = query.filter(deletions::room_id.eq(room.as_str()));
    }
    query = match (from, direction) {
        (None, _) => query,
        (Some(seq), Direction::Older) => query.filter(deletions::seq.lt(seq)),
        (Some(seq), Direction::Newer) => query.filter(deletions::seq.gt(seq)),
    };
    if let Some(t) = since {
        query = query.filter(deletions::deleted_at.ge(to_ms(t)));
    }
    if let Some(t) = until {
        query = query.filter(deletions::deleted_at.lt(to_ms(t)));
    }
    query = match direction {
        Direction::Older => query.order(deletions::seq.desc()),
        Direction::Newer => query.order(deletions::seq.asc()),
    };
    let rows = query.limit(i64::from(limit)).load::<DeletionRow>(conn)?;
    Ok(Some(rows.into_iter().map(Deletion::from).collect()))
}

/// [`deletions_page`] of one room on MySQL: the same page, read as a range of the
/// `(room_id, seq)` index. Left to itself, MariaDB plans `room_id = ? AND seq > ?` as a
/// lookup of `room_id` alone and walks the room's index entries from its first on every page,
/// which made verifying a room of a million records quadratic (docs/benchmarks.md).
#[cfg(feature = "mysql")]
fn room_page_mysql(
    conn: &mut diesel::MysqlConnection,
    room: &str,
    from: Option<i64>,
    direction: Direction,
    (since, until): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    limit: u32,
) -> QueryResult<Vec<DeletionRow>> {
    use diesel::sql_types::{BigInt, Text};
    let (after, order) = match direction {
        Direction::Older => ("<", "DESC"),
        Direction::Newer => (">", "ASC"),
    };
    let mut sql =
        String::from("SELECT * FROM deletions FORCE INDEX (deletions_by_room) WHERE room_id = ?");
    if from.is_some() {
        sql.push_str(&format!(" AND seq {after} ?"));
    }
    if since.is_some() {
        sql.push_str(" AND deleted_at >= ?");
    }
    if until.is_some() {
        sql.push_str(" AND deleted_at < ?");
    }
    sql.push_str(&format!(" ORDER BY seq {order} LIMIT ?"));
    let mut query = diesel::sql_query(sql).into_boxed().bind::<Text, _>(room);
    for value in [from, since.map(to_ms), until.map(to_ms)]
        .into_iter()
        .flatten()
    {
        query = query.bind::<BigInt, _>(value);
    }
    query.bind::<BigInt, _>(i64::from(limit)).load(conn)
}

impl AuditStore for DieselStore {
    fn list_deletions_oldest_first(
        &self,
        room: Option<&RoomId>,
        after: Option<&DeletionId>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Deletion>>> {
        self.with_conn(|conn| {
            deletions_page(conn, room, after, Direction::Newer, (since, until), limit)
        })
    }

    fn list_deletions(
        &self,
        room: Option<&RoomId>,
        before: Option<&DeletionId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Deletion>>> {
        self.with_conn(|conn| {
            deletions_page(conn, room, before, Direction::Older, (None, None), limit)
        })
    }

    fn list_room_changes(
        &self,
        room: Option<&RoomId>,
        before: Option<&RoomChangeId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<RoomChange>>> {
        self.with_conn(|conn| {
            let before_seq = match before {
                None => None,
                Some(id) => {
                    let mut cursor = room_changes::table
                        .filter(room_changes::id.eq(id.as_str()))
                        .select(room_changes::seq)
                        .into_boxed();
                    // As for deletions: another room's record is no cursor here.
                    if let Some(room) = room {
                        cursor = cursor.filter(room_changes::room_id.eq(room.as_str()));
                    }
                    match cursor.first::<i64>(conn).optional()? {
                        None => return Ok(None),
                        some => some,
                    }
                }
            };
            let mut query = room_changes::table
                .select(RoomChangeRow::as_select())
                .into_boxed();
            if let Some(room) = room {
                query = query.filter(room_changes::room_id.eq(room.as_str()));
            }
            if let Some(seq) = before_seq {
                query = query.filter(room_changes::seq.lt(seq));
            }
            let rows = query
                .order(room_changes::seq.desc())
                .limit(i64::from(limit))
                .load::<RoomChangeRow>(conn)?;
            Ok(Some(rows.into_iter().map(RoomChange::from).collect()))
        })
    }
}
