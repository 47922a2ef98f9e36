//! Reading the audit log: deletions, and room changes.

use crate::actor::Actor;
use crate::audit_chain::{ChainCheck, ChainReport};
use crate::error::{Action, DomainError};
use crate::ids::{DeletionId, RoomChangeId, RoomId};
use crate::model::Deletion;
use crate::ports::{AuditStore, RoomStore};
use crate::record_json::deletion_record;
use crate::room_change::RoomChange;
use crate::usecases::{Limit, Ports};
use std::collections::BTreeMap;

/// Who may read a room's logs (deletions and room changes): platform admins, the owner and
/// managers of an existing room.
fn may_read_log(rooms: &dyn RoomStore, actor: &Actor, room: &RoomId) -> Result<(), DomainError> {
    let found = rooms.get_room(room)?.ok_or(DomainError::RoomNotFound)?;
    if !found.can_moderate(actor) {
        return Err(DomainError::PermissionDenied(Action::ReadAuditLog));
    }
    Ok(())
}

/// `GET /rooms/{roomID}/deletions`: platform admins, the owner and managers.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(ReadAuditLog)`, or a storage failure (an unknown
/// cursor is an empty page).
pub fn room_deletions(
    ports: &Ports<'_>,
    actor: &Actor,
    room: &RoomId,
    before: Option<&DeletionId>,
    limit: Limit,
) -> Result<Vec<Deletion>, DomainError> {
    may_read_log(ports.rooms, actor, room)?;
    all_deletions(ports, Some(room), before, limit)
}

/// `GET /admin/deletions`: every room's records (or one room's, which need not exist any more).
///
/// # Errors
/// A storage failure (an unknown cursor is an empty page).
pub fn all_deletions(
    ports: &Ports<'_>,
    room: Option<&RoomId>,
    before: Option<&DeletionId>,
    limit: Limit,
) -> Result<Vec<Deletion>, DomainError> {
    Ok(super::page(ports.audit.list_deletions(
        room,
        before,
        limit.get(),
    )?))
}

/// Records read per storage call while verifying or exporting: memory stays bounded
/// whatever the number of records.
pub const CHAIN_PAGE: u32 = 1_000;

/// `GET /rooms/{roomID}/deletions/verify`, its first step: platform admins, the owner and
/// managers may verify the room's chain (as read its deletions); then [`verify_page`], page
/// after page.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(ReadAuditLog)`, or a storage failure.
pub fn may_verify(ports: &Ports<'_>, actor: &Actor, room: &RoomId) -> Result<(), DomainError> {
    may_read_log(ports.rooms, actor, room)
}

/// Checks the next [`CHAIN_PAGE`] of `room`'s deletion records, after the record `after`
/// (from the first with `None`), as the next links of `check`; the cursor of the page after
/// it, `None` once the chain is read. A caller that must bound each storage call (a request
/// has a deadline) verifies a room of any size this way; [`verify_chain`] loops over it.
///
/// # Errors
/// A storage failure.
pub fn verify_page(
    ports: &Ports<'_>,
    room: &RoomId,
    after: Option<&DeletionId>,
    check: &mut ChainCheck,
) -> Result<Option<DeletionId>, DomainError> {
    next_page(ports.audit, Some(room), after, |record| {
        check_next(check, record)
    })
}

/// Calls `f` with the next [`CHAIN_PAGE`] deletion records of `room` (of every room with
/// `None`) after `after`, oldest first; the cursor of the page after it, `None` after the
/// last.
fn next_page(
    audit: &dyn AuditStore,
    room: Option<&RoomId>,
    after: Option<&DeletionId>,
    f: impl FnMut(&Deletion),
) -> Result<Option<DeletionId>, DomainError> {
    let page = audit
        .list_deletions_oldest_first(room, after, None, None, CHAIN_PAGE)?
        .unwrap_or_default();
    page.iter().for_each(f);
    Ok(page
        .last()
        .filter(|_| page.len() == CHAIN_PAGE as usize)
        .map(|last| last.id.clone()))
}

/// Calls `f` with every deletion record of `room` (of every room with `None`), oldest first,
/// reading [`CHAIN_PAGE`] records at a time.
fn each_oldest_first(
    audit: &dyn AuditStore,
    room: Option<&RoomId>,
    mut f: impl FnMut(&Deletion),
) -> Result<(), DomainError> {
    let mut after: Option<DeletionId> = None;
    while let Some(next) = next_page(audit, room, after.as_ref(), &mut f)? {
        after = Some(next);
    }
    Ok(())
}

/// Checks `record` as the next of its chain.
fn check_next(check: &mut ChainCheck, record: &Deletion) {
    check.push(
        record.id.as_str(),
        record.hash.as_deref(),
        &deletion_record(record),
    );
}

/// Recomputes `room`'s chain of deletion records (the room need not exist any more: records
/// outlive rooms), for the command line's `audit verify --room`.
///
/// # Errors
/// A storage failure.
pub fn verify_chain(audit: &dyn AuditStore, room: &RoomId) -> Result<ChainReport, DomainError> {
    let mut check = ChainCheck::default();
    each_oldest_first(audit, Some(room), |record| check_next(&mut check, record))?;
    Ok(check.finish())
}

