//! The seed feature: delete one message, or clear a room with `_all`; and the moderation
//! tools on the same path: filtered clears and their dry run, bulk deletion by IDs.

use crate::actor::Actor;
use crate::deletion_plan::{self, Budget, Coverage, Rows};
use crate::error::{Action, DomainError};
use crate::filter::MessageFilter;
use crate::ids::{DeleteTarget, DeletionId, MessageId, RoomId};
use crate::model::{AuditReason, DeleteOutcome, Deletion, DeletionRequest, Message, Room};
use crate::usecases::Ports;

/// Most messages one bulk deletion may list.
pub const MAX_BULK: usize = 100;

/// Most matching messages a dry run shows (`sample`).
pub const SAMPLE: u32 = 5;

/// A dry run's answer: the deletion it would record now, and for `_all` a sample of the
/// messages it would delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The record a deletion would write now, uncommitted.
    pub record: Deletion,
    /// For `_all`: up to [`SAMPLE`] of the messages it covers, newest first (else empty).
    pub sample: Vec<Message>,
}

/// The target of `POST /rooms/{roomID}/messages/delete`: 1 to [`MAX_BULK`] distinct,
/// valid message IDs.
///
/// # Errors
/// [`DomainError::InvalidBody`] otherwise.
pub fn bulk_target(raw: &[String]) -> Result<DeleteTarget, DomainError> {
    let bad = |why: &str| DomainError::InvalidBody(format!("messageIDs {why}"));
    if raw.is_empty() || raw.len() > MAX_BULK {
        return Err(bad(&format!("must list 1 to {MAX_BULK} message IDs")));
    }
    let mut ids: Vec<MessageId> = Vec::with_capacity(raw.len());
    for r in raw {
        let id = MessageId::parse(r).map_err(|_| bad("must be valid message IDs"))?;
        if ids.contains(&id) {
            return Err(bad("must be distinct"));
        }
        ids.push(id);
    }
    Ok(DeleteTarget::Bulk(ids))
}

/// A validated deletion request. Building it is the syntax check (400) that the contract
/// places after authentication and before every lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteMessages {
    /// The room.
    pub room: RoomId,
    /// One message or `_all`.
    pub target: DeleteTarget,
    /// Optional audit reason.
    pub reason: Option<AuditReason>,
    /// For `_all`: which messages (empty: all); ignored for other targets.
    pub filter: MessageFilter,
}

/// The room, if `actor` may moderate it, in the contract's order of checks.
fn moderated_room(ports: &Ports<'_>, actor: &Actor, room: &RoomId) -> Result<Room, DomainError> {
    let room = ports
        .rooms
        .get_room(room)?
        .ok_or(DomainError::RoomNotFound)?;
    if !room.can_moderate(actor) {
        return Err(DomainError::PermissionDenied(Action::DeleteMessages));
    }
    Ok(room)
}

/// Maps a storage outcome to the deletion or the contract's error.
pub(crate) fn deleted(outcome: DeleteOutcome) -> Result<Option<Deletion>, DomainError> {
    match outcome {
        DeleteOutcome::Deleted(deletion) => Ok(Some(deletion)),
        DeleteOutcome::NothingMatched => Ok(None),
        DeleteOutcome::MessageNotFound => Err(DomainError::MessageNotFound),
        DeleteOutcome::RoomNotFound => Err(DomainError::RoomNotFound),
        // Demoted (or removed) between the check above and the deletion taking effect.
        DeleteOutcome::PermissionDenied => {
            Err(DomainError::PermissionDenied(Action::DeleteMessages))
        }
    }
}

