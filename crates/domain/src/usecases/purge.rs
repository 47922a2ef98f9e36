//! Purging a user's messages across rooms (`DELETE /admin/clients/{clientID}/messages`,
//! docs/api.md §7.6): one filtered clear per room where the user has messages, all
//! committed in one transaction, one audit record and one event per room affected.

use crate::actor::Actor;
use crate::error::DomainError;
use crate::filter::{Bound, MessageFilter};
use crate::ids::{ClientId, DeleteTarget, DeletionId, RoomId};
use crate::model::{AuditReason, Deletion, DeletionRequest};
use crate::usecases::Ports;
use chrono::{DateTime, Utc};

/// Most rooms one purge may be limited to.
pub const MAX_ROOMS: usize = 100;

/// A validated purge request (the syntax checks are done by building it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeClient {
    /// Whose messages.
    pub client: ClientId,
    /// Only in these rooms (distinct, at most [`MAX_ROOMS`]); every room when empty.
    pub rooms: Vec<RoomId>,
    /// Time window (times only) and the client as the single sender.
    pub filter: MessageFilter,
    /// Why, recorded in every audit record.
    pub reason: Option<AuditReason>,
}

impl PurgeClient {
    /// Builds the request, checking the room list and the time window.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] for more than [`MAX_ROOMS`] distinct rooms or an
    /// empty window (`before` not later than `after`).
    pub fn new(
        client: ClientId,
        rooms: Vec<RoomId>,
        before: Option<Bound>,
        after: Option<Bound>,
        reason: Option<AuditReason>,
    ) -> Result<Self, DomainError> {
        let distinct = distinct_rooms(rooms)?;
        let filter = MessageFilter::new(before, after, vec![client.clone()])?;
        Ok(Self {
            client,
            rooms: distinct,
            filter,
            reason,
        })
    }
}

/// `rooms` without repeats, in the order first given.
///
/// # Errors
/// [`DomainError::InvalidParameter`] for more than [`MAX_ROOMS`] distinct rooms.
pub(crate) fn distinct_rooms(rooms: Vec<RoomId>) -> Result<Vec<RoomId>, DomainError> {
    let mut distinct: Vec<RoomId> = Vec::with_capacity(rooms.len());
    for r in rooms {
        if !distinct.contains(&r) {
            distinct.push(r);
        }
    }
    if distinct.len() > MAX_ROOMS {
        return Err(DomainError::InvalidParameter(format!(
            "roomID may be given at most {MAX_ROOMS} distinct times"
        )));
    }
    Ok(distinct)
}

/// What a purge removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    /// Whose messages.
    pub client: ClientId,
    /// Messages removed per room, rooms with none left out, by room ID.
    pub rooms: Vec<(RoomId, u64)>,
    /// When.
    pub deleted_at: DateTime<Utc>,
    /// The audit records written (empty for a dry run).
    pub deletions: Vec<Deletion>,
}

impl Purge {
    /// The total over every room.
    #[must_use]
    pub fn deleted_count(&self) -> u64 {
        self.rooms.iter().map(|(_, n)| n).sum()
    }
}

/// Removes the client's messages (in the window) from every room, or the listed ones, as
/// `actor` (the API key; the route checks it). Every room's messages are invisible when
/// this returns; large sets are removed physically in the background.
///
/// # Errors
/// `ClientNotFound`, or a storage failure.
pub fn purge_client(
    ports: &Ports<'_>,
    actor: &Actor,
    command: PurgeClient,
    dry_run: bool,
) -> Result<Purge, DomainError> {
    let (messages, now) = (ports.messages, ports.clock.now());
    if ports.clients.get_client(&command.client)?.is_none() {
        return Err(DomainError::ClientNotFound);
    }
    let among = (!command.rooms.is_empty()).then_some(command.rooms.as_slice());
    let rooms = messages.rooms_with_messages_from(&command.client, among)?;
    let deleted_at = crate::model::to_millis(now);
    if dry_run {
        // Time bounds only, so a count is never `None`.
        let counts = messages.count_matching_in(&rooms, &command.filter)?;
        let counted = rooms
            .into_iter()
            .zip(counts)
            .filter_map(|(room, n)| n.filter(|n| *n > 0).map(|n| (room, n)))
            .collect();
        return Ok(Purge {
            client: command.client,
            rooms: counted,
            deleted_at,
            deletions: Vec::new(),
        });
    }
    let clear = RoomClear {
        actor,
        now,
        reason: command.reason.as_ref(),
        filter: &command.filter,
    };
    let deletions = commit_clears(ports, &clear.of(rooms))?;
    Ok(Purge {
        client: command.client,
        rooms: deletions
            .iter()
            .map(|d| (d.room.clone(), d.deleted_count))
            .collect(),
        deleted_at,
        deletions,
    })
}

/// One filtered clear per room, as a user purge and a clear by content make them: same
/// actor, time, reason and filter; a room where nothing matches any more is skipped.
pub(crate) struct RoomClear<'a> {
    /// Who deletes.
    pub actor: &'a Actor,
    /// The request's time (the records' `deletedAt`, to the millisecond).
    pub now: DateTime<Utc>,
    /// Why.
    pub reason: Option<&'a AuditReason>,
    /// Which messages of each room.
    pub filter: &'a MessageFilter,
}

