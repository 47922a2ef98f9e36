//! Rooms and membership.

use crate::support::*;
use serde_json::json;

#[test]
fn create_adds_owner_and_managers_to_members() {
    let app = TestApp::spawn();
    for id in ["o", "m", "x"] {
        app.user(id);
    }
    let room = app.room("r", "o", &["m"], &["x"]);
    assert_eq!(room["owner"], "o");
    assert_eq!(room["managers"], json!(["m"]));
    assert_eq!(room["members"], json!(["m", "o", "x"]));
    assert_eq!(room["roomType"], "group");
    assert!(room["lastMessage"].is_null());

    app.post("/rooms")
        .api_key()
        .json(json!({"_id": "r", "owner": "o"}))
        .send()
        .err(409, "ROOM_ALREADY_EXISTS");
    app.post("/rooms")
        .api_key()
        .json(json!({"_id": "r2", "owner": "ghost"}))
        .send()
        .err(404, "CLIENT_NOT_FOUND");
    app.post("/rooms")
        .api_key()
        .json(json!({"_id": "r3", "roomType": "circle"}))
        .send()
        .err(400, "INVALID_BODY");
    let generated = app
        .post("/rooms/")
        .api_key()
        .json(json!({"owner": "o", "roomType": "direct"}))
        .send();
    assert_eq!(generated.ok()["_id"].as_str().map(str::len), Some(24));
    assert_eq!(generated.ok()["roomType"], "direct");
}

#[test]
fn only_members_and_admins_read_a_room() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.get("/rooms/r").user(&cast.member).send().ok();
    app.get("/rooms/r").api_key().send().ok();
    app.get("/rooms/r")
        .user(&cast.outsider)
        .send()
        .err(403, "NOT_ROOM_MEMBER");
    app.get("/rooms/nope")
        .user(&cast.member)
        .send()
        .err(404, "ROOM_NOT_FOUND");
    app.get("/rooms/r/messages/v3")
        .user(&cast.outsider)
        .send()
        .err(403, "NOT_ROOM_MEMBER");
}

#[test]
fn update_follows_the_role_rules() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let renamed = app
        .put("/rooms/r")
        .user(&cast.manager)
        .json(json!({"name": "Renamed", "webhook": "https://hooks.test/r"}))
        .send();
    assert_eq!(renamed.ok()["name"], "Renamed");
    assert_eq!(renamed.ok()["webhook"], "https://hooks.test/r");
    app.put("/rooms/r")
        .user(&cast.member)
        .json(json!({"name": "x"}))
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    app.put("/rooms/r")
        .user(&cast.manager)
        .json(json!({"owner": "member"}))
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    let handed = app
        .put("/rooms/r")
        .user(&cast.owner)
        .json(json!({"owner": "member", "managers": ["owner"]}))
        .send();
    assert_eq!(handed.ok()["owner"], "member");
    assert_eq!(handed.ok()["managers"], json!(["owner"]));
    let cleared = app
        .put("/rooms/r")
        .api_key()
        .json(json!({"webhook": null}))
        .send();
    assert!(cleared.ok()["webhook"].is_null());
    assert_eq!(cleared.ok()["name"], "Renamed");
    app.put("/rooms/r")
        .api_key()
        .json(json!({"webhook": "not a url"}))
        .send()
        .err(400, "INVALID_BODY");
}

#[test]
fn membership_changes_follow_the_role_rules() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.user("newbie");
    let added = app
        .post("/rooms/r/members")
        .user(&cast.manager)
        .json(json!({"invitees": ["newbie", "outsider"]}))
        .send();
    assert_eq!(
        added.ok()["members"],
        json!(["manager", "member", "newbie", "outsider", "owner"])
    );
    app.post("/rooms/r/members")
        .user(&cast.member)
        .json(json!({"invitees": ["newbie"]}))
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    app.post("/rooms/r/members")
        .api_key()
        .json(json!({"invitees": ["ghost"]}))
        .send()
        .err(404, "CLIENT_NOT_FOUND");

    // A member may leave, but not remove others; nobody removes the owner.
    app.post("/rooms/r/delete/members")
        .user(&cast.member)
        .json(json!({"members": ["newbie"]}))
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    let left = app
        .post("/rooms/r/delete/members")
        .user(&cast.member)
        .json(json!({"members": ["member"]}))
        .send();
    assert!(
        !left.ok()["members"]
            .as_array()
            .expect("list")
            .contains(&json!("member"))
    );
    app.post("/rooms/r/delete/members")
        .api_key()
        .json(json!({"members": ["owner"]}))
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");

    // A removed member loses access.
    app.get("/rooms/r")
        .user(&cast.member)
        .send()
        .err(403, "NOT_ROOM_MEMBER");
}

