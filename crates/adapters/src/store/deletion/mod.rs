//! The deletion engine over SQL: [`MessageStore::delete`] and [`MessageStore::delete_many`]
//! commit here.
//!
//! The rules are the domain's ([`deletion_plan`]); this module reads the facts they need
//! and carries out their answer. One transaction locks each room in ID order
//! ([`super::room_lock`]) and reads the actor's membership under the lock for
//! [`deletion_plan::admit`]; it reads what the target covers ([`targets`]: listed messages,
//! the whole room; [`filtered`]: a filtered `_all`) for [`deletion_plan::plan`], then
//! removes the covered rows in place or hides them for the purger as the plan says, redacts
//! the stored idempotent answers that embed a removed message
//! (`super::idempotency::redact_answers`), and writes the plan's audit record, linked into
//! the room's chain, and its event. A user purge's clears of many rooms go through
//! [`batch`]: the same facts read and the same plans carried out for many rooms at once, in
//! fewer statements. Single deletions that arrive while another of their room is committing
//! commit together ([`group`]).
//!
//! [`MessageStore::delete`]: roomwarden_domain::ports::MessageStore::delete
//! [`MessageStore::delete_many`]: roomwarden_domain::ports::MessageStore::delete_many

pub(super) mod batch;
pub(super) mod filtered;
pub(super) mod group;
mod targets;

use super::room_lock::{lock_room, membership};
use super::visibility::Rule;
use super::{Backlog, DieselStore, EventQueueing};
use crate::cached::update;
use crate::db::DbConnection;
use crate::rows::NewDeletionRow;
use crate::schema::{deletions, rooms};
use diesel::prelude::*;
use roomwarden_domain::deletion_plan::{self, Budget, Refusal};
use roomwarden_domain::events::EventEncoder;
use roomwarden_domain::ids::DeleteTarget;
use roomwarden_domain::model::{DeleteOutcome, Deletion, DeletionRequest};
use roomwarden_domain::ports::StoreResult;
use roomwarden_domain::roles::Membership;
use std::collections::HashMap;

/// Resolves the open reports of what `deletion` removes (`covered`,
/// [`super::reports::resolve`]), then links it into its room's chain: sets its hash from the
/// room's head, which the room's update (the one every deletion makes: [`settle_room`], or a
/// clear's own) then stores as the new head.
pub(super) fn link(
    conn: &mut DbConnection,
    deletion: &mut Deletion,
    room: &Locked,
    covered: &super::reports::Covered<'_>,
) -> QueryResult<()> {
    super::reports::resolve(conn, deletion, room.open_reports, covered)?;
    super::chain::link_after(&room.audit_head, deletion);
    Ok(())
}

/// Lowers the room's visible count by `removed` and moves its chain's head to the (linked)
/// `deletion`: the one update of the room's row a deletion of listed or filtered messages
/// makes (one for all of a group's deletions of the room, [`Known::settle`]).
pub(super) fn settle_room(
    conn: &mut DbConnection,
    room: &str,
    removed: i64,
    deletion: &Deletion,
) -> QueryResult<()> {
    let set = (
        rooms::visible_count.eq(rooms::visible_count - removed),
        rooms::audit_head.eq(deletion.hash.as_deref()),
    );
    update(rooms::table, set, rooms::id.eq(room))
        .execute(conn)
        .map(|_| ())
}

/// Writes the audit record of `deletion`, linked ([`link`]) and its head stored, and its
/// event; inside the deletion's transaction.
pub(super) fn record(
    conn: &mut DbConnection,
    deletion: &Deletion,
    room: &Locked,
) -> QueryResult<()> {
    debug_assert!(
        deletion.hash.is_some(),
        "a deletion is linked before it is recorded"
    );
    diesel::insert_into(deletions::table)
        .values(NewDeletionRow::from(deletion))
        .execute(conn)?;
    super::outbox::record(conn, room.events, deletion, room.queued)
}

