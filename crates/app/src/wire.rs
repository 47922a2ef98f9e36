//! Every wire format of the server's events, in one place: the webhook body of a deletion
//! (docs/events.md), which storage keeps in the outbox through [`WebhookFormat`], and the
//! socket frames connected clients receive (docs/api.md §10.2): `messageDeleted`, built
//! from the deletion's record, `messageReported` (to moderators only) and `chat message`;
//! and the `MESSAGE_REPORTED` webhook body of a report.

use crate::dto::MessageDto;
use roomwarden_domain::events::{EventEncoder, MESSAGE_DELETED, MESSAGE_REPORTED};
use roomwarden_domain::model::{Deletion, Message, iso8601};
use roomwarden_domain::record_json::{filter_json, retention_json};
use roomwarden_domain::report::Report;
use serde::Serialize;
use serde_json::{Value, json};

/// The socket event name of a deletion.
pub const SOCKET_EVENT: &str = "messageDeleted";

/// The socket event name of a new report (sent to the room's moderators only).
pub const REPORT_EVENT: &str = "messageReported";

/// The socket event name of a new message.
pub const MESSAGE_EVENT: &str = "chat message";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody<'a> {
    id: &'a str,
    event: &'a str,
    #[serde(rename = "roomID")]
    room_id: &'a str,
    created_at: String,
    data: WebhookData<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookData<'a> {
    room: &'a str,
    #[serde(rename = "messageID")]
    message_id: &'a str,
    deleted_count: u64,
    deleted_by: &'a str,
    deleted_at: String,
    reason: Option<&'a str>,
    #[serde(rename = "messageIDs", skip_serializing_if = "Option::is_none")]
    message_ids: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<Value>,
    /// The audit record's `hash`: the receiver's witness of the log (docs/events.md).
    #[serde(rename = "auditHash", skip_serializing_if = "Option::is_none")]
    audit_hash: Option<&'a str>,
    /// The reports the deletion resolved (the first 100), when it resolved any.
    #[serde(rename = "reportIDs", skip_serializing_if = "Option::is_none")]
    report_ids: Option<Vec<&'a str>>,
    /// How many reports the deletion resolved, when it resolved any.
    #[serde(rename = "reportCount", skip_serializing_if = "Option::is_none")]
    report_count: Option<u64>,
}

/// The server's [`EventEncoder`]: the webhook body of docs/events.md, whose `id` is the
/// deletion's ID.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookFormat;

impl EventEncoder for WebhookFormat {
    fn webhook_body(&self, deletion: &Deletion) -> String {
        webhook_body(deletion)
    }

    fn report_body(&self, report: &Report) -> String {
        json!({
            "id": report.id.as_str(),
            "event": MESSAGE_REPORTED,
            "roomID": report.room.as_str(),
            "createdAt": iso8601(report.created_at),
            "data": report_data(report),
        })
        .to_string()
    }
}

/// What a report's webhook event and socket frame tell: never the message's content.
fn report_data(report: &Report) -> Value {
    json!({
        "room": report.room.as_str(),
        "messageID": report.message.as_str(),
        "sender": report.sender.as_str(),
        "reportID": report.id.as_str(),
        "reporter": report.reporter.as_str(),
        "category": report.category.as_str(),
        "reason": report.reason.as_ref().map(|r| r.as_str()),
        "reportedAt": iso8601(report.created_at),
    })
}

/// The `messageReported` frame announcing `report`, for the room's moderators' sockets.
#[must_use]
pub fn report_frame(report: &Report) -> String {
    json!({"event": REPORT_EVENT, "data": report_data(report)}).to_string()
}

/// The JSON body of the webhook announcing `deletion`.
#[must_use]
pub fn webhook_body(deletion: &Deletion) -> String {
    let body = WebhookBody {
        id: deletion.id.as_str(),
        event: MESSAGE_DELETED,
        room_id: deletion.room.as_str(),
        created_at: iso8601(deletion.deleted_at),
        data: WebhookData {
            room: deletion.room.as_str(),
            message_id: deletion.message_id(),
            deleted_count: deletion.deleted_count,
            deleted_by: deletion.deleted_by.as_str(),
            deleted_at: iso8601(deletion.deleted_at),
            reason: deletion.reason.as_ref().map(|r| r.as_str()),
            message_ids: (!deletion.removed_ids().is_empty())
                .then(|| deletion.removed_ids().iter().map(|m| m.as_str()).collect()),
            filter: deletion.filter.as_ref().map(filter_json),
            retention: deletion.retention.as_ref().map(retention_json),
            audit_hash: deletion.hash.as_deref(),
            report_ids: (deletion.reports.count > 0)
                .then(|| deletion.reports.ids.iter().map(|r| r.as_str()).collect()),
            report_count: (deletion.reports.count > 0).then_some(deletion.reports.count),
        },
    };
    serde_json::to_string(&body)
        .unwrap_or_else(|_| unreachable!("plain strings and numbers always serialize"))
}

