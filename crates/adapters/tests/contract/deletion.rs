use crate::support::*;
use roomwarden_domain::auth::Actor;
use roomwarden_domain::ids::DeleteTarget;
use roomwarden_domain::model::{DeleteOutcome, RoomChanges};
use roomwarden_domain::ports::{AuditStore, MessageStore};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Barrier};

fn deleted_count(outcome: DeleteOutcome) -> u64 {
    match outcome {
        DeleteOutcome::Deleted(d) => d.deleted_count,
        other => panic!("expected a deletion, got {other:?}"),
    }
}

#[test]
fn one_message_is_removed_once_and_audited() {
    let s = store();
    add_room(&s, "r1", "alice", &[], &[]);
    send_many(&s, "r1", "alice", "m", 3);
    let outcome = s
        .delete(&request("r1", DeleteTarget::One(mid("m-1")), "alice"))
        .expect("ran");
    assert_eq!(deleted_count(outcome), 1);
    assert_eq!(s.find_message(&rid("r1"), &mid("m-1")).expect("ran"), None);
    assert_eq!(visible_count(&s, "r1"), 2);
    let again = s
        .delete(&request("r1", DeleteTarget::One(mid("m-1")), "alice"))
        .expect("ran");
    assert_eq!(again, DeleteOutcome::MessageNotFound);
    let audit = s
        .list_deletions(Some(&rid("r1")), None, 10)
        .expect("ran")
        .expect("page");
    assert_eq!(audit.len(), 1, "a failed delete writes no audit record");
    assert_eq!(audit[0].deleted_by, "alice");
}

#[test]
fn storage_checks_the_role_in_force_when_the_deletion_takes_effect() {
    let s = store();
    add_room(&s, "r1", "owner", &["mod"], &["member"]);
    send_many(&s, "r1", "member", "m", 4);
    // The use case read the room while `mod` was a manager; then `mod` was demoted. The
    // deletion, checking again under the room's write lock, is refused and changes nothing.
    let demote = RoomChanges {
        managers: Some(vec![]),
        ..RoomChanges::default()
    };
    update_as_platform(&s, "r1", &demote);
    for (actor, target) in [
        (user("mod"), DeleteTarget::One(mid("m-0"))),
        (user("mod"), DeleteTarget::All),
        (user("member"), DeleteTarget::One(mid("m-0"))),
        (user("stranger"), DeleteTarget::All),
    ] {
        let outcome = s
            .delete(&request_as("r1", target, actor.clone()))
            .expect("ran");
        assert_eq!(outcome, DeleteOutcome::PermissionDenied, "{actor:?}");
    }
    assert_eq!(visible_count(&s, "r1"), 4);
    assert!(
        s.list_deletions(Some(&rid("r1")), None, 10)
            .expect("ran")
            .expect("page")
            .is_empty(),
        "no audit record"
    );
    assert_eq!(s.outbox_counts().expect("counts").pending, 0, "no event");

    // Those who may: the owner, a manager, and platform administrators.
    let promote = RoomChanges {
        managers: Some(vec![cid("mod")]),
        ..RoomChanges::default()
    };
    update_as_platform(&s, "r1", &promote);
    for (actor, id) in [
        (user("mod"), "m-0"),
        (user("owner"), "m-1"),
        (Actor::Platform, "m-2"),
    ] {
        let outcome = s
            .delete(&request_as("r1", DeleteTarget::One(mid(id)), actor))
            .expect("ran");
        assert_eq!(deleted_count(outcome), 1);
    }
}

#[test]
fn a_message_of_another_room_is_not_found_and_kept() {
    let s = store();
    add_room(&s, "r1", "alice", &[], &[]);
    add_room(&s, "r2", "bob", &[], &[]);
    send_many(&s, "r2", "bob", "theirs", 1);
    let outcome = s
        .delete(&request("r1", DeleteTarget::One(mid("theirs-0")), "alice"))
        .expect("ran");
    assert_eq!(outcome, DeleteOutcome::MessageNotFound);
    assert_eq!(visible_count(&s, "r2"), 1);
    let outcome = s
        .delete(&request("ghost", DeleteTarget::All, "alice"))
        .expect("ran");
    assert_eq!(outcome, DeleteOutcome::RoomNotFound);
}

