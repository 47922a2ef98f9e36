//! Cases of rooms: members, roles, updates.

use super::ContractStore;
use super::fixtures::*;
use crate::actor::Actor;
use crate::error::Action;
use crate::model::{NewRoom, RetentionDays, RoomChanges, RoomType, RoomUpdateOutcome};

/// A room keeps owner managers and members.
pub fn a_room_keeps_owner_managers_and_members<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &["mgr"], &["m2", "m1"]);
    let room = s.get_room(&rid("r1")).expect("read").expect("exists");
    assert_eq!(room.owner, Some(cid("owner")));
    assert_eq!(room.managers, vec![cid("mgr")]);
    assert_eq!(
        room.members,
        vec![cid("m1"), cid("m2"), cid("mgr"), cid("owner")],
        "sorted, owner and managers included"
    );
    assert_eq!(room.room_type, RoomType::Group);
    assert_eq!(s.get_room(&rid("nope")).expect("read"), None);
}

/// A taken room id changes nothing.
pub fn a_taken_room_id_changes_nothing<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &[], &[]);
    add_client(s, "other");
    let again = NewRoom {
        id: rid("r1"),
        name: Some("other".to_owned()),
        room_type: RoomType::Direct,
        owner: Some(cid("other")),
        managers: vec![],
        members: vec![],
        webhook: None,
        retention_days: None,
        created_at: now(),
    };
    assert!(!s.insert_room(&again, &Actor::Platform, None).expect("ran"));
    let room = s.get_room(&rid("r1")).expect("read").expect("exists");
    assert_eq!(room.owner, Some(cid("owner")));
    assert_eq!(room.members, vec![cid("owner")]);
}

/// Update changes owner managers and webhook.
pub fn update_changes_owner_managers_and_webhook<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &["mgr"], &["m1"]);
    add_client(s, "boss");
    let changes = RoomChanges {
        name: Some("renamed".to_owned()),
        owner: Some(cid("boss")),
        managers: Some(vec![cid("m1")]),
        webhook: Some(Some("https://hooks.example/x".to_owned())),
        retention_days: Some(Some(RetentionDays::new(30).expect("valid"))),
    };
    let room = update_as_platform(s, "r1", &changes);
    assert_eq!(room.name.as_deref(), Some("renamed"));
    assert_eq!(room.owner, Some(cid("boss")));
    assert_eq!(
        room.managers,
        vec![cid("m1")],
        "the old manager became a plain member"
    );
    assert!(
        room.has_member(&cid("boss"))
            && room.has_member(&cid("mgr"))
            && room.has_member(&cid("owner"))
    );
    assert_eq!(room.webhook.as_deref(), Some("https://hooks.example/x"));

    let clear = RoomChanges {
        webhook: Some(None),
        ..RoomChanges::default()
    };
    let room = update_as_platform(s, "r1", &clear);
    assert_eq!(room.webhook, None);
    assert_eq!(
        room.name.as_deref(),
        Some("renamed"),
        "untouched fields are kept"
    );
    assert_eq!(
        s.update_room(&rid("nope"), &Actor::Platform, &clear, now(), None)
            .expect("ran"),
        RoomUpdateOutcome::RoomNotFound
    );
}

/// Storage checks the roles in force when an update takes effect.
pub fn storage_checks_the_roles_in_force_when_an_update_takes_effect<S: ContractStore + ?Sized>(
    s: &S,
) {
    add_room(s, "r1", "owner", &["mgr"], &["m1"]);
    let before = s.get_room(&rid("r1")).expect("ran").expect("room");
    // `mgr` is demoted after the use case read the room; its rename is then refused and
    // changes nothing, not even `updatedAt`.
    update_as_platform(
        s,
        "r1",
        &RoomChanges {
            managers: Some(vec![]),
            ..RoomChanges::default()
        },
    );
    let demoted = s.get_room(&rid("r1")).expect("ran").expect("room");
    let rename = RoomChanges {
        name: Some("taken over".to_owned()),
        ..RoomChanges::default()
    };
    assert_eq!(
        s.update_room(&rid("r1"), &user("mgr"), &rename, now(), None)
            .expect("ran"),
        RoomUpdateOutcome::PermissionDenied(Action::UpdateRoom)
    );
    assert_eq!(s.get_room(&rid("r1")).expect("ran"), Some(demoted.clone()));
    assert_eq!(demoted.name, before.name);
    // A manager may rename, but only the owner (or an administrator) hands the room over.
    update_as_platform(
        s,
        "r1",
        &RoomChanges {
            managers: Some(vec![cid("mgr")]),
            ..RoomChanges::default()
        },
    );
    let handover = RoomChanges {
        owner: Some(cid("mgr")),
        ..RoomChanges::default()
    };
    assert_eq!(
        s.update_room(&rid("r1"), &user("mgr"), &handover, now(), None)
            .expect("ran"),
        RoomUpdateOutcome::PermissionDenied(Action::ChangeOwner)
    );
    let renamed = s
        .update_room(&rid("r1"), &user("mgr"), &rename, now(), None)
        .expect("ran");
    assert!(
        matches!(&renamed, RoomUpdateOutcome::Updated(r) if r.name.as_deref() == Some("taken over")),
        "{renamed:?}"
    );
    assert!(matches!(
        s.update_room(&rid("r1"), &user("owner"), &handover, now(), None)
            .expect("ran"),
        RoomUpdateOutcome::Updated(_)
    ));
}

