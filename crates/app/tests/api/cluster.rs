//! Cross-node tests on a MariaDB Galera cluster (docs/operations.md, "Running on a Galera
//! cluster"): real server processes given the cluster's host list.
//!
//! They run when `ROOMWARDEN_TEST_GALERA_URL` names the cluster's nodes
//! (`mysql://root@127.0.0.1:3307,127.0.0.1:3308,127.0.0.1:3309`, as `tools/galera.sh start`
//! prints it) and skip with a note otherwise; `ROOMWARDEN_REQUIRE_GALERA=1` (set by CI) makes
//! a missing URL fail. Each test has a database of its own. The failover test kills a node,
//! so it runs only when `ROOMWARDEN_TEST_GALERA_FAILOVER=1`, alone (`.ci/run` runs it in an
//! invocation of its own, after the others).

use crate::receiver::Receiver;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// The cluster's host list, or `None` (the test then skips).
fn cluster() -> Option<String> {
    let url = std::env::var("ROOMWARDEN_TEST_GALERA_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("ROOMWARDEN_REQUIRE_GALERA").as_deref() != Ok("1"),
            "ROOMWARDEN_REQUIRE_GALERA=1 but ROOMWARDEN_TEST_GALERA_URL is not set"
        );
        eprintln!("skipped: ROOMWARDEN_TEST_GALERA_URL is not set (see tools/galera.sh)");
    }
    url
}

/// A fresh database on the cluster: its URL with the hosts in list order, and with the
/// list rotated so that the second node comes first (a process given it writes and reads
/// through another node than the others).
fn fresh(cluster: &str) -> (String, String) {
    let name = &roomwarden_domain::auth::generate_secret()[..12];
    let (scheme_user, hosts) = cluster
        .trim_end_matches('/')
        .rsplit_once('@')
        .expect("mysql://user@hosts");
    let mut list: Vec<&str> = hosts.split(',').collect();
    let in_order = format!("{scheme_user}@{}/rw_test_{name}", list.join(","));
    list.rotate_left(1);
    let rotated = format!("{scheme_user}@{}/rw_test_{name}", list.join(","));
    (in_order, rotated)
}

/// A server process on `url`, with webhooks to loopback allowed.
fn process(url: &str) -> TestApp {
    TestApp::binary_on(
        url.to_owned(),
        None,
        &[("ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE", "true")],
    )
}

/// The statuses of deleting `id` in room `r` through every app at once.
fn delete_at_once(apps: &[&TestApp], token: &str, id: &str) -> Vec<u16> {
    let barrier = Barrier::new(apps.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = apps
            .iter()
            .map(|app| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let res = app
                        .delete(&format!("/rooms/r/messages/{id}"))
                        .user(token)
                        .send();
                    if res.status >= 500 {
                        eprintln!("{id}: {} {}", res.status, res.body);
                    }
                    res.status
                })
            })
            .collect();
        let mut statuses: Vec<u16> = handles
            .into_iter()
            .map(|h| h.join().expect("joined"))
            .collect();
        statuses.sort_unstable();
        statuses
    })
}

#[test]
fn the_same_message_deleted_through_two_processes_at_once_is_one_200_and_one_404() {
    let Some(cluster) = cluster() else { return };
    let (url, rotated) = fresh(&cluster);
    let a = process(&url);
    let b = process(&url);
    // Through another node: two writers, whose conflicts the cluster certifies.
    let c = process(&rotated);
    let cast = a.cast("r");
    let rounds: [(&TestApp, &TestApp, bool); 2] = [(&a, &b, true), (&a, &c, false)];
    let mut deleted = 0;
    for (first, second, one_writer) in rounds {
        let ids: Vec<String> = (0..12)
            .map(|i| a.say(&cast.member, "r", &format!("m{i}")))
            .collect();
        // With one writer (the supported topology): exactly one 200 and one 404, never a
        // 5xx. With two writers, never two 200s either, but a deletion that keeps losing
        // the certification race may give up with a 503 after its retries (docs/operations.md,
        // "Why one writer"); its message is deleted by the other one all the same.
        let settled = |statuses: Vec<u16>| {
            if one_writer {
                assert_eq!(statuses, [200, 404]);
            } else {
                assert!(matches!(statuses[..], [200, 404 | 503]), "{statuses:?}");
            }
        };
        // One pair at a time, then eight pairs at once.
        for id in &ids[..4] {
            settled(delete_at_once(&[first, second], &cast.owner, id));
        }
        std::thread::scope(|s| {
            for id in &ids[4..] {
                let (owner, settled) = (&cast.owner, &settled);
                s.spawn(move || settled(delete_at_once(&[first, second], owner, id)));
            }
        });
        deleted += ids.len();
        let page = a
            .get("/rooms/r/messages/v3?limit=1")
            .user(&cast.member)
            .send();
        assert_eq!(page.ok()["totalCount"], 0, "every message deleted");
    }
    let records = a.get("/rooms/r/deletions?limit=100").api_key().send();
    assert_eq!(
        records.ok()["data"].as_array().map(Vec::len),
        Some(deleted),
        "one record per deleted message"
    );
    assert_eq!(
        a.get("/rooms/r/deletions/verify").api_key().send().ok()["valid"],
        true,
        "one chain, however the writers raced"
    );
}

