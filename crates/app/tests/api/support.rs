//! Spawning the app and talking to it.

use roomwarden::config::Config;
use roomwarden::startup::Application;
use roomwarden_adapters::testing::FreshDatabase;
use serde_json::{Value, json};

/// How long a test waits for background work to show (deliveries, the purger, the feed).
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Reads `fetch` every 100 ms until `done` holds or [`WAIT`] has passed, and returns the
/// last reading: the caller asserts on it, so a timeout fails showing what was seen.
pub fn poll<T>(mut fetch: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let seen = fetch();
        if done(&seen) || std::time::Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub const API_KEY: &str = "test-api-key-5d0c8f1e9a7b3c2e6f4a";
pub const CLIENT_KEY: &str = "test-client-key-8b2e4d6f0a1c3e5b7d9f";

/// A fresh database of the backend this run tests, removed when dropped (by [`TestApp`]'s
/// drop when given to it).
pub fn fresh_database() -> FreshDatabase {
    FreshDatabase::new()
}

pub fn test_config(database_url: String) -> Config {
    Config {
        clock: std::sync::Arc::new(roomwarden_domain::time::SystemClock),
        bind: "127.0.0.1:0".to_owned(),
        database_url: database_url.into(),
        api_key: Some(API_KEY.into()),
        client_key: Some(CLIENT_KEY.into()),
        webhook_url: None,
        webhook_secret: Some("test-webhook-secret".into()),
        // The suite's webhook receivers listen on loopback.
        webhook_allow_private: true,
        webhook_ca_file: None,
        token_ttl_days: 7,
        webhook_retry: roomwarden_domain::events::RetryPolicy::default(),
        retention_days: None,
        retention_interval: std::time::Duration::from_secs(60),
        socket_auth_timeout: roomwarden::config::SOCKET_AUTH_TIMEOUT,
        metrics_token: None,
        key_guard: true,
        database_sync_wait: roomwarden_adapters::DEFAULT_SYNC_WAIT,
    }
}

/// A running application, in this process or as the real binary; stopped (and its SQLite
/// file removed) on drop.
pub struct TestApp {
    pub base: String,
    pub database_url: String,
    handle: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
    binary: Option<Binary>,
    /// The database this app owns, removed after the app stops.
    database: Option<FreshDatabase>,
    agent: ureq::Agent,
}

impl TestApp {
    pub fn spawn() -> Self {
        let database = fresh_database();
        Self::spawn_with(test_config(database.url.clone()), Some(database))
    }

    /// The app in this process with `config`, owning `database` (removed on drop) if given.
    pub fn spawn_with(config: Config, database: Option<FreshDatabase>) -> Self {
        roomwarden::init_test_tracing();
        let app = Application::build(&config).expect("application builds");
        let base = format!("http://{}", app.addr());
        let handle = app.handle();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new()
                .block_on(app.run())
                .expect("server ran");
        });
        Self {
            base,
            database_url: secrecy::ExposeSecret::expose_secret(&config.database_url).to_owned(),
            handle: Some(handle),
            thread: Some(thread),
            binary: None,
            database,
            agent: agent(),
        }
    }

    /// The real `roomwarden` binary over a fresh database, with the test keys and `env`.
    pub fn binary(env: &[(&str, &str)]) -> Self {
        let database = fresh_database();
        Self::binary_on(database.url.clone(), Some(database), env)
    }

    /// The real `roomwarden` binary over the database at `url` (which other processes may
    /// share), with the test keys and `env`; owning `database` (removed on drop) if given.
    pub fn binary_on(url: String, database: Option<FreshDatabase>, env: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("ROOMWARDEN_DATABASE_URL", url.as_str()),
            ("ROOMWARDEN_API_KEY", API_KEY),
            ("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY),
        ];
        all.extend_from_slice(env);
        let binary = Binary::start(&all);
        Self {
            base: binary.base.clone(),
            database_url: url,
            handle: None,
            thread: None,
            binary: Some(binary),
            database,
            agent: agent(),
        }
    }

    /// The SQLite database file, when the app runs on one.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.database.as_ref()?.sqlite_file.as_deref()
    }

    /// The process ID of the real binary, when this app is one.
    pub fn pid(&self) -> Option<u32> {
        self.binary.as_ref().map(|b| b.child.id())
    }

    /// The real routes over `ports` (mocks, say), with the test keys and no database,
    /// background workers or sockets' fan-out.
    pub fn over_ports(ports: roomwarden::state::Ports) -> Self {
        roomwarden::init_test_tracing();
        let hub = std::sync::Arc::new(roomwarden::realtime::hub::Hub::default());
        let state = roomwarden::state::AppState {
            ports,
            keys: roomwarden_domain::auth::DeploymentKeys {
                api_key: API_KEY.into(),
                client_key: CLIENT_KEY.into(),
            },
            token_ttl: chrono::Duration::days(7),
            hub: hub.clone(),
            socket_auth_timeout: roomwarden::config::SOCKET_AUTH_TIMEOUT,
            metrics: std::sync::Arc::new(roomwarden::metrics::Metrics::new(None, hub)),
            metrics_token: None,
            key_guard: Some(std::sync::Arc::default()),
            verifies: std::sync::Arc::new(tokio::sync::Semaphore::new(
                roomwarden::routes::audit::VERIFIES_AT_ONCE,
            )),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = roomwarden::startup::serve(listener, state).expect("server");
        let handle = server.handle();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new()
                .block_on(server)
                .expect("server ran");
        });
        Self {
            base,
            database_url: String::new(),
            handle: Some(handle),
            thread: Some(thread),
            binary: None,
            database: None,
            agent: agent(),
        }
    }

    pub fn req(&self, method: &str, path: &str) -> Req<'_> {
        Req {
            app: self,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn get(&self, path: &str) -> Req<'_> {
        self.req("GET", path)
    }
    pub fn post(&self, path: &str) -> Req<'_> {
        self.req("POST", path)
    }
    pub fn put(&self, path: &str) -> Req<'_> {
        self.req("PUT", path)
    }
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.req("DELETE", path)
    }

    /// Creates a client with a fresh token; returns the token.
    pub fn user(&self, id: &str) -> String {
        let res = self
            .post("/admin/clients")
            .api_key()
            .json(json!({"_id": id, "issueAccessToken": true}))
            .send();
        res.ok();
        res.body["result"]["token"]
            .as_str()
            .expect("token issued")
            .to_owned()
    }

    /// Creates a room (clients must exist).
    pub fn room(&self, id: &str, owner: &str, managers: &[&str], members: &[&str]) -> Value {
        let res = self
            .post("/rooms")
            .api_key()
            .json(json!({"_id": id, "name": id, "owner": owner, "managers": managers, "members": members}))
            .send();
        res.ok();
        res.body["result"].clone()
    }

    /// Sends a message as `token`'s user; returns its ID.
    pub fn say(&self, token: &str, room: &str, text: &str) -> String {
        let res = self
            .post(&format!("/rooms/{room}/message"))
            .user(token)
            .json(json!({"message": text}))
            .send();
        res.ok();
        res.body["result"]["_id"]
            .as_str()
            .expect("message id")
            .to_owned()
    }

    /// The room's audit log (newest first, first page), read with the API key.
    pub fn audit(&self, room: &str) -> Vec<Value> {
        self.get(&format!("/rooms/{room}/deletions"))
            .api_key()
            .send()
            .ok()["data"]
            .as_array()
            .expect("audit records")
            .clone()
    }

    /// A standard cast: owner, manager, member, outsider (tokens) in room `room`.
    pub fn cast(&self, room: &str) -> Cast {
        let cast = Cast {
            owner: self.user("owner"),
            manager: self.user("manager"),
            member: self.user("member"),
            outsider: self.user("outsider"),
        };
        self.room(room, "owner", &["manager"], &["member"]);
        cast
    }
}

