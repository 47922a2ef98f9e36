//! The operators' view of deletion events (`GET /admin/events`,
//! `POST /admin/events/{eventID}/redeliver`): listing, filters and cursor, errors, and real
//! redeliveries to a webhook receiver.

use crate::events::{app_with, fast_retries, verify};
use crate::receiver::Receiver;
use crate::support::*;
use chrono::Duration as ChronoDuration;
use serde_json::{Value, json};

/// `GET /admin/events` with `query`: the listed events.
fn events(app: &TestApp, query: &str) -> Vec<Value> {
    app.get(&format!("/admin/events{query}"))
        .api_key()
        .send()
        .ok()["data"]
        .as_array()
        .expect("data")
        .clone()
}

/// Waits (bounded) until `query` lists `n` events; returns them.
fn wait_events(app: &TestApp, query: &str, n: usize) -> Vec<Value> {
    poll(|| events(app, query), |found| found.len() >= n)
}

fn set_webhook(app: &TestApp, room: &str, url: &str) {
    app.put(&format!("/rooms/{room}"))
        .api_key()
        .json(json!({"webhook": url}))
        .send()
        .ok();
}

fn ids(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect()
}

#[test]
fn the_event_api_needs_the_api_key() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.get("/admin/events").send().err(401, "INVALID_API_KEY");
    app.get("/admin/events")
        .user(&cast.owner)
        .send()
        .err(401, "INVALID_API_KEY");
    app.post("/admin/events/e1/redeliver")
        .send()
        .err(401, "INVALID_API_KEY");
    app.post("/admin/events/e1/redeliver")
        .header("IM-API-KEY", "wrong")
        .send()
        .err(401, "INVALID_API_KEY");
}

#[test]
fn bad_queries_and_unknown_events_are_refused() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    for query in [
        "?state=done",
        "?state=FAILED",
        "?limit=0",
        "?limit=101",
        "?before=a%20b",
        "?roomID=a%2Fb",
        "?state=pending&state=failed",
    ] {
        app.get(&format!("/admin/events{query}"))
            .api_key()
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    let unknown = app
        .get("/admin/events?before=0123456789abcdef01234567")
        .api_key()
        .send();
    assert_eq!(
        unknown.ok()["data"],
        serde_json::json!([]),
        "an unknown cursor is an empty page"
    );
    let res = app
        .post("/admin/events/0123456789abcdef01234567/redeliver")
        .api_key()
        .send();
    res.err(404, "EVENT_NOT_FOUND");
    assert_eq!(
        res.body["error"]["message"],
        "The specified event does not exist"
    );
    app.post("/admin/events/a%20b/redeliver")
        .api_key()
        .send()
        .err(400, "INVALID_PARAMETER");
}

#[test]
fn events_are_listed_with_their_delivery_newest_first() {
    let receiver = Receiver::start(&[]);
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.room("quiet", "owner", &[], &[]);
    set_webhook(&app, "r", &receiver.url);
    let msg = app.say(&cast.member, "r", "x");
    app.delete(&format!("/rooms/r/messages/{msg}"))
        .user(&cast.owner)
        .send()
        .ok();
    app.delete("/rooms/quiet/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    let received = receiver.wait_for(2, WAIT);
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(wait_events(&app, "?state=delivered", 2).len(), 2);

    let all = events(&app, "");
    let audit = app.get("/admin/deletions").api_key().send().ok()["data"].clone();
    let audit_ids: Vec<&str> = audit
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["_id"].as_str().expect("_id"))
        .collect();
    assert_eq!(ids(&all), audit_ids, "one event per deletion, newest first");
    let rooms: Vec<&str> = all
        .iter()
        .map(|e| e["roomID"].as_str().expect("room"))
        .collect();
    assert_eq!(rooms, vec!["r", "quiet", "r"]);
    for event in &all {
        assert_eq!(
            event["event"]["id"], event["id"],
            "the body is the event itself"
        );
        assert_eq!(event["event"]["event"], "MESSAGE_DELETED");
        assert_eq!(event["event"]["createdAt"], event["createdAt"]);
        assert!(event["nextAttemptAt"].is_null() && event["lastError"].is_null());
    }
    let quiet = &all[1];
    assert_eq!(
        (quiet["state"].as_str(), quiet["attempts"].as_u64()),
        (Some("skipped"), Some(0))
    );
    assert!(quiet["deliveredAt"].is_null());
    for delivered in [&all[0], &all[2]] {
        assert_eq!(
            (delivered["state"].as_str(), delivered["attempts"].as_u64()),
            (Some("delivered"), Some(1))
        );
        assert!(delivered["deliveredAt"].is_string());
        let sent = received
            .iter()
            .map(|r| r.json())
            .find(|body| body["id"] == delivered["id"])
            .expect("the receiver got it");
        assert_eq!(sent, delivered["event"], "listed exactly as sent");
    }
    assert_eq!(ids(&events(&app, "?state=skipped")), vec![ids(&all)[1]]);
    assert_eq!(
        ids(&events(&app, "?roomID=r")),
        vec![ids(&all)[0], ids(&all)[2]]
    );
    assert!(events(&app, "?roomID=r&state=skipped").is_empty());
    assert!(events(&app, "?roomID=no-such-room").is_empty());

    // Paging one at a time walks the same list.
    let mut paged = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let page = events(&app, &query);
        let Some(last) = page.last() else { break };
        assert_eq!(page.len(), 1);
        paged.push(last["id"].as_str().expect("id").to_owned());
        query = format!("?limit=1&before={}", paged.last().expect("id"));
    }
    assert_eq!(paged, ids(&all));
}