/// The room as the deletion finds it, under its lock.
pub(super) struct Locked<'a> {
    cleared: i64,
    purged: i64,
    visible: i64,
    /// The room's own retention.
    retention: Option<i32>,
    /// How many open reports the room has ([`super::reports::resolve`] reads none without).
    open_reports: i64,
    /// Whether the deletion's event is queued for the dispatcher.
    queued: bool,
    /// The `hash` of the room's newest audit record ([`GENESIS`] without one), read after
    /// the lock, so no other deletion of the room can come between it and this one.
    audit_head: String,
    /// Writes the event's body.
    events: &'a dyn EventEncoder,
    /// A removal of listed messages leaves the room's update ([`settle_room`]) to the end of
    /// the transaction ([`Known::settle`]), which makes it once for all its deletions of the
    /// room.
    settle_later: bool,
}

/// What a committed deletion leaves to do after its transaction.
pub(super) struct Committed {
    outcome: DeleteOutcome,
    needs_purge: bool,
    /// Whether the event is queued for the dispatcher.
    queued: bool,
}

impl Committed {
    /// Nothing deleted, nothing to do afterwards.
    pub(super) fn nothing(outcome: DeleteOutcome) -> Self {
        Self {
            outcome,
            needs_purge: false,
            queued: false,
        }
    }

    /// Refused by the plan: nothing written.
    pub(super) fn refused(refusal: Refusal) -> Self {
        Self::nothing(refusal.into())
    }

    /// Whether a deletion was recorded (anything but a refusal).
    fn deleted_something(&self) -> bool {
        matches!(self.outcome, DeleteOutcome::Deleted(_))
    }

    /// `deletion` recorded; the purger has work when `needs_purge`.
    pub(super) fn deleted(deletion: Deletion, needs_purge: bool, queued: bool) -> Self {
        Self {
            outcome: DeleteOutcome::Deleted(deletion),
            needs_purge,
            queued,
        }
    }
}

/// The room's state as a deletion reads it under the room's lock, its owner and its
/// chain's head included (`rooms.audit_head`). Built from the DSL with the room bound, so
/// that diesel prepares the statement once per connection: a raw SQL fragment would make it
/// prepare it again on every call (a round trip on MySQL).
macro_rules! state_under_lock {
    ($room:expr) => {
        rooms::table.find($room).select((
            rooms::cleared_through_seq,
            rooms::purged_through_seq,
            rooms::visible_count,
            rooms::webhook,
            rooms::retention_days,
            rooms::audit_head,
            rooms::owner,
            rooms::open_reports,
        ))
    };
}

/// What [`state_under_lock!`] reads.
type StateRow = (
    i64,
    i64,
    i64,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<String>,
    i64,
);

/// Takes `room`'s write lock and reads its state under it ([`state_under_lock!`]); `None`
/// when the room does not exist. On MySQL one statement, `SELECT … FOR UPDATE` (it takes
/// the row's write lock as the bump of `write_version` does); on SQLite the bump first
/// ([`lock_room`]: a transaction that starts with a read would have to upgrade its lock,
/// and `SQLITE_BUSY` stops that), then the read.
fn lock_with_state(conn: &mut DbConnection, room: &str) -> QueryResult<Option<StateRow>> {
    match conn {
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => state_under_lock!(room).for_update().first(c).optional(),
        DbConnection::Sqlite(_) => {
            if !lock_room(conn, room)? {
                return Ok(None);
            }
            state_under_lock!(room).first(conn).map(Some)
        }
    }
}

/// What one transaction has read under its rooms' locks and may read again for its next
/// deletion of the same room ([`group`]): the actors' memberships, which role changes
/// (taking the same lock) cannot change before it commits; and, when every deletion of
/// the transaction is of one message, each room's state as the next would read it (such a
/// deletion moves only its visible count and its chain's head, kept here, and may lower its
/// count of open reports, kept as read: a count too high costs a read, never a report).
#[derive(Default)]
struct Known {
    memberships: HashMap<(String, String), Membership>,
    /// `None`: each deletion reads its room's state itself.
    states: Option<HashMap<String, StateRow>>,
    /// With `states`: each room's rows removed so far, its newest deletion and the IDs of
    /// its removed messages, for the one update of the room's row and the one redaction of
    /// the stored answers that embed them, at the end ([`Self::settle`]).
    unsettled: Vec<(String, i64, Deletion, Vec<String>)>,
}

impl Known {
    /// Keeps rooms' states between deletions when every one of `requests` is of one
    /// message.
    fn for_requests(requests: &[DeletionRequest]) -> Self {
        let singles = requests
            .iter()
            .all(|r| matches!(r.target, DeleteTarget::One(_)));
        Self {
            memberships: HashMap::new(),
            states: singles.then(HashMap::new),
            unsettled: Vec::new(),
        }
    }

