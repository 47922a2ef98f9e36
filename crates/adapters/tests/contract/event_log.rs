//! The operators' view of the outbox (`EventLog`): listing with filters and a cursor, and
//! redelivery, against the dispatcher that sends the events.

use crate::support::*;
use roomwarden_adapters::workers::{DispatchOptions, dispatch_due};
use roomwarden_adapters::{Backlog, CommitListener, DieselStore, EventQueueing};
use roomwarden_domain::events::{
    DeliveryState, EventDelivery, MockNotifier, NotifyError, Redelivery, RetryPolicy,
};
use roomwarden_domain::ids::{DeleteTarget, DeletionId};
use roomwarden_domain::model::{DeletionRequest, RoomChanges};
use roomwarden_domain::ports::{EventLog, MessageStore};
use std::sync::{Arc, Mutex};

const HOOK: &str = "http://hook.example/events";

/// Commits a clear of `room` by `at` and returns its event's ID.
fn clear(store: &DieselStore, room: &str, at: chrono::DateTime<chrono::Utc>) -> DeletionId {
    let request = DeletionRequest {
        deleted_at: at,
        ..request(room, DeleteTarget::All, "alice")
    };
    store.delete(&request).expect("deleted");
    request.id
}

fn list(
    store: &DieselStore,
    state: Option<DeliveryState>,
    room: Option<&str>,
    before: Option<&DeletionId>,
    limit: u32,
) -> Vec<EventDelivery> {
    let room = room.map(rid);
    store
        .list_events(state, room.as_ref(), before, limit)
        .expect("ran")
        .expect("known cursor")
}

fn ids(events: &[EventDelivery]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

fn find(store: &DieselStore, id: &DeletionId) -> EventDelivery {
    list(store, None, None, None, 100)
        .into_iter()
        .find(|e| &e.id == id)
        .expect("listed")
}

fn options(retry: RetryPolicy) -> DispatchOptions {
    DispatchOptions {
        global_webhook: Some(HOOK.to_owned()),
        retry,
        ..DispatchOptions::default()
    }
}

/// A notifier that answers `answer` once, for the event `id` only.
fn notifier_once(id: &DeletionId, answer: fn() -> Result<(), NotifyError>) -> MockNotifier {
    let id = id.as_str().to_owned();
    let mut notifier = MockNotifier::new();
    notifier
        .expect_notify()
        .withf(move |dest, event| {
            dest == HOOK
                && event.deletion.as_str() == id
                && event.body.contains(&format!("\"_id\":\"{id}\""))
        })
        .times(1)
        .returning(move |_, _| answer());
    notifier
}

/// One dispatcher pass with the default retry policy, the receiver answering `answer` for
/// event `id` (and only it).
fn attempt(store: &DieselStore, id: &DeletionId, answer: fn() -> Result<(), NotifyError>) {
    dispatch_due(
        store,
        &notifier_once(id, answer),
        &options(RetryPolicy::default()),
        "w",
    )
    .expect("ran");
}

/// Records what the store reports after its commits.
#[derive(Debug, Default)]
struct Heard(Mutex<Vec<Backlog>>);

impl CommitListener for Heard {
    fn committed(&self, backlog: Backlog) {
        self.0.lock().expect("lock").push(backlog);
    }
}

#[test]
fn events_are_listed_newest_first_by_state_and_room_after_a_cursor() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    add_room(&*s, "r2", "alice", &[], &[]);
    let delivered = clear(&s, "r1", now());
    attempt(&s, &delivered, || Ok(()));
    let failed = clear(&s, "r2", now());
    attempt(&s, &failed, || {
        Err(NotifyError::Refused("private".to_owned()))
    });
    let pending = clear(&s, "r1", now());

    let all = list(&s, None, None, None, 20);
    assert_eq!(
        ids(&all),
        vec![pending.as_str(), failed.as_str(), delivered.as_str()],
        "newest first"
    );
    let [p, f, d] = &all[..] else {
        panic!("three events: {all:?}")
    };
    assert_eq!((p.state, p.attempts), (DeliveryState::Pending, 0));
    assert!(p.next_attempt_at.is_some() && p.delivered_at.is_none() && p.last_error.is_none());
    assert_eq!((f.state, f.attempts), (DeliveryState::Failed, 1));
    assert!(f.next_attempt_at.is_none() && f.delivered_at.is_none());
    assert!(
        f.last_error
            .as_deref()
            .is_some_and(|e| e.contains("private"))
    );
    assert_eq!((d.state, d.attempts), (DeliveryState::Delivered, 1));
    assert!(d.delivered_at.is_some() && d.next_attempt_at.is_none() && d.last_error.is_none());
    // The store's default body: the audit record with its hash (the server gives its own
    // wire format, tested in the app).
    let body: serde_json::Value = serde_json::from_str(&d.body).expect("JSON body");
    assert_eq!(
        (
            body["_id"].as_str(),
            body["roomID"].as_str(),
            body["hash"].is_string()
        ),
        (Some(delivered.as_str()), Some("r1"), true)
    );
    assert_eq!(d.room.as_str(), "r1");

    assert_eq!(
        ids(&list(&s, Some(DeliveryState::Failed), None, None, 20)),
        vec![failed.as_str()]
    );
    assert_eq!(
        ids(&list(&s, None, Some("r1"), None, 20)),
        vec![pending.as_str(), delivered.as_str()]
    );
    assert_eq!(
        ids(&list(
            &s,
            Some(DeliveryState::Pending),
            Some("r2"),
            None,
            20
        )),
        Vec::<&str>::new()
    );
    assert_eq!(
        ids(&list(&s, None, None, Some(&pending), 1)),
        vec![failed.as_str()],
        "strictly older than the cursor, limited"
    );
    assert_eq!(
        ids(&list(&s, None, Some("r1"), Some(&failed), 20)),
        vec![delivered.as_str()],
        "an event of another room (or state) is still a cursor"
    );
    let unknown = DeletionId::from_trusted("0123456789abcdef01234567".to_owned());
    assert_eq!(
        s.list_events(None, None, Some(&unknown), 20).expect("ran"),
        None,
        "an unknown cursor"
    );
}

