//! What only the diesel store promises about the moderation tools: a large filtered
//! deletion is invisible at once, exact, removed by the purger in batches (resumed by a
//! new store), and on SQLite gone from the files; bulk deletion scrubs the files too.

use crate::support::*;
use roomwarden_domain::filter::MessageFilter;
use roomwarden_domain::ids::{ClientId, DeleteTarget};
use roomwarden_domain::model::{DeleteOutcome, DeletionRequest};
use roomwarden_domain::ports::{AuditStore, MessageStore};
use std::sync::atomic::AtomicBool;

fn by_sender(room: &str, sender: &str) -> DeletionRequest {
    DeletionRequest {
        filter: MessageFilter::new(None, None, vec![ClientId::from_trusted(sender.to_owned())])
            .expect("valid"),
        ..request(room, DeleteTarget::All, "owner")
    }
}

fn count_of(outcome: DeleteOutcome) -> u64 {
    match outcome {
        DeleteOutcome::Deleted(d) => d.deleted_count,
        other => panic!("expected a deletion, got {other:?}"),
    }
}

#[test]
fn a_large_filtered_clear_is_invisible_at_once_exact_and_purged_in_batches() {
    let s = store_with_batch(10);
    add_room(&*s, "big", "owner", &[], &["spammer", "alice"]);
    send_many(&*s, "big", "spammer", "s", 25);
    send_many(&*s, "big", "alice", "a", 5);
    send_many(&*s, "big", "spammer", "t", 5);
    let filter = by_sender("big", "spammer").filter;
    assert_eq!(
        s.count_matching(&rid("big"), &filter).expect("ran"),
        Some(30)
    );
    assert_eq!(
        count_of(s.delete(&by_sender("big", "spammer")).expect("ran")),
        30
    );
    // Invisible on every read before any purge; alice's messages all stay.
    let page = s
        .list_messages(&rid("big"), None, 100)
        .expect("ran")
        .expect("page");
    assert_eq!(page.total_count, 5);
    assert!(page.messages.iter().all(|m| m.sender.as_str() == "alice"));
    assert_eq!(page.messages.len(), 5);
    assert_eq!(s.find_message(&rid("big"), &mid("s-3")).expect("ran"), None);
    assert_eq!(
        s.last_message(&rid("big")).expect("ran").map(|m| m.id),
        Some(mid("a-4"))
    );
    assert_eq!(
        s.delete(&request(
            "big",
            DeleteTarget::Bulk(vec![mid("s-1"), mid("t-0")]),
            "owner"
        ))
        .expect("ran"),
        DeleteOutcome::MessageNotFound,
        "erased messages are not found by a bulk delete"
    );
    assert_eq!(
        s.count_matching(&rid("big"), &filter).expect("ran"),
        Some(0)
    );
    // The spammer's later message is not covered, and a second clear counts only it.
    send_many(&*s, "big", "spammer", "later", 1);
    assert_eq!(visible_count(&*s, "big"), 6);
    let stop = AtomicBool::new(false);
    assert_eq!(
        s.purge_pending(&stop).expect("purged"),
        30,
        "exactly the covered rows"
    );
    assert_eq!(s.purge_pending(&stop).expect("purged"), 0, "nothing left");
    assert_eq!(visible_count(&*s, "big"), 6);
    assert_eq!(
        count_of(s.delete(&by_sender("big", "spammer")).expect("ran")),
        1
    );
    assert_eq!(
        count_of(
            s.delete(&request("big", DeleteTarget::All, "owner"))
                .expect("ran")
        ),
        5
    );
}

#[test]
fn an_unfinished_erasure_is_resumed_by_a_new_store() {
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
    add_room(&first, "big", "owner", &[], &["spammer"]);
    send_many(&first, "big", "spammer", "m", 9);
    send_many(&first, "big", "owner", "o", 2);
    assert_eq!(
        count_of(first.delete(&by_sender("big", "spammer")).expect("ran")),
        9
    );
    // A purge stopped at once does nothing; the "crash" leaves the erasure pending.
    assert_eq!(first.purge_pending(&AtomicBool::new(true)).expect("ran"), 0);
    drop(first);
    let second = open();
    assert_eq!(
        visible_count(&second, "big"),
        2,
        "still invisible after the restart"
    );
    assert_eq!(
        second
            .purge_pending(&AtomicBool::new(false))
            .expect("purged"),
        9
    );
    let records = second
        .list_deletions(Some(&rid("big")), None, 5)
        .expect("ran")
        .expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].filter.as_ref().map(|f| f.senders.len()), Some(1));
}

