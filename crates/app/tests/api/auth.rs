//! Section 2: keys, tokens and roles.

use crate::support::*;
use serde_json::json;

#[test]
fn credentials_are_checked_in_the_contract_order() {
    let app = TestApp::spawn();
    let token = app.user("alice");
    app.get("/me").send().err(401, "INVALID_CLIENT_KEY");
    app.get("/me")
        .header("IM-CLIENT-KEY", "wrong")
        .header("IM-Authorization", &token)
        .send()
        .err(401, "INVALID_CLIENT_KEY");
    app.get("/me")
        .header("IM-CLIENT-KEY", CLIENT_KEY)
        .send()
        .err(401, "INVALID_TOKEN");
    app.get("/me")
        .user("unknown-token")
        .send()
        .err(401, "INVALID_TOKEN");
    // A present API key decides alone, even next to valid user credentials.
    app.get("/me")
        .user(&token)
        .header("IM-API-KEY", "wrong")
        .send()
        .err(401, "INVALID_API_KEY");
    assert_eq!(app.get("/me").user(&token).send().ok()["_id"], "alice");
}

#[test]
fn a_token_is_looked_up_before_the_path_query_or_body() {
    let app = TestApp::spawn();
    let token = app.user("alice");
    app.room("r", "alice", &[], &[]);
    app.delete("/admin/clients/alice/token")
        .api_key()
        .send()
        .ok();
    // A well-formed but revoked token: authentication (a storage lookup, run in the same
    // hop as the use case) still comes before any syntax check, as the contract orders.
    app.put("/rooms/bad%20room")
        .user(&token)
        .raw("application/json", "{not json")
        .send()
        .err(401, "INVALID_TOKEN");
    app.post("/rooms/r/message")
        .user(&token)
        .raw("application/json", "[]")
        .send()
        .err(401, "INVALID_TOKEN");
    app.get("/rooms/r/messages/v3?limit=zero")
        .user(&token)
        .send()
        .err(401, "INVALID_TOKEN");
    app.delete("/rooms/r/messages/x")
        .user(&token)
        .header("X-Audit-Log-Reason", "%FF")
        .send()
        .err(401, "INVALID_TOKEN");
}

#[test]
fn admin_endpoints_need_the_api_key_even_for_flagged_admins() {
    let app = TestApp::spawn();
    let res = app
        .post("/admin/clients")
        .api_key()
        .json(json!({"_id": "boss", "issueAccessToken": true, "isPlatformAdmin": true}))
        .send();
    let token = res.ok()["token"].as_str().expect("token").to_owned();
    for (method, path) in [
        ("POST", "/admin/clients"),
        ("POST", "/rooms"),
        ("POST", "/messages"),
        ("GET", "/admin/deletions"),
        ("GET", "/admin/changes"),
        ("GET", "/admin/events"),
        ("POST", "/admin/events/e1/redeliver"),
    ] {
        app.req(method, path)
            .user(&token)
            .json(json!({}))
            .send()
            .err(401, "INVALID_API_KEY");
    }
    app.delete("/admin/clients/boss/token")
        .user(&token)
        .send()
        .err(401, "INVALID_API_KEY");
}

#[test]
fn a_new_token_invalidates_the_previous_one_and_revocation_works() {
    let app = TestApp::spawn();
    let first = app.user("alice");
    let second = app.user("alice");
    app.get("/me").user(&first).send().err(401, "INVALID_TOKEN");
    app.get("/me").user(&second).send().ok();

    let assigned = app
        .post("/admin/clients")
        .api_key()
        .json(json!({"_id": "alice", "token": "my-own-token", "expirationDate": "2099-01-01T00:00:00.000Z"}))
        .send();
    assert_eq!(assigned.ok()["expirationDate"], "2099-01-01T00:00:00.000Z");
    app.get("/me")
        .user(&second)
        .send()
        .err(401, "INVALID_TOKEN");
    app.get("/me").user("my-own-token").send().ok();

    let revoked = app
        .delete("/admin/clients/alice/token")
        .api_key()
        .json(json!({"token": "my-own-token"}))
        .send();
    assert_eq!(revoked.ok()["revokedTokens"], 1);
    app.get("/me")
        .user("my-own-token")
        .send()
        .err(401, "INVALID_TOKEN");
    let third = app.user("alice");
    assert_eq!(
        app.delete("/admin/clients/alice/token")
            .api_key()
            .send()
            .ok()["revokedTokens"],
        1
    );
    app.get("/me").user(&third).send().err(401, "INVALID_TOKEN");
    app.delete("/admin/clients/ghost/token")
        .api_key()
        .send()
        .err(404, "CLIENT_NOT_FOUND");
}

#[test]
fn a_past_expiration_date_is_refused() {
    let app = TestApp::spawn();
    let res = app
        .post("/admin/clients")
        .api_key()
        .json(json!({"_id": "alice", "token": "t", "expirationDate": "2001-01-01T00:00:00Z"}))
        .send();
    res.err(400, "INVALID_BODY");
}

#[test]
fn assigning_a_token_again_is_idempotent_and_another_clients_token_is_a_conflict() {
    let app = TestApp::spawn();
    app.user("bob");
    let assign = |client: &str, token: &str| {
        app.post("/admin/clients")
            .api_key()
            .json(json!({"_id": client, "token": token, "expirationDate": "2099-01-01T00:00:00.000Z"}))
            .send()
    };
    assign("alice", "shared-secret-token").ok();
    let retried = assign("alice", "shared-secret-token");
    assert_eq!(retried.ok()["token"], "shared-secret-token");
    app.get("/me").user("shared-secret-token").send().ok();

    let stolen = assign("bob", "shared-secret-token");
    stolen.err(409, "TOKEN_ALREADY_IN_USE");
    let me = app.get("/me").user("shared-secret-token").send();
    assert_eq!(me.ok()["_id"], "alice", "the token still belongs to alice");

    // A token the client used before (revoked by a newer one) can be assigned again.
    app.user("alice");
    assign("alice", "shared-secret-token").ok();
    app.get("/me").user("shared-secret-token").send().ok();
}