#[test]
fn a_failed_old_event_is_redelivered_under_its_id_with_a_fresh_retry_window() {
    let heard = Arc::new(Heard::default());
    let fixture = store();
    let s = fixture.store.clone().with_listener(heard.clone());
    add_room(&s, "r1", "alice", &[], &[]);
    // Three days old: far outside the retry window counted from its creation.
    let old = now() - chrono::Duration::days(3);
    let id = clear(&s, "r1", old);
    let failing = || -> Result<(), NotifyError> { Err(NotifyError::Status(500)) };
    attempt(&s, &id, failing);
    let given_up = find(&s, &id);
    assert_eq!(
        (given_up.state, given_up.attempts),
        (DeliveryState::Failed, 1)
    );
    heard.0.lock().expect("lock").clear();

    let at = now();
    let done = s.redeliver_event(&id, at).expect("ran").expect("known");
    assert_eq!(done.outcome, Redelivery::Queued);
    assert_eq!(
        (
            done.event.state,
            done.event.attempts,
            done.event.last_error.as_deref()
        ),
        (DeliveryState::Pending, 0, None)
    );
    assert_eq!(done.event.next_attempt_at, Some(at), "due at once");
    assert_eq!(done.event.created_at, old, "still the same event");
    assert_eq!(done.event, find(&s, &id));
    assert_eq!(
        *heard.0.lock().expect("lock"),
        vec![Backlog::Event],
        "the dispatcher is woken"
    );

    // A failure now is retried: the window counts from the redelivery, not the creation.
    attempt(&s, &id, failing);
    let retrying = find(&s, &id);
    assert_eq!(
        (retrying.state, retrying.attempts),
        (DeliveryState::Pending, 1)
    );
    assert!(retrying.last_error.is_some());

    // Redelivering a waiting event makes it due now; it then goes out under the same ID.
    assert_eq!(
        s.redeliver_event(&id, now())
            .expect("ran")
            .expect("known")
            .outcome,
        Redelivery::Queued
    );
    attempt(&s, &id, || Ok(()));
    let delivered = find(&s, &id);
    assert_eq!(
        (delivered.state, delivered.attempts),
        (DeliveryState::Delivered, 1)
    );

    // And a delivered event can be sent once more.
    assert_eq!(
        s.redeliver_event(&id, now())
            .expect("ran")
            .expect("known")
            .outcome,
        Redelivery::Queued
    );
    assert!(find(&s, &id).delivered_at.is_none());
    attempt(&s, &id, || Ok(()));
    assert_eq!(find(&s, &id).state, DeliveryState::Delivered);
}

