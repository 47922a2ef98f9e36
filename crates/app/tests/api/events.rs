//! Deletion events through webhooks: signature, payload, retries, failure, crash safety.

use crate::receiver::{Received, Receiver};
use crate::support::*;
use chrono::Duration as ChronoDuration;
use hmac::{Hmac, Mac};
use roomwarden_adapters::{Database, DieselStore, OutboxCounts, PoolOptions};
use roomwarden_domain::events::RetryPolicy;
use serde_json::json;
use sha2::Sha256;
use std::time::Duration;

const SECRET: &str = "test-webhook-secret";

/// Verifies `IM-Signature` the way docs/events.md tells receivers to.
pub fn verify(req: &Received) {
    let header = req.header("IM-Signature").expect("signed");
    let (t, v1) = header.split_once(',').expect("t=...,v1=...");
    let t = t.strip_prefix("t=").expect("t=");
    let v1 = v1.strip_prefix("v1=").expect("v1=");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.{}", req.body).as_bytes());
    assert_eq!(
        hex::encode(mac.finalize().into_bytes()),
        v1,
        "signature of {}",
        req.body
    );
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().expect("unix seconds");
    assert!((0..300).contains(&age), "timestamp is current");
}

pub fn fast_retries(give_up_after: ChronoDuration) -> RetryPolicy {
    RetryPolicy {
        first_delay: ChronoDuration::milliseconds(100),
        max_delay: ChronoDuration::milliseconds(400),
        give_up_after,
    }
}

fn outbox(app: &TestApp) -> OutboxCounts {
    let db = Database::connect(&app.database_url, &PoolOptions::default()).expect("db");
    DieselStore::new(db).outbox_counts().expect("counts")
}

fn wait_outbox(app: &TestApp, done: impl Fn(&OutboxCounts) -> bool) -> OutboxCounts {
    poll(|| outbox(app), done)
}

pub fn app_with(webhook_url: Option<String>, retry: RetryPolicy) -> TestApp {
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url);
    config.webhook_url = webhook_url;
    config.webhook_retry = retry;
    TestApp::spawn_with(config, Some(database))
}

#[test]
fn the_rooms_webhook_gets_one_signed_event_per_deletion() {
    let receiver = Receiver::start(&[]);
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.put("/rooms/r")
        .api_key()
        .json(json!({"webhook": receiver.url}))
        .send()
        .ok();
    let msg = app.say(&cast.member, "r", "secret content");
    app.delete(&format!("/rooms/r/messages/{msg}"))
        .user(&cast.owner)
        .header("X-Audit-Log-Reason", "leaked%20key")
        .send()
        .ok();
    app.say(&cast.member, "r", "two");
    app.delete("/rooms/r/messages/_all")
        .user(&cast.manager)
        .send()
        .ok();

    let got = receiver.wait_for(2, WAIT);
    assert_eq!(got.len(), 2, "{got:?}");
    let audit = app.get("/rooms/r/deletions").user(&cast.owner).send();
    let records = audit.ok()["data"].as_array().expect("records").clone();
    for req in &got {
        verify(req);
        assert_eq!(req.path, "/hook");
        assert!(
            req.header("Content-Type")
                .is_some_and(|c| c.starts_with("application/json"))
        );
        assert!(
            !req.body.contains("secret content"),
            "no message content in events"
        );
    }
    let single = got
        .iter()
        .map(Received::json)
        .find(|e| e["data"]["messageID"] == msg.as_str())
        .expect("single event");
    assert_eq!(single["event"], "MESSAGE_DELETED");
    assert_eq!(single["roomID"], "r");
    assert_eq!(single["data"]["room"], "r");
    assert_eq!(single["data"]["deletedCount"], 1);
    assert_eq!(single["data"]["deletedBy"], "owner");
    assert_eq!(single["data"]["reason"], "leaked key");
    let record = records
        .iter()
        .find(|r| r["messageID"] == msg.as_str())
        .expect("audited");
    assert_eq!(
        single["id"], record["_id"],
        "the event ID is the audit record ID"
    );
    assert_eq!(single["data"]["deletedAt"], record["deletedAt"]);
    assert_eq!(single["createdAt"], record["deletedAt"]);
    let clear = got
        .iter()
        .map(Received::json)
        .find(|e| e["data"]["messageID"] == "_all")
        .expect("clear event");
    assert_eq!(clear["data"]["deletedCount"], 1);
    assert_eq!(clear["data"]["deletedBy"], "manager");
    assert!(clear["data"]["reason"].is_null());
}

#[test]
fn failed_attempts_are_retried_with_the_same_event() {
    let receiver = Receiver::start(&[500, 503]);
    let app = app_with(
        Some(receiver.url.clone()),
        fast_retries(ChronoDuration::minutes(5)),
    );
    let cast = app.cast("r");
    let msg = app.say(&cast.member, "r", "x");
    app.delete(&format!("/rooms/r/messages/{msg}"))
        .user(&cast.owner)
        .send()
        .ok();
    let got = receiver.wait_for(3, WAIT);
    assert_eq!(got.len(), 3, "two failures then a success: {got:?}");
    assert!(
        got.windows(2).all(|w| w[0].body == w[1].body),
        "identical body (and id) on every attempt"
    );
    got.iter().for_each(verify);
    let counts = wait_outbox(&app, |c| c.delivered == 1);
    assert_eq!(
        counts,
        OutboxCounts {
            delivered: 1,
            ..OutboxCounts::default()
        }
    );
}

