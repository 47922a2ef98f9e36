//! `DELETE /rooms/{roomID}/messages/{messageID}` and `…/_all`: the seed feature, with the
//! moderation filters and dry run of `_all`; bulk deletion by IDs; purging a user's messages.

use crate::auth::Platform;
use crate::body::JsonBody;
use crate::credentials::Caller;
use crate::dto::{BulkDeleteBody, DeletionResultDto, PurgeResultDto};
use crate::envelope::{ApiError, Failure, ok};
use crate::idempotency::CarriesSecret;
use crate::metrics::DeletionKind;
use crate::middleware::is_valid_percent_encoding;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use percent_encoding::percent_decode;
use roomwarden_domain::error::DomainError;
use roomwarden_domain::filter::{Bound, Contains, MessageFilter};
use roomwarden_domain::ids::{ClientId, DeleteTarget, RoomId};
use roomwarden_domain::model::{AuditReason, Deletion};
use roomwarden_domain::usecases::deletion::{
    DeleteMessages, Preview, bulk_target, delete_messages as delete, preview_deletion,
};
use roomwarden_domain::usecases::purge::{self, PurgeClient};

/// Header carrying the optional, percent-encoded audit reason (ext).
pub const REASON_HEADER: &str = "X-Audit-Log-Reason";

/// The percent-decoded reason, if one was sent (deletions and room changes).
pub(crate) fn reason(req: &HttpRequest) -> Result<Option<AuditReason>, ApiError> {
    let Some(raw) = req.headers().get(REASON_HEADER) else {
        return Ok(None);
    };
    let invalid =
        || ApiError::invalid_parameter("X-Audit-Log-Reason must be percent-encoded UTF-8");
    if !is_valid_percent_encoding(raw.as_bytes()) {
        return Err(invalid());
    }
    let decoded = percent_decode(raw.as_bytes())
        .decode_utf8()
        .map_err(|_| invalid())?;
    if decoded.is_empty() {
        return Ok(None);
    }
    Ok(Some(AuditReason::parse(decoded.into_owned())?))
}

/// The moderation query of `DELETE .../messages/_all` (docs/api.md §7.3), parsed
/// after authentication like every other input.
struct ClearQuery {
    filter: MessageFilter,
    dry_run: bool,
}

/// `dryRun`: `true` or `false`.
pub(super) fn dry_run_value(value: &str) -> Result<bool, DomainError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(DomainError::InvalidParameter(
            "dryRun must be true or false".to_owned(),
        )),
    }
}

/// Parses `before`, `after`, `sender` (repeatable), `contains` (repeatable) and `dryRun`.
/// Any other parameter is refused: a misspelt filter on a destructive call must not widen
/// it to the whole room.
fn clear_query(pairs: &[(String, String)]) -> Result<ClearQuery, DomainError> {
    let mut before = None;
    let mut after = None;
    let mut senders = Vec::new();
    let mut contains = Vec::new();
    let mut dry_run = None;
    let once = |seen: bool, name: &str| {
        if seen {
            Err(DomainError::InvalidParameter(format!(
                "{name} may be given only once"
            )))
        } else {
            Ok(())
        }
    };
    for (name, value) in pairs {
        match name.as_str() {
            "before" => {
                once(before.is_some(), "before")?;
                before = Some(Bound::parse("before", value)?);
            }
            "after" => {
                once(after.is_some(), "after")?;
                after = Some(Bound::parse("after", value)?);
            }
            "sender" => senders.push(ClientId::parse(value)?),
            "contains" => contains.push(value.clone()),
            "dryRun" => {
                once(dry_run.is_some(), "dryRun")?;
                dry_run = Some(dry_run_value(value)?);
            }
            other => {
                return Err(DomainError::InvalidParameter(format!(
                    "unknown query parameter {other:?}; expected before, after, sender, \
                     contains or dryRun"
                )));
            }
        }
    }
    Ok(ClearQuery {
        filter: MessageFilter::new(before, after, senders)?.with_contains(Contains::new(contains)?),
        dry_run: dry_run.unwrap_or(false),
    })
}

/// What a deletion request did.
enum Done {
    /// A dry run's answer.
    Previewed(Preview),
    /// The deletion committed.
    Deleted(Deletion),
}

