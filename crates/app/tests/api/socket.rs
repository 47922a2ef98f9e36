//! The real-time socket, with a real WebSocket client.

use crate::support::*;
use serde_json::{Value, json};
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

const READ_LIMIT: Duration = Duration::from_secs(15);
/// How long a test waits for the server to close a socket.
const CLOSE_LIMIT: Duration = Duration::from_secs(30);

/// A real WebSocket client (also used by the metrics tests).
pub(crate) struct Socket {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Socket {
    fn open(base: &str) -> Self {
        let url = format!("{}/socket", base.replacen("http://", "ws://", 1));
        let (ws, _) = tungstenite::connect(url).expect("WebSocket handshake");
        if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
            stream.set_read_timeout(Some(READ_LIMIT)).expect("timeout");
        }
        Self { ws }
    }

    /// Opens a socket and authenticates as the token's user.
    pub(crate) fn connect(base: &str, token: &str) -> Self {
        let mut socket = Self::open(base);
        socket.send(&json!({"clientKey": CLIENT_KEY, "token": token}).to_string());
        let ack = socket.next_event();
        assert_eq!(ack["event"], "authenticated", "{ack}");
        socket
    }

    fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).expect("send");
    }

    /// The next event frame (pings are answered by the client library).
    pub(crate) fn next_event(&mut self) -> Value {
        loop {
            match self.ws.read().expect("a frame within the read limit") {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("JSON frame");
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The close code the server ends the socket with (pings keep a socket alive, so the
    /// wait is bounded by a deadline, not only by the read limit).
    fn close_code(&mut self) -> u16 {
        let deadline = std::time::Instant::now() + CLOSE_LIMIT;
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "not closed within {CLOSE_LIMIT:?}"
            );
            match self.ws.read() {
                Ok(Message::Close(Some(frame))) => return u16::from(frame.code),
                Ok(Message::Close(None)) => return 1005,
                Ok(_) => {}
                Err(e) => panic!("no close frame: {e}"),
            }
        }
    }
}

/// A deletion frame with its witness checked (`auditHash` is the room's newest audit record's
/// `hash`) and then removed, for comparing the rest.
fn witnessed(app: &TestApp, mut frame: Value) -> Value {
    let room = frame["data"]["room"].as_str().expect("room").to_owned();
    let witness = frame["data"]
        .as_object_mut()
        .and_then(|d| d.remove("auditHash"))
        .expect("auditHash");
    assert_eq!(witness, app.audit(&room)[0]["hash"], "{frame}");
    frame
}

#[test]
fn members_receive_messages_and_deletions_and_outsiders_do_not() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    // The outsider has a room of its own, used as a marker: the first event it sees must be that.
    app.room("elsewhere", "outsider", &[], &[]);
    let mut member = Socket::connect(&app.base, &cast.member);
    let mut outsider = Socket::connect(&app.base, &cast.outsider);

    let id = app.say(&cast.owner, "r", "hello sockets");
    let sent = member.next_event();
    assert_eq!(sent["event"], "chat message");
    assert_eq!(sent["data"]["_id"], id.as_str());
    assert_eq!(sent["data"]["message"], "hello sockets");
    assert_eq!(sent["data"]["room"], "r");

    app.delete(&format!("/rooms/r/messages/{id}"))
        .user(&cast.manager)
        .send()
        .ok();
    assert_eq!(
        witnessed(&app, member.next_event()),
        json!({"event": "messageDeleted", "data": {"room": "r", "messageID": id}})
    );
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send()
        .ok();
    assert_eq!(
        witnessed(&app, member.next_event()),
        json!({"event": "messageDeleted", "data": {"room": "r", "messageID": "_all"}})
    );

    let marker = app.say(&cast.outsider, "elsewhere", "marker");
    let first = outsider.next_event();
    assert_eq!(
        first["data"]["_id"],
        marker.as_str(),
        "the outsider got nothing of room r before: {first}"
    );
}

