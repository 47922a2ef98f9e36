//! A minimal blocking HTTP/1.1 client over one keep-alive loopback connection: enough to
//! drive the server without a load-generator dependency, and cheap enough per request that
//! the client does not become what is measured.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One connection to the server.
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    /// Headers sent with every request (credentials), each ending in CRLF.
    auth: String,
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What [`Client::stream`] read.
#[derive(Debug, Default)]
pub struct Streamed {
    pub status: u16,
    /// Bytes of the body.
    pub bytes: u64,
    /// Newlines in the body.
    pub lines: u64,
    /// The body's first 200 bytes.
    pub start: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

impl Client {
    /// A client sending `auth` (`Name: value\r\n` lines) with every request.
    pub fn new(addr: SocketAddr, auth: String) -> Self {
        Self {
            addr,
            conn: None,
            auth,
        }
    }

    /// Sends one request and reads the whole response; reconnects once if the kept-alive
    /// connection was closed.
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<Response> {
        self.call_with(method, path, body, "")
    }

    /// [`Client::call`] with `extra` header lines (`Name: value\r\n`).
    pub fn call_with(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
        extra: &str,
    ) -> anyhow::Result<Response> {
        match self.try_call(method, path, body, extra) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.conn = None;
                self.try_call(method, path, body, extra)
            }
        }
    }

    /// Like [`Client::call`], with the time it took.
    pub fn timed(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(Response, Duration)> {
        let t = Instant::now();
        let r = self.call(method, path, body)?;
        Ok((r, t.elapsed()))
    }

    /// Sends one GET on a connection of its own (`Connection: close`) and reads the body as
    /// it arrives, chunked or not, without keeping it: the status, the body's bytes and its
    /// newlines (records of a JSON Lines body), and the first 200 bytes (an error's envelope).
    pub fn stream(&self, path: &str) -> anyhow::Result<Streamed> {
        let s = TcpStream::connect(self.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(600)))?;
        let mut conn = BufReader::with_capacity(1 << 16, s);
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: bench\r\n{}Connection: close\r\n\r\n",
            self.auth
        );
        conn.get_mut().write_all(head.as_bytes())?;
        let mut line = String::new();
        conn.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("bad status line {line:?}"))?
            .parse()?;
        let mut chunked = false;
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("transfer-encoding")
            {
                chunked = value.trim().eq_ignore_ascii_case("chunked");
            }
        }
        let mut out = Streamed {
            status,
            ..Streamed::default()
        };
        let mut buf = vec![0_u8; 1 << 16];
        let take = |out: &mut Streamed, data: &[u8]| {
            out.bytes += data.len() as u64;
            out.lines += data.iter().filter(|&&b| b == b'\n').count() as u64;
            let room = 200_usize.saturating_sub(out.start.len());
            out.start.extend_from_slice(&data[..room.min(data.len())]);
        };
        if !chunked {
            // Content-Length or close-delimited: read to the end (the server closes).
            loop {
                let n = conn.read(&mut buf)?;
                if n == 0 {
                    return Ok(out);
                }
                take(&mut out, &buf[..n]);
            }
        }
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim_end().split(';').next().unwrap_or(""), 16)?;
            if size == 0 {
                return Ok(out);
            }
            let mut left = size;
            while left > 0 {
                let n = left.min(buf.len());
                conn.read_exact(&mut buf[..n])?;
                take(&mut out, &buf[..n]);
                left -= n;
            }
            line.clear();
            conn.read_line(&mut line)?;
        }
    }

    fn try_call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
        extra: &str,
    ) -> anyhow::Result<Response> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self
            .conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("connected above"));
        let body = body.unwrap_or("");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\n{}{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.auth,
            body.len()
        );
        let stream = conn.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        read_response(conn)
    }
}

fn read_response(conn: &mut BufReader<TcpStream>) -> anyhow::Result<Response> {
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        anyhow::bail!("connection closed");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("bad status line {line:?}"))?
        .parse()?;
    let mut length = 0_usize;
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse()?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                anyhow::bail!("chunked responses are not expected");
            }
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body)?;
    Ok(Response { status, body })
}
