//! The audit log (ext): deletions, and room changes.

use crate::auth::{Caller, Platform};
use crate::dto::{AuditPageDto, AuditRecordDto, RoomChangeDto, RoomChangePageDto};
use crate::envelope::{ApiError, ok};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use roomwarden_domain::ids::{DeletionId, RoomChangeId, RoomId};
use roomwarden_domain::model::Deletion;
use roomwarden_domain::room_change::RoomChange;
use roomwarden_domain::usecases::{Limit, audit};
use serde::Deserialize;

/// Query of a room's log (deletions or room changes).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoomAuditQuery {
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// Only records older than this record ID (of this room; an unknown one is an empty page).
    pub before: Option<String>,
}

/// Query of every room's log (deletions or room changes).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this room (which need not exist any more).
    #[serde(rename = "roomID")]
    pub room_id: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// Only records older than this record ID (an unknown one is an empty page).
    pub before: Option<String>,
}

fn page(records: Vec<Deletion>) -> HttpResponse {
    ok(
        "OK",
        AuditPageDto {
            data: records.into_iter().map(AuditRecordDto::from).collect(),
        },
    )
}

/// A room's deletions (platform admins, owner, managers).
#[utoipa::path(get, path = "/rooms/{roomID}/deletions", tag = "Audit",
    params(("roomID" = String, Path, description = "Room ID"), RoomAuditQuery),
    responses((status = 200, description = "Newest first", body = AuditPageDto)),
    security(("api_key" = []), ("client_key" = [], "token" = [])))]
pub async fn room_deletions(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<RoomAuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let records = state
        .run_as(caller, move |actor, ports| {
            let room = RoomId::parse(&path)?;
            let limit = Limit::parse(query.limit.as_deref())?;
            let before = query.before.as_deref().map(DeletionId::parse).transpose()?;
            Ok(audit::room_deletions(
                ports.rooms.as_ref(),
                ports.audit.as_ref(),
                actor,
                &room,
                before.as_ref(),
                limit,
            )?)
        })
        .await?;
    Ok(page(records))
}

/// Every room's deletions (API key).
#[utoipa::path(get, path = "/admin/deletions", tag = "Audit", params(AuditQuery),
    responses((status = 200, description = "Newest first", body = AuditPageDto)),
    security(("api_key" = [])))]
pub async fn all_deletions(
    _: Platform,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let room = query.room_id.as_deref().map(RoomId::parse).transpose()?;
    let limit = Limit::parse(query.limit.as_deref())?;
    let before = query.before.as_deref().map(DeletionId::parse).transpose()?;
    let records = state
        .run(move |ports| {
            audit::all_deletions(ports.audit.as_ref(), room.as_ref(), before.as_ref(), limit)
        })
        .await?;
    Ok(page(records))
}

fn changes_page(records: Vec<RoomChange>) -> HttpResponse {
    ok(
        "OK",
        RoomChangePageDto {
            data: records.into_iter().map(RoomChangeDto::from).collect(),
        },
    )
}

/// A room's change records (platform admins, owner, managers).
#[utoipa::path(get, path = "/rooms/{roomID}/changes", tag = "Audit",
    params(("roomID" = String, Path, description = "Room ID"), RoomAuditQuery),
    responses((status = 200, description = "Newest first", body = RoomChangePageDto)),
    security(("api_key" = []), ("client_key" = [], "token" = [])))]
pub async fn room_changes(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<RoomAuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let records = state
        .run_as(caller, move |actor, ports| {
            let room = RoomId::parse(&path)?;
            let limit = Limit::parse(query.limit.as_deref())?;
            let before = query
                .before
                .as_deref()
                .map(RoomChangeId::parse)
                .transpose()?;
            Ok(audit::room_changes(
                ports.rooms.as_ref(),
                ports.audit.as_ref(),
                actor,
                &room,
                before.as_ref(),
                limit,
            )?)
        })
        .await?;
    Ok(changes_page(records))
}

/// Every room's change records (API key).
#[utoipa::path(get, path = "/admin/changes", tag = "Audit", params(AuditQuery),
    responses((status = 200, description = "Newest first", body = RoomChangePageDto)),
    security(("api_key" = [])))]
pub async fn all_changes(
    _: Platform,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let room = query.room_id.as_deref().map(RoomId::parse).transpose()?;
    let limit = Limit::parse(query.limit.as_deref())?;
    let before = query
        .before
        .as_deref()
        .map(RoomChangeId::parse)
        .transpose()?;
    let records = state
        .run(move |ports| {
            audit::all_room_changes(ports.audit.as_ref(), room.as_ref(), before.as_ref(), limit)
        })
        .await?;
    Ok(changes_page(records))
}
