//! Messages: send, recall, and read.

use crate::actor::Actor;
use crate::error::{Action, DomainError};
use crate::ids::{ClientId, MessageId, RoomId};
use crate::model::{Message, MessageContent, MessagePage, RECALL_TYPE};
use crate::usecases::{Limit, Ports};

/// Longest message type, in characters.
pub const MAX_TYPE_CHARS: usize = 64;

/// A message to send, or a recall when `message_type` is `recall`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessage {
    /// Custom ID, or the message to recall.
    pub id: Option<MessageId>,
    /// Content (ignored for a recall).
    pub content: Option<MessageContent>,
    /// `text` by default.
    pub message_type: String,
}

fn check_type(message_type: &str) -> Result<(), DomainError> {
    let chars = message_type.chars().count();
    if chars == 0 || chars > MAX_TYPE_CHARS {
        return Err(DomainError::InvalidBody(format!(
            "messageType must be 1 to {MAX_TYPE_CHARS} characters"
        )));
    }
    Ok(())
}

fn store_new(
    ports: &Ports<'_>,
    room: &RoomId,
    sender: ClientId,
    id: Option<MessageId>,
    content: MessageContent,
    message_type: String,
) -> Result<Message, DomainError> {
    let now = crate::model::to_millis(ports.clock.now());
    let message = Message {
        id: id.unwrap_or_else(|| MessageId::generate(now)),
        room: room.clone(),
        sender,
        content,
        message_type,
        sent_at: now,
    };
    if ports.messages.insert_message(&message)? {
        Ok(message)
    } else {
        Err(DomainError::MessageAlreadyExists)
    }
}

/// `POST /rooms/{roomID}/message`: a member sends, or recalls its own message.
///
/// # Errors
/// `PermissionDenied(ActAsClient)` for the API key, `RoomNotFound`, `NotRoomMember`,
/// `InvalidBody`, `MessageAlreadyExists`; for a recall `MessageNotFound` or
/// `PermissionDenied(RecallOthersMessage)`; a storage failure.
pub fn send_message(
    ports: &Ports<'_>,
    actor: &Actor,
    room_id: &RoomId,
    command: SendMessage,
) -> Result<Message, DomainError> {
    let (rooms, messages) = (ports.rooms, ports.messages);
    let sender = actor.require_client()?.clone();
    check_type(&command.message_type)?;
    let room = rooms.get_room(room_id)?.ok_or(DomainError::RoomNotFound)?;
    if !room.has_member(&sender) {
        return Err(DomainError::NotRoomMember);
    }
    if command.message_type == RECALL_TYPE {
        let id = command.id.ok_or_else(|| {
            DomainError::InvalidBody("_id is required to recall a message".to_owned())
        })?;
        let original = messages
            .find_message(room_id, &id)?
            .ok_or(DomainError::MessageNotFound)?;
        if original.sender != sender {
            return Err(DomainError::PermissionDenied(Action::RecallOthersMessage));
        }
        return messages
            .recall_message(room_id, &id)?
            .ok_or(DomainError::MessageNotFound);
    }
    let content = command
        .content
        .ok_or_else(|| DomainError::InvalidBody("message is required".to_owned()))?;
    store_new(
        ports,
        room_id,
        sender,
        command.id,
        content,
        command.message_type,
    )
}

/// `POST /messages` (API key): a message on behalf of `sender`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAs {
    /// The room.
    pub room: RoomId,
    /// The sender, who need not be a member.
    pub sender: ClientId,
    /// Content.
    pub content: MessageContent,
    /// Message type.
    pub message_type: String,
}

/// Sends on behalf of `command.sender`, who need not be a member.
///
/// # Errors
/// `InvalidBody`, `RoomNotFound`, `ClientNotFound`, or a storage failure.
pub fn send_as(ports: &Ports<'_>, command: SendAs) -> Result<Message, DomainError> {
    let SendAs {
        room: room_id,
        sender,
        content,
        message_type,
    } = command;
    let room_id = &room_id;
    check_type(&message_type)?;
    if message_type == RECALL_TYPE {
        return Err(DomainError::InvalidBody(
            "messageType \"recall\" is only accepted by POST /rooms/{roomID}/message".to_owned(),
        ));
    }
    ports
        .rooms
        .get_room(room_id)?
        .ok_or(DomainError::RoomNotFound)?;
    if ports.clients.get_client(&sender)?.is_none() {
        return Err(DomainError::ClientNotFound);
    }
    store_new(ports, room_id, sender, None, content, message_type)
}