/// A dry run of any deletion: the deletion it would record now, uncommitted, with the
/// count (and, for `_bulk`, the IDs) a real one would report if nothing changes in between,
/// and for `_all` a sample of what it covers. Same order of checks as [`delete_messages`];
/// writes nothing.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(DeleteMessages)`, `MessageNotFound` (the message, none
/// of the listed ones, or a message bound that is not visible in the room), or a storage
/// failure.
pub fn preview_deletion(
    ports: &Ports<'_>,
    actor: &Actor,
    command: DeleteMessages,
) -> Result<Preview, DomainError> {
    let (messages, now) = (ports.messages, ports.clock.now());
    moderated_room(ports, actor, &command.room)?;
    let listed = |ids: &[MessageId]| -> Result<Coverage, DomainError> {
        let mut visible = Vec::new();
        for id in ids {
            if messages.find_message(&command.room, id)?.is_some() {
                visible.push(id.clone());
            }
        }
        Ok(Coverage::Listed(visible))
    };
    let coverage = match &command.target {
        DeleteTarget::One(id) => listed(std::slice::from_ref(id))?,
        DeleteTarget::Bulk(ids) => listed(ids)?,
        // The dry run counts the visible rows, all that a deletion other than a retention
        // run's reports.
        DeleteTarget::All => match messages.count_matching(&command.room, &command.filter)? {
            Some(visible) => Coverage::Rows(Rows {
                covered: visible,
                visible,
                others_hidden_among: false,
            }),
            None => Coverage::BoundNotVisible,
        },
    };
    let filter = match command.target {
        DeleteTarget::All => command.filter,
        _ => MessageFilter::default(),
    };
    let sample = match (&command.target, &coverage) {
        (DeleteTarget::All, Coverage::Rows(_)) => {
            messages.sample_matching(&command.room, &filter, SAMPLE)?
        }
        _ => Vec::new(),
    };
    let request = DeletionRequest {
        id: DeletionId::generate(now),
        room: command.room,
        target: command.target,
        actor: actor.clone(),
        deleted_at: crate::model::to_millis(now),
        reason: command.reason,
        filter,
        skip_if_nothing: false,
        retention: None,
    };
    // With `skip_if_nothing` off, the plan refuses only a coverage that finds nothing.
    let record = deletion_plan::plan(&request, coverage, &mut Budget::unlimited())
        .map(|plan| plan.record)
        .map_err(|_| DomainError::MessageNotFound)?;
    Ok(Preview { record, sample })
}

