//! The moderation tools, row by row of docs/api.md §7.3–7.7: filtered clears and
//! their dry run, bulk deletion, purging a user, retention.

use crate::support::*;
use roomwarden_adapters::testing::Rows;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The visible message IDs of `room` (newest first) and its `totalCount`, as `token` sees them.
fn visible(app: &TestApp, token: &str, room: &str) -> (Vec<String>, u64) {
    let res = app
        .get(&format!("/rooms/{room}/messages/v3?limit=100"))
        .user(token)
        .send();
    let page = res.ok();
    let ids = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["_id"].as_str().expect("id").to_owned())
        .collect();
    (ids, page["totalCount"].as_u64().expect("count"))
}

#[test]
fn a_sender_filtered_clear_previews_then_removes_exactly_that_senders_messages() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let spammer = app.user("spammer");
    app.put("/rooms/r")
        .api_key()
        .json(json!({"managers": ["manager"]}))
        .send()
        .ok();
    app.post("/rooms/r/members")
        .api_key()
        .json(json!({"invitees": ["spammer"]}))
        .send()
        .ok();
    let keep = app.say(&cast.member, "r", "hello");
    for i in 0..3 {
        app.say(&spammer, "r", &format!("buy now {i}"));
    }
    let path = "/rooms/r/messages/_all?sender=spammer&sender=nobody";
    let dry = app
        .delete(&format!("{path}&dryRun=true"))
        .user(&cast.manager)
        .send();
    assert_eq!(dry.body["RM"], "Dry run: nothing deleted");
    let preview = dry.ok().clone();
    assert_eq!(preview["deletedCount"], 3);
    assert_eq!(preview["dryRun"], true);
    assert_eq!(preview["messageID"], "_all");
    assert_eq!(preview["filter"], json!({"sender": ["spammer", "nobody"]}));
    assert_eq!(
        visible(&app, &cast.member, "r").1,
        4,
        "a dry run changes nothing"
    );
    assert!(
        app.audit("r").is_empty(),
        "a dry run writes no audit record"
    );

    let res = app
        .delete(path)
        .user(&cast.manager)
        .header("X-Audit-Log-Reason", "spam%20wave")
        .send();
    assert_eq!(res.body["RM"], "All messages deleted successfully");
    let result = res.ok();
    assert_eq!(
        result["deletedCount"], preview["deletedCount"],
        "the dry run's count"
    );
    assert_eq!(result["filter"], preview["filter"]);
    assert!(result.get("dryRun").is_none());
    assert_eq!(visible(&app, &cast.member, "r"), (vec![keep.clone()], 1));
    let room = app.get("/rooms/r").user(&cast.member).send();
    assert_eq!(room.ok()["lastMessage"]["_id"], keep.as_str());
    let records = app.audit("r");
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["filter"],
        json!({"sender": ["spammer", "nobody"]})
    );
    assert_eq!(records[0]["reason"], "spam wave");
    assert_eq!(records[0]["deletedBy"], "manager");
    // The spammer's next message is not covered by the clear.
    let later = app.say(&spammer, "r", "again");
    assert_eq!(visible(&app, &cast.member, "r").0, vec![later, keep]);
}

#[test]
fn time_bounds_are_normalised_and_message_bounds_cut_by_order() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let ids: Vec<String> = (0..4)
        .map(|i| app.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    // A time window that covers nothing: Unix milliseconds come back as ISO times.
    let res = app
        .delete("/rooms/r/messages/_all?after=0&before=1000&dryRun=true")
        .user(&cast.owner)
        .send();
    let r = res.ok();
    assert_eq!(r["deletedCount"], 0);
    assert_eq!(
        r["filter"],
        json!({"before": "1970-01-01T00:00:01.000Z", "after": "1970-01-01T00:00:00.000Z"})
    );
    // Messages older than the third message: the first two.
    let res = app
        .delete(&format!("/rooms/r/messages/_all?before={}", ids[2]))
        .user(&cast.owner)
        .send();
    let r = res.ok();
    assert_eq!(r["deletedCount"], 2);
    assert_eq!(r["filter"], json!({"before": ids[2]}));
    assert_eq!(
        visible(&app, &cast.member, "r").0,
        vec![ids[3].clone(), ids[2].clone()]
    );
    // A message bound that is no longer visible: 404, after the permission check.
    let gone = format!("/rooms/r/messages/_all?after={}", ids[0]);
    app.delete(&gone)
        .user(&cast.outsider)
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    app.delete(&gone)
        .user(&cast.owner)
        .send()
        .err(404, "MESSAGE_NOT_FOUND");
    app.delete("/rooms/nope/messages/_all?sender=x")
        .user(&cast.owner)
        .send()
        .err(404, "ROOM_NOT_FOUND");
}

