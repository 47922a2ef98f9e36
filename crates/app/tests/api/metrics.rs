//! `GET /metrics` (docs/api.md §12.3): the Prometheus text format, its series after real
//! traffic, and the bearer token when one is configured.

use crate::events::{app_with, fast_retries};
use crate::receiver::Receiver;
use crate::socket::Socket;
use crate::support::*;
use serde_json::json;
use std::collections::BTreeMap;

const TOKEN: &str = "scrape-token";

/// One scrape, parsed: every sample by its name and labels as written
/// (`name{label="value",...}`), after checking that the text is well-formed exposition
/// format: each sample belongs to a family announced by `# HELP` and `# TYPE` lines, has a
/// valid metric name, and a number for its value.
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut families: Vec<(String, String)> = Vec::new();
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                families.push((name.to_owned(), kind.to_owned()));
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample: series value");
            let name = series.split('{').next().unwrap_or_default();
            assert!(
                name.starts_with("roomwarden_")
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "metric name of {line}"
            );
            if let Some(labels) = series.strip_prefix(name) {
                assert!(
                    labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                    "labels of {line}"
                );
            }
            let (family, kind) = families.last().expect("a sample after its # TYPE");
            let base = match kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or(name),
                _ => name,
            };
            assert_eq!(base, family, "{line} is not in its family");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "{line} twice"
            );
        }
        Self(samples)
    }

    /// The sample `series` (`name{labels}` exactly as served); panics when absent.
    fn value(&self, series: &str) -> f64 {
        *self
            .0
            .get(series)
            .unwrap_or_else(|| panic!("{series} is not served; got {:#?}", self.0.keys()))
    }

    fn get(&self, series: &str) -> Option<f64> {
        self.0.get(series).copied()
    }
}

/// `GET /metrics` with `headers`: the status, content type and body text.
pub(crate) fn fetch(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut builder = ureq::http::Request::builder()
        .method("GET")
        .uri(format!("{}/metrics", app.base));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut res = agent()
        .run(builder.body(()).expect("request"))
        .expect("response");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = res.body_mut().read_to_string().expect("body");
    (res.status().as_u16(), content_type, text)
}

fn scrape(app: &TestApp) -> Scrape {
    let (status, content_type, text) = fetch(app, &[]);
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    Scrape::parse(&text)
}

/// Scrapes until `done` holds (at most [`WAIT`]); returns the last scrape.
fn scrape_until(app: &TestApp, done: impl Fn(&Scrape) -> bool) -> Scrape {
    poll(|| scrape(app), done)
}

#[test]
fn requests_are_counted_by_route_pattern_and_status_never_by_raw_path() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.get("/rooms/r").user(&cast.member).send().ok();
    app.get("/rooms/nowhere")
        .user(&cast.member)
        .send()
        .err(404, "ROOM_NOT_FOUND");
    app.get("/no/such/route").send().err(404, "NOT_FOUND");
    app.req("PATCH", "/rooms/r/messages/m1")
        .api_key()
        .send()
        .err(405, "METHOD_NOT_ALLOWED");
    let scraped = scrape(&app);
    let room = r#"method="GET",route="/rooms/{roomID}""#;
    assert_eq!(
        scraped.value(&format!(
            "roomwarden_http_requests_total{{{room},status=\"200\"}}"
        )),
        1.0
    );
    assert_eq!(
        scraped.value(&format!(
            "roomwarden_http_requests_total{{{room},status=\"404\"}}"
        )),
        1.0
    );
    assert_eq!(
        scraped.value(
            r#"roomwarden_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        scraped.value(
            r#"roomwarden_http_requests_total{method="PATCH",route="/rooms/{roomID}/messages/{messageID}",status="405"}"#
        ),
        1.0,
        "a method the route does not answer: the route's pattern"
    );
    assert_eq!(
        scraped.value(
            r#"roomwarden_http_requests_total{method="POST",route="/admin/clients",status="200"}"#
        ),
        4.0,
        "the cast's four users"
    );
    assert_eq!(
        scraped.value(&format!(
            "roomwarden_http_request_duration_seconds_count{{{room}}}"
        )),
        2.0
    );
    assert_eq!(
        scraped.value(&format!(
            "roomwarden_http_request_duration_seconds_bucket{{{room},le=\"+Inf\"}}"
        )),
        2.0
    );
    assert!(
        scraped
            .0
            .keys()
            .all(|series| !series.contains("nowhere") && !series.contains("/no/such")),
        "raw paths never become labels"
    );
    // The scrape itself is counted by the next one.
    assert_eq!(
        scrape(&app)
            .value(r#"roomwarden_http_requests_total{method="GET",route="/metrics",status="200"}"#),
        1.0
    );
}

