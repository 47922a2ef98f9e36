use crate::support::*;
use roomwarden_adapters::workers::{DeliveryOutcome, DispatchOptions, Observer, dispatch_due};
use roomwarden_adapters::{EventQueueing, FeedEvent, OutboxCounts, RealtimeFeed};
use roomwarden_domain::events::{MockNotifier, NotifyError, RetryPolicy};
use roomwarden_domain::ids::DeleteTarget;
use roomwarden_domain::model::{DeleteOutcome, RoomChanges};
use roomwarden_domain::ports::MessageStore;

fn pending(n: u64) -> OutboxCounts {
    OutboxCounts {
        pending: n,
        ..OutboxCounts::default()
    }
}

#[test]
fn every_committed_deletion_writes_exactly_one_event_and_a_failed_one_none() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    send_many(&*s, "r1", "alice", "m", 2);
    s.delete(&request("r1", DeleteTarget::One(mid("m-0")), "alice"))
        .expect("ran");
    assert_eq!(s.outbox_counts().expect("counts"), pending(1));
    let missing = s
        .delete(&request("r1", DeleteTarget::One(mid("m-0")), "alice"))
        .expect("ran");
    assert_eq!(missing, DeleteOutcome::MessageNotFound);
    assert_eq!(
        s.outbox_counts().expect("counts"),
        pending(1),
        "no event without a deletion"
    );
    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    assert_eq!(
        s.outbox_counts().expect("counts"),
        pending(3),
        "clears, even of an empty room, are events"
    );
}

#[test]
fn a_claimed_event_is_not_claimed_again_until_its_lease_ends() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    let lease = chrono::Duration::seconds(30);
    let first = s.claim_due_events("a", lease, 10).expect("claimed");
    assert_eq!(first.len(), 1);
    assert!(
        s.claim_due_events("b", lease, 10).expect("ran").is_empty(),
        "held by a"
    );
    let expired = chrono::Duration::milliseconds(-1);
    let s2 = store();
    add_room(&*s2, "r1", "alice", &[], &[]);
    s2.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    assert_eq!(s2.claim_due_events("a", expired, 10).expect("ran").len(), 1);
    assert_eq!(
        s2.claim_due_events("b", lease, 10).expect("ran").len(),
        1,
        "an expired lease can be taken over"
    );
}

#[test]
fn dispatch_records_delivery_retry_and_skip() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    let options = |global: Option<&str>| DispatchOptions {
        global_webhook: global.map(str::to_owned),
        retry: RetryPolicy::default(),
        ..DispatchOptions::default()
    };

    let mut failing = MockNotifier::new();
    failing
        .expect_notify()
        .times(1)
        .returning(|_, _| Err(NotifyError::Status(500)));
    assert_eq!(
        dispatch_due(&s, &failing, &options(Some("http://hook")), "w").expect("ran"),
        1
    );
    assert_eq!(s.outbox_counts().expect("counts"), pending(1));
    assert_eq!(
        dispatch_due(&s, &failing, &options(Some("http://hook")), "w").expect("ran"),
        0,
        "not due before its retry time"
    );

    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    let mut ok = MockNotifier::new();
    ok.expect_notify()
        .withf(|dest, event| {
            dest == "http://hook"
                && event.room.as_str() == "r1"
                && event.body.contains("\"messageID\":\"_all\"")
        })
        .times(1)
        .returning(|_, _| Ok(()));
    dispatch_due(&s, &ok, &options(Some("http://hook")), "w").expect("ran");
    assert_eq!(
        s.outbox_counts().expect("counts"),
        OutboxCounts {
            delivered: 1,
            ..OutboxCounts::default()
        }
    );

    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    let never = MockNotifier::new();
    dispatch_due(&s, &never, &options(None), "w").expect("ran");
    assert_eq!(
        s.outbox_counts().expect("counts"),
        OutboxCounts {
            delivered: 1,
            skipped: 1,
            ..OutboxCounts::default()
        }
    );
}

#[test]
fn a_refused_destination_fails_at_once_without_retries() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    let mut refusing = MockNotifier::new();
    refusing
        .expect_notify()
        .times(1)
        .returning(|_, _| Err(NotifyError::Refused("host 127.0.0.1 is private".to_owned())));
    let options = DispatchOptions {
        global_webhook: Some("http://127.0.0.1:9/hook".to_owned()),
        ..DispatchOptions::default()
    };
    dispatch_due(&s, &refusing, &options, "w").expect("ran");
    assert_eq!(
        s.outbox_counts().expect("counts"),
        OutboxCounts {
            failed: 1,
            ..OutboxCounts::default()
        }
    );
}

/// Records the dispatcher's reports.
#[derive(Debug, Default)]
struct Recorder(std::sync::Mutex<Vec<DeliveryOutcome>>);

