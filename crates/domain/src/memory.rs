//! [`MemoryStore`]: every storage port in memory (feature `memory`), for embedding the domain
//! without a database and for testing a service against the real rules.
//!
//! One mutex guards the whole state, so each port call is one atomic step: a deletion, its
//! permission check and its audit record happen together; of two concurrent deletes of one
//! message exactly one succeeds; a clear removes exactly the messages present when it runs.
//! Nothing is persisted, so "permanent" means removed from memory, and the audit log is the
//! record of every committed deletion (the diesel store's outbox event is 1:1 with it).
//! There is no outbox and nothing is delivered, so its [`crate::ports::EventLog`] (the
//! operators' view of event deliveries) is always empty.
//!
//! Embedding the domain: build the store, then call the use cases with it as their
//! [`Ports`](crate::usecases::Ports), with the store's clock.
//!
//! ```
//! use roomwarden_domain::actor::Actor;
//! use roomwarden_domain::ids::{ClientId, DeleteTarget, RoomId};
//! use roomwarden_domain::memory::{AcceptAnyWebhook, MemoryStore};
//! use roomwarden_domain::model::{ClientChanges, MessageContent};
//! use roomwarden_domain::usecases::Ports;
//! use roomwarden_domain::usecases::clients::{SaveClient, TokenRequest, save_client};
//! use roomwarden_domain::usecases::deletion::{DeleteMessages, delete_messages};
//! use roomwarden_domain::usecases::messages::{SendMessage, send_message};
//! use roomwarden_domain::usecases::rooms::{CreateRoom, create_room};
//! use chrono::Duration;
//!
//! let store = MemoryStore::new();
//! let clock = store.clock();
//! let ports = Ports::of(&store, &AcceptAnyWebhook, clock.as_ref());
//! let (alice, bob) = (ClientId::parse("alice")?, ClientId::parse("bob")?);
//! for id in [&alice, &bob] {
//!     let changes = ClientChanges { id: id.clone(), nickname: None, avatar_url: None, is_platform_admin: None };
//!     save_client(&ports, SaveClient { changes, token: TokenRequest::Keep }, Duration::days(7))?;
//! }
//! let room = RoomId::parse("lobby")?;
//! let command = CreateRoom { id: Some(room.clone()), owner: Some(alice.clone()), members: vec![bob.clone()], ..CreateRoom::default() };
//! create_room(&ports, command)?;
//!
//! let as_user = |id: &ClientId| Actor::Client { id: id.clone(), is_platform_admin: false };
//! let say = |text: &str| SendMessage {
//!     id: None,
//!     content: Some(MessageContent::from_json(format!("{text:?}")).expect("JSON")),
//!     message_type: "text".to_owned(),
//! };
//! let spam = send_message(&ports, &as_user(&bob), &room, say("buy now"))?;
//! send_message(&ports, &as_user(&bob), &room, say("hello"))?;
//! send_message(&ports, &as_user(&bob), &room, say("bye"))?;
//!
//! // Bob (a member) may not delete; Alice (the owner) deletes one message, then clears.
//! let one = DeleteMessages { room: room.clone(), target: DeleteTarget::One(spam.id.clone()), reason: None, filter: Default::default() };
//! assert!(delete_messages(&ports, &as_user(&bob), one.clone()).is_err());
//! let deleted = delete_messages(&ports, &as_user(&alice), one)?;
//! assert_eq!((deleted.deleted_count, deleted.deleted_by.as_str()), (1, "alice"));
//! let all = DeleteMessages { room: room.clone(), target: DeleteTarget::All, reason: None, filter: Default::default() };
//! assert_eq!(delete_messages(&ports, &Actor::Platform, all)?.deleted_count, 2);
//! # Ok::<(), roomwarden_domain::error::DomainError>(())
//! ```

use crate::actor::Actor;
use crate::deletion_plan::{self, Budget, Coverage, Refusal, Rows};
use crate::error::Action;
use crate::error::StoreError;
use crate::events::{DeliveryState, EventDelivery, Redelivered};
use crate::filter::{Bound, MessageFilter};
use crate::idempotency::{ClaimOutcome, Completion, KeyClaim, StoredResponse, Ticket};
use crate::ids::{ClientId, DeleteTarget, DeletionId, MessageId, RoomChangeId, RoomId};
use crate::model::{
    AuditReason, Client, ClientChanges, DeleteOutcome, Deletion, DeletionRequest, ExpiredRoom,
    Matching, Message, MessageContent, MessagePage, NewRoom, NewToken, RECALL_TYPE, RetentionDays,
    RetentionOrigin, Room, RoomChanges, RoomUpdateOutcome, TokenHash, TokenRecord,
};
use crate::ports::{
    AuditStore, ClientStore, EventLog, IdempotencyStore, MessageStore, RoomStore, StoreResult,
};
use crate::room_change::{RetentionSet, RoomChange};
use crate::time::{Clock, SystemClock};
use crate::webhook::{DestinationRefused, WebhookGuard};
use crate::{audit_chain, record_json};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