/// Sends through `sender_app` until `stop`, counting the acknowledged sends.
fn keep_sending(sender_app: &TestApp, token: &str, room: &str, stop: &Mutex<bool>) -> u64 {
    let mut sent = 0;
    while !*stop.lock().expect("stop") {
        let res = sender_app
            .post(&format!("/rooms/{room}/message"))
            .user(token)
            .json(json!({"message": "spam"}))
            .send();
        if res.status == 200 {
            sent += 1;
        }
    }
    sent
}

/// Every stored row of `room` is counted by its `totalCount`, once the purge is done.
fn assert_counts_match_rows(app: &TestApp, token: &str, room: &str) -> u64 {
    let rows = roomwarden_adapters::testing::Rows::open(&app.database_url);
    let listed = |app: &TestApp| {
        app.get(&format!("/rooms/{room}/messages/v3?limit=1"))
            .user(token)
            .send()
            .ok()["totalCount"]
            .as_u64()
            .expect("totalCount")
    };
    let (stored, total) = poll(
        || (rows.stored(room, None), listed(app)),
        |(stored, total)| u64::try_from(*stored).ok() == Some(*total),
    );
    assert_eq!(
        u64::try_from(stored).ok(),
        Some(total),
        "room {room}: {stored} rows stored, {total} counted"
    );
    total
}

/// What the audit records of `room` say was deleted, in all.
fn audited(app: &TestApp, room: &str) -> u64 {
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/rooms/{room}/deletions?limit=100&before={c}"),
            None => format!("/rooms/{room}/deletions?limit=100"),
        };
        let page = app.get(&path).api_key().send().ok().clone();
        let data = page["data"].as_array().expect("records").clone();
        total += data
            .iter()
            .map(|r| r["deletedCount"].as_u64().unwrap_or(1))
            .sum::<u64>();
        match data.last().and_then(|r| r["_id"].as_str()) {
            Some(last) if data.len() == 100 => cursor = Some(last.to_owned()),
            _ => return total,
        }
    }
}

/// Clears and user purges through `moderator` while the spammer sends through `spammer`:
/// every clear's and purge's count is exact, every removed row has its audit record, and the
/// room's count matches its rows. Returns how many moderation calls answered 503 (only
/// allowed when the two processes write through different nodes).
fn moderate_during_a_spam_wave(moderator: &TestApp, spammer_app: &TestApp) -> u64 {
    let owner = moderator.user("owner");
    let spammer = moderator.user("spammer");
    moderator.room("r", "owner", &[], &["spammer"]);
    let stop = Mutex::new(false);
    let (sent, answered, refused) = std::thread::scope(|s| {
        let sender = s.spawn(|| keep_sending(spammer_app, &spammer, "r", &stop));
        let mut answered = 0_u64;
        let mut refused = 0_u64;
        for round in 0..16 {
            std::thread::sleep(Duration::from_millis(60));
            let res = if round % 2 == 0 {
                moderator
                    .delete("/rooms/r/messages/_all")
                    .user(&owner)
                    .send()
            } else {
                moderator
                    .delete("/admin/clients/spammer/messages")
                    .api_key()
                    .send()
            };
            match res.status {
                200 => answered += res.body["result"]["deletedCount"].as_u64().unwrap_or(0),
                503 => {
                    assert!(
                        res.body["RC"].as_i64().is_some_and(|rc| rc != 0),
                        "enveloped: {}",
                        res.body
                    );
                    refused += 1;
                }
                other => panic!("round {round}: {other} {}", res.body),
            }
        }
        *stop.lock().expect("stop") = true;
        (sender.join().expect("sender"), answered, refused)
    });
    let left = assert_counts_match_rows(moderator, &owner, "r");
    assert_eq!(
        answered + left,
        sent,
        "{sent} sent = {answered} reported deleted + {left} left"
    );
    assert_eq!(
        audited(moderator, "r"),
        answered,
        "every removed row audited"
    );
    refused
}

