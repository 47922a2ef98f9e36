//! Cases of deletion: one message, clears, permissions, races.

use super::ContractStore;
use super::fixtures::*;
use crate::actor::Actor;
use crate::ids::DeleteTarget;
use crate::model::{DeleteOutcome, RoomChanges};
use std::sync::Barrier;

/// One message is removed once and audited.
pub fn one_message_is_removed_once_and_audited<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    send_many(s, "r1", "alice", "m", 3);
    let outcome = s
        .delete(&request("r1", DeleteTarget::One(mid("m-1")), "alice"))
        .expect("ran");
    assert_eq!(deleted_count(outcome), 1);
    assert_eq!(s.find_message(&rid("r1"), &mid("m-1")).expect("ran"), None);
    assert_eq!(visible_count(s, "r1"), 2);
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

/// Storage checks the role in force when the deletion takes effect.
pub fn storage_checks_the_role_in_force_when_the_deletion_takes_effect<
    S: ContractStore + ?Sized,
>(
    s: &S,
) {
    add_room(s, "r1", "owner", &["mod"], &["member"]);
    send_many(s, "r1", "member", "m", 4);
    // The use case read the room while `mod` was a manager; then `mod` was demoted. The
    // deletion, checking again under the room's write lock, is refused and changes nothing.
    let demote = RoomChanges {
        managers: Some(vec![]),
        ..RoomChanges::default()
    };
    update_as_platform(s, "r1", &demote);
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
    // In the contract's order: the room, then the role, then the message (an outsider
    // learns nothing about the room's messages).
    let nowhere = s
        .delete(&request_as(
            "nowhere",
            DeleteTarget::One(mid("m-0")),
            user("stranger"),
        ))
        .expect("ran");
    assert_eq!(nowhere, DeleteOutcome::RoomNotFound);
    let unknown = s
        .delete(&request_as(
            "r1",
            DeleteTarget::One(mid("no-such")),
            user("member"),
        ))
        .expect("ran");
    assert_eq!(unknown, DeleteOutcome::PermissionDenied);
    assert_eq!(visible_count(s, "r1"), 4);
    assert!(
        s.list_deletions(Some(&rid("r1")), None, 10)
            .expect("ran")
            .expect("page")
            .is_empty(),
        "no audit record"
    );

    // Those who may: the owner, a manager, and platform administrators.
    let promote = RoomChanges {
        managers: Some(vec![cid("mod")]),
        ..RoomChanges::default()
    };
    update_as_platform(s, "r1", &promote);
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

/// A message of another room is not found and kept.
pub fn a_message_of_another_room_is_not_found_and_kept<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    add_room(s, "r2", "bob", &[], &[]);
    send_many(s, "r2", "bob", "theirs", 1);
    let outcome = s
        .delete(&request("r1", DeleteTarget::One(mid("theirs-0")), "alice"))
        .expect("ran");
    assert_eq!(outcome, DeleteOutcome::MessageNotFound);
    assert_eq!(visible_count(s, "r2"), 1);
    let outcome = s
        .delete(&request("ghost", DeleteTarget::All, "alice"))
        .expect("ran");
    assert_eq!(outcome, DeleteOutcome::RoomNotFound);
}

/// Concurrent deletes of one message succeed exactly once.
pub fn concurrent_deletes_of_one_message_succeed_exactly_once<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    send_many(s, "r1", "alice", "m", 2);
    let threads = 8;
    let barrier = Barrier::new(threads);
    let outcomes: Vec<DeleteOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    s.delete(&request("r1", DeleteTarget::One(mid("m-0")), "alice"))
                        .expect("no storage error")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
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
    assert_eq!(visible_count(s, "r1"), 1);
}

