//! Reports, row by row of docs/api.md §7.10: reporting and its order of checks, repeat
//! reports, the room's and the platform's queues, dismissal, resolution by every deletion
//! path, the reporter's rate, and the event and frames of a new report.

use crate::receiver::Receiver;
use crate::socket::Socket;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

fn report(app: &TestApp, token: &str, room: &str, message: &str, body: Value) -> Resp {
    app.post(&format!("/rooms/{room}/messages/{message}/reports"))
        .user(token)
        .json(body)
        .send()
}

/// Reports `message` as `token`'s user for spam; returns the report.
fn flag(app: &TestApp, token: &str, room: &str, message: &str) -> Value {
    report(app, token, room, message, json!({"category": "spam"}))
        .ok()
        .clone()
}

/// A page of the room's queue as `token` reads it.
fn room_queue(app: &TestApp, token: &str, room: &str, query: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/rooms/{room}/reports{query}"))
        .user(token)
        .send();
    res.ok()["data"].as_array().expect("data").clone()
}

/// The platform's queue, as the API key reads it.
fn platform_queue(app: &TestApp, query: &str) -> Vec<Value> {
    let res = app.get(&format!("/admin/reports{query}")).api_key().send();
    res.ok()["data"].as_array().expect("data").clone()
}

fn message_ids(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i["messageID"].as_str().expect("messageID"))
        .collect()
}

#[test]
fn a_member_reports_a_message_in_the_contract_s_order_of_checks() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let spam = app.say(&cast.member, "r", "buy now");
    let path = format!("/rooms/r/messages/{spam}/reports");

    // Authentication, then the body, then the room, membership, the message.
    app.post(&path)
        .json(json!({"category": "spam"}))
        .send()
        .err(401, "INVALID_CLIENT_KEY");
    for bad in [
        json!({}),
        json!({"category": "boring"}),
        json!({"category": "spam", "reason": "x".repeat(513)}),
        json!({"category": 3}),
    ] {
        report(&app, &cast.outsider, "nowhere", &spam, bad).err(400, "INVALID_BODY");
    }
    report(
        &app,
        &cast.outsider,
        "nowhere",
        &spam,
        json!({"category": "spam"}),
    )
    .err(404, "ROOM_NOT_FOUND");
    report(
        &app,
        &cast.outsider,
        "r",
        &spam,
        json!({"category": "spam"}),
    )
    .err(403, "INSUFFICIENT_PERMISSION");
    report(&app, &cast.member, "r", "gone", json!({"category": "spam"}))
        .err(404, "MESSAGE_NOT_FOUND");
    app.post(&path)
        .api_key()
        .json(json!({"category": "spam"}))
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");

    let res = report(
        &app,
        &cast.manager,
        "r",
        &spam,
        json!({"category": "abuse", "reason": "rude"}),
    );
    assert_eq!(res.body["RM"], "Message reported");
    let first = res.ok().clone();
    assert_eq!(first["roomID"], "r");
    assert_eq!(first["messageID"], spam.as_str());
    assert_eq!(first["reporter"], "manager");
    assert_eq!(first["category"], "abuse");
    assert_eq!(first["reason"], "rude");
    assert_eq!(first["state"], "open");
    assert!(first["createdAt"].is_string() && first["_id"].is_string());
    // Again while it is open: the same report, nothing new.
    let again = report(&app, &cast.manager, "r", &spam, json!({"category": "spam"}));
    assert_eq!(again.ok(), &first);
    let queue = room_queue(&app, &cast.owner, "r", "");
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0]["reportCount"], 1);
}

