//! Entities and value types.

pub use crate::actor::{Actor, PLATFORM_ACTOR, RETENTION_ACTOR, RecordedActor};
use crate::error::DomainError;
pub use crate::filter::MessageFilter;
use crate::ids::{ClientId, DeleteTarget, DeletionId, MessageId, RoomId};
pub use crate::time::{iso8601, to_millis};
use chrono::{DateTime, Utc};

/// Largest serialized `message` field accepted, in bytes (docs/api.md §6.2).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Longest audit reason, in characters after percent-decoding.
pub const MAX_REASON_CHARS: usize = 512;
/// Longest free-text field (nickname, room name, message type), in characters.
pub const MAX_TEXT_CHARS: usize = 255;
/// Longest URL field (avatar, webhook), in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// Checks a free-text field's length; `field` names it in the error.
///
/// # Errors
/// [`DomainError::InvalidBody`] when `value` has more than `max` characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.chars().count() > max {
        return Err(DomainError::InvalidBody(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(())
}

/// A user of the chat platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Its ID.
    pub id: ClientId,
    /// Display name.
    pub nickname: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Whether this client acts as a platform administrator (ext).
    pub is_platform_admin: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An upsert of a client: `None` fields are left as they are (or empty for a new client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientChanges {
    /// The client to create or update.
    pub id: ClientId,
    /// New display name.
    pub nickname: Option<String>,
    /// New avatar URL.
    pub avatar_url: Option<String>,
    /// New platform-admin flag.
    pub is_platform_admin: Option<bool>,
}

/// The SHA-256 of a token, hex encoded: the only form in which tokens are stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

/// A token to store for a client, replacing all of its earlier tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Hash of the token.
    pub hash: TokenHash,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

/// What storage knows about a presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The client it belongs to.
    pub client_id: ClientId,
    /// Whether that client is a platform administrator.
    pub is_platform_admin: bool,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Whether it was revoked (explicitly or by a newer token).
    pub revoked: bool,
}

impl TokenRecord {
    /// Whether the token authenticates at `now`: not revoked and not expired.
    #[must_use]
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expires_at > now
    }
}

/// `group` (default) or `direct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoomType {
    /// A group room.
    #[default]
    Group,
    /// A one-to-one room.
    Direct,
}

impl RoomType {
    /// Parses `group` or `direct`.
    ///
    /// # Errors
    /// [`DomainError::InvalidBody`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "group" => Ok(Self::Group),
            "direct" => Ok(Self::Direct),
            _ => Err(DomainError::InvalidBody(
                "roomType must be \"group\" or \"direct\"".to_owned(),
            )),
        }
    }

    /// The wire and storage form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Direct => "direct",
        }
    }
}

/// A room with its owner, managers and members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Its ID.
    pub id: RoomId,
    /// Display name.
    pub name: Option<String>,
    /// Group or direct.
    pub room_type: RoomType,
    /// The owner, if any; always a member.
    pub owner: Option<ClientId>,
    /// Managers; always members.
    pub managers: Vec<ClientId>,
    /// Every member, owner and managers included, sorted.
    pub members: Vec<ClientId>,
    /// Webhook URL for this room's events.
    pub webhook: Option<String>,
    /// How long its messages are kept (ext); `None` for the deployment's default.
    pub retention_days: Option<RetentionDays>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of the room record.
    pub updated_at: DateTime<Utc>,
}

/// A room as returned by the API: the record plus its newest remaining message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    /// The room.
    pub room: Room,
    /// Newest visible message, if any.
    pub last_message: Option<Message>,
}

/// A new room to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoom {
    /// Its ID.
    pub id: RoomId,
    /// Display name.
    pub name: Option<String>,
    /// Group or direct.
    pub room_type: RoomType,
    /// Owner.
    pub owner: Option<ClientId>,
    /// Managers (also stored as members).
    pub managers: Vec<ClientId>,
    /// Plain members (owner and managers need not be repeated).
    pub members: Vec<ClientId>,
    /// Webhook URL.
    pub webhook: Option<String>,
    /// Retention (ext).
    pub retention_days: Option<RetentionDays>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Changes to a room; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomChanges {
    /// New name.
    pub name: Option<String>,
    /// New owner (added to members).
    pub owner: Option<ClientId>,
    /// New set of managers (added to members; dropped managers stay plain members).
    pub managers: Option<Vec<ClientId>>,
    /// New webhook; `Some(None)` removes it.
    pub webhook: Option<Option<String>>,
    /// New retention; `Some(None)` removes it (the default applies again).
    pub retention_days: Option<Option<RetentionDays>>,
}

