//! Every response is enveloped, including those the framework would produce itself.

use crate::support::*;
use serde_json::json;

#[test]
fn unknown_routes_and_wrong_methods_are_enveloped() {
    let app = TestApp::spawn();
    app.get("/no/such/route").send().err(404, "NOT_FOUND");
    app.req("PATCH", "/rooms/r")
        .api_key()
        .send()
        .err(405, "METHOD_NOT_ALLOWED");
    app.req("POST", "/health")
        .send()
        .err(405, "METHOD_NOT_ALLOWED");
    app.req("PUT", "/rooms/r/messages/x")
        .api_key()
        .send()
        .err(405, "METHOD_NOT_ALLOWED");
}

#[test]
fn bad_bodies_get_the_right_codes() {
    let app = TestApp::spawn();
    let malformed = app
        .post("/admin/clients")
        .api_key()
        .raw("application/json", "{\"_id\": ")
        .send();
    malformed.err(400, "INVALID_BODY");
    let missing = app
        .post("/admin/clients")
        .api_key()
        .json(json!({"nickname": "x"}))
        .send();
    missing.err(400, "INVALID_BODY");
    assert_eq!(
        missing.body["error"]["message"], "missing field `_id`",
        "the exact message docs/api.md gives"
    );
    let wrong_type = app
        .post("/rooms")
        .api_key()
        .json(json!({"members": "alice"}))
        .send();
    wrong_type.err(400, "INVALID_BODY");
    assert_eq!(
        wrong_type.body["error"]["message"],
        "members: invalid type: string \"alice\", expected a sequence"
    );
    app.post("/admin/clients")
        .api_key()
        .raw("text/plain", "{\"_id\": \"a\"}")
        .send()
        .err(415, "UNSUPPORTED_MEDIA_TYPE");
    let huge = format!(
        "{{\"_id\": \"a\", \"nickname\": \"{}\"}}",
        "x".repeat(1024 * 1024 + 1)
    );
    app.post("/admin/clients")
        .api_key()
        .raw("application/json", &huge)
        .send()
        .err(413, "PAYLOAD_TOO_LARGE");
    app.post("/admin/clients")
        .api_key()
        .json(json!({"_id": "has space"}))
        .send()
        .err(400, "INVALID_PARAMETER");
}

#[test]
fn a_message_over_64_kib_is_an_invalid_body() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let big = "x".repeat(64 * 1024);
    let res = app
        .post("/rooms/r/message")
        .user(&cast.member)
        .json(json!({"message": big}))
        .send();
    res.err(400, "INVALID_BODY");
    let fits = "x".repeat(64 * 1024 - 2);
    app.post("/rooms/r/message")
        .user(&cast.member)
        .json(json!({"message": fits}))
        .send()
        .ok();
}

#[test]
fn operations_endpoints_answer() {
    let app = TestApp::spawn();
    assert_eq!(app.get("/health").send().ok()["status"], "up");
    assert_eq!(app.get("/ready").send().ok()["status"], "ready");
    let doc = app.get("/openapi.json").send();
    assert_eq!(doc.status, 200);
    assert!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let paths = doc.body["paths"].as_object().expect("paths");
    for path in [
        "/rooms/{roomID}/messages/{messageID}",
        "/rooms/{roomID}/messages/v3",
        "/admin/clients",
        "/admin/clients/{clientID}/token",
        "/rooms",
        "/rooms/{roomID}",
        "/rooms/{roomID}/members",
        "/rooms/{roomID}/delete/members",
        "/rooms/{roomID}/message",
        "/messages",
        "/me",
        "/rooms/{roomID}/deletions",
        "/admin/deletions",
        "/admin/events",
        "/admin/events/{eventID}/redeliver",
        "/health",
        "/ready",
        "/socket",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
}

#[test]
fn bodies_must_be_exactly_one_json_object() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    for body in [
        r#"{"message":"x"} {"message":"y"}"#,
        r#"{"message":"x"}garbage"#,
        r#"["x"]"#,
        r#""x""#,
        "null",
    ] {
        app.post("/rooms/r/message")
            .user(&cast.member)
            .raw("application/json", body)
            .send()
            .err(400, "INVALID_BODY");
    }
    let list = app.get("/rooms/r/messages/v3").user(&cast.member).send();
    assert_eq!(list.ok()["totalCount"], 0, "nothing was sent");
    app.post("/rooms/r/message")
        .user(&cast.member)
        .raw("application/json", "  {\"message\":\"x\"}\n ")
        .send()
        .ok();
    app.post("/admin/clients")
        .api_key()
        .raw("application/json", r#"["alice"]"#)
        .send()
        .err(400, "INVALID_BODY");
}

#[test]
fn null_as_an_optional_body_means_no_body() {
    let app = TestApp::spawn();
    let token = app.user("alice");
    let revoked = app
        .delete("/admin/clients/alice/token")
        .api_key()
        .raw("application/json", "null")
        .send();
    assert_eq!(revoked.ok()["revokedTokens"], 1, "null revokes every token");
    app.get("/me").user(&token).send().err(401, "INVALID_TOKEN");
    app.delete("/admin/clients/alice/token")
        .api_key()
        .raw("application/json", "[]")
        .send()
        .err(400, "INVALID_BODY");
}
