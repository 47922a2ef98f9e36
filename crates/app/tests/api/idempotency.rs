//! `Idempotency-Key` (docs/api.md §11): replays, refusals, per-caller keys, what is never
//! stored, and expiry.

use crate::support::*;
use roomwarden::state::Ports;
use roomwarden_domain::error::StoreError;
use roomwarden_domain::filter::MessageFilter;
use roomwarden_domain::ids::{ClientId, MessageId, RoomId};
use roomwarden_domain::memory::{AcceptAnyWebhook, MemoryStore};
use roomwarden_domain::model::{
    DeleteOutcome, DeletionRequest, ExpiredRoom, Matching, Message, MessagePage, RetentionDays,
};
use roomwarden_domain::ports::{IdempotencyStore, MessageStore, MockIdempotencyStore, StoreResult};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "Idempotency-Key";
const REPLAYED: &str = "Idempotent-Replayed";

fn page_total(app: &TestApp, token: &str, room: &str) -> u64 {
    app.get(&format!("/rooms/{room}/messages/v3"))
        .user(token)
        .send()
        .ok()["totalCount"]
        .as_u64()
        .expect("count")
}

fn audit_records(app: &TestApp, room: &str) -> usize {
    app.get(&format!("/admin/deletions?roomID={room}"))
        .api_key()
        .send()
        .ok()["data"]
        .as_array()
        .expect("records")
        .len()
}

#[test]
fn a_bad_key_is_400_after_authentication() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let too_long = "k".repeat(256);
    for bad in ["", "has space", too_long.as_str()] {
        app.delete("/rooms/r/messages/_all")
            .user(&cast.owner)
            .header(KEY, bad)
            .send()
            .err(400, "INVALID_PARAMETER");
        app.post("/rooms")
            .api_key()
            .header(KEY, bad)
            .json(json!({"_id": "x"}))
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    let twice = app
        .delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .header(KEY, "a")
        .header(KEY, "b")
        .send();
    twice.err(400, "INVALID_PARAMETER");
    assert!(
        twice.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Idempotency-Key")),
        "{:#}",
        twice.body
    );
    // Authentication comes first, as each route authenticates.
    app.delete("/rooms/r/messages/_all")
        .user("wrong-token")
        .header(KEY, "has space")
        .send()
        .err(401, "INVALID_TOKEN");
    app.post("/rooms")
        .user(&cast.owner)
        .header(KEY, "has space")
        .json(json!({"_id": "x"}))
        .send()
        .err(401, "INVALID_API_KEY");
    // A 401 stores nothing: the same key then runs for the authenticated caller.
    app.say(&cast.member, "r", "one");
    app.delete("/rooms/r/messages/_all")
        .user("wrong-token")
        .header(KEY, "k-401")
        .send()
        .err(401, "INVALID_TOKEN");
    let res = app
        .delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .header(KEY, "k-401")
        .send();
    assert_eq!(res.ok()["deletedCount"], 1);
    assert_eq!(res.header(REPLAYED), None);
    // Every visible ASCII character is allowed.
    let all: String = (0x21_u8..=0x7E).map(char::from).collect();
    app.delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .header(KEY, &all)
        .send()
        .ok();
}

#[test]
fn a_retried_clear_answers_the_original_count_and_changes_nothing() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    for i in 0..3 {
        app.say(&cast.member, "r", &format!("m{i}"));
    }
    let clear = || {
        app.delete("/rooms/r/messages/_all")
            .user(&cast.owner)
            .header(KEY, "clear-1")
            .send()
    };
    let first = clear();
    assert_eq!(first.ok()["deletedCount"], 3);
    assert_eq!(first.header(REPLAYED), None);
    app.say(&cast.member, "r", "after");
    app.say(&cast.member, "r", "after again");

    let again = clear();
    assert_eq!(again.status, 200);
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(again.content_type, "application/json; charset=utf-8");
    assert_eq!(
        again.body, first.body,
        "the very same answer, deletedAt included"
    );
    assert_eq!(
        page_total(&app, &cast.member, "r"),
        2,
        "nothing was cleared again"
    );
    assert_eq!(audit_records(&app, "r"), 1);

    // Without the key, a clear runs as usual.
    let plain = app
        .delete("/rooms/r/messages/_all")
        .user(&cast.owner)
        .send();
    assert_eq!(plain.ok()["deletedCount"], 2);
    assert_eq!(plain.header(REPLAYED), None);
}

