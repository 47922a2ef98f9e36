//! Wire shapes: request bodies and results, with their OpenAPI schemas.

use roomwarden_domain::events::{DeliveryState, EventDelivery};
use roomwarden_domain::ids::{ClientId, DeleteTarget, MessageId, RoomId};
use roomwarden_domain::model::{
    Client, Deletion, Message, PLATFORM_ACTOR, RetentionDays, Room, RoomView,
};
use roomwarden_domain::record_json::{changes_json, filter_json, retention_json};
use roomwarden_domain::room_change::RoomChange;
use roomwarden_domain::usecases::content::ContentClear;
use roomwarden_domain::usecases::deletion::Preview;
use roomwarden_domain::usecases::purge::Purge;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

pub use roomwarden_domain::model::iso8601 as iso;

mod reports;
pub use reports::{
    AnyEventBodyDto, CategoryCountsDto, DismissResultDto, ReportBody, ReportCategoryDto, ReportDto,
    ReportEventBodyDto, ReportEventDataDto, ReportQueueDto, ReportStateDto, ReportedMessageDto,
};

fn ids(list: &[ClientId]) -> Vec<String> {
    list.iter().map(|c| c.as_str().to_owned()).collect()
}

/// A whole number as JSON may write it: `30` or `30.0` (JSON Schema's `integer` is both, so
/// a client generated from the document may send either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Whole(pub i64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        /// Beyond this a float has no fraction but no longer holds every whole number.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        let n = serde_json::Number::deserialize(de)?;
        let whole = n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
                .map(|f| f as i64)
        });
        whole.map(Whole).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid value: {n}, expected a whole number"))
        })
    }
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// A client (user).
#[derive(Serialize, ToSchema)]
pub struct ClientDto {
    /// Client ID.
    #[serde(rename = "_id")]
    pub id: String,
    /// Display name.
    pub nickname: Option<String>,
    /// Avatar URL.
    #[serde(rename = "avatarUrl")]
    pub avatar_url: Option<String>,
    /// Platform administrator (ext).
    #[serde(rename = "isPlatformAdmin")]
    pub is_platform_admin: bool,
    /// Creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// Last change.
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    /// The token, only when one was issued or assigned by this call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The token's expiry, only with `token`.
    #[serde(rename = "expirationDate", skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
}

impl From<Client> for ClientDto {
    fn from(c: Client) -> Self {
        Self {
            id: c.id.as_str().to_owned(),
            nickname: c.nickname,
            avatar_url: c.avatar_url,
            is_platform_admin: c.is_platform_admin,
            created_at: iso(c.created_at),
            updated_at: iso(c.updated_at),
            token: None,
            expiration_date: None,
        }
    }
}

/// A message.
#[derive(Serialize, ToSchema)]
pub struct MessageDto {
    /// Message ID.
    #[serde(rename = "_id")]
    pub id: String,
    /// Room ID.
    pub room: String,
    /// Sender's client ID.
    pub sender: String,
    /// Content: any JSON value (`""` once recalled).
    #[schema(value_type = serde_json::Value)]
    pub message: Box<RawValue>,
    /// `text` by default; `recall` once recalled.
    #[serde(rename = "messageType")]
    pub message_type: String,
    /// Send time, ISO 8601.
    #[serde(rename = "messageTime")]
    pub message_time: String,
    /// Send time, Unix milliseconds.
    #[serde(rename = "messageTimeMS")]
    pub message_time_ms: i64,
}

impl From<Message> for MessageDto {
    fn from(m: Message) -> Self {
        let json = m.content.as_json().to_owned();
        // Stored content is always valid JSON (it was parsed on the way in).
        let message = RawValue::from_string(json).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Self {
            id: m.id.as_str().to_owned(),
            room: m.room.as_str().to_owned(),
            sender: m.sender.as_str().to_owned(),
            message,
            message_type: m.message_type,
            message_time: iso(m.sent_at),
            message_time_ms: m.sent_at.timestamp_millis(),
        }
    }
}