#[derive(Serialize)]
struct SocketFrame<'a> {
    event: &'a str,
    data: SocketData<'a>,
}

#[derive(Serialize)]
struct SocketData<'a> {
    room: &'a str,
    #[serde(rename = "messageID")]
    message_id: &'a str,
    #[serde(rename = "messageIDs", skip_serializing_if = "Option::is_none")]
    message_ids: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<Value>,
    #[serde(rename = "auditHash", skip_serializing_if = "Option::is_none")]
    audit_hash: Option<&'a str>,
}

/// The `messageDeleted` frame announcing `deletion`: its room and `messageID` (a message,
/// `_all` or `_bulk`), a `_bulk` deletion's `messageIDs`, a filtered `_all`'s `filter`, and
/// the audit record's hash (`auditHash`, the client's witness).
#[must_use]
pub fn deletion_frame(deletion: &Deletion) -> String {
    let removed = deletion.removed_ids();
    let frame = SocketFrame {
        event: SOCKET_EVENT,
        data: SocketData {
            room: deletion.room.as_str(),
            message_id: deletion.message_id(),
            message_ids: (!removed.is_empty())
                .then(|| removed.iter().map(|m| m.as_str()).collect()),
            filter: deletion.filter.as_ref().map(filter_json),
            audit_hash: deletion.hash.as_deref(),
        },
    };
    serde_json::to_string(&frame).unwrap_or_else(|_| unreachable!("plain strings always serialize"))
}

/// The `chat message` frame announcing `message`.
#[must_use]
pub fn message_frame(message: Message) -> String {
    json!({"event": MESSAGE_EVENT, "data": MessageDto::from(message)}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomwarden_domain::actor::RecordedActor;
    use roomwarden_domain::ids::{DeleteTarget, DeletionId, MessageId, RoomId};
    use roomwarden_domain::model::{RetentionDays, RetentionOrigin, RetentionSetter};

    #[test]
    fn the_webhook_body_names_the_deletion_by_its_id() {
        let deletion = Deletion {
            id: DeletionId::from_trusted("d-1".to_owned()),
            room: RoomId::from_trusted("r".to_owned()),
            target: DeleteTarget::All,
            deleted_count: 3,
            deleted_by: RecordedActor::Platform,
            deleted_at: chrono::DateTime::from_timestamp_millis(0).expect("epoch"),
            reason: None,
            filter: None,
            hash: None,
            reports: Default::default(),
            retention: None,
        };
        let body: serde_json::Value = serde_json::from_str(&webhook_body(&deletion)).expect("JSON");
        assert_eq!(body["id"], "d-1");
        assert_eq!(body["event"], MESSAGE_DELETED);
        assert_eq!(body["createdAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(body["data"]["deletedCount"], 3);
        assert_eq!(body["data"]["reason"], serde_json::Value::Null);
        assert!(
            body["data"].get("retention").is_none(),
            "only retention deletions"
        );
        let by_retention = Deletion {
            deleted_by: RecordedActor::Retention,
            retention: Some(RetentionOrigin {
                days: RetentionDays::new(1).expect("valid"),
                set_by: Some(RetentionSetter::from_recorded("mgr".to_owned())),
                set_at: chrono::DateTime::from_timestamp_millis(1_000),
            }),
            ..deletion.clone()
        };
        let body: serde_json::Value =
            serde_json::from_str(&webhook_body(&by_retention)).expect("JSON");
        assert_eq!(
            body["data"]["retention"],
            json!({"days": 1, "setBy": "mgr", "setAt": "1970-01-01T00:00:01.000Z"})
        );
        let one = Deletion {
            target: DeleteTarget::One(MessageId::from_trusted("m\"1".to_owned())),
            hash: Some("h".to_owned()),
            reports: Default::default(),
            ..deletion
        };
        let frame: serde_json::Value = serde_json::from_str(&deletion_frame(&one)).expect("JSON");
        assert_eq!(frame["event"], SOCKET_EVENT);
        assert_eq!(frame["data"]["messageID"], "m\"1");
        assert_eq!(frame["data"]["auditHash"], "h");
        assert!(frame["data"].get("messageIDs").is_none());
    }
}
