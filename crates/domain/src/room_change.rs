//! Room-change records: what a change of a room changed, as a value.
//!
//! Every change of a room (its creation included) is recorded with the fields whose value
//! changed, each `{from, to}`. [`RoomChange::record`] is the one definition of that diff:
//! storage calls it inside the change's transaction with the room as it was (under the
//! room's lock) and as it is afterwards, and stores the record it returns, if any. Records
//! are append-only: nothing changes or removes them.

use crate::actor::{Actor, RecordedActor};
use crate::ids::{ClientId, RoomChangeId, RoomId};
pub use crate::model::RetentionSet;
use crate::model::{AuditReason, RetentionDays, Room};
use chrono::{DateTime, Utc};

/// A field of a room a change can touch, by the room object's JSON name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoomField {
    /// `name`.
    Name,
    /// `webhook`.
    Webhook,
    /// `retentionDays`.
    RetentionDays,
    /// `owner`.
    Owner,
    /// `members` (owner and managers included).
    Members,
    /// `managers`.
    Managers,
}

impl RoomField {
    /// Every field, in the order records list them.
    pub const ALL: [Self; 6] = [
        Self::Name,
        Self::Webhook,
        Self::RetentionDays,
        Self::Owner,
        Self::Members,
        Self::Managers,
    ];

    /// The room object's JSON name of the field.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Webhook => "webhook",
            Self::RetentionDays => "retentionDays",
            Self::Owner => "owner",
            Self::Members => "members",
            Self::Managers => "managers",
        }
    }

    /// The field named `name` (its JSON name), if any.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The field's value in `room`; lists of clients sorted.
    #[must_use]
    pub fn value_in(self, room: &Room) -> FieldValue {
        let text = |t: &Option<String>| t.clone().map_or(FieldValue::Null, FieldValue::Text);
        let clients = |ids: &[ClientId]| {
            let mut ids = ids.to_vec();
            ids.sort();
            ids.dedup();
            FieldValue::Clients(ids)
        };
        match self {
            Self::Name => text(&room.name),
            Self::Webhook => text(&room.webhook),
            Self::RetentionDays => room
                .retention_days
                .map_or(FieldValue::Null, FieldValue::Days),
            Self::Owner => room.owner.as_ref().map_or(FieldValue::Null, |o| {
                FieldValue::Text(o.as_str().to_owned())
            }),
            Self::Members => clients(&room.members),
            Self::Managers => clients(&room.managers),
        }
    }
}

/// A field's value before or after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// Not set (`null`); also the `from` of every field at a room's creation.
    Null,
    /// A name, a webhook URL, or the owner's client ID.
    Text(String),
    /// A retention.
    Days(RetentionDays),
    /// Members or managers, sorted.
    Clients(Vec<ClientId>),
}

impl FieldValue {
    /// Whether a room created with this value set the field: anything but `null` and the
    /// empty list.
    #[must_use]
    pub fn is_set(&self) -> bool {
        match self {
            Self::Null => false,
            Self::Clients(ids) => !ids.is_empty(),
            Self::Text(_) | Self::Days(_) => true,
        }
    }
}

/// One field's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field.
    pub field: RoomField,
    /// Its value before (`Null` at creation).
    pub from: FieldValue,
    /// Its value after.
    pub to: FieldValue,
}

/// A room-change record: one committed change of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomChange {
    /// Record ID (the listing's `before` cursor).
    pub id: RoomChangeId,
    /// The room.
    pub room: RoomId,
    /// Who changed it: a client ID, or `_platform` for the API key ([`Actor::recorded`]).
    pub changed_by: RecordedActor,
    /// When.
    pub changed_at: DateTime<Utc>,
    /// The fields whose value changed, in [`RoomField::ALL`] order, each once.
    pub changes: Vec<FieldChange>,
    /// Why, from `X-Audit-Log-Reason`, if given.
    pub reason: Option<AuditReason>,
    /// The record's link in its room's chain of room changes ([`crate::audit_chain`]), set by
    /// storage when it records the change.
    pub hash: Option<String>,
}

impl RoomChange {
    /// What changed from `before` to `after`: every field whose value differs, in
    /// [`RoomField::ALL`] order. With no `before` (the room's creation), every field that
    /// `after` sets, from [`FieldValue::Null`].
    #[must_use]
    pub fn diff(before: Option<&Room>, after: &Room) -> Vec<FieldChange> {
        RoomField::ALL
            .into_iter()
            .filter_map(|field| {
                let to = field.value_in(after);
                let from = match before {
                    Some(room) => field.value_in(room),
                    None if to.is_set() => FieldValue::Null,
                    None => return None,
                };
                (from != to).then_some(FieldChange { field, from, to })
            })
            .collect()
    }

