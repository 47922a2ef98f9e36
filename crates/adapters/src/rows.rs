//! Diesel row structs and their conversion to domain types at the seam.

use crate::schema::{
    clients, deletions, messages, outbox, room_changes, room_members, rooms, tokens,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use roomwarden_domain::actor::RecordedActor;
use roomwarden_domain::events::{DeliveryState, EventDelivery};
use roomwarden_domain::ids::{
    ClientId, DeleteTarget, DeletionId, MessageId, ReportId, RoomChangeId, RoomId,
};
use roomwarden_domain::model::{
    AuditReason, Client, Deletion, Message, MessageContent, ResolvedReports, RetentionDays,
    RetentionOrigin, RetentionSetter, Room, RoomType,
};
use roomwarden_domain::room_change::{RetentionSet, RoomChange};

/// Milliseconds since the epoch, the stored form of every time.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Stored milliseconds back to a time (out-of-range values, never written by us, become the epoch).
pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Stored counts are non-negative BIGINTs.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = clients)]
pub(crate) struct ClientRow {
    pub id: String,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub is_platform_admin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<ClientRow> for Client {
    fn from(row: ClientRow) -> Self {
        Self {
            id: ClientId::from_trusted(row.id),
            nickname: row.nickname,
            avatar_url: row.avatar_url,
            is_platform_admin: row.is_platform_admin,
            created_at: from_ms(row.created_at),
            updated_at: from_ms(row.updated_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = clients)]
pub(crate) struct NewClientRow<'a> {
    pub id: &'a str,
    pub nickname: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub is_platform_admin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(AsChangeset)]
#[diesel(table_name = clients)]
pub(crate) struct ClientUpdate<'a> {
    pub nickname: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub is_platform_admin: Option<bool>,
    pub updated_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = tokens)]
pub(crate) struct NewTokenRow<'a> {
    pub token_hash: &'a str,
    pub client_id: &'a str,
    pub expires_at: i64,
    pub revoked: bool,
    pub created_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = rooms)]
pub(crate) struct RoomRow {
    pub id: String,
    pub name: Option<String>,
    pub room_type: String,
    pub owner: Option<String>,
    pub webhook: Option<String>,
    pub retention_days: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stored retention back to the domain's (values out of range, never written by us, are
/// dropped).
pub(crate) fn retention(days: Option<i32>) -> Option<RetentionDays> {
    days.and_then(|d| RetentionDays::new(i64::from(d)).ok())
}

/// A retention as stored.
pub(crate) fn retention_column(days: Option<RetentionDays>) -> Option<i32> {
    days.and_then(|d| i32::try_from(d.get()).ok())
}

impl RoomRow {
    /// The domain room, given its member rows (any order).
    pub(crate) fn into_room(self, mut members: Vec<MemberRow>) -> Room {
        members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        let managers = members
            .iter()
            .filter(|m| m.is_manager)
            .map(|m| ClientId::from_trusted(m.client_id.clone()))
            .collect();
        Room {
            id: RoomId::from_trusted(self.id),
            name: self.name,
            room_type: if self.room_type == "direct" {
                RoomType::Direct
            } else {
                RoomType::Group
            },
            owner: self.owner.map(ClientId::from_trusted),
            managers,
            members: members
                .into_iter()
                .map(|m| ClientId::from_trusted(m.client_id))
                .collect(),
            webhook: self.webhook,
            retention_days: retention(self.retention_days),
            created_at: from_ms(self.created_at),
            updated_at: from_ms(self.updated_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = rooms)]
pub(crate) struct NewRoomRow<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub room_type: &'a str,
    pub owner: Option<&'a str>,
    pub webhook: Option<&'a str>,
    pub retention_days: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The chain's head: [`roomwarden_domain::audit_chain::GENESIS`] for a new room.
    pub audit_head: &'a str,
}

#[derive(AsChangeset)]
#[diesel(table_name = rooms)]
pub(crate) struct RoomUpdate<'a> {
    pub name: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub webhook: Option<Option<&'a str>>,
    pub retention_days: Option<Option<i32>>,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = room_members)]
