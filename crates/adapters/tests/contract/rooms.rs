use crate::support::*;
use roomwarden_domain::model::{NewRoom, RoomChanges, RoomType};
use roomwarden_domain::ports::RoomStore;

#[test]
fn a_room_keeps_owner_managers_and_members() {
    let s = store();
    add_room(&s, "r1", "owner", &["mgr"], &["m2", "m1"]);
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

#[test]
fn a_taken_room_id_changes_nothing() {
    let s = store();
    add_room(&s, "r1", "owner", &[], &[]);
    add_client(&s, "other");
    let again = NewRoom {
        id: rid("r1"),
        name: Some("other".to_owned()),
        room_type: RoomType::Direct,
        owner: Some(cid("other")),
        managers: vec![],
        members: vec![],
        webhook: None,
        created_at: now(),
    };
    assert!(!s.insert_room(&again).expect("ran"));
    let room = s.get_room(&rid("r1")).expect("read").expect("exists");
    assert_eq!(room.owner, Some(cid("owner")));
    assert_eq!(room.members, vec![cid("owner")]);
}

#[test]
fn update_changes_owner_managers_and_webhook() {
    let s = store();
    add_room(&s, "r1", "owner", &["mgr"], &["m1"]);
    add_client(&s, "boss");
    let changes = RoomChanges {
        name: Some("renamed".to_owned()),
        owner: Some(cid("boss")),
        managers: Some(vec![cid("m1")]),
        webhook: Some(Some("https://hooks.example/x".to_owned())),
    };
    let room = s
        .update_room(&rid("r1"), &changes, now())
        .expect("ran")
        .expect("exists");
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
    let room = s
        .update_room(&rid("r1"), &clear, now())
        .expect("ran")
        .expect("exists");
    assert_eq!(room.webhook, None);
    assert_eq!(
        room.name.as_deref(),
        Some("renamed"),
        "untouched fields are kept"
    );
    assert_eq!(
        s.update_room(&rid("nope"), &clear, now()).expect("ran"),
        None
    );
}

#[test]
fn members_are_added_once_and_removed_with_their_role() {
    let s = store();
    add_room(&s, "r1", "owner", &["mgr"], &[]);
    add_client(&s, "x");
    let room = s
        .add_members(&rid("r1"), &[cid("x"), cid("x"), cid("mgr")], now())
        .expect("ran")
        .expect("exists");
    assert_eq!(room.members, vec![cid("mgr"), cid("owner"), cid("x")]);
    assert_eq!(
        room.managers,
        vec![cid("mgr")],
        "re-adding keeps the manager role"
    );
    let room = s
        .remove_members(&rid("r1"), &[cid("mgr"), cid("not-a-member")], now())
        .expect("ran")
        .expect("exists");
    assert_eq!(room.members, vec![cid("owner"), cid("x")]);
    assert!(room.managers.is_empty());
    assert_eq!(
        s.add_members(&rid("nope"), &[cid("x")], now())
            .expect("ran"),
        None
    );
}
