//! A session ([`DieselStore::session`]) runs every call on the one connection it holds.

use crate::support::*;
use roomwarden_domain::error::StoreError;
use roomwarden_domain::ids::DeleteTarget;
use roomwarden_domain::ports::{ClientStore, MessageStore, RoomStore};
use std::time::Duration;

#[test]
fn a_session_runs_a_whole_request_on_one_connection() {
    let s = store_with_pool(1, Duration::from_millis(300));
    let session = s.session().expect("the only connection");
    // Everything a deletion request does, through the session, while it holds the pool's
    // only connection: a call that needed a second connection would time out.
    add_room(&session, "r1", "alice", &[], &[]);
    send_many(&session, "r1", "alice", "m", 2);
    assert!(session.get_client(&cid("alice")).expect("ran").is_some());
    assert!(session.get_room(&rid("r1")).expect("ran").is_some());
    let outcome = session
        .delete(&request("r1", DeleteTarget::One(mid("m-0")), "alice"))
        .expect("ran");
    assert_eq!(deleted_count(outcome), 1);
    assert_eq!(visible_count(&session, "r1"), 1);
    // The pool is empty meanwhile; a call outside the session waits and gives up.
    assert!(matches!(
        s.get_room(&rid("r1")),
        Err(StoreError::Unavailable(_))
    ));
    let clone = session.clone();
    drop(session);
    assert!(
        matches!(s.get_room(&rid("r1")), Err(StoreError::Unavailable(_))),
        "a clone keeps the connection"
    );
    drop(clone);
    assert_eq!(
        s.list_messages(&rid("r1"), None, 10)
            .expect("the connection is back in the pool")
            .expect("page")
            .total_count,
        1
    );
}