/// Single deletes of one room arriving at once, some refused, each get their own outcome
/// (a store may commit them together), and what they removed is recorded once each, in
/// one chain that verifies.
pub fn concurrent_deletes_of_one_room_each_keep_their_own_outcome<S: ContractStore>(s: &S) {
    use crate::usecases::audit::verify_chain;
    add_room(s, "r1", "owner", &["mod"], &["member"]);
    send_many(s, "r1", "member", "m", 12);
    // Six removals by the owner and a manager, two of messages that do not exist, two by
    // a member and two by a stranger (both refused), and two of messages another already
    // removes (one of the two wins each).
    let mut cases: Vec<(Actor, &str, &str)> = vec![
        (user("owner"), "m", "m-0"),
        (user("mod"), "m", "m-1"),
        (user("owner"), "m", "m-2"),
        (user("mod"), "m", "m-3"),
        (user("owner"), "m", "m-4"),
        (user("mod"), "m", "m-5"),
    ];
    cases.extend([
        (user("owner"), "missing", "x-1"),
        (user("mod"), "missing", "x-2"),
        (user("member"), "denied", "m-8"),
        (user("stranger"), "denied", "m-9"),
        (user("owner"), "race", "m-10"),
        (user("mod"), "race", "m-10"),
    ]);
    let barrier = Barrier::new(cases.len());
    let outcomes: Vec<DeleteOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(actor, _, id)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    s.delete(&request_as("r1", DeleteTarget::One(mid(id)), actor.clone()))
                        .expect("no storage error")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut races_won = 0;
    for ((actor, kind, id), outcome) in cases.iter().zip(&outcomes) {
        match (*kind, outcome) {
            ("m" | "race", DeleteOutcome::Deleted(d)) => {
                assert_eq!(
                    (d.deleted_count, &d.target),
                    (1, &DeleteTarget::One(mid(id)))
                );
                assert_eq!(d.deleted_by, actor.recorded(), "recorded as its own actor");
                races_won += usize::from(*kind == "race");
            }
            ("missing" | "race", DeleteOutcome::MessageNotFound)
            | ("denied", DeleteOutcome::PermissionDenied) => {}
            _ => panic!("{actor:?} deleting {id}: {outcome:?}"),
        }
    }
    assert_eq!(races_won, 1, "one of two deletes of m-10 wins");
    let records = s
        .list_deletions(None, None, 100)
        .expect("ran")
        .expect("page");
    assert_eq!(records.len(), 7, "a record per removal, none for a refusal");
    assert_eq!(visible_count(s, "r1"), 12 - 7);
    let chain = verify_chain(s, &rid("r1")).expect("ran");
    assert!(chain.valid(), "{chain:?}");
    assert_eq!(chain.records, 7);
}

/// Clear counts exactly and spares later messages.
pub fn clear_counts_exactly_and_spares_later_messages<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    add_room(s, "r2", "bob", &[], &[]);
    send_many(s, "r1", "alice", "old", 7);
    send_many(s, "r2", "bob", "other", 2);
    assert_eq!(
        deleted_count(
            s.delete(&request("r1", DeleteTarget::All, "alice"))
                .expect("ran")
        ),
        7
    );
    assert_eq!(visible_count(s, "r1"), 0);
    assert_eq!(s.last_message(&rid("r1")).expect("ran"), None);
    assert_eq!(visible_count(s, "r2"), 2, "other rooms are untouched");

    send_many(s, "r1", "alice", "new", 2);
    assert_eq!(visible_count(s, "r1"), 2);
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

/// A clear racing with sends loses nothing: deleted + remaining = sent.
pub fn clear_racing_with_sends_loses_nothing<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    let senders = 3;
    let per_sender = 40;
    let barrier = Barrier::new(senders + 1);
    let deleted = std::thread::scope(|scope| {
        for t in 0..senders {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                send_many(s, "r1", "alice", &format!("t{t}"), per_sender);
            });
        }
        barrier.wait();
        (0..5)
            .map(|_| {
                deleted_count(
                    s.delete(&request("r1", DeleteTarget::All, "alice"))
                        .expect("ran"),
                )
            })
            .sum::<u64>()
    });
    let remaining = visible_count(s, "r1");
    assert_eq!(
        deleted + remaining,
        u64::try_from(senders * per_sender).expect("small")
    );
}