#[test]
fn a_failed_event_is_redelivered_with_the_same_id() {
    let refusing = Receiver::start(&[500; 64]);
    let app = app_with(None, fast_retries(ChronoDuration::milliseconds(600)));
    let cast = app.cast("r");
    set_webhook(&app, "r", &refusing.url);
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    let failed = wait_events(&app, "?state=failed", 1);
    assert_eq!(failed.len(), 1, "given up after the retry window");
    let failed = &failed[0];
    assert_eq!(failed["lastError"], "receiver answered HTTP 500");
    assert!(failed["attempts"].as_u64().is_some_and(|n| n >= 2));
    let id = failed["id"].as_str().expect("id").to_owned();

    // The receiver is fixed (here: a new webhook); the operator sends the event again.
    let receiver = Receiver::start(&[]);
    set_webhook(&app, "r", &receiver.url);
    let res = app
        .post(&format!("/admin/events/{id}/redeliver"))
        .api_key()
        .header("Idempotency-Key", "redeliver-1")
        .send();
    let queued = res.ok();
    assert_eq!(res.body["RM"], "Event queued for delivery");
    assert_eq!(
        (
            queued["id"].as_str(),
            queued["state"].as_str(),
            queued["attempts"].as_u64()
        ),
        (Some(id.as_str()), Some("pending"), Some(0))
    );
    assert!(queued["lastError"].is_null() && queued["deliveredAt"].is_null());
    assert!(queued["nextAttemptAt"].is_string(), "due now");
    assert_eq!(queued["createdAt"], failed["createdAt"]);
    assert_eq!(queued["event"], failed["event"]);

    let got = receiver.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "redelivered at once: {got:?}");
    verify(&got[0]);
    assert_eq!(
        got[0].json(),
        failed["event"],
        "the same event, the same id"
    );
    let delivered = wait_events(&app, "?state=delivered", 1);
    assert_eq!(ids(&delivered), vec![id.as_str()]);
    assert_eq!(delivered[0]["attempts"], 1, "a fresh round: one attempt");
    assert!(delivered[0]["deliveredAt"].is_string());

    // A retry with the same key replays the answer and queues nothing again.
    let replay = app
        .post(&format!("/admin/events/{id}/redeliver"))
        .api_key()
        .header("Idempotency-Key", "redeliver-1")
        .send();
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(replay.body, res.body);
    assert_eq!(events(&app, "")[0]["state"], "delivered");
}

#[test]
fn a_skipped_event_is_redelivered_once_its_room_has_a_webhook() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    let skipped = events(&app, "?state=skipped");
    assert_eq!(skipped.len(), 1);
    let id = skipped[0]["id"].as_str().expect("id").to_owned();
    let path = format!("/admin/events/{id}/redeliver");

    let res = app.post(&path).api_key().send();
    assert_eq!(res.ok(), &skipped[0], "left as it was");
    assert_eq!(
        res.body["RM"],
        "Event not queued: it has no webhook to go to"
    );

    let receiver = Receiver::start(&[]);
    set_webhook(&app, "r", &receiver.url);
    let res = app.post(&path).api_key().send();
    assert_eq!(res.ok()["state"], "pending");
    let got = receiver.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].json()["id"], id.as_str());
    assert_eq!(
        ids(&wait_events(&app, "?state=delivered", 1)),
        vec![id.as_str()]
    );
}
