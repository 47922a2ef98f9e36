//! The purge backlog that `/metrics` reports: exact job counts, row bounds that hold the
//! true number, shrink as the purger works and reach 0 when it is done.

use crate::support::*;
use roomwarden_adapters::PurgeBacklog;
use roomwarden_domain::filter::{Bound, MessageFilter};
use roomwarden_domain::ids::{ClientId, DeleteTarget};
use roomwarden_domain::model::DeletionRequest;
use roomwarden_domain::ports::MessageStore;
use std::sync::atomic::AtomicBool;

fn filtered(room: &str, filter: MessageFilter) -> DeletionRequest {
    DeletionRequest {
        filter,
        ..request(room, DeleteTarget::All, "owner")
    }
}

#[test]
fn the_purge_backlog_bounds_what_is_left_and_is_zero_when_done() {
    let s = store_with_batch(10);
    assert_eq!(s.purge_backlog().expect("read"), PurgeBacklog::default());
    add_room(&*s, "clear", "owner", &[], &[]);
    add_room(&*s, "spam", "owner", &[], &["spammer", "alice"]);
    add_room(&*s, "old", "owner", &[], &[]);
    // The clear's rows are interleaved with another room's: the bound spans both.
    for i in 0..20 {
        send_many(&*s, "clear", "owner", &format!("c{i}"), 1);
        send_many(&*s, "old", "owner", &format!("o{i}"), 1);
    }
    send_many(&*s, "spam", "spammer", "s", 25);
    send_many(&*s, "spam", "alice", "a", 5);
    send_many(&*s, "spam", "spammer", "t", 5);

    let cleared = s
        .delete(&request("clear", DeleteTarget::All, "owner"))
        .expect("ran");
    assert_eq!(deleted_count(cleared), 20);
    let spammer = vec![ClientId::from_trusted("spammer".to_owned())];
    let by_sender = MessageFilter::new(None, None, spammer).expect("valid");
    assert_eq!(
        deleted_count(s.delete(&filtered("spam", by_sender)).expect("ran")),
        30
    );
    // A time window and no sender: an erasure of every sender's rows.
    let everything = MessageFilter {
        before: Some(Bound::At(now() + chrono::Duration::hours(1))),
        after: None,
        senders: Vec::new(),
        ..MessageFilter::default()
    };
    assert_eq!(
        deleted_count(s.delete(&filtered("old", everything)).expect("ran")),
        20
    );

    let backlog = s.purge_backlog().expect("read");
    assert_eq!((backlog.clears, backlog.erasures), (1, 2), "{backlog:?}");
    // Seqs from one message to the `n`th after it: `step` apart (3 on a Galera cluster).
    let step =
        u64::try_from(roomwarden_adapters::testing::seq_step(s.database())).expect("positive");
    let span = |n: u64| (n - 1) * step + 1;
    // 20 rows of "clear" among 39 messages' seqs (its first to its last message).
    assert_eq!(backlog.clear_rows, span(39), "{backlog:?}");
    // Erasures: the spammer's 30 rows span 35 messages (alice's 5 inside), "old"'s 20 span 39.
    assert_eq!(backlog.erasure_rows, span(35) + span(39), "{backlog:?}");

    s.purge_pending(&AtomicBool::new(false)).expect("purged");
    assert_eq!(s.purge_backlog().expect("read"), PurgeBacklog::default());
}
