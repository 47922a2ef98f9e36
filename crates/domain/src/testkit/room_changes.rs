//! Cases of room-change records: one per change that changes something, written with it,
//! listed newest first; and the retention origin that a retention deletion records.

use super::ContractStore;
use super::fixtures::*;
use super::moderation::send_at;
use crate::actor::{Actor, RecordedActor};
use crate::ids::{ClientId, RoomChangeId};
use crate::model::{
    AuditReason, NewRoom, RetentionDays, RetentionSetter, RoomChanges, RoomType, RoomUpdateOutcome,
};
use crate::room_change::{FieldChange, FieldValue, RoomChange, RoomField};
use crate::usecases::retention::apply_retention;
use chrono::Duration;

/// The room's change records, newest first.
fn changes_of<S: ContractStore + ?Sized>(s: &S, room: &str) -> Vec<RoomChange> {
    s.list_room_changes(Some(&rid(room)), None, 100)
        .expect("ran")
        .expect("page")
}

fn text(t: &str) -> FieldValue {
    FieldValue::Text(t.to_owned())
}

fn clients(ids: &[&str]) -> FieldValue {
    FieldValue::Clients(ids.iter().map(|c| cid(c)).collect::<Vec<ClientId>>())
}

fn change(field: RoomField, from: FieldValue, to: FieldValue) -> FieldChange {
    FieldChange { field, from, to }
}

fn updated(outcome: RoomUpdateOutcome) {
    assert!(
        matches!(outcome, RoomUpdateOutcome::Updated(_)),
        "{outcome:?}"
    );
}

/// A creation, an update, an added and a removed member each write exactly one record
/// with the right `from`/`to`, by the right actor, with the reason; a change that changes
/// nothing (or is refused) writes none.
pub fn each_room_change_is_recorded_once_with_from_and_to<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &["mgr"], &["m1"]);
    add_client(s, "x");
    let created = changes_of(s, "r1");
    assert_eq!(created.len(), 1, "the creation's record");
    assert_eq!(created[0].changed_by, "_platform");
    assert_eq!(
        created[0].changes,
        vec![
            change(RoomField::Name, FieldValue::Null, text("Room r1")),
            change(RoomField::Owner, FieldValue::Null, text("owner")),
            change(
                RoomField::Members,
                FieldValue::Null,
                clients(&["m1", "mgr", "owner"])
            ),
            change(RoomField::Managers, FieldValue::Null, clients(&["mgr"])),
        ]
    );

    let reason = AuditReason::parse("tidy up".to_owned()).expect("short");
    let rename = RoomChanges {
        name: Some("Renamed".to_owned()),
        retention_days: Some(Some(RetentionDays::new(3).expect("valid"))),
        ..RoomChanges::default()
    };
    let at = now();
    updated(
        s.update_room(&rid("r1"), &user("mgr"), &rename, at, Some(&reason))
            .expect("ran"),
    );
    let after = changes_of(s, "r1");
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].changed_by, "mgr");
    assert_eq!(after[0].changed_at, at);
    assert_eq!(
        after[0].reason.as_ref().map(AuditReason::as_str),
        Some("tidy up")
    );
    assert_eq!(
        after[0].changes,
        vec![
            change(RoomField::Name, text("Room r1"), text("Renamed")),
            change(
                RoomField::RetentionDays,
                FieldValue::Null,
                FieldValue::Days(RetentionDays::new(3).expect("valid"))
            ),
        ]
    );

    updated(
        s.add_members(&rid("r1"), &user("mgr"), &[cid("x")], now(), None)
            .expect("ran"),
    );
    let added = changes_of(s, "r1");
    assert_eq!(added.len(), 3);
    assert_eq!(added[0].reason, None);
    assert_eq!(
        added[0].changes,
        vec![change(
            RoomField::Members,
            clients(&["m1", "mgr", "owner"]),
            clients(&["m1", "mgr", "owner", "x"])
        )]
    );

    updated(
        s.remove_members(&rid("r1"), &Actor::Platform, &[cid("mgr")], now(), None)
            .expect("ran"),
    );
    let removed = changes_of(s, "r1");
    assert_eq!(removed.len(), 4);
    assert_eq!(removed[0].changed_by, "_platform");
    assert_eq!(
        removed[0].changes,
        vec![
            change(
                RoomField::Members,
                clients(&["m1", "mgr", "owner", "x"]),
                clients(&["m1", "owner", "x"])
            ),
            change(RoomField::Managers, clients(&["mgr"]), clients(&[])),
        ],
        "a removed manager loses the role too"
    );

    // Changes that change nothing, and a refused change, write no record.
    let same = RoomChanges {
        name: Some("Renamed".to_owned()),
        managers: Some(vec![]),
        retention_days: Some(Some(RetentionDays::new(3).expect("valid"))),
        ..RoomChanges::default()
    };
    updated(
        s.update_room(&rid("r1"), &user("owner"), &same, now(), None)
            .expect("ran"),
    );
    updated(
        s.add_members(&rid("r1"), &user("owner"), &[cid("x")], now(), None)
            .expect("ran"),
    );
    updated(
        s.remove_members(&rid("r1"), &user("owner"), &[cid("nobody")], now(), None)
            .expect("ran"),
    );
    assert_eq!(
        s.update_room(&rid("r1"), &user("m1"), &rename, now(), None)
            .expect("ran"),
        RoomUpdateOutcome::PermissionDenied(crate::error::Action::UpdateRoom)
    );
    assert_eq!(changes_of(s, "r1").len(), 4, "no record for any of them");

    // A new owner who was not a member joins the members: both fields change.
    add_client(s, "boss");
    let handover = RoomChanges {
        owner: Some(cid("boss")),
        webhook: Some(Some("https://hooks.example/x".to_owned())),
        ..RoomChanges::default()
    };
    updated(
        s.update_room(&rid("r1"), &user("owner"), &handover, now(), None)
            .expect("ran"),
    );
    assert_eq!(
        changes_of(s, "r1")[0].changes,
        vec![
            change(
                RoomField::Webhook,
                FieldValue::Null,
                text("https://hooks.example/x")
            ),
            change(RoomField::Owner, text("owner"), text("boss")),
            change(
                RoomField::Members,
                clients(&["m1", "owner", "x"]),
                clients(&["boss", "m1", "owner", "x"])
            ),
        ]
    );
}