#[test]
fn a_skipped_event_is_redelivered_only_once_it_has_a_destination() {
    let heard = Arc::new(Heard::default());
    let fixture = store();
    let q = fixture
        .store
        .clone()
        .with_event_queueing(EventQueueing::RoomsWithWebhook)
        .with_listener(heard.clone());
    add_room(&q, "quiet", "alice", &[], &[]);
    let id = clear(&q, "quiet", now());
    heard.0.lock().expect("lock").clear();
    let skipped = find(&q, &id);
    assert_eq!(skipped.state, DeliveryState::Skipped);

    let done = q.redeliver_event(&id, now()).expect("ran").expect("known");
    assert_eq!(done.outcome, Redelivery::NoDestination);
    assert_eq!(done.event, skipped, "left as it was");
    assert!(heard.0.lock().expect("lock").is_empty(), "nothing to wake");

    let hook = RoomChanges {
        webhook: Some(Some(HOOK.to_owned())),
        ..RoomChanges::default()
    };
    update_as_platform(&q, "quiet", &hook);
    let done = q.redeliver_event(&id, now()).expect("ran").expect("known");
    assert_eq!(
        (done.outcome, done.event.state),
        (Redelivery::Queued, DeliveryState::Pending)
    );
    let claimed = q
        .claim_due_events("w", chrono::Duration::seconds(15), 10)
        .expect("ran");
    assert_eq!(
        claimed
            .iter()
            .map(|c| (c.event.deletion.as_str(), c.room_webhook.as_deref()))
            .collect::<Vec<_>>(),
        vec![(id.as_str(), Some(HOOK))]
    );
}

#[test]
fn an_event_being_attempted_is_left_to_its_attempt() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    let id = clear(&s, "r1", now());
    let lease = chrono::Duration::seconds(30);
    assert_eq!(
        s.claim_due_events("a", lease, 10).expect("claimed").len(),
        1
    );
    let done = s.redeliver_event(&id, now()).expect("ran").expect("known");
    assert_eq!(
        (done.outcome, done.event.state),
        (Redelivery::InFlight, DeliveryState::Pending)
    );
    assert!(
        s.claim_due_events("b", lease, 10).expect("ran").is_empty(),
        "the claim still holds: no second concurrent attempt"
    );
}

#[test]
fn an_attempt_outlived_by_its_lease_does_not_overwrite_the_redelivery_that_took_over() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    let id = clear(&s, "r1", now());
    // The attempt outlives its lease; meanwhile an operator redelivers the event, which
    // starts a new round. The late failure belongs to the old round and is dropped.
    let during = s.clone();
    let event = id.clone();
    let mut slow = MockNotifier::new();
    slow.expect_notify().times(1).returning(move |_, _| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let done = during
            .redeliver_event(&event, now())
            .expect("ran")
            .expect("known");
        assert_eq!(done.outcome, Redelivery::Queued, "the lease had run out");
        Err(NotifyError::Status(500))
    });
    let short_lease = DispatchOptions {
        lease: chrono::Duration::milliseconds(10),
        ..options(RetryPolicy::default())
    };
    assert_eq!(dispatch_due(&s, &slow, &short_lease, "w").expect("ran"), 1);
    let after = find(&s, &id);
    assert_eq!(
        (after.state, after.attempts, after.last_error.as_deref()),
        (DeliveryState::Pending, 0, None),
        "the redelivered round starts clean: {after:?}"
    );
    assert!(
        after.next_attempt_at.is_some_and(|at| at <= now()),
        "due now"
    );
}

#[test]
fn redelivering_an_unknown_event_finds_nothing() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    clear(&s, "r1", now());
    let unknown = DeletionId::from_trusted("0123456789abcdef01234567".to_owned());
    assert_eq!(s.redeliver_event(&unknown, now()).expect("ran"), None);
}