impl RoomClear<'_> {
    /// The requests of these rooms.
    pub fn of(&self, rooms: impl IntoIterator<Item = RoomId>) -> Vec<DeletionRequest> {
        rooms
            .into_iter()
            .map(|room| DeletionRequest {
                id: DeletionId::generate(self.now),
                room,
                target: DeleteTarget::All,
                actor: self.actor.clone(),
                deleted_at: crate::model::to_millis(self.now),
                reason: self.reason.cloned(),
                filter: self.filter.clone(),
                skip_if_nothing: true,
                retention: None,
            })
            .collect()
    }
}

/// Commits one clear per room in one transaction ([`crate::ports::MessageStore::delete_many`])
/// and answers the audit records written. A room deleted in between, one where nothing
/// matched any more, or (impossible for the API key) a refusal is skipped: there is nothing
/// left to clear there.
///
/// # Errors
/// A storage failure.
pub(crate) fn commit_clears(
    ports: &Ports<'_>,
    requests: &[DeletionRequest],
) -> Result<Vec<Deletion>, DomainError> {
    let mut deletions = Vec::new();
    if requests.is_empty() {
        return Ok(deletions);
    }
    for outcome in ports.messages.delete_many(requests)? {
        if let Ok(Some(deletion)) = super::deletion::deleted(outcome) {
            deletions.push(deletion);
        }
    }
    Ok(deletions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeleteOutcome, Deletion};
    use crate::ports::{MockClientStore, MockMessageStore};
    use crate::testkit::fixtures::{cid, rid};
    use crate::usecases::Mocks;

    fn known(exists: bool) -> MockClientStore {
        let mut clients = MockClientStore::new();
        clients.expect_get_client().returning(move |id| {
            Ok(exists.then(|| crate::model::Client {
                id: id.clone(),
                nickname: None,
                avatar_url: None,
                is_platform_admin: false,
                created_at: Utc::now(),
                updated_at: Utc::now(),
            }))
        });
        clients
    }

    /// [`purge_client`] over these two mocks (any other port call panics).
    fn purge_with(
        clients: MockClientStore,
        messages: MockMessageStore,
        actor: &Actor,
        command: PurgeClient,
        dry_run: bool,
    ) -> Result<Purge, DomainError> {
        let mocks = Mocks {
            clients,
            messages,
            ..Mocks::default()
        };
        purge_client(&mocks.ports(), actor, command, dry_run)
    }

    fn command() -> PurgeClient {
        PurgeClient::new(cid("spammer"), vec![], None, None, None).expect("valid")
    }

    #[test]
    fn an_unknown_client_is_not_found_before_any_message_is_touched() {
        let messages = MockMessageStore::new(); // any call would panic
        let err = purge_with(known(false), messages, &Actor::Platform, command(), false);
        assert!(matches!(err, Err(DomainError::ClientNotFound)));
    }

    #[test]
    fn one_filtered_clear_per_room_in_one_call_and_only_rooms_with_messages_reported() {
        let mut messages = MockMessageStore::new();
        messages
            .expect_rooms_with_messages_from()
            .returning(|_, _| Ok(vec![rid("a"), rid("b")]));
        messages
            .expect_delete_many()
            .times(1)
            .withf(|reqs| {
                reqs.len() == 2
                    && reqs.iter().all(|r| {
                        r.skip_if_nothing
                            && r.target == DeleteTarget::All
                            && r.filter.senders == vec![cid("spammer")]
                    })
            })
            .returning(|reqs| {
                Ok(vec![
                    DeleteOutcome::Deleted(Deletion::committed(&reqs[0], 3)),
                    DeleteOutcome::NothingMatched,
                ])
            });
        let purge =
            purge_with(known(true), messages, &Actor::Platform, command(), false).expect("purged");
        assert_eq!(purge.rooms, vec![(rid("a"), 3)]);
        assert_eq!(purge.deleted_count(), 3);
        assert_eq!(purge.deletions.len(), 1);
    }

    #[test]
    fn a_dry_run_counts_and_writes_nothing() {
        let mut messages = MockMessageStore::new(); // no delete_many expected
        messages
            .expect_rooms_with_messages_from()
            .returning(|_, _| Ok(vec![rid("a"), rid("b")]));
        messages
            .expect_count_matching_in()
            .times(1)
            .returning(|rooms, _| {
                assert_eq!(rooms, [rid("a"), rid("b")], "every room in one call");
                Ok(vec![Some(0), Some(7)])
            });
        let purge =
            purge_with(known(true), messages, &Actor::Platform, command(), true).expect("counted");
        assert_eq!(purge.rooms, vec![(rid("b"), 7)]);
        assert!(purge.deletions.is_empty());
    }

    #[test]
    fn too_many_rooms_or_an_empty_window_are_invalid() {
        let rooms: Vec<RoomId> = (0..=MAX_ROOMS).map(|i| rid(&format!("r{i}"))).collect();
        assert!(PurgeClient::new(cid("u"), rooms, None, None, None).is_err());
        let t = Bound::At(Utc::now());
        assert!(PurgeClient::new(cid("u"), vec![], Some(t.clone()), Some(t), None).is_err());
    }
}