#[test]
fn bulk_and_filtered_deletions_reach_sockets_with_their_ids_and_filter() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let mut member = Socket::connect(&app.base, &cast.member);
    let a = app.say(&cast.member, "r", "one");
    let b = app.say(&cast.member, "r", "two");
    let kept = app.say(&cast.owner, "r", "three");
    for _ in 0..3 {
        assert_eq!(member.next_event()["event"], "chat message");
    }
    app.post("/rooms/r/messages/delete")
        .user(&cast.owner)
        .json(json!({"messageIDs": [a, "gone"]}))
        .send()
        .ok();
    assert_eq!(
        witnessed(&app, member.next_event()),
        json!({"event": "messageDeleted", "data": {"room": "r", "messageID": "_bulk", "messageIDs": [a]}})
    );
    app.delete("/rooms/r/messages/_all?sender=member")
        .user(&cast.owner)
        .send()
        .ok();
    assert_eq!(
        witnessed(&app, member.next_event()),
        json!({"event": "messageDeleted", "data": {"room": "r", "messageID": "_all", "filter": {"sender": ["member"]}}})
    );
    let page = app.get("/rooms/r/messages/v3").user(&cast.member).send();
    assert_eq!(page.ok()["data"][0]["_id"], kept.as_str());
    let _ = b;
}

#[test]
fn a_removed_member_stops_receiving() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.room("elsewhere", "member", &[], &[]);
    let mut member = Socket::connect(&app.base, &cast.member);
    app.post("/rooms/r/delete/members")
        .user(&cast.member)
        .json(json!({"members": ["member"]}))
        .send()
        .ok();
    app.say(&cast.owner, "r", "after leaving");
    let marker = app.say(&cast.member, "elsewhere", "marker");
    assert_eq!(member.next_event()["data"]["_id"], marker.as_str());
}

#[test]
fn an_api_key_socket_receives_every_rooms_events() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.room("other", "outsider", &[], &[]);
    let mut platform = Socket::open(&app.base);
    platform.send(&json!({"apiKey": API_KEY}).to_string());
    assert_eq!(
        platform.next_event(),
        json!({"event": "authenticated", "data": {"client": "_platform"}})
    );
    let first = app.say(&cast.owner, "r", "in r");
    let second = app.say(&cast.outsider, "other", "in other");
    assert_eq!(platform.next_event()["data"]["_id"], first.as_str());
    assert_eq!(platform.next_event()["data"]["_id"], second.as_str());
    app.delete(&format!("/rooms/other/messages/{second}"))
        .api_key()
        .send()
        .ok();
    assert_eq!(
        witnessed(&app, platform.next_event()),
        json!({"event": "messageDeleted", "data": {"room": "other", "messageID": second}})
    );
}

#[test]
fn bad_or_missing_authentication_closes_with_1008() {
    let app = TestApp::spawn();
    app.user("alice");
    for hello in [
        json!({"clientKey": CLIENT_KEY, "token": "wrong"}).to_string(),
        json!({"clientKey": "wrong", "token": "x"}).to_string(),
        // The API key decides alone when present, as over HTTP.
        json!({"apiKey": "wrong", "clientKey": CLIENT_KEY, "token": "x"}).to_string(),
        json!({}).to_string(),
        "not json".to_owned(),
    ] {
        let mut socket = Socket::open(&app.base);
        socket.send(&hello);
        assert_eq!(socket.close_code(), 1008, "{hello}");
    }
}

#[test]
fn silence_after_connecting_closes_with_1008() {
    let database = fresh_database();
    let url = database.url.clone();
    let mut config = test_config(url);
    config.socket_auth_timeout = Duration::from_millis(300);
    let app = TestApp::spawn_with(config, Some(database));
    let mut socket = Socket::open(&app.base);
    assert_eq!(socket.close_code(), 1008);
}

