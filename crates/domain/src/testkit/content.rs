//! Cases of the clear by content (docs/api.md §7.9): a room's clear and its dry run with
//! `contains`, the search across rooms, and a content clear racing with sends.

use super::ContractStore;
use super::fixtures::*;
use crate::actor::Actor;
use crate::filter::{Bound, Contains, MessageFilter};
use crate::ids::{DeleteTarget, RoomId};
use crate::model::{DeleteOutcome, DeletionRequest, Message, MessageContent};
use chrono::{DateTime, Duration, Utc};

/// Sends message `id` with this JSON content (as `serde_json` writes it), dated `at`.
fn send_json<S: ContractStore + ?Sized>(
    s: &S,
    room: &str,
    id: &str,
    content: &serde_json::Value,
    at: DateTime<Utc>,
) {
    let message = Message {
        content: MessageContent::from_json(content.to_string()).expect("small"),
        sent_at: crate::model::to_millis(at),
        ..message(room, "spammer", id, id)
    };
    assert!(s.insert_message(&message).expect("sent"));
}

fn contains(strings: &[&str]) -> MessageFilter {
    let strings = strings.iter().map(|s| (*s).to_owned()).collect();
    MessageFilter::default().with_contains(Contains::new(strings).expect("valid"))
}

fn clear(room: &str, filter: MessageFilter) -> DeletionRequest {
    DeletionRequest {
        filter,
        ..request(room, DeleteTarget::All, "admin")
    }
}

fn count_of(outcome: DeleteOutcome) -> u64 {
    match outcome {
        DeleteOutcome::Deleted(d) => d.deleted_count,
        DeleteOutcome::NothingMatched => 0,
        other => panic!("expected a deletion, got {other:?}"),
    }
}

fn ids(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

/// The visible message IDs of `room`, newest first.
fn visible_ids<S: ContractStore + ?Sized>(s: &S, room: &str) -> Vec<String> {
    s.list_messages(&rid(room), None, 100)
        .expect("ran")
        .expect("page")
        .messages
        .iter()
        .map(|m| m.id.as_str().to_owned())
        .collect()
}

/// A content filter matches string messages and string values inside JSON (not keys),
/// ignoring case by simple folding; the dry run's count and sample agree with the clear,
/// which removes exactly the matches, records the filter and spares later messages.
pub fn a_clear_by_content_removes_exactly_the_matches<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "owner", &[], &["spammer"]);
    let t0 = now() - Duration::minutes(10);
    let at = |i: i64| t0 + Duration::seconds(i);
    let sent = [
        ("plain", serde_json::json!("Buy at BIT.LY/Spam now"), true),
        (
            "nested",
            serde_json::json!({"a": [1, {"t": "see bit.ly/spam"}]}),
            true,
        ),
        ("key", serde_json::json!({"bit.ly/spam": 1}), false),
        ("other", serde_json::json!("bit-ly/spam"), false),
        ("kelvin", serde_json::json!("\u{212a}\u{212a} offer"), true),
        ("percent", serde_json::json!("100%_off"), true),
        ("hello", serde_json::json!("hello"), false),
    ];
    for (i, (id, content, _)) in (0..).zip(&sent) {
        send_json(s, "r1", id, content, at(i));
    }
    let filter = contains(&["bit.ly/spam", "kk offer", "0%_o"]);
    assert_eq!(s.count_matching(&rid("r1"), &filter).expect("ran"), Some(4));
    let sample = s.sample_matching(&rid("r1"), &filter, 3).expect("ran");
    assert_eq!(
        ids(&sample),
        ["percent", "kelvin", "nested"],
        "newest first"
    );
    let done = count_of(s.delete(&clear("r1", filter.clone())).expect("ran"));
    assert_eq!(done, 4);
    let kept: Vec<String> = sent
        .iter()
        .rev()
        .filter(|(_, _, hit)| !hit)
        .map(|(id, ..)| (*id).to_owned())
        .collect();
    assert_eq!(visible_ids(s, "r1"), kept);
    let records = s
        .list_deletions(Some(&rid("r1")), None, 10)
        .expect("ran")
        .expect("list");
    assert_eq!(records[0].filter.as_ref(), Some(&filter));
    assert_eq!(s.count_matching(&rid("r1"), &filter).expect("ran"), Some(0));
    assert!(
        s.sample_matching(&rid("r1"), &filter, 5)
            .expect("ran")
            .is_empty()
    );
    // With a sender and a window too: all must hold.
    send_json(s, "r1", "late", &serde_json::json!("bit.ly/spam"), now());
    let windowed = MessageFilter::new(None, Some(Bound::At(now() - Duration::minutes(1))), vec![])
        .expect("valid")
        .with_contains(filter.contains.clone());
    let others = MessageFilter {
        senders: vec![cid("owner")],
        ..windowed.clone()
    };
    assert_eq!(s.count_matching(&rid("r1"), &others).expect("ran"), Some(0));
    assert_eq!(count_of(s.delete(&clear("r1", windowed)).expect("ran")), 1);
}

