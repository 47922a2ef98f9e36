//! What only the diesel store promises about deletions: the background purge in batches,
//! its resumption by a new store, no event for a refused deletion, and (on SQLite) deleted
//! content gone from the database files.

use crate::support::*;
use roomwarden_domain::ids::DeleteTarget;
use roomwarden_domain::model::{DeleteOutcome, RoomChanges};
use roomwarden_domain::ports::MessageStore;
use std::sync::atomic::AtomicBool;

#[test]
fn a_refused_deletion_queues_no_event() {
    let s = store();
    add_room(&*s, "r1", "owner", &["mod"], &[]);
    send_many(&*s, "r1", "owner", "m", 1);
    let demote = RoomChanges {
        managers: Some(vec![]),
        ..RoomChanges::default()
    };
    update_as_platform(&*s, "r1", &demote);
    let outcome = s
        .delete(&request_as("r1", DeleteTarget::All, user("mod")))
        .expect("ran");
    assert_eq!(outcome, DeleteOutcome::PermissionDenied);
    assert_eq!(s.outbox_counts().expect("counts").pending, 0, "no event");
}

#[test]
fn a_large_clear_is_invisible_at_once_and_purged_in_batches() {
    let s = store_with_batch(10);
    add_room(&*s, "big", "alice", &[], &[]);
    send_many(&*s, "big", "alice", "m", 35);
    assert_eq!(
        deleted_count(
            s.delete(&request("big", DeleteTarget::All, "alice"))
                .expect("ran")
        ),
        35
    );
    assert_eq!(visible_count(&*s, "big"), 0, "invisible before any purge");
    assert_eq!(s.find_message(&rid("big"), &mid("m-3")).expect("ran"), None);
    let again = s
        .delete(&request("big", DeleteTarget::One(mid("m-3")), "alice"))
        .expect("ran");
    assert_eq!(
        again,
        DeleteOutcome::MessageNotFound,
        "a cleared message cannot be deleted twice"
    );

    send_many(&*s, "big", "alice", "after", 3);
    let stop = AtomicBool::new(false);
    assert_eq!(
        s.purge_pending(&stop).expect("purged"),
        35,
        "exactly the cleared rows are removed"
    );
    assert_eq!(
        s.purge_pending(&stop).expect("purged"),
        0,
        "nothing left to do"
    );
    assert_eq!(visible_count(&*s, "big"), 3);
}

#[test]
fn an_unfinished_purge_is_resumed_by_a_new_store() {
    let database = roomwarden_adapters::testing::FreshDatabase::new();
    let open = || {
        let db = roomwarden_adapters::Database::connect(
            &database.url,
            &roomwarden_adapters::PoolOptions::default(),
        )
        .expect("db");
        roomwarden_adapters::DieselStore::new(db).with_purge_batch(4)
    };
    let first = open();
    add_room(&first, "big", "alice", &[], &[]);
    send_many(&first, "big", "alice", "m", 9);
    assert_eq!(
        deleted_count(
            first
                .delete(&request("big", DeleteTarget::All, "alice"))
                .expect("ran")
        ),
        9
    );
    drop(first); // "crash" before any purge ran
    let second = open();
    assert_eq!(visible_count(&second, "big"), 0);
    assert_eq!(
        second
            .purge_pending(&AtomicBool::new(false))
            .expect("purged"),
        9
    );
    drop(second);
}

/// Every byte of the SQLite files of `store`: main file, WAL and rollback journal.
pub(crate) fn sqlite_bytes(store: &TestStore) -> Vec<u8> {
    let path = store.sqlite_file().expect("sqlite");
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        if let Ok(bytes) = std::fs::read(format!("{}{suffix}", path.display())) {
            all.extend(bytes);
        }
    }
    all
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn deleted_content_cannot_be_read_back_from_sqlite_files() {
    let s = store();
    if !is_sqlite(&s) {
        return; // a property of the embedded backend's files only
    }
    add_room(&*s, "r1", "alice", &[], &[]);
    let secret = "LEAKED-SECRET-4f1c9b";
    let other = "CLEARED-SECRET-77aa01";
    assert!(
        s.insert_message(&message("r1", "alice", "s1", secret))
            .expect("ran")
    );
    assert!(
        s.insert_message(&message("r1", "alice", "keep", "harmless"))
            .expect("ran")
    );
    assert!(
        contains(&sqlite_bytes(&s), secret),
        "the probe must see content that is there"
    );

    s.delete(&request("r1", DeleteTarget::One(mid("s1")), "alice"))
        .expect("ran");
    let bytes = sqlite_bytes(&s);
    assert!(
        !contains(&bytes, secret),
        "single delete left the content in the files"
    );
    assert!(contains(&bytes, "harmless"));

    assert!(
        s.insert_message(&message("r1", "alice", "s2", other))
            .expect("ran")
    );
    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    assert!(
        !contains(&sqlite_bytes(&s), other),
        "clear left the content in the files"
    );
}

/// Concurrent deletions share WAL checkpoints; each must still answer only once a
/// checkpoint that started after its own commit has scrubbed the files.
#[test]
fn concurrent_deletions_each_answer_with_their_content_gone_from_sqlite_files() {
    let s = store();
    if !is_sqlite(&s) {
        return; // a property of the embedded backend's files only
    }
    let deleters = 8;
    for i in 0..deleters {
        let room = format!("r{i}");
        add_room(&*s, &room, "alice", &[], &[]);
        for round in 0..5 {
            let id = format!("s{i}-{round}");
            let secret = format!("SECRET-{i}-{round}-9d2e");
            assert!(
                s.insert_message(&message(&room, "alice", &id, &secret))
                    .expect("ran")
            );
        }
    }
    let start = std::sync::Barrier::new(deleters);
    std::thread::scope(|scope| {
        for i in 0..deleters {
            let (s, start) = (&s, &start);
            scope.spawn(move || {
                start.wait();
                for round in 0..5 {
                    let room = format!("r{i}");
                    let target = DeleteTarget::One(mid(&format!("s{i}-{round}")));
                    let outcome = s.delete(&request(&room, target, "alice")).expect("ran");
                    assert!(matches!(outcome, DeleteOutcome::Deleted(_)));
                    assert!(
                        !contains(&sqlite_bytes(s), &format!("SECRET-{i}-{round}-9d2e")),
                        "deletion {i}-{round} answered before its content left the files"
                    );
                }
            });
        }
    });
}
