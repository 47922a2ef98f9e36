//! What only the diesel store promises about idempotency records: on SQLite, an answer that
//! embedded a deleted message leaves no copy of its content in the database files.

use crate::deletion::{contains, sqlite_bytes};
use crate::support::*;
use roomwarden_domain::idempotency::{ClaimOutcome, Completion, EmbeddedMessage, RETENTION};
use roomwarden_domain::ids::DeleteTarget;
use roomwarden_domain::ports::{IdempotencyStore, MessageStore};
use roomwarden_domain::testkit::idempotency::{answer, claim_at, request_print, ticket};

/// Stores an answer for `key` (by alice) that embeds `message` of `room`.
pub fn store_answer_embedding(s: &TestStore, key: &str, room: &str, message: &str, body: &str) {
    let held = ticket("alice", key);
    let fp = request_print("/rooms/r/message", key);
    assert_eq!(claim_at(&**s, &held, &fp, now()), ClaimOutcome::Started);
    let completion = Completion {
        embeds: Some(EmbeddedMessage {
            room: rid(room),
            message: mid(message),
            redacted_body: br#"{"RC":0,"result":{"message":null}}"#.to_vec(),
        }),
        ..answer(200, body.as_bytes())
    };
    assert!(
        s.complete_key(&held, &completion, now() + RETENTION)
            .expect("ran")
    );
}

#[test]
fn a_deleted_message_leaves_no_copy_in_stored_answers_on_disk() {
    let s = store();
    if !is_sqlite(&s) {
        return; // a property of the embedded backend's files only
    }
    add_room(&*s, "r1", "alice", &[], &[]);
    let (one, cleared) = ("ANSWER-SECRET-3b7d21", "CLEARED-ANSWER-91c0aa");
    // The second answer spills into overflow pages.
    let padding = "x".repeat(20_000);
    for (id, secret, body) in [
        ("m1", one, format!(r#"{{"result":{{"message":"{one}"}}}}"#)),
        (
            "m2",
            cleared,
            format!(r#"{{"result":{{"message":"{cleared}{padding}"}}}}"#),
        ),
    ] {
        assert!(
            s.insert_message(&message("r1", "alice", id, secret))
                .expect("ran")
        );
        store_answer_embedding(&s, id, "r1", id, &body);
    }
    assert!(
        contains(&sqlite_bytes(&s), one),
        "the probe sees what is there"
    );

    s.delete(&request("r1", DeleteTarget::One(mid("m1")), "alice"))
        .expect("ran");
    let bytes = sqlite_bytes(&s);
    assert!(!contains(&bytes, one), "the stored answer kept the content");
    assert!(contains(&bytes, cleared));

    s.delete(&request("r1", DeleteTarget::All, "alice"))
        .expect("ran");
    assert!(
        !contains(&sqlite_bytes(&s), cleared),
        "the clear left the stored answer's content"
    );
}