/// Records are listed newest first, of one room or all, with a cursor that is unknown
/// outside the room listed; a taken room ID records nothing.
pub fn room_changes_are_listed_newest_first_with_a_cursor<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "a", "owner", &[], &[]);
    add_room(s, "b", "owner", &[], &[]);
    for (room, name) in [("a", "a1"), ("b", "b1"), ("a", "a2")] {
        let changes = RoomChanges {
            name: Some(name.to_owned()),
            ..RoomChanges::default()
        };
        update_as_platform(s, room, &changes);
    }
    let taken = NewRoom {
        id: rid("a"),
        name: None,
        room_type: RoomType::Group,
        owner: None,
        managers: vec![],
        members: vec![],
        webhook: None,
        retention_days: None,
        created_at: now(),
    };
    assert!(!s.insert_room(&taken, &Actor::Platform, None).expect("ran"));

    let names = |records: &[RoomChange]| -> Vec<String> {
        records
            .iter()
            .map(
                |r| match &r.change_of(RoomField::Name).expect("a name").to {
                    FieldValue::Text(t) => t.clone(),
                    other => panic!("{other:?}"),
                },
            )
            .collect()
    };
    let all = s
        .list_room_changes(None, None, 100)
        .expect("ran")
        .expect("page");
    assert_eq!(names(&all), ["a2", "b1", "a1", "Room b", "Room a"]);
    let of_a = changes_of(s, "a");
    assert_eq!(names(&of_a), ["a2", "a1", "Room a"]);
    let page = s
        .list_room_changes(Some(&rid("a")), Some(&of_a[0].id), 1)
        .expect("ran")
        .expect("page");
    assert_eq!(names(&page), ["a1"]);
    let rest = s
        .list_room_changes(None, Some(&all[1].id), 10)
        .expect("ran")
        .expect("page");
    assert_eq!(names(&rest), ["a1", "Room b", "Room a"]);
    assert_eq!(
        s.list_room_changes(Some(&rid("a")), Some(&all[1].id), 10)
            .expect("ran"),
        None,
        "b's record is no cursor for a"
    );
    assert_eq!(
        s.list_room_changes(
            None,
            Some(&RoomChangeId::from_trusted("nope".to_owned())),
            10
        )
        .expect("ran"),
        None
    );
    assert!(
        s.list_deletions(None, None, 10)
            .expect("ran")
            .expect("page")
            .is_empty(),
        "room changes are no deletions"
    );
}