#[test]
fn deletions_are_counted_by_kind_with_the_messages_they_deleted_and_their_events() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let said: Vec<String> = (0..6)
        .map(|i| app.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    app.delete(&format!("/rooms/r/messages/{}", said[0]))
        .user(&cast.owner)
        .send()
        .ok();
    app.post("/rooms/r/messages/delete")
        .user(&cast.owner)
        .json(json!({"messageIDs": [said[1], said[2]]}))
        .send()
        .ok();
    app.delete(&format!("/rooms/r/messages/_all?before={}", said[4]))
        .user(&cast.owner)
        .send()
        .ok();
    app.delete("/rooms/r/messages/_all?dryRun=true")
        .user(&cast.owner)
        .send()
        .ok();
    app.delete("/admin/clients/member/messages")
        .api_key()
        .send()
        .ok();
    app.say(&cast.owner, "r", "last");
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();

    let scraped = scrape(&app);
    let deletions =
        |kind: &str| scraped.value(&format!("roomwarden_deletions_total{{kind=\"{kind}\"}}"));
    let messages = |kind: &str| {
        scraped.value(&format!(
            "roomwarden_messages_deleted_total{{kind=\"{kind}\"}}"
        ))
    };
    // A dry run deletes nothing and is not counted.
    for (kind, count, deleted) in [
        ("one", 1.0, 1.0),
        ("bulk", 1.0, 2.0),
        ("filtered", 1.0, 1.0),
        ("purge", 1.0, 2.0),
        ("all", 1.0, 1.0),
        ("retention", 0.0, 0.0),
    ] {
        assert_eq!(
            (deletions(kind), messages(kind)),
            (count, deleted),
            "{kind}"
        );
    }
    // Without a webhook, each deletion's event is written `skipped` (the socket feed reads it).
    for (state, n) in [
        ("pending", 0.0),
        ("delivered", 0.0),
        ("failed", 0.0),
        ("skipped", 5.0),
    ] {
        assert_eq!(
            scraped.value(&format!("roomwarden_outbox_events{{state=\"{state}\"}}")),
            n,
            "{state}"
        );
    }
    assert_eq!(scraped.value("roomwarden_database_up"), 1.0);
    for source in ["clear", "erasure"] {
        // Small deletions remove their rows in their own transaction: nothing is left.
        assert_eq!(
            scraped.value(&format!(
                "roomwarden_purge_backlog_rows{{source=\"{source}\"}}"
            )),
            0.0
        );
        assert_eq!(
            scraped.value(&format!(
                "roomwarden_purge_backlog_jobs{{source=\"{source}\"}}"
            )),
            0.0
        );
    }
}

#[test]
fn webhook_delivery_attempts_are_observed_by_outcome() {
    let receiver = Receiver::start(&[500]);
    let app = app_with(None, fast_retries(chrono::Duration::minutes(5)));
    let cast = app.cast("r");
    app.put("/rooms/r")
        .api_key()
        .json(json!({"webhook": receiver.url}))
        .send()
        .ok();
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    let count = |outcome: &str| {
        format!("roomwarden_webhook_delivery_duration_seconds_count{{outcome=\"{outcome}\"}}")
    };
    // The attempt is observed before its outcome is written, and the database's gauges are
    // reused for a few seconds: wait for both.
    let delivered = r#"roomwarden_outbox_events{state="delivered"}"#;
    let scraped = scrape_until(&app, |s| {
        s.get(&count("delivered")) == Some(1.0) && s.get(delivered) == Some(1.0)
    });
    assert_eq!(scraped.value(&count("retry")), 1.0, "the 500 first");
    assert_eq!(scraped.value(&count("delivered")), 1.0);
    assert_eq!(scraped.value(&count("failed")), 0.0);
    assert_eq!(scraped.value(delivered), 1.0);
}