#[test]
fn an_event_is_recorded_as_failed_after_the_retry_window() {
    let receiver = Receiver::start(&[500; 64]);
    let app = app_with(
        Some(receiver.url.clone()),
        fast_retries(ChronoDuration::milliseconds(600)),
    );
    let cast = app.cast("r");
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    let counts = wait_outbox(&app, |c| c.failed == 1);
    assert_eq!(
        counts,
        OutboxCounts {
            failed: 1,
            ..OutboxCounts::default()
        }
    );
    assert!(
        receiver.received().len() >= 2,
        "it was retried before giving up"
    );
}

#[test]
fn without_any_webhook_events_are_marked_done() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    let counts = wait_outbox(&app, |c| c.skipped == 1);
    assert_eq!(
        counts,
        OutboxCounts {
            skipped: 1,
            ..OutboxCounts::default()
        }
    );
}

#[test]
fn a_stuck_receiver_does_not_hold_up_deletions() {
    let receiver = Receiver::start(&[]);
    receiver.hold();
    let app = app_with(Some(receiver.url.clone()), RetryPolicy::default());
    let cast = app.cast("r");
    let ids: Vec<String> = (0..3)
        .map(|i| app.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    app.delete(&format!("/rooms/r/messages/{}", ids[0]))
        .user(&cast.owner)
        .send()
        .ok();
    receiver.wait_for(1, WAIT);
    // The receiver now holds the first delivery open; deletions still answer.
    for id in &ids[1..] {
        app.delete(&format!("/rooms/r/messages/{id}"))
            .user(&cast.owner)
            .send()
            .ok();
    }
    receiver.release();
    assert_eq!(receiver.wait_for(3, WAIT).len(), 3);
}

#[test]
fn two_servers_on_one_database_deliver_each_event_once() {
    let receiver = Receiver::start(&[]);
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url);
    config.webhook_url = Some(receiver.url.clone());
    let first = TestApp::spawn_with(config.clone(), Some(database));
    let second = TestApp::spawn_with(config, None);
    let cast = first.cast("r");
    let ids: Vec<String> = (0..6)
        .map(|i| first.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        app.delete(&format!("/rooms/r/messages/{id}"))
            .user(&cast.owner)
            .send()
            .ok();
    }
    let got = receiver.wait_for(6, WAIT);
    let mut event_ids: Vec<String> = got
        .iter()
        .map(|r| r.json()["id"].as_str().expect("id").to_owned())
        .collect();
    event_ids.sort();
    event_ids.dedup();
    assert_eq!(
        (got.len(), event_ids.len()),
        (6, 6),
        "each of the 6 events exactly once: {got:?}"
    );
    drop(second);
}

/// Starts the real binary with a global webhook on loopback.
fn start_binary(database_url: &str, webhook: &str) -> Binary {
    Binary::start(&[
        ("ROOMWARDEN_DATABASE_URL", database_url),
        ("ROOMWARDEN_API_KEY", API_KEY),
        ("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY),
        ("ROOMWARDEN_WEBHOOK_SECRET", SECRET),
        ("ROOMWARDEN_WEBHOOK_URL", webhook),
        ("ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE", "true"),
    ])
}

#[test]
fn an_event_survives_kill_9_and_is_delivered_after_restart() {
    // Reserve a port for the receiver, and keep nothing listening there for now.
    let port_holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = port_holder.local_addr().expect("addr");
    drop(port_holder);
    let webhook = format!("http://{addr}/hook");
    let database = fresh_database();
    let url = database.url.clone();

    let mut server = start_binary(&url, &webhook);
    let base = server.base.clone();
    let agent = agent();
    let call =
        |method: &str, path: &str, headers: &[(&str, &str)], body: Option<serde_json::Value>| {
            let mut headers: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            if body.is_some() {
                headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
            }
            send_with(
                &agent,
                &base,
                method,
                path,
                &headers,
                body.map(|b| b.to_string()).as_deref(),
            )
        };
    let admin = [("IM-API-KEY", API_KEY)];
    call(
        "POST",
        "/admin/clients",
        &admin,
        Some(json!({"_id": "owner"})),
    )
    .ok();
    call(
        "POST",
        "/rooms",
        &admin,
        Some(json!({"_id": "r", "owner": "owner"})),
    )
    .ok();
    call(
        "POST",
        "/messages",
        &admin,
        Some(json!({"room": "r", "sender": "owner", "message": "x", "messageType": "text"})),
    )
    .ok();
    let deleted = call("DELETE", "/rooms/r/messages/_all", &admin, None);
    assert_eq!(deleted.ok()["deletedCount"], 1);
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");

    let receiver = Receiver::start_on(
        std::net::TcpListener::bind(addr).expect("rebind the reserved port"),
        &[],
    );
    let mut restarted = start_binary(&url, &webhook);
    let base = restarted.base.clone();
    let got = receiver.wait_for(1, Duration::from_secs(40));
    restarted.child.kill().expect("stop");
    let _ = restarted.child.wait();
    assert!(
        !got.is_empty(),
        "the event committed before kill -9 was delivered after restart"
    );
    verify(&got[0]);
    let event = got[0].json();
    assert_eq!(
        (
            event["roomID"].as_str(),
            event["data"]["messageID"].as_str()
        ),
        (Some("r"), Some("_all"))
    );
    let _ = base;
    drop(database);
}
