//! The room row's write lock, and what is kept exact under it.
//!
//! Every write to a room's messages (send, delete, clear) first bumps the room row's
//! `write_version`, which takes that row's write lock (on MySQL a deletion takes it by reading
//! the room's state `FOR UPDATE` instead), so these writes serialize per room:
//! a clear counts exactly the messages committed before it and none sent after it, and of
//! two deletes of one message exactly one finds it. Role changes take the same lock, so a
//! role read under it is the one in force when the write commits. Under the lock each write
//! keeps the room's `visible_count` exact: the rows above the watermark that no erasure
//! covers, expired ones included (a send adds one, a deletion subtracts what it removed or
//! erased, a clear sets 0), so a room's count is one row read plus a range count of the
//! rows only the retention hides.

use crate::cached::update;
use crate::db::DbConnection;
use crate::schema::{room_members, rooms};
use diesel::prelude::*;
use roomwarden_domain::actor::Actor;
use roomwarden_domain::roles::Membership;

/// Takes the room row's write lock; `false` when the room does not exist.
pub(in crate::store) fn lock_room(conn: &mut DbConnection, room: &str) -> QueryResult<bool> {
    let bump = rooms::write_version.eq(rooms::write_version + 1);
    let n = update(rooms::table, bump, rooms::id.eq(room)).execute(conn)?;
    Ok(n > 0)
}

/// Adds `delta` to the room's visible count; call holding the room's lock.
pub(in crate::store) fn add_visible(
    conn: &mut DbConnection,
    room: &str,
    delta: i64,
) -> QueryResult<()> {
    let add = rooms::visible_count.eq(rooms::visible_count + delta);
    update(rooms::table, add, rooms::id.eq(room))
        .execute(conn)
        .map(|_| ())
}

/// What `room`, owned by `owner` (as read under the lock), records about the actor
/// (nothing for the API key): one primary-key read.
pub(in crate::store) fn membership(
    conn: &mut DbConnection,
    room: &str,
    owner: Option<&str>,
    actor: &Actor,
) -> QueryResult<Membership> {
    let Some(id) = actor.client_id().filter(|_| !actor.is_platform_admin()) else {
        return Ok(Membership::default());
    };
    let manager: Option<bool> = room_members::table
        .find((room, id.as_str()))
        .select(room_members::is_manager)
        .first(conn)
        .optional()?;
    Ok(Membership {
        is_owner: owner == Some(id.as_str()),
        is_manager: manager == Some(true),
        is_member: manager.is_some(),
    })
}