#[test]
fn a_retried_single_delete_answers_200_not_404() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let id = app.say(&cast.member, "r", "spam");
    let path = format!("/rooms/r/messages/{id}");
    let delete = || {
        app.delete(&path)
            .user(&cast.manager)
            .header(KEY, "del-1")
            .send()
    };
    let first = delete();
    assert_eq!(first.ok()["deletedCount"], 1);
    let again = delete();
    assert_eq!(again.status, 200);
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(audit_records(&app, "r"), 1);
    app.delete(&path)
        .user(&cast.manager)
        .send()
        .err(404, "MESSAGE_NOT_FOUND");
    // A stored error is replayed too: the key of a 404 answers that 404 again.
    for _ in 0..2 {
        app.delete(&path)
            .user(&cast.manager)
            .header(KEY, "del-404")
            .send()
            .err(404, "MESSAGE_NOT_FOUND");
    }
}

#[test]
fn a_retried_send_creates_one_message() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let send = || {
        app.post("/rooms/r/message")
            .user(&cast.member)
            .header(KEY, "send-1")
            .json(json!({"message": {"text": "hello"}}))
            .send()
    };
    let first = send();
    let id = first.ok()["_id"].clone();
    let again = send();
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(again.ok()["_id"], id);
    assert_eq!(again.body, first.body);
    assert_eq!(page_total(&app, &cast.member, "r"), 1);

    // The backend's send on behalf of a user, too.
    let send_as = || {
        app.post("/messages")
            .api_key()
            .header(KEY, "send-1")
            .json(json!({"room": "r", "sender": "member", "message": "x", "messageType": "text"}))
            .send()
    };
    let first = send_as();
    assert_eq!(send_as().body, first.body);
    assert_eq!(page_total(&app, &cast.member, "r"), 2);
}

#[test]
fn the_same_key_with_another_request_is_422() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    app.room("r2", "owner", &[], &["member"]);
    app.post("/rooms/r/message")
        .user(&cast.member)
        .header(KEY, "k")
        .json(json!({"message": "A"}))
        .send()
        .ok();
    let refused = [
        app.post("/rooms/r/message").json(json!({"message": "B"})),
        app.post("/rooms/r2/message").json(json!({"message": "A"})),
        app.post("/rooms/r/message?x=1")
            .json(json!({"message": "A"})),
        // The body byte for byte: the same JSON written differently is another request.
        app.post("/rooms/r/message")
            .raw("application/json", r#"{ "message": "A" }"#),
        app.delete("/rooms/r/messages/_all"),
    ];
    for req in refused {
        let res = req.user(&cast.member).header(KEY, "k").send();
        res.err(422, "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(res.body["RM"], "Idempotency key reused");
        assert_eq!(res.header(REPLAYED), None);
    }
    assert_eq!(page_total(&app, &cast.member, "r"), 1);
    assert_eq!(page_total(&app, &cast.member, "r2"), 0);
}

#[test]
fn keys_are_per_caller() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    // A client may be called `_platform`: its keys are still not the API key's.
    let platform_named = app.user("_platform");
    app.post("/rooms/r/members")
        .api_key()
        .json(json!({"invitees": ["_platform"]}))
        .send()
        .ok();
    let body = json!({"message": "same"});
    let mut ids = Vec::new();
    for token in [&cast.owner, &cast.member, &platform_named] {
        let res = app
            .post("/rooms/r/message")
            .user(token)
            .header(KEY, "shared")
            .json(body.clone())
            .send();
        assert_eq!(res.header(REPLAYED), None);
        ids.push(res.ok()["_id"].clone());
    }
    let platform = app
        .post("/messages")
        .api_key()
        .header(KEY, "shared")
        .json(json!({"room": "r", "sender": "owner", "message": "same", "messageType": "text"}))
        .send();
    assert_eq!(platform.header(REPLAYED), None);
    ids.push(platform.ok()["_id"].clone());
    let distinct: std::collections::HashSet<String> = ids.iter().map(ToString::to_string).collect();
    assert_eq!(distinct.len(), 4, "{ids:?}");
    assert_eq!(page_total(&app, &cast.member, "r"), 4);
    // Each caller's retry replays its own answer.
    let again = app
        .post("/rooms/r/message")
        .user(&cast.member)
        .header(KEY, "shared")
        .json(body)
        .send();
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(again.ok()["_id"], ids[1]);
}

