//! The JSON of audit records, as the API lists them and the audit chain hashes them
//! ([`crate::audit_chain`]): a deletion's record, a room-change record, and their parts
//! (a filter, a retention deletion's `retention`, a room change's `changes`). The app's
//! listings, the webhook body and the chain all build these parts here, so they cannot
//! drift apart (docs/api.md §8).

use crate::filter::{Bound, MessageFilter};
use crate::ids::ClientId;
use crate::model::RetentionDays;
use crate::model::{Deletion, RetentionOrigin, RetentionSetter, iso8601};
use crate::room_change::{FieldChange, FieldValue, RoomChange, RoomField};
use serde_json::{Map, Value, json};

/// A filter as the API, the audit log and the events show it: `before`/`after` as ISO
/// times with milliseconds (or the message ID given), `sender` and `contains` as arrays;
/// absent fields were not given.
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
    if !filter.contains.is_empty() {
        out.insert(
            "contains".to_owned(),
            filter
                .contains
                .strings()
                .iter()
                .map(|s| Value::String(s.clone()))
                .collect(),
        );
    }
    Value::Object(out)
}

/// A retention deletion's `retention`: `{days, setBy, setAt}` (`setAt` as an ISO time or
/// `null`).
#[must_use]
pub fn retention_json(origin: &RetentionOrigin) -> Value {
    json!({
        "days": origin.days.get(),
        "setBy": origin.set_by.as_ref().map(RetentionSetter::as_str),
        "setAt": origin.set_at.map(iso8601),
    })
}

/// A room field's value as the room object shows it.
fn value_json(value: &FieldValue) -> Value {
    match value {
        FieldValue::Null => Value::Null,
        FieldValue::Text(t) => Value::String(t.clone()),
        FieldValue::Days(d) => Value::from(d.get()),
        FieldValue::Clients(ids) => ids
            .iter()
            .map(|id| Value::String(id.as_str().to_owned()))
            .collect(),
    }
}

/// A room-change record's `changes`: `{<field>: {from, to}}` by the room object's JSON
/// names, as the API shows it and storage keeps it.
#[must_use]
pub fn changes_json(changes: &[FieldChange]) -> Value {
    Value::Object(
        changes
            .iter()
            .map(|c| {
                (
                    c.field.as_str().to_owned(),
                    json!({"from": value_json(&c.from), "to": value_json(&c.to)}),
                )
            })
            .collect(),
    )
}

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

/// A deletion's audit record without its `hash`: `_id`, `roomID`, `messageID`,
/// `deletedCount`, `deletedBy`, `deletedAt`, `reason` (`null` when none), and, only when they
/// apply, `filter`, `messageIDs`, `retention`, and `reportIDs` with `reportCount`.
#[must_use]
pub fn deletion_record(d: &Deletion) -> Value {
    let mut record = Map::new();
    record.insert("_id".to_owned(), Value::String(d.id.as_str().to_owned()));
    record.insert(
        "roomID".to_owned(),
        Value::String(d.room.as_str().to_owned()),
    );
    record.insert(
        "messageID".to_owned(),
        Value::String(d.message_id().to_owned()),
    );
    record.insert("deletedCount".to_owned(), Value::from(d.deleted_count));
    record.insert(
        "deletedBy".to_owned(),
        Value::String(d.deleted_by.as_str().to_owned()),
    );
    record.insert("deletedAt".to_owned(), Value::String(iso8601(d.deleted_at)));
    record.insert(
        "reason".to_owned(),
        d.reason
            .as_ref()
            .map_or(Value::Null, |r| Value::String(r.as_str().to_owned())),
    );
    if let Some(filter) = &d.filter {
        record.insert("filter".to_owned(), filter_json(filter));
    }
    if !d.removed_ids().is_empty() {
        record.insert(
            "messageIDs".to_owned(),
            d.removed_ids()
                .iter()
                .map(|m| Value::String(m.as_str().to_owned()))
                .collect(),
        );
    }
    if let Some(origin) = &d.retention {
        record.insert("retention".to_owned(), retention_json(origin));
    }
    // Absent when none, so that the records written before reports existed keep their hash.
    if d.reports.count > 0 {
        record.insert(
            "reportIDs".to_owned(),
            d.reports
                .ids
                .iter()
                .map(|r| Value::String(r.as_str().to_owned()))
                .collect(),
        );
        record.insert("reportCount".to_owned(), Value::from(d.reports.count));
    }
    Value::Object(record)
}

/// A report as its queue lists it: `_id`, `roomID`, `messageID`, `sender`, `reporter`,
/// `category`, `reason` (`null` when none), `createdAt`, `state`, and `deletionID` once
/// deleted, or `dismissedBy`, `dismissedAt`, `dismissReason` once dismissed.
#[must_use]
pub fn report_record(r: &crate::report::Report) -> Value {
    use crate::report::Resolution;
    let mut record = json!({
        "_id": r.id.as_str(),
        "roomID": r.room.as_str(),
        "messageID": r.message.as_str(),
        "sender": r.sender.as_str(),
        "reporter": r.reporter.as_str(),
        "category": r.category.as_str(),
        "reason": r.reason.as_ref().map(|x| x.as_str()),
        "createdAt": iso8601(r.created_at),
        "state": r.state().as_str(),
    });
    match &r.resolution {
        None => {}
        Some(Resolution::Deleted(id)) => record["deletionID"] = id.as_str().into(),
        Some(Resolution::Dismissed { by, at, reason }) => {
            record["dismissedBy"] = by.as_str().into();
            record["dismissedAt"] = iso8601(*at).into();
            record["dismissReason"] = reason.as_ref().map(|x| x.as_str()).into();
        }
    }
    record
}

/// A room-change record without its `hash`: `_id`, `roomID`, `changedBy`, `changedAt`,
/// `changes`, `reason` (`null` when none).
#[must_use]
pub fn room_change_record(c: &RoomChange) -> Value {
    json!({
        "_id": c.id.as_str(),
        "roomID": c.room.as_str(),
        "changedBy": c.changed_by.as_str(),
        "changedAt": iso8601(c.changed_at),
        "changes": changes_json(&c.changes),
        "reason": c.reason.as_ref().map(|r| r.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