    /// Finishes each room whose deletions left it to the end ([`Locked::settle_later`]):
    /// its row's visible count lowered by what they removed and its chain's head the
    /// newest; the stored answers that embed a removed message redacted.
    fn settle(&mut self, conn: &mut DbConnection) -> QueryResult<()> {
        for (room, removed, newest, ids) in self.unsettled.drain(..) {
            settle_room(conn, &room, removed, &newest)?;
            super::idempotency::redact_answers_of(conn, &room, &ids)?;
        }
        Ok(())
    }

    /// `room`'s state, from an earlier deletion of the transaction, or read now under the
    /// room's lock ([`lock_with_state`]); `None` when the room does not exist.
    fn state(&self, conn: &mut DbConnection, room: &str) -> QueryResult<Option<StateRow>> {
        match self.states.as_ref().and_then(|states| states.get(room)) {
            Some(known) => Ok(Some(known.clone())),
            None => lock_with_state(conn, room),
        }
    }

    /// Keeps `room`'s state (`before` the deletion that ended as `outcome`) for the next.
    fn remember(&mut self, room: &str, mut before: StateRow, outcome: &DeleteOutcome) {
        let Some(states) = self.states.as_mut() else {
            return;
        };
        if let DeleteOutcome::Deleted(deletion) = outcome {
            let removed = i64::try_from(deletion.deleted_count).unwrap_or(i64::MAX);
            before.2 -= removed;
            before.5.clone_from(&deletion.hash);
            let DeleteTarget::One(id) = &deletion.target else {
                unreachable!("the states are kept only for deletions of one message")
            };
            let id = id.as_str().to_owned();
            match self.unsettled.iter_mut().find(|(r, ..)| r == room) {
                Some((_, total, newest, ids)) => {
                    *total += removed;
                    newest.clone_from(deletion);
                    ids.push(id);
                }
                None => {
                    self.unsettled
                        .push((room.to_owned(), removed, deletion.clone(), vec![id]));
                }
            }
        }
        states.insert(room.to_owned(), before);
    }

    /// `actor`'s membership of `room` (owned by `owner`), read once per transaction.
    fn membership(
        &mut self,
        conn: &mut DbConnection,
        room: &str,
        owner: Option<&str>,
        actor: &roomwarden_domain::actor::Actor,
    ) -> QueryResult<Membership> {
        // The platform and its admins are no room's members: nothing is read for them.
        let Some(id) = actor.client_id().filter(|_| !actor.is_platform_admin()) else {
            return membership(conn, room, owner, actor);
        };
        let key = (room.to_owned(), id.as_str().to_owned());
        if let Some(known) = self.memberships.get(&key) {
            return Ok(*known);
        }
        let read = membership(conn, room, owner, actor)?;
        self.memberships.insert(key, read);
        Ok(read)
    }
}

/// Runs one deletion inside the caller's transaction: lock, admission, then the target's
/// coverage, planned by the domain and carried out. `budget` is how many rows the
/// transaction may still remove in place.
fn delete_in(
    store: &DieselStore,
    conn: &mut DbConnection,
    request: &DeletionRequest,
    rule: Rule,
    budget: &mut Budget,
    known: &mut Known,
) -> QueryResult<Committed> {
    let room = request.room.as_str();
    // Holding the room's write lock, which role changes also take: the role read here is
    // the one in force when the deletion commits.
    let state = known.state(conn, room)?;
    let membership = match &state {
        Some(state) => Some(known.membership(conn, room, state.6.as_deref(), &request.actor)?),
        None => None,
    };
    if let Err(refusal) = deletion_plan::admit(&request.actor, membership) {
        return Ok(Committed::refused(refusal));
    }
    let Some(state) = state else {
        return Ok(Committed::refused(Refusal::RoomNotFound));
    };
    let (cleared, purged, visible, webhook, retention, audit_head, _, open_reports) = state.clone();
    let room_state = Locked {
        cleared,
        purged,
        visible,
        retention,
        open_reports,
        queued: store.queueing == EventQueueing::All || webhook.is_some(),
        audit_head: super::chain::head_of(conn, room, audit_head)?,
        events: store.events.as_ref(),
        settle_later: known.states.is_some(),
    };
    let committed = match &request.target {
        DeleteTarget::One(id) => {
            let listed = std::slice::from_ref(id);
            targets::delete_listed(conn, request, listed, &room_state, budget, rule)
        }
        DeleteTarget::Bulk(listed) => {
            targets::delete_listed(conn, request, listed, &room_state, budget, rule)
        }
        DeleteTarget::All if request.filter.is_empty() => {
            targets::clear_all(conn, request, &room_state, budget, rule)
        }
        DeleteTarget::All => filtered::clear_matching(conn, request, &room_state, budget, rule),
    }?;
    known.remember(room, state, &committed.outcome);
    Ok(committed)
}

