//! Cases of the idempotency port ([`crate::ports::IdempotencyStore`]), run by
//! [`idempotency_contract!`](crate::idempotency_contract) against stores that implement it
//! beside the four ports of [`super::ContractStore`].

use super::ContractStore;
use super::fixtures::*;
use crate::idempotency::{
    ClaimId, ClaimOutcome, Completion, EmbeddedMessage, Fingerprint, IdempotencyKey, KeyClaim,
    KeyOwner, LEASE, RETENTION, StoredResponse, Ticket,
};
use crate::ids::DeleteTarget;
use crate::ports::IdempotencyStore;
use chrono::{DateTime, Duration, Utc};
use std::sync::Barrier;

/// What the idempotency cases take: every port, idempotency included.
pub trait IdempotencyContractStore: ContractStore + IdempotencyStore {}

impl<T: ContractStore + IdempotencyStore + ?Sized> IdempotencyContractStore for T {}

/// A fresh ticket of `owner` for `key`.
pub fn ticket(owner: &str, key: &str) -> Ticket {
    Ticket {
        owner: KeyOwner::from_trusted(owner.to_owned()),
        key: IdempotencyKey::parse(key.as_bytes()).expect("valid key"),
        claim: ClaimId::generate(),
    }
}

/// The fingerprint of a `POST` to `path` with `body`.
pub fn request_print(path: &str, body: &str) -> Fingerprint {
    Fingerprint::of("POST", path, "", body.as_bytes())
}

/// Claims `ticket` for `fingerprint` at `at`, leased and kept as the domain does.
pub fn claim_at<S: IdempotencyStore + ?Sized>(
    s: &S,
    ticket: &Ticket,
    fingerprint: &Fingerprint,
    at: DateTime<Utc>,
) -> ClaimOutcome {
    claim(s, ticket, fingerprint, at, None)
}

/// Claims `ticket` as [`claim_at`] does, for an owner capped at `limit` records.
pub fn claim_capped<S: IdempotencyStore + ?Sized>(
    s: &S,
    ticket: &Ticket,
    fingerprint: &Fingerprint,
    at: DateTime<Utc>,
    limit: u32,
) -> ClaimOutcome {
    claim(s, ticket, fingerprint, at, Some(limit))
}

fn claim<S: IdempotencyStore + ?Sized>(
    s: &S,
    ticket: &Ticket,
    fingerprint: &Fingerprint,
    at: DateTime<Utc>,
    limit: Option<u32>,
) -> ClaimOutcome {
    s.claim_key(&KeyClaim {
        ticket: ticket.clone(),
        fingerprint: fingerprint.clone(),
        now: at,
        lease_until: at + LEASE,
        expires_at: at + RETENTION,
        limit,
    })
    .expect("ran")
}

/// A JSON answer with `status` and `body`.
pub fn answer(status: u16, body: &[u8]) -> Completion {
    Completion {
        response: StoredResponse {
            status,
            content_type: "application/json; charset=utf-8".to_owned(),
            body: body.to_vec(),
        },
        embeds: None,
    }
}

fn replayed(outcome: ClaimOutcome) -> Vec<u8> {
    match outcome {
        ClaimOutcome::Replay(stored) => stored.body,
        other => panic!("expected a replay, got {other:?}"),
    }
}