#[test]
fn the_queues_list_reported_messages_most_reported_first_with_content_while_visible() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.room("s", "owner", &[], &["member"]);
    let once = app.say(&cast.owner, "r", "reported once");
    let twice = app.say(&cast.owner, "r", "reported twice");
    let later = app.say(&cast.owner, "r", "reported once, later");
    let other_room = app.say(&cast.owner, "s", "elsewhere");
    flag(&app, &cast.member, "r", &once);
    flag(&app, &cast.member, "r", &twice);
    report(
        &app,
        &cast.manager,
        "r",
        &twice,
        json!({"category": "sensitive", "reason": "a phone number"}),
    )
    .ok();
    flag(&app, &cast.member, "r", &later);
    flag(&app, &cast.member, "s", &other_room);

    let queue = room_queue(&app, &cast.manager, "r", "");
    assert_eq!(message_ids(&queue), [&twice, &later, &once]);
    let top = &queue[0];
    assert_eq!(top["reportCount"], 2);
    assert_eq!(
        top["categories"],
        json!({"spam": 1, "abuse": 0, "sensitive": 1, "other": 0})
    );
    assert_eq!(top["message"], "reported twice");
    assert_eq!(top["sender"], "owner");
    assert_eq!(top["state"], "open");
    let reports = top["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["reporter"], "manager", "newest first");
    assert_eq!(reports[0]["reason"], "a phone number");
    assert!(top["firstReportedAt"].as_str() <= top["lastReportedAt"].as_str());

    // Pages through the cursor.
    let first = room_queue(&app, &cast.owner, "r", "?limit=2");
    assert_eq!(message_ids(&first), [&twice, &later]);
    let cursor = first[1]["cursor"].as_str().expect("cursor");
    let rest = room_queue(&app, &cast.owner, "r", &format!("?limit=2&before={cursor}"));
    assert_eq!(message_ids(&rest), [&once]);
    for bad in ["?limit=0", "?state=closed", "?before=nonsense"] {
        app.get(&format!("/rooms/r/reports{bad}"))
            .user(&cast.owner)
            .send()
            .err(400, "INVALID_PARAMETER");
    }

    // Who may read: moderators of the room; the platform queue is the API key's.
    app.get("/rooms/r/reports")
        .user(&cast.member)
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    app.get("/rooms/nowhere/reports")
        .user(&cast.member)
        .send()
        .err(404, "ROOM_NOT_FOUND");
    let by_key = app.get("/rooms/r/reports").api_key().send();
    assert_eq!(by_key.ok()["data"].as_array().map(Vec::len), Some(3));
    app.get("/admin/reports")
        .user(&cast.owner)
        .send()
        .err(401, "INVALID_API_KEY");
    assert_eq!(platform_queue(&app, "").len(), 4);
    assert_eq!(
        message_ids(&platform_queue(&app, "?roomID=s")),
        [&other_room]
    );

    // Deleted: listed under `deleted`, without the content.
    app.delete(&format!("/rooms/r/messages/{twice}"))
        .user(&cast.owner)
        .send()
        .ok();
    assert_eq!(
        message_ids(&room_queue(&app, &cast.owner, "r", "")),
        [&later, &once]
    );
    let deleted = room_queue(&app, &cast.owner, "r", "?state=deleted");
    assert_eq!(message_ids(&deleted), [&twice]);
    assert_eq!(deleted[0]["message"], Value::Null);
    assert_eq!(deleted[0]["state"], "deleted");
    assert_eq!(deleted[0]["reportCount"], 2);
}

/// A deleted message's ID may be taken by a new message: the deleted item still shows no
/// content, and the new message's reports are its own.
#[test]
fn a_deleted_message_s_reused_id_never_lends_its_content_to_the_deleted_item() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let send = |text: &str| {
        app.post("/rooms/r/message")
            .user(&cast.member)
            .json(json!({"_id": "reused", "message": text}))
            .send()
            .ok()["_id"]
            .clone()
    };
    send("first, reported and deleted");
    flag(&app, &cast.owner, "r", "reused");
    app.delete("/rooms/r/messages/reused")
        .user(&cast.owner)
        .send()
        .ok();
    send("second, innocent");
    let deleted = room_queue(&app, &cast.owner, "r", "?state=deleted");
    assert_eq!(message_ids(&deleted), ["reused"]);
    assert_eq!(deleted[0]["message"], Value::Null, "{}", deleted[0]);
    assert!(room_queue(&app, &cast.owner, "r", "").is_empty());
    flag(&app, &cast.manager, "r", "reused");
    let open = room_queue(&app, &cast.owner, "r", "");
    assert_eq!(open[0]["message"], "second, innocent");
    assert_eq!(open[0]["reportCount"], 1);
}

