//! Cases of reports (docs/api.md §7.10): filing and its order of checks, the queue's order
//! and pages, dismissal, the reporter's rate, and the resolution of open reports by the
//! deletions that remove their messages.

use super::ContractStore;
use super::fixtures::*;
use crate::actor::Actor;
use crate::filter::MessageFilter;
use crate::ids::{DeleteTarget, ReportId};
use crate::model::{DeleteOutcome, Deletion};
use crate::report::{
    DismissOutcome, Dismissal, NewReport, QueueQuery, RateLimit, Report, ReportCategory,
    ReportOutcome, ReportState, ReportedMessage, Resolution,
};
use chrono::Duration;

/// A new report of `message` in `room` by `reporter`, made `secs_ago` seconds ago.
fn new_report(room: &str, message: &str, reporter: &str, secs_ago: i64) -> NewReport {
    let at = crate::model::to_millis(now() - Duration::seconds(secs_ago));
    NewReport {
        id: ReportId::generate(at),
        room: rid(room),
        message: mid(message),
        reporter: cid(reporter),
        category: ReportCategory::Spam,
        reason: None,
        created_at: at,
        limit: RateLimit::REPORTS,
    }
}

fn filed<S: ContractStore + ?Sized>(s: &S, report: &NewReport) -> Report {
    match s.file_report(report).expect("ran") {
        ReportOutcome::Created(r) => r,
        other => panic!("expected a new report, got {other:?}"),
    }
}

fn queue<S: ContractStore + ?Sized>(
    s: &S,
    room: Option<&str>,
    state: ReportState,
) -> Vec<ReportedMessage> {
    let query = QueueQuery {
        room: room.map(rid),
        state,
        before: None,
        limit: 100,
    };
    s.list_reported(&query).expect("listed")
}

fn deleted(outcome: DeleteOutcome) -> Deletion {
    match outcome {
        DeleteOutcome::Deleted(d) => d,
        other => panic!("expected a deletion, got {other:?}"),
    }
}

fn sorted(mut ids: Vec<ReportId>) -> Vec<ReportId> {
    ids.sort();
    ids
}

/// Room `r` (owner `owner`, manager `mgr`, members `a` and `b`) with messages `m1`..`m3`
/// from `spammer`, a member too.
fn setup<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r", "owner", &["mgr"], &["a", "b", "spammer"]);
    add_client(s, "outsider");
    send_many(s, "r", "spammer", "m", 3);
}

/// Filing checks the room, membership and the message in that order, answers a reporter's
/// open report of the message again without writing, and keeps the message's sender.
pub fn reports_are_checked_in_order_and_filed_once_per_reporter<S: ContractStore + ?Sized>(s: &S) {
    setup(s);
    let mut report = new_report("nowhere", "m-0", "outsider", 0);
    assert_eq!(
        s.file_report(&report).expect("ran"),
        ReportOutcome::RoomNotFound
    );
    report.room = rid("r");
    assert_eq!(
        s.file_report(&report).expect("ran"),
        ReportOutcome::NotMember
    );
    let mut report = new_report("r", "nope", "a", 0);
    assert_eq!(
        s.file_report(&report).expect("ran"),
        ReportOutcome::MessageNotFound
    );
    report.message = mid("m-0");
    let first = filed(s, &report);
    assert_eq!(first.sender, cid("spammer"));
    assert_eq!(first.state(), ReportState::Open);
    let again = new_report("r", "m-0", "a", 0);
    assert_eq!(
        s.file_report(&again).expect("ran"),
        ReportOutcome::Existing(first.clone())
    );
    filed(s, &new_report("r", "m-0", "b", 0));
    let items = queue(s, Some("r"), ReportState::Open);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].report_count, 2);
    assert_eq!(items[0].categories.of(ReportCategory::Spam), 2);
    assert_eq!(items[0].sender, cid("spammer"));
    assert!(items[0].content.is_some(), "visible: its content is shown");
}

/// The queue lists messages by report count, then by their newest report, and pages
/// strictly after a cursor; each item lists its newest reports first.
pub fn the_queue_is_most_reported_first_and_pages<S: ContractStore + ?Sized>(s: &S) {
    setup(s);
    filed(s, &new_report("r", "m-0", "a", 30));
    filed(s, &new_report("r", "m-1", "a", 20));
    filed(s, &new_report("r", "m-1", "b", 25));
    filed(s, &new_report("r", "m-2", "b", 10));
    let items = queue(s, None, ReportState::Open);
    let order: Vec<&str> = items.iter().map(|i| i.message.as_str()).collect();
    assert_eq!(order, ["m-1", "m-2", "m-0"]);
    let reporters: Vec<&str> = items[0]
        .reports
        .iter()
        .map(|r| r.reporter.as_str())
        .collect();
    assert_eq!(reporters, ["a", "b"], "newest first");
    assert!(items[0].first_reported_at < items[0].last_reported_at);
    let next = QueueQuery {
        room: Some(rid("r")),
        state: ReportState::Open,
        before: Some(items[0].cursor()),
        limit: 1,
    };
    let page = s.list_reported(&next).expect("listed");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].message, mid("m-2"));
    assert!(queue(s, Some("r"), ReportState::Dismissed).is_empty());
}