#[test]
fn a_replay_never_shows_a_deleted_messages_content() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let send = || {
        app.post("/rooms/r/message")
            .user(&cast.member)
            .header(KEY, "send-secret")
            .json(json!({"message": "SECRET-7c1e"}))
            .send()
    };
    let sent = send();
    let id = sent.ok()["_id"].as_str().expect("id").to_owned();
    let rename = || {
        app.put("/rooms/r")
            .user(&cast.owner)
            .header(KEY, "rename")
            .json(json!({"name": "Renamed"}))
            .send()
    };
    assert_eq!(rename().ok()["lastMessage"]["message"], "SECRET-7c1e");
    assert_eq!(send().ok()["message"], "SECRET-7c1e", "replayed as sent");

    app.delete(&format!("/rooms/r/messages/{id}"))
        .user(&cast.owner)
        .send()
        .ok();
    let again = send();
    assert_eq!(again.header(REPLAYED), Some("true"));
    let result = again.ok();
    assert_eq!(result["_id"], id.as_str(), "still the original answer");
    assert_eq!(
        result["message"],
        json!(null),
        "without the deleted content"
    );
    assert_eq!(page_total(&app, &cast.member, "r"), 0, "and nothing resent");
    let renamed = rename();
    assert_eq!(renamed.header(REPLAYED), Some("true"));
    assert_eq!(renamed.ok()["lastMessage"]["message"], json!(null));
    assert_eq!(renamed.ok()["name"], "Renamed");
    assert!(!again.body.to_string().contains("SECRET-7c1e"));
    assert!(!renamed.body.to_string().contains("SECRET-7c1e"));
}

#[test]
fn a_user_purge_across_rooms_redacts_the_replayed_sends_it_covers() {
    let app = TestApp::spawn();
    let cast = app.cast("r1");
    app.room("r2", "owner", &["manager"], &["member"]);
    let send = |who: &str, room: &str, key: &str, text: &str| {
        app.post(&format!("/rooms/{room}/message"))
            .user(who)
            .header(KEY, key)
            .json(json!({"message": text}))
            .send()
    };
    send(&cast.member, "r1", "one", "SECRET-r1").ok();
    send(&cast.member, "r2", "two", "SECRET-r2").ok();
    send(&cast.owner, "r2", "three", "the owner's").ok();
    let purge = app
        .delete("/admin/clients/member/messages")
        .api_key()
        .send();
    assert_eq!(purge.ok()["deletedCount"], 2);
    for (room, key, text) in [("r1", "one", "SECRET-r1"), ("r2", "two", "SECRET-r2")] {
        let again = send(&cast.member, room, key, text);
        assert_eq!(again.header(REPLAYED), Some("true"));
        assert_eq!(again.ok()["message"], json!(null), "{room}");
        assert!(!again.body.to_string().contains(text), "{room}");
    }
    let kept = send(&cast.owner, "r2", "three", "the owner's");
    assert_eq!(kept.header(REPLAYED), Some("true"));
    assert_eq!(
        kept.ok()["message"],
        "the owner's",
        "not covered, not redacted"
    );
}

