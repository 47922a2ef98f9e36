//! Storage ports: what the use cases need from storage, shaped around what must be atomic.
//!
//! Ports are synchronous; an async caller runs use cases on a blocking pool. Every method
//! answers [`StoreError::Unavailable`] when storage cannot be reached,
//! [`StoreError::Uncertain`] when the connection was lost while a change committed, and
//! [`StoreError::Internal`] for any other failure. "Visible" messages are those that no
//! deletion has removed and no retention has expired, even when their rows are still being
//! purged in the background.

use crate::actor::Actor;
use crate::error::StoreError;
use crate::events::{DeliveryState, EventDelivery, Redelivered};
use crate::filter::MessageFilter;
use crate::idempotency::{ClaimOutcome, Completion, KeyClaim, Ticket};
use crate::ids::{ClientId, DeletionId, MessageId, RoomChangeId, RoomId};
use crate::model::{
    AuditReason, Client, ClientChanges, DeleteOutcome, Deletion, DeletionRequest, ExpiredRoom,
    Matching, Message, MessagePage, NewRoom, NewToken, RetentionDays, Room, RoomChanges,
    RoomUpdateOutcome, TokenHash, TokenRecord,
};
use crate::report::{
    DismissOutcome, Dismissal, NewReport, QueueQuery, ReportOutcome, ReportedMessage,
};
use crate::room_change::RoomChange;
use chrono::{DateTime, Utc};

/// Result of a port call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Clients and their tokens.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[expect(
    clippy::needless_lifetimes,
    reason = "mockall needs named lifetimes for Option<&T> arguments"
)]
pub trait ClientStore: Send + Sync {
    /// The token with this hash and its owner, or `None` when no such token was ever stored.
    fn find_token(&self, hash: &TokenHash) -> StoreResult<Option<TokenRecord>>;

    /// The tokens among `hashes` that were ever stored, with their records (in any order;
    /// unknown hashes are left out). Called with many hashes at once, so one query, not one each.
    fn find_tokens(&self, hashes: &[TokenHash]) -> StoreResult<Vec<(TokenHash, TokenRecord)>>;

    /// The client, or `None`.
    fn get_client(&self, id: &ClientId) -> StoreResult<Option<Client>>;

    /// Creates the client or updates the fields given in `changes`, and when `token` is
    /// given stores it and revokes every other token of the client, all in one transaction.
    /// A token the client already has (live or revoked) is made live again with the new
    /// expiry, so retrying the same assignment succeeds. MUST return `None`, changing
    /// nothing, when the token belongs to another client; else the client as stored afterwards.
    fn save_client<'a>(
        &self,
        changes: &ClientChanges,
        token: Option<&'a NewToken>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Client>>;

    /// Revokes the client's token with this hash, or all its tokens when `only` is `None`.
    /// MUST return `None` when the client does not exist, else how many tokens it revoked
    /// (already revoked ones do not count).
    fn revoke_tokens<'a>(
        &self,
        client: &ClientId,
        only: Option<&'a TokenHash>,
    ) -> StoreResult<Option<u64>>;

    /// The IDs among `ids` that name no client.
    fn missing_clients(&self, ids: &[ClientId]) -> StoreResult<Vec<ClientId>>;
}

