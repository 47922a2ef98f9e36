//! What a real database cannot easily produce: storage failures through mocked ports, panics,
//! and the process-level behaviour of the real binary.

use crate::support::*;
use roomwarden::state::Ports;
use roomwarden_domain::error::StoreError;
use roomwarden_domain::ports::{
    MockAuditStore, MockClientStore, MockEventLog, MockIdempotencyStore, MockMessageStore,
    MockRoomStore,
};
use std::net::TcpListener;
use std::sync::Arc;

/// The real routes over mocked ports: the rooms port given, nothing else expected.
fn over_mocks(rooms: MockRoomStore, readiness: Result<(), &'static str>) -> TestApp {
    TestApp::over_ports(Ports {
        rooms: Arc::new(rooms),
        readiness: Arc::new(move || {
            readiness.map_err(|e| StoreError::Unavailable(anyhow::anyhow!(e)))
        }),
        ..over_mocks_ports()
    })
}

/// Ports of mocks that expect nothing, and a store that is ready.
fn over_mocks_ports() -> Ports {
    Ports {
        clients: Arc::new(MockClientStore::new()),
        rooms: Arc::new(MockRoomStore::new()),
        messages: Arc::new(MockMessageStore::new()),
        audit: Arc::new(MockAuditStore::new()),
        idempotency: Arc::new(MockIdempotencyStore::new()),
        events: Arc::new(MockEventLog::new()),
        reports: Arc::new(roomwarden_domain::ports::MockReportStore::new()),
        readiness: Arc::new(|| Ok(())),
        webhooks: Arc::new(roomwarden_adapters::AddressPolicy::default()),
        sessions: Ports::without_sessions(),
        clock: Arc::new(roomwarden_domain::time::SystemClock),
    }
}

fn rooms_failing(err: fn() -> StoreError) -> MockRoomStore {
    let mut rooms = MockRoomStore::new();
    rooms.expect_get_room().returning(move |_| Err(err()));
    rooms
}

#[test]
fn an_unreachable_store_is_a_503_envelope() {
    let app = over_mocks(
        rooms_failing(|| StoreError::Unavailable(anyhow::anyhow!("connection refused"))),
        Ok(()),
    );
    let res = app.get("/rooms/r").api_key().send();
    res.err(503, "SERVICE_UNAVAILABLE");
    assert_eq!(res.body["RM"], "Service unavailable");
}

#[test]
fn any_other_store_failure_is_a_500_envelope_without_details() {
    let app = over_mocks(
        rooms_failing(|| StoreError::Internal(anyhow::anyhow!("syntax error near SELECT"))),
        Ok(()),
    );
    let res = app.get("/rooms/r").api_key().send();
    res.err(500, "INTERNAL_ERROR");
    assert!(
        !res.body.to_string().contains("SELECT"),
        "no internals leak: {}",
        res.body
    );
}

#[test]
fn a_panicking_use_case_is_a_500_envelope_and_the_server_survives() {
    let mut rooms = MockRoomStore::new();
    rooms
        .expect_get_room()
        .returning(|_| panic!("bug in storage"));
    let app = over_mocks(rooms, Ok(()));
    app.get("/rooms/r")
        .api_key()
        .send()
        .err(500, "INTERNAL_ERROR");
    app.get("/rooms/r")
        .api_key()
        .send()
        .err(500, "INTERNAL_ERROR");
    assert_eq!(app.get("/health").send().status, 200);
}

#[test]
fn readiness_reports_the_store() {
    let app = over_mocks(MockRoomStore::new(), Err("down"));
    app.get("/ready").send().err(503, "SERVICE_UNAVAILABLE");
    assert_eq!(app.get("/health").send().status, 200);
}

#[actix_web::test]
async fn a_panic_in_a_handler_becomes_an_enveloped_500() {
    use actix_web::{App, test, web};
    async fn boom() -> &'static str {
        panic!("handler bug")
    }
    let app = test::init_service(
        App::new().service(
            web::resource("/boom")
                .wrap(actix_web::middleware::from_fn(
                    roomwarden::middleware::catch_panic,
                ))
                .to(boom),
        ),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/boom").to_request()).await;
    assert_eq!(res.status().as_u16(), 500);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
}

