//! The release server under test, its resource sampler, and a loopback webhook receiver.

use crate::client::Client;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const API_KEY: &str = "bench-api-key-0123456789abcdefghij";
pub const CLIENT_KEY: &str = "bench-client-key-0123456789abcdefghij";

/// A running server; stopped (SIGTERM, then killed) when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    sampler: Option<(Arc<AtomicBool>, JoinHandle<Peak>)>,
}

/// The most the server used while it ran.
#[derive(Debug, Default, Clone, Copy)]
pub struct Peak {
    /// Peak resident set (the kernel's `VmHWM`), KiB.
    pub rss_kib: u64,
    /// Most threads seen at once (sampled every 50 ms).
    pub threads: u64,
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

impl Server {
    /// Starts `binary` on `database_url`, with the variables `env` besides the harness's
    /// own, and waits until `/ready` answers 200.
    pub fn start(
        binary: &str,
        database_url: &str,
        log: &std::path::Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::start_within(binary, database_url, log, env, Duration::from_secs(60))
    }

    /// Like [`Server::start`], waiting up to `ready_within` for `/ready` (a start-up that
    /// links many earlier audit records takes longer than a minute).
    pub fn start_within(
        binary: &str,
        database_url: &str,
        log: &std::path::Path,
        env: &[(&str, &str)],
        ready_within: Duration,
    ) -> anyhow::Result<Self> {
        let addr = free_port()?;
        let child = Command::new(binary)
            .envs(env.iter().copied())
            .env("ROOMWARDEN_BIND", addr.to_string())
            .env("ROOMWARDEN_DATABASE_URL", database_url)
            .env("ROOMWARDEN_API_KEY", API_KEY)
            .env("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY)
            .env("ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE", "true")
            .env_remove("ROOMWARDEN_WEBHOOK_URL")
            .env(
                "RUST_LOG",
                std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start {binary}: {e} (build it: cargo build --release)")
            })?;
        let mut server = Self {
            child,
            addr,
            sampler: None,
        };
        let deadline = Instant::now() + ready_within;
        let mut probe = Client::new(addr, String::new());
        loop {
            if probe
                .call("GET", "/ready", None)
                .is_ok_and(|r| r.status == 200)
            {
                break;
            }
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("server exited with {status}; see {}", log.display());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "server not ready within {} s",
                ready_within.as_secs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let pid = server.child.id();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let sampler = std::thread::spawn(move || {
            let mut peak = Peak::default();
            while !stopping.load(Ordering::Relaxed) {
                if let Some(now) = sample(pid) {
                    peak.rss_kib = peak.rss_kib.max(now.rss_kib);
                    peak.threads = peak.threads.max(now.threads);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        server.sampler = Some((stop, sampler));
        Ok(server)
    }

    /// Its peak RSS so far and its threads now (the sampler keeps running).
    pub fn current(&self) -> Peak {
        sample(self.child.id()).unwrap_or_default()
    }

    /// Its resident set now (`VmRSS`), KiB.
    pub fn rss_now_kib(&self) -> u64 {
        status_field(self.child.id(), "VmRSS:").unwrap_or_default()
    }

    /// Stops the server and returns the most it used.
    pub fn stop(mut self) -> Peak {
        let hwm = sample(self.child.id()).unwrap_or_default();
        let mut peak = match self.sampler.take() {
            Some((stop, handle)) => {
                stop.store(true, Ordering::Relaxed);
                handle.join().unwrap_or_default()
            }
            None => Peak::default(),
        };
        peak.rss_kib = peak.rss_kib.max(hwm.rss_kib);
        peak
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM through kill(1), so the server shuts down as in production.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmHWM` and `Threads` of `pid` from `/proc`.
pub fn sample(pid: u32) -> Option<Peak> {
    Some(Peak {
        rss_kib: status_field(pid, "VmHWM:")?,
        threads: status_field(pid, "Threads:")?,
    })
}

/// The number after `name` (e.g. `VmRSS:`) in `/proc/<pid>/status`.
fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
}

/// A loopback webhook receiver answering 200 to every request; counts what it received.
pub struct Receiver {
    pub url: String,
    pub received: Arc<AtomicU64>,
}

impl Receiver {
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    let _ = serve(stream, &counter);
                });
            }
        });
        Ok(Self { url, received })
    }
}

fn serve(stream: TcpStream, counter: &AtomicU64) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut length = 0_usize;
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        counter.fetch_add(1, Ordering::Relaxed);
        writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
    }
}