/// Across rooms: the matches of the window only, in every room or the listed ones, counted
/// per room (by room ID), with the newest as the sample; messages a clear already hid do
/// not count.
pub fn matches_are_found_across_rooms_in_a_window<S: ContractStore + ?Sized>(s: &S) {
    for room in ["a", "b", "c"] {
        add_room(s, room, "owner", &[], &["spammer"]);
    }
    let t0 = now() - Duration::hours(2);
    let spam = serde_json::json!("WIN at example.COM");
    send_json(s, "b", "old", &spam, t0 - Duration::hours(1));
    send_json(s, "b", "b1", &spam, t0 + Duration::minutes(1));
    send_json(s, "a", "a1", &spam, t0 + Duration::minutes(2));
    send_json(
        s,
        "a",
        "a-ham",
        &serde_json::json!("hello"),
        t0 + Duration::minutes(3),
    );
    send_json(s, "c", "c1", &spam, t0 + Duration::minutes(4));
    send_json(s, "b", "b2", &spam, t0 + Duration::minutes(5));
    let window = |strings: &[&str]| MessageFilter {
        after: Some(Bound::At(t0)),
        before: Some(Bound::At(now() + Duration::minutes(1))),
        ..contains(strings)
    };
    let found = s
        .find_matching(&window(&["example.com"]), None, 3)
        .expect("ran");
    let rooms = |pairs: &[(&str, u64)]| -> Vec<(RoomId, u64)> {
        pairs.iter().map(|(r, n)| (rid(r), *n)).collect()
    };
    assert_eq!(found.rooms, rooms(&[("a", 1), ("b", 2), ("c", 1)]));
    assert_eq!(ids(&found.sample), ["b2", "c1", "a1"], "newest first");
    let among = [rid("b"), rid("c")];
    let listed = s
        .find_matching(&window(&["example.com"]), Some(&among), 0)
        .expect("ran");
    assert_eq!(listed.rooms, rooms(&[("b", 2), ("c", 1)]));
    assert!(listed.sample.is_empty());
    assert_eq!(
        count_of(
            s.delete(&request("c", DeleteTarget::All, "admin"))
                .expect("ran")
        ),
        1
    );
    let after_clear = s.find_matching(&window(&["win at"]), None, 0).expect("ran");
    assert_eq!(after_clear.rooms, rooms(&[("a", 1), ("b", 2)]));
    let none = s
        .find_matching(&window(&["nothing"]), None, 5)
        .expect("ran");
    assert!(none.rooms.is_empty() && none.sample.is_empty());
}

/// A clear by content racing with sends of matching messages: deleted + remaining = sent,
/// and the messages that do not match stay.
pub fn a_content_clear_racing_with_sends_loses_nothing<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    send_many(s, "r1", "alice", "keep", 5);
    let (threads, per_thread) = (3, 30);
    let barrier = std::sync::Barrier::new(threads + 1);
    let filter = contains(&["spam-"]);
    let deleted = std::thread::scope(|scope| {
        for t in 0..threads {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                send_many(s, "r1", "alice", &format!("spam-{t}"), per_thread);
            });
        }
        barrier.wait();
        (0..5)
            .map(|_| {
                let request = DeletionRequest {
                    actor: Actor::Platform,
                    ..clear("r1", filter.clone())
                };
                count_of(s.delete(&request).expect("ran"))
            })
            .sum::<u64>()
    });
    let remaining = visible_count(s, "r1") - 5;
    assert_eq!(deleted + remaining, (threads * per_thread) as u64);
    let kept = visible_ids(s, "r1");
    assert_eq!(kept.iter().filter(|id| id.starts_with("keep")).count(), 5);
}