mod reports;

#[derive(Debug, Clone)]
struct StoredToken {
    client: ClientId,
    expires_at: DateTime<Utc>,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct StoredRoom {
    room: Room,
    managers: BTreeSet<ClientId>,
    members: BTreeSet<ClientId>,
    /// Who set the room's own retention, and when (see [`RoomChange::retention_set`]).
    retention_set: Option<RetentionSet>,
}

impl StoredRoom {
    fn snapshot(&self) -> Room {
        let mut room = self.room.clone();
        room.managers = self.managers.iter().cloned().collect();
        room.members = self.members.iter().cloned().collect();
        room
    }
}

#[derive(Debug, Default)]
struct State {
    clients: BTreeMap<ClientId, Client>,
    tokens: HashMap<String, StoredToken>,
    rooms: BTreeMap<RoomId, StoredRoom>,
    /// Messages by a sequence number that orders them (newest last), like the diesel `seq`.
    messages: BTreeMap<u64, Message>,
    message_seq: HashMap<MessageId, u64>,
    next_seq: u64,
    /// The audit log, oldest first.
    deletions: Vec<Deletion>,
    /// The room-change records, oldest first.
    room_changes: Vec<RoomChange>,
    /// Retention of rooms without their own.
    default_retention: Option<RetentionDays>,
    /// Idempotency records by (owner, key).
    keys: HashMap<(String, String), KeyRecord>,
    /// The time reads are judged at (retention cutoffs).
    clock: StoreClock,
    /// Reports, oldest first.
    reports: Vec<crate::report::Report>,
    /// The `seq` of each report's message (a deleted message's ID may be taken again).
    report_seqs: HashMap<crate::ids::ReportId, u64>,
}

/// The store's clock: the system's unless [`MemoryStore::with_clock`] sets another.
#[derive(Debug, Clone)]
struct StoreClock(Arc<dyn Clock>);

impl Default for StoreClock {
    fn default() -> Self {
        Self(Arc::new(SystemClock))
    }
}

/// One idempotency key's record.
#[derive(Debug, Clone)]
struct KeyRecord {
    fingerprint: String,
    claim: String,
    /// `None` while in flight.
    answer: Option<StoredResponse>,
    /// The room and message the answer embeds, and the body without it.
    embeds: Option<(RoomId, MessageId, Vec<u8>)>,
    lease_until: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl KeyRecord {
    fn is_stale(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now || (self.answer.is_none() && self.lease_until <= now)
    }
}

impl State {
    /// The current time by the store's clock.
    fn now(&self) -> DateTime<Utc> {
        self.clock.0.now()
    }

    /// The time before which the room's messages have expired at `now`, if it has a retention.
    fn cutoff(&self, room: &RoomId, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let stored = self.rooms.get(room)?;
        stored
            .room
            .retention_days
            .or(self.default_retention)
            .map(|days| days.cutoff(now))
    }

    /// Whether `m` is visible now: not expired under its room's retention.
    fn unexpired(&self, m: &Message, now: DateTime<Utc>) -> bool {
        self.cutoff(&m.room, now).is_none_or(|c| m.sent_at >= c)
    }

    fn visible(&self, room: &RoomId, id: &MessageId) -> Option<u64> {
        let seq = *self.message_seq.get(id)?;
        let m = self.messages.get(&seq)?;
        (m.room == *room && self.unexpired(m, self.now())).then_some(seq)
    }

    /// The visible messages of `room` (oldest first) that `filter` matches, and those only
    /// the retention hides when `with_expired`; `None` when a message bound is not visible
    /// in the room.
    fn matching(
        &self,
        room: &RoomId,
        filter: &MessageFilter,
        with_expired: bool,
    ) -> Option<Vec<u64>> {
        let seq_of = |bound: &Option<Bound>| match bound {
            Some(Bound::Message(id)) => self.visible(room, id).map(Some),
            _ => Some(None),
        };
        let (below, above) = (seq_of(&filter.before)?, seq_of(&filter.after)?);
        let now = self.now();
        Some(
            self.messages
                .iter()
                .filter(|(seq, m)| {
                    m.room == *room
                        && (with_expired || self.unexpired(m, now))
                        && below.is_none_or(|b| **seq < b)
                        && above.is_none_or(|a| **seq > a)
                        && filter.matches(&m.sender, m.sent_at)
                        && filter.contains.matches(m.content.as_json())
                })
                .map(|(seq, _)| *seq)
                .collect(),
        )
    }