#[test]
fn bad_filters_are_invalid_parameters_before_any_lookup() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let too_many: String = (0..21).map(|i| format!("sender=u{i}&")).collect();
    for query in [
        "before=yesterday%20noon",
        "before=1000&after=1000",
        "before=1000&after=2000",
        "dryRun=yes",
        "dryRun=true&dryRun=false",
        "senders=spammer",
        "sender=a%20b",
        too_many.as_str(),
    ] {
        // The room does not exist: syntax is checked first.
        app.delete(&format!("/rooms/nope/messages/_all?{query}"))
            .user(&cast.owner)
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    let id = app.say(&cast.member, "r", "x");
    app.delete(&format!("/rooms/r/messages/{id}?sender=member"))
        .user(&cast.owner)
        .send()
        .err(400, "INVALID_PARAMETER");
    // Twenty distinct senders (repeats do not count) and an unknown sender are fine.
    let twenty: String = (0..20)
        .map(|i| format!("sender=u{i}&sender=u{i}&"))
        .collect();
    let res = app
        .delete(&format!("/rooms/r/messages/_all?{twenty}dryRun=true"))
        .user(&cast.owner)
        .send();
    assert_eq!(res.ok()["deletedCount"], 0);
}

#[test]
fn an_all_digit_bound_out_of_range_is_a_bad_time_even_when_a_message_has_that_id() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    for id in ["99999999999999999999", "9223372036854775808"] {
        app.post("/rooms/r/message")
            .user(&cast.member)
            .json(json!({"_id": id, "message": "digits"}))
            .send()
            .ok();
    }
    for bound in [
        "99999999999999999999",
        "9223372036854775807",
        "9223372036854775808",
        "8640000000000000",
    ] {
        for name in ["before", "after"] {
            app.delete(&format!(
                "/rooms/r/messages/_all?{name}={bound}&dryRun=true"
            ))
            .user(&cast.owner)
            .send()
            .err(400, "INVALID_PARAMETER");
        }
    }
    assert_eq!(visible(&app, &cast.member, "r").1, 2, "nothing was deleted");
}

#[test]
fn bulk_delete_removes_the_listed_visible_messages_and_reports_the_rest() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.room("other", "owner", &[], &[]);
    let ids: Vec<String> = (0..3)
        .map(|i| app.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    let elsewhere = app.say(&cast.owner, "other", "not here");
    let body = json!({"messageIDs": [ids[0], ids[2], elsewhere, "never-sent"]});
    app.post("/rooms/r/messages/delete")
        .user(&cast.member)
        .json(body.clone())
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    let res = app
        .post("/rooms/r/messages/delete")
        .user(&cast.owner)
        .header("X-Audit-Log-Reason", "cleanup")
        .json(body.clone())
        .send();
    assert_eq!(res.body["RM"], "Messages deleted successfully");
    let r = res.ok();
    assert_eq!(r["deletedCount"], 2);
    assert_eq!(r["messageID"], "_bulk");
    assert_eq!(r["messageIDs"], json!([ids[0], ids[2]]));
    assert_eq!(r["notFound"], json!([elsewhere, "never-sent"]));
    assert_eq!(r["deletedBy"], "owner");
    assert_eq!(visible(&app, &cast.member, "r").0, vec![ids[1].clone()]);
    assert_eq!(visible(&app, &cast.owner, "other").1, 1);
    let records = app.audit("r");
    assert_eq!(records[0]["messageID"], "_bulk");
    assert_eq!(records[0]["messageIDs"], json!([ids[0], ids[2]]));
    // Nothing left of the list: 404 and nothing written.
    app.post("/rooms/r/messages/delete")
        .user(&cast.owner)
        .json(body)
        .send()
        .err(404, "MESSAGE_NOT_FOUND");
    assert_eq!(app.audit("r").len(), 1);
    // Still a message ID for DELETE.
    app.delete("/rooms/r/messages/delete")
        .user(&cast.owner)
        .send()
        .err(404, "MESSAGE_NOT_FOUND");
}