pub struct Cast {
    pub owner: String,
    pub manager: String,
    pub member: String,
    pub outsider: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            actix_web::rt::System::new().block_on(handle.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        drop(self.binary.take());
        drop(self.database.take());
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub struct Req<'a> {
    app: &'a TestApp,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Req<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn api_key(self) -> Self {
        self.header("IM-API-KEY", API_KEY)
    }
    pub fn user(self, token: &str) -> Self {
        self.header("IM-CLIENT-KEY", CLIENT_KEY)
            .header("IM-Authorization", token)
    }
    pub fn json(self, value: Value) -> Self {
        self.raw("application/json; charset=utf-8", &value.to_string())
    }
    pub fn raw(mut self, content_type: &str, body: &str) -> Self {
        self.headers
            .push(("Content-Type".to_owned(), content_type.to_owned()));
        self.body = Some(body.to_owned());
        self
    }

    pub fn send(self) -> Resp {
        send_with(
            &self.app.agent,
            &self.app.base,
            &self.method,
            &self.path,
            &self.headers,
            self.body.as_deref(),
        )
    }
}

/// Sends one request with the API key (and a JSON body when given) to the server at `base`,
/// such as a [`Binary`]; works from any thread.
pub fn send_as_platform(base: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    let mut headers = vec![("IM-API-KEY".to_owned(), API_KEY.to_owned())];
    if body.is_some() {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    let body = body.map(|b| b.to_string());
    send_with(&agent(), base, method, path, &headers, body.as_deref())
}

/// Sends one request; works from any thread.
pub fn send_with(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&str>,
) -> Resp {
    let uri = format!("{base}{path}");
    let mut builder = ureq::http::Request::builder().method(method).uri(&uri);
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = builder
        .body(body.unwrap_or_default().to_owned())
        .expect("request");
    let mut res = agent
        .run(request)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response_headers = res
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let text = res.body_mut().read_to_string().expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{method} {path}: not JSON ({status}): {text}"));
    crate::document::check(method, path, status, &body);
    Resp {
        status,
        content_type,
        headers: response_headers,
        body,
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    /// Every response header (names lowercase).
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Resp {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts `200` with `RC` 0 and returns `result`.
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{:#}", self.body);
        assert_eq!(self.body["RC"], 0);
        &self.body["result"]
    }

    /// Asserts an enveloped error with this status and code.
    pub fn err(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.body["error"]["code"].as_str()),
            (status, Some(code)),
            "{:#}",
            self.body
        );
        assert_eq!(self.body["RC"], status);
        assert!(self.body["RM"].is_string() && self.body["error"]["message"].is_string());
        assert!(self.body.get("result").is_none());
    }
}

impl Req<'_> {
    /// Sends a request whose answer has no body (`HEAD`); returns the status.
    pub fn send_head(self) -> u16 {
        let uri = format!("{}{}", self.app.base, self.path);
        let mut builder = ureq::http::Request::builder()
            .method(self.method.as_str())
            .uri(&uri);
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder.body(()).expect("request");
        self.app
            .agent
            .run(request)
            .expect("response")
            .status()
            .as_u16()
    }
}