/// Resolving reports: the reports of the removed messages become `deleted` with the
/// deletion's ID, and its record lists them; reports of messages it kept stay open.
fn assert_resolved(app: &TestApp, room: &str, record: &Value, reports: &[&Value]) {
    let mut ids: Vec<&str> = reports
        .iter()
        .map(|r| r["_id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    let mut listed: Vec<&str> = record["reportIDs"]
        .as_array()
        .unwrap_or_else(|| panic!("reportIDs in {record}"))
        .iter()
        .map(|r| r.as_str().expect("id"))
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, ids, "{record}");
    assert_eq!(record["reportCount"], reports.len(), "{record}");
    let deleted = platform_queue(app, &format!("?state=deleted&roomID={room}&limit=100"));
    for report in reports {
        let found = deleted
            .iter()
            .flat_map(|item| item["reports"].as_array().expect("reports"))
            .find(|r| r["_id"] == report["_id"])
            .unwrap_or_else(|| panic!("{report} is not deleted"));
        assert_eq!(found["state"], "deleted");
        assert_eq!(found["deletionID"], record["_id"]);
    }
}

fn newest_record(app: &TestApp, room: &str) -> Value {
    app.audit(room).into_iter().next().expect("a record")
}

#[test]
fn every_deletion_path_resolves_the_open_reports_of_what_it_removes() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let say = |text: &str| app.say(&cast.member, "r", text);

    // One message: two reporters, one record.
    let one = say("one");
    let kept = say("kept");
    let a = flag(&app, &cast.owner, "r", &one);
    let b = flag(&app, &cast.manager, "r", &one);
    let open_kept = flag(&app, &cast.owner, "r", &kept);
    let res = app
        .delete(&format!("/rooms/r/messages/{one}"))
        .user(&cast.manager)
        .send();
    assert_eq!(res.ok()["reportCount"], 2);
    assert_resolved(&app, "r", &newest_record(&app, "r"), &[&a, &b]);
    assert_eq!(
        message_ids(&room_queue(&app, &cast.owner, "r", "")),
        [&kept],
        "the kept message's report stays open"
    );

    // Bulk.
    let (x, y) = (say("x"), say("y"));
    let rx = flag(&app, &cast.owner, "r", &x);
    let ry = flag(&app, &cast.owner, "r", &y);
    app.post("/rooms/r/messages/delete")
        .user(&cast.owner)
        .json(json!({"messageIDs": [x, y]}))
        .send()
        .ok();
    assert_resolved(&app, "r", &newest_record(&app, "r"), &[&rx, &ry]);

    // A filtered clear (by sender): the owner's messages go, the member's stay.
    let by_owner = app.say(&cast.owner, "r", "owner's");
    let ro = flag(&app, &cast.member, "r", &by_owner);
    app.delete("/rooms/r/messages/_all?sender=owner")
        .user(&cast.owner)
        .send()
        .ok();
    assert_resolved(&app, "r", &newest_record(&app, "r"), &[&ro]);

    // A clear by content.
    let link = say("visit bit.ly/x");
    let rl = flag(&app, &cast.owner, "r", &link);
    app.delete("/rooms/r/messages/_all?contains=bit.ly")
        .user(&cast.owner)
        .send()
        .ok();
    assert_resolved(&app, "r", &newest_record(&app, "r"), &[&rl]);

    // The whole room.
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    assert_resolved(&app, "r", &newest_record(&app, "r"), &[&open_kept]);
    assert!(room_queue(&app, &cast.owner, "r", "").is_empty());

    // A deletion that resolves nothing carries no report fields (its hash is unchanged).
    let plain = say("plain");
    let res = app
        .delete(&format!("/rooms/r/messages/{plain}"))
        .user(&cast.owner)
        .send();
    assert!(res.ok().get("reportCount").is_none());
    let record = newest_record(&app, "r");
    assert!(record.get("reportIDs").is_none() && record.get("reportCount").is_none());
    let chain = app
        .get("/rooms/r/deletions/verify")
        .user(&cast.owner)
        .send();
    assert_eq!(chain.ok()["valid"], true, "{}", chain.body);
}

