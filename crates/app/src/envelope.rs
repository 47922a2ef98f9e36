//! The RC/RM envelope and the one mapping from domain outcomes to HTTP statuses.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use roomwarden_domain::error::{Action, DomainError};
use serde::Serialize;

/// `Content-Type` of every response.
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// A success envelope: `{"RC": 0, "RM": "...", "result": ...}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Success<T> {
    /// Always 0.
    #[serde(rename = "RC")]
    pub rc: u16,
    /// Short text.
    #[serde(rename = "RM")]
    pub rm: &'static str,
    /// The result.
    pub result: T,
}

/// `200` with the success envelope around `result`.
pub fn ok<T: Serialize>(rm: &'static str, result: T) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(JSON_UTF8)
        .json(Success { rc: 0, rm, result })
}

/// The `error` member of an error envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `MESSAGE_NOT_FOUND`.
    pub code: &'static str,
    /// One sentence for people.
    pub message: String,
}

/// An error envelope: `{"RC": <status>, "RM": "...", "error": {"code", "message"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Failure {
    /// The HTTP status.
    #[serde(rename = "RC")]
    pub rc: u16,
    /// Short text.
    #[serde(rename = "RM")]
    pub rm: &'static str,
    /// What went wrong.
    pub error: ErrorBody,
}

/// Every error the API answers with. Built from a [`DomainError`] or by the HTTP layer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    rm: &'static str,
    code: &'static str,
    message: String,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with explicit parts. The message is bounded (`bounded`): whatever part of
    /// the caller's input it quotes, its answer stays small.
    pub fn new(
        status: StatusCode,
        rm: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            rm,
            code,
            message: bounded(message.into()),
            retry_after: None,
        }
    }

    /// `429 TOO_MANY_REQUESTS` with `Retry-After: retry_after_secs`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "TOO_MANY_REQUESTS",
                message,
            )
        }
    }

    /// `400 INVALID_PARAMETER`.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Invalid parameter",
            "INVALID_PARAMETER",
            message,
        )
    }

    /// `400 INVALID_BODY`.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Invalid body",
            "INVALID_BODY",
            message,
        )
    }

    /// `404 NOT_FOUND`: no such route.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "NOT_FOUND",
            "No such endpoint",
        )
    }

    /// `405 METHOD_NOT_ALLOWED`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "METHOD_NOT_ALLOWED",
            "This endpoint does not accept this method",
        )
    }

    /// `413 PAYLOAD_TOO_LARGE`.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload too large",
            "PAYLOAD_TOO_LARGE",
            "Request bodies are limited to 1 MiB",
        )
    }

    /// `408 REQUEST_TIMEOUT`: the client did not send its request in time.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "Request timeout",
            "REQUEST_TIMEOUT",
            "The request was not received in time",
        )
    }

    /// `415 UNSUPPORTED_MEDIA_TYPE`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "UNSUPPORTED_MEDIA_TYPE",
            "Request bodies must be JSON (Content-Type: application/json)",
        )
    }

    /// `500 INTERNAL_ERROR`; the cause goes to the server log only.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "INTERNAL_ERROR",
            "Something went wrong on our side; it has been logged",
        )
    }

    /// `503 SERVICE_UNAVAILABLE`, with `Retry-After: 1`.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "SERVICE_UNAVAILABLE",
                "The database is unavailable; try again shortly",
            )
        }
    }

    /// The envelope for a status the framework produced on its own.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            404 => Self::no_route(),
            405 => Self::method_not_allowed(),
            413 => Self::payload_too_large(),
            415 => Self::unsupported_media_type(),
            400..=499 => Self::new(
                status,
                "Bad request",
                "INVALID_PARAMETER",
                "The request could not be understood",
            ),
            503 => Self::unavailable(),
            _ => Self::internal(),
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

/// Most characters of one quoted piece of input an error message keeps.
pub const MAX_QUOTED_CHARS: usize = 40;

/// Most characters of an error message.
pub const MAX_MESSAGE_CHARS: usize = 400;

