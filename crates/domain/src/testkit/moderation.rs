//! Cases of the moderation tools: filtered clears, bulk deletion, several rooms in one
//! transaction, a sender's rooms, retention.

use super::ContractStore;
use super::fixtures::*;
use crate::actor::Actor;
use crate::filter::{Bound, MessageFilter};
use crate::ids::{ClientId, DeleteTarget, RoomId};
use crate::model::{
    DeleteOutcome, Deletion, DeletionRequest, ExpiredRoom, Message, RetentionDays, RoomChanges,
};
use chrono::{DateTime, Duration, Utc};

/// A message sent at `at`.
fn message_at(room: &str, sender: &str, id: &str, at: DateTime<Utc>) -> Message {
    Message {
        sent_at: crate::model::to_millis(at),
        ..message(room, sender, id, id)
    }
}

/// Sends message `id` as `sender`, dated `at`.
pub(super) fn send_at<S: ContractStore + ?Sized>(
    s: &S,
    room: &str,
    sender: &str,
    id: &str,
    at: DateTime<Utc>,
) {
    assert!(
        s.insert_message(&message_at(room, sender, id, at))
            .expect("sent")
    );
}

fn senders(ids: &[&str]) -> Vec<ClientId> {
    ids.iter().map(|c| cid(c)).collect()
}

fn filtered(room: &str, filter: MessageFilter) -> DeletionRequest {
    DeletionRequest {
        filter,
        ..request(room, DeleteTarget::All, "admin")
    }
}

fn deleted(outcome: DeleteOutcome) -> Deletion {
    match outcome {
        DeleteOutcome::Deleted(d) => d,
        other => panic!("expected a deletion, got {other:?}"),
    }
}

/// The visible message IDs of `room`, newest first, and its `totalCount`.
fn visible<S: ContractStore + ?Sized>(s: &S, room: &str) -> (Vec<String>, u64) {
    let page = s
        .list_messages(&rid(room), None, 100)
        .expect("ran")
        .expect("page");
    let ids = page
        .messages
        .iter()
        .map(|m| m.id.as_str().to_owned())
        .collect();
    (ids, page.total_count)
}

/// A sender filter removes exactly that sender's messages, the count is exact, and every
/// read path agrees; the dry-run count equals the real one; the sender's later messages stay.
pub fn a_sender_filtered_clear_removes_only_that_senders_messages<S: ContractStore + ?Sized>(
    s: &S,
) {
    add_room(s, "r1", "owner", &[], &["spammer", "alice"]);
    let t0 = now() - Duration::minutes(10);
    for i in 0..6 {
        let who = if i % 2 == 0 { "spammer" } else { "alice" };
        send_at(s, "r1", who, &format!("m{i}"), t0 + Duration::seconds(i));
    }
    let filter = MessageFilter::new(None, None, senders(&["spammer", "nobody"])).expect("valid");
    assert_eq!(s.count_matching(&rid("r1"), &filter).expect("ran"), Some(3));
    let done = deleted(s.delete(&filtered("r1", filter.clone())).expect("ran"));
    assert_eq!(done.deleted_count, 3);
    assert_eq!(done.message_id(), "_all");
    assert_eq!(done.filter.as_ref(), Some(&filter));
    assert_eq!(
        visible(s, "r1"),
        (vec!["m5".into(), "m3".into(), "m1".into()], 3)
    );
    assert_eq!(s.find_message(&rid("r1"), &mid("m4")).expect("ran"), None);
    assert_eq!(
        s.delete(&request("r1", DeleteTarget::One(mid("m0")), "admin"))
            .expect("ran"),
        DeleteOutcome::MessageNotFound,
        "an erased message cannot be deleted again"
    );
    assert_eq!(s.count_matching(&rid("r1"), &filter).expect("ran"), Some(0));
    send_at(s, "r1", "spammer", "later", now());
    assert_eq!(
        s.last_message(&rid("r1")).expect("ran").map(|m| m.id),
        Some(mid("later")),
        "messages sent after the clear are not affected"
    );
    let records = s
        .list_deletions(Some(&rid("r1")), None, 10)
        .expect("ran")
        .expect("list");
    assert_eq!(records[0].filter.as_ref(), Some(&filter));
    // An unfiltered clear afterwards counts only what is still visible.
    let all = deleted(
        s.delete(&request("r1", DeleteTarget::All, "admin"))
            .expect("ran"),
    );
    assert_eq!(all.deleted_count, 4);
    assert_eq!(visible(s, "r1"), (vec![], 0));
}