impl Observer for Recorder {
    fn delivery_attempted(&self, outcome: DeliveryOutcome, _: std::time::Duration) {
        self.0.lock().expect("lock").push(outcome);
    }
}

#[test]
fn each_delivery_attempt_is_reported_to_the_observer_with_its_outcome() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    let recorder = std::sync::Arc::new(Recorder::default());
    let options = |give_up_after| DispatchOptions {
        global_webhook: Some("http://hook".to_owned()),
        retry: RetryPolicy {
            give_up_after,
            ..RetryPolicy::default()
        },
        observer: recorder.clone(),
        ..DispatchOptions::default()
    };
    let mut answers = vec![
        Err(NotifyError::Refused("private".to_owned())),
        Ok(()),
        Err(NotifyError::Status(500)),
        Err(NotifyError::Status(500)),
    ]
    .into_iter();
    let mut notifier = MockNotifier::new();
    notifier
        .expect_notify()
        .times(4)
        .returning(move |_, _| answers.next().expect("an answer"));
    // One event per dispatch; the last one's retry window is already over.
    let windows = [70, 70, 70, 0].map(chrono::Duration::minutes);
    for window in windows {
        s.delete(&request("r1", DeleteTarget::All, "alice"))
            .expect("ran");
        assert_eq!(
            dispatch_due(&s, &notifier, &options(window), "w").expect("ran"),
            1
        );
    }
    assert_eq!(
        *recorder.0.lock().expect("lock"),
        [
            DeliveryOutcome::Failed,
            DeliveryOutcome::Delivered,
            DeliveryOutcome::Retry,
            DeliveryOutcome::Failed
        ]
    );
}

#[test]
fn the_feed_announces_new_messages_and_deletions_but_not_history() {
    let s = store();
    add_room(&*s, "r1", "alice", &[], &[]);
    send_many(&*s, "r1", "alice", "old", 2);
    let mut feed = RealtimeFeed::starting_now(s.store.clone()).expect("feed");
    assert!(
        feed.poll().expect("polled").is_empty(),
        "history is not replayed"
    );
    send_many(&*s, "r1", "alice", "new", 2);
    s.delete(&request("r1", DeleteTarget::One(mid("old-0")), "alice"))
        .expect("ran");
    let events = feed.poll().expect("polled");
    assert_eq!(events.len(), 3, "{events:?}");
    let record = roomwarden_domain::ports::AuditStore::list_deletions(&*s, None, None, 1)
        .expect("read")
        .expect("page");
    assert_eq!(events[0], FeedEvent::Deleted(record[0].clone()));
    assert_eq!(record[0].message_id(), "old-0");
    assert!(record[0].hash.is_some(), "the witness is the record's hash");
    assert!(matches!(&events[1], FeedEvent::Message(m) if m.id.as_str() == "new-0"));
    assert!(matches!(&events[2], FeedEvent::Message(m) if m.id.as_str() == "new-1"));
    assert!(feed.poll().expect("polled").is_empty(), "nothing twice");

    send_many(&*s, "r1", "alice", "gone", 1);
    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    let events = feed.poll().expect("polled");
    let record = roomwarden_domain::ports::AuditStore::list_deletions(&*s, None, None, 1)
        .expect("read")
        .expect("page");
    assert_eq!(record[0].target, DeleteTarget::All);
    assert_eq!(
        events,
        vec![FeedEvent::Deleted(record[0].clone())],
        "a message deleted before it was polled is never announced"
    );
}

#[test]
fn without_a_global_webhook_only_rooms_with_one_queue_events() {
    let s = store();
    let q = s
        .store
        .clone()
        .with_event_queueing(EventQueueing::RoomsWithWebhook);
    add_room(&q, "quiet", "alice", &[], &[]);
    add_room(&q, "hooked", "bob", &[], &[]);
    let hook = RoomChanges {
        webhook: Some(Some("http://127.0.0.1:9/hook".to_owned())),
        ..RoomChanges::default()
    };
    update_as_platform(&q, "hooked", &hook);
    let mut feed = RealtimeFeed::starting_now(q.clone()).expect("feed");
    for room in ["quiet", "hooked"] {
        q.delete(&request(room, DeleteTarget::All, "alice"))
            .expect("ran");
    }
    assert_eq!(
        q.outbox_counts().expect("counts"),
        OutboxCounts {
            pending: 1,
            skipped: 1,
            ..OutboxCounts::default()
        },
        "the quiet room's event is finished at once"
    );
    let claimed = q
        .claim_due_events("w", chrono::Duration::seconds(15), 10)
        .expect("ran");
    assert_eq!(
        claimed
            .iter()
            .map(|c| c.event.room.as_str())
            .collect::<Vec<_>>(),
        vec!["hooked"]
    );
    assert_eq!(
        feed.poll().expect("polled").len(),
        2,
        "sockets hear of both deletions"
    );
}