pub(crate) struct MemberRow {
    pub room_id: String,
    pub client_id: String,
    pub is_manager: bool,
    pub joined_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
pub(crate) struct MessageRow {
    pub id: String,
    pub room_id: String,
    pub sender: String,
    pub message_type: String,
    pub body: String,
    pub created_at: i64,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Self {
            id: MessageId::from_trusted(row.id),
            room: RoomId::from_trusted(row.room_id),
            sender: ClientId::from_trusted(row.sender),
            content: MessageContent::from_trusted(row.body),
            message_type: row.message_type,
            sent_at: from_ms(row.created_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = messages)]
pub(crate) struct NewMessageRow<'a> {
    pub id: &'a str,
    pub room_id: &'a str,
    pub sender: &'a str,
    pub message_type: &'a str,
    pub body: &'a str,
    pub created_at: i64,
}

impl<'a> From<&'a Message> for NewMessageRow<'a> {
    fn from(m: &'a Message) -> Self {
        Self {
            id: m.id.as_str(),
            room_id: m.room.as_str(),
            sender: m.sender.as_str(),
            message_type: &m.message_type,
            body: m.content.as_json(),
            created_at: to_ms(m.sent_at),
        }
    }
}

#[derive(Queryable, QueryableByName, Selectable, Clone)]
#[diesel(table_name = deletions)]
pub(crate) struct DeletionRow {
    pub id: String,
    pub room_id: String,
    pub message_id: String,
    pub deleted_count: i64,
    pub deleted_by: String,
    pub deleted_at: i64,
    pub reason: Option<String>,
    pub filter: Option<String>,
    pub message_ids: Option<String>,
    pub retention_days: Option<i32>,
    pub retention_set_by: Option<String>,
    pub retention_set_at: Option<i64>,
    pub hash: Option<String>,
    pub report_ids: Option<String>,
    pub report_count: i64,
}

impl From<DeletionRow> for Deletion {
    fn from(row: DeletionRow) -> Self {
        Self {
            id: DeletionId::from_trusted(row.id),
            room: RoomId::from_trusted(row.room_id),
            target: DeleteTarget::from_record(
                row.message_id,
                row.message_ids
                    .as_deref()
                    .and_then(|j| serde_json::from_str::<Vec<String>>(j).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .map(MessageId::from_trusted)
                    .collect(),
            ),
            deleted_count: count(row.deleted_count),
            deleted_by: RecordedActor::from_recorded(row.deleted_by),
            deleted_at: from_ms(row.deleted_at),
            reason: row.reason.map(AuditReason::from_trusted),
            filter: row.filter.as_deref().and_then(crate::filter_sql::decode),
            retention: retention(row.retention_days).map(|days| RetentionOrigin {
                days,
                set_by: row.retention_set_by.map(RetentionSetter::from_recorded),
                set_at: row.retention_set_at.map(from_ms),
            }),
            hash: row.hash,
            reports: ResolvedReports {
                count: count(row.report_count),
                ids: row
                    .report_ids
                    .as_deref()
                    .and_then(|j| serde_json::from_str::<Vec<String>>(j).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .map(ReportId::from_trusted)
                    .collect(),
            },
        }
    }
}

/// Absent values are written as NULL (every column's default), not `DEFAULT`: so the
/// statement takes one form, which diesel keeps prepared (`crate::cached`).
#[derive(Insertable)]
#[diesel(table_name = deletions, treat_none_as_default_value = false)]
pub(crate) struct NewDeletionRow<'a> {
    pub id: &'a str,
    pub room_id: &'a str,
    pub message_id: &'a str,
    pub deleted_count: i64,
    pub deleted_by: &'a str,
    pub deleted_at: i64,
    pub reason: Option<&'a str>,
    pub filter: Option<String>,
    pub message_ids: Option<String>,
    pub retention_days: Option<i32>,
    pub retention_set_by: Option<&'a str>,
    pub retention_set_at: Option<i64>,
    pub hash: Option<&'a str>,
    pub report_ids: Option<String>,
    pub report_count: i64,
}

impl<'a> From<&'a Deletion> for NewDeletionRow<'a> {
    fn from(d: &'a Deletion) -> Self {
        Self {
            id: d.id.as_str(),
            room_id: d.room.as_str(),
            message_id: d.message_id(),
            deleted_count: i64::try_from(d.deleted_count).unwrap_or(i64::MAX),
            deleted_by: d.deleted_by.as_str(),
            deleted_at: to_ms(d.deleted_at),
            reason: d.reason.as_ref().map(AuditReason::as_str),
            filter: d.filter.as_ref().map(crate::filter_sql::encode),
            message_ids: (!d.removed_ids().is_empty()).then(|| {
                serde_json::Value::from(
                    d.removed_ids()
                        .iter()
                        .map(|id| id.as_str())
                        .collect::<Vec<_>>(),
                )
                .to_string()
            }),
            retention_days: retention_column(d.retention.as_ref().map(|o| o.days)),
            retention_set_by: d
                .retention
                .as_ref()
                .and_then(|o| o.set_by.as_ref())
                .map(RetentionSetter::as_str),
            retention_set_at: d.retention.as_ref().and_then(|o| o.set_at).map(to_ms),
            hash: d.hash.as_deref(),
            report_ids: (d.reports.count > 0).then(|| {
                serde_json::Value::from(
                    d.reports
                        .ids
                        .iter()
                        .map(|id| id.as_str())
                        .collect::<Vec<_>>(),
                )
                .to_string()
            }),
            report_count: i64::try_from(d.reports.count).unwrap_or(i64::MAX),
        }
    }
}