#[test]
fn concurrent_deletes_of_one_message_succeed_exactly_once() {
    let s = Arc::new(store());
    add_room(&s, "r1", "alice", &[], &[]);
    send_many(&s, "r1", "alice", "m", 2);
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let s = Arc::clone(&s);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                s.delete(&request("r1", DeleteTarget::One(mid("m-0")), "alice"))
                    .expect("no storage error")
            })
        })
        .collect();
    let outcomes: Vec<DeleteOutcome> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let wins = outcomes
        .iter()
        .filter(|o| matches!(o, DeleteOutcome::Deleted(_)))
        .count();
    let misses = outcomes
        .iter()
        .filter(|o| **o == DeleteOutcome::MessageNotFound)
        .count();
    assert_eq!((wins, misses), (1, threads - 1));
    assert_eq!(
        s.list_deletions(None, None, 100)
            .expect("ran")
            .expect("page")
            .len(),
        1
    );
    assert_eq!(visible_count(&s, "r1"), 1);
}

#[test]
fn clear_counts_exactly_and_spares_later_messages() {
    let s = store();
    add_room(&s, "r1", "alice", &[], &[]);
    add_room(&s, "r2", "bob", &[], &[]);
    send_many(&s, "r1", "alice", "old", 7);
    send_many(&s, "r2", "bob", "other", 2);
    assert_eq!(
        deleted_count(
            s.delete(&request("r1", DeleteTarget::All, "alice"))
                .expect("ran")
        ),
        7
    );
    assert_eq!(visible_count(&s, "r1"), 0);
    assert_eq!(s.last_message(&rid("r1")).expect("ran"), None);
    assert_eq!(visible_count(&s, "r2"), 2, "other rooms are untouched");

    send_many(&s, "r1", "alice", "new", 2);
    assert_eq!(visible_count(&s, "r1"), 2);
    assert_eq!(
        s.last_message(&rid("r1"))
            .expect("ran")
            .map(|m| m.id.as_str().to_owned()),
        Some("new-1".to_owned())
    );
    assert_eq!(
        deleted_count(
            s.delete(&request("r1", DeleteTarget::All, "alice"))
                .expect("ran")
        ),
        2
    );
    assert_eq!(
        deleted_count(
            s.delete(&request("r1", DeleteTarget::All, "alice"))
                .expect("ran")
        ),
        0,
        "empty room"
    );
}

#[test]
fn a_large_clear_is_invisible_at_once_and_purged_in_batches() {
    let s = store_with_batch(10);
    add_room(&s, "big", "alice", &[], &[]);
    send_many(&s, "big", "alice", "m", 35);
    assert_eq!(
        deleted_count(
            s.delete(&request("big", DeleteTarget::All, "alice"))
                .expect("ran")
        ),
        35
    );
    assert_eq!(visible_count(&s, "big"), 0, "invisible before any purge");
    assert_eq!(s.find_message(&rid("big"), &mid("m-3")).expect("ran"), None);
    let again = s
        .delete(&request("big", DeleteTarget::One(mid("m-3")), "alice"))
        .expect("ran");
    assert_eq!(
        again,
        DeleteOutcome::MessageNotFound,
        "a cleared message cannot be deleted twice"
    );

    send_many(&s, "big", "alice", "after", 3);
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
    assert_eq!(visible_count(&s, "big"), 3);
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

#[test]
fn clear_racing_with_sends_loses_nothing() {
    let s = Arc::new(store());
    add_room(&s, "r1", "alice", &[], &[]);
    let senders = 3;
    let per_sender = 40;
    let barrier = Arc::new(Barrier::new(senders + 1));
    let handles: Vec<_> = (0..senders)
        .map(|t| {
            let s = Arc::clone(&s);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                send_many(&s, "r1", "alice", &format!("t{t}"), per_sender);
            })
        })
        .collect();
    barrier.wait();
    let mut deleted = 0;
    for _ in 0..5 {
        deleted += deleted_count(
            s.delete(&request("r1", DeleteTarget::All, "alice"))
                .expect("ran"),
        );
    }
    for h in handles {
        h.join().expect("sender");
    }
    let remaining = visible_count(&s, "r1");
    assert_eq!(
        deleted + remaining,
        u64::try_from(senders * per_sender).expect("small")
    );
}

/// Every byte of the SQLite files of `store`: main file, WAL and rollback journal.
fn sqlite_bytes(store: &TestStore) -> Vec<u8> {
    let path = store.sqlite_file().expect("sqlite");
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        if let Ok(bytes) = std::fs::read(format!("{}{suffix}", path.display())) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
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
    add_room(&s, "r1", "alice", &[], &[]);
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
