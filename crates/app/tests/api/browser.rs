//! A small W3C WebDriver client: Debian's `chromedriver` drives headless `chromium` on
//! loopback, for the console's tests (`console.rs`).
//!
//! Without `chromedriver` the console tests are skipped with a note, unless
//! `ROOMWARDEN_REQUIRE_BROWSER=1` (CI), which makes a missing browser fail them.
//! `ROOMWARDEN_CHROMEDRIVER` and `ROOMWARDEN_CHROMIUM` override the programs' paths.

use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a test waits for something to appear on the page.
pub const WAIT: Duration = Duration::from_secs(15);

/// One browser test at a time: Chromium is heavy for a shared two-core machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running `chromedriver`; killed on drop.
pub struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
    /// This test's turn at the browser, held as long as the driver lives.
    _turn: Option<MutexGuard<'static, ()>>,
}

fn program(env: &str, default: &str) -> Option<String> {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_owned());
    let found = if path.contains('/') {
        std::path::Path::new(&path).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|dirs| std::env::split_paths(&dirs).any(|dir| dir.join(&path).is_file()))
    };
    found.then_some(path)
}

impl Driver {
    /// Starts `chromedriver`, or returns `None` (after saying why) when it or Chromium is
    /// not installed and the browser is not required.
    pub fn start() -> Option<Self> {
        let required = std::env::var("ROOMWARDEN_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        let (Some(driver), Some(_)) = (
            program("ROOMWARDEN_CHROMEDRIVER", "chromedriver"),
            program("ROOMWARDEN_CHROMIUM", "/usr/bin/chromium"),
        ) else {
            assert!(
                !required,
                "ROOMWARDEN_REQUIRE_BROWSER=1 but chromedriver or chromium is missing \
                 (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "skipped: console browser test needs chromium and chromium-driver \
                 (set ROOMWARDEN_REQUIRE_BROWSER=1 to make this a failure)"
            );
            return None;
        };
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        // A free port, found by binding and releasing it: another process may take it
        // before chromedriver does, which then exits; a few tries get past that.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let mut started = Self {
                child,
                base: format!("http://127.0.0.1:{port}"),
                agent: ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into(),
                _turn: None,
            };
            let deadline = Instant::now() + WAIT;
            while started.request("GET", "/status", None).is_err()
                && Instant::now() < deadline
                && started.child.try_wait().ok().flatten().is_none()
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            if started.request("GET", "/status", None).is_ok() {
                started._turn = Some(turn);
                return Some(started);
            }
        }
        panic!("chromedriver did not start");
    }

    /// One WebDriver command: its `value`, or the WebDriver error.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let uri = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&uri)
            .header("Content-Type", "application/json");
        let response = match body {
            Some(body) => self
                .agent
                .run(request.body(body.to_string()).map_err(|e| e.to_string())?),
            None => self.agent.run(request.body(()).map_err(|e| e.to_string())?),
        };
        let mut response = response.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if status == 200 {
            Ok(value["value"].clone())
        } else {
            Err(format!("{method} {path}: {status} {}", value["value"]))
        }
    }

    /// A new headless browser window of `width`×`height` CSS pixels.
    pub fn browser(&self, width: u32, height: u32) -> Browser<'_> {
        let chromium =
            program("ROOMWARDEN_CHROMIUM", "/usr/bin/chromium").expect("chromium is installed");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        let session = self
            .request("POST", "/session", Some(capabilities))
            .expect("a browser session");
        let id = session["sessionId"]
            .as_str()
            .expect("session ID")
            .to_owned();
        Browser { driver: self, id }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session; closed on drop.
pub struct Browser<'a> {
    driver: &'a Driver,
    id: String,
}

impl Browser<'_> {
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.driver
            .request(method, &format!("/session/{}{path}", self.id), body)
    }

    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.command(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver: {e}"))
    }

    /// Opens `url`.
    pub fn open(&self, url: &str) {
        self.must("POST", "/url", Some(json!({"url": url})));
    }

    /// Runs `script` (a function body) in the page with `args`; its return value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Waits until `check` holds, or fails naming `what` with the page's visible error, if any.
    pub fn wait_until(&self, what: &str, mut check: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            if check(self) {
                return;
            }
            if Instant::now() > deadline {
                let notice = self.run(
                    "const n = document.getElementById('notice'); return n && !n.hidden ? n.textContent : '';",
                    json!([]),
                );
                panic!("timed out waiting for {what}; error shown: {notice}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether an element matching `css` exists and is displayed.
    pub fn visible(&self, css: &str) -> bool {
        self.run(
            "const e = document.querySelector(arguments[0]); \
             return !!e && !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);",
            json!([css]),
        )
        .as_bool()
            == Some(true)
    }

    /// The element matching `css`, once it is displayed.
    pub fn find(&self, css: &str) -> String {
        self.wait_until(&format!("{css} to be shown"), |b| b.visible(css));
        let found = self.must(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found[ELEMENT].as_str().expect("element").to_owned()
    }

    /// Clicks the element matching `css` (as a user would, through WebDriver). Should the
    /// page render the element anew between finding and clicking it (a live update), the
    /// click goes to the new one.
    pub fn click(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let element = self.find(css);
            match self.command(
                "POST",
                &format!("/element/{element}/click"),
                Some(json!({})),
            ) {
                Ok(_) => return,
                Err(e) if e.contains("stale element reference") && Instant::now() < deadline => {}
                Err(e) => panic!("WebDriver: {e}"),
            }
        }
    }

    /// Types `text` into the field matching `css`, after clearing it.
    pub fn fill(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.must(
            "POST",
            &format!("/element/{element}/clear"),
            Some(json!({})),
        );
        self.must(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        );
    }

    /// Sets a `datetime-local` (or any) input's value directly, firing `input`.
    pub fn set_value(&self, css: &str, value: &str) {
        self.find(css);
        self.run(
            "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
             e.dispatchEvent(new Event('input', {bubbles: true}));",
            json!([css, value]),
        );
    }

    /// Presses keys (WebDriver key codes such as `\u{E007}` for Enter) in the focused element.
    pub fn keys(&self, keys: &str) {
        let active = self.must("GET", "/element/active", None);
        let element = active[ELEMENT].as_str().expect("a focused element");
        self.must(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({"text": keys})),
        );
    }

    /// The text of the element matching `css`, once it is displayed.
    pub fn text(&self, css: &str) -> String {
        self.find(css);
        self.run(
            "return document.querySelector(arguments[0]).textContent;",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        self.run(
            "return document.querySelectorAll(arguments[0]).length;",
            json!([css]),
        )
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_default()
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let data = self.must("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64 PNG"))
            .expect("valid base64")
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .request("DELETE", &format!("/session/{}", self.id), None);
    }
}