    /// [`MessageStore::delete`], on the locked state: the facts [`deletion_plan`] needs,
    /// then its plan carried out (at once, whatever its [`deletion_plan::Removal`]: there
    /// is no purger here).
    fn delete(&mut self, request: &DeletionRequest) -> DeleteOutcome {
        match self.try_delete(request) {
            Ok(deletion) => DeleteOutcome::Deleted(deletion),
            Err(refusal) => refusal.into(),
        }
    }

    fn try_delete(&mut self, request: &DeletionRequest) -> Result<Deletion, Refusal> {
        let room = &request.room;
        let membership = self.rooms.get(room).map(|stored| {
            let snapshot = stored.snapshot();
            request
                .actor
                .client_id()
                .map(|id| snapshot.membership(id))
                .unwrap_or_default()
        });
        deletion_plan::admit(&request.actor, membership)?;
        let (covered, coverage): (Vec<u64>, Coverage) = match &request.target {
            DeleteTarget::One(id) => self.listed(room, std::slice::from_ref(id)),
            DeleteTarget::Bulk(listed) => self.listed(room, listed),
            DeleteTarget::All => match self.matching(room, &request.filter, true) {
                Some(seqs) => {
                    let now = self.now();
                    let visible = seqs
                        .iter()
                        .filter(|seq| self.unexpired(&self.messages[*seq], now))
                        .count();
                    let rows = Rows {
                        covered: u64::try_from(seqs.len()).unwrap_or(u64::MAX),
                        visible: u64::try_from(visible).unwrap_or(u64::MAX),
                        others_hidden_among: false,
                    };
                    (seqs, Coverage::Rows(rows))
                }
                None => (Vec::new(), Coverage::BoundNotVisible),
            },
        };
        let plan = deletion_plan::plan(request, coverage, &mut Budget::unlimited())?;
        let gone: HashSet<MessageId> = covered
            .iter()
            .filter_map(|seq| self.messages.get(seq).map(|m| m.id.clone()))
            .collect();
        for seq in &covered {
            self.remove(*seq);
        }
        self.redact_answers(room, &gone);
        let mut deletion = plan.record;
        deletion.reports = self.resolve_reports(room, &gone, &deletion.id);
        let previous = self
            .deletions
            .iter()
            .rev()
            .find(|d| d.room == deletion.room)
            .and_then(|d| d.hash.as_deref())
            .unwrap_or(audit_chain::GENESIS);
        deletion.hash = Some(audit_chain::link(
            previous,
            &record_json::deletion_record(&deletion),
        ));
        self.deletions.push(deletion.clone());
        Ok(deletion)
    }

    /// The `seq`s of the `listed` messages visible in `room`, and their coverage.
    fn listed(&self, room: &RoomId, listed: &[MessageId]) -> (Vec<u64>, Coverage) {
        let (seqs, ids) = listed
            .iter()
            .filter_map(|id| self.visible(room, id).map(|seq| (seq, id.clone())))
            .unzip();
        (seqs, Coverage::Listed(ids))
    }

    fn remove(&mut self, seq: u64) {
        if let Some(message) = self.messages.remove(&seq) {
            self.message_seq.remove(&message.id);
        }
    }

    /// Replaces stored answers that embed a deleted message of `room` (`message`, or any
    /// when `None`) by their redacted bodies.
    /// Stored answers that embed one of the `gone` messages of `room` lose it.
    fn redact_answers(&mut self, room: &RoomId, gone: &HashSet<MessageId>) {
        for record in self.keys.values_mut() {
            let hit = record
                .embeds
                .as_ref()
                .is_some_and(|(r, m, _)| r == room && gone.contains(m));
            if hit
                && let (Some(answer), Some((_, _, redacted))) =
                    (record.answer.as_mut(), record.embeds.take())
            {
                answer.body = redacted;
            }
        }
    }

    fn ticket_holds(&self, ticket: &Ticket) -> bool {
        self.keys
            .get(&key_of(ticket))
            .is_some_and(|r| r.answer.is_none() && r.claim == ticket.claim.as_str())
    }
}

fn key_of(ticket: &Ticket) -> (String, String) {
    (
        ticket.owner.as_str().to_owned(),
        ticket.key.as_str().to_owned(),
    )
}

/// A [`WebhookGuard`] that accepts every URL: no address policy. For tests, and for
/// embedders that check webhook destinations themselves (the server's policy refuses
/// private addresses; see the adapters' `AddressPolicy`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAnyWebhook;

impl WebhookGuard for AcceptAnyWebhook {
    fn check(&self, _url: &str) -> Result<(), DestinationRefused> {
        Ok(())
    }
}

/// Every storage port of the domain, in memory. Cheap to clone: clones share one state.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose rooms without a retention of their own keep messages `days`.
    #[must_use]
    pub fn with_default_retention(days: Option<RetentionDays>) -> Self {
        let store = Self::default();
        store.lock().default_retention = days;
        store
    }