/// A room.
#[derive(Serialize, ToSchema)]
pub struct RoomDto {
    /// Room ID.
    #[serde(rename = "_id")]
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// `group` or `direct`.
    #[serde(rename = "roomType")]
    pub room_type: &'static str,
    /// Owner's client ID.
    pub owner: Option<String>,
    /// Managers (ext).
    pub managers: Vec<String>,
    /// Members, owner and managers included.
    pub members: Vec<String>,
    /// Webhook URL for this room's deletion events.
    pub webhook: Option<String>,
    /// Days the room keeps its messages, or `null` for the deployment's default (ext).
    #[serde(rename = "retentionDays")]
    pub retention_days: Option<u32>,
    /// Creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// Last change.
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    /// Newest remaining message, or `null`.
    #[serde(rename = "lastMessage")]
    pub last_message: Option<MessageDto>,
}

impl From<RoomView> for RoomDto {
    fn from(v: RoomView) -> Self {
        let Room {
            id,
            name,
            room_type,
            owner,
            managers,
            members,
            webhook,
            retention_days,
            created_at,
            updated_at,
        } = v.room;
        Self {
            id: id.as_str().to_owned(),
            name,
            room_type: room_type.as_str(),
            owner: owner.map(|o| o.as_str().to_owned()),
            managers: ids(&managers),
            members: ids(&members),
            webhook,
            retention_days: retention_days.map(RetentionDays::get),
            created_at: iso(created_at),
            updated_at: iso(updated_at),
            last_message: v.last_message.map(MessageDto::from),
        }
    }
}

/// `GET /rooms` (ext): a page of rooms, newest first.
#[derive(Serialize, ToSchema)]
pub struct RoomListDto {
    /// The rooms; the last one's `_id` is the next page's `before`.
    pub data: Vec<RoomDto>,
}

/// The result of a deletion (docs/api.md §7.1).
#[derive(Serialize, ToSchema)]
pub struct DeletionResultDto {
    /// Number of deleted messages.
    #[serde(rename = "deletedCount")]
    pub deleted_count: u64,
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// Deleted message ID, or `_all`.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Client ID of the executor, or `_platform` for the API key.
    #[serde(rename = "deletedBy")]
    pub deleted_by: String,
    /// Deletion time.
    #[serde(rename = "deletedAt")]
    pub deleted_at: String,
    /// The filter of a filtered `_all`, as applied (ext; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<FilterDto>)]
    pub filter: Option<serde_json::Value>,
    /// `true` on a dry run, which deleted nothing (ext; absent otherwise).
    #[serde(rename = "dryRun", skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// The messages a `_bulk` deletion removed (ext; absent otherwise).
    #[serde(rename = "messageIDs", skip_serializing_if = "Option::is_none")]
    pub message_ids: Option<Vec<String>>,
    /// The listed messages a `_bulk` deletion did not find (ext; absent otherwise).
    #[serde(rename = "notFound", skip_serializing_if = "Option::is_none")]
    pub not_found: Option<Vec<String>>,
    /// A dry run of `_all`: up to 5 of the messages it would delete, newest first (ext;
    /// absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<Vec<SampleMessageDto>>,
    /// How many open reports of the deleted messages the deletion resolved (ext; absent
    /// when none).
    #[serde(rename = "reportCount", skip_serializing_if = "Option::is_none")]
    pub report_count: Option<u64>,
}

/// A message a dry run would delete (ext).
#[derive(Serialize, ToSchema)]
pub struct SampleMessageDto {
    /// Message ID.
    #[serde(rename = "_id")]
    pub id: String,
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// Sender's client ID.
    pub sender: String,
    /// Content: any JSON value.
    #[schema(value_type = serde_json::Value)]
    pub message: Box<RawValue>,
    /// Send time, ISO 8601.
    #[serde(rename = "messageTime")]
    pub message_time: String,
}

impl From<&Message> for SampleMessageDto {
    fn from(m: &Message) -> Self {
        let MessageDto {
            id,
            room,
            sender,
            message,
            message_time,
            ..
        } = MessageDto::from(m.clone());
        Self {
            id,
            room_id: room,
            sender,
            message,
            message_time,
        }
    }
}

/// The samples of a dry run.
fn samples(sample: &[Message]) -> Vec<SampleMessageDto> {
    sample.iter().map(SampleMessageDto::from).collect()
}