/// Rooms, their owner, managers and members.
///
/// Every change of a room (its creation included) MUST write, in the same transaction,
/// the room-change record [`RoomChange::record`] makes of the room as it was (reloaded under
/// the change's lock) and as it is afterwards, none when that is `None` (nothing changed);
/// and when the record changes `retentionDays`, keep its [`RoomChange::retention_set`] with
/// the room, for [`MessageStore::expired_rooms`]. [`AuditStore::list_room_changes`] lists the
/// records; nothing changes or removes them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[expect(
    clippy::needless_lifetimes,
    reason = "mockall needs named lifetimes for Option<&T> arguments"
)]
pub trait RoomStore: Send + Sync {
    /// Stores a new room with its members (owner and managers included), created by
    /// `actor` for `reason`, and its creation's room-change record.
    /// MUST return `false`, changing nothing, when the ID is taken.
    fn insert_room<'a>(
        &self,
        room: &NewRoom,
        actor: &Actor,
        reason: Option<&'a AuditReason>,
    ) -> StoreResult<bool>;

    /// The room, or `None`.
    fn get_room(&self, id: &RoomId) -> StoreResult<Option<Room>>;

    /// Up to `limit` rooms, newest first (creation time, then ID, both descending), only
    /// those `member` belongs to when it is given, strictly after the room `before` in that
    /// order. MUST return `None` when `before` names no room (or, with `member`, a room it
    /// does not belong to: the answer reveals nothing about other rooms).
    fn list_rooms<'a, 'b>(
        &self,
        member: Option<&'a ClientId>,
        before: Option<&'b RoomId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Room>>>;

    /// Applies `changes` in one transaction, as `actor`. MUST answer `RoomNotFound` when the
    /// room does not exist, and `PermissionDenied`, changing nothing, unless
    /// [`Room::may_apply`] allows the actor these changes as the room is when they take
    /// effect (so that an owner or manager demoted concurrently cannot apply them).
    fn update_room<'a>(
        &self,
        id: &RoomId,
        actor: &Actor,
        changes: &RoomChanges,
        now: DateTime<Utc>,
        reason: Option<&'a AuditReason>,
    ) -> StoreResult<RoomUpdateOutcome>;

    /// Adds members (existing ones are kept as they are), as `actor`. MUST answer
    /// `RoomNotFound` when the room does not exist, and `PermissionDenied`, changing
    /// nothing, unless [`Room::may_add_members`] allows the actor as the room is then.
    fn add_members<'a>(
        &self,
        id: &RoomId,
        actor: &Actor,
        members: &[ClientId],
        now: DateTime<Utc>,
        reason: Option<&'a AuditReason>,
    ) -> StoreResult<RoomUpdateOutcome>;

    /// Removes members (and their manager role), as `actor`; IDs that are not members are
    /// ignored. MUST answer `RoomNotFound` when the room does not exist, and
    /// `PermissionDenied`, changing nothing, unless [`Room::may_remove_members`] allows it
    /// as the room is then.
    fn remove_members<'a>(
        &self,
        id: &RoomId,
        actor: &Actor,
        members: &[ClientId],
        now: DateTime<Utc>,
        reason: Option<&'a AuditReason>,
    ) -> StoreResult<RoomUpdateOutcome>;
}

/// Messages, and their deletion.
///
/// "Visible" also excludes messages older than the room's retention
/// ([`Room::retention_days`], else the store's default) at the time of the read, whether or
/// not the retention job has removed them yet.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[expect(
    clippy::needless_lifetimes,
    reason = "mockall needs named lifetimes for Option<&T> arguments"
)]
pub trait MessageStore: Send + Sync {
    /// Stores a new message. MUST return `false`, changing nothing, when its ID is taken in
    /// any room.
    fn insert_message(&self, message: &Message) -> StoreResult<bool>;

    /// The visible message with this ID in this room, or `None` (also when it is in another room).
    fn find_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>>;

    /// Replaces the message's content with `""` and its type with `recall`; returns it
    /// afterwards, or `None` when it is not visible in the room.
    fn recall_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>>;