#[test]
fn webhooks_inside_the_network_are_refused_without_the_operators_opt_in() {
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url);
    config.webhook_allow_private = false;
    let app = TestApp::spawn_with(config, Some(database));
    let owner = app.user("owner");
    app.room("r", "owner", &[], &[]);
    for hook in [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://10.0.0.1/hook",
        "http://[::ffff:192.168.1.1]/hook",
        "https://0.0.0.0/hook",
        "http://[2002:7f00:1::]/",
        "http://[2001:0:7f00:1::]/hook",
    ] {
        let created = app
            .post("/rooms")
            .api_key()
            .json(json!({"_id": "new", "owner": "owner", "webhook": hook}))
            .send();
        created.err(400, "INVALID_BODY");
        assert!(
            created.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("webhook: ")),
            "{hook}: {:#}",
            created.body
        );
        app.put("/rooms/r")
            .user(&owner)
            .json(json!({"webhook": hook}))
            .send()
            .err(400, "INVALID_BODY");
    }
    app.get("/rooms/new")
        .api_key()
        .send()
        .err(404, "ROOM_NOT_FOUND");
    assert_eq!(
        app.get("/rooms/r").api_key().send().ok()["webhook"],
        json!(null)
    );
}

#[test]
fn rooms_are_listed_for_members_and_all_for_admins_newest_first() {
    let app = TestApp::spawn();
    let member = app.user("member");
    let admin = app.user("boss");
    app.post("/admin/clients")
        .api_key()
        .json(json!({"_id": "boss", "isPlatformAdmin": true}))
        .send()
        .ok();
    app.user("owner");
    for room in ["r1", "r2", "r3"] {
        let members: &[&str] = if room == "r2" { &[] } else { &["member"] };
        app.room(room, "owner", &[], members);
    }
    let ids = |res: &Resp| -> Vec<String> {
        res.ok()["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|r| r["_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let mine = app.get("/rooms").user(&member).send();
    assert_eq!(ids(&mine), ["r3", "r1"]);
    assert_eq!(mine.ok()["data"][0]["members"], json!(["member", "owner"]));
    assert_eq!(
        ids(&app.get("/rooms?limit=2").api_key().send()),
        ["r3", "r2"]
    );
    assert_eq!(
        ids(&app.get("/rooms?before=r2").user(&admin).send()),
        ["r1"]
    );
    assert_eq!(
        ids(&app.get("/rooms?before=r3").user(&member).send()),
        ["r1"]
    );
    // A room the member is not in is no cursor for them: an empty page, as an unknown one;
    // bad limits are 400.
    for unknown in ["r2", "no-such-room"] {
        assert!(
            ids(&app
                .get(&format!("/rooms?before={unknown}"))
                .user(&member)
                .send())
            .is_empty()
        );
    }
    for bad in ["limit=0", "limit=101", "before=a%20b"] {
        app.get(&format!("/rooms?{bad}"))
            .api_key()
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    app.get("/rooms")
        .header("IM-CLIENT-KEY", CLIENT_KEY)
        .header("IM-Authorization", "wrong")
        .send()
        .err(401, "INVALID_TOKEN");
}

#[test]
fn retention_days_is_a_whole_number_however_json_writes_it() {
    let app = TestApp::spawn();
    app.user("owner");
    let created = app
        .post("/rooms")
        .api_key()
        .json(json!({"_id": "r", "owner": "owner", "retentionDays": 30.0}))
        .send();
    assert_eq!(created.ok()["retentionDays"], 30);
    for bad in [json!(30.5), json!("30"), json!(1e300)] {
        app.put("/rooms/r")
            .api_key()
            .json(json!({"retentionDays": bad}))
            .send()
            .err(400, "INVALID_BODY");
    }
}