/// A filter as applied (ext): absent fields were not given.
#[derive(Serialize, ToSchema)]
pub struct FilterDto {
    /// Only messages sent before this (ISO 8601 with milliseconds, or the message ID given).
    pub before: Option<String>,
    /// Only messages sent after this (same forms).
    pub after: Option<String>,
    /// Only messages of these senders.
    pub sender: Option<Vec<String>>,
    /// Only messages whose text contains one of these strings (case-insensitive).
    pub contains: Option<Vec<String>>,
}

impl From<&Deletion> for DeletionResultDto {
    fn from(d: &Deletion) -> Self {
        Self {
            deleted_count: d.deleted_count,
            room_id: d.room.as_str().to_owned(),
            message_id: d.message_id().to_owned(),
            deleted_by: d.deleted_by.to_string(),
            deleted_at: iso(d.deleted_at),
            filter: d.filter.as_ref().map(filter_json),
            dry_run: false,
            message_ids: None,
            not_found: None,
            sample: None,
            report_count: (d.reports.count > 0).then_some(d.reports.count),
        }
    }
}

impl DeletionResultDto {
    /// The result of a dry run.
    pub fn dry_run(preview: &Preview) -> Self {
        let sample = (preview.record.target == DeleteTarget::All).then(|| samples(&preview.sample));
        Self {
            dry_run: true,
            sample,
            ..Self::from(&preview.record)
        }
    }

    /// The result of a bulk deletion of `listed`.
    pub fn bulk(d: &Deletion, listed: &[MessageId]) -> Self {
        Self {
            message_ids: Some(
                d.removed_ids()
                    .iter()
                    .map(|m| m.as_str().to_owned())
                    .collect(),
            ),
            not_found: Some(
                listed
                    .iter()
                    .filter(|id| !d.removed_ids().contains(id))
                    .map(|m| m.as_str().to_owned())
                    .collect(),
            ),
            ..Self::from(d)
        }
    }
}

/// `POST /rooms/{roomID}/messages/delete` (ext).
#[derive(Deserialize, ToSchema)]
pub struct BulkDeleteBody {
    /// 1 to 100 distinct message IDs.
    #[serde(rename = "messageIDs")]
    pub message_ids: Vec<String>,
}

/// Messages removed from one room by a user purge (ext).
#[derive(Serialize, ToSchema)]
pub struct RoomCountDto {
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// Messages removed there.
    #[serde(rename = "deletedCount")]
    pub deleted_count: u64,
}

/// Result of `DELETE /admin/clients/{clientID}/messages` (ext).
#[derive(Serialize, ToSchema)]
pub struct PurgeResultDto {
    /// Whose messages.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Messages removed in all rooms.
    #[serde(rename = "deletedCount")]
    pub deleted_count: u64,
    /// Rooms with at least one message removed, by room ID.
    pub rooms: Vec<RoomCountDto>,
    /// Always `_platform`.
    #[serde(rename = "deletedBy")]
    pub deleted_by: String,
    /// Time of the purge.
    #[serde(rename = "deletedAt")]
    pub deleted_at: String,
    /// Whether this was a dry run.
    #[serde(rename = "dryRun")]
    pub dry_run: bool,
}

impl RoomCountDto {
    /// Rooms with their counts, in the order given.
    fn list(rooms: &[(RoomId, u64)]) -> Vec<Self> {
        rooms
            .iter()
            .map(|(room, n)| Self {
                room_id: room.as_str().to_owned(),
                deleted_count: *n,
            })
            .collect()
    }
}

impl PurgeResultDto {
    /// The result of `purge`.
    pub fn new(purge: &Purge, dry_run: bool) -> Self {
        Self {
            client_id: purge.client.as_str().to_owned(),
            deleted_count: purge.deleted_count(),
            rooms: RoomCountDto::list(&purge.rooms),
            deleted_by: PLATFORM_ACTOR.to_owned(),
            deleted_at: iso(purge.deleted_at),
            dry_run,
        }
    }
}