    /// Up to `limit` visible messages, newest first, older than `before` when given, with
    /// the room's visible total. MUST return `None` when `before` names no visible message
    /// of this room.
    fn list_messages<'a>(
        &self,
        room: &RoomId,
        before: Option<&'a MessageId>,
        limit: u32,
    ) -> StoreResult<Option<MessagePage>>;

    /// The newest visible message of the room.
    fn last_message(&self, room: &RoomId) -> StoreResult<Option<Message>>;

    /// Removes the messages `request` names and writes its audit record, in one
    /// transaction. Refuses, changing nothing, in this order: `RoomNotFound`, then
    /// `PermissionDenied`, then `MessageNotFound` (the contract's order of checks: callers
    /// read nothing before). For one message, MUST answer `MessageNotFound` unless that message is
    /// visible in this room, and of two concurrent requests for it exactly one succeeds.
    /// For `_all`, MUST remove every message visible when the transaction takes effect
    /// (no fewer, none sent after) and report that number; it may finish the physical
    /// removal in the background, but the messages are invisible when this returns and the
    /// removal survives a restart. MUST answer `PermissionDenied`, changing nothing, unless
    /// `request.actor` may moderate the room ([`crate::roles::Role::of`] over the actor's
    /// [`crate::roles::Membership`]) as the room is when the deletion takes effect, so that a
    /// manager demoted concurrently cannot delete.
    ///
    /// With a non-empty [`DeletionRequest::filter`], `_all` removes exactly the visible
    /// messages the filter matches, with the same guarantees (invisible at once whatever
    /// their number, exact count, the rest of the room untouched); a message bound that is
    /// not a visible message of the room answers `MessageNotFound`. For `_bulk`, removes the
    /// listed messages visible in the room and reports them; `MessageNotFound`, changing
    /// nothing, when none is. With `skip_if_nothing`, a deletion that matches nothing
    /// answers `NothingMatched` and writes nothing. A clear also removes the covered
    /// messages that only the retention hides; a deletion by [`Actor::Retention`] counts
    /// them, any other does not.
    ///
    /// These rules are [`crate::deletion_plan`]'s: an implementation reads, under the room's
    /// lock, the facts that [`crate::deletion_plan::admit`] and
    /// [`crate::deletion_plan::plan`] need, and carries out their answer.
    fn delete(&self, request: &DeletionRequest) -> StoreResult<DeleteOutcome>;

    /// Commits several deletions (of different rooms) in one transaction, each as
    /// [`MessageStore::delete`] would, answering their outcomes in order; of the deletions
    /// that do not succeed nothing is written, and the others are still committed.
    fn delete_many(&self, requests: &[DeletionRequest]) -> StoreResult<Vec<DeleteOutcome>>;

    /// How many visible messages of `room` the filter matches now, as a deletion with it
    /// would count them (a dry run). `None` when a message bound of the filter is not a
    /// visible message of the room.
    fn count_matching(&self, room: &RoomId, filter: &MessageFilter) -> StoreResult<Option<u64>>;

    /// Up to `limit` visible messages of `room` that the filter matches now, newest first
    /// (a dry run's sample); empty when a message bound of the filter is not a visible
    /// message of the room.
    fn sample_matching(
        &self,
        room: &RoomId,
        filter: &MessageFilter,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    /// Across every room, or only `among` when given: how many visible messages each room
    /// has that `filter` matches now (its times and content; the use case gives no senders
    /// or message bounds), and up to `sample` of them, newest first. A clear by content
    /// finds its rooms with it, and its dry run answers with it.
    fn find_matching<'a>(
        &self,
        filter: &MessageFilter,
        among: Option<&'a [RoomId]>,
        sample: u32,
    ) -> StoreResult<Matching>;

    /// [`Self::count_matching`] for each of `rooms`, in their order (a user purge's dry
    /// run). The default asks room by room; a store may answer in fewer round trips.
    fn count_matching_in(
        &self,
        rooms: &[RoomId],
        filter: &MessageFilter,
    ) -> StoreResult<Vec<Option<u64>>> {
        rooms
            .iter()
            .map(|room| self.count_matching(room, filter))
            .collect()
    }

    /// The rooms, sorted by ID, where `sender` has at least one visible message, among
    /// `among` when it is given.
    fn rooms_with_messages_from<'a>(
        &self,
        sender: &ClientId,
        among: Option<&'a [RoomId]>,
    ) -> StoreResult<Vec<RoomId>>;

    /// The rooms whose retention (their own, else `default_days`) has expired at least one
    /// of their messages, not yet removed, at `now`; with the cutoff (`now` minus the
    /// retention) and the retention's origin
    /// ([`crate::model::RetentionOrigin::in_force`]: who set the room's own retention and
    /// when, as the room change that set it recorded, else the default), sorted by room ID.
    fn expired_rooms(
        &self,
        default_days: Option<RetentionDays>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ExpiredRoom>>;
}

