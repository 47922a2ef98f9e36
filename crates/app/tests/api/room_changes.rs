//! Room-change records (`GET /rooms/{roomID}/changes`, `GET /admin/changes`): what each
//! change of a room records, who may read them, the cursor, and the retention origin that
//! a retention deletion names.

use crate::support::*;
use roomwarden_adapters::testing::Rows;
use serde_json::{Value, json};
use std::time::Duration;

/// A room's change records (newest first, first page), read with `token` (the API key when
/// `None`).
fn changes(app: &TestApp, room: &str, token: Option<&str>) -> Vec<Value> {
    let req = app.get(&format!("/rooms/{room}/changes?limit=100"));
    let req = match token {
        Some(token) => req.user(token),
        None => req.api_key(),
    };
    req.send().ok()["data"].as_array().expect("data").clone()
}

#[test]
fn a_managers_retention_is_recorded_and_named_by_the_retention_deletion() {
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url.clone());
    config.retention_interval = Duration::from_millis(200);
    let app = TestApp::spawn_with(config, Some(database));
    let cast = app.cast("r");
    let old = app.say(&cast.member, "r", "old news");
    let fresh = app.say(&cast.member, "r", "fresh");
    let two_days_ago = chrono::Utc::now().timestamp_millis() - 2 * 86_400_000;
    Rows::open(&url).backdate(&old, two_days_ago);

    let set = app
        .put("/rooms/r")
        .user(&cast.manager)
        .header("X-Audit-Log-Reason", "keep%20it%20short")
        .json(json!({"retentionDays": 1}))
        .send();
    assert_eq!(set.ok()["retentionDays"], 1);
    // The retention job removes the expired message and records who set the retention.
    let record = poll(
        || {
            app.audit("r")
                .into_iter()
                .find(|r| r["deletedBy"] == "_retention")
        },
        Option::is_some,
    )
    .expect("the retention job ran");
    assert_eq!(record["deletedCount"], 1);
    assert_eq!(
        Rows::open(&url).stored("r", None),
        1,
        "only {fresh} is left"
    );
    let unset = app
        .put("/rooms/r")
        .user(&cast.manager)
        .json(json!({"retentionDays": null}))
        .send();
    assert_eq!(unset.ok()["retentionDays"], Value::Null);

    let records = changes(&app, "r", Some(&cast.manager));
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(records[0]["roomID"], "r");
    assert_eq!(records[0]["changedBy"], "manager");
    assert_eq!(
        records[0]["changes"],
        json!({"retentionDays": {"from": 1, "to": null}})
    );
    assert_eq!(records[0]["reason"], Value::Null);
    assert_eq!(records[1]["changedBy"], "manager");
    assert_eq!(
        records[1]["changes"],
        json!({"retentionDays": {"from": null, "to": 1}})
    );
    assert_eq!(records[1]["reason"], "keep it short");
    assert_eq!(records[2]["changedBy"], "_platform");
    assert_eq!(
        records[2]["changes"],
        json!({
            "name": {"from": null, "to": "r"},
            "owner": {"from": null, "to": "owner"},
            "members": {"from": null, "to": ["manager", "member", "owner"]},
            "managers": {"from": null, "to": ["manager"]},
        })
    );
    assert_eq!(
        record["retention"],
        json!({"days": 1, "setBy": "manager", "setAt": records[1]["changedAt"]})
    );
    // The event announcing the deletion carries the same.
    let events = app.get("/admin/events?roomID=r").api_key().send().ok()["data"]
        .as_array()
        .expect("events")
        .clone();
    let event = events
        .iter()
        .find(|e| e["id"] == record["_id"])
        .expect("the retention deletion's event");
    assert_eq!(event["event"]["data"]["retention"], record["retention"]);
    // The deletion log keeps only deletions.
    assert_eq!(app.audit("r").len(), 1);
}

#[test]
fn the_deployment_default_is_named_when_the_room_has_no_retention() {
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url.clone());
    config.retention_interval = Duration::from_millis(200);
    config.retention_days = Some(roomwarden_domain::model::RetentionDays::new(1).expect("valid"));
    let app = TestApp::spawn_with(config, Some(database));
    let cast = app.cast("r");
    let old = app.say(&cast.member, "r", "old news");
    Rows::open(&url).backdate(&old, chrono::Utc::now().timestamp_millis() - 2 * 86_400_000);
    let record = poll(
        || {
            app.audit("r")
                .into_iter()
                .find(|r| r["deletedBy"] == "_retention")
        },
        Option::is_some,
    )
    .expect("the retention job ran");
    assert_eq!(
        record["retention"],
        json!({"days": 1, "setBy": "_default", "setAt": null})
    );
}