/// How many days a room keeps its messages: 1 to 36,500 (docs/api.md §7.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetentionDays(u32);

impl RetentionDays {
    /// Longest retention, in days (100 years).
    pub const MAX: u32 = 36_500;

    /// Validates a number of days.
    ///
    /// # Errors
    /// [`DomainError::InvalidBody`] unless it is from 1 to [`Self::MAX`].
    pub fn new(days: i64) -> Result<Self, DomainError> {
        u32::try_from(days)
            .ok()
            .filter(|d| (1..=Self::MAX).contains(d))
            .map(Self)
            .ok_or_else(|| {
                DomainError::InvalidBody(format!(
                    "retentionDays must be a whole number from 1 to {}, or null",
                    Self::MAX
                ))
            })
    }

    /// The number of days.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }

    /// The oldest time a message may have been sent at `now` and still be kept: messages
    /// sent strictly before it have expired.
    #[must_use]
    pub fn cutoff(self, now: DateTime<Utc>) -> DateTime<Utc> {
        to_millis(now) - chrono::Duration::days(i64::from(self.0))
    }
}

/// The `setBy` of a retention that no room set: the deployment's default
/// (`ROOMWARDEN_RETENTION_DAYS`) applies.
pub const DEFAULT_RETENTION_SETTER: &str = "_default";

/// Who set a room's own retention, and when: the actor and time of the room change that
/// set it (kept with the room, and written in that change's transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSet {
    /// The change's `changedBy`: a client, or the API key.
    pub by: RecordedActor,
    /// The change's `changedAt`.
    pub at: DateTime<Utc>,
}

/// Who set the retention a retention deletion applied: the actor of the room change that
/// set the room's own, or the deployment's default ([`DEFAULT_RETENTION_SETTER`] on the wire
/// and in storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionSetter {
    /// A client or the API key, through a room change.
    Actor(RecordedActor),
    /// `ROOMWARDEN_RETENTION_DAYS`.
    Default,
}

impl RetentionSetter {
    /// The recorded name: the actor's, or [`DEFAULT_RETENTION_SETTER`].
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Actor(actor) => actor.as_str(),
            Self::Default => DEFAULT_RETENTION_SETTER,
        }
    }

    /// Reads back a name [`Self::as_str`] wrote (a client called `_default` reads back as
    /// the default, as the wire format cannot tell them apart).
    #[must_use]
    pub fn from_recorded(name: String) -> Self {
        if name == DEFAULT_RETENTION_SETTER {
            Self::Default
        } else {
            Self::Actor(RecordedActor::from_recorded(name))
        }
    }
}

/// The retention in force for a room and where it comes from: what a retention deletion
/// records, so that its audit record names who set the retention it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionOrigin {
    /// The retention.
    pub days: RetentionDays,
    /// Who set it: the actor of the room change that set the room's own retention, or the
    /// deployment's default; `None` for a room retention set before room changes were
    /// recorded (nobody is known).
    pub set_by: Option<RetentionSetter>,
    /// When that room change happened; `None` for the default (and when unknown).
    pub set_at: Option<DateTime<Utc>>,
}

impl RetentionOrigin {
    /// The retention in force: the room's own (`own`, set as `set` records), else the
    /// deployment's `default`; `None` when neither applies.
    #[must_use]
    pub fn in_force(
        own: Option<RetentionDays>,
        set: Option<RetentionSet>,
        default: Option<RetentionDays>,
    ) -> Option<Self> {
        match own {
            Some(days) => Some(Self {
                days,
                set_by: set.as_ref().map(|s| RetentionSetter::Actor(s.by.clone())),
                set_at: set.map(|s| s.at),
            }),
            None => default.map(|days| Self {
                days,
                set_by: Some(RetentionSetter::Default),
                set_at: None,
            }),
        }
    }
}