/// Time bounds are strict on both ends; a message bound cuts by the room's order; a message
/// bound that is not visible in the room is `MessageNotFound`, changing nothing.
pub fn time_and_message_bounds_cut_the_room<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &[], &[]);
    let t0 = now() - Duration::minutes(10);
    for i in 0..6 {
        send_at(
            s,
            "r1",
            "owner",
            &format!("m{i}"),
            t0 + Duration::seconds(i),
        );
    }
    let at = |i| {
        Some(Bound::At(crate::model::to_millis(
            t0 + Duration::seconds(i),
        )))
    };
    let window = MessageFilter::new(at(4), at(1), vec![]).expect("valid");
    assert_eq!(s.count_matching(&rid("r1"), &window).expect("ran"), Some(2));
    assert_eq!(
        deleted(s.delete(&filtered("r1", window)).expect("ran")).deleted_count,
        2
    );
    assert_eq!(
        visible(s, "r1"),
        (vec!["m5".into(), "m4".into(), "m1".into(), "m0".into()], 4)
    );
    let gone = MessageFilter::new(Some(Bound::Message(mid("m2"))), None, vec![]).expect("valid");
    assert_eq!(s.count_matching(&rid("r1"), &gone).expect("ran"), None);
    assert_eq!(
        s.delete(&filtered("r1", gone)).expect("ran"),
        DeleteOutcome::MessageNotFound
    );
    let older = MessageFilter::new(Some(Bound::Message(mid("m4"))), None, vec![]).expect("valid");
    assert_eq!(
        deleted(s.delete(&filtered("r1", older)).expect("ran")).deleted_count,
        2
    );
    assert_eq!(visible(s, "r1"), (vec!["m5".into(), "m4".into()], 2));
}

/// Bulk deletion removes the listed visible messages of the room and reports them; when
/// none is visible it is `MessageNotFound` with nothing written; of two overlapping bulk
/// deletions each message is reported by exactly one.
pub fn bulk_deletes_the_visible_listed_messages_once<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &[], &[]);
    add_room(s, "r2", "owner", &[], &[]);
    send_many(s, "r1", "owner", "m", 4);
    send_many(s, "r2", "owner", "x", 1);
    let bulk = |ids: &[&str]| {
        request(
            "r1",
            DeleteTarget::Bulk(ids.iter().map(|i| mid(i)).collect()),
            "admin",
        )
    };
    let first = deleted(
        s.delete(&bulk(&["m-0", "m-1", "x-0", "nope"]))
            .expect("ran"),
    );
    assert_eq!(first.message_id(), "_bulk");
    assert_eq!(first.removed_ids(), vec![mid("m-0"), mid("m-1")]);
    assert_eq!(first.deleted_count, 2);
    let second = deleted(s.delete(&bulk(&["m-1", "m-2"])).expect("ran"));
    assert_eq!(
        second.removed_ids(),
        vec![mid("m-2")],
        "m-1 went with the first"
    );
    assert_eq!(
        s.delete(&bulk(&["m-0", "x-0"])).expect("ran"),
        DeleteOutcome::MessageNotFound
    );
    assert_eq!(visible(s, "r1"), (vec!["m-3".into()], 1));
    assert_eq!(visible(s, "r2").1, 1, "the other room's message stays");
    let records = s
        .list_deletions(Some(&rid("r1")), None, 10)
        .expect("ran")
        .expect("list");
    assert_eq!(records.len(), 2, "the refused bulk wrote nothing");
    assert_eq!(records[0].removed_ids(), vec![mid("m-2")]);
}

/// Several rooms in one call: each outcome as alone; `skip_if_nothing` writes nothing for
/// a room where nothing matched; a sender's rooms are listed by ID.
pub fn several_rooms_in_one_call_and_a_senders_rooms<S: ContractStore + ?Sized>(s: &S) {
    for r in ["a", "b", "c"] {
        add_room(s, r, "owner", &[], &["spammer"]);
    }
    send_many(s, "a", "spammer", "a", 2);
    send_many(s, "c", "spammer", "c", 1);
    send_many(s, "b", "owner", "b", 1);
    assert_eq!(
        s.rooms_with_messages_from(&cid("spammer"), None)
            .expect("ran"),
        vec![rid("a"), rid("c")]
    );
    assert_eq!(
        s.rooms_with_messages_from(&cid("spammer"), Some(&[rid("c"), rid("b")]))
            .expect("ran"),
        vec![rid("c")]
    );
    let purge = |room: &str| DeletionRequest {
        actor: Actor::Platform,
        skip_if_nothing: true,
        ..filtered(
            room,
            MessageFilter::new(None, None, senders(&["spammer"])).expect("valid"),
        )
    };
    let outcomes = s
        .delete_many(&[purge("a"), purge("b"), purge("c"), purge("gone")])
        .expect("ran");
    assert_eq!(deleted(outcomes[0].clone()).deleted_count, 2);
    assert_eq!(outcomes[1], DeleteOutcome::NothingMatched);
    assert_eq!(deleted(outcomes[2].clone()).deleted_by, "_platform");
    assert_eq!(outcomes[3], DeleteOutcome::RoomNotFound);
    assert!(
        s.list_deletions(Some(&rid("b")), None, 10)
            .expect("ran")
            .expect("list")
            .is_empty()
    );
    assert_eq!(visible(s, "b").1, 1);
    assert!(
        s.rooms_with_messages_from(&cid("spammer"), None)
            .expect("ran")
            .is_empty()
    );
}

