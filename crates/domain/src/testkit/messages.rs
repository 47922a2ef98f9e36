//! Cases of messages: IDs, listing, cursors, recall.

use super::ContractStore;
use super::fixtures::*;
use crate::model::RECALL_TYPE;

/// Message ids are unique across rooms.
pub fn message_ids_are_unique_across_rooms<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    add_room(s, "r2", "bob", &[], &[]);
    assert!(
        s.insert_message(&message("r1", "alice", "m1", "hi"))
            .expect("ran")
    );
    assert!(
        !s.insert_message(&message("r1", "alice", "m1", "again"))
            .expect("ran")
    );
    assert!(
        !s.insert_message(&message("r2", "bob", "m1", "elsewhere"))
            .expect("ran")
    );
    let found = s
        .find_message(&rid("r1"), &mid("m1"))
        .expect("ran")
        .expect("found");
    assert_eq!(found.content.as_json(), "\"hi\"");
    assert_eq!(
        s.find_message(&rid("r2"), &mid("m1")).expect("ran"),
        None,
        "only in its own room"
    );
}

/// List is newest first with cursor and total.
pub fn list_is_newest_first_with_cursor_and_total<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    let ids = send_many(s, "r1", "alice", "m", 5);
    let page = s
        .list_messages(&rid("r1"), None, 2)
        .expect("ran")
        .expect("page");
    assert_eq!(page.total_count, 5);
    let got: Vec<&str> = page.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, vec![ids[4].as_str(), ids[3].as_str()]);
    let older = s
        .list_messages(&rid("r1"), Some(&mid(&ids[3])), 10)
        .expect("ran")
        .expect("page");
    let got: Vec<&str> = older.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]);
    assert_eq!(older.total_count, 5);
    assert_eq!(
        s.list_messages(&rid("r1"), Some(&mid("unknown")), 10)
            .expect("ran"),
        None
    );
    assert_eq!(
        s.last_message(&rid("r1"))
            .expect("ran")
            .map(|m| m.id.as_str().to_owned()),
        Some(ids[4].clone())
    );
}

/// A cursor from another room is unknown.
pub fn a_cursor_from_another_room_is_unknown<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    add_room(s, "r2", "bob", &[], &[]);
    send_many(s, "r2", "bob", "other", 1);
    assert_eq!(
        s.list_messages(&rid("r1"), Some(&mid("other-0")), 10)
            .expect("ran"),
        None
    );
}

/// Recall blanks content and keeps the message.
pub fn recall_blanks_content_and_keeps_the_message<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    send_many(s, "r1", "alice", "m", 1);
    let recalled = s
        .recall_message(&rid("r1"), &mid("m-0"))
        .expect("ran")
        .expect("found");
    assert_eq!(recalled.content.as_json(), "\"\"");
    assert_eq!(recalled.message_type, RECALL_TYPE);
    assert_eq!(visible_count(s, "r1"), 1);
    assert_eq!(
        s.recall_message(&rid("r1"), &mid("nope")).expect("ran"),
        None
    );
}