    /// The same store judging its reads at `clock`'s time (default: the system's): give
    /// the use cases their `now` from the same clock.
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.lock().clock = StoreClock(clock);
        self
    }

    /// The clock the store judges its reads at: the one to give the use cases
    /// ([`crate::usecases::Ports::clock`]).
    #[must_use]
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.lock().clock.0.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// No outbox: no deletion queues an event here, so the log is always empty (no event is a
/// cursor, and none can be redelivered).
impl EventLog for MemoryStore {
    fn list_events(
        &self,
        _state: Option<DeliveryState>,
        _room: Option<&RoomId>,
        before: Option<&DeletionId>,
        _limit: u32,
    ) -> StoreResult<Option<Vec<EventDelivery>>> {
        Ok(before.is_none().then(Vec::new))
    }

    fn redeliver_event(
        &self,
        _id: &DeletionId,
        _now: DateTime<Utc>,
    ) -> StoreResult<Option<Redelivered>> {
        Ok(None)
    }
}

impl ClientStore for MemoryStore {
    fn find_token(&self, hash: &TokenHash) -> StoreResult<Option<TokenRecord>> {
        Ok(self
            .find_tokens(std::slice::from_ref(hash))?
            .pop()
            .map(|(_, r)| r))
    }

    fn find_tokens(&self, hashes: &[TokenHash]) -> StoreResult<Vec<(TokenHash, TokenRecord)>> {
        let state = self.lock();
        Ok(hashes
            .iter()
            .filter_map(|hash| {
                let token = state.tokens.get(&hash.0)?;
                let client = state.clients.get(&token.client)?;
                Some((
                    hash.clone(),
                    TokenRecord {
                        client_id: token.client.clone(),
                        is_platform_admin: client.is_platform_admin,
                        expires_at: token.expires_at,
                        revoked: token.revoked,
                    },
                ))
            })
            .collect())
    }

    fn get_client(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        Ok(self.lock().clients.get(id).cloned())
    }

    fn save_client(
        &self,
        changes: &ClientChanges,
        token: Option<&NewToken>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Client>> {
        let mut state = self.lock();
        if let Some(token) = token
            && state
                .tokens
                .get(&token.hash.0)
                .is_some_and(|t| t.client != changes.id)
        {
            return Ok(None);
        }
        let client = state
            .clients
            .entry(changes.id.clone())
            .or_insert_with(|| Client {
                id: changes.id.clone(),
                nickname: None,
                avatar_url: None,
                is_platform_admin: false,
                created_at: now,
                updated_at: now,
            });
        if let Some(nickname) = &changes.nickname {
            client.nickname = Some(nickname.clone());
        }
        if let Some(url) = &changes.avatar_url {
            client.avatar_url = Some(url.clone());
        }
        if let Some(flag) = changes.is_platform_admin {
            client.is_platform_admin = flag;
        }
        client.updated_at = now;
        let saved = client.clone();
        if let Some(token) = token {
            for stored in state.tokens.values_mut() {
                if stored.client == changes.id {
                    stored.revoked = true;
                }
            }
            state.tokens.insert(
                token.hash.0.clone(),
                StoredToken {
                    client: changes.id.clone(),
                    expires_at: token.expires_at,
                    revoked: false,
                },
            );
        }
        Ok(Some(saved))
    }

    fn revoke_tokens(
        &self,
        client: &ClientId,
        only: Option<&TokenHash>,
    ) -> StoreResult<Option<u64>> {
        let mut state = self.lock();
        if !state.clients.contains_key(client) {
            return Ok(None);
        }
        let mut revoked = 0;
        for (hash, token) in &mut state.tokens {
            let wanted = only.is_none_or(|h| h.0 == *hash);
            if wanted && token.client == *client && !token.revoked {
                token.revoked = true;
                revoked += 1;
            }
        }
        Ok(Some(revoked))
    }

    fn missing_clients(&self, ids: &[ClientId]) -> StoreResult<Vec<ClientId>> {
        let state = self.lock();
        Ok(ids
            .iter()
            .filter(|id| !state.clients.contains_key(*id))
            .cloned()
            .collect())
    }
}

/// Who makes a room change, when and why: what its record names beside the changes.
struct ChangeBy<'a> {
    actor: &'a Actor,
    now: DateTime<Utc>,
    reason: Option<&'a AuditReason>,
}

/// Applies a room change as [`RoomStore`] requires: checked against the room as it is, in
/// the same step as the write and its room-change record.
fn change_room(
    store: &MemoryStore,
    id: &RoomId,
    by: &ChangeBy<'_>,
    allowed: impl FnOnce(&Room) -> Result<(), Action>,
    write: impl FnOnce(&mut StoredRoom),
) -> StoreResult<RoomUpdateOutcome> {
    let mut state = store.lock();
    let Some(stored) = state.rooms.get_mut(id) else {
        return Ok(RoomUpdateOutcome::RoomNotFound);
    };
    let before = stored.snapshot();
    if let Err(action) = allowed(&before) {
        return Ok(RoomUpdateOutcome::PermissionDenied(action));
    }
    write(stored);
    stored.room.updated_at = by.now;
    let after = stored.snapshot();
    let record = RoomChange::record(Some(&before), &after, by.actor, by.now, by.reason);
    if let Some(record) = record {
        if let Some(set) = record.retention_set() {
            stored.retention_set = set;
        }
        push_change(&mut state.room_changes, record);
    }
    Ok(RoomUpdateOutcome::Updated(after))
}

impl RoomStore for MemoryStore {
    fn insert_room(
        &self,
        room: &NewRoom,
        actor: &Actor,
        reason: Option<&AuditReason>,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        if state.rooms.contains_key(&room.id) {
            return Ok(false);
        }
        let members: BTreeSet<ClientId> = room
            .owner
            .iter()
            .chain(&room.members)
            .chain(&room.managers)
            .cloned()
            .collect();
        let mut stored = StoredRoom {
            room: Room {
                id: room.id.clone(),
                name: room.name.clone(),
                room_type: room.room_type,
                owner: room.owner.clone(),
                managers: Vec::new(),
                members: Vec::new(),
                webhook: room.webhook.clone(),
                retention_days: room.retention_days,
                created_at: room.created_at,
                updated_at: room.created_at,
            },
            managers: room.managers.iter().cloned().collect(),
            members,
            retention_set: None,
        };
        let record = RoomChange::record(None, &stored.snapshot(), actor, room.created_at, reason);
        if let Some(record) = record {
            if let Some(set) = record.retention_set() {
                stored.retention_set = set;
            }
            push_change(&mut state.room_changes, record);
        }
        state.rooms.insert(room.id.clone(), stored);
        Ok(true)
    }

