//! Rooms: create, read, update, and membership.

use crate::actor::Actor;
use crate::error::DomainError;
use crate::ids::{ClientId, RoomId};
use crate::model::{
    AuditReason, MAX_TEXT_CHARS, MAX_URL_CHARS, NewRoom, RetentionDays, Room, RoomChanges,
    RoomType, RoomUpdateOutcome, RoomView, check_text,
};
use crate::ports::{ClientStore, MessageStore};
use crate::usecases::Ports;
use crate::webhook::WebhookGuard;

/// `POST /rooms` (API key).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateRoom {
    /// Requested ID; generated when absent.
    pub id: Option<RoomId>,
    /// Display name.
    pub name: Option<String>,
    /// Group (default) or direct.
    pub room_type: RoomType,
    /// Owner.
    pub owner: Option<ClientId>,
    /// Plain members.
    pub members: Vec<ClientId>,
    /// Managers.
    pub managers: Vec<ClientId>,
    /// Webhook URL.
    pub webhook: Option<String>,
    /// Retention (ext).
    pub retention_days: Option<RetentionDays>,
    /// Why, from `X-Audit-Log-Reason`: recorded with the creation's room-change record.
    pub reason: Option<AuditReason>,
}

/// Checks a webhook URL: `http://` or `https://`, at most 2048 characters, and a
/// destination the deployment's address policy allows ([`WebhookGuard`]).
///
/// # Errors
/// [`DomainError::InvalidBody`] otherwise.
pub fn check_webhook(url: &str, webhooks: &dyn WebhookGuard) -> Result<(), DomainError> {
    check_text("webhook", url, MAX_URL_CHARS)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or_default();
    if rest.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(DomainError::InvalidBody(
            "webhook must be an http:// or https:// URL".to_owned(),
        ));
    }
    webhooks
        .check(url)
        .map_err(|refused| DomainError::InvalidBody(format!("webhook: {refused}")))
}

fn require_clients(clients: &dyn ClientStore, ids: &[ClientId]) -> Result<(), DomainError> {
    if ids.is_empty() {
        return Ok(());
    }
    if clients.missing_clients(ids)?.is_empty() {
        Ok(())
    } else {
        Err(DomainError::ClientNotFound)
    }
}

/// The room after a change that storage checked again, under the room's lock, against the
/// roles then in force (the use case's own check answers in the contract's order).
fn updated(
    messages: &dyn MessageStore,
    outcome: RoomUpdateOutcome,
) -> Result<RoomView, DomainError> {
    match outcome {
        RoomUpdateOutcome::Updated(room) => view(messages, room),
        RoomUpdateOutcome::RoomNotFound => Err(DomainError::RoomNotFound),
        RoomUpdateOutcome::PermissionDenied(action) => Err(DomainError::PermissionDenied(action)),
    }
}

fn view(messages: &dyn MessageStore, room: Room) -> Result<RoomView, DomainError> {
    let last_message = messages.last_message(&room.id)?;
    Ok(RoomView { room, last_message })
}

/// Creates a room as the API key (the only caller allowed); the owner and managers become
/// members. Storage records the creation as a room change by `_platform`.
///
/// # Errors
/// `InvalidBody`, `ClientNotFound`, `RoomAlreadyExists`, or a storage failure.
pub fn create_room(ports: &Ports<'_>, command: CreateRoom) -> Result<RoomView, DomainError> {
    if let Some(name) = &command.name {
        check_text("name", name, MAX_TEXT_CHARS)?;
    }
    if let Some(url) = &command.webhook {
        check_webhook(url, ports.webhooks)?;
    }
    let mut referenced: Vec<ClientId> = command.owner.iter().cloned().collect();
    referenced.extend(command.members.iter().cloned());
    referenced.extend(command.managers.iter().cloned());
    referenced.sort();
    referenced.dedup();
    require_clients(ports.clients, &referenced)?;
    let now = crate::model::to_millis(ports.clock.now());
    let room = NewRoom {
        id: command.id.unwrap_or_else(|| RoomId::generate(now)),
        name: command.name,
        room_type: command.room_type,
        owner: command.owner,
        managers: command.managers,
        members: command.members,
        webhook: command.webhook,
        retention_days: command.retention_days,
        created_at: now,
    };
    if !ports
        .rooms
        .insert_room(&room, &Actor::Platform, command.reason.as_ref())?
    {
        return Err(DomainError::RoomAlreadyExists);
    }
    let stored = ports.rooms.get_room(&room.id)?.ok_or_else(|| {
        DomainError::Internal(anyhow::anyhow!("room {} vanished after insert", room.id))
    })?;
    Ok(RoomView {
        room: stored,
        last_message: None,
    })
}

