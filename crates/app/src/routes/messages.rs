//! Sending and reading messages.

use crate::auth::Platform;
use crate::body::JsonBody;
use crate::credentials::{Caller, User};
use crate::dto::{MessageDto, MessagePageDto, SendAsBody, SendMessageBody};
use crate::envelope::{ApiError, Failure, ok};
use crate::idempotency::Embeds;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use roomwarden_domain::error::DomainError;
use roomwarden_domain::ids::{ClientId, MessageId, RoomId};
use roomwarden_domain::model::{Message, MessageContent};
use roomwarden_domain::usecases::Limit;
use roomwarden_domain::usecases::messages::{self, SendAs, SendMessage};
use serde::Deserialize;

/// A message answer, marked as embedded content (see [`Embeds`]).
fn answer(message: Message) -> HttpResponse {
    let embeds = Embeds::message(&message, "/result");
    Embeds::mark(Some(embeds), ok("OK", MessageDto::from(message)))
}

fn content(value: &serde_json::Value) -> Result<MessageContent, DomainError> {
    MessageContent::from_json(value.to_string())
}

/// Sends a message as the caller (a member), or recalls the caller's own message.
#[utoipa::path(post, path = "/rooms/{roomID}/message", tag = "Messages", request_body = SendMessageBody,
    params(("roomID" = String, Path, description = "Room ID")),
    responses(
        (status = 200, description = "Sent", body = MessageDto),
        (status = 403, description = "NOT_ROOM_MEMBER, or INSUFFICIENT_PERMISSION (API key; recall of another's message)", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND, or MESSAGE_NOT_FOUND (recall)", body = Failure),
        (status = 409, description = "MESSAGE_ALREADY_EXISTS", body = Failure),
    ))]
pub async fn send_message(
    user: User,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let message = state
        .run_as(user.into(), move |actor, ports| {
            let room = RoomId::parse(&path)?;
            let body: SendMessageBody = body.parse()?;
            let command = SendMessage {
                id: body.id.as_deref().map(MessageId::parse).transpose()?,
                content: body.message.as_ref().map(content).transpose()?,
                message_type: body.message_type.unwrap_or_else(|| "text".to_owned()),
            };
            Ok(messages::send_message(ports, actor, &room, command)?)
        })
        .await?;
    Ok(answer(message))
}

/// Sends a message on behalf of `sender` (API key).
#[utoipa::path(post, path = "/messages", tag = "Messages", request_body = SendAsBody,
    responses(
        (status = 200, description = "Sent", body = MessageDto),
        (status = 404, description = "ROOM_NOT_FOUND or CLIENT_NOT_FOUND", body = Failure),
        (status = 409, description = "MESSAGE_ALREADY_EXISTS", body = Failure),
    ))]
pub async fn send_as(
    _: Platform,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: SendAsBody = body.parse()?;
    let command = SendAs {
        room: RoomId::parse(&body.room)?,
        sender: ClientId::parse(&body.sender)?,
        content: content(&body.message)?,
        message_type: body.message_type,
    };
    let message = state
        .run(move |ports| messages::send_as(ports, command))
        .await?;
    Ok(answer(message))
}

/// Query of the message list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// Only messages older than this message ID.
    #[serde(rename = "beforeMessage")]
    pub before_message: Option<String>,
}

/// A room's messages, newest first (members and platform admins).
#[utoipa::path(get, path = "/rooms/{roomID}/messages/v3", tag = "Messages",
    params(("roomID" = String, Path, description = "Room ID"), ListQuery),
    responses(
        (status = 200, description = "A page", body = MessagePageDto),
        (status = 403, description = "NOT_ROOM_MEMBER", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND, or MESSAGE_NOT_FOUND for an unknown cursor", body = Failure),
    ))]
pub async fn list_messages(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (room, version) = path.into_inner();
    if version != "v3" {
        return Err(ApiError::no_route());
    }
    let page = state
        .run_as(caller, move |actor, ports| {
            let room = RoomId::parse(&room)?;
            let limit = Limit::parse(query.limit.as_deref())?;
            let before = query
                .before_message
                .as_deref()
                .map(MessageId::parse)
                .transpose()?;
            Ok(messages::list_messages(
                ports,
                actor,
                &room,
                before.as_ref(),
                limit,
            )?)
        })
        .await?;
    Ok(ok(
        "OK",
        MessagePageDto {
            total_count: page.total_count,
            data: page.messages.into_iter().map(MessageDto::from).collect(),
        },
    ))
}