/// A cleared message is invisible at once and cannot be deleted again.
pub fn a_cleared_message_is_invisible_at_once<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "big", "alice", &[], &[]);
    send_many(s, "big", "alice", "m", 35);
    assert_eq!(
        deleted_count(
            s.delete(&request("big", DeleteTarget::All, "alice"))
                .expect("ran")
        ),
        35
    );
    assert_eq!(visible_count(s, "big"), 0, "invisible before any purge");
    assert_eq!(s.find_message(&rid("big"), &mid("m-3")).expect("ran"), None);
    assert_eq!(s.last_message(&rid("big")).expect("ran"), None);
    assert_eq!(
        s.list_messages(&rid("big"), Some(&mid("m-3")), 10)
            .expect("ran"),
        None,
        "a cleared message is no cursor"
    );
    assert_eq!(
        s.delete(&request("big", DeleteTarget::One(mid("m-3")), "alice"))
            .expect("ran"),
        DeleteOutcome::MessageNotFound,
        "a cleared message cannot be deleted twice"
    );
    send_many(s, "big", "alice", "after", 3);
    assert_eq!(visible_count(s, "big"), 3);
}

/// Every visible message of the room, by paging through the list.
fn listed<S: ContractStore + ?Sized>(s: &S, room: &str) -> u64 {
    let mut total = 0;
    let mut before = None;
    loop {
        let page = s
            .list_messages(&rid(room), before.as_ref(), 100)
            .expect("ran")
            .expect("page");
        let Some(last) = page.messages.last() else {
            return total;
        };
        before = Some(last.id.clone());
        total += u64::try_from(page.messages.len()).expect("small");
    }
}

/// `totalCount` stays the true number of visible messages while sends, single deletes and
/// clears race, and every deletion's count is what it removed (deleted + remaining = sent).
pub fn counts_stay_exact_under_racing_sends_deletes_and_clears<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    let (senders, per_sender) = (3, 40);
    let barrier = Barrier::new(senders + 2);
    let deleted: u64 = std::thread::scope(|scope| {
        for t in 0..senders {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                send_many(s, "r1", "alice", &format!("t{t}"), per_sender);
            });
        }
        let singles = scope.spawn(|| {
            barrier.wait();
            (0..per_sender)
                .map(|i| {
                    let target = DeleteTarget::One(mid(&format!("t0-{i}")));
                    match s.delete(&request("r1", target, "alice")).expect("ran") {
                        DeleteOutcome::Deleted(d) => d.deleted_count,
                        _ => 0,
                    }
                })
                .sum::<u64>()
        });
        barrier.wait();
        let mut cleared = 0;
        for _ in 0..3 {
            cleared += deleted_count(
                s.delete(&request("r1", DeleteTarget::All, "alice"))
                    .expect("ran"),
            );
            let total = visible_count(s, "r1");
            assert!(total <= u64::try_from(senders * per_sender).expect("small"));
        }
        cleared + singles.join().expect("thread")
    });
    let remaining = visible_count(s, "r1");
    assert_eq!(
        remaining,
        listed(s, "r1"),
        "totalCount is what the list holds"
    );
    assert_eq!(
        deleted + remaining,
        u64::try_from(senders * per_sender).expect("small")
    );
    send_many(s, "r1", "alice", "tail", 5);
    for i in 0..2 {
        let target = DeleteTarget::One(mid(&format!("tail-{i}")));
        assert_eq!(
            deleted_count(s.delete(&request("r1", target, "alice")).expect("ran")),
            1
        );
    }
    assert_eq!(visible_count(s, "r1"), remaining + 3);
    assert_eq!(visible_count(s, "r1"), listed(s, "r1"));
    let after = deleted_count(
        s.delete(&request("r1", DeleteTarget::All, "alice"))
            .expect("ran"),
    );
    assert_eq!(after, remaining + 3, "a clear's count is the visible count");
    assert_eq!((visible_count(s, "r1"), listed(s, "r1")), (0, 0));
}
