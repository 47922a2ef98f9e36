//! Wire shapes: request bodies and results, with their OpenAPI schemas.

use roomwarden_domain::ids::ClientId;
use roomwarden_domain::model::{Client, Deletion, Message, Room, RoomView};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

pub use roomwarden_domain::model::iso8601 as iso;

fn ids(list: &[ClientId]) -> Vec<String> {
    list.iter().map(|c| c.as_str().to_owned()).collect()
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
            created_at: iso(created_at),
            updated_at: iso(updated_at),
            last_message: v.last_message.map(MessageDto::from),
        }
    }
}

/// The seed specification's deletion result.
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
}

impl From<&Deletion> for DeletionResultDto {
    fn from(d: &Deletion) -> Self {
        Self {
            deleted_count: d.deleted_count,
            room_id: d.room.as_str().to_owned(),
            message_id: d.message_id.clone(),
            deleted_by: d.deleted_by.clone(),
            deleted_at: iso(d.deleted_at),
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
}

impl From<Deletion> for AuditRecordDto {
    fn from(d: Deletion) -> Self {
        Self {
            id: d.id.as_str().to_owned(),
            room_id: d.room.as_str().to_owned(),
            message_id: d.message_id,
            deleted_count: d.deleted_count,
            deleted_by: d.deleted_by,
            deleted_at: iso(d.deleted_at),
            reason: d.reason.map(|r| r.as_str().to_owned()),
        }
    }
}

/// A page of audit records.
#[derive(Serialize, ToSchema)]
pub struct AuditPageDto {
    /// Newest first.
    pub data: Vec<AuditRecordDto>,
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
