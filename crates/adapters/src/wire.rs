//! The deletion event's wire format, in one place: the webhook body (`docs/events.md`)
//! and the socket frame that connected clients receive (docs/api.md §10.2).
//! Both are built from the committed [`Deletion`]; the webhook body is written to the
//! outbox in the deletion's transaction, the frame when the feed reads the outbox row.
//! Also re-exports the JSON of the parts the API, the audit log and storage share (a filter,
//! a retention deletion's `retention`, a room-change record's `changes`), which
//! `roomwarden_domain::record_json` defines, and reads stored `changes` back.

use roomwarden_domain::events::MESSAGE_DELETED;
use roomwarden_domain::ids::ClientId;
use roomwarden_domain::model::{Deletion, RetentionDays, iso8601};
use roomwarden_domain::room_change::{FieldChange, FieldValue, RoomField};
use serde::Serialize;
use serde_json::Value;

pub use roomwarden_domain::record_json::{changes_json, filter_json, retention_json};

/// A value of `field` read back from [`changes_json`]; `None` for one it never writes.
fn value_of(field: RoomField, json: &Value) -> Option<FieldValue> {
    Some(match (field, json) {
        (_, Value::Null) => FieldValue::Null,
        (RoomField::Name | RoomField::Webhook | RoomField::Owner, Value::String(t)) => {
            FieldValue::Text(t.clone())
        }
        (RoomField::RetentionDays, Value::Number(n)) => {
            FieldValue::Days(RetentionDays::new(n.as_i64()?).ok()?)
        }
        (RoomField::Members | RoomField::Managers, Value::Array(ids)) => FieldValue::Clients(
            ids.iter()
                .map(|id| id.as_str().map(|s| ClientId::from_trusted(s.to_owned())))
                .collect::<Option<Vec<_>>>()?,
        ),
        _ => return None,
    })
}

/// The changes stored by [`changes_json`], in [`RoomField::ALL`] order (entries no version
/// of ours writes are dropped).
#[must_use]
pub fn decode_changes(stored: &str) -> Vec<FieldChange> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(stored) else {
        return Vec::new();
    };
    let mut changes: Vec<FieldChange> = map
        .iter()
        .filter_map(|(name, change)| {
            let field = RoomField::parse(name)?;
            Some(FieldChange {
                field,
                from: value_of(field, change.get("from")?)?,
                to: value_of(field, change.get("to")?)?,
            })
        })
        .collect();
    changes.sort_by_key(|c| c.field);
    changes
}

/// The socket event name of a deletion.
pub const SOCKET_EVENT: &str = "messageDeleted";

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
}

/// The JSON body of the webhook announcing `deletion`; its `id` is the deletion's ID.
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
    #[serde(rename = "messageIDs", skip_serializing_if = "<[String]>::is_empty")]
    message_ids: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<&'a Value>,
    #[serde(rename = "auditHash", skip_serializing_if = "Option::is_none")]
    audit_hash: Option<&'a str>,
}

/// The socket frame announcing that `message_id` (a message, `_all` or `_bulk`) was deleted
/// in `room`; a `_bulk` deletion lists its `message_ids`, a filtered `_all` its `filter`,
/// and every deletion its audit record's hash (`auditHash`, the client's witness).
#[must_use]
pub fn socket_frame(
    room: &str,
    message_id: &str,
    message_ids: &[String],
    filter: Option<&Value>,
    audit_hash: Option<&str>,
) -> String {
    let frame = SocketFrame {
        event: SOCKET_EVENT,
        data: SocketData {
            room,
            message_id,
            message_ids,
            filter,
            audit_hash,
        },
    };
    serde_json::to_string(&frame).unwrap_or_else(|_| unreachable!("plain strings always serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomwarden_domain::actor::RecordedActor;
    use roomwarden_domain::ids::{DeleteTarget, DeletionId, RoomId};
    use roomwarden_domain::model::RetentionOrigin;
    use serde_json::json;

    #[test]
    fn room_changes_round_trip_through_their_json() {
        let changes = vec![
            FieldChange {
                field: RoomField::Name,
                from: FieldValue::Null,
                to: FieldValue::Text("x".to_owned()),
            },
            FieldChange {
                field: RoomField::RetentionDays,
                from: FieldValue::Days(RetentionDays::new(7).expect("valid")),
                to: FieldValue::Null,
            },
            FieldChange {
                field: RoomField::Managers,
                from: FieldValue::Clients(vec![]),
                to: FieldValue::Clients(vec![ClientId::from_trusted("a".to_owned())]),
            },
        ];
        let json = changes_json(&changes);
        assert_eq!(
            json,
            json!({
                "name": {"from": null, "to": "x"},
                "retentionDays": {"from": 7, "to": null},
                "managers": {"from": [], "to": ["a"]},
            })
        );
        assert_eq!(decode_changes(&json.to_string()), changes);
    }

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
                set_by: Some("mgr".to_owned()),
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
        let frame: serde_json::Value =
            serde_json::from_str(&socket_frame("r", "m\"1", &[], None, None)).expect("JSON");
        assert_eq!(frame["event"], SOCKET_EVENT);
        assert_eq!(frame["data"]["messageID"], "m\"1");
    }
}
