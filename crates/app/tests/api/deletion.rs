//! The seed feature, row by row of its contract (docs/api.md §7.1–7.3).

use crate::support::*;
use serde_json::{Value, json};
use std::sync::{Arc, Barrier};

fn envelope_error(res: &Resp) -> Value {
    json!({"RC": res.body["RC"], "RM": res.body["RM"], "error": res.body["error"]})
}

#[test]
fn owner_deletes_one_message_with_the_exact_result() {
    let app = TestApp::spawn();
    let cast = app.cast("test-room-123");
    let keep = app.say(&cast.member, "test-room-123", "keep me");
    let target = app.say(&cast.member, "test-room-123", "remove me");

    let res = app
        .delete(&format!("/rooms/test-room-123/messages/{target}"))
        .user(&cast.owner)
        .send();
    assert_eq!(res.status, 200);
    assert_eq!(res.content_type, "application/json; charset=utf-8");
    assert_eq!(res.body["RM"], "Message deleted successfully");
    let result = res.ok();
    assert_eq!(result["deletedCount"], 1);
    assert_eq!(result["roomID"], "test-room-123");
    assert_eq!(result["messageID"], target.as_str());
    assert_eq!(result["deletedBy"], "owner");
    let at = result["deletedAt"].as_str().expect("time");
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with('Z') && at.len() == 24,
        "{at}"
    );

    // Immediate effect on every read path.
    let page = app
        .get("/rooms/test-room-123/messages/v3")
        .user(&cast.member)
        .send();
    let page = page.ok();
    assert_eq!(page["totalCount"], 1);
    assert_eq!(page["data"][0]["_id"], keep.as_str());
    let room = app.get("/rooms/test-room-123").user(&cast.member).send();
    assert_eq!(room.ok()["lastMessage"]["_id"], keep.as_str());

    // Deleting it again: not found.
    let again = app
        .delete(&format!("/rooms/test-room-123/messages/{target}"))
        .user(&cast.owner)
        .send();
    again.err(404, "MESSAGE_NOT_FOUND");
}

#[test]
fn clear_all_reports_the_exact_count_and_empties_the_room() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    for i in 0..5 {
        app.say(&cast.member, "r", &format!("m{i}"));
    }
    let res = app
        .delete("/rooms/r/messages/_all")
        .user(&cast.manager)
        .send();
    assert_eq!(res.body["RM"], "All messages deleted successfully");
    let result = res.ok();
    assert_eq!(
        (
            result["deletedCount"].as_u64(),
            result["messageID"].as_str()
        ),
        (Some(5), Some("_all"))
    );
    assert_eq!(result["deletedBy"], "manager");

    let page = app.get("/rooms/r/messages/v3").user(&cast.member).send();
    assert_eq!(page.ok()["totalCount"], 0);
    assert_eq!(
        app.get("/rooms/r").user(&cast.member).send().ok()["lastMessage"],
        Value::Null
    );

    // Empty room: still 200 with 0; later messages are not affected by the earlier clear.
    let empty = app.delete("/rooms/r/messages/_all").api_key().send();
    assert_eq!(empty.ok()["deletedCount"], 0);
    assert_eq!(empty.ok()["deletedBy"], "_platform");
    let later = app.say(&cast.member, "r", "after the clear");
    let page = app.get("/rooms/r/messages/v3").user(&cast.member).send();
    assert_eq!(page.ok()["totalCount"], 1);
    assert_eq!(page.ok()["data"][0]["_id"], later.as_str());
}