#[test]
fn single_and_bulk_dry_runs_check_and_count_without_deleting() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let ids: Vec<String> = (0..3)
        .map(|i| app.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    // A member may not even preview.
    app.delete(&format!("/rooms/r/messages/{}?dryRun=true", ids[0]))
        .user(&cast.member)
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    let one = app
        .delete(&format!("/rooms/r/messages/{}?dryRun=true", ids[0]))
        .user(&cast.manager)
        .send();
    assert_eq!(one.body["RM"], "Dry run: nothing deleted");
    assert_eq!(one.ok()["deletedCount"], 1);
    assert_eq!(one.ok()["messageID"], ids[0].as_str());
    assert_eq!(one.ok()["dryRun"], true);
    app.delete("/rooms/r/messages/never-sent?dryRun=true")
        .user(&cast.manager)
        .send()
        .err(404, "MESSAGE_NOT_FOUND");

    let body = json!({"messageIDs": [ids[0], ids[2], "never-sent"]});
    let bulk = app
        .post("/rooms/r/messages/delete?dryRun=true")
        .user(&cast.owner)
        .json(body.clone())
        .send();
    assert_eq!(bulk.body["RM"], "Dry run: nothing deleted");
    let r = bulk.ok();
    assert_eq!(r["deletedCount"], 2);
    assert_eq!(r["messageIDs"], json!([ids[0], ids[2]]));
    assert_eq!(r["notFound"], json!(["never-sent"]));
    assert_eq!(r["dryRun"], true);
    assert_eq!(visible(&app, &cast.member, "r").1, 3, "nothing deleted");
    assert!(app.audit("r").is_empty(), "no audit record");
    app.post("/rooms/r/messages/delete?dryRun=true")
        .user(&cast.owner)
        .json(json!({"messageIDs": ["never-sent"]}))
        .send()
        .err(404, "MESSAGE_NOT_FOUND");
    for query in ["dryRun=yes", "dryRun=true&dryRun=true", "sender=member"] {
        app.post(&format!("/rooms/r/messages/delete?{query}"))
            .user(&cast.owner)
            .json(body.clone())
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    // The real bulk deletion then reports what the dry run announced.
    let real = app
        .post("/rooms/r/messages/delete")
        .user(&cast.owner)
        .json(body)
        .send();
    assert_eq!(real.ok()["messageIDs"], json!([ids[0], ids[2]]));
    assert!(real.ok().get("dryRun").is_none());
}

#[test]
fn bulk_bodies_out_of_rule_are_invalid() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let hundred_one: Vec<String> = (0..101).map(|i| format!("m{i}")).collect();
    for body in [
        json!({"messageIDs": []}),
        json!({"messageIDs": hundred_one}),
        json!({"messageIDs": ["a", "a"]}),
        json!({"messageIDs": ["a b"]}),
        json!({"messageIDs": "a"}),
        json!({}),
    ] {
        app.post("/rooms/r/messages/delete")
            .user(&cast.owner)
            .json(body)
            .send()
            .err(400, "INVALID_BODY");
    }
    app.post("/rooms/nope/messages/delete")
        .user(&cast.owner)
        .json(json!({"messageIDs": ["a"]}))
        .send()
        .err(404, "ROOM_NOT_FOUND");
}