/// The real `roomwarden` binary on a free loopback port. Its standard error is collected
/// by a thread (so logging never blocks the server) and returned by [`Binary::stop`].
pub struct Binary {
    pub child: std::process::Child,
    pub base: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Binary {
    /// Starts the binary with `env` (on top of `ROOMWARDEN_BIND=127.0.0.1:0` and
    /// `RUST_LOG=info`) and waits until it logs its address.
    pub fn start(env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_roomwarden"));
        command
            .env("ROOMWARDEN_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("binary starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = std::sync::Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tx.send(
                        addr.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                let mut all = sink.lock().expect("log");
                all.push_str(&line);
                all.push('\n');
            }
        });
        let base = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no address logged: {}", log.lock().expect("log")));
        Self {
            child,
            base,
            log,
            reader: Some(reader),
        }
    }

    /// Stops it with SIGTERM and returns everything it logged.
    pub fn stop(mut self) -> String {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every byte of the SQLite files at `path`: main file, WAL and rollback journal.
pub fn sqlite_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        if let Ok(bytes) = std::fs::read(format!("{}{suffix}", path.display())) {
            all.extend(bytes);
        }
    }
    all
}

/// [`sqlite_bytes`] as text (lossy), for finding a string in the files.
pub fn sqlite_text(path: &std::path::Path) -> String {
    String::from_utf8_lossy(&sqlite_bytes(path)).into_owned()
}