/// Deletes per the contract's order of checks: room exists (404 `RoomNotFound`), then the
/// caller moderates it (403, so an outsider learns nothing about its messages), then the
/// message is visible in this room (404 `MessageNotFound`; for `_bulk`, at least one listed
/// message is; for a filtered `_all`, its message bounds are). Storage makes those checks
/// ([`deletion_plan::admit`], then [`deletion_plan::plan`]) in that order, under the room's
/// lock, in the transaction that commits the deletion and its audit record
/// ([`MessageStore::delete`](crate::ports::MessageStore::delete)): the role checked is the
/// one in force when the deletion takes effect, and no read before it is needed.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(DeleteMessages)`, `MessageNotFound`, or a storage failure.
pub fn delete_messages(
    ports: &Ports<'_>,
    actor: &Actor,
    command: DeleteMessages,
) -> Result<Deletion, DomainError> {
    let now = ports.clock.now();
    let filter = match command.target {
        DeleteTarget::All => command.filter,
        _ => MessageFilter::default(),
    };
    let request = DeletionRequest {
        id: DeletionId::generate(now),
        room: command.room,
        target: command.target,
        actor: actor.clone(),
        deleted_at: crate::model::to_millis(now),
        reason: command.reason,
        filter,
        skip_if_nothing: false,
        retention: None,
    };
    deleted(ports.messages.delete(&request)?)?.ok_or_else(|| {
        DomainError::Internal(anyhow::anyhow!(
            "storage skipped a deletion that must be recorded"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use crate::ports::MockMessageStore;
    use crate::testkit::fixtures::{cid, rid, user};
    use crate::usecases::Mocks;
    use chrono::Utc;

    /// [`delete_messages`] over this mock (a call to any other port panics: the use case
    /// reads nothing before the deletion).
    fn delete_with(
        messages: MockMessageStore,
        actor: &Actor,
        command: DeleteMessages,
    ) -> Result<Deletion, DomainError> {
        let mocks = Mocks {
            messages,
            ..Mocks::default()
        };
        delete_messages(&mocks.ports(), actor, command)
    }

    /// Storage answering `outcome` to one deletion.
    fn answering(outcome: DeleteOutcome) -> MockMessageStore {
        let mut messages = MockMessageStore::new();
        messages
            .expect_delete()
            .times(1)
            .return_once(move |_| Ok(outcome));
        messages
    }

    fn one(id: &str) -> DeleteMessages {
        DeleteMessages {
            room: rid("r"),
            target: DeleteTarget::One(MessageId::from_trusted(id.to_owned())),
            reason: Some(AuditReason::from_trusted("spam".to_owned())),
            filter: MessageFilter::default(),
        }
    }

    fn deleting(count: u64) -> MockMessageStore {
        let mut messages = MockMessageStore::new();
        messages
            .expect_delete()
            .times(1)
            .returning(move |req| Ok(DeleteOutcome::Deleted(Deletion::committed(req, count))));
        messages
    }

    #[test]
    fn storages_refusals_are_the_contracts_errors() {
        let refused = |outcome| delete_with(answering(outcome), &user("stranger"), one("m1"));
        assert!(matches!(
            refused(DeleteOutcome::RoomNotFound),
            Err(DomainError::RoomNotFound)
        ));
        assert!(matches!(
            refused(DeleteOutcome::PermissionDenied),
            Err(DomainError::PermissionDenied(Action::DeleteMessages))
        ));
        assert!(matches!(
            refused(DeleteOutcome::MessageNotFound),
            Err(DomainError::MessageNotFound)
        ));
    }

    #[test]
    fn owner_manager_flagged_admin_and_api_key_may_delete() {
        let flagged = Actor::Client {
            id: cid("stranger"),
            is_platform_admin: true,
        };
        for (actor, by) in [
            (user("owner"), "owner"),
            (user("manager"), "manager"),
            (flagged, "stranger"),
            (Actor::Platform, "_platform"),
        ] {
            let done = delete_with(deleting(1), &actor, one("m1")).expect("allowed");
            assert_eq!(done.deleted_by, by);
            assert_eq!(done.deleted_count, 1);
            assert_eq!(done.message_id(), "m1");
            assert_eq!(done.reason.as_ref().map(AuditReason::as_str), Some("spam"));
        }
    }

    #[test]
    fn request_carries_target_time_and_executor() {
        let now = Utc::now();
        let mut messages = MockMessageStore::new();
        messages
            .expect_delete()
            .withf(move |req| {
                req.target == DeleteTarget::All
                    && req.actor.recorded() == "owner"
                    && req.deleted_at >= crate::model::to_millis(now)
                    && req.deleted_at - now < chrono::TimeDelta::minutes(1)
                    && req.id.as_str().len() == 24
            })
            .times(1)
            .returning(|req| Ok(DeleteOutcome::Deleted(Deletion::committed(req, 145))));
        let cmd = DeleteMessages {
            target: DeleteTarget::All,
            reason: None,
            ..one("x")
        };
        let done = delete_with(messages, &user("owner"), cmd).expect("ok");
        assert_eq!(done.deleted_count, 145);
        assert_eq!(done.message_id(), "_all");
    }

    #[test]
    fn storage_failures_keep_their_kind() {
        let mut messages = MockMessageStore::new();
        messages
            .expect_delete()
            .times(1)
            .returning(|_| Err(StoreError::Unavailable(anyhow::anyhow!("down"))));
        let err = delete_with(messages, &user("owner"), one("m1"));
        assert!(matches!(err, Err(DomainError::Unavailable(_))));

        let mut failing = MockMessageStore::new();
        failing
            .expect_delete()
            .returning(|_| Err(StoreError::Internal(anyhow::anyhow!("bug"))));
        let err = delete_with(failing, &user("owner"), one("m1"));
        assert!(matches!(err, Err(DomainError::Internal(_))));
    }
}