/// Result of `DELETE /admin/messages`, a clear by content across rooms (ext).
#[derive(Serialize, ToSchema)]
pub struct ContentClearResultDto {
    /// Messages removed in all rooms.
    #[serde(rename = "deletedCount")]
    pub deleted_count: u64,
    /// Rooms with at least one message removed, by room ID.
    pub rooms: Vec<RoomCountDto>,
    /// Always `_platform`.
    #[serde(rename = "deletedBy")]
    pub deleted_by: String,
    /// Time of the clear.
    #[serde(rename = "deletedAt")]
    pub deleted_at: String,
    /// The filter as applied (`before` defaults to the time of the request).
    #[schema(value_type = FilterDto)]
    pub filter: serde_json::Value,
    /// Whether this was a dry run.
    #[serde(rename = "dryRun")]
    pub dry_run: bool,
    /// A dry run: up to 5 of the matching messages, newest first (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<Vec<SampleMessageDto>>,
}

impl ContentClearResultDto {
    /// The result of `clear`.
    pub fn new(clear: &ContentClear, dry_run: bool) -> Self {
        Self {
            deleted_count: clear.deleted_count(),
            rooms: RoomCountDto::list(&clear.rooms),
            deleted_by: PLATFORM_ACTOR.to_owned(),
            deleted_at: iso(clear.deleted_at),
            filter: filter_json(&clear.filter),
            dry_run,
            sample: dry_run.then(|| samples(&clear.sample)),
        }
    }
}

/// One audit record (ext).
#[derive(Serialize, ToSchema)]
pub struct AuditRecordDto {
    /// Audit record ID (the `before` cursor).
    #[serde(rename = "_id")]
    pub id: String,
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// Message ID or `_all`.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Number of deleted messages.
    #[serde(rename = "deletedCount")]
    pub deleted_count: u64,
    /// Executor.
    #[serde(rename = "deletedBy")]
    pub deleted_by: String,
    /// Time.
    #[serde(rename = "deletedAt")]
    pub deleted_at: String,
    /// Reason from `X-Audit-Log-Reason`, or `null`.
    pub reason: Option<String>,
    /// The filter of a filtered `_all` (ext; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<FilterDto>)]
    pub filter: Option<serde_json::Value>,
    /// The messages a `_bulk` deletion removed (ext; absent otherwise).
    #[serde(rename = "messageIDs", skip_serializing_if = "Option::is_none")]
    pub message_ids: Option<Vec<String>>,
    /// A retention deletion's retention and who set it (ext; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RetentionOriginDto>)]
    pub retention: Option<serde_json::Value>,
    /// The reports the deletion resolved, the first 100 (ext; absent when none).
    #[serde(rename = "reportIDs", skip_serializing_if = "Option::is_none")]
    pub report_ids: Option<Vec<String>>,
    /// How many reports the deletion resolved (ext; absent when none).
    #[serde(rename = "reportCount", skip_serializing_if = "Option::is_none")]
    pub report_count: Option<u64>,
    /// The record's link in its room's audit chain: lowercase hex SHA-256 of the previous
    /// record's `hash` and this record's canonical JSON (docs/api.md §8.5).
    #[schema(required = true, pattern = "^[0-9a-f]{64}$")]
    pub hash: Option<String>,
}

/// The retention a retention deletion applied, and who set it (ext).
#[derive(Serialize, ToSchema)]
pub struct RetentionOriginDto {
    /// The retention, in days.
    pub days: u32,
    /// `changedBy` of the room change that set the room's retention (a client ID, or
    /// `_platform`); `_default` when the room has none and the deployment's default applies;
    /// `null` for a room retention set before room changes were recorded.
    #[serde(rename = "setBy")]
    #[schema(required = true)]
    pub set_by: Option<String>,
    /// `changedAt` of that room change; `null` for the default (or when unknown).
    #[serde(rename = "setAt")]
    #[schema(required = true)]
    pub set_at: Option<String>,
}