/// `GET /rooms/{roomID}`: members and platform admins.
///
/// # Errors
/// `RoomNotFound`, `NotRoomMember`, or a storage failure.
pub fn get_room(ports: &Ports<'_>, actor: &Actor, id: &RoomId) -> Result<RoomView, DomainError> {
    let room = ports.rooms.get_room(id)?.ok_or(DomainError::RoomNotFound)?;
    if !room.can_read(actor) {
        return Err(DomainError::NotRoomMember);
    }
    view(ports.messages, room)
}

/// `GET /rooms`: the rooms the caller belongs to, or every room for platform admins (the
/// API key or a flagged client), newest first, after the room `before`.
///
/// # Errors
/// A storage failure. A `before` that names no room the caller may list is an empty page.
pub fn list_rooms(
    ports: &Ports<'_>,
    actor: &Actor,
    before: Option<&RoomId>,
    limit: super::Limit,
) -> Result<Vec<RoomView>, DomainError> {
    let member = if actor.is_platform_admin() {
        None
    } else {
        actor.client_id()
    };
    super::page(ports.rooms.list_rooms(member, before, limit.get())?)
        .into_iter()
        .map(|room| view(ports.messages, room))
        .collect()
}

/// `PUT /rooms/{roomID}`: admins, owner, managers; a new owner only by admins and the owner.
/// Storage records what changed, if anything, with `reason`.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(UpdateRoom | ChangeOwner)`, `InvalidBody`,
/// `ClientNotFound`, or a storage failure.
pub fn update_room(
    ports: &Ports<'_>,
    actor: &Actor,
    id: &RoomId,
    changes: RoomChanges,
    reason: Option<AuditReason>,
) -> Result<RoomView, DomainError> {
    let room = ports.rooms.get_room(id)?.ok_or(DomainError::RoomNotFound)?;
    room.may_apply(actor, &changes)
        .map_err(DomainError::PermissionDenied)?;
    if let Some(name) = &changes.name {
        check_text("name", name, MAX_TEXT_CHARS)?;
    }
    if let Some(Some(url)) = &changes.webhook {
        check_webhook(url, ports.webhooks)?;
    }
    let mut referenced: Vec<ClientId> = changes.owner.iter().cloned().collect();
    referenced.extend(changes.managers.iter().flatten().cloned());
    require_clients(ports.clients, &referenced)?;
    let outcome = ports.rooms.update_room(
        id,
        actor,
        &changes,
        crate::model::to_millis(ports.clock.now()),
        reason.as_ref(),
    )?;
    updated(ports.messages, outcome)
}

/// `POST /rooms/{roomID}/members`: admins, owner, managers. Storage records the new
/// members, if any, with `reason`.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(ManageMembers)`, `ClientNotFound`, or a storage failure.
pub fn add_members(
    ports: &Ports<'_>,
    actor: &Actor,
    id: &RoomId,
    invitees: &[ClientId],
    reason: Option<AuditReason>,
) -> Result<RoomView, DomainError> {
    let room = ports.rooms.get_room(id)?.ok_or(DomainError::RoomNotFound)?;
    room.may_add_members(actor)
        .map_err(DomainError::PermissionDenied)?;
    require_clients(ports.clients, invitees)?;
    let outcome = ports.rooms.add_members(
        id,
        actor,
        invitees,
        crate::model::to_millis(ports.clock.now()),
        reason.as_ref(),
    )?;
    updated(ports.messages, outcome)
}

