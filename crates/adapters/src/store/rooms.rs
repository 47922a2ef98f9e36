//! [`RoomStore`] over the `rooms` and `room_members` tables, with each change's record in
//! `room_changes`.

use super::DieselStore;
use crate::db::DbConnection;
use crate::rows::{MemberRow, NewRoomChangeRow, NewRoomRow, RoomRow, RoomUpdate, to_ms};
use crate::schema::{room_changes, room_members, rooms};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use roomwarden_domain::actor::Actor;
use roomwarden_domain::error::Action;
use roomwarden_domain::ids::{ClientId, RoomId};
use roomwarden_domain::model::{AuditReason, NewRoom, Room, RoomChanges, RoomUpdateOutcome};
use roomwarden_domain::ports::{RoomStore, StoreResult};
use roomwarden_domain::room_change::RoomChange;
use std::collections::BTreeMap;

/// Reads a room with its members.
pub(crate) fn load_room(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Room>> {
    let Some(row) = rooms::table
        .find(id)
        .select(RoomRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let members = room_members::table
        .filter(room_members::room_id.eq(id))
        .select(MemberRow::as_select())
        .load(conn)?;
    Ok(Some(row.into_room(members)))
}

/// Makes `client` a member (a manager when `manager`); an existing member keeps its row
/// except that `manager == Some(..)` sets its manager flag.
fn ensure_member(
    conn: &mut DbConnection,
    room: &str,
    client: &str,
    manager: Option<bool>,
    now: i64,
) -> QueryResult<()> {
    let target = room_members::table.find((room, client));
    let exists = target.count().get_result::<i64>(conn)? > 0;
    if exists {
        if let Some(flag) = manager {
            diesel::update(target)
                .set(room_members::is_manager.eq(flag))
                .execute(conn)?;
        }
        return Ok(());
    }
    diesel::insert_into(room_members::table)
        .values(MemberRow {
            room_id: room.to_owned(),
            client_id: client.to_owned(),
            is_manager: manager.unwrap_or(false),
            joined_at: now,
        })
        .execute(conn)
        .map(|_| ())
}

/// Sets `updated_at`, which also takes the room row's write lock first; `false` when the
/// room does not exist.
fn touch(conn: &mut DbConnection, room: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(rooms::table.find(room))
        .set(rooms::updated_at.eq(now))
        .execute(conn)?;
    Ok(n > 0)
}

/// Writes the room-change record of a change (or creation) of a room, inside its
/// transaction: the domain's [`RoomChange::record`] of the room before (`None` at creation)
/// and after, nothing when nothing changed; a change of the retention also records who set
/// it on the room row.
fn record_change(
    conn: &mut DbConnection,
    before: Option<&Room>,
    after: &Room,
    by: &ChangeBy<'_>,
) -> QueryResult<()> {
    let Some(mut record) = RoomChange::record(before, after, by.actor, by.now, by.reason) else {
        return Ok(());
    };
    super::chain::link_change(conn, &mut record)?;
    diesel::insert_into(room_changes::table)
        .values(NewRoomChangeRow::from(&record))
        .execute(conn)?;
    if let Some(set) = record.retention_set() {
        diesel::update(rooms::table.find(after.id.as_str()))
            .set((
                rooms::retention_set_by.eq(set.as_ref().map(|s| s.by.as_str())),
                rooms::retention_set_at.eq(set.as_ref().map(|s| to_ms(s.at))),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Who makes a room change, when and why: what its record names beside the changes.
struct ChangeBy<'a> {
    actor: &'a Actor,
    now: DateTime<Utc>,
    reason: Option<&'a AuditReason>,
}

/// Changes a room in one transaction, as the domain allows: touching the room first takes
/// its write lock, so the room that `allowed` judges (reloaded under the lock) has the
/// roles in force when `write` commits, and is the `before` of the change's record, written
/// in the same transaction. Refused, the transaction rolls back (the touch too).
fn change_room(
    store: &DieselStore,
    id: &RoomId,
    by: &ChangeBy<'_>,
    allowed: impl Fn(&Room) -> Result<(), Action>,
    write: impl Fn(&mut DbConnection, i64) -> QueryResult<()>,
) -> StoreResult<RoomUpdateOutcome> {
    let now = to_ms(by.now);
    store
        .with_write_or_refuse(|conn| {
            if !touch(conn, id.as_str(), now)? {
                return Ok(Ok(RoomUpdateOutcome::RoomNotFound));
            }
            let Some(room) = load_room(conn, id.as_str())? else {
                return Ok(Ok(RoomUpdateOutcome::RoomNotFound));
            };
            if let Err(action) = allowed(&room) {
                return Ok(Err(action));
            }
            write(conn, now)?;
            let Some(after) = load_room(conn, id.as_str())? else {
                return Ok(Ok(RoomUpdateOutcome::RoomNotFound));
            };
            record_change(conn, Some(&room), &after, by)?;
            Ok(Ok(RoomUpdateOutcome::Updated(after)))
        })
        .map(|outcome| outcome.unwrap_or_else(RoomUpdateOutcome::PermissionDenied))
}

/// Writes `changes` to a room whose row is locked.
fn apply_changes(
    conn: &mut DbConnection,
    id: &str,
    changes: &RoomChanges,
    now: i64,
) -> QueryResult<()> {
    let update = RoomUpdate {
        name: changes.name.as_deref(),
        owner: changes.owner.as_ref().map(ClientId::as_str),
        webhook: changes.webhook.as_ref().map(Option::as_deref),
        retention_days: changes.retention_days.map(crate::rows::retention_column),
        updated_at: now,
    };
    diesel::update(rooms::table.find(id))
        .set(&update)
        .execute(conn)?;
    if let Some(owner) = &changes.owner {
        ensure_member(conn, id, owner.as_str(), None, now)?;
    }
    if let Some(managers) = &changes.managers {
        diesel::update(room_members::table.filter(room_members::room_id.eq(id)))
            .set(room_members::is_manager.eq(false))
            .execute(conn)?;
        for manager in managers {
            ensure_member(conn, id, manager.as_str(), Some(true), now)?;
        }
    }
    Ok(())
}

impl RoomStore for DieselStore {
    fn insert_room(
        &self,
        room: &NewRoom,
        actor: &Actor,
        reason: Option<&AuditReason>,
    ) -> StoreResult<bool> {
        let now = to_ms(room.created_at);
        // Managers win over plain membership; the owner is a plain member unless also a manager.
        let mut members: BTreeMap<&str, bool> = BTreeMap::new();
        for id in room.owner.iter().chain(&room.members) {
            members.entry(id.as_str()).or_insert(false);
        }
        for id in &room.managers {
            members.insert(id.as_str(), true);
        }
        self.with_write(|conn| {
            let row = NewRoomRow {
                id: room.id.as_str(),
                name: room.name.as_deref(),
                room_type: room.room_type.as_str(),
                owner: room.owner.as_ref().map(ClientId::as_str),
                webhook: room.webhook.as_deref(),
                retention_days: crate::rows::retention_column(room.retention_days),
                created_at: now,
                updated_at: now,
                audit_head: roomwarden_domain::audit_chain::GENESIS,
            };
            match diesel::insert_into(rooms::table).values(&row).execute(conn) {
                Ok(_) => {}
                Err(e) if crate::error::is_unique_violation(&e) => return Ok(false),
                Err(e) => return Err(e),
            }
            for (client, is_manager) in &members {
                diesel::insert_into(room_members::table)
                    .values(MemberRow {
                        room_id: room.id.as_str().to_owned(),
                        client_id: (*client).to_owned(),
                        is_manager: *is_manager,
                        joined_at: now,
                    })
                    .execute(conn)?;
            }
            let Some(created) = load_room(conn, room.id.as_str())? else {
                return Err(diesel::result::Error::NotFound);
            };
            let by = ChangeBy {
                actor,
                now: room.created_at,
                reason,
            };
            record_change(conn, None, &created, &by)?;
            Ok(true)
        })
    }

    fn get_room(&self, id: &RoomId) -> StoreResult<Option<Room>> {
        self.with_conn(|conn| load_room(conn, id.as_str()))
    }

    fn list_rooms(
        &self,
        member: Option<&ClientId>,
        before: Option<&RoomId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Room>>> {
        self.with_conn(|conn| {
            let belongs = |conn: &mut DbConnection, room: &str| -> QueryResult<bool> {
                let Some(m) = member else { return Ok(true) };
                room_members::table
                    .find((room, m.as_str()))
                    .count()
                    .get_result::<i64>(conn)
                    .map(|n| n > 0)
            };
            let cursor = match before {
                None => None,
                Some(id) => {
                    let at: Option<i64> = rooms::table
                        .find(id.as_str())
                        .select(rooms::created_at)
                        .first(conn)
                        .optional()?;
                    match at {
                        Some(at) if belongs(conn, id.as_str())? => Some((at, id.as_str())),
                        _ => return Ok(None),
                    }
                }
            };
            let mut q = rooms::table.select(RoomRow::as_select()).into_boxed();
            if let Some(m) = member {
                q = q.filter(
                    rooms::id.eq_any(
                        room_members::table
                            .filter(room_members::client_id.eq(m.as_str()))
                            .select(room_members::room_id),
                    ),
                );
            }
            if let Some((at, id)) = cursor {
                q = q.filter(
                    rooms::created_at
                        .lt(at)
                        .or(rooms::created_at.eq(at).and(rooms::id.lt(id))),
                );
            }
            let rows: Vec<RoomRow> = q
                .order((rooms::created_at.desc(), rooms::id.desc()))
                .limit(i64::from(limit))
                .load(conn)?;
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            let mut members: BTreeMap<String, Vec<MemberRow>> = BTreeMap::new();
            for m in room_members::table
                .filter(room_members::room_id.eq_any(&ids))
                .select(MemberRow::as_select())
                .load::<MemberRow>(conn)?
            {
                members.entry(m.room_id.clone()).or_default().push(m);
            }
            Ok(Some(
                rows.into_iter()
                    .map(|row| {
                        let of_room = members.remove(&row.id).unwrap_or_default();
                        row.into_room(of_room)
                    })
                    .collect(),
            ))
        })
    }

    fn update_room(
        &self,
        id: &RoomId,
        actor: &Actor,
        changes: &RoomChanges,
        now: DateTime<Utc>,
        reason: Option<&AuditReason>,
    ) -> StoreResult<RoomUpdateOutcome> {
        change_room(
            self,
            id,
            &ChangeBy { actor, now, reason },
            |room| room.may_apply(actor, changes),
            |conn, now| apply_changes(conn, id.as_str(), changes, now),
        )
    }

    fn add_members(
        &self,
        id: &RoomId,
        actor: &Actor,
        members: &[ClientId],
        now: DateTime<Utc>,
        reason: Option<&AuditReason>,
    ) -> StoreResult<RoomUpdateOutcome> {
        change_room(
            self,
            id,
            &ChangeBy { actor, now, reason },
            |room| room.may_add_members(actor),
            |conn, now| {
                for member in members {
                    ensure_member(conn, id.as_str(), member.as_str(), None, now)?;
                }
                Ok(())
            },
        )
    }

    fn remove_members(
        &self,
        id: &RoomId,
        actor: &Actor,
        members: &[ClientId],
        now: DateTime<Utc>,
        reason: Option<&AuditReason>,
    ) -> StoreResult<RoomUpdateOutcome> {
        let allowed = |room: &Room| room.may_remove_members(actor, members);
        let by = ChangeBy { actor, now, reason };
        change_room(self, id, &by, allowed, |conn, _| {
            let ids: Vec<&str> = members.iter().map(ClientId::as_str).collect();
            diesel::delete(
                room_members::table
                    .filter(room_members::room_id.eq(id.as_str()))
                    .filter(room_members::client_id.eq_any(&ids)),
            )
            .execute(conn)?;
            Ok(())
        })
    }
}