#[test]
fn error_bodies_match_the_seed_spec_exactly() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let msg = app.say(&cast.member, "r", "hello");

    let res = app
        .delete(&format!("/rooms/r/messages/{msg}"))
        .user("not-a-token")
        .send();
    assert_eq!(res.status, 401);
    assert_eq!(
        envelope_error(&res),
        json!({"RC": 401, "RM": "Unauthorized", "error": {"code": "INVALID_TOKEN", "message": "Invalid or expired token"}})
    );

    let res = app
        .delete(&format!("/rooms/r/messages/{msg}"))
        .user(&cast.member)
        .send();
    assert_eq!(res.status, 403);
    assert_eq!(
        envelope_error(&res),
        json!({"RC": 403, "RM": "Permission denied", "error": {"code": "INSUFFICIENT_PERMISSION",
            "message": "Only platform admin, room owner or room manager can delete messages"}})
    );

    let res = app
        .delete("/rooms/r/messages/5f890cf37d980e06f6aaf349")
        .user(&cast.owner)
        .send();
    assert_eq!(res.status, 404);
    assert_eq!(
        envelope_error(&res),
        json!({"RC": 404, "RM": "Message not found", "error": {"code": "MESSAGE_NOT_FOUND",
            "message": "The specified message does not exist in this room"}})
    );

    let res = app
        .delete(&format!("/rooms/nowhere/messages/{msg}"))
        .user(&cast.owner)
        .send();
    assert_eq!(res.status, 404);
    assert_eq!(
        envelope_error(&res),
        json!({"RC": 404, "RM": "Room not found", "error": {"code": "ROOM_NOT_FOUND", "message": "The specified room does not exist"}})
    );
}

#[test]
fn checks_run_in_the_contract_order() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.user("other-owner");
    app.room("other", "other-owner", &[], &[]);
    let theirs = app.say(&cast.owner, "r", "in r");
    // 401 before 400: a bad path without credentials is still unauthenticated.
    app.delete("/rooms/bad%20room/messages/x")
        .send()
        .err(401, "INVALID_CLIENT_KEY");
    // 400 before 404: a malformed ID is reported even for a missing room.
    app.delete("/rooms/bad%20room/messages/x")
        .user(&cast.owner)
        .send()
        .err(400, "INVALID_PARAMETER");
    let long = "m".repeat(129);
    app.delete(&format!("/rooms/r/messages/{long}"))
        .user(&cast.owner)
        .send()
        .err(400, "INVALID_PARAMETER");
    // 404 room before 403.
    app.delete("/rooms/nowhere/messages/x")
        .user(&cast.outsider)
        .send()
        .err(404, "ROOM_NOT_FOUND");
    // 403 before 404 message: an outsider learns nothing about which messages exist.
    app.delete("/rooms/r/messages/does-not-exist")
        .user(&cast.member)
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    app.delete("/rooms/r/messages/_all")
        .user(&cast.outsider)
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    // A message of another room is not found here, and survives.
    app.delete(&format!("/rooms/other/messages/{theirs}"))
        .api_key()
        .send()
        .err(404, "MESSAGE_NOT_FOUND");
    assert_eq!(
        app.get("/rooms/r/messages/v3")
            .user(&cast.owner)
            .send()
            .ok()["totalCount"],
        1
    );
}

#[test]
fn the_audit_reason_is_decoded_checked_and_recorded() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let msg = app.say(&cast.member, "r", "spam");
    let long = "x".repeat(513);
    for bad in [long.as_str(), "%FF%FE"] {
        app.delete(&format!("/rooms/r/messages/{msg}"))
            .user(&cast.owner)
            .header("X-Audit-Log-Reason", bad)
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    app.delete(&format!("/rooms/r/messages/{msg}"))
        .user(&cast.owner)
        .header("X-Audit-Log-Reason", "spam%20%E2%9C%93")
        .send()
        .ok();
    let audit = app.get("/rooms/r/deletions").user(&cast.manager).send();
    let record = &audit.ok()["data"][0];
    assert_eq!(record["reason"], "spam ✓");
    assert_eq!(record["messageID"], msg.as_str());
    assert_eq!(record["deletedBy"], "owner");
    assert_eq!(record["deletedCount"], 1);
    assert_eq!(record["roomID"], "r");
    assert!(record["_id"].is_string());
}

#[test]
fn platform_admins_by_key_or_flag_may_delete_anywhere() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let a = app.say(&cast.member, "r", "a");
    let b = app.say(&cast.member, "r", "b");
    app.delete(&format!("/rooms/r/messages/{a}"))
        .api_key()
        .send()
        .ok();
    // A flagged user who is not even a member.
    let admin = app
        .post("/admin/clients")
        .api_key()
        .json(json!({"_id": "moderator", "issueAccessToken": true, "isPlatformAdmin": true}))
        .send();
    let token = admin.ok()["token"].as_str().expect("token").to_owned();
    let res = app
        .delete(&format!("/rooms/r/messages/{b}"))
        .user(&token)
        .send();
    assert_eq!(res.ok()["deletedBy"], "moderator");
}