#[test]
fn concurrent_overlapping_bulk_deletes_report_each_message_once() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let ids: Vec<String> = (0..12)
        .map(|i| app.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let reported: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|k| {
                let (app, token, ids, barrier) = (&app, &cast.owner, &ids, barrier.clone());
                s.spawn(move || {
                    // Each lists 8 of the 12: every message is listed by two of them.
                    let mine: Vec<&String> =
                        ids.iter().skip(k * 4).chain(ids.iter()).take(8).collect();
                    barrier.wait();
                    let res = app
                        .post("/rooms/r/messages/delete")
                        .user(token)
                        .json(json!({ "messageIDs": mine }))
                        .send();
                    if res.status == 404 {
                        return Vec::new();
                    }
                    res.ok()["messageIDs"]
                        .as_array()
                        .expect("ids")
                        .iter()
                        .map(|v| v.as_str().expect("id").to_owned())
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("joined"))
            .collect()
    });
    let mut all: Vec<String> = reported.into_iter().flatten().collect();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected, "every message reported deleted exactly once");
    assert_eq!(visible(&app, &cast.member, "r").1, 0);
}

#[test]
fn purging_a_user_previews_per_room_and_removes_everywhere() {
    let app = TestApp::spawn();
    let member = app.user("member");
    let spammer = app.user("spammer");
    for room in ["a", "b", "c"] {
        app.room(room, "member", &[], &["spammer"]);
    }
    app.say(&spammer, "a", "spam 1");
    app.say(&spammer, "a", "spam 2");
    app.say(&spammer, "c", "spam 3");
    let kept = app.say(&member, "b", "clean room");
    app.delete("/admin/clients/spammer/messages")
        .user(&member)
        .send()
        .err(401, "INVALID_API_KEY");
    app.delete("/admin/clients/ghost/messages")
        .api_key()
        .send()
        .err(404, "CLIENT_NOT_FOUND");
    for bad in [
        "before=soon",
        "after=2&before=1",
        "roomID=a%20b",
        "dryRun=1",
        "sender=x",
    ] {
        app.delete(&format!("/admin/clients/spammer/messages?{bad}"))
            .api_key()
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    let dry = app
        .delete("/admin/clients/spammer/messages?dryRun=true")
        .api_key()
        .send();
    assert_eq!(dry.body["RM"], "Dry run: nothing deleted");
    let preview = dry.ok().clone();
    assert_eq!(preview["deletedCount"], 3);
    assert_eq!(
        preview["rooms"],
        json!([{"roomID": "a", "deletedCount": 2}, {"roomID": "c", "deletedCount": 1}])
    );
    assert_eq!(preview["dryRun"], true);
    assert_eq!(visible(&app, &member, "a").1, 2);

    let only_c = app
        .delete("/admin/clients/spammer/messages?roomID=c&roomID=b")
        .api_key()
        .send();
    assert_eq!(
        only_c.ok()["rooms"],
        json!([{"roomID": "c", "deletedCount": 1}])
    );
    let res = app
        .delete("/admin/clients/spammer/messages")
        .api_key()
        .header("X-Audit-Log-Reason", "throwaway")
        .send();
    assert_eq!(res.body["RM"], "User messages deleted successfully");
    let r = res.ok();
    assert_eq!(r["clientID"], "spammer");
    assert_eq!(r["deletedCount"], 2);
    assert_eq!(r["rooms"], json!([{"roomID": "a", "deletedCount": 2}]));
    assert_eq!(r["deletedBy"], "_platform");
    assert_eq!(r["dryRun"], false);
    assert_eq!(visible(&app, &member, "a").1, 0);
    assert_eq!(visible(&app, &member, "b").0, vec![kept]);
    let records = app.audit("a");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["messageID"], "_all");
    assert_eq!(records[0]["filter"], json!({"sender": ["spammer"]}));
    assert_eq!(records[0]["reason"], "throwaway");
    assert!(app.audit("b").is_empty(), "no record where nothing matched");
}