/// Messages older than the room's retention are invisible on every read path before any
/// job runs; the room is reported expired, and a retention clear removes exactly them.
pub fn expired_messages_are_invisible_before_the_job_runs<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &[], &[]);
    add_room(s, "keep", "owner", &[], &[]);
    let old = now() - Duration::days(10);
    send_at(s, "r1", "owner", "old1", old);
    send_at(s, "r1", "owner", "old2", old + Duration::minutes(1));
    send_at(s, "r1", "owner", "new", now());
    send_at(s, "keep", "owner", "ancient", old);
    assert_eq!(visible(s, "r1").1, 3, "no retention yet");
    let week = RetentionDays::new(7).expect("valid");
    let changes = RoomChanges {
        retention_days: Some(Some(week)),
        ..RoomChanges::default()
    };
    s.update_room(&rid("r1"), &Actor::Platform, &changes, now(), None)
        .expect("updated");
    assert_eq!(
        s.get_room(&rid("r1"))
            .expect("ran")
            .map(|r| r.retention_days),
        Some(Some(week))
    );
    assert_eq!(visible(s, "r1"), (vec!["new".into()], 1));
    assert_eq!(s.find_message(&rid("r1"), &mid("old1")).expect("ran"), None);
    assert!(
        s.list_messages(&rid("r1"), Some(&mid("old2")), 10)
            .expect("ran")
            .is_none(),
        "an expired message is no cursor"
    );
    let at = now();
    let expired = s.expired_rooms(None, at).expect("ran");
    let cutoffs = |expired: Vec<ExpiredRoom>| -> Vec<(RoomId, DateTime<Utc>)> {
        expired.into_iter().map(|e| (e.room, e.cutoff)).collect()
    };
    assert_eq!(cutoffs(expired), vec![(rid("r1"), week.cutoff(at))]);
    let request = DeletionRequest {
        actor: Actor::Retention,
        skip_if_nothing: true,
        ..filtered(
            "r1",
            MessageFilter::new(Some(Bound::At(week.cutoff(at))), None, vec![]).expect("valid"),
        )
    };
    let done = deleted(s.delete(&request).expect("ran"));
    assert_eq!(
        (done.deleted_count, done.deleted_by.as_str()),
        (2, "_retention")
    );
    assert!(s.expired_rooms(None, at).expect("ran").is_empty());
    // A default retention applies to rooms without their own.
    let default = s.expired_rooms(Some(week), at).expect("ran");
    assert_eq!(cutoffs(default), vec![(rid("keep"), week.cutoff(at))]);
    assert_eq!(
        s.delete(&request).expect("ran"),
        DeleteOutcome::NothingMatched
    );
}

/// A clear counts the visible messages it covers and takes those only the retention hides
/// with it, uncounted: lifting the retention afterwards brings none of them back. A clear
/// that would count nothing and was asked to skip writes nothing, so they stay.
pub fn a_clear_takes_what_only_the_retention_hides_uncounted<S: ContractStore + ?Sized>(s: &S) {
    let old = now() - Duration::days(10);
    for room in ["whole", "filtered", "skipped"] {
        add_room(s, room, "owner", &[], &[]);
        send_at(s, room, "owner", &format!("{room}-old"), old);
        if room != "skipped" {
            send_at(s, room, "owner", &format!("{room}-new"), now());
        }
    }
    let retention = |days: Option<RetentionDays>| {
        for room in ["whole", "filtered", "skipped"] {
            let changes = RoomChanges {
                retention_days: Some(days),
                ..RoomChanges::default()
            };
            s.update_room(&rid(room), &Actor::Platform, &changes, now(), None)
                .expect("updated");
        }
    };
    retention(Some(RetentionDays::new(7).expect("valid")));
    let whole = deleted(
        s.delete(&request("whole", DeleteTarget::All, "admin"))
            .expect("ran"),
    );
    let by_owner = MessageFilter::new(None, None, vec![cid("owner")]).expect("valid");
    let filtered_clear = deleted(s.delete(&filtered("filtered", by_owner)).expect("ran"));
    assert_eq!((whole.deleted_count, filtered_clear.deleted_count), (1, 1));
    let skip = DeletionRequest {
        skip_if_nothing: true,
        ..request("skipped", DeleteTarget::All, "admin")
    };
    assert_eq!(s.delete(&skip).expect("ran"), DeleteOutcome::NothingMatched);
    retention(None);
    assert_eq!(visible(s, "whole"), (vec![], 0));
    assert_eq!(visible(s, "filtered"), (vec![], 0));
    assert_eq!(visible(s, "skipped"), (vec!["skipped-old".into()], 1));
}