impl From<Deletion> for AuditRecordDto {
    fn from(d: Deletion) -> Self {
        Self {
            filter: d.filter.as_ref().map(filter_json),
            retention: d.retention.as_ref().map(retention_json),
            message_ids: (!d.removed_ids().is_empty()).then(|| {
                d.removed_ids()
                    .iter()
                    .map(|m| m.as_str().to_owned())
                    .collect()
            }),
            id: d.id.as_str().to_owned(),
            room_id: d.room.as_str().to_owned(),
            message_id: d.message_id().to_owned(),
            deleted_count: d.deleted_count,
            deleted_by: d.deleted_by.to_string(),
            deleted_at: iso(d.deleted_at),
            reason: d.reason.map(|r| r.as_str().to_owned()),
            report_ids: (d.reports.count > 0).then(|| {
                d.reports
                    .ids
                    .iter()
                    .map(|r| r.as_str().to_owned())
                    .collect()
            }),
            report_count: (d.reports.count > 0).then_some(d.reports.count),
            hash: d.hash,
        }
    }
}

/// A page of audit records.
#[derive(Serialize, ToSchema)]
pub struct AuditPageDto {
    /// Newest first.
    pub data: Vec<AuditRecordDto>,
}

/// One field's change in a room-change record: its value before and after, as the room
/// object shows it (a string, a number of days, a sorted list of client IDs, or `null`).
#[derive(Serialize, ToSchema)]
pub struct FieldChangeDto {
    /// Before (`null` for every field at the room's creation).
    #[schema(value_type = serde_json::Value)]
    pub from: serde_json::Value,
    /// After.
    #[schema(value_type = serde_json::Value)]
    pub to: serde_json::Value,
}

/// A room-change record (ext): one committed change of a room, its creation included.
#[derive(Serialize, ToSchema)]
pub struct RoomChangeDto {
    /// Record ID (the `before` cursor).
    #[serde(rename = "_id")]
    pub id: String,
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// Who changed it: a client ID, or `_platform` for the API key.
    #[serde(rename = "changedBy")]
    pub changed_by: String,
    /// When.
    #[serde(rename = "changedAt")]
    pub changed_at: String,
    /// The fields whose value changed, by the room object's JSON names (`name`, `webhook`,
    /// `retentionDays`, `owner`, `members`, `managers`).
    #[schema(value_type = std::collections::HashMap<String, FieldChangeDto>)]
    pub changes: serde_json::Value,
    /// Reason from `X-Audit-Log-Reason`, or `null`.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// The record's link in its room's chain of room changes (docs/api.md §8.5).
    #[schema(required = true, pattern = "^[0-9a-f]{64}$")]
    pub hash: Option<String>,
}

impl From<RoomChange> for RoomChangeDto {
    fn from(c: RoomChange) -> Self {
        Self {
            changes: changes_json(&c.changes),
            id: c.id.as_str().to_owned(),
            room_id: c.room.as_str().to_owned(),
            changed_by: c.changed_by.to_string(),
            changed_at: iso(c.changed_at),
            reason: c.reason.map(|r| r.as_str().to_owned()),
            hash: c.hash,
        }
    }
}

/// The result of recomputing a room's chain of deletion records.
#[derive(Serialize, ToSchema)]
pub struct ChainReportDto {
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// Records checked.
    pub records: u64,
    /// The newest record's `hash` (64 zeros for a room without records).
    pub head: String,
    /// Whether every record's `hash` matched.
    pub valid: bool,
    /// When not `valid`: the first record whose `hash` does not match (edited, or following a
    /// record that was removed or moved).
    #[serde(rename = "firstInvalid", skip_serializing_if = "Option::is_none")]
    pub first_invalid: Option<String>,
}

impl ChainReportDto {
    /// The report of `room`'s chain.
    #[must_use]
    pub fn new(room: &str, report: roomwarden_domain::audit_chain::ChainReport) -> Self {
        Self {
            room_id: room.to_owned(),
            records: report.records,
            valid: report.valid(),
            head: report.head,
            first_invalid: report.first_invalid,
        }
    }
}

/// A page of room-change records.
#[derive(Serialize, ToSchema)]
pub struct RoomChangePageDto {
    /// Newest first.
    pub data: Vec<RoomChangeDto>,
}

/// Where an event's webhook delivery stands (ext).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventStateDto {
    /// Waiting for its (next) attempt.
    Pending,
    /// A receiver acknowledged it.
    Delivered,
    /// Given up: the retry window ended, or the destination was refused.
    Failed,
    /// Not sent: it had no webhook to go to.
    Skipped,
}