#[test]
fn retention_is_validated_shown_and_hides_expired_messages_until_the_job_removes_them() {
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url.clone());
    config.retention_interval = Duration::from_millis(200);
    let app = TestApp::spawn_with(config, Some(database));
    let cast = app.cast("r");
    for bad in [json!(0), json!(36_501), json!(1.5), json!("7")] {
        app.post("/rooms")
            .api_key()
            .json(json!({"_id": "x", "retentionDays": bad}))
            .send()
            .err(400, "INVALID_BODY");
    }
    let created = app
        .post("/rooms")
        .api_key()
        .json(json!({"_id": "kept", "retentionDays": 30}))
        .send();
    assert_eq!(created.ok()["retentionDays"], 30);
    app.put("/rooms/r")
        .user(&cast.member)
        .json(json!({"retentionDays": 1}))
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");

    let old = app.say(&cast.member, "r", "old news");
    let fresh = app.say(&cast.member, "r", "fresh");
    let two_days_ago = chrono::Utc::now().timestamp_millis() - 2 * 86_400_000;
    Rows::open(&url).backdate(&old, two_days_ago);
    assert_eq!(visible(&app, &cast.member, "r").1, 2, "no retention yet");

    let res = app
        .put("/rooms/r")
        .user(&cast.manager)
        .json(json!({"retentionDays": 1}))
        .send();
    assert_eq!(res.ok()["retentionDays"], 1);
    // Invisible at once, before the job has run.
    assert_eq!(visible(&app, &cast.member, "r"), (vec![fresh.clone()], 1));
    app.delete(&format!("/rooms/r/messages/{old}"))
        .user(&cast.owner)
        .send()
        .err(404, "MESSAGE_NOT_FOUND");
    // The job records and removes it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let record = loop {
        if let Some(r) = app
            .audit("r")
            .into_iter()
            .find(|r| r["deletedBy"] == "_retention")
        {
            break r;
        }
        assert!(Instant::now() < deadline, "the retention job never ran");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(record["deletedCount"], 1);
    assert_eq!(record["messageID"], "_all");
    assert!(record["filter"]["before"].is_string());
    assert_eq!(Rows::open(&url).stored("r", None), 1, "the row is gone");
    // `null` hands the room back to the default (none here): kept forever.
    let res = app
        .put("/rooms/r")
        .user(&cast.owner)
        .json(json!({"retentionDays": null}))
        .send();
    assert_eq!(res.ok()["retentionDays"], Value::Null);
}

#[test]
fn a_user_purge_killed_mid_removal_is_invisible_after_restart_and_finishes() {
    let database = roomwarden_adapters::testing::FreshDatabase::new();
    let url = database.url.clone();
    let env = [
        ("ROOMWARDEN_DATABASE_URL", url.as_str()),
        ("ROOMWARDEN_API_KEY", API_KEY),
        ("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY),
    ];
    let first = Binary::start(&env);
    let call = |base: &str, method: &str, path: &str, body: Option<Value>| -> Value {
        let res = send_as_platform(base, method, path, body);
        assert_eq!(res.status, 200, "{method} {path}: {}", res.body);
        res.body
    };
    for id in ["owner", "spammer"] {
        call(
            &first.base,
            "POST",
            "/admin/clients",
            Some(json!({"_id": id})),
        );
    }
    for room in ["big", "small"] {
        call(
            &first.base,
            "POST",
            "/rooms",
            Some(json!({"_id": room, "owner": "owner", "members": ["spammer"]})),
        );
    }
    let rows = Rows::open(&url);
    let now = chrono::Utc::now().timestamp_millis();
    rows.seed("big", "spammer", "s", 20_000, now);
    rows.seed("big", "owner", "o", 3, now);
    rows.seed("small", "spammer", "t", 2, now);
    let purge = call(
        &first.base,
        "DELETE",
        "/admin/clients/spammer/messages",
        None,
    );
    assert_eq!(purge["result"]["deletedCount"], 20_002, "{purge}");
    let left_at_kill = rows.stored("big", Some("spammer"));
    // kill -9: no chance to finish the background removal.
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &first.child.id().to_string()])
        .status();
    drop(first);

    let second = Binary::start(&env);
    let page = call(
        &second.base,
        "GET",
        "/rooms/big/messages/v3?limit=100",
        None,
    );
    assert_eq!(
        page["result"]["totalCount"], 3,
        "still invisible after the restart"
    );
    assert_eq!(page["result"]["data"].as_array().map(Vec::len), Some(3));
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows.stored("big", Some("spammer")) > 0 {
        assert!(Instant::now() < deadline, "the purge did not resume");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rows.stored("big", None), 3);
    assert_eq!(rows.stored("small", Some("spammer")), 0);
    let log = second.stop();
    eprintln!("rows left when killed: {left_at_kill}");
    if left_at_kill > 0 {
        assert!(
            log.contains("erasing filtered messages"),
            "the restart resumed: {log}"
        );
    }
}