#[test]
fn a_message_named_v3_can_be_deleted() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.post("/rooms/r/message")
        .user(&cast.member)
        .json(json!({"_id": "v3", "message": "x"}))
        .send()
        .ok();
    app.delete("/rooms/r/messages/v3")
        .user(&cast.owner)
        .send()
        .ok();
    // Only `v3` lists messages: another message answers only DELETE.
    let other = app.get("/rooms/r/messages/v4").user(&cast.owner).send();
    other.err(405, "METHOD_NOT_ALLOWED");
    assert_eq!(other.header("Allow"), Some("DELETE"));
}

#[test]
fn concurrent_deletes_of_one_message_give_exactly_one_success() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let msg = app.say(&cast.member, "r", "contested");
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let (base, owner, path) = (
                    app.base.clone(),
                    cast.owner.clone(),
                    format!("/rooms/r/messages/{msg}"),
                );
                s.spawn(move || {
                    let headers = vec![
                        ("IM-CLIENT-KEY".to_owned(), CLIENT_KEY.to_owned()),
                        ("IM-Authorization".to_owned(), owner),
                    ];
                    barrier.wait();
                    send_with(&agent(), &base, "DELETE", &path, &headers, None).status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        threads - 1,
        "{statuses:?}"
    );
    assert_eq!(
        app.get("/admin/deletions").api_key().send().ok()["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn clear_racing_with_new_messages_accounts_for_every_message() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let senders = 3;
    let per_sender = 25;
    let barrier = Arc::new(Barrier::new(senders + 1));
    let deleted: u64 = std::thread::scope(|s| {
        for _ in 0..senders {
            let barrier = Arc::clone(&barrier);
            let (base, member) = (app.base.clone(), cast.member.clone());
            s.spawn(move || {
                let agent = agent();
                let headers = vec![
                    ("IM-CLIENT-KEY".to_owned(), CLIENT_KEY.to_owned()),
                    ("IM-Authorization".to_owned(), member),
                    ("Content-Type".to_owned(), "application/json".to_owned()),
                ];
                barrier.wait();
                for i in 0..per_sender {
                    let body = json!({"message": i}).to_string();
                    let res = send_with(
                        &agent,
                        &base,
                        "POST",
                        "/rooms/r/message",
                        &headers,
                        Some(&body),
                    );
                    assert_eq!(res.status, 200, "{:#}", res.body);
                }
            });
        }
        barrier.wait();
        (0..4)
            .map(|_| {
                let res = app
                    .delete("/rooms/r/messages/_all")
                    .user(&cast.owner)
                    .send();
                res.ok()["deletedCount"].as_u64().expect("count")
            })
            .sum()
    });
    let remaining = app
        .get("/rooms/r/messages/v3")
        .user(&cast.owner)
        .send()
        .ok()["totalCount"]
        .as_u64()
        .expect("count");
    assert_eq!(
        deleted + remaining,
        u64::try_from(senders * per_sender).expect("small")
    );
}

#[test]
fn percent_encoding_that_does_not_decode_is_an_invalid_parameter() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let msg = app.say(&cast.member, "r", "spam");
    for bad in ["abc%ZZ%2", "%", "50%", "%E2%9C"] {
        app.delete(&format!("/rooms/r/messages/{msg}"))
            .user(&cast.owner)
            .header("X-Audit-Log-Reason", bad)
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    for path in [
        "/rooms/r/messages/a%FFb",
        "/rooms/r/messages/a%ZZ",
        "/rooms/r%ZZ/messages/x",
        "/rooms/r/messages/v3?limit=1%Z",
    ] {
        let method = if path.contains('?') { "GET" } else { "DELETE" };
        app.req(method, path)
            .user(&cast.owner)
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    let audit = app.get("/rooms/r/deletions").user(&cast.owner).send();
    assert_eq!(audit.ok()["data"], json!([]), "nothing was deleted");
}

#[test]
fn a_message_whose_id_has_a_percent_sign_is_deleted_by_its_encoded_path() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    for id in ["50%off", "a%2Fb", "a+b"] {
        app.post("/rooms/r/message")
            .user(&cast.member)
            .json(json!({"_id": id, "message": "x"}))
            .send()
            .ok();
    }
    for (id, encoded) in [("50%off", "50%25off"), ("a%2Fb", "a%252Fb"), ("a+b", "a+b")] {
        let res = app
            .delete(&format!("/rooms/r/messages/{encoded}"))
            .user(&cast.owner)
            .send();
        assert_eq!(res.ok()["messageID"], id);
    }
}

#[test]
fn another_rooms_audit_record_is_no_cursor() {
    let app = TestApp::spawn();
    let cast = app.cast("a");
    app.room("b", "owner", &[], &[]);
    app.delete("/rooms/b/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    let b_record = app.get("/rooms/b/deletions").user(&cast.owner).send().ok()["data"][0]["_id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Another room's record, like an unknown one, is an empty page.
    for before in [b_record.as_str(), "no-such-record"] {
        let page = app
            .get(&format!("/rooms/a/deletions?before={before}"))
            .user(&cast.owner)
            .send();
        assert_eq!(page.ok()["data"], json!([]));
    }
    let admin = app
        .get(&format!("/admin/deletions?roomID=a&before={b_record}"))
        .api_key()
        .send();
    assert_eq!(admin.ok()["data"], json!([]));
    let all = app
        .get(&format!("/admin/deletions?before={b_record}"))
        .api_key()
        .send();
    assert_eq!(
        all.ok()["data"],
        json!([]),
        "unfiltered, any record is a cursor"
    );
}

/// A deletion answers only once its content is gone from the SQLite files (docs/api.md
/// §7.1), also when more deletions run at once than the pool has connections: each waits
/// for its WAL checkpoint after giving its connection back.
#[test]
fn concurrent_deletions_answer_with_their_content_gone_from_the_sqlite_files() {
    let app = TestApp::spawn();
    let Some(file) = app.sqlite_file().map(std::path::Path::to_path_buf) else {
        return; // a property of the embedded backend's files only
    };
    let cast = app.cast("r");
    let (deleters, rounds) = (16, 3);
    let secret = |i: usize, round: usize| format!("HTTP-SECRET-{i}-{round}-5be1");
    let ids: Vec<Vec<String>> = (0..deleters)
        .map(|i| {
            (0..rounds)
                .map(|round| app.say(&cast.member, "r", &secret(i, round)))
                .collect()
        })
        .collect();
    assert!(
        sqlite_text(&file).contains(&secret(0, 0)),
        "the probe must see content that is there"
    );
    let barrier = Arc::new(Barrier::new(deleters));
    std::thread::scope(|s| {
        for (i, mine) in ids.iter().enumerate() {
            let (barrier, base, owner, file) = (
                Arc::clone(&barrier),
                app.base.clone(),
                cast.owner.clone(),
                file.clone(),
            );
            s.spawn(move || {
                let headers = vec![
                    ("IM-CLIENT-KEY".to_owned(), CLIENT_KEY.to_owned()),
                    ("IM-Authorization".to_owned(), owner),
                ];
                barrier.wait();
                for (round, id) in mine.iter().enumerate() {
                    let path = format!("/rooms/r/messages/{id}");
                    // Half of them keyed: their deletion commits with its stored answer.
                    let mut headers = headers.clone();
                    if i % 2 == 1 {
                        headers.push(("Idempotency-Key".to_owned(), format!("d-{i}-{round}")));
                    }
                    let res = send_with(&agent(), &base, "DELETE", &path, &headers, None);
                    assert_eq!(res.status, 200, "{:?}", res.body);
                    let left = sqlite_text(&file);
                    assert!(
                        !left.contains(&secret(i, round)),
                        "deletion {i}-{round} answered before its content left the files"
                    );
                }
            });
        }
    });
}