/// A room whose retention has expired messages not yet removed: what a retention run clears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredRoom {
    /// The room.
    pub room: RoomId,
    /// Messages sent strictly before it have expired.
    pub cutoff: DateTime<Utc>,
    /// The retention in force and who set it.
    pub retention: RetentionOrigin,
}

/// A message's content: one serialized JSON value, at most [`MAX_MESSAGE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    /// Wraps serialized JSON produced by the caller's parser, checking its size. Write it as
    /// `serde_json` writes a value (escaping only `"`, `\` and control characters): the
    /// diesel store's clear by content narrows its scan by the stored text on that
    /// assumption (docs/architecture.md, "Clear by content").
    ///
    /// # Errors
    /// [`DomainError::InvalidBody`] when it is larger than 64 KiB.
    pub fn from_json(json: String) -> Result<Self, DomainError> {
        if json.len() > MAX_MESSAGE_BYTES {
            return Err(DomainError::InvalidBody(
                "message must be at most 64 KiB when serialized".to_owned(),
            ));
        }
        Ok(Self(json))
    }

    /// Wraps content read back from trusted storage.
    #[must_use]
    pub fn from_trusted(json: String) -> Self {
        Self(json)
    }

    /// The empty string, the content of a recalled message.
    #[must_use]
    pub fn recalled() -> Self {
        Self("\"\"".to_owned())
    }

    /// The serialized JSON value.
    #[must_use]
    pub fn as_json(&self) -> &str {
        &self.0
    }
}

/// The message type given to recalled messages.
pub const RECALL_TYPE: &str = "recall";

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its ID.
    pub id: MessageId,
    /// The room it is in.
    pub room: RoomId,
    /// Who sent it.
    pub sender: ClientId,
    /// Its content.
    pub content: MessageContent,
    /// `text` by default; `recall` once recalled.
    pub message_type: String,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
}

/// What a filter matches across rooms now (a clear by content's search and dry run).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Matching {
    /// Visible messages matched per room, rooms with none left out, by room ID.
    pub rooms: Vec<(RoomId, u64)>,
    /// Up to the number asked of the matched messages, newest first (by time, then by the
    /// order they were stored).
    pub sample: Vec<Message>,
}

/// One page of a room's messages, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePage {
    /// How many messages the room currently holds.
    pub total_count: u64,
    /// The page.
    pub messages: Vec<Message>,
}

/// An optional audit reason (ext): at most [`MAX_REASON_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReason(String);

impl AuditReason {
    /// Validates an already percent-decoded reason.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] when it is longer than 512 characters.
    pub fn parse(decoded: String) -> Result<Self, DomainError> {
        if decoded.chars().count() > MAX_REASON_CHARS {
            return Err(DomainError::InvalidParameter(format!(
                "X-Audit-Log-Reason must be at most {MAX_REASON_CHARS} characters"
            )));
        }
        Ok(Self(decoded))
    }

    /// Wraps a reason read back from trusted storage.
    #[must_use]
    pub fn from_trusted(reason: String) -> Self {
        Self(reason)
    }

    /// The reason.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A deletion about to be committed: everything the audit record holds but the count,
/// which storage determines inside the deletion's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionRequest {
    /// ID of the audit record (and of the event announcing it).
    pub id: DeletionId,
    /// The room.
    pub room: RoomId,
    /// One message or `_all`.
    pub target: DeleteTarget,
    /// Who deletes: storage checks again, inside the deletion's transaction, that they may
    /// moderate the room, and records them ([`Actor::recorded`]) as the executor.
    pub actor: Actor,
    /// Time of the deletion.
    pub deleted_at: DateTime<Utc>,
    /// Why, if given.
    pub reason: Option<AuditReason>,
    /// For `_all`: which messages (empty: every one).
    pub filter: MessageFilter,
    /// Commit nothing, no audit record and no event, when nothing matches (retention runs
    /// and user purges); otherwise an empty deletion is recorded like any other.
    pub skip_if_nothing: bool,
    /// For a retention run's deletion: the retention it applies and who set it, recorded
    /// with the deletion; `None` for every other deletion.
    pub retention: Option<RetentionOrigin>,
}