/// Who set a room's own retention, as stored on its row (both columns, or neither).
pub(crate) fn retention_set(by: Option<String>, at: Option<i64>) -> Option<RetentionSet> {
    Some(RetentionSet {
        by: RecordedActor::from_recorded(by?),
        at: from_ms(at?),
    })
}

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = room_changes)]
pub(crate) struct RoomChangeRow {
    pub id: String,
    pub room_id: String,
    pub changed_by: String,
    pub changed_at: i64,
    pub changes: String,
    pub reason: Option<String>,
    pub hash: Option<String>,
}

impl From<RoomChangeRow> for RoomChange {
    fn from(row: RoomChangeRow) -> Self {
        Self {
            id: RoomChangeId::from_trusted(row.id),
            room: RoomId::from_trusted(row.room_id),
            changed_by: RecordedActor::from_recorded(row.changed_by),
            changed_at: from_ms(row.changed_at),
            changes: roomwarden_domain::record_json::decode_changes(&row.changes),
            reason: row.reason.map(AuditReason::from_trusted),
            hash: row.hash,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = room_changes)]
pub(crate) struct NewRoomChangeRow<'a> {
    pub id: &'a str,
    pub room_id: &'a str,
    pub changed_by: &'a str,
    pub changed_at: i64,
    pub changes: String,
    pub reason: Option<&'a str>,
    pub hash: Option<&'a str>,
}

impl<'a> From<&'a RoomChange> for NewRoomChangeRow<'a> {
    fn from(c: &'a RoomChange) -> Self {
        Self {
            id: c.id.as_str(),
            room_id: c.room.as_str(),
            changed_by: c.changed_by.as_str(),
            changed_at: to_ms(c.changed_at),
            changes: roomwarden_domain::record_json::changes_json(&c.changes).to_string(),
            reason: c.reason.as_ref().map(AuditReason::as_str),
            hash: c.hash.as_deref(),
        }
    }
}

/// An outbox row as operators see it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub(crate) struct EventRow {
    pub deletion_id: String,
    pub room_id: String,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub finished_at: Option<i64>,
    pub created_at: i64,
}

impl EventRow {
    /// The domain's view of the row; `None` for a state no version of ours writes.
    pub(crate) fn into_delivery(self) -> Option<EventDelivery> {
        let state = DeliveryState::parse(&self.state)?;
        Some(EventDelivery {
            id: DeletionId::from_trusted(self.deletion_id),
            room: RoomId::from_trusted(self.room_id),
            body: self.payload,
            state,
            attempts: u32::try_from(self.attempts).unwrap_or_default(),
            last_error: self.last_error,
            next_attempt_at: (state == DeliveryState::Pending)
                .then(|| from_ms(self.next_attempt_at)),
            delivered_at: self
                .finished_at
                .filter(|_| state == DeliveryState::Delivered)
                .map(from_ms),
            created_at: from_ms(self.created_at),
        })
    }
}
