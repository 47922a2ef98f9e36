//! The audit log (ext): deletions, and room changes.

use crate::auth::Platform;
use crate::credentials::Caller;
use crate::dto::{AuditPageDto, AuditRecordDto, ChainReportDto, RoomChangeDto, RoomChangePageDto};
use crate::envelope::{ApiError, Failure, ok};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use roomwarden_domain::audit_chain::ChainCheck;
use roomwarden_domain::filter::Bound;
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
    responses(
        (status = 200, description = "Newest first", body = AuditPageDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND", body = Failure),
    ))]
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
                ports,
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
    responses((status = 200, description = "Newest first", body = AuditPageDto)))]
pub async fn all_deletions(
    _: Platform,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let room = query.room_id.as_deref().map(RoomId::parse).transpose()?;
    let limit = Limit::parse(query.limit.as_deref())?;
    let before = query.before.as_deref().map(DeletionId::parse).transpose()?;
    let records = state
        .run(move |ports| audit::all_deletions(ports, room.as_ref(), before.as_ref(), limit))
        .await?;
    Ok(page(records))
}

/// How many chain verifications run over HTTP at once in a process (docs/api.md §8.6): a
/// verify has no overall deadline, so without a bound the owners of large rooms could hold
/// every blocking thread and pooled connection with them.
pub const VERIFIES_AT_ONCE: usize = 2;

/// Recomputes a room's chain of deletion records (platform admins, owner, managers).
#[utoipa::path(get, path = "/rooms/{roomID}/deletions/verify", tag = "Audit",
    params(("roomID" = String, Path, description = "Room ID")),
    responses(
        (status = 200, description = "The chain checked, oldest record first", body = ChainReportDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND", body = Failure),
        (status = 429, description = "TOO_MANY_REQUESTS: as many verifications as the server runs at once are running (see Retry-After)", body = Failure),
    ))]
pub async fn verify_deletions(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let room = state
        .run_as(caller, move |actor, ports| {
            let room = RoomId::parse(&path)?;
            audit::may_verify(ports, actor, &room)?;
            Ok(room)
        })
        .await?;
    let Ok(_permit) = state.verifies.try_acquire() else {
        return Err(ApiError::too_many_requests(
            format!("{VERIFIES_AT_ONCE} chain verifications are running; retry later"),
            1,
        ));
    };
    // A page per storage call, each with a deadline of its own (`run::with_deadline`): the
    // request's one deadline would cut off the chain of a large room (docs/api.md §8.6).
    let mut check = ChainCheck::default();
    let mut after = None;
    loop {
        let (room, checked) = (room.clone(), check);
        let (checked, next) = crate::run::with_deadline(state.run(move |ports| {
            let mut check = checked;
            let next = audit::verify_page(ports, &room, after.as_ref(), &mut check)?;
            Ok((check, next))
        }))
        .await?;
        check = checked;
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(ok("OK", ChainReportDto::new(room.as_str(), check.finish())))
}

/// Query of the export.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Only records deleted at or after this time (ISO 8601 or Unix milliseconds).
    pub after: Option<String>,
    /// Only records deleted before this time (ISO 8601 or Unix milliseconds).
    pub before: Option<String>,
}

/// Every room's deletion records, oldest first, as JSON Lines (API key): streamed a page at
/// a time, so memory stays bounded whatever their number.
#[utoipa::path(get, path = "/admin/deletions/export", tag = "Audit", params(ExportQuery),
    responses((status = 200, description = "JSON Lines: one audit record per line (an `AuditRecordDto`, with its `hash`), oldest first",
        content_type = "application/x-ndjson", body = String)))]
pub async fn export_deletions(
    _: Platform,
    state: web::Data<AppState>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let time = |field: &str, raw: Option<&str>| {
        raw.map(|r| Bound::parse_time(field, r).map(|b| b.time()))
            .transpose()
            .map(Option::flatten)
    };
    let since = time("after", query.after.as_deref())?;
    let until = time("before", query.before.as_deref())?;
    // The first page before the answer starts, so that a failure is still an envelope.
    let first = export_page(&state, None, since, until).await?;
    let pages = futures_util::stream::unfold(Some(first), move |page| {
        let state = state.clone();
        async move {
            let page = page?;
            let lines = page.lines;
            let next = match page.last {
                Some(last) => export_page(&state, Some(last), since, until)
                    .await
                    .map(Some),
                None => Ok(None),
            };
            match next {
                Ok(next) => Some((Ok(lines), next)),
                Err(e) => {
                    tracing::error!(error = %e, "audit export cut short");
                    Some((
                        Err(actix_web::error::ErrorServiceUnavailable(e.to_string())),
                        None,
                    ))
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(pages))
}

/// One page of the export: its lines, and the cursor of the next page (none after the last).
struct ExportPage {
    lines: actix_web::web::Bytes,
    last: Option<DeletionId>,
}

async fn export_page(
    state: &web::Data<AppState>,
    after: Option<DeletionId>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<ExportPage, ApiError> {
    let records = state
        .run(move |ports| {
            Ok(ports
                .audit
                .list_deletions_oldest_first(None, after.as_ref(), since, until, audit::CHAIN_PAGE)?
                .unwrap_or_default())
        })
        .await?;
    let full = records.len() == audit::CHAIN_PAGE as usize;
    let last = records.last().map(|r| r.id.clone()).filter(|_| full);
    let mut lines = Vec::new();
    for record in records {
        serde_json::to_writer(&mut lines, &AuditRecordDto::from(record))
            .map_err(|_| ApiError::internal())?;
        lines.push(b'\n');
    }
    Ok(ExportPage {
        lines: lines.into(),
        last,
    })
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
    responses(
        (status = 200, description = "Newest first", body = RoomChangePageDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND", body = Failure),
    ))]
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
                ports,
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
    responses((status = 200, description = "Newest first", body = RoomChangePageDto)))]
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
        .run(move |ports| audit::all_room_changes(ports, room.as_ref(), before.as_ref(), limit))
        .await?;
    Ok(changes_page(records))
}
