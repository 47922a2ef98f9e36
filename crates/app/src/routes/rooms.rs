//! Rooms and membership.

use crate::auth::Platform;
use crate::body::JsonBody;
use crate::credentials::Caller;
use crate::dto::{
    CreateRoomBody, InviteBody, RemoveMembersBody, RoomDto, RoomListDto, UpdateRoomBody,
};
use crate::envelope::{ApiError, Failure, ok};
use crate::idempotency::Embeds;
use crate::routes::deletion::reason;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use roomwarden_domain::error::DomainError;
use roomwarden_domain::ids::{ClientId, RoomId};
use roomwarden_domain::model::{RetentionDays, RoomChanges, RoomType, RoomView};
use roomwarden_domain::usecases::Limit;
use roomwarden_domain::usecases::rooms::{self, CreateRoom};

/// Parses a list of client IDs from a body.
pub(crate) fn client_ids(raw: &[String]) -> Result<Vec<ClientId>, DomainError> {
    raw.iter().map(|id| ClientId::parse(id)).collect()
}

/// A room answer; its `lastMessage` is marked as embedded content (see [`Embeds`]).
fn answer(view: RoomView) -> HttpResponse {
    let embeds = view
        .last_message
        .as_ref()
        .map(|m| Embeds::message(m, "/result/lastMessage"));
    Embeds::mark(embeds, ok("OK", RoomDto::from(view)))
}

fn optional_client(raw: Option<&str>) -> Result<Option<ClientId>, DomainError> {
    raw.map(ClientId::parse).transpose()
}

/// Creates a room (API key); the creation is recorded as a room change.
#[utoipa::path(post, path = "/rooms", tag = "Rooms", request_body = CreateRoomBody,
    params(
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why, recorded with the room-change record (percent-encoded UTF-8, at most 512 characters) (ext)"),
    ),
    responses(
        (status = 200, description = "Created", body = RoomDto),
        (status = 404, description = "CLIENT_NOT_FOUND", body = Failure),
        (status = 409, description = "ROOM_ALREADY_EXISTS", body = Failure),
    ))]
pub async fn create_room(
    _: Platform,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let reason = reason(&req);
    let body: CreateRoomBody = body.parse()?;
    let command = CreateRoom {
        id: body.id.as_deref().map(RoomId::parse).transpose()?,
        name: body.name,
        room_type: body
            .room_type
            .as_deref()
            .map(RoomType::parse)
            .transpose()?
            .unwrap_or_default(),
        owner: optional_client(body.owner.as_deref())?,
        members: client_ids(&body.members)?,
        managers: client_ids(&body.managers)?,
        webhook: body.webhook,
        retention_days: body
            .retention_days
            .map(|days| RetentionDays::new(days.0))
            .transpose()?,
        reason: reason?,
    };
    let view = state
        .run(move |ports| rooms::create_room(ports, command))
        .await?;
    Ok(answer(view))
}

/// Query of the room list.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoomListQuery {
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// Only rooms created before this room (the previous page's last `_id`).
    pub before: Option<String>,
}

/// The rooms the caller belongs to; every room for the API key and platform admins (ext,
/// docs/api.md §5.3).
#[utoipa::path(get, path = "/rooms", tag = "Rooms", params(RoomListQuery),
    responses((status = 200, description = "A page of rooms, newest first", body = RoomListDto)))]
pub async fn list_rooms(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<RoomListQuery>,
) -> Result<HttpResponse, ApiError> {
    let views = state
        .run_as(caller, move |actor, ports| {
            let limit = Limit::parse(query.limit.as_deref())?;
            let before = query.before.as_deref().map(RoomId::parse).transpose()?;
            Ok(rooms::list_rooms(ports, actor, before.as_ref(), limit)?)
        })
        .await?;
    Ok(ok(
        "OK",
        RoomListDto {
            data: views.into_iter().map(RoomDto::from).collect(),
        },
    ))
}

/// A room with its last message (members and platform admins).
#[utoipa::path(get, path = "/rooms/{roomID}", tag = "Rooms", params(("roomID" = String, Path, description = "Room ID")),
    responses(
        (status = 200, description = "The room", body = RoomDto),
        (status = 403, description = "NOT_ROOM_MEMBER", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND", body = Failure),
    ))]
pub async fn get_room(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .run_as(caller, move |actor, ports| {
            let id = RoomId::parse(&path)?;
            Ok(rooms::get_room(ports, actor, &id)?)
        })
        .await?;
    Ok(answer(view))
}

/// Updates name, owner, managers, webhook or retention; what changed is recorded as a
/// room change.
#[utoipa::path(put, path = "/rooms/{roomID}", tag = "Rooms", request_body = UpdateRoomBody,
    params(
        ("roomID" = String, Path, description = "Room ID"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why, recorded with the room-change record (percent-encoded UTF-8, at most 512 characters) (ext)"),
    ),
    responses(
        (status = 200, description = "Updated", body = RoomDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND or CLIENT_NOT_FOUND", body = Failure),
    ))]
pub async fn update_room(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let reason = reason(&req);
    let view = state
        .run_as(caller, move |actor, ports| {
            let id = RoomId::parse(&path)?;
            let body: UpdateRoomBody = body.parse()?;
            let changes = RoomChanges {
                name: body.name,
                owner: optional_client(body.owner.as_deref())?,
                managers: body.managers.as_deref().map(client_ids).transpose()?,
                webhook: body.webhook,
                retention_days: body
                    .retention_days
                    .map(|days| days.map(|d| RetentionDays::new(d.0)).transpose())
                    .transpose()?,
            };
            let reason = reason?;
            Ok(rooms::update_room(ports, actor, &id, changes, reason)?)
        })
        .await?;
    Ok(answer(view))
}

/// Invites members; new members are recorded as a room change.
#[utoipa::path(post, path = "/rooms/{roomID}/members", tag = "Rooms", request_body = InviteBody,
    params(
        ("roomID" = String, Path, description = "Room ID"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why, recorded with the room-change record (percent-encoded UTF-8, at most 512 characters) (ext)"),
    ),
    responses(
        (status = 200, description = "Updated room", body = RoomDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND or CLIENT_NOT_FOUND", body = Failure),
    ))]
pub async fn add_members(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let reason = reason(&req);
    let view = state
        .run_as(caller, move |actor, ports| {
            let id = RoomId::parse(&path)?;
            let invitees = client_ids(&body.parse::<InviteBody>()?.invitees)?;
            let reason = reason?;
            Ok(rooms::add_members(ports, actor, &id, &invitees, reason)?)
        })
        .await?;
    Ok(answer(view))
}

/// Removes members (or leaves); the removal is recorded as a room change.
#[utoipa::path(post, path = "/rooms/{roomID}/delete/members", tag = "Rooms", request_body = RemoveMembersBody,
    params(
        ("roomID" = String, Path, description = "Room ID"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why, recorded with the room-change record (percent-encoded UTF-8, at most 512 characters) (ext)"),
    ),
    responses(
        (status = 200, description = "Updated room", body = RoomDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND", body = Failure),
    ))]
pub async fn remove_members(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let reason = reason(&req);
    let view = state
        .run_as(caller, move |actor, ports| {
            let id = RoomId::parse(&path)?;
            let members = client_ids(&body.parse::<RemoveMembersBody>()?.members)?;
            let reason = reason?;
            Ok(rooms::remove_members(ports, actor, &id, &members, reason)?)
        })
        .await?;
    Ok(answer(view))
}