#[test]
fn clears_and_purges_racing_with_sends_through_another_process_give_exact_counts() {
    let Some(cluster) = cluster() else { return };
    let (url, _) = fresh(&cluster);
    let moderator = process(&url);
    let sender = process(&url);
    let refused = moderate_during_a_spam_wave(&moderator, &sender);
    assert_eq!(refused, 0, "one writer: moderation is never starved");
}

#[test]
fn clears_and_purges_racing_with_sends_through_another_node_leave_nothing_partial() {
    let Some(cluster) = cluster() else { return };
    let (url, rotated) = fresh(&cluster);
    let moderator = process(&url);
    // Sends through another node: brute-force aborts of the moderator's transactions.
    let sender = process(&rotated);
    let refused = moderate_during_a_spam_wave(&moderator, &sender);
    eprintln!("two writers: {refused} of 16 moderation calls answered 503");
}

#[test]
fn every_deletion_through_either_process_is_one_webhook_event_and_reaches_a_socket_on_the_other() {
    let Some(cluster) = cluster() else { return };
    let (url, rotated) = fresh(&cluster);
    let receiver = Receiver::start(&[]);
    let a = process(&url);
    let b = process(&rotated);
    let cast = a.cast("r");
    a.put("/rooms/r")
        .api_key()
        .json(json!({"webhook": receiver.url}))
        .send()
        .ok();
    let ids: Vec<String> = (0..40)
        .map(|i| a.say(&cast.member, "r", &format!("m{i}")))
        .collect();

    // A socket on the other process sees a deletion within a second.
    let mut socket = crate::socket::Socket::connect(&b.base, &cast.member);
    let started = Instant::now();
    a.delete(&format!("/rooms/r/messages/{}", ids[0]))
        .user(&cast.owner)
        .send()
        .ok();
    let frame: Value = loop {
        let event = socket.next_event();
        if event["event"] == "messageDeleted" {
            break event;
        }
    };
    assert_eq!(frame["data"]["messageID"], ids[0].as_str(), "{frame}");
    let latency = started.elapsed();
    assert!(latency < Duration::from_secs(1), "{latency:?}");

    // The rest through both processes, in turns.
    for (i, id) in ids[1..].iter().enumerate() {
        let app = if i % 2 == 0 { &a } else { &b };
        app.delete(&format!("/rooms/r/messages/{id}"))
            .user(&cast.owner)
            .send()
            .ok();
    }
    let received = receiver.wait_for(ids.len(), Duration::from_secs(30));
    let mut per_message: BTreeMap<String, usize> = BTreeMap::new();
    for event in &received {
        let body = event.json();
        *per_message
            .entry(
                body["data"]["messageID"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    // Duplicates would arrive late: give them a moment.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.received().len(), ids.len(), "no duplicates");
    let expected: BTreeMap<String, usize> = ids.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(per_message, expected);
}

#[test]
fn a_read_through_another_node_never_shows_a_message_after_its_deletion_answered() {
    let Some(cluster) = cluster() else { return };
    let (url, rotated) = fresh(&cluster);
    let writer = process(&url);
    let reader = process(&rotated);
    let cast = writer.cast("r");
    for i in 0..60 {
        let id = writer.say(&cast.member, "r", &format!("m{i}"));
        writer
            .delete(&format!("/rooms/r/messages/{id}"))
            .user(&cast.owner)
            .send()
            .ok();
        let page = reader
            .get("/rooms/r/messages/v3?limit=5")
            .user(&cast.member)
            .send()
            .ok()
            .clone();
        let shown: BTreeSet<&str> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|m| m["_id"].as_str())
            .collect();
        assert!(
            !shown.contains(id.as_str()),
            "deleted {id} still shown: {page}"
        );
    }
}

/// Runs `tools/galera.sh` with `args` (the cluster's directory and ports come from the
/// environment, as for the script's start).
fn galera(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/galera.sh");
    let status = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .status()
        .expect("galera.sh runs");
    assert!(status.success(), "galera.sh {args:?} failed");
}

/// One deletion's answers, retried (with its `Idempotency-Key`) until it is settled.
#[derive(Debug, Default)]
struct Outcome {
    /// Statuses and when they came, in order.
    answers: Vec<(Instant, u16, String)>,
}

#[test]
fn a_killed_writer_node_fails_over_without_losing_an_acknowledged_deletion() {
    let Some(cluster) = cluster() else { return };
    if std::env::var("ROOMWARDEN_TEST_GALERA_FAILOVER").as_deref() != Ok("1") {
        eprintln!("skipped: kills a node; set ROOMWARDEN_TEST_GALERA_FAILOVER=1 to run it alone");
        return;
    }
    let (url, _) = fresh(&cluster);
    let a = process(&url);
    let b = process(&url);
    let cast = a.cast("r");
    let ids: Vec<String> = (0..240)
        .map(|i| a.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    let queue = Arc::new(Mutex::new(ids.clone()));
    let outcomes: Arc<Mutex<BTreeMap<String, Outcome>>> = Arc::default();
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    std::thread::scope(|s| {
        for worker in 0..4 {
            let app = if worker % 2 == 0 { &a } else { &b };
            let (queue, outcomes, owner) = (&queue, &outcomes, &cast.owner);
            s.spawn(move || {
                loop {
                    let Some(id) = queue.lock().expect("queue").pop() else {
                        return;
                    };
                    let key = format!("kill-{id}");
                    let give_up = Instant::now() + Duration::from_secs(90);
                    loop {
                        let res = app
                            .delete(&format!("/rooms/r/messages/{id}"))
                            .user(owner)
                            .header("Idempotency-Key", &key)
                            .send();
                        let code = res.body["error"]["code"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        outcomes
                            .lock()
                            .expect("outcomes")
                            .entry(id.clone())
                            .or_default()
                            .answers
                            .push((Instant::now(), res.status, code));
                        if res.status < 500 && res.status != 409 {
                            break;
                        }
                        assert!(Instant::now() < give_up, "{id} never settled");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(700));
        galera(&["kill", "1"]);
        *killed_at.lock().expect("killed") = Some(Instant::now());
    });
    let killed = killed_at.lock().expect("killed").expect("killed");
    let outcomes = outcomes.lock().expect("outcomes");

    // Every answer is a deletion (200), an already-deleted message after an uncertain
    // commit (404), a key still in flight (409) or an enveloped 503.
    let mut last_failure = None;
    let mut first_success_after = None;
    for (id, outcome) in outcomes.iter() {
        for (at, status, code) in &outcome.answers {
            match status {
                200 | 404 | 409 => {}
                503 => {
                    assert!(
                        code == "SERVICE_UNAVAILABLE" || code == "COMMIT_UNCERTAIN",
                        "{id}: 503 {code}"
                    );
                    last_failure = last_failure.max(Some(*at));
                }
                other => panic!("{id}: {other} {code}"),
            }
            if *status == 200 && *at > killed {
                first_success_after = first_success_after.min(Some(*at)).or(Some(*at));
            }
        }
        let settled = outcome.answers.last().map(|a| a.1);
        assert!(matches!(settled, Some(200 | 404)), "{id}: {outcome:?}");
        if settled == Some(404) {
            assert!(
                outcome.answers.iter().any(|a| a.1 == 503),
                "{id}: 404 without an uncertain answer first: {outcome:?}"
            );
        }
    }
    let failover = first_success_after.map(|t| t.duration_since(killed));
    let outage = last_failure.map(|t| t.saturating_duration_since(killed));
    eprintln!("failover: first success {failover:?} after the kill; last 503 {outage:?} after it");
    assert!(
        failover.is_some_and(|f| f < Duration::from_secs(20)),
        "service resumed on its own: {failover:?}"
    );
    assert!(
        outage.is_none_or(|o| o < Duration::from_secs(20)),
        "503s only during the failover: {outage:?}"
    );

    // The processes show the move in their metrics.
    let hosts: Vec<&str> = cluster
        .rsplit_once('@')
        .expect("hosts")
        .1
        .trim_end_matches('/')
        .split(',')
        .collect();
    let writer_is = |app: &TestApp, host: &str| {
        let (_, _, text) = crate::metrics::fetch(app, &[]);
        text.contains(&format!("roomwarden_db_writer{{node=\"{host}\"}} 1"))
            && !text.contains("roomwarden_db_writer_changes_total 0")
    };
    assert!(
        writer_is(&a, hosts[1]) && writer_is(&b, hosts[1]),
        "both on node 2"
    );

    // Node 1 back; it rejoins, and the processes return to it (first in the list).
    galera(&["restart", "1"]);
    let returned = poll(
        || writer_is(&a, hosts[0]) && writer_is(&b, hosts[0]),
        |back| *back,
    );
    assert!(returned, "both back on node 1");
    let after = a.say(&cast.member, "r", "after the failover");
    poll(
        || {
            a.delete(&format!("/rooms/r/messages/{after}"))
                .user(&cast.owner)
                .send()
                .status
        },
        |status| *status == 200 || *status == 404,
    );
    // No acknowledged deletion reappears, on any node.
    let (scheme_user, hosts) = cluster.rsplit_once('@').expect("hosts");
    let name = url.rsplit_once('/').expect("db").1;
    for host in hosts.trim_end_matches('/').split(',') {
        let rows =
            roomwarden_adapters::testing::Rows::open(&format!("{scheme_user}@{host}/{name}"));
        assert_eq!(
            rows.stored("r", None),
            0,
            "on {host}: every message deleted"
        );
    }
}