impl From<DeliveryState> for EventStateDto {
    fn from(state: DeliveryState) -> Self {
        match state {
            DeliveryState::Pending => Self::Pending,
            DeliveryState::Delivered => Self::Delivered,
            DeliveryState::Failed => Self::Failed,
            DeliveryState::Skipped => Self::Skipped,
        }
    }
}

/// A deletion event as its webhook receives it (`docs/events.md`).
#[derive(Serialize, ToSchema)]
pub struct EventBodyDto {
    /// Event ID: the deletion's audit record `_id`, the same on every delivery.
    pub id: String,
    /// `MESSAGE_DELETED`.
    pub event: String,
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// The deletion's time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// The deletion.
    pub data: EventDataDto,
}

/// The deletion an event announces.
#[derive(Serialize, ToSchema)]
pub struct EventDataDto {
    /// Room ID.
    pub room: String,
    /// Message ID, `_all` or `_bulk`.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Number of deleted messages.
    #[serde(rename = "deletedCount")]
    pub deleted_count: u64,
    /// Executor.
    #[serde(rename = "deletedBy")]
    pub deleted_by: String,
    /// Time.
    #[serde(rename = "deletedAt")]
    pub deleted_at: String,
    /// Reason from `X-Audit-Log-Reason`, or `null`.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// The messages a `_bulk` deletion removed (absent otherwise).
    #[serde(rename = "messageIDs", skip_serializing_if = "Option::is_none")]
    pub message_ids: Option<Vec<String>>,
    /// The filter of a filtered `_all` (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterDto>,
    /// A retention deletion's retention and who set it (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionOriginDto>,
    /// The audit record's `hash`, its link in the room's chain: a witness of the log
    /// (absent only from events written before the chain).
    #[serde(rename = "auditHash", skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub audit_hash: Option<String>,
    /// The reports the deletion resolved, the first 100 (absent when none).
    #[serde(rename = "reportIDs", skip_serializing_if = "Option::is_none")]
    pub report_ids: Option<Vec<String>>,
    /// How many reports the deletion resolved (absent when none).
    #[serde(rename = "reportCount", skip_serializing_if = "Option::is_none")]
    pub report_count: Option<u64>,
}