#[test]
fn a_user_purge_resolves_reports_in_every_room_it_clears() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.room("s", "owner", &[], &["member"]);
    app.room("t", "owner", &[], &["member"]);
    let in_r = app.say(&cast.member, "r", "spam r");
    let in_s = app.say(&cast.member, "s", "spam s");
    app.say(&cast.member, "t", "spam t");
    let owners = app.say(&cast.owner, "s", "not the member's");
    let rr = flag(&app, &cast.owner, "r", &in_r);
    let rs = flag(&app, &cast.owner, "s", &in_s);
    let kept = flag(&app, &cast.member, "s", &owners);
    let res = app
        .delete("/admin/clients/member/messages")
        .api_key()
        .send();
    assert_eq!(res.ok()["deletedCount"], 3);
    assert_resolved(&app, "r", &newest_record(&app, "r"), &[&rr]);
    assert_resolved(&app, "s", &newest_record(&app, "s"), &[&rs]);
    assert!(newest_record(&app, "t").get("reportIDs").is_none());
    let open = platform_queue(&app, "");
    assert_eq!(message_ids(&open), [&owners]);
    assert_eq!(open[0]["reports"][0]["_id"], kept["_id"]);
}

#[test]
fn the_retention_job_resolves_the_reports_of_what_it_removes() {
    let clock = std::sync::Arc::new(roomwarden_domain::time::OffsetClock::new());
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url);
    config.clock = clock.clone();
    config.retention_interval = Duration::from_millis(200);
    let app = TestApp::spawn_with(config, Some(database));
    let cast = app.cast("r");
    app.put("/rooms/r")
        .user(&cast.owner)
        .json(json!({"retentionDays": 1}))
        .send()
        .ok();
    let old = app.say(&cast.member, "r", "old news");
    let reported = flag(&app, &cast.owner, "r", &old);
    clock.advance(chrono::Duration::days(2));
    let record = poll(
        || {
            app.audit("r")
                .into_iter()
                .find(|r| r["deletedBy"] == "_retention")
        },
        Option::is_some,
    )
    .expect("the retention job ran");
    assert_resolved(&app, "r", &record, &[&reported]);
}

#[test]
fn moderators_dismiss_every_open_report_of_a_message() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let m = app.say(&cast.owner, "r", "borderline");
    flag(&app, &cast.member, "r", &m);
    flag(&app, &cast.manager, "r", &m);
    let path = format!("/rooms/r/messages/{m}/reports/dismiss");
    app.post(&path)
        .user(&cast.member)
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    app.post(&format!("/rooms/nowhere/messages/{m}/reports/dismiss"))
        .user(&cast.member)
        .send()
        .err(404, "ROOM_NOT_FOUND");
    let res = app
        .post(&path)
        .user(&cast.manager)
        .header("X-Audit-Log-Reason", "satire%2C%20not%20abuse")
        .send();
    assert_eq!(res.body["RM"], "Reports dismissed");
    assert_eq!(
        res.ok(),
        &json!({"dismissedCount": 2, "roomID": "r", "messageID": m})
    );
    app.post(&path)
        .user(&cast.manager)
        .send()
        .err(404, "REPORT_NOT_FOUND");
    assert!(room_queue(&app, &cast.owner, "r", "").is_empty());
    let dismissed = room_queue(&app, &cast.owner, "r", "?state=dismissed");
    assert_eq!(dismissed[0]["reportCount"], 2);
    assert_eq!(dismissed[0]["message"], "borderline", "still visible");
    let one = &dismissed[0]["reports"][0];
    assert_eq!(one["dismissedBy"], "manager");
    assert_eq!(one["dismissReason"], "satire, not abuse");
    assert!(one["dismissedAt"].is_string());
    // Reported again after the dismissal: a new open report; deleting resolves only that.
    let again = flag(&app, &cast.member, "r", &m);
    assert_ne!(again["_id"], dismissed[0]["reports"][0]["_id"]);
    app.delete(&format!("/rooms/r/messages/{m}"))
        .api_key()
        .send()
        .ok();
    assert_resolved(&app, "r", &newest_record(&app, "r"), &[&again]);
    assert_eq!(
        room_queue(&app, &cast.owner, "r", "?state=dismissed")[0]["reportCount"],
        2
    );
}

#[test]
fn a_reporter_opens_at_most_60_reports_a_minute() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let ids: Vec<String> = (0..61)
        .map(|i| app.say(&cast.owner, "r", &format!("m{i}")))
        .collect();
    for id in &ids[..60] {
        flag(&app, &cast.member, "r", id);
    }
    let res = report(
        &app,
        &cast.member,
        "r",
        &ids[60],
        json!({"category": "spam"}),
    );
    res.err(429, "TOO_MANY_REQUESTS");
    let wait: u64 = res
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // A repeat of an open report writes nothing, so it is answered; others are not limited.
    flag(&app, &cast.member, "r", &ids[0]);
    flag(&app, &cast.manager, "r", &ids[60]);
}

