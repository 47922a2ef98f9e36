//! What a hostile caller tries: answers that repeat huge inputs, filling the idempotency
//! store, guessing keys (docs/api.md §13).

use crate::support::*;
use roomwarden_adapters::testing::Rows;
use serde_json::{Value, json};

/// Largest answer any request of these tests may get, in bytes of JSON.
const SMALL_ANSWER: usize = 4 * 1024;

/// A string of `n` bytes.
fn huge(n: usize) -> String {
    "s".repeat(n)
}

/// The operations of the served document with their method, path and operation.
fn operations(app: &TestApp) -> Vec<(String, String, Value)> {
    let doc = app.get("/openapi.json").send().body;
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let id = op["operationId"].as_str().unwrap_or_default();
            if ["socket", "openapi", "metrics", "health", "ready"].contains(&id) {
                continue;
            }
            ops.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    ops
}

/// The property names of `op`'s JSON body schema, `$ref`s resolved against `doc`.
fn body_fields(doc: &Value, op: &Value) -> Vec<String> {
    let mut schema = &op["requestBody"]["content"]["application/json"]["schema"];
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
        schema = &doc["components"]["schemas"][name];
    }
    schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn no_answer_repeats_more_than_a_short_prefix_of_a_huge_input() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let doc = app.get("/openapi.json").send().body;
    let big_body = huge(1024 * 1024 - 256);
    let big_query = huge(60 * 1024);
    let mut sent = 0;
    for (method, template, op) in operations(&app) {
        let path = template
            .replace("{roomID}", "r")
            .replace("{messageID}", "m")
            .replace("{clientID}", "member")
            .replace("{eventID}", "e");
        let mut requests: Vec<(String, Option<String>)> = Vec::new();
        // Every query parameter with a huge value, and a parameter with a huge name.
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] == "query" {
                let name = param["name"].as_str().expect("name");
                requests.push((format!("{path}?{name}={big_query}"), None));
            }
        }
        requests.push((format!("{path}?{big_query}=1"), None));
        // Every body field with a huge string, and a field with a huge name.
        if op.get("requestBody").is_some() {
            for field in body_fields(&doc, &op) {
                requests.push((path.clone(), Some(json!({ field: big_body }).to_string())));
            }
            requests.push((path.clone(), Some(format!("{{\"{big_body}\": 1}}"))));
        }
        for (target, body) in requests {
            for token in [None, Some(cast.owner.as_str())] {
                let mut req = app.req(&method, &target);
                req = match token {
                    None => req.api_key(),
                    Some(token) => req.user(token),
                };
                if let Some(body) = &body {
                    req = req.raw("application/json", body);
                }
                let res = req.send();
                let size = res.body.to_string().len();
                assert!(
                    size <= SMALL_ANSWER,
                    "{method} {template} ({} byte body): a {} answer of {size} bytes",
                    body.as_ref().map_or(0, String::len),
                    res.status
                );
                sent += 1;
            }
        }
    }
    assert!(
        sent > 100,
        "the document lists the operations ({sent} requests)"
    );
}

#[test]
fn a_hundred_keyed_megabyte_requests_store_less_than_a_megabyte() {
    let app = TestApp::spawn();
    let stranger = app.user("stranger");
    let rows = Rows::open(&app.database_url);
    let (records, before) = rows.idempotency_storage();
    let body = json!({"messageIDs": huge(1024 * 1024 - 64)}).to_string();
    for n in 0..100 {
        let res = app
            .post("/rooms/no-such-room/messages/delete")
            .user(&stranger)
            .header("Idempotency-Key", &format!("big-{n}"))
            .raw("application/json", &body)
            .send();
        res.err(400, "INVALID_BODY");
        assert!(res.body.to_string().len() <= SMALL_ANSWER);
    }
    let (after_records, after) = rows.idempotency_storage();
    assert_eq!(after_records - records, 100, "the answers are stored");
    assert!(
        after - before < 1_000_000,
        "100 keyed megabyte requests stored {} bytes",
        after - before
    );
    // The stored answer replays as it was.
    let replay = app
        .post("/rooms/no-such-room/messages/delete")
        .user(&stranger)
        .header("Idempotency-Key", "big-7")
        .raw("application/json", &body)
        .send();
    replay.err(400, "INVALID_BODY");
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
}

