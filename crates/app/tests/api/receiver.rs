//! A real HTTP webhook receiver on loopback, scripted per test.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Statuses to answer, in order; 200 once exhausted.
    script: VecDeque<u16>,
    /// While true, requests wait before answering.
    hold: bool,
}

pub struct Receiver {
    pub url: String,
    state: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Receiver {
    pub fn start(script: &[u16]) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("bind"), script)
    }

    pub fn start_on(listener: TcpListener, script: &[u16]) -> Self {
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new((
            Mutex::new(State {
                script: script.iter().copied().collect(),
                ..State::default()
            }),
            Condvar::new(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (Arc::clone(&state), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if sp.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let st = Arc::clone(&st);
                std::thread::spawn(move || serve(stream, &st));
            }
        });
        Self {
            url: format!("http://{addr}/hook"),
            state,
            stop,
            addr,
        }
    }

    /// Makes requests wait (unanswered) until [`Receiver::release`].
    pub fn hold(&self) {
        self.state.0.lock().expect("lock").hold = true;
    }

    pub fn release(&self) {
        self.state.0.lock().expect("lock").hold = false;
        self.state.1.notify_all();
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.0.lock().expect("lock").received.clone()
    }

    /// Waits (up to `limit`) until at least `n` requests arrived; returns them all.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.release();
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, state: &(Mutex<State>, Condvar)) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0_u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let status = {
        let (lock, cvar) = state;
        let mut st = lock.lock().expect("lock");
        st.received.push(Received {
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        while st.hold {
            st = cvar.wait(st).expect("wait");
        }
        st.script.pop_front().unwrap_or(200)
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}