#[test]
fn retried_bulk_deletes_and_user_purges_replay_their_first_answer() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let spammer = app.user("spammer");
    app.post("/rooms/r/members")
        .api_key()
        .json(json!({"invitees": ["spammer"]}))
        .send()
        .ok();
    let ids: Vec<String> = (0..2)
        .map(|i| app.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    app.say(&spammer, "r", "spam");
    let bulk = || {
        app.post("/rooms/r/messages/delete")
            .user(&cast.owner)
            .header("Idempotency-Key", "bulk-1")
            .json(json!({"messageIDs": ids}))
            .send()
    };
    let first = bulk();
    assert_eq!(first.ok()["deletedCount"], 2);
    assert!(first.header("Idempotent-Replayed").is_none());
    let again = bulk();
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the first answer, not a 404");
    let purge = || {
        app.delete("/admin/clients/spammer/messages")
            .api_key()
            .header("Idempotency-Key", "purge-1")
            .send()
    };
    let first = purge();
    assert_eq!(first.ok()["deletedCount"], 1);
    let again = purge();
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the original count, not 0");
    assert_eq!(app.audit("r").len(), 2, "each ran once");
}

#[test]
fn a_filtered_clear_leaves_the_stored_answers_of_messages_it_spared_intact() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let spammer = app.user("spammer");
    app.post("/rooms/r/members")
        .api_key()
        .json(json!({"invitees": ["spammer"]}))
        .send()
        .ok();
    let send = |token: &str, key: &str, text: &str| {
        app.post("/rooms/r/message")
            .user(token)
            .header("Idempotency-Key", key)
            .json(json!({ "message": text }))
            .send()
    };
    let kept = send(&cast.member, "keep-1", "hello");
    let spam = send(&spammer, "spam-1", "buy now");
    app.delete("/rooms/r/messages/_all?sender=spammer")
        .user(&cast.owner)
        .send()
        .ok();
    let replayed = send(&cast.member, "keep-1", "hello");
    assert_eq!(replayed.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(
        replayed.body, kept.body,
        "a spared message keeps its replay"
    );
    let gone = send(&spammer, "spam-1", "buy now");
    assert_eq!(
        gone.ok()["message"],
        serde_json::Value::Null,
        "{:#}",
        spam.body
    );
}

/// One clock, given at the edge (`Config::clock`), runs the handlers and the store alike:
/// moved on past a room's retention, a token issued before lapses, the messages sent before
/// are hidden on every read though the retention job has not run, and a deletion is
/// recorded at the clock's time.
#[test]
fn one_injected_clock_judges_tokens_reads_and_records() {
    let clock = std::sync::Arc::new(roomwarden_domain::time::OffsetClock::new());
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url);
    config.clock = clock.clone();
    // The job runs at start-up only: what hides the old message below is the reads' rule.
    config.retention_interval = Duration::from_secs(3600);
    let app = TestApp::spawn_with(config, Some(database));
    let cast = app.cast("r");
    app.put("/rooms/r")
        .user(&cast.owner)
        .json(json!({"retentionDays": 7}))
        .send()
        .ok();
    let old = app.say(&cast.member, "r", "old news");
    assert_eq!(visible(&app, &cast.member, "r"), (vec![old.clone()], 1));

    clock.advance(chrono::Duration::days(8));
    app.get("/me")
        .user(&cast.member)
        .send()
        .err(401, "INVALID_TOKEN");
    let member = app.user("member");
    assert_eq!(visible(&app, &member, "r"), (vec![], 0));
    app.delete(&format!("/rooms/r/messages/{old}"))
        .api_key()
        .send()
        .err(404, "MESSAGE_NOT_FOUND");
    let new = app.say(&member, "r", "new");
    let deleted = app
        .delete(&format!("/rooms/r/messages/{new}"))
        .api_key()
        .send();
    let at = deleted.ok()["deletedAt"]
        .as_str()
        .expect("deletedAt")
        .to_owned();
    let at = chrono::DateTime::parse_from_rfc3339(&at).expect("a time");
    let ahead = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        ahead > chrono::Duration::days(7),
        "recorded at {at}, the clock's time, not the system's"
    );
}