/// A new key starts; the same request waits for it, another is refused; keys are per owner.
pub fn a_new_key_starts_and_holds_until_finished<S: IdempotencyContractStore + ?Sized>(s: &S) {
    let t0 = now();
    let first = ticket("alice", "k1");
    let fp = request_print("/rooms/r/message", r#"{"message":"hi"}"#);
    assert_eq!(claim_at(s, &first, &fp, t0), ClaimOutcome::Started);
    assert_eq!(
        claim_at(s, &ticket("alice", "k1"), &fp, t0),
        ClaimOutcome::InFlight
    );
    let other = request_print("/rooms/r/message", r#"{"message":"ho"}"#);
    assert_eq!(
        claim_at(s, &ticket("alice", "k1"), &other, t0),
        ClaimOutcome::Mismatch,
        "another request is refused even while the first runs"
    );
    assert_eq!(
        claim_at(s, &ticket("bob", "k1"), &other, t0),
        ClaimOutcome::Started,
        "keys are per owner"
    );
    assert_eq!(
        claim_at(s, &ticket("alice", "K1"), &fp, t0),
        ClaimOutcome::Started,
        "keys are case-sensitive"
    );
}

/// A completed key replays its status, content type and body byte for byte.
pub fn a_completed_key_replays_its_answer_exactly<S: IdempotencyContractStore + ?Sized>(s: &S) {
    let t0 = now();
    let held = ticket("/platform", "k");
    let fp = Fingerprint::of("DELETE", "/rooms/r/messages/_all", "dryRun=false", b"");
    assert_eq!(claim_at(s, &held, &fp, t0), ClaimOutcome::Started);
    // Not UTF-8, with a NUL: bodies are bytes.
    let body = [b'{', 0, 0xFF, 0xFE, b'}'];
    let done = answer(404, &body);
    assert!(s.complete_key(&held, &done, t0 + RETENTION).expect("ran"));
    assert_eq!(
        claim_at(s, &ticket("/platform", "k"), &fp, t0 + Duration::seconds(5)),
        ClaimOutcome::Replay(done.response.clone())
    );
    let other = Fingerprint::of("DELETE", "/rooms/r/messages/_all", "", b"");
    assert_eq!(
        claim_at(s, &ticket("/platform", "k"), &other, t0),
        ClaimOutcome::Mismatch
    );
    assert!(
        !s.complete_key(&held, &answer(200, b"{}"), t0 + RETENTION)
            .expect("ran"),
        "a finished claim cannot be completed again"
    );
    assert!(!s.release_key(&held).expect("ran"), "nor released");
    let empty = ticket("/platform", "empty");
    assert_eq!(claim_at(s, &empty, &fp, t0), ClaimOutcome::Started);
    assert!(
        s.complete_key(&empty, &answer(200, b""), t0 + RETENTION)
            .expect("ran")
    );
    assert_eq!(
        replayed(claim_at(s, &ticket("/platform", "empty"), &fp, t0)),
        b""
    );
}

/// A released key runs again, with any request.
pub fn a_released_key_runs_again<S: IdempotencyContractStore + ?Sized>(s: &S) {
    let t0 = now();
    let held = ticket("alice", "k");
    assert_eq!(
        claim_at(s, &held, &request_print("/a", "1"), t0),
        ClaimOutcome::Started
    );
    assert!(
        !s.release_key(&ticket("alice", "k")).expect("ran"),
        "only the claim that holds the key releases it"
    );
    assert!(s.release_key(&held).expect("ran"));
    assert!(!s.release_key(&held).expect("ran"));
    assert_eq!(
        claim_at(s, &ticket("alice", "k"), &request_print("/a", "2"), t0),
        ClaimOutcome::Started
    );
}

/// A claim whose lease lapsed is taken over; the old claim can then neither complete nor
/// release the key.
pub fn a_lapsed_lease_is_taken_over<S: IdempotencyContractStore + ?Sized>(s: &S) {
    let t0 = now();
    let fp = request_print("/a", "1");
    let dead = ticket("alice", "k");
    assert_eq!(claim_at(s, &dead, &fp, t0), ClaimOutcome::Started);
    let during = t0 + LEASE - Duration::milliseconds(1);
    assert_eq!(
        claim_at(s, &ticket("alice", "k"), &fp, during),
        ClaimOutcome::InFlight
    );
    let after = t0 + LEASE;
    let heir = ticket("alice", "k");
    assert_eq!(claim_at(s, &heir, &fp, after), ClaimOutcome::Started);
    assert!(
        !s.complete_key(&dead, &answer(200, b"old"), after + RETENTION)
            .expect("ran")
    );
    assert!(!s.release_key(&dead).expect("ran"));
    assert_eq!(
        claim_at(s, &ticket("alice", "k"), &fp, after),
        ClaimOutcome::InFlight,
        "the heir holds the key"
    );
    assert!(
        s.complete_key(&heir, &answer(201, b"new"), after + RETENTION)
            .expect("ran")
    );
    assert_eq!(
        replayed(claim_at(s, &ticket("alice", "k"), &fp, after)),
        b"new"
    );
    // A lapsed lease with another request: the key is free, so that request runs.
    let lost = ticket("bob", "k");
    assert_eq!(claim_at(s, &lost, &fp, t0), ClaimOutcome::Started);
    assert_eq!(
        claim_at(s, &ticket("bob", "k"), &request_print("/b", "2"), after),
        ClaimOutcome::Started
    );
}

/// An answer is replayed until it expires; then the key is new, and the sweep removes it.
pub fn an_expired_key_is_new_and_swept<S: IdempotencyContractStore + ?Sized>(s: &S) {
    let t0 = now();
    let fp = request_print("/a", "1");
    for (i, key) in ["k0", "k1", "k2", "k3"].into_iter().enumerate() {
        let held = ticket("alice", key);
        assert_eq!(claim_at(s, &held, &fp, t0), ClaimOutcome::Started);
        let hours = i64::try_from(i).expect("small") + 1;
        let expires = t0 + Duration::hours(hours);
        assert!(
            s.complete_key(&held, &answer(200, key.as_bytes()), expires)
                .expect("ran")
        );
    }
    let just_before = t0 + Duration::hours(1) - Duration::milliseconds(1);
    assert_eq!(
        replayed(claim_at(s, &ticket("alice", "k0"), &fp, just_before)),
        b"k0"
    );
    assert_eq!(
        s.remove_expired_keys(just_before, 100).expect("ran"),
        0,
        "nothing has expired yet"
    );
    // At its expiry the record is stale: a new request (even another one) runs.
    let at_expiry = t0 + Duration::hours(1);
    let renewed = ticket("alice", "k0");
    assert_eq!(
        claim_at(s, &renewed, &request_print("/other", ""), at_expiry),
        ClaimOutcome::Started
    );
    assert!(s.release_key(&renewed).expect("ran"));
    // k1 and k2 have expired three hours on; the sweep takes them, in batches.
    let later = t0 + Duration::hours(3);
    assert_eq!(s.remove_expired_keys(later, 1).expect("ran"), 1);
    assert_eq!(s.remove_expired_keys(later, 100).expect("ran"), 1);
    assert_eq!(s.remove_expired_keys(later, 100).expect("ran"), 0);
    assert_eq!(
        replayed(claim_at(s, &ticket("alice", "k3"), &fp, later)),
        b"k3",
        "an answer that has not expired is kept"
    );
    // An in-flight record that was never finished is swept at its expiry too.
    assert_eq!(
        claim_at(s, &ticket("alice", "abandoned"), &fp, t0),
        ClaimOutcome::Started
    );
    assert_eq!(
        s.remove_expired_keys(t0 + RETENTION + Duration::hours(1), 100)
            .expect("ran"),
        2
    );
}

/// Of concurrent claims of one key, exactly one starts.
pub fn concurrent_claims_of_one_key_start_exactly_once<S: IdempotencyContractStore + ?Sized>(
    s: &S,
) {
    let t0 = now();
    let fp = request_print("/rooms/r/message", "{}");
    let racers = 8;
    let start = Barrier::new(racers);
    let outcomes: Vec<ClaimOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..racers)
            .map(|_| {
                let (start, fp) = (&start, &fp);
                scope.spawn(move || {
                    start.wait();
                    claim_at(s, &ticket("alice", "race"), fp, t0)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("joined"))
            .collect()
    });
    let started = outcomes
        .iter()
        .filter(|o| **o == ClaimOutcome::Started)
        .count();
    assert_eq!(started, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, ClaimOutcome::Started | ClaimOutcome::InFlight))
    );
}