/// A retention run's deletion records the retention it applied and who set it: the
/// manager's room change (actor and time), the creator for a retention set at creation,
/// and `_default` (no time) once the room's own retention is removed and the deployment's
/// default applies. Runs the retention use case itself, which takes `&dyn MessageStore`
/// (so `S` is sized here).
pub fn a_retention_deletion_names_who_set_the_retention<S: ContractStore>(s: &S) {
    add_room(s, "r1", "owner", &["mgr"], &[]);
    let created = NewRoom {
        id: rid("born"),
        name: None,
        room_type: RoomType::Group,
        owner: Some(cid("owner")),
        managers: vec![],
        members: vec![],
        webhook: None,
        retention_days: Some(RetentionDays::new(2).expect("valid")),
        created_at: now() - Duration::hours(1),
    };
    assert!(
        s.insert_room(&created, &Actor::Platform, None)
            .expect("ran")
    );
    let old = now() - Duration::days(5);
    send_at(s, "r1", "owner", "old-1", old);
    send_at(s, "born", "owner", "old-2", old);

    let day = RetentionDays::new(1).expect("valid");
    let set_at = now() - Duration::minutes(1);
    let one_day = RoomChanges {
        retention_days: Some(Some(day)),
        ..RoomChanges::default()
    };
    updated(
        s.update_room(&rid("r1"), &user("mgr"), &one_day, set_at, None)
            .expect("ran"),
    );
    // A later change of something else leaves the retention's origin as it was.
    let rename = RoomChanges {
        name: Some("later".to_owned()),
        ..RoomChanges::default()
    };
    update_as_platform(s, "r1", &rename);

    let done = apply_retention(s, None, now()).expect("ran");
    assert_eq!(done.len(), 2);
    let by_room = |room: &str| {
        s.list_deletions(Some(&rid(room)), None, 10)
            .expect("ran")
            .expect("page")
            .into_iter()
            .next()
            .expect("a deletion")
    };
    let r1 = by_room("r1");
    assert_eq!(r1.deleted_by, "_retention");
    let origin = r1.retention.expect("a retention origin");
    assert_eq!(origin.days, day);
    let by = |actor| Some(RetentionSetter::Actor(actor));
    assert_eq!(origin.set_by, by(RecordedActor::Client(cid("mgr"))));
    assert_eq!(origin.set_at, Some(set_at));
    let born = by_room("born").retention.expect("a retention origin");
    assert_eq!(born.set_by, by(RecordedActor::Platform));
    assert_eq!(born.set_at, Some(created.created_at));

    // Back to the default: `_default`, no time.
    let default = RoomChanges {
        retention_days: Some(None),
        ..RoomChanges::default()
    };
    updated(
        s.update_room(&rid("r1"), &user("mgr"), &default, now(), None)
            .expect("ran"),
    );
    assert_eq!(
        changes_of(s, "r1")[0].changes,
        vec![change(
            RoomField::RetentionDays,
            FieldValue::Days(day),
            FieldValue::Null
        )]
    );
    send_at(s, "r1", "owner", "old-3", old);
    let week = RetentionDays::new(3).expect("valid");
    let done = apply_retention(s, Some(week), now()).expect("ran");
    assert_eq!(done.len(), 1);
    let origin = by_room("r1").retention;
    assert_eq!(
        origin
            .as_ref()
            .map(|o| (o.days, o.set_by.clone(), o.set_at)),
        Some((week, Some(RetentionSetter::Default), None))
    );
    assert!(
        s.list_deletions(Some(&rid("r1")), None, 10)
            .expect("ran")
            .expect("page")
            .iter()
            .all(|d| d.retention.is_some()),
        "both retention deletions carry their origin"
    );
    // Other deletions carry none.
    let mut manual = request("r1", crate::ids::DeleteTarget::All, "admin");
    manual.reason = None;
    let crate::model::DeleteOutcome::Deleted(d) = s.delete(&manual).expect("ran") else {
        panic!("deleted")
    };
    assert_eq!(d.retention, None);
    assert_eq!(by_room("r1").retention, d.retention);
}