/// A deletion event in the outbox and its webhook delivery (ext).
#[derive(Serialize, ToSchema)]
pub struct EventDeliveryDto {
    /// Event ID (the `before` cursor, and the ID to redeliver).
    pub id: String,
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// The event's JSON body, exactly as it is sent: a deletion's or a report's.
    #[schema(value_type = AnyEventBodyDto)]
    pub event: Box<RawValue>,
    /// Where its delivery stands.
    pub state: EventStateDto,
    /// Attempts in the current delivery round (since creation, or the last redelivery).
    pub attempts: u32,
    /// Why the last attempt of the round failed, or `null`.
    #[serde(rename = "lastError")]
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// When the next attempt is due; `null` unless `pending`.
    #[serde(rename = "nextAttemptAt")]
    #[schema(required = true)]
    pub next_attempt_at: Option<String>,
    /// When a receiver acknowledged it; `null` unless `delivered`.
    #[serde(rename = "deliveredAt")]
    #[schema(required = true)]
    pub delivered_at: Option<String>,
    /// When the event was written (its deletion's time).
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

impl EventDeliveryDto {
    /// The wire shape of `event`; `None` when its stored body is not JSON (never written so).
    pub fn new(event: EventDelivery) -> Option<Self> {
        Some(Self {
            event: RawValue::from_string(event.body).ok()?,
            id: event.id.as_str().to_owned(),
            room_id: event.room.as_str().to_owned(),
            state: event.state.into(),
            attempts: event.attempts,
            last_error: event.last_error,
            next_attempt_at: event.next_attempt_at.map(iso),
            delivered_at: event.delivered_at.map(iso),
            created_at: iso(event.created_at),
        })
    }
}

/// A page of events.
#[derive(Serialize, ToSchema)]
pub struct EventPageDto {
    /// Newest first.
    pub data: Vec<EventDeliveryDto>,
}

/// A page of messages.
#[derive(Serialize, ToSchema)]
pub struct MessagePageDto {
    /// How many messages the room currently holds.
    #[serde(rename = "totalCount")]
    pub total_count: u64,
    /// Newest first.
    pub data: Vec<MessageDto>,
}

/// Result of a token revocation.
#[derive(Serialize, ToSchema)]
pub struct RevokedDto {
    /// How many live tokens were revoked.
    #[serde(rename = "revokedTokens")]
    pub revoked_tokens: u64,
}

/// `POST /admin/clients`.
#[derive(Deserialize, ToSchema)]
pub struct SaveClientBody {
    /// Client ID.
    #[serde(rename = "_id")]
    pub id: String,
    /// Display name.
    pub nickname: Option<String>,
    /// Avatar URL.
    #[serde(rename = "avatarUrl")]
    pub avatar_url: Option<String>,
    /// Issue a fresh token (replacing earlier ones).
    #[serde(rename = "issueAccessToken", default)]
    pub issue_access_token: bool,
    /// Assign this token instead of issuing one.
    pub token: Option<String>,
    /// Expiry of an assigned token: ISO 8601 or Unix milliseconds.
    #[serde(rename = "expirationDate")]
    #[schema(value_type = Option<String>)]
    pub expiration_date: Option<serde_json::Value>,
    /// Platform administrator flag (ext).
    #[serde(rename = "isPlatformAdmin")]
    pub is_platform_admin: Option<bool>,
}

/// `DELETE /admin/clients/{clientID}/token` (optional body).
#[derive(Deserialize, ToSchema)]
pub struct RevokeBody {
    /// Revoke only this token.
    pub token: Option<String>,
}

/// `POST /rooms`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct CreateRoomBody {
    /// Room ID; generated when absent.
    #[serde(rename = "_id")]
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// `group` (default) or `direct`.
    #[serde(rename = "roomType")]
    pub room_type: Option<String>,
    /// Owner's client ID.
    pub owner: Option<String>,
    /// Members' client IDs.
    pub members: Vec<String>,
    /// Managers' client IDs (ext).
    pub managers: Vec<String>,
    /// Webhook URL for deletion events.
    pub webhook: Option<String>,
    /// Days to keep messages, 1 to 36500 (ext; default: the deployment's).
    #[serde(rename = "retentionDays")]
    #[schema(value_type = Option<i64>)]
    pub retention_days: Option<Whole>,
}

/// `PUT /rooms/{roomID}`: absent fields are kept; `"webhook": null` removes the webhook.
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct UpdateRoomBody {
    /// New name.
    pub name: Option<String>,
    /// New owner.
    pub owner: Option<String>,
    /// New set of managers.
    pub managers: Option<Vec<String>>,
    /// New webhook, or `null` to remove it.
    #[serde(deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub webhook: Option<Option<String>>,
    /// New retention in days (1 to 36500), or `null` for the deployment's default (ext).
    #[serde(rename = "retentionDays", deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub retention_days: Option<Option<Whole>>,
}

/// `POST /rooms/{roomID}/members`.
#[derive(Deserialize, ToSchema)]
pub struct InviteBody {
    /// Client IDs to add.
    pub invitees: Vec<String>,
}

/// `POST /rooms/{roomID}/delete/members`.
#[derive(Deserialize, ToSchema)]
pub struct RemoveMembersBody {
    /// Client IDs to remove.
    pub members: Vec<String>,
}

/// `POST /rooms/{roomID}/message`.
#[derive(Deserialize, ToSchema)]
pub struct SendMessageBody {
    /// Content: any JSON value (required unless recalling).
    #[schema(value_type = serde_json::Value)]
    pub message: Option<serde_json::Value>,
    /// `text` by default; `recall` with `_id` recalls your own message.
    #[serde(rename = "messageType")]
    pub message_type: Option<String>,
    /// Custom ID for the new message, or the message to recall.
    #[serde(rename = "_id")]
    pub id: Option<String>,
}