/// `message` with every quoted run (`"…"` as serde and `{:?}` quote input, `` `…` `` as
/// serde quotes names and numbers) cut to its first [`MAX_QUOTED_CHARS`] characters, then the
/// whole cut to [`MAX_MESSAGE_CHARS`]; a cut ends in `…`. Error messages quote callers'
/// input (a value of the wrong type, an unknown parameter's name), and an answer that
/// repeated a megabyte would be stored a megabyte at a time under an `Idempotency-Key`.
fn bounded(message: String) -> String {
    if message.chars().count() <= MAX_QUOTED_CHARS {
        return message;
    }
    let mut out = String::with_capacity(message.len().min(4 * MAX_MESSAGE_CHARS));
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' && c != '`' {
            continue;
        }
        let (mut kept, mut cut, mut escaped) = (0, false, false);
        for inner in chars.by_ref() {
            let closes = inner == c && !escaped;
            escaped = c == '"' && inner == '\\' && !escaped;
            if closes {
                if cut {
                    out.push('…');
                }
                out.push(c);
                break;
            }
            if kept < MAX_QUOTED_CHARS {
                out.push(inner);
                kept += 1;
            } else {
                cut = true;
            }
        }
        if out.chars().count() > MAX_MESSAGE_CHARS {
            break;
        }
    }
    if out.chars().count() > MAX_MESSAGE_CHARS {
        out = out.chars().take(MAX_MESSAGE_CHARS - 1).collect();
        out.push('…');
    }
    out
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = Failure {
            rc: self.status.as_u16(),
            rm: self.rm,
            error: ErrorBody {
                code: self.code,
                message: self.message.clone(),
            },
        };
        let mut res = HttpResponse::build(self.status).json(body);
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

fn permission_message(action: Action) -> &'static str {
    match action {
        Action::DeleteMessages => {
            "Only platform admin, room owner or room manager can delete messages"
        }
        Action::UpdateRoom => {
            "Only platform admin, room owner or room manager can update this room"
        }
        Action::ChangeOwner => "Only platform admin or the room owner can change the owner",
        Action::ManageMembers => {
            "Only platform admin, room owner or room manager can manage members; members may only remove themselves"
        }
        Action::RemoveOwner => "The room owner cannot be removed from the room",
        Action::ReadAuditLog => {
            "Only platform admin, room owner or room manager can read the audit log"
        }
        Action::RecallOthersMessage => "Only the sender can recall a message",
        Action::ActAsClient => {
            "This operation needs a user token; the API key has no client identity"
        }
        Action::ReportMessage => "Only members of the room can report its messages",
        Action::ModerateReports => {
            "Only platform admin, room owner or room manager can see or dismiss reports"
        }
    }
}

/// The one place where domain outcomes become statuses, codes and messages.
impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        use StatusCode as S;
        match err {
            DomainError::InvalidApiKey => Self::new(
                S::UNAUTHORIZED,
                "Unauthorized",
                "INVALID_API_KEY",
                "Invalid or missing API key",
            ),
            DomainError::InvalidClientKey => Self::new(
                S::UNAUTHORIZED,
                "Unauthorized",
                "INVALID_CLIENT_KEY",
                "Invalid or missing client key",
            ),
            DomainError::InvalidToken => Self::new(
                S::UNAUTHORIZED,
                "Unauthorized",
                "INVALID_TOKEN",
                "Invalid or expired token",
            ),
            DomainError::InvalidParameter(message) => Self::invalid_parameter(message),
            DomainError::InvalidBody(message) => Self::invalid_body(message),
            DomainError::PermissionDenied(action) => Self::new(
                S::FORBIDDEN,
                "Permission denied",
                "INSUFFICIENT_PERMISSION",
                permission_message(action),
            ),
            DomainError::NotRoomMember => Self::new(
                S::FORBIDDEN,
                "Permission denied",
                "NOT_ROOM_MEMBER",
                "Only members of this room can read it",
            ),
            DomainError::RoomNotFound => Self::new(
                S::NOT_FOUND,
                "Room not found",
                "ROOM_NOT_FOUND",
                "The specified room does not exist",
            ),
            DomainError::MessageNotFound => Self::new(
                S::NOT_FOUND,
                "Message not found",
                "MESSAGE_NOT_FOUND",
                "The specified message does not exist in this room",
            ),
            DomainError::ClientNotFound => Self::new(
                S::NOT_FOUND,
                "Client not found",
                "CLIENT_NOT_FOUND",
                "The specified client does not exist",
            ),
            DomainError::EventNotFound => Self::new(
                S::NOT_FOUND,
                "Event not found",
                "EVENT_NOT_FOUND",
                "The specified event does not exist",
            ),
            DomainError::ReportNotFound => Self::new(
                S::NOT_FOUND,
                "Report not found",
                "REPORT_NOT_FOUND",
                "The message has no open report",
            ),
            DomainError::RoomAlreadyExists => Self::new(
                S::CONFLICT,
                "Room already exists",
                "ROOM_ALREADY_EXISTS",
                "A room with this ID already exists",
            ),
            DomainError::MessageAlreadyExists => Self::new(
                S::CONFLICT,
                "Message already exists",
                "MESSAGE_ALREADY_EXISTS",
                "A message with this ID already exists",
            ),
            DomainError::TokenInUse => Self::new(
                S::CONFLICT,
                "Token already in use",
                "TOKEN_ALREADY_IN_USE",
                "This token belongs to another client; assign a different one",
            ),
            DomainError::IdempotencyKeyInUse => Self::new(
                S::CONFLICT,
                "Idempotency key in use",
                "IDEMPOTENCY_KEY_IN_USE",
                "The first request with this Idempotency-Key is still being processed; retry later",
            ),
            DomainError::IdempotencyKeyReused => Self::new(
                S::UNPROCESSABLE_ENTITY,
                "Idempotency key reused",
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was already used with a different request",
            ),
            DomainError::TooManyRequests { retry_after_secs } => Self::too_many_requests(
                "Too many requests; retry after the time in Retry-After",
                retry_after_secs,
            ),
            DomainError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "storage unavailable");
                Self::unavailable()
            }
            DomainError::CommitUncertain(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "commit outcome unknown");
                Self {
                    retry_after: Some(1),
                    ..Self::new(
                        S::SERVICE_UNAVAILABLE,
                        "Commit outcome unknown",
                        "COMMIT_UNCERTAIN",
                        "The database connection was lost while the change was committing, so it may or may not have been applied; send the request again (with the same Idempotency-Key, if it had one)",
                    )
                }
            }
            DomainError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Self::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_MESSAGE_CHARS, MAX_QUOTED_CHARS, bounded};

    #[test]
    fn short_messages_are_kept_whole() {
        for message in [
            "missing field `_id`",
            "_id: invalid type: integer `5`, expected a string",
            "unknown query parameter \"x\"; expected before, after, sender or dryRun",
        ] {
            assert_eq!(bounded(message.to_owned()), message);
        }
    }

    #[test]
    fn long_quoted_input_keeps_a_prefix_and_the_rest_of_the_message() {
        let big = "s".repeat(1 << 20);
        let message = format!("messageIDs: invalid type: string \"{big}\", expected a sequence");
        let prefix = "s".repeat(MAX_QUOTED_CHARS);
        assert_eq!(
            bounded(message),
            format!("messageIDs: invalid type: string \"{prefix}…\", expected a sequence")
        );
        let name = "n".repeat(5000);
        assert_eq!(
            bounded(format!("unknown field `{name}`, expected `_id`")),
            format!(
                "unknown field `{}…`, expected `_id`",
                &name[..MAX_QUOTED_CHARS]
            )
        );
        // An escaped quote does not end the run.
        let escaped = format!("bad \"{}\\\"{}\" here", "a".repeat(50), "b".repeat(50));
        assert_eq!(
            bounded(escaped),
            format!("bad \"{}…\" here", "a".repeat(MAX_QUOTED_CHARS))
        );
    }

    #[test]
    fn any_message_is_bounded_whatever_it_quotes() {
        for message in [
            "word ".repeat(100_000),
            format!("unclosed \"{}", "x".repeat(100_000)),
            "\"a\" ".repeat(100_000),
        ] {
            let out = bounded(message);
            assert!(out.chars().count() <= MAX_MESSAGE_CHARS, "{}", out.len());
        }
    }
}
