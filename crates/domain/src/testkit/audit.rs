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
    assert_eq!(all[0].message_id, "_all");
    assert_eq!(all[2].message_id, "a-0");
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