/// Deletes one message; with `dryRun=true`, only checks. Also serves `DELETE` on
/// `…/messages/v3` and `…/messages/delete`, the messages with those IDs.
#[utoipa::path(
    delete,
    path = "/rooms/{roomID}/messages/{messageID}",
    tag = "Deletion",
    params(
        ("roomID" = String, Path, description = "Room ID"),
        ("messageID" = String, Path, description = "Message ID to delete (`_all` is the clear, its own operation)"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why (percent-encoded UTF-8, at most 512 characters) (ext)"),
        ("dryRun" = Option<bool>, Query, description = "`true` checks without deleting (ext)"),
    ),
    responses(
        (status = 200, description = "Message deleted successfully / Dry run: nothing deleted", body = DeletionResultDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND, or MESSAGE_NOT_FOUND", body = Failure),
    ),
)]
pub async fn delete_messages(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let (room, message) = path.into_inner();
    let reason = reason(&req);
    let deletion = state
        .run_as(caller, move |actor, ports| {
            let room = RoomId::parse(&room)?;
            let target = DeleteTarget::parse(&message)?;
            let clear = clear_query(&query)?;
            if target != DeleteTarget::All && !clear.filter.is_empty() {
                return Err(ApiError::invalid_parameter(
                    "before, after, sender and contains apply only to _all",
                ));
            }
            let command = DeleteMessages {
                room,
                target,
                reason: reason?,
                filter: clear.filter,
            };
            if clear.dry_run {
                return Ok(Done::Previewed(preview_deletion(ports, actor, command)?));
            }
            Ok(Done::Deleted(delete(ports, actor, command)?))
        })
        .await?;
    let deletion = match deletion {
        Done::Previewed(preview) => {
            let res = ok(
                "Dry run: nothing deleted",
                DeletionResultDto::dry_run(&preview),
            );
            // A sample carries messages' content: never stored under an idempotency key.
            return Ok(if preview.sample.is_empty() {
                res
            } else {
                CarriesSecret::mark(res)
            });
        }
        Done::Deleted(deletion) => deletion,
    };
    committed(&state, &deletion, DeletionKind::of_request(&deletion));
    let rm = if deletion.target == DeleteTarget::All {
        "All messages deleted successfully"
    } else {
        "Message deleted successfully"
    };
    Ok(ok(rm, DeletionResultDto::from(&deletion)))
}

/// Deletes every message of the room (`_all`), or those the filters select; with
/// `dryRun=true`, only checks and counts.
#[utoipa::path(
    delete,
    path = "/rooms/{roomID}/messages/_all",
    tag = "Deletion",
    params(
        ("roomID" = String, Path, description = "Room ID"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why (percent-encoded UTF-8, at most 512 characters) (ext)"),
        ("before" = Option<String>, Query, description = "Messages sent strictly before this ISO 8601 time, Unix milliseconds (1 to 15 digits), or message of the room; later than `after` (ext)"),
        ("after" = Option<String>, Query, description = "Messages sent strictly after this point, same forms (ext)"),
        ("sender" = Option<Vec<String>>, Query, explode = true, description = "Messages of this client; repeatable, up to 20 distinct senders (ext)"),
        ("contains" = Option<Vec<String>>, Query, explode = true, description = "Messages whose text contains this string, ignoring case (Unicode simple case folding): a string message, or any string value inside a JSON message; repeatable, up to 5 (any of them), each 3 to 200 characters (ext)"),
        ("dryRun" = Option<bool>, Query, description = "`true` checks and counts without deleting, with a `sample` of up to 5 of the messages (ext)"),
    ),
    responses(
        (status = 200, description = "All messages deleted successfully / Dry run: nothing deleted", body = DeletionResultDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND, or MESSAGE_NOT_FOUND (a message given as `before`/`after`)", body = Failure),
    ),
)]
pub async fn clear_messages(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    // The same deletion, with `_all` as the target (the route's second segment).
    delete_messages(caller, req, state, path, query).await
}

/// The access log's line (no content, no credentials) and the metrics of a committed
/// deletion: once it has committed (a keyed request's, with its answer).
pub(super) fn committed(state: &AppState, deletion: &Deletion, kind: DeletionKind) {
    let (metrics, deletion) = (state.metrics.clone(), deletion.clone());
    crate::idempotency::hop::once_committed(move || {
        metrics.deleted(kind, deletion.deleted_count);
        tracing::info!(
            executor = %deletion.deleted_by,
            room = %deletion.room,
            target = %deletion.message_id(),
            count = deletion.deleted_count,
            filtered = deletion.filter.is_some(),
            reason = deletion.reason.as_ref().map(AuditReason::as_str),
            "messages deleted"
        );
    });
}