impl DieselStore {
    /// Commits one deletion: a single message's in a group ([`group`]) with the others of
    /// its room that arrive while one is committing (outside a unit of work, whose
    /// transaction is its own), any other alone ([`Self::commit_deletions`]).
    pub(super) fn commit_deletion(&self, request: &DeletionRequest) -> StoreResult<DeleteOutcome> {
        let committed = if matches!(request.target, DeleteTarget::One(_)) && !self.in_unit() {
            // On SQLite every room's writes take the one write turn: one group for all.
            let key = match self.database().backend() {
                crate::Backend::Sqlite => "",
                crate::Backend::Mysql => request.room.as_str(),
            };
            self.groups
                .commit(key, request.clone(), |group| self.commit_together(group))?
        } else {
            let mut committed = self.commit_together(std::slice::from_ref(request))?;
            committed.pop().ok_or_else(|| {
                roomwarden_domain::error::StoreError::Internal(anyhow::anyhow!(
                    "a deletion without outcome"
                ))
            })?
        };
        Ok(self.after_commit(vec![committed]).remove(0))
    }

    /// Commits `requests` in one transaction, then waits for the files to be scrubbed and
    /// wakes the workers ([`Self::after_commit`]).
    pub(super) fn commit_deletions(
        &self,
        requests: &[DeletionRequest],
    ) -> StoreResult<Vec<DeleteOutcome>> {
        let committed = self.commit_together(requests)?;
        Ok(self.after_commit(committed))
    }

    /// Commits `requests` in one transaction (rooms locked in ID order, so that two such
    /// calls cannot deadlock); every one refused rolls it back.
    fn commit_together(&self, requests: &[DeletionRequest]) -> StoreResult<Vec<Committed>> {
        let rule = Rule::now(self);
        let mut order: Vec<usize> = (0..requests.len()).collect();
        order.sort_by(|a, b| requests[*a].room.cmp(&requests[*b].room));
        // A connection found lost before `COMMIT` runs it again on a new one (`with_write`):
        // for a caller with the API key the deletion's `BEGIN` is the session's first
        // statement, and a checkout sends nothing.
        Ok(self
            .with_write_or_refuse(|conn| {
                let mut budget = Budget::new(self.purge_batch);
                let done = if batch::applies(requests) {
                    batch::clear_rooms(self, conn, requests, rule, &mut budget)?
                } else {
                    let mut known = Known::for_requests(requests);
                    let mut done: Vec<Option<Committed>> = requests.iter().map(|_| None).collect();
                    for &i in &order {
                        let request = &requests[i];
                        done[i] = Some(delete_in(
                            self,
                            conn,
                            request,
                            rule,
                            &mut budget,
                            &mut known,
                        )?);
                    }
                    known.settle(conn)?;
                    done.into_iter().flatten().collect::<Vec<_>>()
                };
                // Every request refused: rolled back, so that a refusal writes nothing.
                Ok(if done.iter().any(Committed::deleted_something) {
                    Ok(done)
                } else {
                    Err(done)
                })
            })?
            .unwrap_or_else(|refused| refused))
    }