/// A deletion resolves, in its transaction, exactly the open reports of the messages it
/// removes, and its record carries them; others stay open, and a deletion without any
/// carries none.
pub fn deletions_resolve_the_open_reports_of_what_they_remove<S: ContractStore + ?Sized>(s: &S) {
    setup(s);
    s.insert_message(&message("r", "a", "by-a", "hello"))
        .expect("sent");
    let r1 = filed(s, &new_report("r", "m-0", "a", 0));
    let r2 = filed(s, &new_report("r", "m-0", "b", 0));
    let kept = filed(s, &new_report("r", "by-a", "b", 0));
    let d = deleted(
        s.delete(&request("r", DeleteTarget::One(mid("m-0")), "admin"))
            .expect("ran"),
    );
    assert_eq!(d.reports.count, 2);
    assert_eq!(sorted(d.reports.ids.clone()), sorted(vec![r1.id, r2.id]));
    let listed = s
        .list_deletions(Some(&rid("r")), None, 1)
        .expect("ran")
        .expect("page");
    assert_eq!(listed[0].reports, d.reports, "stored with the record");

    let gone = queue(s, Some("r"), ReportState::Deleted);
    assert_eq!(gone.len(), 1);
    assert!(gone[0].content.is_none(), "no content once deleted");
    assert!(
        gone[0]
            .reports
            .iter()
            .all(|r| r.resolution == Some(Resolution::Deleted(d.id.clone())))
    );
    // A filtered clear by another sender leaves `by-a`'s report open.
    let r3 = filed(s, &new_report("r", "m-1", "a", 0));
    let by_spammer = crate::model::DeletionRequest {
        filter: MessageFilter {
            senders: vec![cid("spammer")],
            ..MessageFilter::default()
        },
        ..request("r", DeleteTarget::All, "admin")
    };
    let d = deleted(s.delete(&by_spammer).expect("ran"));
    assert_eq!(d.reports.ids, vec![r3.id]);
    let open = queue(s, Some("r"), ReportState::Open);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].reports[0].id, kept.id);
    // The clear of the room resolves it; a later deletion resolves nothing.
    let d = deleted(
        s.delete(&request("r", DeleteTarget::All, "admin"))
            .expect("ran"),
    );
    assert_eq!(d.reports.ids, vec![kept.id]);
    s.insert_message(&message("r", "a", "late", "late"))
        .expect("sent");
    let d = deleted(
        s.delete(&request("r", DeleteTarget::One(mid("late")), "admin"))
            .expect("ran"),
    );
    assert_eq!(d.reports.count, 0);
    assert!(d.reports.ids.is_empty());
}

/// A purge of a sender across rooms, in one call, resolves the reports of each room's
/// removed messages in that room's record.
pub fn a_purge_across_rooms_resolves_each_room_s_reports<S: ContractStore + ?Sized>(s: &S) {
    setup(s);
    add_room(s, "q", "owner", &[], &["a", "spammer"]);
    send_many(s, "q", "spammer", "n", 2);
    let in_r = filed(s, &new_report("r", "m-2", "a", 0));
    let in_q = filed(s, &new_report("q", "n-0", "a", 0));
    let purge = |room: &str| crate::model::DeletionRequest {
        filter: MessageFilter {
            senders: vec![cid("spammer")],
            ..MessageFilter::default()
        },
        skip_if_nothing: true,
        ..request_as(room, DeleteTarget::All, Actor::Platform)
    };
    let outcomes = s.delete_many(&[purge("q"), purge("r")]).expect("ran");
    let records: Vec<Deletion> = outcomes.into_iter().map(deleted).collect();
    assert_eq!(records[0].reports.ids, vec![in_q.id]);
    assert_eq!(records[1].reports.ids, vec![in_r.id]);
    assert!(queue(s, None, ReportState::Open).is_empty());
}