    fn get_room(&self, id: &RoomId) -> StoreResult<Option<Room>> {
        Ok(self.lock().rooms.get(id).map(StoredRoom::snapshot))
    }

    fn list_rooms(
        &self,
        member: Option<&ClientId>,
        before: Option<&RoomId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Room>>> {
        let state = self.lock();
        let visible = |r: &&StoredRoom| member.is_none_or(|m| r.members.contains(m));
        let key = |r: &StoredRoom| (r.room.created_at, r.room.id.clone());
        let cursor = match before {
            None => None,
            Some(id) => match state.rooms.get(id).filter(|r| visible(r)) {
                Some(r) => Some(key(r)),
                None => return Ok(None),
            },
        };
        let mut rooms: Vec<&StoredRoom> = state
            .rooms
            .values()
            .filter(visible)
            .filter(|r| cursor.as_ref().is_none_or(|c| key(r) < *c))
            .collect();
        rooms.sort_by_key(|r| std::cmp::Reverse(key(r)));
        Ok(Some(
            rooms
                .into_iter()
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .map(StoredRoom::snapshot)
                .collect(),
        ))
    }

    fn update_room(
        &self,
        id: &RoomId,
        actor: &Actor,
        changes: &RoomChanges,
        now: DateTime<Utc>,
        reason: Option<&AuditReason>,
    ) -> StoreResult<RoomUpdateOutcome> {
        change_room(
            self,
            id,
            &ChangeBy { actor, now, reason },
            |room| room.may_apply(actor, changes),
            |stored| {
                if let Some(name) = &changes.name {
                    stored.room.name = Some(name.clone());
                }
                if let Some(owner) = &changes.owner {
                    stored.room.owner = Some(owner.clone());
                    stored.members.insert(owner.clone());
                }
                if let Some(webhook) = &changes.webhook {
                    stored.room.webhook.clone_from(webhook);
                }
                if let Some(retention) = changes.retention_days {
                    stored.room.retention_days = retention;
                }
                if let Some(managers) = &changes.managers {
                    stored.managers = managers.iter().cloned().collect();
                    stored.members.extend(managers.iter().cloned());
                }
            },
        )
    }

    fn add_members(
        &self,
        id: &RoomId,
        actor: &Actor,
        members: &[ClientId],
        now: DateTime<Utc>,
        reason: Option<&AuditReason>,
    ) -> StoreResult<RoomUpdateOutcome> {
        change_room(
            self,
            id,
            &ChangeBy { actor, now, reason },
            |room| room.may_add_members(actor),
            |stored| stored.members.extend(members.iter().cloned()),
        )
    }

    fn remove_members(
        &self,
        id: &RoomId,
        actor: &Actor,
        members: &[ClientId],
        now: DateTime<Utc>,
        reason: Option<&AuditReason>,
    ) -> StoreResult<RoomUpdateOutcome> {
        change_room(
            self,
            id,
            &ChangeBy { actor, now, reason },
            |room| room.may_remove_members(actor, members),
            |stored| {
                for member in members {
                    stored.members.remove(member);
                    stored.managers.remove(member);
                }
            },
        )
    }
}

impl MessageStore for MemoryStore {
    fn insert_message(&self, message: &Message) -> StoreResult<bool> {
        let mut state = self.lock();
        if !state.rooms.contains_key(&message.room) {
            return Err(StoreError::Internal(anyhow::anyhow!(
                "room {} does not exist",
                message.room
            )));
        }
        if state.message_seq.contains_key(&message.id) {
            return Ok(false);
        }
        state.next_seq += 1;
        let seq = state.next_seq;
        state.message_seq.insert(message.id.clone(), seq);
        state.messages.insert(seq, message.clone());
        Ok(true)
    }

