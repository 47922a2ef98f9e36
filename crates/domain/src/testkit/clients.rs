//! Cases of the client and token port.

use super::ContractStore;
use super::fixtures::*;
use crate::auth::hash_token;
use crate::model::{ClientChanges, NewToken};

fn token(raw: &str) -> NewToken {
    NewToken {
        hash: hash_token(raw),
        expires_at: expires_in(7),
    }
}

/// Upsert creates then updates only given fields.
pub fn upsert_creates_then_updates_only_given_fields<S: ContractStore + ?Sized>(s: &S) {
    let mut changes = ClientChanges {
        id: cid("alice"),
        nickname: Some("Alice".to_owned()),
        avatar_url: Some("http://a/x.png".to_owned()),
        is_platform_admin: None,
    };
    let created = s
        .save_client(&changes, None, now())
        .expect("created")
        .expect("saved");
    assert_eq!(created.nickname.as_deref(), Some("Alice"));
    assert!(!created.is_platform_admin);

    changes.nickname = None;
    changes.avatar_url = None;
    changes.is_platform_admin = Some(true);
    let updated = s
        .save_client(&changes, None, now())
        .expect("updated")
        .expect("saved");
    assert_eq!(
        updated.nickname.as_deref(),
        Some("Alice"),
        "absent fields are kept"
    );
    assert!(updated.is_platform_admin);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(s.get_client(&cid("alice")).expect("read"), Some(updated));
    assert_eq!(s.get_client(&cid("nobody")).expect("read"), None);
}

/// A new token revokes the previous ones.
pub fn a_new_token_revokes_the_previous_ones<S: ContractStore + ?Sized>(s: &S) {
    let changes = ClientChanges {
        id: cid("bob"),
        nickname: None,
        avatar_url: None,
        is_platform_admin: Some(true),
    };
    s.save_client(&changes, Some(&token("first")), now())
        .expect("saved");
    let first = s
        .find_token(&hash_token("first"))
        .expect("read")
        .expect("stored");
    assert!(!first.revoked);
    assert!(first.is_platform_admin);
    assert_eq!(first.client_id, cid("bob"));

    s.save_client(&changes, Some(&token("second")), now())
        .expect("saved");
    assert!(
        s.find_token(&hash_token("first"))
            .expect("read")
            .expect("kept")
            .revoked
    );
    assert!(
        !s.find_token(&hash_token("second"))
            .expect("read")
            .expect("stored")
            .revoked
    );
    assert_eq!(s.find_token(&hash_token("never")).expect("read"), None);
}

/// Changes that only name the client.
fn changes(id: &str) -> ClientChanges {
    ClientChanges {
        id: cid(id),
        nickname: None,
        avatar_url: None,
        is_platform_admin: None,
    }
}

/// A token is one clients and reassigning it revives it.
pub fn a_token_is_one_clients_and_reassigning_it_revives_it<S: ContractStore + ?Sized>(s: &S) {
    let saved = |id: &str, raw: &str| {
        s.save_client(&changes(id), Some(&token(raw)), now())
            .expect("ran")
    };
    assert!(saved("alice", "mine").is_some());
    assert!(
        saved("alice", "mine").is_some(),
        "the same assignment again"
    );
    assert!(saved("bob", "mine").is_none(), "another client's token");
    assert_eq!(
        s.get_client(&cid("bob")).expect("read"),
        None,
        "nothing written"
    );
    let record = s
        .find_token(&hash_token("mine"))
        .expect("read")
        .expect("kept");
    assert_eq!((record.client_id, record.revoked), (cid("alice"), false));

    assert!(saved("alice", "newer").is_some());
    assert!(
        s.find_token(&hash_token("mine"))
            .expect("read")
            .expect("kept")
            .revoked
    );
    assert!(
        saved("alice", "mine").is_some(),
        "a revoked token of hers comes back"
    );
    assert!(
        !s.find_token(&hash_token("mine"))
            .expect("read")
            .expect("kept")
            .revoked
    );
    assert!(
        s.find_token(&hash_token("newer"))
            .expect("read")
            .expect("kept")
            .revoked
    );
}

/// Find tokens answers for many hashes at once.
pub fn find_tokens_answers_for_many_hashes_at_once<S: ContractStore + ?Sized>(s: &S) {
    s.save_client(&changes("a"), Some(&token("a1")), now())
        .expect("saved");
    s.save_client(&changes("a"), Some(&token("a2")), now())
        .expect("saved");
    s.save_client(&changes("b"), Some(&token("b1")), now())
        .expect("saved");
    let mut wanted: Vec<_> = (0..1200)
        .map(|i| hash_token(&format!("none-{i}")))
        .collect();
    wanted.extend(["a1", "a2", "b1"].map(hash_token));
    let mut found = s.find_tokens(&wanted).expect("ran");
    found.sort_by(|x, y| x.0.0.cmp(&y.0.0));
    let mut expected = vec![
        (hash_token("a1"), cid("a"), true),
        (hash_token("a2"), cid("a"), false),
        (hash_token("b1"), cid("b"), false),
    ];
    expected.sort_by(|x, y| x.0.0.cmp(&y.0.0));
    assert_eq!(
        found
            .into_iter()
            .map(|(h, r)| (h, r.client_id, r.revoked))
            .collect::<Vec<_>>(),
        expected
    );
}

/// Revoke counts only live tokens and knows unknown clients.
pub fn revoke_counts_only_live_tokens_and_knows_unknown_clients<S: ContractStore + ?Sized>(s: &S) {
    let changes = ClientChanges {
        id: cid("carol"),
        nickname: None,
        avatar_url: None,
        is_platform_admin: None,
    };
    s.save_client(&changes, Some(&token("t1")), now())
        .expect("saved");
    assert_eq!(
        s.revoke_tokens(&cid("carol"), Some(&hash_token("other")))
            .expect("ran"),
        Some(0)
    );
    assert_eq!(
        s.revoke_tokens(&cid("carol"), Some(&hash_token("t1")))
            .expect("ran"),
        Some(1)
    );
    assert_eq!(s.revoke_tokens(&cid("carol"), None).expect("ran"), Some(0));
    assert_eq!(s.revoke_tokens(&cid("ghost"), None).expect("ran"), None);
}

/// Missing clients lists exactly the unknown ids.
pub fn missing_clients_lists_exactly_the_unknown_ids<S: ContractStore + ?Sized>(s: &S) {
    add_client(s, "a");
    add_client(s, "b");
    let missing = s
        .missing_clients(&[cid("a"), cid("x"), cid("b"), cid("y")])
        .expect("ran");
    assert_eq!(missing, vec![cid("x"), cid("y")]);
}

/// Ids are case sensitive.
pub fn ids_are_case_sensitive<S: ContractStore + ?Sized>(s: &S) {
    add_client(s, "Dave");
    assert_eq!(
        s.missing_clients(&[cid("dave")]).expect("ran"),
        vec![cid("dave")]
    );
}