#[test]
fn an_answer_carrying_a_token_is_never_stored() {
    let app = TestApp::spawn();
    let issue = || {
        app.post("/admin/clients")
            .api_key()
            .header(KEY, "issue")
            .json(json!({"_id": "alice", "issueAccessToken": true}))
            .send()
    };
    let first = issue();
    let old = first.ok()["token"].as_str().expect("token").to_owned();
    let again = issue();
    assert_eq!(again.header(REPLAYED), None, "the retry ran again");
    let new = again.ok()["token"].as_str().expect("token").to_owned();
    assert_ne!(old, new);
    app.get("/me").user(&old).send().err(401, "INVALID_TOKEN");
    app.get("/me").user(&new).send().ok();
    // Without a token in the answer, the upsert is stored and replayed.
    let rename = || {
        app.post("/admin/clients")
            .api_key()
            .header(KEY, "rename")
            .json(json!({"_id": "alice", "nickname": "Al"}))
            .send()
    };
    rename().ok();
    assert_eq!(rename().header(REPLAYED), Some("true"));
}

#[test]
fn an_expired_key_is_swept_and_then_runs_as_new() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let send = || {
        app.post("/rooms/r/message")
            .user(&cast.member)
            .header(KEY, "day-old")
            .json(json!({"message": "hi"}))
            .send()
    };
    let first = send();
    assert_eq!(send().header(REPLAYED), Some("true"));
    // The server's own store, a day and an hour later: the record has expired and goes.
    let db = roomwarden_adapters::Database::connect(
        &app.database_url,
        &roomwarden_adapters::PoolOptions::default(),
    )
    .expect("connects");
    let store = roomwarden_adapters::DieselStore::new(db);
    let later = chrono::Utc::now() + chrono::Duration::hours(25);
    assert_eq!(store.remove_expired_keys(later, 1_000).expect("swept"), 1);
    let renewed = send();
    assert_eq!(renewed.header(REPLAYED), None, "the key is new again");
    assert_ne!(renewed.ok()["_id"], first.ok()["_id"]);
    assert_eq!(page_total(&app, &cast.member, "r"), 2);
}

/// The message port over a [`MemoryStore`] with a gate in front of `delete`: each delete
/// reports that it entered and waits to be let go; `fail_next` makes the next delete fail.
struct Gated {
    inner: MemoryStore,
    entered: Mutex<Sender<()>>,
    go: Mutex<Receiver<()>>,
    fail_next: AtomicBool,
}

impl MessageStore for Gated {
    fn insert_message(&self, message: &Message) -> StoreResult<bool> {
        self.inner.insert_message(message)
    }
    fn find_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>> {
        self.inner.find_message(room, id)
    }
    fn recall_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>> {
        self.inner.recall_message(room, id)
    }
    fn list_messages(
        &self,
        room: &RoomId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> StoreResult<Option<MessagePage>> {
        self.inner.list_messages(room, before, limit)
    }
    fn last_message(&self, room: &RoomId) -> StoreResult<Option<Message>> {
        self.inner.last_message(room)
    }
    fn delete(&self, request: &DeletionRequest) -> StoreResult<DeleteOutcome> {
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Internal(anyhow::anyhow!("disk on fire")));
        }
        let _ = self.entered.lock().expect("lock").send(());
        let _ = self
            .go
            .lock()
            .expect("lock")
            .recv_timeout(Duration::from_secs(5));
        self.inner.delete(request)
    }
    fn delete_many(&self, requests: &[DeletionRequest]) -> StoreResult<Vec<DeleteOutcome>> {
        self.inner.delete_many(requests)
    }
    fn count_matching(&self, room: &RoomId, filter: &MessageFilter) -> StoreResult<Option<u64>> {
        self.inner.count_matching(room, filter)
    }
    fn sample_matching(
        &self,
        room: &RoomId,
        filter: &MessageFilter,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.inner.sample_matching(room, filter, limit)
    }
    fn find_matching(
        &self,
        filter: &MessageFilter,
        among: Option<&[RoomId]>,
        sample: u32,
    ) -> StoreResult<Matching> {
        self.inner.find_matching(filter, among, sample)
    }
    fn rooms_with_messages_from(
        &self,
        sender: &ClientId,
        among: Option<&[RoomId]>,
    ) -> StoreResult<Vec<RoomId>> {
        self.inner.rooms_with_messages_from(sender, among)
    }
    fn expired_rooms(
        &self,
        default_days: Option<RetentionDays>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<ExpiredRoom>> {
        self.inner.expired_rooms(default_days, now)
    }
}