/// Reports of messages ([`crate::report`]).
///
/// An adapter that implements this port and [`MessageStore`] MUST resolve reports in every
/// deletion's transaction: each open report of a message the deletion removes (whatever the
/// path: one, bulk, a filtered or whole clear, a clear by content, a purge, retention)
/// becomes `deleted` with the deletion's ID, and the deletion's record carries them
/// ([`crate::model::Deletion::reports`], set before the record is linked into its chain).
/// Reports keep no copy of a message's content.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait ReportStore: Send + Sync {
    /// Files `report`, checking under the room's lock, in this order: the room exists
    /// (`RoomNotFound`), the reporter is a member (`NotMember`), the message is visible in
    /// the room (`MessageNotFound`), the reporter has no open report of it (else
    /// `Existing`, writing nothing), and the reporter opened fewer than `report.limit.max`
    /// reports (of any room) in the window before `created_at` (else `Limited`). A stored
    /// report's event (`MESSAGE_REPORTED`) is written in the same transaction.
    fn file_report(&self, report: &NewReport) -> StoreResult<ReportOutcome>;

    /// A page of the queue: the reported messages with reports in `query.state` (of
    /// `query.room`, or every room), most reported first, then the most recent report first,
    /// then by room and message ID; strictly after `query.before`. Each item lists its newest
    /// [`crate::report::QUEUE_REPORTS`] reports of that state, and the message's content only
    /// while it is visible.
    fn list_reported(&self, query: &QueueQuery) -> StoreResult<Vec<ReportedMessage>>;

    /// Dismisses every open report of the message: `RoomNotFound`, then `PermissionDenied`
    /// unless the actor moderates the room as it is under the room's lock, then
    /// `NoOpenReport`, changing nothing; else the count dismissed.
    fn dismiss_reports(&self, dismissal: &Dismissal) -> StoreResult<DismissOutcome>;
}