/// Dismissal: the room, then the actor's role, then an open report must exist; it dismisses
/// every open report of the message and keeps the message.
pub fn dismissal_checks_the_role_and_closes_every_open_report<S: ContractStore + ?Sized>(s: &S) {
    setup(s);
    filed(s, &new_report("r", "m-0", "a", 0));
    filed(s, &new_report("r", "m-0", "b", 0));
    let dismissal = |room: &str, actor: Actor| Dismissal {
        room: rid(room),
        message: mid("m-0"),
        actor,
        at: crate::model::to_millis(now()),
        reason: None,
    };
    assert_eq!(
        s.dismiss_reports(&dismissal("nowhere", user("mgr")))
            .expect("ran"),
        DismissOutcome::RoomNotFound
    );
    assert_eq!(
        s.dismiss_reports(&dismissal("r", user("a"))).expect("ran"),
        DismissOutcome::PermissionDenied
    );
    assert_eq!(
        s.dismiss_reports(&dismissal("r", user("mgr")))
            .expect("ran"),
        DismissOutcome::Dismissed(2)
    );
    assert_eq!(
        s.dismiss_reports(&dismissal("r", user("mgr")))
            .expect("ran"),
        DismissOutcome::NoOpenReport
    );
    let closed = queue(s, Some("r"), ReportState::Dismissed);
    assert_eq!(closed[0].report_count, 2);
    assert!(closed[0].content.is_some(), "the message stays");
    // Deleting it afterwards resolves nothing: its reports are closed.
    let d = deleted(
        s.delete(&request("r", DeleteTarget::One(mid("m-0")), "admin"))
            .expect("ran"),
    );
    assert_eq!(d.reports.count, 0);
}

/// The rate counts a reporter's new reports in the window before the new one's time.
pub fn the_rate_counts_new_reports_in_the_window<S: ContractStore + ?Sized>(s: &S) {
    setup(s);
    let limit = RateLimit {
        max: 2,
        window: Duration::seconds(60),
    };
    let with_limit = |message: &str, secs_ago: i64| NewReport {
        limit,
        ..new_report("r", message, "a", secs_ago)
    };
    filed(s, &with_limit("m-0", 90));
    let in_window = filed(s, &with_limit("m-1", 30));
    // m-0's report is out of the window: one in it, so one more may be filed.
    filed(s, &with_limit("m-2", 0));
    s.insert_message(&message("r", "b", "x", "x"))
        .expect("sent");
    let refused = s.file_report(&with_limit("x", 0)).expect("ran");
    let ReportOutcome::Limited { oldest } = refused else {
        panic!("expected the limit, got {refused:?}");
    };
    assert_eq!(oldest, in_window.created_at);
    // Another reporter is not limited.
    filed(
        s,
        &NewReport {
            limit,
            ..new_report("r", "x", "b", 0)
        },
    );
}

/// A queue item follows every change of its message's reports: its count, categories and
/// times are those of the reports of its state after filing, dismissal, a new report and a
/// deletion, item by item, and an item with none left leaves the queue.
pub fn queue_items_follow_every_change_of_their_reports<S: ContractStore + ?Sized>(s: &S) {
    setup(s);
    let item = |state: ReportState| {
        let mut items = queue(s, Some("r"), state);
        assert!(items.len() <= 1, "one message reported: {items:?}");
        items.pop()
    };
    let summary = |state: ReportState| {
        item(state).map(|i| {
            (
                i.report_count,
                i.categories.0,
                i.first_reported_at,
                i.last_reported_at,
            )
        })
    };
    let first = filed(s, &new_report("r", "m-0", "a", 30));
    let second = filed(
        s,
        &NewReport {
            category: ReportCategory::Abuse,
            ..new_report("r", "m-0", "b", 20)
        },
    );
    assert_eq!(
        summary(ReportState::Open),
        Some((2, [1, 1, 0, 0], first.created_at, second.created_at))
    );
    let dismissal = Dismissal {
        room: rid("r"),
        message: mid("m-0"),
        actor: Actor::Platform,
        at: crate::model::to_millis(now()),
        reason: None,
    };
    assert_eq!(
        s.dismiss_reports(&dismissal).expect("ran"),
        DismissOutcome::Dismissed(2)
    );
    assert_eq!(summary(ReportState::Open), None, "no open report left");
    let dismissed = Some((2, [1, 1, 0, 0], first.created_at, second.created_at));
    assert_eq!(summary(ReportState::Dismissed), dismissed);
    let third = filed(
        s,
        &NewReport {
            category: ReportCategory::Other,
            ..new_report("r", "m-0", "mgr", 10)
        },
    );
    assert_eq!(
        summary(ReportState::Open),
        Some((1, [0, 0, 0, 1], third.created_at, third.created_at))
    );
    deleted(
        s.delete(&request("r", DeleteTarget::One(mid("m-0")), "admin"))
            .expect("ran"),
    );
    assert_eq!(summary(ReportState::Open), None);
    assert_eq!(
        summary(ReportState::Deleted),
        Some((1, [0, 0, 0, 1], third.created_at, third.created_at))
    );
    assert_eq!(summary(ReportState::Dismissed), dismissed, "unchanged");
    let gone = item(ReportState::Deleted).expect("listed");
    assert_eq!(gone.reports.len(), 1);
    assert!(gone.content.is_none());
}
