//! Sending, recalling and listing messages.

use crate::support::*;
use serde_json::json;

#[test]
fn members_send_any_json_and_outsiders_cannot() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let sent = app
        .post("/rooms/r/message")
        .user(&cast.member)
        .json(json!({"message": {"text": "hi", "n": [1, 2]}}))
        .send();
    let sent = sent.ok();
    assert_eq!(sent["message"], json!({"text": "hi", "n": [1, 2]}));
    assert_eq!(sent["messageType"], "text");
    assert_eq!(sent["sender"], "member");
    assert_eq!(sent["room"], "r");
    assert_eq!(sent["_id"].as_str().map(str::len), Some(24));
    assert!(
        sent["messageTimeMS"].is_i64()
            && sent["messageTime"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
    );

    app.post("/rooms/r/message")
        .user(&cast.outsider)
        .json(json!({"message": "x"}))
        .send()
        .err(403, "NOT_ROOM_MEMBER");
    app.post("/rooms/nope/message")
        .user(&cast.member)
        .json(json!({"message": "x"}))
        .send()
        .err(404, "ROOM_NOT_FOUND");
    app.post("/rooms/r/message")
        .user(&cast.member)
        .json(json!({"messageType": "text"}))
        .send()
        .err(400, "INVALID_BODY");
    app.post("/rooms/r/message")
        .user(&cast.member)
        .json(json!({"_id": "_all", "message": "x"}))
        .send()
        .err(400, "INVALID_PARAMETER");
    app.post("/rooms/r/message")
        .user(&cast.member)
        .json(json!({"_id": "custom-1", "message": "x"}))
        .send()
        .ok();
    app.post("/rooms/r/message")
        .user(&cast.owner)
        .json(json!({"_id": "custom-1", "message": "y"}))
        .send()
        .err(409, "MESSAGE_ALREADY_EXISTS");
}

#[test]
fn recall_is_not_deletion() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let id = app.say(&cast.member, "r", "oops");
    app.post("/rooms/r/message")
        .user(&cast.owner)
        .json(json!({"_id": id, "messageType": "recall"}))
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    let recalled = app
        .post("/rooms/r/message")
        .user(&cast.member)
        .json(json!({"_id": id, "messageType": "recall"}))
        .send();
    assert_eq!(recalled.ok()["message"], "");
    assert_eq!(recalled.ok()["messageType"], "recall");
    let page = app.get("/rooms/r/messages/v3").user(&cast.member).send();
    assert_eq!(
        page.ok()["totalCount"],
        1,
        "a recalled message stays as a placeholder"
    );
    assert_eq!(
        app.get("/admin/deletions").api_key().send().ok()["data"],
        json!([]),
        "recall is not audited as a deletion"
    );
}

#[test]
fn listing_pages_newest_first() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let ids: Vec<String> = (0..5)
        .map(|i| app.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    let first = app
        .get("/rooms/r/messages/v3?limit=2")
        .user(&cast.member)
        .send();
    let first = first.ok();
    assert_eq!(first["totalCount"], 5);
    assert_eq!(first["data"][0]["_id"], ids[4].as_str());
    assert_eq!(first["data"][1]["_id"], ids[3].as_str());
    let next = app
        .get(&format!(
            "/rooms/r/messages/v3?limit=2&beforeMessage={}",
            ids[3]
        ))
        .user(&cast.member)
        .send();
    let got: Vec<&str> = next.ok()["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["_id"].as_str())
        .collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(
        app.get("/rooms/r/messages/v3").api_key().send().ok()["data"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    for bad in ["0", "101", "ten"] {
        app.get(&format!("/rooms/r/messages/v3?limit={bad}"))
            .user(&cast.member)
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    app.get("/rooms/r/messages/v3?beforeMessage=unknown")
        .user(&cast.member)
        .send()
        .err(404, "MESSAGE_NOT_FOUND");
}

#[test]
fn the_backend_sends_on_behalf_of_any_client() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let sent = app.post("/messages").api_key().json(json!({"room": "r", "sender": "outsider", "message": "from backend", "messageType": "text"})).send();
    assert_eq!(sent.ok()["sender"], "outsider");
    app.post("/messages")
        .api_key()
        .json(json!({"room": "r", "sender": "ghost", "message": "x", "messageType": "text"}))
        .send()
        .err(404, "CLIENT_NOT_FOUND");
    app.post("/messages")
        .api_key()
        .json(json!({"room": "nope", "sender": "owner", "message": "x", "messageType": "text"}))
        .send()
        .err(404, "ROOM_NOT_FOUND");
    app.post("/messages")
        .api_key()
        .json(json!({"room": "r", "sender": "owner", "message": "x"}))
        .send()
        .err(400, "INVALID_BODY");
    app.post("/rooms/r/message")
        .api_key()
        .json(json!({"message": "x"}))
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    assert_eq!(
        app.get("/rooms/r/messages/v3")
            .user(&cast.member)
            .send()
            .ok()["totalCount"],
        1
    );
}

#[test]
fn the_audit_log_is_for_moderators_and_pages() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    for i in 0..3 {
        let id = app.say(&cast.member, "r", &format!("m{i}"));
        app.delete(&format!("/rooms/r/messages/{id}"))
            .user(&cast.owner)
            .send()
            .ok();
    }
    app.get("/rooms/r/deletions")
        .user(&cast.member)
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    let all = app
        .get("/rooms/r/deletions?limit=2")
        .user(&cast.manager)
        .send();
    let records = all.ok()["data"].as_array().expect("list").clone();
    assert_eq!(records.len(), 2);
    let cursor = records[1]["_id"].as_str().expect("id");
    let older = app
        .get(&format!("/admin/deletions?roomID=r&before={cursor}"))
        .api_key()
        .send();
    assert_eq!(older.ok()["data"].as_array().map(Vec::len), Some(1));
    let unknown = app.get("/admin/deletions?before=nope").api_key().send();
    assert_eq!(
        unknown.ok()["data"],
        json!([]),
        "an unknown cursor is an empty page"
    );
    app.get("/admin/deletions?limit=500")
        .api_key()
        .send()
        .err(400, "INVALID_PARAMETER");
}