fn embedding(room: &str, message: &str, full: &str, redacted: &str) -> Completion {
    Completion {
        embeds: Some(EmbeddedMessage {
            room: rid(room),
            message: mid(message),
            redacted_body: redacted.as_bytes().to_vec(),
        }),
        ..answer(200, full.as_bytes())
    }
}

fn stored_answer<S: IdempotencyContractStore + ?Sized>(s: &S, key: &str) -> Vec<u8> {
    replayed(claim_at(
        s,
        &ticket("alice", key),
        &request_print("/x", key),
        now(),
    ))
}

fn complete_embedding<S: IdempotencyContractStore + ?Sized>(
    s: &S,
    key: &str,
    completion: &Completion,
) {
    let held = ticket("alice", key);
    assert_eq!(
        claim_at(s, &held, &request_print("/x", key), now()),
        ClaimOutcome::Started
    );
    assert!(
        s.complete_key(&held, completion, now() + RETENTION)
            .expect("ran")
    );
}

/// Deleting a message (alone or by a clear) leaves only the redacted body of every answer
/// that embeds it; an answer completed after the deletion is stored redacted at once.
pub fn deleted_messages_leave_only_redacted_answers<S: IdempotencyContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    add_room(s, "r2", "alice", &[], &[]);
    for (room, id) in [
        ("r1", "m1"),
        ("r1", "m2"),
        ("r2", "m3"),
        ("r1", "g1"),
        ("r1", "g2"),
    ] {
        assert!(
            s.insert_message(&message(room, "alice", id, "hello"))
                .expect("ran")
        );
    }
    complete_embedding(s, "a", &embedding("r1", "m1", "secret m1", "redacted m1"));
    complete_embedding(s, "b", &embedding("r1", "m2", "secret m2", "redacted m2"));
    complete_embedding(s, "c", &embedding("r2", "m3", "secret m3", "redacted m3"));
    complete_embedding(s, "plain", &answer(200, b"no message here"));

    s.delete(&request("r1", DeleteTarget::One(mid("m1")), "alice"))
        .expect("ran");
    assert_eq!(stored_answer(s, "a"), b"redacted m1");
    assert_eq!(
        stored_answer(s, "b"),
        b"secret m2",
        "another message is kept"
    );

    // Deletions of single messages committed together (as a store may group them).
    complete_embedding(s, "g1", &embedding("r1", "g1", "secret g1", "redacted g1"));
    complete_embedding(s, "g2", &embedding("r1", "g2", "secret g2", "redacted g2"));
    s.delete_many(&[
        request("r1", DeleteTarget::One(mid("g1")), "alice"),
        request("r1", DeleteTarget::One(mid("g2")), "alice"),
    ])
    .expect("ran");
    assert_eq!(stored_answer(s, "g1"), b"redacted g1");
    assert_eq!(stored_answer(s, "g2"), b"redacted g2");
    assert_eq!(
        stored_answer(s, "b"),
        b"secret m2",
        "another message is kept"
    );

    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    assert_eq!(stored_answer(s, "b"), b"redacted m2");
    assert_eq!(stored_answer(s, "c"), b"secret m3", "another room is kept");
    assert_eq!(stored_answer(s, "plain"), b"no message here");

    // The message is deleted while the request that embeds it is still running.
    assert!(
        s.insert_message(&message("r2", "alice", "m4", "late"))
            .expect("ran")
    );
    s.delete(&request("r2", DeleteTarget::One(mid("m4")), "alice"))
        .expect("ran");
    complete_embedding(s, "d", &embedding("r2", "m4", "secret m4", "redacted m4"));
    assert_eq!(stored_answer(s, "d"), b"redacted m4");
    s.delete(&request("r2", DeleteTarget::All, "alice"))
        .expect("ran");
    assert_eq!(stored_answer(s, "c"), b"redacted m3");
}