/// The socket's next frame that `wanted` accepts, and the frames before it.
fn next_where(socket: &mut Socket, wanted: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
    let mut skipped = Vec::new();
    loop {
        let frame = socket.next_event();
        if wanted(&frame) {
            return (frame, skipped);
        }
        skipped.push(frame);
    }
}

#[test]
fn a_new_report_reaches_the_webhook_and_moderators_sockets_only() {
    let receiver = Receiver::start(&[]);
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.put("/rooms/r")
        .user(&cast.owner)
        .json(json!({"webhook": receiver.url}))
        .send()
        .ok();
    // A member flagged platform admin is a moderator of the room; its flag is read when the
    // frame goes out.
    let admin = app.user("root");
    app.post("/admin/clients")
        .api_key()
        .json(json!({"_id": "root", "isPlatformAdmin": true}))
        .send()
        .ok();
    app.post("/rooms/r/members")
        .user(&cast.owner)
        .json(json!({"invitees": ["root"]}))
        .send()
        .ok();
    let spam = app.say(&cast.owner, "r", "secret content");
    let mut manager = Socket::connect(&app.base, &cast.manager);
    let mut member = Socket::connect(&app.base, &cast.member);
    let mut root = Socket::connect(&app.base, &admin);
    // The owner sent the reported message: though a moderator, it never learns who reported.
    let mut sender = Socket::connect(&app.base, &cast.owner);
    let report = report(
        &app,
        &cast.member,
        "r",
        &spam,
        json!({"category": "other", "reason": "odd"}),
    )
    .ok()
    .clone();

    let (frame, _) = next_where(&mut manager, |f| f["event"] == "messageReported");
    assert_eq!(
        frame["data"],
        json!({
            "room": "r", "messageID": spam, "sender": "owner", "reportID": report["_id"],
            "reporter": "member", "category": "other", "reason": "odd",
            "reportedAt": report["createdAt"],
        })
    );
    let (to_root, _) = next_where(&mut root, |f| f["event"] == "messageReported");
    assert_eq!(to_root["data"], frame["data"]);
    // The member and the sender get the next message, and never the report frame before it.
    let marker = app.say(&cast.owner, "r", "marker");
    for socket in [&mut member, &mut sender] {
        let (_, before) = next_where(socket, |f| f["data"]["_id"] == marker.as_str());
        assert!(
            before.iter().all(|f| f["event"] == "chat message"),
            "{before:?}"
        );
    }

    let got = receiver.wait_for(1, Duration::from_secs(20));
    let event = got[0].json();
    assert_eq!(event["event"], "MESSAGE_REPORTED");
    assert_eq!(event["id"], report["_id"]);
    assert_eq!(event["data"]["reporter"], "member");
    assert!(got[0].header("IM-Signature").is_some());
    assert!(
        !event.to_string().contains("secret content"),
        "events never carry content"
    );
    let events = app.get("/admin/events").api_key().send();
    assert_eq!(events.ok()["data"][0]["event"]["event"], "MESSAGE_REPORTED");
}

#[test]
fn a_reported_and_deleted_message_leaves_no_content_in_the_sqlite_files() {
    let app = TestApp::spawn();
    let Some(file) = app.sqlite_file().map(std::path::Path::to_path_buf) else {
        return; // a property of the embedded backend's files only
    };
    let cast = app.cast("r");
    let secret = "LEAKED-KEY-91c2-report";
    let m = app.say(&cast.member, "r", &format!("oops {secret}"));
    flag(&app, &cast.owner, "r", &m);
    let bytes = || sqlite_text(&file);
    assert!(
        bytes().contains(secret),
        "the probe sees content that is there"
    );
    app.delete(&format!("/rooms/r/messages/{m}"))
        .user(&cast.owner)
        .send()
        .ok();
    assert!(!bytes().contains(secret));
    let gone = room_queue(&app, &cast.owner, "r", "?state=deleted");
    assert_eq!(gone[0]["message"], Value::Null);
}