/// A committed deletion: the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// Audit record ID.
    pub id: DeletionId,
    /// The room.
    pub room: RoomId,
    /// What was deleted: one message, the messages a `_bulk` deletion removed (in the
    /// order listed), or `_all` (with [`Self::filter`], when one applied).
    pub target: DeleteTarget,
    /// How many messages were removed.
    pub deleted_count: u64,
    /// Who deleted them.
    pub deleted_by: RecordedActor,
    /// Time of the deletion.
    pub deleted_at: DateTime<Utc>,
    /// Why, if given.
    pub reason: Option<AuditReason>,
    /// The filter of a filtered `_all`, as applied; `None` for every other deletion.
    pub filter: Option<MessageFilter>,
    /// A retention deletion's retention and who set it; `None` for every other deletion.
    pub retention: Option<RetentionOrigin>,
    /// The record's link in its room's audit chain ([`crate::audit_chain`]), set by storage
    /// when it records the deletion; `None` before that, and for a dry run.
    pub hash: Option<String>,
    /// The open reports of the removed messages that the deletion resolved, set by storage
    /// in the deletion's transaction (before it links the record); none for a dry run.
    pub reports: ResolvedReports,
}

/// The reports a deletion resolved ([`crate::report`]): how many, and the IDs of the first
/// [`ResolvedReports::MAX_IDS`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedReports {
    /// How many open reports the deletion resolved.
    pub count: u64,
    /// Their IDs, oldest first, at most [`Self::MAX_IDS`].
    pub ids: Vec<crate::ids::ReportId>,
}

impl ResolvedReports {
    /// Most report IDs an audit record lists (`reportIDs`); `reportCount` counts them all.
    pub const MAX_IDS: usize = 100;
}

impl Deletion {
    /// The audit record of `request` once storage has counted `deleted_count` messages.
    #[must_use]
    pub fn committed(request: &DeletionRequest, deleted_count: u64) -> Self {
        Self {
            id: request.id.clone(),
            room: request.room.clone(),
            target: request.target.clone(),
            deleted_count,
            deleted_by: request.actor.recorded(),
            deleted_at: request.deleted_at,
            reason: request.reason.clone(),
            filter: Some(request.filter.clone()).filter(|f| !f.is_empty()),
            retention: request.retention.clone(),
            hash: None,
            reports: ResolvedReports::default(),
        }
    }

    /// The audit record of a `_bulk` `request` that removed `removed`.
    #[must_use]
    pub fn committed_bulk(request: &DeletionRequest, removed: Vec<MessageId>) -> Self {
        let count = u64::try_from(removed.len()).unwrap_or(u64::MAX);
        Self {
            target: DeleteTarget::Bulk(removed),
            ..Self::committed(request, count)
        }
    }

    /// The record's `messageID`: the message's ID, `_bulk` or `_all`.
    #[must_use]
    pub fn message_id(&self) -> &str {
        self.target.as_str()
    }

    /// The messages a `_bulk` deletion removed; empty for every other deletion.
    #[must_use]
    pub fn removed_ids(&self) -> &[MessageId] {
        match &self.target {
            DeleteTarget::Bulk(ids) => ids,
            _ => &[],
        }
    }
}

/// How a room update ended in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomUpdateOutcome {
    /// Applied: the room afterwards.
    Updated(Room),
    /// No such room.
    RoomNotFound,
    /// The actor may not (or no longer) make these changes: nothing was changed.
    PermissionDenied(crate::error::Action),
}

/// How a deletion ended in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Committed, with its audit record.
    Deleted(Deletion),
    /// The single message named is not (or no longer) in the room.
    MessageNotFound,
    /// The room vanished before the deletion could start.
    RoomNotFound,
    /// The actor may not (or no longer) moderate the room: nothing was deleted.
    PermissionDenied,
    /// Nothing matched a request with [`DeletionRequest::skip_if_nothing`]: nothing was written.
    NothingMatched,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_setters_read_back_as_written() {
        for setter in [
            RetentionSetter::Default,
            RetentionSetter::Actor(RecordedActor::Platform),
            RetentionSetter::Actor(RecordedActor::Client(ClientId::from_trusted(
                "mgr".to_owned(),
            ))),
        ] {
            assert_eq!(
                RetentionSetter::from_recorded(setter.as_str().to_owned()),
                setter
            );
        }
        assert_eq!(RetentionSetter::Default.as_str(), DEFAULT_RETENTION_SETTER);
    }
}