#[test]
fn a_user_holds_at_most_a_thousand_keys_and_is_told_when_one_frees() {
    let app = TestApp::spawn();
    let user = app.user("busy");
    let keyed = |key: &str| {
        app.delete("/rooms/nowhere/messages/m")
            .user(&user)
            .header("Idempotency-Key", key)
            .send()
    };
    for n in 0..1_000 {
        keyed(&format!("k-{n}")).err(404, "ROOM_NOT_FOUND");
    }
    let refused = keyed("one-more");
    refused.err(429, "TOO_MANY_REQUESTS");
    let retry_after: u64 = refused
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(
        (23 * 3600..=24 * 3600).contains(&retry_after),
        "the oldest key frees in about a day: {retry_after}"
    );
    // Held keys still replay, requests without a key still run, other callers are free.
    assert_eq!(keyed("k-3").header("Idempotent-Replayed"), Some("true"));
    app.delete("/rooms/nowhere/messages/m")
        .user(&user)
        .send()
        .err(404, "ROOM_NOT_FOUND");
    app.delete("/rooms/nowhere/messages/m")
        .api_key()
        .header("Idempotency-Key", "one-more")
        .send()
        .err(404, "ROOM_NOT_FOUND");
}

/// `roomwarden_<name>` series of `/metrics` as (labels, value) pairs.
fn series(app: &TestApp, name: &str) -> Vec<(String, f64)> {
    let text = crate::support::agent()
        .get(&format!("{}/metrics", app.base))
        .call()
        .expect("scraped")
        .body_mut()
        .read_to_string()
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with(&format!("roomwarden_{name}")))
        .filter_map(|l| {
            let (labels, value) = l.rsplit_once(' ')?;
            Some((labels.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn wrong_keys_from_one_address_are_refused_unchecked_for_a_while_and_counted() {
    let app = TestApp::spawn();
    let token = app.user("alice");
    for _ in 0..20 {
        app.get("/admin/deletions")
            .header("IM-API-KEY", "guess")
            .send()
            .err(401, "INVALID_API_KEY");
    }
    // Out of budget: refused before the key is looked at, even the right one.
    let refused = app
        .get("/admin/deletions")
        .header("IM-API-KEY", "guess")
        .send();
    refused.err(429, "TOO_MANY_REQUESTS");
    assert!(refused.header("Retry-After").is_some());
    app.get("/admin/deletions")
        .api_key()
        .send()
        .err(429, "TOO_MANY_REQUESTS");
    app.get("/rooms/nowhere")
        .header("IM-CLIENT-KEY", CLIENT_KEY)
        .header("IM-Authorization", &token)
        .send()
        .err(429, "TOO_MANY_REQUESTS");
    // A token without the keys is not a key guess.
    let me = app.get("/me").header("IM-Authorization", &token).send();
    assert_ne!(me.status, 429, "{:#}", me.body);
    let failures = series(&app, "credential_failures_total");
    assert!(
        failures
            .iter()
            .any(|(labels, v)| labels.contains("api_key") && (*v - 20.0).abs() < f64::EPSILON),
        "{failures:?}"
    );
    let refusals = series(&app, "credential_refusals_total");
    assert!(refusals.iter().any(|(_, v)| *v >= 3.0), "{refusals:?}");
    // The budget refills: one wrong key a second.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    app.get("/admin/deletions").api_key().send().ok();
}

#[test]
fn the_key_guard_can_be_turned_off_and_spares_routes_without_keys() {
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url);
    config.key_guard = false;
    let app = TestApp::spawn_with(config, Some(database));
    for _ in 0..30 {
        app.get("/admin/deletions")
            .header("IM-API-KEY", "guess")
            .send()
            .err(401, "INVALID_API_KEY");
    }
    let guarded = TestApp::spawn();
    for _ in 0..30 {
        guarded
            .get("/admin/deletions")
            .header("IM-API-KEY", "guess")
            .send();
    }
    // Routes that take no key answer as ever, whatever headers come along.
    assert_eq!(
        guarded
            .get("/health")
            .header("IM-API-KEY", "guess")
            .send()
            .status,
        200
    );
}