#[test]
fn room_changes_are_read_like_the_deletion_log_and_record_only_real_changes() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.room("b", "owner", &[], &[]);
    let admin = app
        .post("/admin/clients")
        .api_key()
        .json(json!({"_id": "boss", "issueAccessToken": true, "isPlatformAdmin": true}))
        .send();
    let boss = admin.ok()["token"].as_str().expect("token").to_owned();

    for token in [&cast.member, &cast.outsider] {
        app.get("/rooms/r/changes")
            .user(token)
            .send()
            .err(403, "INSUFFICIENT_PERMISSION");
    }
    app.get("/rooms/nope/changes")
        .user(&cast.member)
        .send()
        .err(404, "ROOM_NOT_FOUND");
    for token in [&cast.owner, &cast.manager, &boss] {
        assert_eq!(changes(&app, "r", Some(token)).len(), 1, "the creation");
    }
    app.get("/admin/changes")
        .user(&boss)
        .send()
        .err(401, "INVALID_API_KEY");

    // Only real changes are recorded: an invitation, a removal, a rename.
    app.post("/rooms/r/members")
        .user(&cast.manager)
        .header("X-Audit-Log-Reason", "welcome")
        .json(json!({"invitees": ["outsider"]}))
        .send()
        .ok();
    app.post("/rooms/r/members")
        .user(&cast.manager)
        .json(json!({"invitees": ["outsider", "member"]}))
        .send()
        .ok();
    app.put("/rooms/r")
        .user(&cast.owner)
        .json(json!({"name": "r", "managers": ["manager"]}))
        .send()
        .ok();
    app.post("/rooms/r/delete/members")
        .user(&cast.outsider)
        .json(json!({"members": ["outsider"]}))
        .send()
        .ok();
    app.put("/rooms/r")
        .user(&cast.owner)
        .header("X-Audit-Log-Reason", "%FF")
        .json(json!({"name": "refused"}))
        .send()
        .err(400, "INVALID_PARAMETER");
    let records = changes(&app, "r", None);
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(records[0]["changedBy"], "outsider");
    assert_eq!(
        records[0]["changes"],
        json!({"members": {
            "from": ["manager", "member", "outsider", "owner"],
            "to": ["manager", "member", "owner"],
        }})
    );
    assert_eq!(records[1]["changedBy"], "manager");
    assert_eq!(records[1]["reason"], "welcome");
    assert_eq!(
        records[1]["changes"]["members"]["to"],
        json!(["manager", "member", "outsider", "owner"])
    );

    // Listing: limit, cursor, and the API key's view of every room.
    for bad in ["0", "101", "x"] {
        app.get(&format!("/rooms/r/changes?limit={bad}"))
            .api_key()
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    let page = app.get("/rooms/r/changes?limit=1").api_key().send();
    assert_eq!(page.ok()["data"].as_array().map(Vec::len), Some(1));
    let next = app
        .get(&format!(
            "/rooms/r/changes?before={}",
            records[0]["_id"].as_str().expect("id")
        ))
        .user(&cast.owner)
        .send();
    assert_eq!(next.ok()["data"], json!(records[1..]));
    let b_record = changes(&app, "b", None)[0]["_id"]
        .as_str()
        .expect("id")
        .to_owned();
    for before in [b_record.as_str(), "no-such-record"] {
        let res = app
            .get(&format!("/rooms/r/changes?before={before}"))
            .user(&cast.owner)
            .send();
        assert_eq!(
            res.ok()["data"],
            json!([]),
            "another room's record or an unknown one is an empty page"
        );
    }
    let other = app
        .get(&format!("/admin/changes?roomID=r&before={b_record}"))
        .api_key()
        .send();
    assert_eq!(other.ok()["data"], json!([]));
    let all = app.get("/admin/changes").api_key().send();
    let all = all.ok()["data"].as_array().expect("data").clone();
    assert_eq!(all.len(), 4, "r's three and b's creation");
    assert_eq!(all[0], records[0]);
    let older = app
        .get(&format!("/admin/changes?before={b_record}"))
        .api_key()
        .send();
    assert_eq!(older.ok()["data"], json!([all[3]]), "r's creation only");
    let of_r = app
        .get("/admin/changes?roomID=r&limit=100")
        .api_key()
        .send();
    assert_eq!(of_r.ok()["data"], json!(records));
    assert!(app.audit("r").is_empty(), "no deletion was recorded");
}