fn count_or_zero(outcome: DeleteOutcome) -> u64 {
    match outcome {
        DeleteOutcome::Deleted(d) => d.deleted_count,
        DeleteOutcome::NothingMatched => 0,
        other => panic!("unexpected {other:?}"),
    }
}

/// A user purge (sender-filtered clears, committed as `delete_many`) racing with that user's
/// sends: every message is either counted deleted or still visible, and the room's other
/// messages all stay.
pub fn a_purge_racing_with_the_users_sends_loses_nothing<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &["spammer"]);
    add_room(s, "r2", "alice", &[], &["spammer"]);
    send_many(s, "r1", "alice", "keep", 5);
    let (threads, per_thread) = (2, 30);
    let barrier = std::sync::Barrier::new(threads + 1);
    let purge = |room: &str| DeletionRequest {
        actor: Actor::Platform,
        skip_if_nothing: true,
        ..filtered(
            room,
            MessageFilter::new(None, None, senders(&["spammer"])).expect("valid"),
        )
    };
    let deleted = std::thread::scope(|scope| {
        for t in 0..threads {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                for i in 0..per_thread {
                    let room = if i % 2 == 0 { "r1" } else { "r2" };
                    send_at(s, room, "spammer", &format!("t{t}-{i}"), now());
                }
            });
        }
        barrier.wait();
        (0..6)
            .map(|_| {
                s.delete_many(&[purge("r1"), purge("r2")])
                    .expect("ran")
                    .into_iter()
                    .map(count_or_zero)
                    .sum::<u64>()
            })
            .sum::<u64>()
    });
    let remaining = visible_count(s, "r1") - 5 + visible_count(s, "r2");
    assert_eq!(deleted + remaining, (threads * per_thread) as u64);
    let (ids, _) = visible(s, "r1");
    assert_eq!(ids.iter().filter(|id| id.starts_with("keep")).count(), 5);
}

/// A time-window clear racing with sends: deleted + remaining = posted.
pub fn a_filtered_clear_racing_with_sends_loses_nothing<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    let (threads, per_thread) = (3, 30);
    let barrier = std::sync::Barrier::new(threads + 1);
    let window = MessageFilter::new(
        Some(Bound::At(now() + Duration::hours(1))),
        Some(Bound::At(now() - Duration::hours(1))),
        vec![],
    )
    .expect("valid");
    let deleted = std::thread::scope(|scope| {
        for t in 0..threads {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                send_many(s, "r1", "alice", &format!("t{t}"), per_thread);
            });
        }
        barrier.wait();
        (0..5)
            .map(|_| deleted(s.delete(&filtered("r1", window.clone())).expect("ran")).deleted_count)
            .sum::<u64>()
    });
    assert_eq!(
        deleted + visible_count(s, "r1"),
        (threads * per_thread) as u64
    );
}

/// Bulk and single deletions racing for the same messages: each is reported deleted once.
pub fn bulk_and_single_deletes_of_the_same_messages_report_each_once<S: ContractStore + ?Sized>(
    s: &S,
) {
    add_room(s, "r1", "alice", &[], &[]);
    let ids = send_many(s, "r1", "alice", "m", 20);
    let (bulk, single) = std::thread::scope(|scope| {
        let bulk = scope.spawn(|| {
            let mut got = Vec::new();
            for chunk in ids.chunks(5) {
                let target = DeleteTarget::Bulk(chunk.iter().map(|i| mid(i)).collect());
                if let DeleteOutcome::Deleted(d) =
                    s.delete(&request("r1", target, "alice")).expect("ran")
                {
                    got.extend(d.removed_ids().iter().map(|m| m.as_str().to_owned()));
                }
            }
            got
        });
        let single = scope.spawn(|| {
            ids.iter()
                .rev()
                .filter(|id| {
                    matches!(
                        s.delete(&request("r1", DeleteTarget::One(mid(id)), "alice"))
                            .expect("ran"),
                        DeleteOutcome::Deleted(_)
                    )
                })
                .cloned()
                .collect::<Vec<_>>()
        });
        (bulk.join().expect("bulk"), single.join().expect("single"))
    });
    let mut all: Vec<String> = bulk.into_iter().chain(single).collect();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected, "each message reported deleted exactly once");
    assert_eq!(visible_count(s, "r1"), 0);
}
