//! Reports (ext, docs/api.md §7.10): members report messages; moderators read the room's
//! queue, the API key every room's, and dismiss.

use crate::auth::Platform;
use crate::body::JsonBody;
use crate::credentials::Caller;
use crate::dto::{DismissResultDto, ReportBody, ReportDto, ReportQueueDto, ReportedMessageDto};
use crate::envelope::{ApiError, Failure, ok};
use crate::routes::deletion::reason;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use roomwarden_domain::actor::Actor;
use roomwarden_domain::ids::{MessageId, RoomId};
use roomwarden_domain::report::{QueueQuery, ReportedMessage};
use roomwarden_domain::usecases::reports::{self, FileReport};
use serde::Deserialize;

/// Query of a room's report queue.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoomReportsQuery {
    /// `open` (default), `deleted` or `dismissed`: the reports listed.
    pub state: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// The `cursor` of the last item of the previous page.
    pub before: Option<String>,
}

/// Query of every room's report queue.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportsQuery {
    /// `open` (default), `deleted` or `dismissed`: the reports listed.
    pub state: Option<String>,
    /// Only this room.
    #[serde(rename = "roomID")]
    pub room_id: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// The `cursor` of the last item of the previous page.
    pub before: Option<String>,
}

fn queue(items: Vec<ReportedMessage>, query: &QueueQuery) -> HttpResponse {
    ok(
        "OK",
        ReportQueueDto {
            data: items
                .into_iter()
                .map(|item| ReportedMessageDto::new(item, query.state))
                .collect(),
        },
    )
}

/// Reports a message of the room (members, with a token). Reporting a message again while
/// one's report of it is open answers that report, writing nothing.
#[utoipa::path(post, path = "/rooms/{roomID}/messages/{messageID}/reports", tag = "Reports",
    request_body = ReportBody,
    params(
        ("roomID" = String, Path, description = "Room ID"),
        ("messageID" = String, Path, description = "The message reported"),
    ),
    responses(
        (status = 200, description = "Message reported", body = ReportDto),
        (status = 400, description = "INVALID_BODY", body = Failure),
        (status = 403, description = "INSUFFICIENT_PERMISSION: not a member (or the API key)", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND or MESSAGE_NOT_FOUND", body = Failure),
        (status = 429, description = "TOO_MANY_REQUESTS: over 60 reports a minute (see Retry-After)", body = Failure),
    ))]
pub async fn report_message(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (room, message) = path.into_inner();
    let filed = state
        .run_as(caller, move |actor, ports| {
            let room = RoomId::parse(&room)?;
            let message = MessageId::parse(&message)?;
            let body = body.parse::<ReportBody>()?;
            let command = FileReport::new(
                room,
                message,
                body.category.as_deref(),
                body.reason.as_deref(),
            )?;
            Ok(reports::report_message(ports, actor, command)?)
        })
        .await?;
    Ok(ok("Message reported", ReportDto::from(filed.report)))
}

/// The room's queue of reported messages (platform admins, owner, managers).
#[utoipa::path(get, path = "/rooms/{roomID}/reports", tag = "Reports",
    params(("roomID" = String, Path, description = "Room ID"), RoomReportsQuery),
    responses(
        (status = 200, description = "Most reported first, then the most recent report", body = ReportQueueDto),
        (status = 400, description = "INVALID_PARAMETER", body = Failure),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND", body = Failure),
    ))]
pub async fn room_reports(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<RoomReportsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (items, query) = state
        .run_as(caller, move |actor, ports| {
            let room = RoomId::parse(&path)?;
            let query = reports::queue_query(
                Some(room.clone()),
                query.state.as_deref(),
                query.before.as_deref(),
                query.limit.as_deref(),
            )?;
            Ok((reports::room_queue(ports, actor, &room, &query)?, query))
        })
        .await?;
    Ok(queue(items, &query))
}

/// Every room's queue of reported messages (API key).
#[utoipa::path(get, path = "/admin/reports", tag = "Reports", params(ReportsQuery),
    responses(
        (status = 200, description = "Most reported first, then the most recent report", body = ReportQueueDto),
        (status = 400, description = "INVALID_PARAMETER", body = Failure),
    ))]
pub async fn all_reports(
    _: Platform,
    state: web::Data<AppState>,
    query: web::Query<ReportsQuery>,
) -> Result<HttpResponse, ApiError> {
    let room = query.room_id.as_deref().map(RoomId::parse).transpose()?;
    let query = reports::queue_query(
        room,
        query.state.as_deref(),
        query.before.as_deref(),
        query.limit.as_deref(),
    )?;
    let asked = query.clone();
    let items = state
        .run(move |ports| reports::platform_queue(ports, &Actor::Platform, &asked))
        .await?;
    Ok(queue(items, &query))
}

/// Dismisses every open report of the message (platform admins, owner, managers).
#[utoipa::path(post, path = "/rooms/{roomID}/messages/{messageID}/reports/dismiss", tag = "Reports",
    params(
        ("roomID" = String, Path, description = "Room ID"),
        ("messageID" = String, Path, description = "The reported message"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why, kept with the dismissed reports (percent-encoded UTF-8, at most 512 characters)"),
    ),
    responses(
        (status = 200, description = "Reports dismissed", body = DismissResultDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND or REPORT_NOT_FOUND", body = Failure),
    ))]
pub async fn dismiss_reports(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (room, message) = path.into_inner();
    let why = reason(&req);
    let done = state
        .run_as(caller, move |actor, ports| {
            let room = RoomId::parse(&room)?;
            let message = MessageId::parse(&message)?;
            let why = why?;
            Ok(reports::dismiss_reports(ports, actor, room, message, why)?)
        })
        .await?;
    Ok(ok(
        "Reports dismissed",
        DismissResultDto {
            dismissed_count: done.count,
            room_id: done.room.as_str().to_owned(),
            message_id: done.message.as_str().to_owned(),
        },
    ))
}
