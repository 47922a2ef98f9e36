//! A write transaction that MySQL aborts (a deadlock, which is also how a Galera cluster
//! reports a certification conflict; a lock wait timeout; a node not ready) runs again
//! whole, and one it keeps aborting is `Unavailable` (503), never `Internal` (500). The
//! abort is simulated by a trigger that fails the deletion's audit insert with MySQL's own
//! deadlock error; MySQL only.

use crate::support::*;
use roomwarden_adapters::testing::Rows;
use roomwarden_domain::error::StoreError;
use roomwarden_domain::ids::DeleteTarget;
use roomwarden_domain::ports::{AuditStore, MessageStore};

/// A trigger that fails inserts into `deletions` with MySQL's deadlock error: once per
/// connection (`once`), or always.
fn deadlock_trigger(once: bool) -> String {
    let fail = "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, \
                MESSAGE_TEXT = 'Deadlock found when trying to get lock; try restarting transaction';";
    let body = if once {
        format!("IF @rw_deadlocked IS NULL THEN SET @rw_deadlocked = 1; {fail} END IF;")
    } else {
        fail.to_owned()
    };
    format!("CREATE TRIGGER rw_deadlock BEFORE INSERT ON deletions FOR EACH ROW BEGIN {body} END")
}

#[test]
fn a_deletion_aborted_by_a_deadlock_runs_again_whole_and_commits_once() {
    let s = store();
    if is_sqlite(&s) {
        return; // SQLite has one writer: nothing aborts a transaction
    }
    add_room(&*s, "r", "alice", &[], &[]);
    send_many(&*s, "r", "alice", "m", 3);
    Rows::open(s.url()).execute(&deadlock_trigger(true));
    let outcome = s
        .delete(&request("r", DeleteTarget::One(mid("m-1")), "alice"))
        .expect("run again after the deadlock, and committed");
    assert_eq!(deleted_count(outcome), 1);
    let records = s.list_deletions(Some(&rid("r")), None, 10).expect("listed");
    assert_eq!(records.map(|r| r.len()), Some(1), "one audit record");
    assert_eq!(visible_count(&*s, "r"), 2);
}

#[test]
fn a_deletion_the_database_keeps_aborting_is_unavailable_and_changes_nothing() {
    let s = store();
    if is_sqlite(&s) {
        return;
    }
    add_room(&*s, "r", "alice", &[], &[]);
    send_many(&*s, "r", "alice", "m", 3);
    Rows::open(s.url()).execute(&deadlock_trigger(false));
    let err = s
        .delete(&request("r", DeleteTarget::One(mid("m-1")), "alice"))
        .expect_err("aborted every time");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(visible_count(&*s, "r"), 3, "nothing deleted");
    let records = s.list_deletions(Some(&rid("r")), None, 10).expect("listed");
    assert_eq!(records.map(|r| r.len()), Some(0));
}
