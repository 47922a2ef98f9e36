//! The deletion event's wire format, in one place: the webhook body (`docs/events.md`)
//! and the socket frame that connected clients receive (`docs/api.md`, `/socket`).
//! Both are built from the committed [`Deletion`]; the webhook body is written to the
//! outbox in the deletion's transaction, the frame when the feed reads the outbox row.

use roomwarden_domain::events::MESSAGE_DELETED;
use roomwarden_domain::filter::{Bound, MessageFilter};
use roomwarden_domain::model::{Deletion, iso8601};
use serde::Serialize;
use serde_json::{Map, Value};

/// A filter as the API, the audit log and the events show it: `before`/`after` as ISO
/// times with milliseconds (or the message ID given), `sender` as an array; absent fields
/// were not given.
#[must_use]
pub fn filter_json(filter: &MessageFilter) -> Value {
    let bound = |b: &Bound| match b {
        Bound::At(t) => Value::String(iso8601(*t)),
        Bound::Message(id) => Value::String(id.as_str().to_owned()),
    };
    let mut out = Map::new();
    if let Some(b) = &filter.before {
        out.insert("before".to_owned(), bound(b));
    }
    if let Some(a) = &filter.after {
        out.insert("after".to_owned(), bound(a));
    }
    if !filter.senders.is_empty() {
        out.insert(
            "sender".to_owned(),
            filter
                .senders
                .iter()
                .map(|s| Value::String(s.as_str().to_owned()))
                .collect(),
        );
    }
    Value::Object(out)
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
            message_id: &deletion.message_id,
            deleted_count: deletion.deleted_count,
            deleted_by: &deletion.deleted_by,
            deleted_at: iso8601(deletion.deleted_at),
            reason: deletion.reason.as_ref().map(|r| r.as_str()),
            message_ids: (!deletion.message_ids.is_empty())
                .then(|| deletion.message_ids.iter().map(|m| m.as_str()).collect()),
            filter: deletion.filter.as_ref().map(filter_json),
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
}

/// The socket frame announcing that `message_id` (a message, `_all` or `_bulk`) was deleted
/// in `room`; a `_bulk` deletion lists its `message_ids`, a filtered `_all` its `filter`.
#[must_use]
pub fn socket_frame(
    room: &str,
    message_id: &str,
    message_ids: &[String],
    filter: Option<&Value>,
) -> String {
    let frame = SocketFrame {
        event: SOCKET_EVENT,
        data: SocketData {
            room,
            message_id,
            message_ids,
            filter,
        },
    };
    serde_json::to_string(&frame).unwrap_or_else(|_| unreachable!("plain strings always serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomwarden_domain::ids::{DeletionId, RoomId};

    #[test]
    fn the_webhook_body_names_the_deletion_by_its_id() {
        let deletion = Deletion {
            id: DeletionId::from_trusted("d-1".to_owned()),
            room: RoomId::from_trusted("r".to_owned()),
            message_id: "_all".to_owned(),
            deleted_count: 3,
            deleted_by: "_platform".to_owned(),
            deleted_at: chrono::DateTime::from_timestamp_millis(0).expect("epoch"),
            reason: None,
            filter: None,
            message_ids: Vec::new(),
        };
        let body: serde_json::Value = serde_json::from_str(&webhook_body(&deletion)).expect("JSON");
        assert_eq!(body["id"], "d-1");
        assert_eq!(body["event"], MESSAGE_DELETED);
        assert_eq!(body["createdAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(body["data"]["deletedCount"], 3);
        assert_eq!(body["data"]["reason"], serde_json::Value::Null);
        let frame: serde_json::Value =
            serde_json::from_str(&socket_frame("r", "m\"1", &[], None)).expect("JSON");
        assert_eq!(frame["event"], SOCKET_EVENT);
        assert_eq!(frame["data"]["messageID"], "m\"1");
    }
}