/// The real routes over memory ports with [`Gated`] messages (and `idempotency` as given),
/// with a room `r` of three messages; the channels drive the gate.
fn gated_app(
    idempotency: Arc<dyn IdempotencyStore>,
) -> (TestApp, Arc<Gated>, Receiver<()>, Sender<()>) {
    let memory = MemoryStore::new();
    let (entered, entered_rx) = channel();
    let (go_tx, go) = channel();
    let gated = Arc::new(Gated {
        inner: memory.clone(),
        entered: Mutex::new(entered),
        go: Mutex::new(go),
        fail_next: AtomicBool::new(false),
    });
    let shared = Arc::new(memory);
    let app = TestApp::over_ports(Ports {
        clients: shared.clone(),
        rooms: shared.clone(),
        messages: gated.clone(),
        audit: shared.clone(),
        idempotency,
        // The memory store has no outbox; nothing here lists or redelivers events.
        events: Arc::new(roomwarden_domain::ports::MockEventLog::new()),
        reports: shared,
        readiness: Arc::new(|| Ok(())),
        webhooks: Arc::new(AcceptAnyWebhook),
        sessions: Ports::without_sessions(),
        clock: Arc::new(roomwarden_domain::time::SystemClock),
    });
    app.post("/admin/clients")
        .api_key()
        .json(json!({"_id": "alice"}))
        .send()
        .ok();
    app.post("/rooms")
        .api_key()
        .json(json!({"_id": "r", "owner": "alice"}))
        .send()
        .ok();
    for i in 0..3 {
        app.post("/messages")
            .api_key()
            .json(json!({"room": "r", "sender": "alice", "message": i, "messageType": "text"}))
            .send()
            .ok();
    }
    (app, gated, entered_rx, go_tx)
}

#[test]
fn the_same_key_while_the_first_request_runs_is_409() {
    let (app, _, entered, go) = gated_app(Arc::new(MemoryStore::new()));
    let headers = [
        ("IM-API-KEY".to_owned(), API_KEY.to_owned()),
        (KEY.to_owned(), "slow".to_owned()),
    ];
    let (base, first_headers) = (app.base.clone(), headers.to_vec());
    let first = std::thread::spawn(move || {
        send_with(
            &agent(),
            &base,
            "DELETE",
            "/rooms/r/messages/_all",
            &first_headers,
            None,
        )
    });
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the first request reached the deletion");
    let during = app
        .delete("/rooms/r/messages/_all")
        .api_key()
        .header(KEY, "slow")
        .send();
    during.err(409, "IDEMPOTENCY_KEY_IN_USE");
    assert_eq!(during.body["RM"], "Idempotency key in use");
    // Another request with the key is refused as such even while the first runs.
    app.delete("/rooms/r/messages/_all?x=1")
        .api_key()
        .header(KEY, "slow")
        .send()
        .err(422, "IDEMPOTENCY_KEY_REUSED");
    go.send(()).expect("let go");
    let first = first.join().expect("joined");
    assert_eq!(first.ok()["deletedCount"], 3);
    let after = app
        .delete("/rooms/r/messages/_all")
        .api_key()
        .header(KEY, "slow")
        .send();
    assert_eq!(after.header(REPLAYED), Some("true"));
    assert_eq!(after.body, first.body);
    assert!(
        entered.try_recv().is_err(),
        "neither the refused requests nor the replay reached the deletion"
    );
}