/// `POST /messages` (API key).
#[derive(Deserialize, ToSchema)]
pub struct SendAsBody {
    /// Room ID.
    pub room: String,
    /// Sender's client ID.
    pub sender: String,
    /// Content: any JSON value.
    #[schema(value_type = serde_json::Value)]
    pub message: serde_json::Value,
    /// Message type.
    #[serde(rename = "messageType")]
    pub message_type: String,
}

#[cfg(test)]
mod tests {
    use super::{AuditRecordDto, RoomChangeDto};
    use roomwarden_domain::actor::RecordedActor;
    use roomwarden_domain::filter::{Bound, MessageFilter};
    use roomwarden_domain::ids::{
        ClientId, DeleteTarget, DeletionId, MessageId, RoomChangeId, RoomId,
    };
    use roomwarden_domain::model::{
        AuditReason, Deletion, RetentionDays, RetentionOrigin, RetentionSetter,
    };
    use roomwarden_domain::record_json::{deletion_record, room_change_record};
    use roomwarden_domain::room_change::{FieldChange, FieldValue, RoomChange, RoomField};

    fn without_hash<T: serde::Serialize>(dto: &T) -> serde_json::Value {
        let mut value = serde_json::to_value(dto).expect("serializes");
        let hash = value
            .as_object_mut()
            .and_then(|o| o.remove("hash"))
            .expect("a hash field");
        assert_eq!(hash, "h", "the stored hash is shown as it is");
        value
    }

    /// The listings show exactly the fields the chain hashes (plus `hash`), so a reader can
    /// recompute every hash from what the API shows.
    #[test]
    fn listed_records_are_the_hashed_records_plus_their_hash() {
        let at = chrono::DateTime::from_timestamp_millis(1_700_000_000_123).expect("time");
        let base = Deletion {
            id: DeletionId::from_trusted("d1".to_owned()),
            room: RoomId::from_trusted("r".to_owned()),
            target: DeleteTarget::One(MessageId::from_trusted("m1".to_owned())),
            deleted_count: 1,
            deleted_by: RecordedActor::Client(ClientId::from_trusted("alice".to_owned())),
            deleted_at: at,
            reason: None,
            filter: None,
            retention: None,
            hash: Some("h".to_owned()),
            reports: Default::default(),
        };
        let kinds = [
            base.clone(),
            Deletion {
                reason: Some(AuditReason::from_trusted("spam wave".to_owned())),
                target: DeleteTarget::All,
                filter: Some(MessageFilter {
                    before: Some(Bound::At(at)),
                    after: Some(Bound::Message(MessageId::from_trusted("m0".to_owned()))),
                    senders: vec![ClientId::from_trusted("s".to_owned())],
                    ..MessageFilter::default()
                }),
                ..base.clone()
            },
            Deletion {
                target: DeleteTarget::Bulk(vec![MessageId::from_trusted("m2".to_owned())]),
                ..base.clone()
            },
            Deletion {
                target: DeleteTarget::All,
                retention: Some(RetentionOrigin {
                    days: RetentionDays::new(7).expect("valid"),
                    set_by: Some(RetentionSetter::from_recorded("mgr".to_owned())),
                    set_at: Some(at),
                }),
                ..base.clone()
            },
            Deletion {
                reports: roomwarden_domain::model::ResolvedReports {
                    count: 101,
                    ids: vec![roomwarden_domain::ids::ReportId::from_trusted(
                        "r1".to_owned(),
                    )],
                },
                ..base.clone()
            },
        ];
        for d in kinds {
            assert_eq!(
                without_hash(&AuditRecordDto::from(d.clone())),
                deletion_record(&d)
            );
        }
        let change = RoomChange {
            id: RoomChangeId::from_trusted("c1".to_owned()),
            room: RoomId::from_trusted("r".to_owned()),
            changed_by: RecordedActor::Platform,
            changed_at: at,
            changes: vec![FieldChange {
                field: RoomField::Name,
                from: FieldValue::Null,
                to: FieldValue::Text("x".to_owned()),
            }],
            reason: None,
            hash: Some("h".to_owned()),
        };
        assert_eq!(
            without_hash(&RoomChangeDto::from(change.clone())),
            room_change_record(&change)
        );
    }
}