    fn find_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>> {
        let state = self.lock();
        Ok(state
            .visible(room, id)
            .and_then(|seq| state.messages.get(&seq).cloned()))
    }

    fn recall_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>> {
        let mut state = self.lock();
        let Some(seq) = state.visible(room, id) else {
            return Ok(None);
        };
        Ok(state.messages.get_mut(&seq).map(|message| {
            message.content = MessageContent::recalled();
            RECALL_TYPE.clone_into(&mut message.message_type);
            message.clone()
        }))
    }

    fn list_messages(
        &self,
        room: &RoomId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> StoreResult<Option<MessagePage>> {
        let state = self.lock();
        let upper = match before {
            None => u64::MAX,
            Some(id) => match state.visible(room, id) {
                Some(seq) => seq,
                None => return Ok(None),
            },
        };
        let now = state.now();
        let in_room = |m: &&Message| m.room == *room && state.unexpired(m, now);
        let total_count = state.messages.values().filter(in_room).count();
        let messages = state
            .messages
            .range(..upper)
            .rev()
            .map(|(_, m)| m)
            .filter(in_room)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect();
        Ok(Some(MessagePage {
            total_count: u64::try_from(total_count).unwrap_or(u64::MAX),
            messages,
        }))
    }

    fn last_message(&self, room: &RoomId) -> StoreResult<Option<Message>> {
        let state = self.lock();
        let now = state.now();
        Ok(state
            .messages
            .values()
            .rev()
            .find(|m| m.room == *room && state.unexpired(m, now))
            .cloned())
    }

    fn delete(&self, request: &DeletionRequest) -> StoreResult<DeleteOutcome> {
        Ok(self.lock().delete(request))
    }

    fn delete_many(&self, requests: &[DeletionRequest]) -> StoreResult<Vec<DeleteOutcome>> {
        let mut state = self.lock();
        Ok(requests.iter().map(|r| state.delete(r)).collect())
    }

    fn count_matching(&self, room: &RoomId, filter: &MessageFilter) -> StoreResult<Option<u64>> {
        Ok(self
            .lock()
            .matching(room, filter, false)
            .map(|seqs| u64::try_from(seqs.len()).unwrap_or(u64::MAX)))
    }

    fn sample_matching(
        &self,
        room: &RoomId,
        filter: &MessageFilter,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let state = self.lock();
        let seqs = state.matching(room, filter, false).unwrap_or_default();
        Ok(seqs
            .iter()
            .rev()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|seq| state.messages[seq].clone())
            .collect())
    }

    fn find_matching(
        &self,
        filter: &MessageFilter,
        among: Option<&[RoomId]>,
        sample: u32,
    ) -> StoreResult<Matching> {
        let state = self.lock();
        let now = state.now();
        let found: Vec<(&u64, &Message)> = state
            .messages
            .iter()
            .filter(|(_, m)| among.is_none_or(|rooms| rooms.contains(&m.room)))
            .filter(|(_, m)| state.unexpired(m, now))
            .filter(|(_, m)| filter.matches(&m.sender, m.sent_at))
            .filter(|(_, m)| filter.contains.matches(m.content.as_json()))
            .collect();
        let mut rooms: std::collections::BTreeMap<RoomId, u64> = std::collections::BTreeMap::new();
        for (_, m) in &found {
            *rooms.entry(m.room.clone()).or_default() += 1;
        }
        let mut newest = found;
        newest.sort_by(|a, b| (b.1.sent_at, b.0).cmp(&(a.1.sent_at, a.0)));
        Ok(Matching {
            rooms: rooms.into_iter().collect(),
            sample: newest
                .into_iter()
                .take(usize::try_from(sample).unwrap_or(usize::MAX))
                .map(|(_, m)| m.clone())
                .collect(),
        })
    }

