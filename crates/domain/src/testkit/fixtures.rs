//! Builders the contract cases share, public so that an adapter's own extra tests use the
//! same vocabulary. They panic on any storage error: they are test code.

use super::ContractStore;
use crate::actor::Actor;
use crate::filter::MessageFilter;
use crate::ids::{ClientId, DeleteTarget, DeletionId, MessageId, RoomId};
use crate::model::{
    ClientChanges, DeleteOutcome, DeletionRequest, Message, MessageContent, NewRoom, Room,
    RoomChanges, RoomType, RoomUpdateOutcome,
};
use chrono::{DateTime, Duration, Utc};

/// A client ID (panics when invalid).
pub fn cid(s: &str) -> ClientId {
    ClientId::parse(s).expect("valid client id")
}

/// A room ID (panics when invalid).
pub fn rid(s: &str) -> RoomId {
    RoomId::parse(s).expect("valid room id")
}

/// A message ID (panics when invalid).
pub fn mid(s: &str) -> MessageId {
    MessageId::parse(s).expect("valid message id")
}

/// Now, at the millisecond precision every store keeps.
pub fn now() -> DateTime<Utc> {
    crate::model::to_millis(Utc::now())
}

/// `days` from now.
pub fn expires_in(days: i64) -> DateTime<Utc> {
    now() + Duration::days(days)
}

/// Creates (or keeps) the client `id`.
pub fn add_client<S: ContractStore + ?Sized>(store: &S, id: &str) {
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
pub fn add_room<S: ContractStore + ?Sized>(
    store: &S,
    id: &str,
    owner: &str,
    managers: &[&str],
    members: &[&str],
) {
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
        retention_days: None,
        created_at: now(),
    };
    assert!(
        store
            .insert_room(&room, &Actor::Platform, None)
            .expect("room inserted")
    );
}

/// A text message `id` whose content is the JSON string `body`.
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
pub fn send_many<S: ContractStore + ?Sized>(
    store: &S,
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

/// A plain client (not a platform administrator).
pub fn user(id: &str) -> Actor {
    Actor::Client {
        id: cid(id),
        is_platform_admin: false,
    }
}

/// A deletion by `by`, a client flagged as platform administrator (so it may delete in any
/// room; the permission cases build their own actors).
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

/// A deletion by `actor`.
pub fn request_as(room: &str, target: DeleteTarget, actor: Actor) -> DeletionRequest {
    DeletionRequest {
        id: DeletionId::generate(now()),
        room: rid(room),
        target,
        actor,
        deleted_at: now(),
        reason: None,
        filter: MessageFilter::default(),
        skip_if_nothing: false,
        retention: None,
    }
}

/// The count of a successful deletion (panics on any other outcome).
pub fn deleted_count(outcome: DeleteOutcome) -> u64 {
    match outcome {
        DeleteOutcome::Deleted(d) => d.deleted_count,
        other => panic!("expected a deletion, got {other:?}"),
    }
}

/// The room's visible message count, as the list reports it.
pub fn visible_count<S: ContractStore + ?Sized>(store: &S, room: &str) -> u64 {
    store
        .list_messages(&rid(room), None, 1)
        .expect("listed")
        .expect("page")
        .total_count
}

/// Applies `changes` to `room` as the API key; the room afterwards.
pub fn update_as_platform<S: ContractStore + ?Sized>(
    store: &S,
    room: &str,
    changes: &RoomChanges,
) -> Room {
    match store
        .update_room(&rid(room), &Actor::Platform, changes, now(), None)
        .expect("ran")
    {
        RoomUpdateOutcome::Updated(room) => room,
        other => panic!("expected an update, got {other:?}"),
    }
}

/// The room the domain's unit tests share, as a value: `r`, owned by `owner`, managed by
/// `manager`, with the member `member`.
pub fn cast_room() -> Room {
    Room {
        id: rid("r"),
        name: Some("R".to_owned()),
        room_type: RoomType::Group,
        owner: Some(cid("owner")),
        managers: vec![cid("manager")],
        members: vec![cid("manager"), cid("member"), cid("owner")],
        webhook: None,
        retention_days: None,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}
