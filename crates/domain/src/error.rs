//! The domain's outcomes other than success.

/// What a use case can answer besides success. The app maps each variant to exactly one
/// HTTP status and error code; nothing here knows about HTTP.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// `IM-API-KEY` was sent but is wrong, or an API-key-only operation was called without it.
    #[error("invalid API key")]
    InvalidApiKey,
    /// `IM-CLIENT-KEY` is missing or wrong.
    #[error("invalid client key")]
    InvalidClientKey,
    /// The token is missing, unknown, expired or revoked.
    #[error("invalid or expired token")]
    InvalidToken,
    /// A path, query or header value breaks its rule; the text says which and how.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// A body field is missing, of the wrong type or out of range; the text names it.
    #[error("invalid body: {0}")]
    InvalidBody(String),
    /// The caller's role is too low for the operation.
    #[error("permission denied: {0:?}")]
    PermissionDenied(Action),
    /// A member-only read by a non-member.
    #[error("not a member of the room")]
    NotRoomMember,
    /// No such room.
    #[error("room not found")]
    RoomNotFound,
    /// No such message in this room.
    #[error("message not found")]
    MessageNotFound,
    /// A referenced client does not exist.
    #[error("client not found")]
    ClientNotFound,
    /// No deletion event has this ID.
    #[error("event not found")]
    EventNotFound,
    /// A dismissal of a message that has no open report.
    #[error("report not found")]
    ReportNotFound,
    /// A room with this ID exists already.
    #[error("room already exists")]
    RoomAlreadyExists,
    /// A message with this ID exists already.
    #[error("message already exists")]
    MessageAlreadyExists,
    /// An assigned token is already another client's token.
    #[error("token already in use")]
    TokenInUse,
    /// An `Idempotency-Key` whose first request (the same one) is still running.
    #[error("idempotency key in use")]
    IdempotencyKeyInUse,
    /// An `Idempotency-Key` that was used with a different request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// The caller is over a rate or capacity limit; it may try again after this many seconds.
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until the limit frees (at least 1).
        retry_after_secs: u64,
    },
    /// The store could not be reached (connection refused, pool exhausted past its timeout).
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The connection to the store was lost while a change was committing: it may or may
    /// not have been applied.
    #[error("commit outcome unknown")]
    CommitUncertain(#[source] anyhow::Error),
    /// Anything else that went wrong below the domain: a bug or a broken invariant.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The operation a [`DomainError::PermissionDenied`] refused; the app words its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Deleting one message or clearing a room.
    DeleteMessages,
    /// Changing a room's name, managers or webhook.
    UpdateRoom,
    /// Handing a room to another owner.
    ChangeOwner,
    /// Inviting members or removing others.
    ManageMembers,
    /// Removing the room's owner from its members.
    RemoveOwner,
    /// Reading a room's audit log.
    ReadAuditLog,
    /// Recalling a message sent by someone else.
    RecallOthersMessage,
    /// An operation that needs a client identity, called with the API key.
    ActAsClient,
    /// Reporting a message of a room one is not a member of.
    ReportMessage,
    /// Reading a room's report queue or dismissing its reports.
    ModerateReports,
}

/// Failure of a storage port. Adapters decide which of the two a failure is.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is unreachable or saturated; retrying later may succeed.
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The connection was lost after the commit was sent and before its answer: the change
    /// may or may not have been applied. Nothing is retried.
    #[error("commit outcome unknown")]
    Uncertain(#[source] anyhow::Error),
    /// Any other storage failure.
    #[error("storage failure")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for DomainError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => Self::Unavailable(e),
            StoreError::Uncertain(e) => Self::CommitUncertain(e),
            StoreError::Internal(e) => Self::Internal(e),
        }
    }
}
