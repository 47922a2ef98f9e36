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

/// A purge of many rooms in one call (batched, `store/deletion/batch.rs`) leaves every room
/// as its own clear would: twin rooms, one set purged in one `delete_many` by the API key,
/// the other room by room, preview and report the same counts and show the same messages,
/// with a window, a room's retention, a pending erasure, a clear still being purged and a
/// room with nothing to purge.
#[test]
fn a_purge_of_many_rooms_leaves_each_as_its_own_clear_would() {
    purge_twins(true);
}

/// The same without any retention: the rooms whose rows are all above their watermark are
/// then counted without reading the room rows (the count's other branch).
#[test]
fn a_purge_of_many_rooms_without_retention_leaves_each_as_its_own_clear_would() {
    purge_twins(false);
}

/// Twin rooms purged batched and room by room; room 3 gets a 7-day retention when
/// `with_retention`.
fn purge_twins(with_retention: bool) {
    use chrono::Duration;
    use roomwarden_domain::actor::Actor;
    use roomwarden_domain::filter::Bound;
    use roomwarden_domain::model::{Message, RetentionDays, RoomChanges};

    let s = store_with_batch(10);
    let t0 = now() - Duration::days(30);
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let send = |room: &str, sender: &str, id: &str, sent_at| {
        let m = Message {
            sent_at,
            ..message(room, sender, id, id)
        };
        assert!(s.insert_message(&m).expect("sent"));
    };
    let week = RetentionDays::new(7).expect("valid");
    for twin in ["x", "y"] {
        let room = |n: u8| format!("{twin}{n}");
        for n in 1..=6 {
            add_room(&*s, &room(n), "owner", &[], &["spammer", "alice"]);
        }
        // 1: fits in place; 2: more than the batch left; 3: half expired by its retention;
        // 4: nothing of the spammer's; 5: earlier large clears of alice and of the spammer
        // still pending;
        // 6: an earlier large clear of everything still being purged.
        for i in 0..4 {
            send(&room(1), "spammer", &format!("{twin}1-s{i}"), at(i));
        }
        send(&room(1), "alice", &format!("{twin}1-a"), at(1));
        for i in 0..8 {
            send(&room(2), "spammer", &format!("{twin}2-s{i}"), at(i));
        }
        send(&room(3), "spammer", &format!("{twin}3-old"), at(2));
        for i in 0..3 {
            send(
                &room(3),
                "spammer",
                &format!("{twin}3-s{i}"),
                now() - Duration::minutes(i),
            );
        }
        if with_retention {
            update_as_platform(
                &*s,
                &room(3),
                &RoomChanges {
                    retention_days: Some(Some(week)),
                    ..RoomChanges::default()
                },
            );
        }
        send(&room(4), "alice", &format!("{twin}4-a"), at(3));
        for i in 0..12 {
            send(&room(5), "alice", &format!("{twin}5-a{i}"), at(i));
        }
        send(&room(5), "spammer", &format!("{twin}5-s"), at(4));
        assert_eq!(
            count_of(s.delete(&by_sender(&room(5), "alice")).expect("ran")),
            12
        );
        for i in 0..12 {
            send(&room(5), "spammer", &format!("{twin}5-old{i}"), at(2 + i));
        }
        assert_eq!(
            count_of(s.delete(&by_sender(&room(5), "spammer")).expect("ran")),
            13
        );
        send(&room(5), "spammer", &format!("{twin}5-t"), at(4));
        for i in 0..12 {
            send(&room(6), "spammer", &format!("{twin}6-old{i}"), at(2 + i));
        }
        assert_eq!(
            count_of(
                s.delete(&request(&room(6), DeleteTarget::All, "owner"))
                    .expect("ran")
            ),
            12
        );
        send(&room(6), "spammer", &format!("{twin}6-s0"), at(5));
        send(&room(6), "spammer", &format!("{twin}6-s1"), at(6));
    }
    // Only what the spammer sent after minute 1 (a window) and before now.
    let until = now();
    let purge = |room: String| DeletionRequest {
        actor: Actor::Platform,
        skip_if_nothing: true,
        filter: MessageFilter::new(
            Some(Bound::At(until)),
            Some(Bound::At(at(1))),
            vec![ClientId::from_trusted("spammer".to_owned())],
        )
        .expect("valid"),
        ..request(&room, DeleteTarget::All, "owner")
    };
    let room3 = if with_retention { 3 } else { 4 };
    // The dry run, batched and room by room, counts what the purge then reports.
    let x_rooms: Vec<_> = (1..=6).map(|n| rid(&format!("x{n}"))).collect();
    let filter = purge("x1".to_owned()).filter;
    let previewed = s.count_matching_in(&x_rooms, &filter).expect("ran");
    let one_by_one_preview: Vec<_> = (1..=6)
        .map(|n| {
            s.count_matching(&rid(&format!("y{n}")), &filter)
                .expect("ran")
        })
        .collect();
    assert_eq!(previewed, one_by_one_preview);
    assert_eq!(
        previewed,
        vec![Some(2), Some(6), Some(room3), Some(0), Some(1), Some(2)]
    );
    let batched = s
        .delete_many(&(1..=6).map(|n| purge(format!("x{n}"))).collect::<Vec<_>>())
        .expect("ran");
    let one_by_one: Vec<DeleteOutcome> = (1..=6)
        .map(|n| s.delete(&purge(format!("y{n}"))).expect("ran"))
        .collect();
    let counts = |outcomes: &[DeleteOutcome]| -> Vec<Option<u64>> {
        outcomes
            .iter()
            .map(|o| match o {
                DeleteOutcome::Deleted(d) => Some(d.deleted_count),
                DeleteOutcome::NothingMatched => None,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    };
    assert_eq!(counts(&batched), counts(&one_by_one));
    assert_eq!(
        counts(&batched),
        vec![Some(2), Some(6), Some(room3), None, Some(1), Some(2)],
        "x1: s2, s3; x2: s2..s7; x3: the three recent (and the old one unless it expired); \
         x5: t; x6: s0, s1"
    );
    let shown = |room: &str| -> (Vec<String>, u64) {
        let page = s
            .list_messages(&rid(room), None, 100)
            .expect("ran")
            .expect("page");
        let ids = page
            .messages
            .iter()
            .map(|m| m.id.as_str()[1..].to_owned())
            .collect();
        (ids, page.total_count)
    };
    for n in 1..=6 {
        let (x, y) = (format!("x{n}"), format!("y{n}"));
        assert_eq!(shown(&x), shown(&y), "room {n}");
        let records = |room: &str| {
            s.list_deletions(Some(&rid(room)), None, 10)
                .expect("ran")
                .expect("list")
                .into_iter()
                .map(|d| (d.deleted_count, d.deleted_by, d.filter))
                .collect::<Vec<_>>()
        };
        assert_eq!(records(&x), records(&y), "audit of room {n}");
    }
    // What was hidden rather than removed is removed by the purger, and nothing is left.
    s.purge_pending(&AtomicBool::new(false)).expect("purged");
    for n in 1..=6 {
        assert_eq!(shown(&format!("x{n}")), shown(&format!("y{n}")), "room {n}");
    }
    assert_eq!(
        s.purge_backlog().expect("read"),
        roomwarden_adapters::PurgeBacklog::default()
    );
}

/// Rooms whose earlier clear the purger has not finished still store the cleared rows: a
/// batched purge (and its dry run) counts only what is above their watermark.
#[test]
fn a_batched_purge_counts_nothing_below_an_unfinished_clear() {
    use roomwarden_domain::actor::Actor;

    let s = store_with_batch(10);
    let rooms = [rid("a"), rid("b")];
    for room in ["a", "b"] {
        add_room(&*s, room, "owner", &[], &["spammer"]);
        send_many(&*s, room, "spammer", &format!("{room}-old"), 12);
        assert_eq!(
            count_of(
                s.delete(&request(room, DeleteTarget::All, "owner"))
                    .expect("ran")
            ),
            12
        );
        send_many(&*s, room, "spammer", &format!("{room}-new"), 2);
    }
    let purge = |room: &str| DeletionRequest {
        actor: Actor::Platform,
        skip_if_nothing: true,
        ..by_sender(room, "spammer")
    };
    let filter = purge("a").filter;
    assert_eq!(
        s.count_matching_in(&rooms, &filter).expect("ran"),
        vec![Some(2), Some(2)]
    );
    let outcomes = s.delete_many(&[purge("a"), purge("b")]).expect("ran");
    assert_eq!(
        outcomes.into_iter().map(count_of).collect::<Vec<_>>(),
        [2, 2]
    );
    assert_eq!(visible_count(&*s, "a") + visible_count(&*s, "b"), 0);
}

/// A batched purge redacts the stored answers that embed its messages however many answers
/// its rooms hold: more than one statement may bind on SQLite (32,766), whose limit is the
/// lower of the two backends'.
#[test]
fn a_batched_purge_redacts_answers_beyond_one_statements_bind_limit() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    use roomwarden_domain::actor::Actor;
    use roomwarden_domain::idempotency::ClaimOutcome;
    use roomwarden_domain::testkit::idempotency::{claim_at, request_print, ticket};

    let s = store();
    let Some(file) = s.sqlite_file().map(std::path::Path::to_owned) else {
        return; // MySQL binds up to 65,535: the same test there would need twice the rows
    };
    for room in ["a", "b"] {
        add_room(&*s, room, "owner", &[], &["spammer"]);
        send_many(&*s, room, "spammer", room, 1);
    }
    crate::idempotency::store_answer_embedding(
        &s,
        "k",
        "a",
        "a-0",
        r#"{"result":{"message":"SECRET"}}"#,
    );
    let mut raw =
        diesel::SqliteConnection::establish(file.to_str().expect("utf-8 path")).expect("opened");
    raw.batch_execute(
        "PRAGMA busy_timeout = 10000;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 33000)
         INSERT INTO idempotency_keys (caller, idem_key, fingerprint, claim_id, state, status,
           content_type, body, content_room, content_message, redacted_body, created_at,
           lease_until, expires_at)
         SELECT 'bob', 'k' || x, 'f', 'c', 'done', 200, 'application/json', X'7B7D', 'a',
           'elsewhere-' || x, X'7B7D', 0, 0, 9999999999999 FROM n;",
    )
    .expect("answers stored");
    drop(raw);
    let purge = |room: &str| DeletionRequest {
        actor: Actor::Platform,
        skip_if_nothing: true,
        ..by_sender(room, "spammer")
    };
    let outcomes = s
        .delete_many(&[purge("a"), purge("b")])
        .expect("the purge ran");
    assert_eq!(
        outcomes.into_iter().map(count_of).collect::<Vec<_>>(),
        [1, 1]
    );
    let replay = claim_at(
        &*s,
        &ticket("alice", "k"),
        &request_print("/rooms/r/message", "k"),
        now(),
    );
    let ClaimOutcome::Replay(stored) = replay else {
        panic!("expected a replay, got {replay:?}");
    };
    assert_eq!(
        stored.body,
        br#"{"RC":0,"result":{"message":null}}"#.to_vec(),
        "redacted"
    );
}