/// The append-only audit log: deletions, and room changes.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[expect(
    clippy::needless_lifetimes,
    reason = "mockall needs named lifetimes for Option<&T> arguments"
)]
pub trait AuditStore: Send + Sync {
    /// Up to `limit` audit records, newest first, of one room or all rooms, older than
    /// `before` when given. MUST return `None` when `before` names no audit record (of
    /// `room`, when one is given: another room's record is treated as unknown).
    fn list_deletions<'a, 'b>(
        &self,
        room: Option<&'a RoomId>,
        before: Option<&'b DeletionId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Deletion>>>;

    /// Up to `limit` audit records, oldest first (in the order they were written: the order
    /// of each room's chain), of one room or all rooms, written after the record `after`
    /// when given, with a `deleted_at` at or after `since` and before `until` when given.
    /// MUST return `None` when `after` names no audit record (of `room`, when one is given).
    fn list_deletions_oldest_first<'a, 'b>(
        &self,
        room: Option<&'a RoomId>,
        after: Option<&'b DeletionId>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Deletion>>>;

    /// Up to `limit` room-change records, newest first (in the order they were written), of
    /// one room or all rooms, older than `before` when given. MUST return `None` when
    /// `before` names no room-change record (of `room`, when one is given: another room's
    /// record is treated as unknown).
    fn list_room_changes<'a, 'b>(
        &self,
        room: Option<&'a RoomId>,
        before: Option<&'b RoomChangeId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<RoomChange>>>;
}

/// The outbox of deletion events as operators see it: every event with its webhook
/// delivery, and sending one again (`GET /admin/events`, `POST /admin/events/{id}/redeliver`).
///
/// A store that keeps an outbox and delivers its events lists them here (the diesel store
/// does); one without an outbox, such as the `memory` feature's `MemoryStore`, is an empty
/// log. A destination is the room's webhook, else the global one; the
/// store knows whether a global webhook is configured.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[expect(
    clippy::needless_lifetimes,
    reason = "mockall needs named lifetimes for Option<&T> arguments"
)]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events, newest first (in the order they were written), only those in
    /// `state` and of `room` when given, strictly older than the event `before`. MUST return
    /// `None` when `before` names no event; any event is a cursor, whatever its room or state
    /// (states change while an operator pages).
    fn list_events<'a, 'b>(
        &self,
        state: Option<DeliveryState>,
        room: Option<&'a RoomId>,
        before: Option<&'b DeletionId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<EventDelivery>>>;

    /// Sends the event again, under the same ID, as a new delivery round starting at `now`:
    /// whatever its state, MUST make it pending and due at `now`, with no attempts and no
    /// last error, its retry window counted from `now` (so that an old event is not given up
    /// before a real attempt), and wake whoever delivers; except that it MUST leave the event
    /// as it is ([`crate::events::Redelivery::NoDestination`]) when it has no destination
    /// now, and ([`crate::events::Redelivery::InFlight`]) while an attempt of it is under way.
    /// MUST return `None` when no event has this ID, else the outcome and the event afterwards.
    fn redeliver_event(
        &self,
        id: &DeletionId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Redelivered>>;
}

/// Idempotency keys and the answers stored under them (see [`crate::idempotency`]). A
/// record is *in flight* from its claim until it is completed (answer stored) or released
/// (removed); it is *stale* once `expires_at` has passed, or, in flight, once its lease has
/// lapsed. A stale record counts as absent.
///
/// An adapter that implements this port and [`MessageStore`] MUST keep deleted content out
/// of stored answers: in the transaction of every deletion (one message, or a room's clear)
/// it replaces the body of each completed record whose [`crate::idempotency::EmbeddedMessage`]
/// names a deleted message by that record's redacted body, and [`Self::complete_key`] stores
/// the redacted body at once when the embedded message is not visible as it writes (so a
/// deletion racing with the completion cannot leave the content behind).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait IdempotencyStore: Send + Sync {
    /// Claims the key of `claim.ticket` for its owner. With no record for (owner, key), or
    /// a stale one, MUST store an in-flight record (fingerprint, claim ID, lease and expiry
    /// of `claim`) and answer `Started`. Otherwise, changing nothing, MUST answer `Mismatch`
    /// when the record's fingerprint differs, else `InFlight` while it is in flight, else
    /// `Replay` with its stored answer (the redacted one once its message is deleted). Of
    /// concurrent claims of one key, exactly one answers `Started`. With `claim.limit`, a
    /// claim that would store a record for a key with no unexpired record MUST instead
    /// answer `Full` (with the earliest expiry among them) when the owner holds `limit`
    /// unexpired records or more already (taking over the owner's own stale, unexpired
    /// record of the key adds none and is never `Full`); concurrent claims of one owner may pass the
    /// count together, so the cap holds to within the owner's concurrent requests.
    fn claim_key(&self, claim: &KeyClaim) -> StoreResult<ClaimOutcome>;

    /// Stores `completion` in the in-flight record that `ticket`'s claim holds, replayed
    /// until `expires_at`. MUST return `false`, changing nothing, unless the record is in
    /// flight under this very claim (a record taken over after a lapsed lease belongs to the
    /// new claim).
    fn complete_key(
        &self,
        ticket: &Ticket,
        completion: &Completion,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Removes the in-flight record that `ticket`'s claim holds, so that the next request
    /// with the key runs. MUST return `false`, changing nothing, unless it is in flight
    /// under this very claim.
    fn release_key(&self, ticket: &Ticket) -> StoreResult<bool>;

    /// Removes records whose `expires_at` is at or before `now`, about `limit` at most
    /// (records expiring at the same millisecond go together), and returns how many.
    fn remove_expired_keys(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64>;
}
