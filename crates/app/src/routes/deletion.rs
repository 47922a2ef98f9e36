//! `DELETE /rooms/{roomID}/messages/{messageID}`: the seed feature.

use crate::auth::Caller;
use crate::dto::DeletionResultDto;
use crate::envelope::{ApiError, ok};
use crate::middleware::is_valid_percent_encoding;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use percent_encoding::percent_decode;
use roomwarden_domain::ids::{DeleteTarget, RoomId};
use roomwarden_domain::model::AuditReason;
use roomwarden_domain::usecases::deletion::{DeleteMessages, delete_messages as delete};

/// Header carrying the optional, percent-encoded audit reason (ext).
pub const REASON_HEADER: &str = "X-Audit-Log-Reason";

/// The percent-decoded reason, if one was sent.
fn reason(req: &HttpRequest) -> Result<Option<AuditReason>, ApiError> {
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

/// Deletes one message, or every message of the room with `_all`.
#[utoipa::path(
    delete,
    path = "/rooms/{roomID}/messages/{messageID}",
    tag = "Deletion",
    params(
        ("roomID" = String, Path, description = "Room ID"),
        ("messageID" = String, Path, description = "Message ID to delete, or `_all` to delete all messages in the room"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why (percent-encoded UTF-8, at most 512 characters) (ext)"),
    ),
    responses(
        (status = 200, description = "Message deleted successfully / All messages deleted successfully", body = DeletionResultDto),
    ),
    security(("api_key" = []), ("client_key" = [], "token" = [])),
)]
pub async fn delete_messages(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (room, message) = path.into_inner();
    let reason = reason(&req);
    let deletion = state
        .run_as(caller, move |actor, ports| {
            let command = DeleteMessages {
                room: RoomId::parse(&room)?,
                target: DeleteTarget::parse(&message)?,
                reason: reason?,
            };
            Ok(delete(
                ports.rooms.as_ref(),
                ports.messages.as_ref(),
                actor,
                command,
                chrono::Utc::now(),
            )?)
        })
        .await?;
    tracing::info!(
        executor = %deletion.deleted_by,
        room = %deletion.room,
        target = %deletion.message_id,
        count = deletion.deleted_count,
        reason = deletion.reason.as_ref().map(AuditReason::as_str),
        "messages deleted"
    );
    let rm = if deletion.message_id == DeleteTarget::All.as_str() {
        "All messages deleted successfully"
    } else {
        "Message deleted successfully"
    };
    Ok(ok(rm, DeletionResultDto::from(&deletion)))
}