    fn rooms_with_messages_from(
        &self,
        sender: &ClientId,
        among: Option<&[RoomId]>,
    ) -> StoreResult<Vec<RoomId>> {
        let state = self.lock();
        let now = state.now();
        let rooms: BTreeSet<RoomId> = state
            .messages
            .values()
            .filter(|m| m.sender == *sender && state.unexpired(m, now))
            .filter(|m| among.is_none_or(|rooms| rooms.contains(&m.room)))
            .map(|m| m.room.clone())
            .collect();
        Ok(rooms.into_iter().collect())
    }

    fn expired_rooms(
        &self,
        default_days: Option<RetentionDays>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ExpiredRoom>> {
        let state = self.lock();
        Ok(state
            .rooms
            .values()
            .filter_map(|stored| {
                let retention = RetentionOrigin::in_force(
                    stored.room.retention_days,
                    stored.retention_set.clone(),
                    default_days,
                )?;
                let cutoff = retention.days.cutoff(now);
                state
                    .messages
                    .values()
                    .any(|m| m.room == stored.room.id && m.sent_at < cutoff)
                    .then(|| ExpiredRoom {
                        room: stored.room.id.clone(),
                        cutoff,
                        retention,
                    })
            })
            .collect())
    }
}

/// A page of a log kept oldest first: newest first, of `room` when given, before the record
/// `is_cursor` picks (`None` when the cursor names none of that room's records).
fn log_page<T: Clone>(
    log: &[T],
    room_of: impl Fn(&T) -> &RoomId,
    room: Option<&RoomId>,
    is_cursor: Option<impl Fn(&T) -> bool>,
    limit: u32,
) -> Option<Vec<T>> {
    let of_room = |record: &T| room.is_none_or(|r| room_of(record) == r);
    let end = match is_cursor {
        None => log.len(),
        Some(is_cursor) => log.iter().position(|r| is_cursor(r) && of_room(r))?,
    };
    Some(
        log[..end]
            .iter()
            .rev()
            .filter(|r| of_room(r))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect(),
    )
}

impl AuditStore for MemoryStore {
    fn list_deletions_oldest_first(
        &self,
        room: Option<&RoomId>,
        after: Option<&DeletionId>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Deletion>>> {
        let state = self.lock();
        let of_room = |d: &Deletion| room.is_none_or(|r| d.room == *r);
        let start = match after {
            None => 0,
            Some(id) => match state
                .deletions
                .iter()
                .position(|d| d.id == *id && of_room(d))
            {
                Some(i) => i + 1,
                None => return Ok(None),
            },
        };
        Ok(Some(
            state.deletions[start..]
                .iter()
                .filter(|d| of_room(d))
                .filter(|d| since.is_none_or(|t| d.deleted_at >= t))
                .filter(|d| until.is_none_or(|t| d.deleted_at < t))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .cloned()
                .collect(),
        ))
    }

    fn list_deletions(
        &self,
        room: Option<&RoomId>,
        before: Option<&DeletionId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Deletion>>> {
        let state = self.lock();
        let is_cursor = before.map(|id| move |d: &Deletion| d.id == *id);
        Ok(log_page(
            &state.deletions,
            |d| &d.room,
            room,
            is_cursor,
            limit,
        ))
    }

    fn list_room_changes(
        &self,
        room: Option<&RoomId>,
        before: Option<&RoomChangeId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<RoomChange>>> {
        let state = self.lock();
        let is_cursor = before.map(|id| move |c: &RoomChange| c.id == *id);
        Ok(log_page(
            &state.room_changes,
            |c| &c.room,
            room,
            is_cursor,
            limit,
        ))
    }
}

impl IdempotencyStore for MemoryStore {
    fn claim_key(&self, claim: &KeyClaim) -> StoreResult<ClaimOutcome> {
        let mut state = self.lock();
        let at = key_of(&claim.ticket);
        if let Some(record) = state.keys.get(&at).filter(|r| !r.is_stale(claim.now)) {
            return Ok(if record.fingerprint != claim.fingerprint.as_str() {
                ClaimOutcome::Mismatch
            } else {
                match &record.answer {
                    None => ClaimOutcome::InFlight,
                    Some(answer) => ClaimOutcome::Replay(answer.clone()),
                }
            });
        }
        // A stale record of this key that has not expired is taken over: no new record.
        let replaces_own = state
            .keys
            .get(&at)
            .is_some_and(|r| r.expires_at > claim.now);
        if let Some(limit) = claim.limit.filter(|_| !replaces_own) {
            let held: Vec<DateTime<Utc>> = state
                .keys
                .iter()
                .filter(|((owner, _), r)| owner == &at.0 && r.expires_at > claim.now)
                .map(|(_, r)| r.expires_at)
                .collect();
            if held.len() >= usize::try_from(limit).unwrap_or(usize::MAX)
                && let Some(oldest) = held.into_iter().min()
            {
                return Ok(ClaimOutcome::Full(oldest));
            }
        }
        state.keys.insert(
            at,
            KeyRecord {
                fingerprint: claim.fingerprint.as_str().to_owned(),
                claim: claim.ticket.claim.as_str().to_owned(),
                answer: None,
                embeds: None,
                lease_until: claim.lease_until,
                expires_at: claim.expires_at,
            },
        );
        Ok(ClaimOutcome::Started)
    }

    fn complete_key(
        &self,
        ticket: &Ticket,
        completion: &Completion,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        if !state.ticket_holds(ticket) {
            return Ok(false);
        }
        let mut answer = completion.response.clone();
        let mut embeds = None;
        if let Some(embedded) = &completion.embeds {
            if state.visible(&embedded.room, &embedded.message).is_some() {
                embeds = Some((
                    embedded.room.clone(),
                    embedded.message.clone(),
                    embedded.redacted_body.clone(),
                ));
            } else {
                answer.body.clone_from(&embedded.redacted_body);
            }
        }
        if let Some(record) = state.keys.get_mut(&key_of(ticket)) {
            record.answer = Some(answer);
            record.embeds = embeds;
            record.expires_at = expires_at;
        }
        Ok(true)
    }

    fn release_key(&self, ticket: &Ticket) -> StoreResult<bool> {
        let mut state = self.lock();
        if !state.ticket_holds(ticket) {
            return Ok(false);
        }
        state.keys.remove(&key_of(ticket));
        Ok(true)
    }

    fn remove_expired_keys(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        let mut state = self.lock();
        let mut expired: Vec<DateTime<Utc>> = state
            .keys
            .values()
            .map(|r| r.expires_at)
            .filter(|at| *at <= now)
            .collect();
        expired.sort_unstable();
        let Some(cutoff) = expired
            .get(
                usize::try_from(limit)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(1),
            )
            .or(expired.last())
            .copied()
        else {
            return Ok(0);
        };
        let before = state.keys.len();
        state.keys.retain(|_, r| r.expires_at > cutoff);
        Ok(u64::try_from(before - state.keys.len()).unwrap_or(u64::MAX))
    }
}

/// The published storage contract, run against this store.
/// Appends `record` to the room-change log, linked to its room's previous record.
fn push_change(log: &mut Vec<RoomChange>, mut record: RoomChange) {
    let previous = log
        .iter()
        .rev()
        .find(|c| c.room == record.room)
        .and_then(|c| c.hash.as_deref())
        .unwrap_or(audit_chain::GENESIS);
    record.hash = Some(audit_chain::link(
        previous,
        &record_json::room_change_record(&record),
    ));
    log.push(record);
}

#[cfg(test)]
mod contract {
    crate::store_contract!(super::MemoryStore::new());
    crate::idempotency_contract!(super::MemoryStore::new());
}

#[cfg(test)]
mod tests {
    use super::MemoryStore;
    use crate::model::RetentionDays;
    use crate::ports::MessageStore;
    use crate::testkit::fixtures::{add_room, message, mid, rid};
    use crate::time::OffsetClock;
    use std::sync::Arc;

    /// The store judges its reads at its clock's time: moved on past the retention, a
    /// message sent before is gone from every read.
    #[test]
    fn reads_are_judged_at_the_store_s_clock() {
        let clock = Arc::new(OffsetClock::new());
        let week = RetentionDays::new(7).expect("valid");
        let store = MemoryStore::with_default_retention(Some(week)).with_clock(clock.clone());
        add_room(&store, "r", "owner", &[], &[]);
        assert!(
            store
                .insert_message(&message("r", "owner", "m", "hi"))
                .expect("sent")
        );
        assert!(
            store
                .find_message(&rid("r"), &mid("m"))
                .expect("ran")
                .is_some()
        );
        clock.advance(chrono::Duration::days(8));
        assert_eq!(store.find_message(&rid("r"), &mid("m")).expect("ran"), None);
        assert_eq!(store.last_message(&rid("r")).expect("ran"), None);
    }
}