#[test]
fn a_server_error_is_not_stored_and_the_retry_runs() {
    let (app, gated, entered, go) = gated_app(Arc::new(MemoryStore::new()));
    gated.fail_next.store(true, Ordering::SeqCst);
    let clear = || {
        app.delete("/rooms/r/messages/_all")
            .api_key()
            .header(KEY, "flaky")
            .send()
    };
    clear().err(500, "INTERNAL_ERROR");
    go.send(()).expect("let go");
    let retry = clear();
    assert_eq!(retry.header(REPLAYED), None, "the 500 was not stored");
    assert_eq!(retry.ok()["deletedCount"], 3);
    entered.recv().expect("the retry ran the deletion");
    assert_eq!(clear().header(REPLAYED), Some("true"));
}

#[test]
fn without_the_header_idempotency_storage_is_never_called() {
    // Any call on this mock would fail the request.
    let (app, _, _, go) = gated_app(Arc::new(MockIdempotencyStore::new()));
    go.send(()).expect("let go");
    let res = app.delete("/rooms/r/messages/_all").api_key().send();
    assert_eq!(res.ok()["deletedCount"], 3);
}

#[test]
fn the_document_lists_the_header_and_codes_on_every_write() {
    let doc = roomwarden::openapi::document();
    let mut writes = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let is_write = matches!(method.as_str(), "post" | "put" | "delete");
            let has_header = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == KEY && p["in"] == "header"));
            assert_eq!(has_header, is_write, "{method} {path}");
            if is_write {
                writes += 1;
                let described = |status: &str, code: &str| {
                    op["responses"][status]["description"]
                        .as_str()
                        .is_some_and(|d| d.contains(code))
                };
                assert!(
                    described("409", "IDEMPOTENCY_KEY_IN_USE"),
                    "{method} {path}"
                );
                assert!(
                    described("422", "IDEMPOTENCY_KEY_REUSED"),
                    "{method} {path}"
                );
                assert!(
                    op["responses"]["200"]["headers"][REPLAYED].is_object(),
                    "{method} {path}"
                );
            }
        }
    }
    assert!(writes >= 10, "{writes}");
}