#[test]
fn the_database_reading_is_reused_for_a_few_seconds_and_served_to_concurrent_scrapes() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let skipped = r#"roomwarden_outbox_events{state="skipped"}"#;
    assert_eq!(scrape(&app).value(skipped), 0.0);
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    // Read again only once the last reading is a few seconds old.
    assert_eq!(scrape(&app).value(skipped), 0.0, "the reading is reused");
    assert_eq!(
        scrape_until(&app, |s| s.get(skipped) == Some(1.0)).value(skipped),
        1.0
    );
    // Many scrapes at once all answer with the database's series (one reads, the others
    // serve its last reading).
    let scrapes: Vec<_> = (0..16)
        .map(|_| {
            let base = app.base.clone();
            std::thread::spawn(move || {
                let mut res = agent()
                    .get(&format!("{base}/metrics"))
                    .call()
                    .expect("response");
                let status = res.status().as_u16();
                (status, res.body_mut().read_to_string().expect("text"))
            })
        })
        .collect();
    for scrape in scrapes {
        let (status, text) = scrape.join().expect("scraped");
        assert_eq!(status, 200);
        assert!(
            text.contains("roomwarden_outbox_events{state=\"skipped\"} 1"),
            "{text}"
        );
    }
}

#[test]
fn socket_and_pool_gauges_are_read_when_scraped() {
    let app = TestApp::spawn();
    let token = app.user("alice");
    let scraped = scrape(&app);
    assert_eq!(scraped.value("roomwarden_socket_connections"), 0.0);
    assert_eq!(scraped.value("roomwarden_db_pool_max_connections"), 10.0);
    let in_use = scraped.value(r#"roomwarden_db_pool_connections{state="in_use"}"#);
    let idle = scraped.value(r#"roomwarden_db_pool_connections{state="idle"}"#);
    assert!(
        in_use + idle <= 10.0 && idle >= 1.0,
        "{in_use} in use, {idle} idle"
    );

    let socket = Socket::connect(&app.base, &token);
    // The socket is registered before it is told `authenticated`.
    assert_eq!(scrape(&app).value("roomwarden_socket_connections"), 1.0);
    drop(socket);
    let after = scrape_until(&app, |s| {
        s.get("roomwarden_socket_connections") == Some(0.0)
    });
    assert_eq!(after.value("roomwarden_socket_connections"), 0.0);
}

#[test]
fn a_configured_token_is_required_as_a_bearer_token() {
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url);
    config.metrics_token = Some(TOKEN.into());
    let app = TestApp::spawn_with(config, Some(database));

    // Enveloped like every error of the API, and checked against the document.
    for res in [
        app.get("/metrics").send(),
        app.get("/metrics")
            .header("Authorization", "Bearer wrong-token")
            .send(),
        app.get("/metrics")
            .header("Authorization", &format!("Bearer {TOKEN}x"))
            .send(),
        app.get("/metrics")
            .header("Authorization", &format!("Basic {TOKEN}"))
            .send(),
        app.get("/metrics").api_key().send(),
    ] {
        res.err(401, "INVALID_TOKEN");
        assert_eq!(
            res.header("WWW-Authenticate"),
            Some(r#"Bearer realm="metrics""#)
        );
    }

    let (status, content_type, text) =
        fetch(&app, &[("Authorization", &format!("Bearer {TOKEN}"))]);
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let scraped = Scrape::parse(&text);
    assert_eq!(
        scraped
            .value(r#"roomwarden_http_requests_total{method="GET",route="/metrics",status="401"}"#),
        5.0
    );
    let (status, _, _) = fetch(&app, &[("Authorization", &format!("bearer {TOKEN}"))]);
    assert_eq!(status, 200, "the scheme is case-insensitive");
}

#[test]
fn without_a_token_anyone_may_scrape() {
    let app = TestApp::spawn();
    let (status, _, text) = fetch(&app, &[("Authorization", "Bearer anything")]);
    assert_eq!(status, 200);
    Scrape::parse(&text);
}
