//! Below the application: malformed HTTP, oversized heads and slow clients still get the
//! envelope; `HEAD` and `405 Allow` behave as HTTP says.

use crate::support::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Writes `request` on a fresh connection and reads until the server closes it or a
/// response with its whole body has arrived.
fn raw(app: &TestApp, request: &[u8]) -> (u16, String, Value) {
    let addr = app.base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    // The server may answer (and close) before it has read everything we send.
    let _ = conn.write_all(request);
    let mut got = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if complete(&got) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, head.to_ascii_lowercase(), json)
}

/// Whether `got` holds a head and as many body bytes as its `content-length` says.
fn complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.to_ascii_lowercase()
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

fn assert_enveloped(res: &(u16, String, Value), status: u16, code: &str) {
    let (got, head, body) = res;
    assert_eq!(*got, status, "{head}\n{body:#}");
    assert!(
        head.contains("content-type: application/json; charset=utf-8"),
        "{head}"
    );
    assert_eq!(body["RC"], status);
    assert_eq!(body["error"]["code"], code, "{body:#}");
    assert!(body["RM"].is_string() && body["error"]["message"].is_string());
}

#[test]
fn malformed_requests_are_enveloped() {
    let app = TestApp::spawn();
    for request in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /hea\x01lth HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /admin/clients HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /admin/clients HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ] {
        assert_enveloped(&raw(&app, request), 400, "INVALID_REQUEST");
    }
}

#[test]
fn too_many_or_too_large_headers_are_431() {
    let app = TestApp::spawn();
    let mut many = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..200 {
        many.extend_from_slice(format!("X-H{i}: 1\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_enveloped(&raw(&app, &many), 431, "REQUEST_HEADER_FIELDS_TOO_LARGE");
    let mut large = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    large.extend(std::iter::repeat_n(b'a', 200 * 1024));
    large.extend_from_slice(b"\r\n\r\n");
    assert_enveloped(&raw(&app, &large), 431, "REQUEST_HEADER_FIELDS_TOO_LARGE");
}

#[test]
fn a_client_too_slow_with_its_head_or_its_body_gets_408() {
    let app = TestApp::spawn();
    let head = raw(&app, b"GET /health HTTP/1.1\r\nHost: x\r\n");
    assert_enveloped(&head, 408, "REQUEST_TIMEOUT");
    let body = raw(
        &app,
        format!(
            "POST /admin/clients HTTP/1.1\r\nHost: x\r\nIM-API-KEY: {API_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        )
        .as_bytes(),
    );
    assert_enveloped(&body, 408, "REQUEST_TIMEOUT");
}

#[test]
fn head_answers_like_get_without_a_body() {
    let app = TestApp::spawn();
    let get = raw(
        &app,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(get.0, 200);
    let addr = app.base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).expect("connect");
    conn.write_all(b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut text = String::new();
    conn.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.is_empty(), "HEAD has no body: {body:?}");
    let get_length = get
        .1
        .lines()
        .find(|l| l.starts_with("content-length"))
        .map(str::to_owned);
    assert_eq!(
        head.to_ascii_lowercase()
            .lines()
            .find(|l| l.starts_with("content-length"))
            .map(str::to_owned),
        get_length
    );

    let res = app.req("HEAD", "/rooms/r/messages/v3").send_head();
    assert_eq!(
        res, 401,
        "HEAD runs the GET handler, authentication included"
    );
}

#[test]
fn every_405_says_which_methods_are_allowed() {
    let app = TestApp::spawn();
    for (method, path, allow) in [
        ("POST", "/health", "GET, HEAD"),
        ("PATCH", "/rooms/r", "GET, HEAD, PUT"),
        // Each route lists its own methods, though all four share a path shape.
        ("PUT", "/rooms/r/messages/x", "DELETE"),
        ("OPTIONS", "/rooms/r/messages/v3", "GET, HEAD, DELETE"),
        ("GET", "/rooms/r/messages/delete", "POST, DELETE"),
        ("POST", "/rooms/r/messages/_all", "DELETE"),
        ("GET", "/admin/clients", "POST"),
    ] {
        let res = raw(
            &app,
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_enveloped(&res, 405, "METHOD_NOT_ALLOWED");
        assert!(
            res.1
                .contains(&format!("\r\nallow: {}", allow.to_ascii_lowercase())),
            "{method} {path}: {}",
            res.1
        );
    }
}