    /// After the commit of `committed`, on the thread that answers for them: waits for
    /// the files to be scrubbed of what they deleted (or leaves that wait to the caller,
    /// `crate::deferring_wal_scrub`) and wakes the workers they left work to.
    fn after_commit(&self, committed: Vec<Committed>) -> Vec<DeleteOutcome> {
        let mut any_deleted = false;
        let (mut queued, mut needs_purge) = (false, false);
        for c in &committed {
            if let DeleteOutcome::Deleted(deletion) = &c.outcome {
                tracing::debug!(
                    deletion = %deletion.id,
                    count = deletion.deleted_count,
                    purge_later = c.needs_purge,
                    "deletion committed"
                );
                any_deleted = true;
                queued |= c.queued;
            }
            needs_purge |= c.needs_purge;
        }
        if any_deleted {
            self.scrub_wal();
        }
        if queued {
            self.committed(Backlog::Event, any_deleted);
        }
        if needs_purge {
            self.committed(Backlog::Purge, any_deleted);
        }
        committed.into_iter().map(|c| c.outcome).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::query_builder::QueryFragment;
    use diesel::sqlite::Sqlite;

    /// A group's deletions share one transaction, its reads of memberships and the room's
    /// state: each is still judged by its own actor's role, resolves its own message's
    /// reports, and links into the room's one chain in turn.
    #[test]
    fn deletions_committed_together_keep_their_roles_reports_and_one_chain() {
        use chrono::Utc;
        use roomwarden_domain::ports::{MessageStore, ReportStore};
        use roomwarden_domain::testkit::fixtures::{
            add_room, cid, message, mid, request_as, rid, user,
        };
        use roomwarden_domain::usecases::audit::verify_chain;
        let fresh = crate::testing::FreshDatabase::new();
        let db =
            crate::Database::connect(&fresh.url, &crate::PoolOptions::default()).expect("connects");
        let store = DieselStore::new(db);
        add_room(&store, "r", "owner", &["mod"], &["member"]);
        let cases = [
            ("owner", true),
            ("member", false),
            ("mod", true),
            ("stranger", false),
            ("member", false),
            ("mod", true),
            ("owner", true),
        ];
        for i in 0..cases.len() {
            let id = format!("m-{i}");
            store
                .insert_message(&message("r", "member", &id, "hi"))
                .expect("sent");
        }
        let requests: Vec<DeletionRequest> = cases
            .iter()
            .enumerate()
            .map(|(i, (by, _))| {
                request_as("r", DeleteTarget::One(mid(&format!("m-{i}"))), user(by))
            })
            .collect();
        // Two of the messages the group removes are reported: each removal resolves its own.
        for id in ["m-2", "m-5"] {
            let report = roomwarden_domain::report::NewReport {
                id: roomwarden_domain::ids::ReportId::generate(Utc::now()),
                room: rid("r"),
                message: mid(id),
                reporter: cid("member"),
                category: roomwarden_domain::report::ReportCategory::Spam,
                reason: None,
                created_at: Utc::now(),
                limit: roomwarden_domain::report::RateLimit::REPORTS,
            };
            store.file_report(&report).expect("filed");
        }
        let outcomes = store.commit_deletions(&requests).expect("committed");
        for (i, ((by, allowed), outcome)) in cases.iter().zip(&outcomes).enumerate() {
            match outcome {
                DeleteOutcome::Deleted(d) => {
                    assert!(allowed, "{by} deleted");
                    assert_eq!(d.deleted_by, user(by).recorded());
                    let reported = u64::from(i == 2 || i == 5);
                    assert_eq!(d.reports.count, reported, "m-{i}'s open reports resolved");
                }
                DeleteOutcome::PermissionDenied => assert!(!allowed, "{by} was refused"),
                other => panic!("{by}: {other:?}"),
            }
        }
        // Linked in turn into one chain, which a later deletion continues.
        let cleared = store
            .delete(&request_as("r", DeleteTarget::All, user("owner")))
            .expect("cleared");
        let DeleteOutcome::Deleted(cleared) = cleared else {
            panic!("{cleared:?}")
        };
        assert_eq!(
            cleared.deleted_count, 3,
            "the room's count follows the group's"
        );
        let chain = verify_chain(&store, &rid("r")).expect("verified");
        assert!(chain.valid(), "{chain:?}");
        assert_eq!(chain.records, 5);
    }

    /// Every single deletion runs this read; a statement diesel does not cache is prepared
    /// again each time (it was, with the audit chain's subquery written as raw SQL).
    #[test]
    fn the_state_read_is_a_statement_diesel_caches() {
        let query = state_under_lock!("r");
        assert!(
            QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&query, &Sqlite).expect("walks"),
            "{}",
            diesel::debug_query::<Sqlite, _>(&query)
        );
    }
}