/// `GET /rooms/{roomID}/messages/v3`: members and platform admins, newest first.
///
/// # Errors
/// `RoomNotFound`, `NotRoomMember`, `MessageNotFound` for an unknown cursor, or a storage failure.
pub fn list_messages(
    ports: &Ports<'_>,
    actor: &Actor,
    room_id: &RoomId,
    before: Option<&MessageId>,
    limit: Limit,
) -> Result<MessagePage, DomainError> {
    let room = ports
        .rooms
        .get_room(room_id)?
        .ok_or(DomainError::RoomNotFound)?;
    if !room.can_read(actor) {
        return Err(DomainError::NotRoomMember);
    }
    ports
        .messages
        .list_messages(room_id, before, limit.get())?
        .ok_or(DomainError::MessageNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Room, RoomType};
    use crate::ports::{MockClientStore, MockMessageStore, MockRoomStore};
    use crate::testkit::fixtures::{cid, user};
    use crate::usecases::Mocks;
    use chrono::DateTime;

    /// The room of alice and bob, with `messages`.
    fn with(messages: MockMessageStore) -> Mocks {
        Mocks {
            rooms: rooms(),
            messages,
            ..Mocks::default()
        }
    }

    fn rid() -> RoomId {
        RoomId::from_trusted("r".to_owned())
    }

    fn rooms() -> MockRoomStore {
        let mut rooms = MockRoomStore::new();
        rooms.expect_get_room().returning(|_| {
            Ok(Some(Room {
                id: rid(),
                name: None,
                room_type: RoomType::Group,
                owner: None,
                managers: vec![],
                members: vec![cid("alice"), cid("bob")],
                webhook: None,
                retention_days: None,
                created_at: DateTime::UNIX_EPOCH,
                updated_at: DateTime::UNIX_EPOCH,
            }))
        });
        rooms
    }

    fn text(json: &str) -> SendMessage {
        SendMessage {
            id: None,
            content: Some(MessageContent::from_trusted(json.to_owned())),
            message_type: "text".to_owned(),
        }
    }

    fn stored(sender: &str) -> Message {
        Message {
            id: MessageId::from_trusted("m1".to_owned()),
            room: rid(),
            sender: cid(sender),
            content: MessageContent::from_trusted("\"hi\"".to_owned()),
            message_type: "text".to_owned(),
            sent_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn members_send_outsiders_and_api_key_do_not() {
        let mut messages = MockMessageStore::new();
        messages
            .expect_insert_message()
            .times(1)
            .returning(|_| Ok(true));
        let sent = send_message(
            &with(messages).ports(),
            &user("alice"),
            &rid(),
            text("\"hi\""),
        )
        .expect("sent");
        assert_eq!(sent.sender, cid("alice"));
        assert_eq!(sent.id.as_str().len(), 24);

        let none = with(MockMessageStore::new());
        assert!(matches!(
            send_message(&none.ports(), &user("eve"), &rid(), text("1")),
            Err(DomainError::NotRoomMember)
        ));
        assert!(matches!(
            send_message(&none.ports(), &Actor::Platform, &rid(), text("1")),
            Err(DomainError::PermissionDenied(Action::ActAsClient))
        ));
    }

    #[test]
    fn taken_custom_id_conflicts() {
        let mut messages = MockMessageStore::new();
        messages.expect_insert_message().returning(|_| Ok(false));
        let mut cmd = text("1");
        cmd.id = Some(MessageId::from_trusted("m1".to_owned()));
        assert!(matches!(
            send_message(&with(messages).ports(), &user("alice"), &rid(), cmd),
            Err(DomainError::MessageAlreadyExists)
        ));
    }

    #[test]
    fn recall_only_by_the_sender() {
        let recall = SendMessage {
            id: Some(MessageId::from_trusted("m1".to_owned())),
            content: None,
            message_type: RECALL_TYPE.to_owned(),
        };
        let mut messages = MockMessageStore::new();
        messages
            .expect_find_message()
            .returning(|_, _| Ok(Some(stored("alice"))));
        messages
            .expect_recall_message()
            .times(1)
            .returning(|_, _| Ok(Some(stored("alice"))));
        let mocks = with(messages);
        assert!(send_message(&mocks.ports(), &user("alice"), &rid(), recall.clone()).is_ok());
        assert!(matches!(
            send_message(&mocks.ports(), &user("bob"), &rid(), recall),
            Err(DomainError::PermissionDenied(Action::RecallOthersMessage))
        ));
    }

    #[test]
    fn send_as_checks_room_then_sender() {
        let mut clients = MockClientStore::new();
        clients.expect_get_client().returning(|_| Ok(None));
        let content = MessageContent::from_trusted("1".to_owned());
        let cmd = SendAs {
            room: rid(),
            sender: cid("ghost"),
            content,
            message_type: "text".to_owned(),
        };
        let mocks = Mocks {
            clients,
            ..with(MockMessageStore::new())
        };
        let err = send_as(&mocks.ports(), cmd);
        assert!(matches!(err, Err(DomainError::ClientNotFound)));
    }

    #[test]
    fn unknown_cursor_is_message_not_found() {
        let mut messages = MockMessageStore::new();
        messages
            .expect_list_messages()
            .returning(|_, _, _| Ok(None));
        let cursor = MessageId::from_trusted("zzz".to_owned());
        let limit = Limit::parse(None).expect("default");
        let mocks = with(messages);
        let err = list_messages(&mocks.ports(), &user("alice"), &rid(), Some(&cursor), limit);
        assert!(matches!(err, Err(DomainError::MessageNotFound)));
        let err = list_messages(&mocks.ports(), &user("eve"), &rid(), None, limit);
        assert!(matches!(err, Err(DomainError::NotRoomMember)));
    }
}