fn binary() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_roomwarden"))
}

#[test]
fn bad_configuration_fails_start_up_with_one_line() {
    for (var, value) in [
        ("ROOMWARDEN_BIND", "nowhere"),
        ("ROOMWARDEN_DATABASE_URL", "oracle://x"),
        ("ROOMWARDEN_TOKEN_TTL_DAYS", "-1"),
        ("ROOMWARDEN_API_KEY", "a"),
        ("ROOMWARDEN_CLIENT_KEY", "a"),
        ("ROOMWARDEN_METRICS_TOKEN", "a"),
        (
            "ROOMWARDEN_API_KEY",
            "0000000000000000000000000000000000000000",
        ),
    ] {
        let out = binary()
            .env(var, value)
            .env("RUST_LOG", "off")
            .output()
            .expect("ran");
        assert!(!out.status.success(), "{var}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{var}: {stderr}");
        assert!(
            stderr.starts_with("roomwarden: ") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

#[test]
fn an_unreachable_database_fails_start_up_with_one_line() {
    if !cfg!(feature = "mysql") {
        return; // only a network database can be unreachable
    }
    let out = binary()
        .env("ROOMWARDEN_DATABASE_URL", "mysql://root@127.0.0.1:1/none")
        .env("RUST_LOG", "off")
        .output()
        .expect("ran");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot connect to the database"),
        "{stderr}"
    );
}

#[test]
fn first_start_prints_generated_keys_once_and_keys_prints_them_again() {
    let database = fresh_database();
    let url = database.url.clone();
    let run = |args: &[&str]| {
        let mut cmd = binary();
        cmd.args(args)
            .env("ROOMWARDEN_DATABASE_URL", &url)
            .env("ROOMWARDEN_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "off");
        cmd
    };
    let first = run(&["keys"]).output().expect("ran");
    assert!(first.status.success());
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    let key = text
        .lines()
        .find(|l| l.contains("IM-API-KEY"))
        .and_then(|l| l.split_whitespace().last())
        .expect("api key shown");
    assert_eq!(key.len(), 64);
    let again = String::from_utf8_lossy(&run(&["keys"]).output().expect("ran").stdout).into_owned();
    assert_eq!(text, again, "stored keys are reused");

    // The server itself, started on a database whose keys exist already, prints no banner;
    // it stops gracefully on SIGTERM.
    let server = run(&[])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawned");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = server.wait_with_output().expect("exited");
    assert!(
        out.status.success(),
        "graceful exit on SIGTERM: {:?}",
        out.status
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(key),
        "keys are printed only on the start that generates them"
    );
    drop(database);
}

/// A TCP forwarder to MySQL that can be cut and restored, to simulate a database outage,
/// or paused (a black hole: connections stay open, nothing is forwarded) and resumed.
struct Outage {
    port: u16,
    target: std::net::SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
    paused: Arc<std::sync::atomic::AtomicBool>,
    streams: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    tripwire: Tripwire,
}

/// What a relay towards the database pauses on: the first chunk containing these bytes.
type Tripwire = Arc<std::sync::Mutex<Option<Vec<u8>>>>;

/// Copies `from` to `to`, holding back what it reads while `paused` is set; a chunk that
/// contains the armed `tripwire` sets `paused` (once) and is held back too.
fn relay(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    paused: &std::sync::atomic::AtomicBool,
    tripwire: Option<&Tripwire>,
) {
    use std::io::{Read, Write};
    let mut buf = [0_u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(wire) = tripwire {
            let mut armed = wire.lock().expect("lock");
            if armed
                .as_ref()
                .is_some_and(|p| buf[..n].windows(p.len()).any(|w| w == p.as_slice()))
            {
                *armed = None;
                paused.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        while paused.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Outage {
    fn forward(port: u16, target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        // A proxy cut just before on `port` lets go of it once its accepting thread sees
        // the cut: until then, binding it again fails.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                bound => break bound.expect("bind proxy"),
            }
        };
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let streams: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let tripwire: Tripwire = Arc::default();
        let (flag, open, hold) = (Arc::clone(&stop), Arc::clone(&streams), Arc::clone(&paused));
        let wire = Arc::clone(&tripwire);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let (Ok(client), Ok(server)) = (client, std::net::TcpStream::connect(target))
                else {
                    continue;
                };
                let pairs = [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ];
                open.lock().expect("lock").extend([client, server]);
                for (towards_database, (from, to)) in [true, false].into_iter().zip(pairs) {
                    if let (Ok(from), Ok(to)) = (from, to) {
                        let hold = Arc::clone(&hold);
                        let wire = towards_database.then(|| Arc::clone(&wire));
                        std::thread::spawn(move || relay(from, to, &hold, wire.as_ref()));
                    }
                }
            }
        });
        Self {
            port,
            target,
            stop,
            paused,
            streams,
            tripwire,
        }
    }

    /// Pauses (as [`Outage::pause`]) when a statement containing `pattern` is sent.
    fn pause_on(&self, pattern: &str) {
        *self.tripwire.lock().expect("lock") = Some(pattern.as_bytes().to_vec());
    }

    /// Whether the armed statement was sent (and held back).
    fn tripped(&self) -> bool {
        self.tripwire.lock().expect("lock").is_none()
    }

    /// Stops forwarding in both directions while keeping every connection open.
    fn pause(&self) {
        self.paused
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forwards again, including what was held back.
    fn resume(&self) {
        self.paused
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Cuts every connection and stops accepting.
    fn cut(self) -> (u16, std::net::SocketAddr) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port)); // unblock accept
        for stream in self.streams.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        (self.port, self.target)
    }
}

/// Waits (at most a minute) until `/ready` answers 200 again.
fn wait_until_ready(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let ready = app.get("/ready").send();
        if ready.status == 200 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not recover: {:#}",
            ready.body
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The app on a fresh MySQL database reached through an [`Outage`] proxy; `None` without
/// MySQL (these tests need a network database and run in the MySQL suite).
fn app_behind_proxy(name: &str) -> Option<(TestApp, Outage)> {
    let server = std::env::var("ROOMWARDEN_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    use std::net::ToSocketAddrs;
    let hostport = server
        .trim_start_matches("mysql://")
        .rsplit('@')
        .next()
        .expect("host")
        .trim_end_matches('/')
        .split(',')
        .next()
        .expect("the first host of a list")
        .to_owned();
    let target = hostport
        .to_socket_addrs()
        .expect("resolves")
        .next()
        .expect("address");
    let proxy = Outage::forward(0, target);
    let database = roomwarden_adapters::testing::FreshDatabase::labelled(name);
    let user = server
        .trim_start_matches("mysql://")
        .split('@')
        .next()
        .expect("user")
        .to_owned();
    // The fresh database, reached through the proxy.
    let fresh_name = database.url.rsplit('/').next().expect("a database name");
    let url = format!("mysql://{user}@127.0.0.1:{}/{fresh_name}", proxy.port);
    Some((TestApp::spawn_with(test_config(url), Some(database)), proxy))
}

#[test]
fn a_database_outage_is_503_and_the_server_recovers_by_itself() {
    let Some((app, proxy)) = app_behind_proxy("outage") else {
        return;
    };
    app.user("alice");
    assert_eq!(app.get("/ready").send().status, 200);

    let (port, target) = proxy.cut();
    app.post("/admin/clients")
        .api_key()
        .json(serde_json::json!({"_id": "bob"}))
        .send()
        .err(503, "SERVICE_UNAVAILABLE");
    app.get("/ready").send().err(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        app.get("/health").send().status,
        200,
        "the process itself is up"
    );

    let _restored = Outage::forward(port, target);
    wait_until_ready(&app);
    app.post("/admin/clients")
        .api_key()
        .json(serde_json::json!({"_id": "bob"}))
        .send()
        .ok();
}

/// Closes every connection the server holds to the database (idle in its pool or not), as
/// a database restart or a dropped network does, and forwards again at once.
fn drop_every_connection(proxy: Outage) -> Outage {
    let (port, target) = proxy.cut();
    Outage::forward(port, target)
}

#[test]
fn requests_after_the_database_closed_every_connection_run_on_new_ones() {
    let Some((app, proxy)) = app_behind_proxy("closed_idle") else {
        return;
    };
    let token = app.user("alice");
    app.room("r", "alice", &[], &[]);
    app.say(&token, "r", "one");
    // A checkout sends nothing to the database: the first statement of each request below
    // meets a closed connection, and the request runs on a new one instead of failing.
    // Each is the first request after its own closing.
    let proxy = drop_every_connection(proxy);
    // With an `Idempotency-Key`: the key's claim (a write) is its first statement.
    let cleared = keyed_clear(&app, "after-close");
    assert_eq!(cleared.ok()["deletedCount"], 1);
    // Without a key, by the API key: the deletion's `BEGIN` is its first statement. (Three
    // times: a background worker that happens to meet a closed connection first makes the
    // pool try the others before this request gets one.)
    let mut proxy = proxy;
    for round in 0..3 {
        app.say(&token, "r", "two");
        proxy = drop_every_connection(proxy);
        let cleared = app.delete("/rooms/r/messages/_all").api_key().send();
        assert_eq!(cleared.ok()["deletedCount"], 1, "round {round}");
    }
    let proxy = drop_every_connection(proxy);
    // A read: the token's lookup.
    let page = app.get("/rooms/r/messages/v3").user(&token).send();
    assert_eq!(page.ok()["totalCount"], 0);
    // Readiness: its probe (three times, as the deletions).
    let mut proxy = proxy;
    for round in 0..3 {
        proxy = drop_every_connection(proxy);
        assert_eq!(app.get("/ready").send().status, 200, "round {round}");
    }
    let _proxy = drop_every_connection(proxy);
    // A write: the token's lookup, then the send's transaction.
    app.say(&token, "r", "after the close");
    // The closed connections were discarded, not pooled again.
    for _ in 0..12 {
        app.get("/rooms/r/messages/v3").user(&token).send().ok();
    }
}

#[test]
fn a_database_that_stops_answering_gives_timely_503s_and_the_server_recovers() {
    let Some((app, proxy)) = app_behind_proxy("blackhole") else {
        return;
    };
    let token = app.user("alice");
    app.room("r", "alice", &[], &[]);
    assert_eq!(app.get("/ready").send().status, 200);

    proxy.pause();
    // More requests than pooled connections, all at once: those holding a connection and
    // those waiting for one must each answer, with the envelope, instead of hanging for
    // the whole outage (which lasts until every one has answered). The client gives up
    // after 30 s, so a hang fails the test.
    let base = app.base.clone();
    let requests: Vec<_> = (0..14)
        .map(|i| {
            let (base, token) = (base.clone(), token.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(std::time::Duration::from_secs(30)))
                    .build()
                    .into();
                let user = [
                    ("IM-CLIENT-KEY".to_owned(), CLIENT_KEY.to_owned()),
                    ("IM-Authorization".to_owned(), token),
                    ("Content-Type".to_owned(), "application/json".to_owned()),
                ];
                match i % 3 {
                    0 => send_with(&agent, &base, "GET", "/ready", &[], None),
                    1 => send_with(&agent, &base, "GET", "/rooms/r/messages/v3", &user, None),
                    _ => send_with(
                        &agent,
                        &base,
                        "POST",
                        "/rooms/r/message",
                        &user,
                        Some(r#"{"message":"x"}"#),
                    ),
                }
            })
        })
        .collect();
    for request in requests {
        request
            .join()
            .expect("answered")
            .err(503, "SERVICE_UNAVAILABLE");
    }
    app.get("/ready").send().err(503, "SERVICE_UNAVAILABLE");
    assert_eq!(app.get("/health").send().status, 200);

    proxy.resume();
    wait_until_ready(&app);
    app.say(&token, "r", "after the outage");
}

/// The app behind an [`Outage`] proxy with a room `r` holding one message of alice's.
fn room_behind_proxy(name: &str) -> Option<(TestApp, Outage)> {
    let (app, proxy) = app_behind_proxy(name)?;
    let token = app.user("alice");
    app.room("r", "alice", &[], &[]);
    app.say(&token, "r", "one");
    Some((app, proxy))
}

/// `DELETE /rooms/r/messages/_all` with the API key and `key`, waiting up to 30 s.
fn keyed_clear(app: &TestApp, key: &str) -> Resp {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let headers = [
        ("IM-API-KEY".to_owned(), API_KEY.to_owned()),
        ("Idempotency-Key".to_owned(), key.to_owned()),
    ];
    send_with(
        &agent,
        &app.base,
        "DELETE",
        "/rooms/r/messages/_all",
        &headers,
        None,
    )
}

#[test]
fn a_keyed_request_gets_one_deadline_when_the_database_stops_mid_request() {
    let Some((app, proxy)) = room_behind_proxy("keyed_deadline") else {
        return;
    };
    // The clear's audit record is the first write after the key's claim: the database
    // stops answering there, inside the handler's use case.
    proxy.pause_on("`deletions`");
    let started = std::time::Instant::now();
    let res = keyed_clear(&app, "clear-1");
    let elapsed = started.elapsed();
    proxy.resume();
    res.err(503, "SERVICE_UNAVAILABLE");
    // The deadline is 8 s for all the request's storage work; before, storing or releasing
    // the key waited 8 s more (16 s).
    assert!(
        elapsed < std::time::Duration::from_secs(12),
        "answered after {elapsed:?}"
    );
    wait_until_ready(&app);
    // The clear was cut off while it ran: its transaction, which was to hold its answer
    // too, is rolled back when the database answers again, and its key released. (Before:
    // it committed later without its answer, and the key stayed in flight for its lease.)
    // Until then a retry is told the key is in use; then it runs, and clears once.
    let retried = poll(|| keyed_clear(&app, "clear-1"), |res| res.status != 409);
    assert_eq!(
        retried.ok()["deletedCount"],
        1,
        "the cut-off clear was rolled back"
    );
    let clears = app.audit("r");
    assert_eq!(clears.len(), 1, "one clear committed: {clears:?}");
    assert_eq!(
        keyed_clear(&app, "clear-1").header("Idempotent-Replayed"),
        Some("true")
    );
}

#[test]
fn a_claim_that_commits_after_its_503_leaves_the_key_free() {
    let Some((app, proxy)) = room_behind_proxy("late_claim") else {
        return;
    };
    // The database stops answering as the key is claimed: the claim commits only when it
    // answers again, after the client got its 503.
    proxy.pause_on("INSERT INTO `idempotency_keys`");
    keyed_clear(&app, "clear-2").err(503, "SERVICE_UNAVAILABLE");
    proxy.resume();
    wait_until_ready(&app);
    // The retry runs (not 409 IDEMPOTENCY_KEY_IN_USE for the claim's 60 s lease).
    let retried = poll(|| keyed_clear(&app, "clear-2"), |res| res.status != 409);
    assert_eq!(retried.status, 200, "{:#}", retried.body);
    assert_eq!(retried.body["result"]["deletedCount"], 1);
}

#[test]
fn a_connection_lost_during_commit_is_a_503_of_its_own_and_the_retry_runs() {
    let Some((app, proxy)) = room_behind_proxy("lost_commit") else {
        return;
    };
    // The clear's COMMIT is held back by the proxy, which then drops every connection: the
    // server cannot know whether it committed.
    proxy.pause_on("COMMIT");
    let answer = std::thread::scope(|s| {
        // Without a key, so that the first COMMIT is the clear's (not the key's claim).
        let clear = s.spawn(|| app.delete("/rooms/r/messages/_all").api_key().send());
        poll(|| proxy.tripped(), |tripped| *tripped);
        let (port, target) = proxy.cut();
        let answer = clear.join().expect("answered");
        (answer, port, target)
    });
    let (res, port, target) = answer;
    // Before: 500 INTERNAL_ERROR ("Transaction rollback failed: ... gone away").
    res.err(503, "COMMIT_UNCERTAIN");
    assert_eq!(res.header("Retry-After"), Some("1"));
    let _restored = Outage::forward(port, target);
    wait_until_ready(&app);
    // The COMMIT never reached the database: the retry clears the message.
    let retried = app.delete("/rooms/r/messages/_all").api_key().send();
    assert_eq!(retried.ok()["deletedCount"], 1);
}

#[test]
fn no_key_or_token_reaches_the_log() {
    let database = fresh_database();
    let url = database.url.clone();
    let server = Binary::start(&[
        ("ROOMWARDEN_DATABASE_URL", &url),
        ("ROOMWARDEN_API_KEY", API_KEY),
        ("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY),
        ("RUST_LOG", "debug"),
    ]);
    let base = server.base.clone();
    let agent = agent();
    let api = [
        ("IM-API-KEY".to_owned(), API_KEY.to_owned()),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    let created = send_with(
        &agent,
        &base,
        "POST",
        "/admin/clients",
        &api,
        Some(r#"{"_id":"alice","token":"alice-secret-token-123"}"#),
    );
    created.ok();
    let user = [
        ("IM-CLIENT-KEY".to_owned(), CLIENT_KEY.to_owned()),
        (
            "IM-Authorization".to_owned(),
            "alice-secret-token-123".to_owned(),
        ),
    ];
    send_with(&agent, &base, "GET", "/me", &user, None).ok();
    let wrong = [
        ("IM-CLIENT-KEY".to_owned(), CLIENT_KEY.to_owned()),
        ("IM-Authorization".to_owned(), "wrong-token-456".to_owned()),
    ];
    send_with(&agent, &base, "GET", "/me", &wrong, None).err(401, "INVALID_TOKEN");
    send_with(
        &agent,
        &base,
        "DELETE",
        "/admin/clients/alice/token",
        &api,
        Some(r#"{"token":"alice-secret-token-123"}"#),
    )
    .ok();
    let text = server.stop();
    assert!(text.contains("request"), "the access log is on: {text}");
    for secret in [
        API_KEY,
        CLIENT_KEY,
        "alice-secret-token-123",
        "wrong-token-456",
    ] {
        assert!(!text.contains(secret), "{secret} appears in the log");
    }
    drop(database);
}

#[test]
fn every_log_line_of_a_request_carries_its_request_id() {
    let database = fresh_database();
    let url = database.url.clone();
    let server = Binary::start(&[
        ("ROOMWARDEN_DATABASE_URL", &url),
        ("ROOMWARDEN_API_KEY", API_KEY),
        ("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY),
        ("RUST_LOG", "info,roomwarden_adapters=debug"),
    ]);
    let agent = agent();
    let api = [
        ("IM-API-KEY".to_owned(), API_KEY.to_owned()),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    let call = |method: &str, path: &str, body: Option<&str>| {
        send_with(&agent, &server.base, method, path, &api, body)
    };
    call("POST", "/admin/clients", Some(r#"{"_id":"alice"}"#)).ok();
    call("POST", "/rooms", Some(r#"{"_id":"r","owner":"alice"}"#)).ok();
    call("DELETE", "/rooms/r/messages/_all", None).ok();
    let log = server.stop();
    drop(database);
    // Logged in the handler, on the blocking pool inside the store, and when the request's
    // span closes (the access line): each within the request's span.
    for marker in [
        "messages deleted",
        "deletion committed",
        "path=/rooms/r/messages/_all",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no {marker:?} line in {log}"));
        assert!(
            line.contains("request_id=") && line.contains("method=DELETE"),
            "{line}"
        );
    }
    let ids: std::collections::BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains("path=/rooms/r/messages/_all"))
        .filter_map(|l| l.split("request_id=").nth(1))
        .filter_map(|rest| rest.split([' ', '}']).next())
        .collect();
    assert_eq!(ids.len(), 1, "one request, one ID: {ids:?}");
    let close = log
        .lines()
        .find(|l| l.contains("path=/rooms/r/messages/_all") && l.contains("close"))
        .expect("the access line");
    assert!(close.contains("status=200"), "{close}");
}

/// Threads of a process, from `/proc`.
fn thread_count(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn threads_stay_bounded_under_many_concurrent_requests() {
    let database = fresh_database();
    let url = database.url.clone();
    let mut server = Binary::start(&[
        ("ROOMWARDEN_DATABASE_URL", &url),
        ("ROOMWARDEN_API_KEY", API_KEY),
        ("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY),
    ]);
    let base = server.base.clone();
    let admin = agent();
    let api = [
        ("IM-API-KEY".to_owned(), API_KEY.to_owned()),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    send_with(
        &admin,
        &base,
        "POST",
        "/admin/clients",
        &api,
        Some(r#"{"_id":"alice","token":"alice-token"}"#),
    )
    .ok();
    send_with(
        &admin,
        &base,
        "POST",
        "/rooms",
        &api,
        Some(r#"{"_id":"r","owner":"alice"}"#),
    )
    .ok();
    let pid = server.child.id();
    let idle = thread_count(pid);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(thread_count(pid));
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            most
        })
    };
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let base = base.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let user = [
                    ("IM-CLIENT-KEY".to_owned(), CLIENT_KEY.to_owned()),
                    ("IM-Authorization".to_owned(), "alice-token".to_owned()),
                    ("Content-Type".to_owned(), "application/json".to_owned()),
                ];
                for _ in 0..25 {
                    let res = send_with(
                        &agent,
                        &base,
                        "POST",
                        "/rooms/r/message",
                        &user,
                        Some(r#"{"message":"x"}"#),
                    );
                    assert!(matches!(res.status, 200 | 503), "{:#}", res.body);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.join().expect("sampler");
    let _ = server.child.kill();
    let _ = server.child.wait();
    drop(database);
    // Two workers, each with at most 10 blocking threads (one per pooled connection), on
    // top of what the idle server runs. Without the cap, 64 waiting requests made ~64 threads.
    assert!(
        most <= idle + 2 * 10,
        "{most} threads under load, {idle} idle"
    );
}

#[test]
fn verify_answers_for_a_chain_whose_reading_outlasts_one_request_deadline() {
    let Some((app, proxy)) = app_behind_proxy("long_verify") else {
        return;
    };
    app.user("owner");
    app.room("big", "owner", &[], &[]);
    // Three pages of records (they need no hash to be read: the report then says where the
    // chain breaks), written with SQL.
    let ids: Vec<String> = (0..2_001).map(|i| format!("rec-{i:05}")).collect();
    let values: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!(
                "('{id}', 'big', 'm{i}', 1, '_platform', {}, NULL)",
                1_800_000_000_000_i64 + i as i64
            )
        })
        .collect();
    roomwarden_adapters::testing::Rows::open(&app.database_url).execute(&format!(
        "INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason) VALUES {}",
        values.join(", ")
    ));
    // The database holds the second and the third page's reads 5 s each: more than the 8 s
    // of one request's deadline together, less each. The read of a page after a record
    // carries that record's ID.
    let verify = std::thread::scope(|scope| {
        let answer = scope.spawn(|| {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(60)))
                .build()
                .into();
            let headers = [("IM-API-KEY".to_owned(), API_KEY.to_owned())];
            send_with(
                &agent,
                &app.base,
                "GET",
                "/rooms/big/deletions/verify",
                &headers,
                None,
            )
        });
        for cursor in [&ids[999], &ids[1_999]] {
            proxy.pause_on(cursor);
            let armed_at = std::time::Instant::now();
            while !proxy.tripped() {
                assert!(
                    armed_at.elapsed() < std::time::Duration::from_secs(30),
                    "never read"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            std::thread::sleep(std::time::Duration::from_secs(5));
            proxy.resume();
        }
        answer.join().expect("verify")
    });
    let report = verify.ok();
    assert_eq!(report["records"], 2_001, "{report}");
    assert_eq!(report["roomID"], "big");
}

/// An empty audit log whose oldest-first reads (a verify's pages) each wait until the gate
/// opens, counting the readers waiting; a mock would serialise them on its own lock.
#[derive(Default)]
struct GatedLog {
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    reading: std::sync::atomic::AtomicUsize,
}

impl roomwarden_domain::ports::AuditStore for GatedLog {
    fn list_deletions(
        &self,
        _: Option<&roomwarden_domain::ids::RoomId>,
        _: Option<&roomwarden_domain::ids::DeletionId>,
        _: u32,
    ) -> Result<Option<Vec<roomwarden_domain::model::Deletion>>, StoreError> {
        Ok(Some(Vec::new()))
    }

    fn list_deletions_oldest_first(
        &self,
        _: Option<&roomwarden_domain::ids::RoomId>,
        _: Option<&roomwarden_domain::ids::DeletionId>,
        _: Option<chrono::DateTime<chrono::Utc>>,
        _: Option<chrono::DateTime<chrono::Utc>>,
        _: u32,
    ) -> Result<Option<Vec<roomwarden_domain::model::Deletion>>, StoreError> {
        self.reading
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut open = self.open.lock().expect("gate");
        while !*open {
            open = self.opened.wait(open).expect("gate");
        }
        Ok(Some(Vec::new()))
    }

    fn list_room_changes(
        &self,
        _: Option<&roomwarden_domain::ids::RoomId>,
        _: Option<&roomwarden_domain::ids::RoomChangeId>,
        _: u32,
    ) -> Result<Option<Vec<roomwarden_domain::room_change::RoomChange>>, StoreError> {
        Ok(Some(Vec::new()))
    }
}

/// A verify has no overall deadline, so only `VERIFIES_AT_ONCE` run at a time: one more is
/// refused at once with `429` and `Retry-After`, and runs once a slot is free again.
#[test]
fn chain_verifications_beyond_the_limit_are_refused_until_one_ends() {
    use roomwarden::routes::audit::VERIFIES_AT_ONCE;
    let mut rooms = MockRoomStore::new();
    rooms.expect_get_room().returning(|id| {
        Ok(Some(roomwarden_domain::model::Room {
            id: id.clone(),
            name: None,
            room_type: roomwarden_domain::model::RoomType::Group,
            owner: None,
            managers: Vec::new(),
            members: Vec::new(),
            webhook: None,
            retention_days: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }))
    });
    let log = Arc::new(GatedLog::default());
    let app = TestApp::over_ports(Ports {
        rooms: Arc::new(rooms),
        audit: log.clone(),
        ..over_mocks_ports()
    });
    std::thread::scope(|scope| {
        let running: Vec<_> = (0..VERIFIES_AT_ONCE)
            .map(|_| scope.spawn(|| app.get("/rooms/r/deletions/verify").api_key().send()))
            .collect();
        let since = std::time::Instant::now();
        while log.reading.load(std::sync::atomic::Ordering::SeqCst) < VERIFIES_AT_ONCE {
            assert!(
                since.elapsed() < std::time::Duration::from_secs(5),
                "the verifies never read"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let refused = app.get("/rooms/r/deletions/verify").api_key().send();
        *log.open.lock().expect("gate") = true;
        log.opened.notify_all();
        refused.err(429, "TOO_MANY_REQUESTS");
        assert_eq!(refused.header("Retry-After"), Some("1"));
        for verify in running {
            let answer = verify.join().expect("verify");
            let report = answer.ok();
            assert_eq!(report["valid"], true, "{report}");
        }
    });
    let answer = app.get("/rooms/r/deletions/verify").api_key().send();
    let report = answer.ok();
    assert_eq!(report["records"], 0, "{report}");
}
