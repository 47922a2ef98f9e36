//! Clients: upsert and the caller's record.

use crate::support::*;
use serde_json::json;

#[test]
fn upsert_updates_only_the_given_fields() {
    let app = TestApp::spawn();
    let created = app
        .post("/admin/clients")
        .api_key()
        .json(json!({"_id": "alice", "nickname": "Alice", "avatarUrl": "https://img/a.png"}))
        .send();
    let created = created.ok().clone();
    assert_eq!(created["nickname"], "Alice");
    assert_eq!(created["isPlatformAdmin"], false);
    assert!(created.get("token").is_none(), "no token unless asked");

    let updated = app
        .post("/admin/clients")
        .api_key()
        .json(json!({"_id": "alice", "nickname": "Al"}))
        .send();
    let updated = updated.ok();
    assert_eq!(updated["nickname"], "Al");
    assert_eq!(updated["avatarUrl"], "https://img/a.png");
    assert_eq!(updated["createdAt"], created["createdAt"]);
}

#[test]
fn me_is_for_users_only() {
    let app = TestApp::spawn();
    app.get("/me")
        .api_key()
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
}

#[test]
fn an_expiration_date_out_of_form_is_refused_even_without_a_token() {
    let app = TestApp::spawn();
    for bad in [json!("soon"), json!("1700000000000"), json!(true)] {
        app.post("/admin/clients")
            .api_key()
            .json(json!({"_id": "alice", "expirationDate": bad}))
            .send()
            .err(400, "INVALID_BODY");
    }
    app.post("/admin/clients")
        .api_key()
        .json(json!({"_id": "alice", "expirationDate": 4_102_444_800_000_i64}))
        .send()
        .ok();
}