/// Deletes the listed messages of a room in one transaction (ext, docs/api.md §7.4).
/// Served by the resource of `/rooms/{roomID}/messages/{messageID}` (POST answers only
/// for `delete`), because `delete` is also a message ID that `DELETE` must reach.
#[utoipa::path(
    post,
    path = "/rooms/{roomID}/messages/delete",
    tag = "Deletion",
    request_body = BulkDeleteBody,
    params(
        ("roomID" = String, Path, description = "Room ID"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why (percent-encoded UTF-8, at most 512 characters)"),
        ("dryRun" = Option<bool>, Query, description = "`true` answers which listed messages would be deleted, deleting nothing"),
    ),
    responses(
        (status = 200, description = "Messages deleted successfully / Dry run: nothing deleted", body = DeletionResultDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION", body = Failure),
        (status = 404, description = "ROOM_NOT_FOUND, or MESSAGE_NOT_FOUND (none of the listed messages is in the room)", body = Failure),
    ),
)]
pub async fn bulk_delete_at(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (room, action) = path.into_inner();
    if action != "delete" {
        return Err(ApiError::no_route());
    }
    let reason = reason(&req);
    let (deletion, listed, dry_run) = state
        .run_as(caller, move |actor, ports| {
            let room = RoomId::parse(&room)?;
            let dry_run = bulk_query(&query)?;
            let body: BulkDeleteBody = body.parse()?;
            let target = bulk_target(&body.message_ids)?;
            let DeleteTarget::Bulk(listed) = target.clone() else {
                return Err(ApiError::internal());
            };
            let command = DeleteMessages {
                room,
                target,
                reason: reason?,
                filter: MessageFilter::default(),
            };
            let deletion = if dry_run {
                preview_deletion(ports, actor, command)?.record
            } else {
                delete(ports, actor, command)?
            };
            Ok((deletion, listed, dry_run))
        })
        .await?;
    let result = DeletionResultDto::bulk(&deletion, &listed);
    if dry_run {
        return Ok(ok(
            "Dry run: nothing deleted",
            DeletionResultDto {
                dry_run: true,
                ..result
            },
        ));
    }
    committed(&state, &deletion, DeletionKind::Bulk);
    Ok(ok("Messages deleted successfully", result))
}

/// The bulk deletion's query: only `dryRun`.
fn bulk_query(pairs: &[(String, String)]) -> Result<bool, DomainError> {
    let mut dry_run = None;
    for (name, value) in pairs {
        match name.as_str() {
            "dryRun" if dry_run.is_none() => dry_run = Some(dry_run_value(value)?),
            "dryRun" => {
                return Err(DomainError::InvalidParameter(
                    "dryRun may be given only once".to_owned(),
                ));
            }
            other => {
                return Err(DomainError::InvalidParameter(format!(
                    "unknown query parameter {other:?}; expected dryRun"
                )));
            }
        }
    }
    Ok(dry_run.unwrap_or(false))
}

/// Removes a client's messages from every room, or the listed ones (API key; ext,
/// docs/api.md §7.6).
#[utoipa::path(
    delete,
    path = "/admin/clients/{clientID}/messages",
    tag = "Deletion",
    params(
        ("clientID" = String, Path, description = "Whose messages"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why (percent-encoded UTF-8, at most 512 characters)"),
        ("before" = Option<String>, Query, description = "Only messages sent strictly before this ISO 8601 time or Unix milliseconds"),
        ("after" = Option<String>, Query, description = "Only messages sent strictly after this ISO 8601 time or Unix milliseconds"),
        ("roomID" = Option<Vec<String>>, Query, explode = true, description = "Only in these rooms; repeatable, up to 100"),
        ("dryRun" = Option<bool>, Query, description = "`true` counts without deleting"),
    ),
    responses(
        (status = 200, description = "User messages deleted successfully / Dry run: nothing deleted", body = PurgeResultDto),
        (status = 404, description = "CLIENT_NOT_FOUND", body = Failure),
    ),
)]
pub async fn purge_client(
    _: Platform,
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let reason = reason(&req);
    let (purge, dry_run) = state
        .run_as(caller, move |actor, ports| {
            let client = ClientId::parse(&path)?;
            let (command, dry_run) = purge_query(client, &query, reason?)?;
            let purge = purge::purge_client(ports, actor, command, dry_run)?;
            Ok((purge, dry_run))
        })
        .await?;
    if dry_run {
        return Ok(ok(
            "Dry run: nothing deleted",
            PurgeResultDto::new(&purge, true),
        ));
    }
    for deletion in &purge.deletions {
        committed(&state, deletion, DeletionKind::Purge);
    }
    Ok(ok(
        "User messages deleted successfully",
        PurgeResultDto::new(&purge, false),
    ))
}

/// Parses the purge query: `before`, `after` (times only), `roomID` (repeatable), `dryRun`.
fn purge_query(
    client: ClientId,
    pairs: &[(String, String)],
    reason: Option<AuditReason>,
) -> Result<(PurgeClient, bool), DomainError> {
    let (mut before, mut after, mut rooms, mut dry_run) = (None, None, Vec::new(), None);
    for (name, value) in pairs {
        let twice = || DomainError::InvalidParameter(format!("{name} may be given only once"));
        match name.as_str() {
            "before" if before.is_none() => before = Some(Bound::parse_time("before", value)?),
            "after" if after.is_none() => after = Some(Bound::parse_time("after", value)?),
            "roomID" => rooms.push(RoomId::parse(value)?),
            "dryRun" if dry_run.is_none() => dry_run = Some(dry_run_value(value)?),
            "before" | "after" | "dryRun" => return Err(twice()),
            other => {
                return Err(DomainError::InvalidParameter(format!(
                    "unknown query parameter {other:?}; expected before, after, roomID or dryRun"
                )));
            }
        }
    }
    Ok((
        PurgeClient::new(client, rooms, before, after, reason)?,
        dry_run.unwrap_or(false),
    ))
}
