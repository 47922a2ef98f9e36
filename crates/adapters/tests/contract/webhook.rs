//! The webhook notifier against real loopback receivers: HTTPS with a test CA, and the
//! address policy applied again at delivery time.

use roomwarden_adapters::webhook::{AddressPolicy, WebhookNotifier, signature};
use roomwarden_domain::events::{Notifier, NotifyError, OutgoingEvent};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;

const CA: &[u8] = include_bytes!("../fixtures/ca.pem");
const OTHER_CA: &[u8] = include_bytes!("../fixtures/other-ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("../fixtures/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../fixtures/server.key");

fn event() -> OutgoingEvent {
    OutgoingEvent {
        deletion: roomwarden_domain::ids::DeletionId::parse("evt-1").expect("valid"),
        room: roomwarden_domain::ids::RoomId::parse("r").expect("valid"),
        body: r#"{"id":"evt-1","event":"MESSAGE_DELETED"}"#.to_owned(),
    }
}

/// What the receiver saw of one request: its head and its body.
struct Received {
    head: String,
    body: String,
}

/// An HTTPS receiver on a free loopback port serving one request with `200`; the port and
/// what it received (nothing if the handshake failed).
fn https_receiver() -> (u16, mpsc::Receiver<Received>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(SERVER_CERT)
        .collect::<Result<_, _>>()
        .expect("server certificate");
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).expect("server key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        let conn = rustls::ServerConnection::new(config).expect("connection");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut got = Vec::new();
        let mut buf = [0_u8; 4096];
        let (head, body) = loop {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return, // handshake refused by the client
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .to_ascii_lowercase()
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: ").map(str::to_owned))
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    break (head.to_owned(), body.to_owned());
                }
            }
        };
        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = tls.flush();
        let _ = tx.send(Received { head, body });
    });
    (port, rx)
}

fn loopback_allowed(ca: Option<&[u8]>) -> WebhookNotifier {
    let policy = AddressPolicy {
        allow_private: true,
    };
    WebhookNotifier::new("secret".into(), policy, ca).expect("notifier")
}

#[test]
fn events_are_delivered_over_https_with_a_valid_signature() {
    for host in ["127.0.0.1", "localhost"] {
        let (port, received) = https_receiver();
        loopback_allowed(Some(CA))
            .notify(&format!("https://{host}:{port}/hook"), &event())
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        let got = received.recv().expect("received");
        assert!(got.head.starts_with("POST /hook HTTP/1.1"), "{}", got.head);
        assert_eq!(got.body, event().body);
        let sent = got
            .head
            .lines()
            .find_map(|l| {
                l.strip_prefix("im-signature: ")
                    .or_else(|| l.strip_prefix("IM-Signature: "))
            })
            .expect("signature header")
            .to_owned();
        let t: i64 = sent
            .strip_prefix("t=")
            .and_then(|rest| rest.split(',').next())
            .and_then(|t| t.parse().ok())
            .expect("timestamp");
        assert_eq!(sent, signature("secret", t, &event().body));
    }
}

#[test]
fn a_receiver_whose_certificate_is_not_trusted_gets_nothing() {
    for ca in [Some(OTHER_CA), None] {
        let (port, received) = https_receiver();
        let err = loopback_allowed(ca)
            .notify(&format!("https://127.0.0.1:{port}/hook"), &event())
            .expect_err("untrusted certificate");
        assert!(matches!(err, NotifyError::Transport(_)), "{err}");
        assert!(received.recv().is_err(), "no request reached the receiver");
    }
    assert!(WebhookNotifier::new("s".into(), AddressPolicy::default(), Some(b"not pem")).is_err());
}

#[test]
fn a_private_destination_is_refused_at_delivery_without_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let strict =
        WebhookNotifier::new("secret".into(), AddressPolicy::default(), None).expect("notifier");
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://[2002:7f00:1::]:{port}/hook"),
        format!("http://[2001:0:808:808:0:0:80ff:fffe]:{port}/hook"),
    ] {
        let err = strict.notify(&url, &event()).expect_err("refused");
        assert!(matches!(err, NotifyError::Refused(_)), "{url}: {err}");
    }
    assert!(
        listener.accept().is_err(),
        "the notifier never connected to the private address"
    );
}