/// `POST /rooms/{roomID}/delete/members`: admins, owner, managers; any member may remove
/// only itself. The owner cannot be removed. Storage records the removal, if it removed
/// anyone, with `reason`.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(ManageMembers | RemoveOwner)`, or a storage failure.
pub fn remove_members(
    ports: &Ports<'_>,
    actor: &Actor,
    id: &RoomId,
    members: &[ClientId],
    reason: Option<AuditReason>,
) -> Result<RoomView, DomainError> {
    let room = ports.rooms.get_room(id)?.ok_or(DomainError::RoomNotFound)?;
    room.may_remove_members(actor, members)
        .map_err(DomainError::PermissionDenied)?;
    let outcome = ports.rooms.remove_members(
        id,
        actor,
        members,
        crate::model::to_millis(ports.clock.now()),
        reason.as_ref(),
    )?;
    updated(ports.messages, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Action;
    use crate::ports::{MockClientStore, MockMessageStore, MockRoomStore};
    use crate::testkit::fixtures::{cast_room as room, cid, user};
    use crate::usecases::Mocks;
    use crate::webhook::{DestinationRefused, MockWebhookGuard};

    /// A guard that allows every destination.
    fn open() -> MockWebhookGuard {
        let mut guard = MockWebhookGuard::new();
        guard.expect_check().returning(|_| Ok(()));
        guard
    }

    fn rooms() -> MockRoomStore {
        let mut rooms = MockRoomStore::new();
        rooms.expect_get_room().returning(|_| Ok(Some(room())));
        rooms
            .expect_update_room()
            .returning(|_, _, _, _, _| Ok(RoomUpdateOutcome::Updated(room())));
        rooms
            .expect_add_members()
            .returning(|_, _, _, _, _| Ok(RoomUpdateOutcome::Updated(room())));
        rooms
            .expect_remove_members()
            .returning(|_, _, _, _, _| Ok(RoomUpdateOutcome::Updated(room())));
        rooms
    }

    fn messages() -> MockMessageStore {
        let mut messages = MockMessageStore::new();
        messages.expect_last_message().returning(|_| Ok(None));
        messages
    }

    fn clients_all_exist() -> MockClientStore {
        let mut clients = MockClientStore::new();
        clients.expect_missing_clients().returning(|_| Ok(vec![]));
        clients
    }

    /// Every client exists, the room is the cast's, every destination is allowed.
    fn cast() -> Mocks {
        Mocks {
            clients: clients_all_exist(),
            rooms: rooms(),
            messages: messages(),
            webhooks: open(),
            ..Mocks::default()
        }
    }

    #[test]
    fn create_refuses_unknown_clients_and_taken_ids() {
        let mut clients = MockClientStore::new();
        clients
            .expect_missing_clients()
            .returning(|ids| Ok(ids.to_vec()));
        let unknown = Mocks {
            clients,
            webhooks: open(),
            ..Mocks::default()
        };
        let cmd = CreateRoom {
            owner: Some(cid("ghost")),
            ..CreateRoom::default()
        };
        assert!(matches!(
            create_room(&unknown.ports(), cmd),
            Err(DomainError::ClientNotFound)
        ));

        let mut taken = MockRoomStore::new();
        taken.expect_insert_room().returning(|_, _, _| Ok(false));
        let taken = Mocks {
            rooms: taken,
            ..cast()
        };
        let cmd = CreateRoom {
            id: Some(room().id),
            ..CreateRoom::default()
        };
        assert!(matches!(
            create_room(&taken.ports(), cmd),
            Err(DomainError::RoomAlreadyExists)
        ));
    }

    #[test]
    fn create_generates_an_id_and_checks_the_webhook() {
        let mut rooms = MockRoomStore::new();
        rooms
            .expect_insert_room()
            .withf(|r, actor, _| r.id.as_str().len() == 24 && *actor == Actor::Platform)
            .returning(|_, _, _| Ok(true));
        rooms.expect_get_room().returning(|_| Ok(Some(room())));
        let mocks = Mocks { rooms, ..cast() };
        assert!(create_room(&mocks.ports(), CreateRoom::default()).is_ok());

        let cmd = CreateRoom {
            webhook: Some("ftp://x".to_owned()),
            ..CreateRoom::default()
        };
        let untouched = Mocks {
            rooms: MockRoomStore::new(),
            ..cast()
        };
        assert!(matches!(
            create_room(&untouched.ports(), cmd),
            Err(DomainError::InvalidBody(_))
        ));
    }

    #[test]
    fn a_destination_the_guard_refuses_is_an_invalid_body() {
        let mut guard = MockWebhookGuard::new();
        guard
            .expect_check()
            .withf(|url| url == "http://169.254.169.254/")
            .returning(|_| Err(DestinationRefused("resolves to 169.254.169.254".to_owned())));
        let mocks = Mocks {
            rooms: MockRoomStore::new(),
            webhooks: guard,
            ..cast()
        };
        let cmd = CreateRoom {
            webhook: Some("http://169.254.169.254/".to_owned()),
            ..CreateRoom::default()
        };
        let err = create_room(&mocks.ports(), cmd);
        assert!(
            matches!(&err, Err(DomainError::InvalidBody(m)) if m == "webhook: resolves to 169.254.169.254"),
            "{err:?}"
        );
    }

    #[test]
    fn only_members_and_admins_read_a_room() {
        let mocks = cast();
        let ports = mocks.ports();
        assert!(get_room(&ports, &user("member"), &room().id).is_ok());
        assert!(get_room(&ports, &Actor::Platform, &room().id).is_ok());
        let err = get_room(&ports, &user("stranger"), &room().id);
        assert!(matches!(err, Err(DomainError::NotRoomMember)));
        let mut none = MockRoomStore::new();
        none.expect_get_room().returning(|_| Ok(None));
        let none = Mocks {
            rooms: none,
            ..cast()
        };
        assert!(matches!(
            get_room(&none.ports(), &user("member"), &room().id),
            Err(DomainError::RoomNotFound)
        ));
    }

    #[test]
    fn update_rules() {
        let rename = RoomChanges {
            name: Some("new".to_owned()),
            ..RoomChanges::default()
        };
        let new_owner = RoomChanges {
            owner: Some(cid("member")),
            ..RoomChanges::default()
        };
        let mocks = cast();
        let ports = mocks.ports();
        let id = room().id;
        assert!(update_room(&ports, &user("manager"), &id, rename.clone(), None).is_ok());
        assert!(matches!(
            update_room(&ports, &user("member"), &id, rename, None),
            Err(DomainError::PermissionDenied(Action::UpdateRoom))
        ));
        assert!(matches!(
            update_room(&ports, &user("manager"), &id, new_owner.clone(), None),
            Err(DomainError::PermissionDenied(Action::ChangeOwner))
        ));
        assert!(update_room(&ports, &user("owner"), &id, new_owner, None).is_ok());
    }

    #[test]
    fn membership_rules() {
        let mocks = cast();
        let ports = mocks.ports();
        let id = room().id;
        assert!(add_members(&ports, &user("manager"), &id, &[cid("x")], None).is_ok());
        assert!(matches!(
            add_members(&ports, &user("member"), &id, &[cid("x")], None),
            Err(DomainError::PermissionDenied(Action::ManageMembers))
        ));
        // A member may leave, but not remove someone else.
        assert!(remove_members(&ports, &user("member"), &id, &[cid("member")], None).is_ok());
        assert!(matches!(
            remove_members(&ports, &user("member"), &id, &[cid("manager")], None),
            Err(DomainError::PermissionDenied(Action::ManageMembers))
        ));
        // Nobody removes the owner, not even an admin.
        assert!(matches!(
            remove_members(&ports, &Actor::Platform, &id, &[cid("owner")], None),
            Err(DomainError::PermissionDenied(Action::RemoveOwner))
        ));
    }
}