/// An owner at its cap gets `Full` (with its oldest record's expiry) for a new key, while
/// its held keys still replay; a released or expired record frees a place; other owners
/// are not affected.
pub fn an_owner_at_its_cap_cannot_claim_new_keys<S: IdempotencyContractStore + ?Sized>(s: &S) {
    let t0 = now();
    let fp = request_print("/rooms/r/message", "{}");
    let first = ticket("alice", "k0");
    assert_eq!(claim_capped(s, &first, &fp, t0, 3), ClaimOutcome::Started);
    assert!(
        s.complete_key(&first, &answer(200, b"{}"), t0 + RETENTION)
            .expect("ran")
    );
    let later = t0 + Duration::seconds(10);
    let second = ticket("alice", "k1");
    assert_eq!(
        claim_capped(s, &second, &fp, later, 3),
        ClaimOutcome::Started
    );
    assert_eq!(
        claim_capped(s, &ticket("alice", "k2"), &fp, later, 3),
        ClaimOutcome::Started
    );
    assert_eq!(
        claim_capped(s, &ticket("alice", "k3"), &fp, later, 3),
        ClaimOutcome::Full(t0 + RETENTION),
        "the oldest record frees first"
    );
    assert_eq!(
        claim_capped(s, &ticket("alice", "k0"), &fp, later, 3),
        ClaimOutcome::Replay(answer(200, b"{}").response),
        "a held key still replays at the cap"
    );
    assert_eq!(
        claim_capped(s, &ticket("alice", "k1"), &fp, later, 3),
        ClaimOutcome::InFlight
    );
    assert_eq!(
        claim_capped(s, &ticket("bob", "k3"), &fp, later, 3),
        ClaimOutcome::Started,
        "the cap is per owner"
    );
    assert!(s.release_key(&second).expect("ran"));
    assert_eq!(
        claim_capped(s, &ticket("alice", "k3"), &fp, later, 3),
        ClaimOutcome::Started,
        "a released key frees its place"
    );
    assert_eq!(
        claim_capped(s, &ticket("alice", "k4"), &fp, t0 + RETENTION, 3),
        ClaimOutcome::Started,
        "an expired record holds no place"
    );
    // At the cap, a key of its own left in flight by a dead request is taken over once its
    // lease lapses (no new record), while a new key is still refused.
    for key in ["c1", "c2"] {
        assert_eq!(
            claim_capped(s, &ticket("carol", key), &fp, t0, 2),
            ClaimOutcome::Started
        );
    }
    let lapsed = t0 + LEASE + Duration::seconds(1);
    assert_eq!(
        claim_capped(s, &ticket("carol", "c2"), &fp, lapsed, 2),
        ClaimOutcome::Started
    );
    assert_eq!(
        claim_capped(s, &ticket("carol", "c3"), &fp, lapsed, 2),
        ClaimOutcome::Full(t0 + RETENTION)
    );
}