/// Members are added once and removed with their role.
pub fn members_are_added_once_and_removed_with_their_role<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &["mgr"], &[]);
    add_client(s, "x");
    let updated = |outcome: RoomUpdateOutcome| match outcome {
        RoomUpdateOutcome::Updated(room) => room,
        other => panic!("expected an update, got {other:?}"),
    };
    let room = updated(
        s.add_members(
            &rid("r1"),
            &Actor::Platform,
            &[cid("x"), cid("x"), cid("mgr")],
            now(),
            None,
        )
        .expect("ran"),
    );
    assert_eq!(room.members, vec![cid("mgr"), cid("owner"), cid("x")]);
    assert_eq!(
        room.managers,
        vec![cid("mgr")],
        "re-adding keeps the manager role"
    );
    let room = updated(
        s.remove_members(
            &rid("r1"),
            &Actor::Platform,
            &[cid("mgr"), cid("not-a-member")],
            now(),
            None,
        )
        .expect("ran"),
    );
    assert_eq!(room.members, vec![cid("owner"), cid("x")]);
    assert!(room.managers.is_empty());
    assert_eq!(
        s.add_members(&rid("nope"), &Actor::Platform, &[cid("x")], now(), None)
            .expect("ran"),
        RoomUpdateOutcome::RoomNotFound
    );
}

/// Membership changes check the roles in force.
pub fn membership_changes_check_the_roles_in_force<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &["mgr"], &["m1"]);
    add_client(s, "x");
    // Demoted after the use case's check: may no longer invite or remove others.
    update_as_platform(
        s,
        "r1",
        &RoomChanges {
            managers: Some(vec![]),
            ..RoomChanges::default()
        },
    );
    let before = s.get_room(&rid("r1")).expect("ran");
    assert_eq!(
        s.add_members(&rid("r1"), &user("mgr"), &[cid("x")], now(), None)
            .expect("ran"),
        RoomUpdateOutcome::PermissionDenied(Action::ManageMembers)
    );
    assert_eq!(
        s.remove_members(&rid("r1"), &user("mgr"), &[cid("m1")], now(), None)
            .expect("ran"),
        RoomUpdateOutcome::PermissionDenied(Action::ManageMembers)
    );
    assert_eq!(
        s.remove_members(&rid("r1"), &Actor::Platform, &[cid("owner")], now(), None)
            .expect("ran"),
        RoomUpdateOutcome::PermissionDenied(Action::RemoveOwner)
    );
    assert_eq!(
        s.get_room(&rid("r1")).expect("ran"),
        before,
        "nothing changed"
    );
    // A plain member may still leave.
    assert!(matches!(
        s.remove_members(&rid("r1"), &user("m1"), &[cid("m1")], now(), None)
            .expect("ran"),
        RoomUpdateOutcome::Updated(room) if !room.has_member(&cid("m1"))
    ));
}

/// Rooms are listed newest first (creation time, then ID), a member's only, with a cursor
/// that is unknown outside what the caller may list.
pub fn rooms_are_listed_newest_first_with_a_cursor_and_a_member_filter<
    S: ContractStore + ?Sized,
>(
    s: &S,
) {
    for r in ["a", "b", "c", "d"] {
        add_room(s, r, "owner", &[], if r == "c" { &[] } else { &["m"] });
    }
    let ids = |rooms: Option<Vec<crate::model::Room>>| -> Vec<String> {
        rooms
            .expect("known cursor")
            .iter()
            .map(|r| r.id.as_str().to_owned())
            .collect()
    };
    // Same creation time (the fixtures' clock): by ID, descending.
    assert_eq!(
        ids(s.list_rooms(None, None, 10).expect("ran")),
        ["d", "c", "b", "a"]
    );
    assert_eq!(
        ids(s.list_rooms(None, Some(&rid("c")), 2).expect("ran")),
        ["b", "a"]
    );
    let m = cid("m");
    assert_eq!(
        ids(s.list_rooms(Some(&m), None, 2).expect("ran")),
        ["d", "b"]
    );
    assert_eq!(
        ids(s.list_rooms(Some(&m), Some(&rid("b")), 2).expect("ran")),
        ["a"]
    );
    assert_eq!(
        s.list_rooms(Some(&m), Some(&rid("c")), 2).expect("ran"),
        None
    );
    assert_eq!(s.list_rooms(None, Some(&rid("zz")), 2).expect("ran"), None);
    let member_rooms = s.list_rooms(Some(&m), None, 1).expect("ran").expect("page");
    assert_eq!(member_rooms[0].members, vec![cid("m"), cid("owner")]);
}
