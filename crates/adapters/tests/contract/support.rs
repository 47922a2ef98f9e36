//! Fresh stores and fixtures for the contract tests.

use chrono::{DateTime, Duration, Utc};
use roomwarden_adapters::testing::FreshDatabase;
use roomwarden_adapters::{Backend, Database, DieselStore, PoolOptions};
use roomwarden_domain::auth::Actor;
use roomwarden_domain::ids::{ClientId, DeleteTarget, DeletionId, MessageId, RoomId};
use roomwarden_domain::model::{
    ClientChanges, DeletionRequest, Message, MessageContent, NewRoom, Room, RoomChanges, RoomType,
    RoomUpdateOutcome,
};
use roomwarden_domain::ports::{ClientStore, MessageStore, RoomStore};

/// A store over a fresh database (removed on drop, for SQLite).
pub struct TestStore {
    pub store: DieselStore,
    database: FreshDatabase,
}

impl TestStore {
    /// The SQLite file, when the run uses SQLite.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.database.sqlite_file.as_deref()
    }
}

impl std::ops::Deref for TestStore {
    type Target = DieselStore;
    fn deref(&self) -> &DieselStore {
        &self.store
    }
}

pub fn store() -> TestStore {
    store_with_batch(roomwarden_adapters::PURGE_BATCH)
}

pub fn store_with_batch(batch: usize) -> TestStore {
    let database = FreshDatabase::new();
    let db = Database::connect(&database.url, &PoolOptions::default())
        .expect("test database must be reachable");
    TestStore {
        store: DieselStore::new(db).with_purge_batch(batch),
        database,
    }
}

pub fn is_sqlite(store: &TestStore) -> bool {
    store.database().backend() == Backend::Sqlite
}

pub fn cid(s: &str) -> ClientId {
    ClientId::parse(s).expect("valid client id")
}

pub fn rid(s: &str) -> RoomId {
    RoomId::parse(s).expect("valid room id")
}

pub fn mid(s: &str) -> MessageId {
    MessageId::parse(s).expect("valid message id")
}

pub fn now() -> DateTime<Utc> {
    roomwarden_domain::model::to_millis(Utc::now())
}

pub fn add_client(store: &DieselStore, id: &str) {
    let changes = ClientChanges {
        id: cid(id),
        nickname: None,
        avatar_url: None,
        is_platform_admin: None,
    };
    store
        .save_client(&changes, None, now())
        .expect("client saved");
}

/// A room `id` owned by `owner`, with `managers` and `members` (all created as clients).
pub fn add_room(store: &DieselStore, id: &str, owner: &str, managers: &[&str], members: &[&str]) {
    for c in std::iter::once(&owner).chain(managers).chain(members) {
        add_client(store, c);
    }
    let room = NewRoom {
        id: rid(id),
        name: Some(format!("Room {id}")),
        room_type: RoomType::Group,
        owner: Some(cid(owner)),
        managers: managers.iter().map(|m| cid(m)).collect(),
        members: members.iter().map(|m| cid(m)).collect(),
        webhook: None,
        created_at: now(),
    };
    assert!(store.insert_room(&room).expect("room inserted"));
}

pub fn message(room: &str, sender: &str, id: &str, body: &str) -> Message {
    Message {
        id: mid(id),
        room: rid(room),
        sender: cid(sender),
        content: MessageContent::from_json(format!("{body:?}")).expect("small"),
        message_type: "text".to_owned(),
        sent_at: now(),
    }
}

/// Sends `n` messages `"<prefix>-<i>"` and returns their IDs in sending order.
pub fn send_many(
    store: &DieselStore,
    room: &str,
    sender: &str,
    prefix: &str,
    n: usize,
) -> Vec<String> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}-{i}");
            assert!(
                store
                    .insert_message(&message(room, sender, &id, &id))
                    .expect("inserted")
            );
            id
        })
        .collect()
}

/// A deletion by `by`, a client flagged as platform administrator (so it may delete in any
/// room; the permission tests build their own actors).
pub fn request(room: &str, target: DeleteTarget, by: &str) -> DeletionRequest {
    request_as(
        room,
        target,
        Actor::Client {
            id: cid(by),
            is_platform_admin: true,
        },
    )
}

/// A plain client (not a platform administrator).
pub fn user(id: &str) -> Actor {
    Actor::Client {
        id: cid(id),
        is_platform_admin: false,
    }
}

/// A deletion by `actor`.
pub fn request_as(room: &str, target: DeleteTarget, actor: Actor) -> DeletionRequest {
    DeletionRequest {
        id: DeletionId::generate(now()),
        room: rid(room),
        target,
        actor,
        deleted_at: now(),
        reason: None,
    }
}

pub fn visible_count(store: &DieselStore, room: &str) -> u64 {
    store
        .list_messages(&rid(room), None, 1)
        .expect("listed")
        .expect("page")
        .total_count
}

pub fn expires_in(days: i64) -> DateTime<Utc> {
    now() + Duration::days(days)
}

/// Applies `changes` to `room` as the API key; the room afterwards.
pub fn update_as_platform(store: &DieselStore, room: &str, changes: &RoomChanges) -> Room {
    match store
        .update_room(&rid(room), &Actor::Platform, changes, now())
        .expect("ran")
    {
        RoomUpdateOutcome::Updated(room) => room,
        other => panic!("expected an update, got {other:?}"),
    }
}