/// Recomputes every room's chain of deletion records in one pass over the log (memory grows
/// with the number of rooms, not of records), for the command line's `audit verify`. Rooms
/// by ID.
///
/// # Errors
/// A storage failure.
pub fn verify_all(audit: &dyn AuditStore) -> Result<BTreeMap<RoomId, ChainReport>, DomainError> {
    let mut checks: BTreeMap<RoomId, ChainCheck> = BTreeMap::new();
    each_oldest_first(audit, None, |record| {
        check_next(checks.entry(record.room.clone()).or_default(), record);
    })?;
    Ok(checks
        .into_iter()
        .map(|(room, check)| (room, check.finish()))
        .collect())
}

/// `GET /rooms/{roomID}/changes`: platform admins, the owner and managers, as for the
/// room's deletions.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(ReadAuditLog)`, or a storage failure (an unknown
/// cursor is an empty page).
pub fn room_changes(
    ports: &Ports<'_>,
    actor: &Actor,
    room: &RoomId,
    before: Option<&RoomChangeId>,
    limit: Limit,
) -> Result<Vec<RoomChange>, DomainError> {
    may_read_log(ports.rooms, actor, room)?;
    all_room_changes(ports, Some(room), before, limit)
}

/// `GET /admin/changes`: every room's change records (or one room's, which need not exist
/// any more).
///
/// # Errors
/// A storage failure (an unknown cursor is an empty page).
pub fn all_room_changes(
    ports: &Ports<'_>,
    room: Option<&RoomId>,
    before: Option<&RoomChangeId>,
    limit: Limit,
) -> Result<Vec<RoomChange>, DomainError> {
    Ok(super::page(ports.audit.list_room_changes(
        room,
        before,
        limit.get(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClientId;
    use crate::ports::{MockAuditStore, MockRoomStore};
    use crate::testkit::fixtures::{cast_room as room, user};
    use crate::usecases::Mocks;

    /// The cast's room, and no audit expectation yet.
    fn cast() -> Mocks {
        let mut rooms = MockRoomStore::new();
        rooms.expect_get_room().returning(|_| Ok(Some(room())));
        Mocks {
            rooms,
            ..Mocks::default()
        }
    }

    #[test]
    fn members_cannot_read_the_audit_log() {
        let err = room_deletions(
            &cast().ports(),
            &user("member"),
            &room().id,
            None,
            Limit(20),
        );
        assert!(matches!(
            err,
            Err(DomainError::PermissionDenied(Action::ReadAuditLog))
        ));
    }

    #[test]
    fn an_unknown_cursor_is_an_empty_page() {
        let mut audit = MockAuditStore::new();
        audit.expect_list_deletions().returning(|_, _, _| Ok(None));
        let mocks = Mocks {
            audit,
            ..Mocks::default()
        };
        let cursor = DeletionId::from_trusted("nope".to_owned());
        let page = all_deletions(&mocks.ports(), None, Some(&cursor), Limit(20));
        assert!(matches!(page, Ok(records) if records.is_empty()));
    }

    #[test]
    fn room_changes_are_read_as_deletions_are() {
        let err = room_changes(
            &cast().ports(),
            &user("member"),
            &room().id,
            None,
            Limit(20),
        );
        assert!(matches!(
            err,
            Err(DomainError::PermissionDenied(Action::ReadAuditLog))
        ));
        let mut audit = MockAuditStore::new();
        audit
            .expect_list_room_changes()
            .withf(|room, before, limit| {
                room.map(RoomId::as_str) == Some("r") && before.is_some() && *limit == 7
            })
            .returning(|_, _, _| Ok(None));
        let mocks = Mocks { audit, ..cast() };
        let cursor = RoomChangeId::from_trusted("nope".to_owned());
        let page = room_changes(
            &mocks.ports(),
            &user("manager"),
            &room().id,
            Some(&cursor),
            Limit(7),
        );
        assert!(
            matches!(&page, Ok(records) if records.is_empty()),
            "an unknown cursor is an empty page: {page:?}"
        );
        let mut none = MockRoomStore::new();
        none.expect_get_room().returning(|_| Ok(None));
        let none = Mocks {
            rooms: none,
            ..Mocks::default()
        };
        assert!(matches!(
            room_changes(&none.ports(), &Actor::Platform, &room().id, None, Limit(1)),
            Err(DomainError::RoomNotFound)
        ));
    }

    #[test]
    fn owner_reads_its_room_only() {
        let mut audit = MockAuditStore::new();
        audit
            .expect_list_deletions()
            .withf(|room, before, limit| {
                room.map(RoomId::as_str) == Some("r") && before.is_none() && *limit == 5
            })
            .returning(|_, _, _| Ok(Some(vec![])));
        let mocks = Mocks { audit, ..cast() };
        let owner = Actor::Client {
            id: ClientId::from_trusted("owner".to_owned()),
            is_platform_admin: false,
        };
        assert!(room_deletions(&mocks.ports(), &owner, &room().id, None, Limit(5)).is_ok());
    }
}