#[test]
fn keys_and_bodies_stay_out_of_the_log() {
    let database = fresh_database();
    let url = database.url.clone();
    let server = Binary::start(&[
        ("ROOMWARDEN_DATABASE_URL", &url),
        ("ROOMWARDEN_API_KEY", API_KEY),
        ("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY),
        ("RUST_LOG", "debug"),
    ]);
    let headers = [
        ("IM-API-KEY".to_owned(), API_KEY.to_owned()),
        ("Content-Type".to_owned(), "application/json".to_owned()),
        (KEY.to_owned(), "idem-key-3f9a0c".to_owned()),
    ];
    let body = r#"{"_id":"alice","nickname":"BODY-NICK-77d1"}"#;
    for _ in 0..2 {
        send_with(
            &agent(),
            &server.base,
            "POST",
            "/admin/clients",
            &headers,
            Some(body),
        )
        .ok();
    }
    let text = server.stop();
    assert!(text.contains("request"), "the access log is on: {text}");
    for secret in [API_KEY, "idem-key-3f9a0c", "BODY-NICK-77d1"] {
        assert!(!text.contains(secret), "{secret} appears in the log");
    }
    drop(database);
}

/// Memory's clients, counting the token lookups that authenticate a request.
struct CountingClients {
    inner: MemoryStore,
    lookups: std::sync::atomic::AtomicUsize,
}

impl roomwarden_domain::ports::ClientStore for CountingClients {
    fn find_token(
        &self,
        hash: &roomwarden_domain::model::TokenHash,
    ) -> StoreResult<Option<roomwarden_domain::model::TokenRecord>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_token(hash)
    }
    fn find_tokens(
        &self,
        hashes: &[roomwarden_domain::model::TokenHash],
    ) -> StoreResult<
        Vec<(
            roomwarden_domain::model::TokenHash,
            roomwarden_domain::model::TokenRecord,
        )>,
    > {
        self.inner.find_tokens(hashes)
    }
    fn get_client(&self, id: &ClientId) -> StoreResult<Option<roomwarden_domain::model::Client>> {
        self.inner.get_client(id)
    }
    fn save_client(
        &self,
        changes: &roomwarden_domain::model::ClientChanges,
        token: Option<&roomwarden_domain::model::NewToken>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<roomwarden_domain::model::Client>> {
        self.inner.save_client(changes, token, now)
    }
    fn revoke_tokens(
        &self,
        client: &ClientId,
        only: Option<&roomwarden_domain::model::TokenHash>,
    ) -> StoreResult<Option<u64>> {
        self.inner.revoke_tokens(client, only)
    }
    fn missing_clients(&self, ids: &[ClientId]) -> StoreResult<Vec<ClientId>> {
        self.inner.missing_clients(ids)
    }
}

/// A request with `Idempotency-Key` is authenticated once: the claim's authentication is the
/// one its handler runs as (one token lookup, as without the key), and a replay looks the
/// token up once too.
#[test]
fn a_request_with_a_key_authenticates_once() {
    let memory = MemoryStore::new();
    let clients = Arc::new(CountingClients {
        inner: memory.clone(),
        lookups: std::sync::atomic::AtomicUsize::new(0),
    });
    let shared = Arc::new(memory);
    let app = TestApp::over_ports(Ports {
        clients: clients.clone(),
        rooms: shared.clone(),
        messages: shared.clone(),
        audit: shared.clone(),
        idempotency: shared.clone(),
        events: Arc::new(roomwarden_domain::ports::MockEventLog::new()),
        reports: shared,
        readiness: Arc::new(|| Ok(())),
        webhooks: Arc::new(AcceptAnyWebhook),
        sessions: Ports::without_sessions(),
        clock: Arc::new(roomwarden_domain::time::SystemClock),
    });
    let alice = app.user("alice");
    app.room("r", "alice", &[], &[]);
    let first = app.say(&alice, "r", "one");
    let second = app.say(&alice, "r", "two");
    let lookups = || clients.lookups.load(Ordering::SeqCst);

    let before = lookups();
    app.delete(&format!("/rooms/r/messages/{first}"))
        .user(&alice)
        .send()
        .ok();
    assert_eq!(lookups() - before, 1, "without a key");

    let before = lookups();
    let with_key = |message: &str| {
        app.delete(&format!("/rooms/r/messages/{message}"))
            .user(&alice)
            .header(KEY, "once")
            .send()
    };
    let res = with_key(&second);
    res.ok();
    assert_eq!(lookups() - before, 1, "with a key: the claim's lookup only");

    let before = lookups();
    let replay = with_key(&second);
    assert_eq!(replay.header(REPLAYED), Some("true"));
    assert_eq!(lookups() - before, 1, "a replay");
}

/// A trigger that makes the database refuse to store any answer under a key (as a full disk
/// or a failing node would), on this run's backend.
fn refuse_answers(app: &TestApp) -> roomwarden_adapters::testing::Rows {
    let rows = roomwarden_adapters::testing::Rows::open(&app.database_url);
    rows.execute(if app.sqlite_file().is_some() {
        "CREATE TRIGGER refuse_answers BEFORE UPDATE ON idempotency_keys \
         WHEN NEW.state = 'done' BEGIN SELECT RAISE(ABORT, 'answers refused'); END"
    } else {
        "CREATE TRIGGER refuse_answers BEFORE UPDATE ON idempotency_keys FOR EACH ROW \
         BEGIN IF NEW.state = 'done' THEN \
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'answers refused'; END IF; END"
    });
    rows
}

/// The answer commits in the same transaction as its effect: when the answer cannot be
/// stored, the deletion does not stand either, the client is told so, and the key is free
/// for a retry that then deletes once. (Before, the deletion committed on its own, the
/// client got 200, and the key stayed in flight: a retry after its lease deleted again.)
#[test]
fn an_answer_that_cannot_be_stored_takes_its_effect_with_it() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let id = app.say(&cast.member, "r", "spam");
    let delete = || {
        app.delete(&format!("/rooms/r/messages/{id}"))
            .user(&cast.manager)
            .header(KEY, "atomic")
            .send()
    };
    // The deletions `/metrics` counted, of one message each.
    let counted = || {
        let (_, _, text) = crate::metrics::fetch(&app, &[]);
        text.lines()
            .find_map(|l| l.strip_prefix("roomwarden_deletions_total{kind=\"one\"} "))
            .map_or(0.0, |v| v.parse::<f64>().expect("a number"))
    };
    let rows = refuse_answers(&app);
    let refused = delete();
    assert!(refused.status >= 500, "{:#}", refused.body);
    assert!(
        refused.body["RC"].is_number(),
        "enveloped: {:#}",
        refused.body
    );
    assert_eq!(page_total(&app, &cast.member, "r"), 1, "the message stands");
    assert_eq!(audit_records(&app, "r"), 0, "nothing was recorded");
    assert_eq!(counted(), 0.0, "a deletion rolled back is not counted");

    rows.execute("DROP TRIGGER refuse_answers");
    let retried = delete();
    assert_eq!(retried.ok()["deletedCount"], 1, "the key was released");
    assert_eq!(retried.header(REPLAYED), None);
    assert_eq!(delete().header(REPLAYED), Some("true"));
    assert_eq!(page_total(&app, &cast.member, "r"), 0);
    assert_eq!(audit_records(&app, "r"), 1);
    assert_eq!(counted(), 1.0);
}