    /// The record of a change of `after` (from `before`, or its creation when `None`) by
    /// `actor` at `at`: `None` when an existing room's change changed nothing, which is not
    /// recorded. A creation is always recorded.
    #[must_use]
    pub fn record(
        before: Option<&Room>,
        after: &Room,
        actor: &Actor,
        at: DateTime<Utc>,
        reason: Option<&AuditReason>,
    ) -> Option<Self> {
        let changes = Self::diff(before, after);
        if before.is_some() && changes.is_empty() {
            return None;
        }
        Some(Self {
            id: RoomChangeId::generate(at),
            room: after.id.clone(),
            changed_by: actor.recorded(),
            changed_at: crate::model::to_millis(at),
            changes,
            reason: reason.cloned(),
            hash: None,
        })
    }

    /// The change of `field`, if this record has one.
    #[must_use]
    pub fn change_of(&self, field: RoomField) -> Option<&FieldChange> {
        self.changes.iter().find(|c| c.field == field)
    }

    /// When this change touched the room's retention, who set it from now on: this
    /// change's actor and time, or `None` when it removed the retention (the default applies
    /// again). `None` outer when the retention did not change, so the stored setter stays.
    #[must_use]
    pub fn retention_set(&self) -> Option<Option<RetentionSet>> {
        let change = self.change_of(RoomField::RetentionDays)?;
        Some(match change.to {
            FieldValue::Null => None,
            _ => Some(RetentionSet {
                by: self.changed_by.clone(),
                at: self.changed_at,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fixtures::{cast_room, cid, user};

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_123).expect("valid")
    }

    #[test]
    fn only_changed_fields_are_recorded_with_from_and_to() {
        let before = cast_room();
        let mut after = before.clone();
        after.name = Some("New".to_owned());
        after.retention_days = Some(RetentionDays::new(1).expect("valid"));
        after.members.push(cid("zed"));
        let record =
            RoomChange::record(Some(&before), &after, &user("manager"), at(), None).expect("some");
        assert_eq!(record.changed_by, "manager");
        assert_eq!(
            record.changes,
            vec![
                FieldChange {
                    field: RoomField::Name,
                    from: FieldValue::Text("R".to_owned()),
                    to: FieldValue::Text("New".to_owned()),
                },
                FieldChange {
                    field: RoomField::RetentionDays,
                    from: FieldValue::Null,
                    to: FieldValue::Days(RetentionDays::new(1).expect("valid")),
                },
                FieldChange {
                    field: RoomField::Members,
                    from: FieldValue::Clients(vec![cid("manager"), cid("member"), cid("owner")]),
                    to: FieldValue::Clients(vec![
                        cid("manager"),
                        cid("member"),
                        cid("owner"),
                        cid("zed")
                    ]),
                },
            ]
        );
        assert_eq!(
            record.retention_set(),
            Some(Some(RetentionSet {
                by: RecordedActor::Client(cid("manager")),
                at: at()
            }))
        );
    }

    #[test]
    fn a_change_that_changes_nothing_is_not_recorded() {
        let room = cast_room();
        let mut same = room.clone();
        same.members.reverse();
        same.updated_at = at();
        assert_eq!(
            RoomChange::record(Some(&room), &same, &Actor::Platform, at(), None),
            None
        );
    }

    #[test]
    fn a_creation_records_every_field_it_sets_from_null() {
        let mut room = cast_room();
        room.name = None;
        room.managers.clear();
        let record = RoomChange::record(None, &room, &Actor::Platform, at(), None).expect("some");
        assert_eq!(record.changed_by, "_platform");
        let fields: Vec<&str> = record.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["owner", "members"]);
        assert!(record.changes.iter().all(|c| c.from == FieldValue::Null));
        assert_eq!(record.retention_set(), None);
        let bare = Room {
            owner: None,
            members: Vec::new(),
            ..room
        };
        let record = RoomChange::record(None, &bare, &Actor::Platform, at(), None);
        assert!(
            record.is_some_and(|r| r.changes.is_empty()),
            "still recorded"
        );
    }

    #[test]
    fn removing_the_retention_clears_its_setter() {
        let mut before = cast_room();
        before.retention_days = Some(RetentionDays::new(3).expect("valid"));
        let after = cast_room();
        let record =
            RoomChange::record(Some(&before), &after, &user("owner"), at(), None).expect("some");
        assert_eq!(record.retention_set(), Some(None));
        for field in RoomField::ALL {
            assert_eq!(RoomField::parse(field.as_str()), Some(field));
        }
    }
}