#[test]
fn events_reach_sockets_on_another_server_sharing_the_database() {
    let database = fresh_database();
    let url = database.url.clone();
    let config = test_config(url);
    let writer = TestApp::spawn_with(config.clone(), Some(database));
    let reader = TestApp::spawn_with(config, None);
    let cast = writer.cast("r");
    let mut member = Socket::connect(&reader.base, &cast.member);
    let id = writer.say(&cast.owner, "r", "cross-process");
    assert_eq!(member.next_event()["data"]["_id"], id.as_str());
    writer
        .delete(&format!("/rooms/r/messages/{id}"))
        .user(&cast.owner)
        .send()
        .ok();
    assert_eq!(
        witnessed(&writer, member.next_event()),
        json!({"event": "messageDeleted", "data": {"room": "r", "messageID": id}})
    );
    drop(reader);
}

/// Reads until the server closes: the close code, and whether any chat frame came first.
fn close_code_after_frames(socket: &mut Socket) -> (u16, Vec<Value>) {
    let mut frames = Vec::new();
    let deadline = std::time::Instant::now() + CLOSE_LIMIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "not closed within {CLOSE_LIMIT:?}"
        );
        match socket.ws.read() {
            Ok(Message::Text(text)) => {
                frames.push(serde_json::from_str(text.as_str()).expect("JSON frame"));
            }
            Ok(Message::Close(Some(frame))) => return (u16::from(frame.code), frames),
            Ok(Message::Close(None)) => return (1005, frames),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

#[test]
fn a_socket_ends_with_its_token_revoked_superseded_or_expired_on_every_server() {
    let database = fresh_database();
    let url = database.url.clone();
    let config = test_config(url);
    let writer = TestApp::spawn_with(config.clone(), Some(database));
    let reader = TestApp::spawn_with(config, None);
    let cast = writer.cast("r");

    // Revoked through one server, the socket on the other one closes.
    let mut revoked = Socket::connect(&reader.base, &cast.member);
    writer
        .delete("/admin/clients/member/token")
        .api_key()
        .send()
        .ok();
    writer.say(&cast.owner, "r", "after revocation");
    let (code, frames) = close_code_after_frames(&mut revoked);
    assert_eq!(code, 1008);
    assert!(
        frames.is_empty(),
        "nothing is delivered once the revocation is seen: {frames:?}"
    );

    // Superseded by a newer token.
    let mut superseded = Socket::connect(&reader.base, &cast.manager);
    writer.user("manager");
    assert_eq!(superseded.close_code(), 1008);

    // Expired: a token that lives three seconds.
    let expires = chrono::Utc::now() + chrono::Duration::seconds(3);
    writer
        .post("/admin/clients")
        .api_key()
        .json(json!({"_id": "owner", "token": "short-lived", "expirationDate": expires.timestamp_millis()}))
        .send()
        .ok();
    let mut expiring = Socket::connect(&reader.base, "short-lived");
    assert_eq!(expiring.close_code(), 1008);
    drop(reader);
}

#[test]
fn a_frame_over_the_limit_closes_with_1009() {
    let app = TestApp::spawn();
    let token = app.user("alice");
    let big = "x".repeat(64 * 1024);
    let mut before_auth = Socket::open(&app.base);
    before_auth.send(&big);
    assert_eq!(before_auth.close_code(), 1009);
    let mut after_auth = Socket::connect(&app.base, &token);
    after_auth.send(&big);
    assert_eq!(after_auth.close_code(), 1009);
}

#[test]
fn wrong_keys_in_first_frames_spend_the_addresss_budget_like_requests() {
    let app = TestApp::spawn();
    app.user("alice");
    for _ in 0..20 {
        let mut socket = Socket::open(&app.base);
        socket.send(&json!({"apiKey": "guess"}).to_string());
        assert_eq!(socket.close_code(), 1008);
    }
    // Out of budget: the right key is refused too, over a socket and over HTTP.
    let mut socket = Socket::open(&app.base);
    socket.send(&json!({"apiKey": API_KEY}).to_string());
    assert_eq!(socket.close_code(), 1008);
    app.get("/admin/deletions")
        .api_key()
        .send()
        .err(429, "TOO_MANY_REQUESTS");
}