/// One storage hop per keyed request (docs/architecture.md): the claim, the use case and
/// the stored answer share one session, as a request without a key has; so does a refusal
/// the handler makes on its own, and a replay. (Before: three sessions, one per hop.)
#[test]
fn a_keyed_request_takes_one_session() {
    let database = fresh_database();
    let url = database.url.clone();
    let store = roomwarden_adapters::DieselStore::new(
        roomwarden_adapters::Database::connect(&url, &roomwarden_adapters::PoolOptions::default())
            .expect("connects"),
    );
    let mut ports = Ports::from_store(
        &store,
        roomwarden_adapters::AddressPolicy {
            allow_private: true,
        },
    );
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (inner, count) = (ports.sessions.clone(), opened.clone());
    ports.sessions = Arc::new(move |ports: &Ports| {
        count.fetch_add(1, Ordering::SeqCst);
        inner(ports)
    });
    let app = TestApp::over_ports(ports);
    let cast = app.cast("r");
    let id = app.say(&cast.member, "r", "spam");
    let sessions = |send: &dyn Fn() -> Resp| {
        let before = opened.load(Ordering::SeqCst);
        let res = send();
        (opened.load(Ordering::SeqCst) - before, res)
    };
    let delete = || {
        app.delete(&format!("/rooms/r/messages/{id}"))
            .user(&cast.manager)
            .header(KEY, "one-hop")
            .send()
    };
    let (n, res) = sessions(&|| {
        app.delete(&format!("/rooms/r/messages/{id}x"))
            .user(&cast.manager)
            .send()
    });
    res.err(404, "MESSAGE_NOT_FOUND");
    assert_eq!(n, 1, "without a key");
    let (n, res) = sessions(&delete);
    assert_eq!(res.ok()["deletedCount"], 1);
    assert_eq!(n, 1, "with a key");
    let (n, res) = sessions(&delete);
    assert_eq!(res.header(REPLAYED), Some("true"));
    assert_eq!(n, 1, "a replay");
    let (n, res) = sessions(&|| {
        app.post("/messages")
            .api_key()
            .header(KEY, "bad-body")
            .raw("application/json", "{")
            .send()
    });
    assert_eq!(res.status, 400, "{:#}", res.body);
    assert_eq!(n, 1, "a body its handler refused, with a key");
    drop(app);
    drop(database);
}