#[test]
fn filtered_and_bulk_deletions_leave_nothing_readable_in_sqlite_files() {
    let s = store_with_batch(3);
    let Some(path) = s.sqlite_file().map(std::path::Path::to_path_buf) else {
        return; // a property of the embedded backend's files only
    };
    add_room(&*s, "r1", "owner", &[], &["spammer"]);
    for i in 0..5 {
        let id = format!("s{i}");
        assert!(
            s.insert_message(&message(
                "r1",
                "spammer",
                &id,
                &format!("SPAM-SECRET-{i}-x")
            ))
            .expect("ran")
        );
    }
    assert!(
        s.insert_message(&message("r1", "owner", "b1", "BULK-SECRET-91"))
            .expect("ran")
    );
    assert!(
        s.insert_message(&message("r1", "owner", "keep", "harmless"))
            .expect("ran")
    );
    let bytes = || {
        ["", "-wal", "-journal"]
            .iter()
            .filter_map(|sfx| std::fs::read(format!("{}{sfx}", path.display())).ok())
            .flatten()
            .collect::<Vec<u8>>()
    };
    let has = |b: &[u8], needle: &str| b.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        has(&bytes(), "SPAM-SECRET-0-x"),
        "the probe sees content that is there"
    );
    s.delete(&request("r1", DeleteTarget::Bulk(vec![mid("b1")]), "owner"))
        .expect("ran");
    assert!(
        !has(&bytes(), "BULK-SECRET-91"),
        "bulk delete left content in the files"
    );
    assert_eq!(
        count_of(s.delete(&by_sender("r1", "spammer")).expect("ran")),
        5
    );
    s.purge_pending(&AtomicBool::new(false)).expect("purged");
    let after = bytes();
    for i in 0..5 {
        assert!(
            !has(&after, &format!("SPAM-SECRET-{i}-x")),
            "erased content {i} left in the files"
        );
    }
    assert!(has(&after, "harmless"));
}

#[test]
fn one_transaction_removes_at_most_the_purge_batch_in_place_across_rooms() {
    let s = store_with_batch(10);
    let mut requests = Vec::new();
    for room in ["a", "b", "c"] {
        add_room(&*s, room, "owner", &[], &["spammer"]);
        send_many(&*s, room, "spammer", room, 4);
        requests.push(DeletionRequest {
            skip_if_nothing: true,
            ..by_sender(room, "spammer")
        });
    }
    let outcomes = s.delete_many(&requests).expect("ran");
    assert_eq!(outcomes.into_iter().map(count_of).sum::<u64>(), 12);
    for room in ["a", "b", "c"] {
        assert_eq!(visible_count(&*s, room), 0, "{room} invisible at once");
    }
    // Rooms a and b (8 rows) fit the batch of 10 and went in the transaction; c's 4 rows
    // would have made 12, so they were left to the purger.
    assert_eq!(s.purge_pending(&AtomicBool::new(false)).expect("purged"), 4);
}

#[test]
fn a_small_clear_after_a_large_filtered_one_leaves_the_hidden_rows_to_the_purger() {
    let s = store_with_batch(10);
    add_room(&*s, "r", "owner", &[], &["spammer"]);
    send_many(&*s, "r", "spammer", "s", 30);
    send_many(&*s, "r", "owner", "o", 2);
    assert_eq!(
        count_of(s.delete(&by_sender("r", "spammer")).expect("ran")),
        30
    );
    // Two visible messages: a small clear, but 30 hidden rows are still stored. They must
    // not be removed in this transaction (the purger's steps are bounded).
    assert_eq!(
        count_of(
            s.delete(&request("r", DeleteTarget::All, "owner"))
                .expect("ran")
        ),
        2
    );
    assert_eq!(visible_count(&*s, "r"), 0);
    assert_eq!(
        s.purge_pending(&AtomicBool::new(false)).expect("purged"),
        32
    );
}
