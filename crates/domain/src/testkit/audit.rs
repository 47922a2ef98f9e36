//! Cases of the audit port.

use super::ContractStore;
use super::fixtures::*;
use crate::ids::{DeleteTarget, DeletionId};
use crate::model::{AuditReason, DeleteOutcome};

/// Audit records are newest first filterable and paged.
pub fn audit_records_are_newest_first_filterable_and_paged<S: ContractStore + ?Sized>(s: &S) {
    add_room(s, "r1", "alice", &[], &[]);
    add_room(s, "r2", "bob", &[], &[]);
    send_many(s, "r1", "alice", "a", 3);
    let mut ids = Vec::new();
    for (room, target) in [
        ("r1", DeleteTarget::One(mid("a-0"))),
        ("r2", DeleteTarget::All),
        ("r1", DeleteTarget::All),
    ] {
        let mut req = request(room, target, "alice");
        req.reason = Some(AuditReason::parse("spam ✓".to_owned()).expect("short"));
        let DeleteOutcome::Deleted(d) = s.delete(&req).expect("ran") else {
            panic!("deleted")
        };
        ids.push(d.id);
    }
    let all = s
        .list_deletions(None, None, 10)
        .expect("ran")
        .expect("page");
    assert_eq!(
        all.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        ids.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(all[0].deleted_count, 2);
    assert_eq!(all[0].message_id(), "_all");
    assert_eq!(all[2].message_id(), "a-0");
    assert_eq!(
        all[2].reason.as_ref().map(AuditReason::as_str),
        Some("spam ✓")
    );

    let r1 = s
        .list_deletions(Some(&rid("r1")), None, 10)
        .expect("ran")
        .expect("page");
    assert_eq!(r1.len(), 2);
    let older = s
        .list_deletions(None, Some(&ids[2]), 1)
        .expect("ran")
        .expect("page");
    assert_eq!(
        older.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        vec![ids[1].clone()]
    );
    assert_eq!(
        s.list_deletions(Some(&rid("r1")), Some(&ids[1]), 10)
            .expect("ran"),
        None,
        "r2's record is no cursor for r1"
    );
    let unknown = DeletionId::parse("nope").expect("valid");
    assert_eq!(
        s.list_deletions(None, Some(&unknown), 10).expect("ran"),
        None
    );
}

/// Each room's records form a chain that verifies, whatever kinds of deletion wrote them, and
/// the oldest-first listing (for verify and export) pages forward, by room and by time.
pub fn audit_records_chain_per_room_and_list_oldest_first<S: ContractStore>(s: &S) {
    use crate::audit_chain::GENESIS;
    use crate::usecases::audit::{verify_all, verify_chain};
    add_room(s, "r1", "alice", &[], &[]);
    add_room(s, "r2", "bob", &[], &[]);
    send_many(s, "r1", "alice", "a", 4);
    send_many(s, "r2", "bob", "b", 2);
    let mut written = Vec::new();
    for (room, target) in [
        ("r1", DeleteTarget::One(mid("a-0"))),
        ("r2", DeleteTarget::One(mid("b-0"))),
        ("r1", DeleteTarget::All),
        ("r2", DeleteTarget::All),
    ] {
        let DeleteOutcome::Deleted(d) = s.delete(&request(room, target, "alice")).expect("ran")
        else {
            panic!("deleted")
        };
        assert!(d.hash.is_some(), "the committed record carries its hash");
        written.push(d);
    }
    let all = s
        .list_deletions_oldest_first(None, None, None, None, 10)
        .expect("ran")
        .expect("page");
    assert_eq!(all, written, "oldest first, as returned when committed");
    let r1 = verify_chain(s, &rid("r1")).expect("ran");
    assert!(r1.valid());
    assert_eq!(
        (r1.records, r1.head.as_str()),
        (2, written[2].hash.as_deref().expect("hash"))
    );
    assert_eq!(verify_chain(s, &rid("nowhere")).expect("ran").head, GENESIS);
    let every = verify_all(s).expect("ran");
    assert_eq!(every.len(), 2);
    assert!(every.values().all(crate::audit_chain::ChainReport::valid));

    let after_first = s
        .list_deletions_oldest_first(Some(&rid("r2")), Some(&written[1].id), None, None, 10)
        .expect("ran")
        .expect("page");
    assert_eq!(after_first, vec![written[3].clone()]);
    assert_eq!(
        s.list_deletions_oldest_first(Some(&rid("r1")), Some(&written[1].id), None, None, 10)
            .expect("ran"),
        None,
        "r2's record is no cursor for r1"
    );
    let unknown = DeletionId::parse("nope").expect("valid");
    assert_eq!(
        s.list_deletions_oldest_first(None, Some(&unknown), None, None, 10)
            .expect("ran"),
        None
    );
    let paged = s
        .list_deletions_oldest_first(None, Some(&written[0].id), None, None, 2)
        .expect("ran")
        .expect("page");
    assert_eq!(paged, written[1..3].to_vec());
    let at = written[0].deleted_at;
    let none_before = s
        .list_deletions_oldest_first(None, None, None, Some(at), 10)
        .expect("ran")
        .expect("page");
    assert!(none_before.is_empty(), "until is exclusive");
    let from = s
        .list_deletions_oldest_first(None, None, Some(at), None, 10)
        .expect("ran")
        .expect("page");
    assert_eq!(from.len(), 4, "since is inclusive");
}
