//! A user purge's clears, batched: many rooms' filtered clears with one filter, committed
//! with a number of statements that grows with chunks of [`CHUNK`] rooms, not with rooms.
//!
//! Each room ends exactly as its own filtered clear (`clear_matching` in
//! [`super::filtered`]) would leave it: locked, counted under its lock, planned by the
//! domain ([`deletion_plan::plan`], in room order, drawing on the transaction's budget),
//! its covered rows removed in place or hidden by erasures (one per sender) as its plan
//! says, its `visible_count` lowered and its chain's head moved (one statement per chunk),
//! its stored idempotent answers that embed a covered message redacted, and its plan's
//! audit record and event written. Where the per-room path makes about a dozen round trips
//! per room, this one makes about a dozen per chunk (measurements: `docs/benchmarks.md`).
//!
//! It applies when every request clears a distinct room with the same filter of times and
//! senders (no message bounds, which need per-room lookups) by the same actor, one whose
//! right to moderate does not depend on the room (the API key, a flagged platform admin);
//! [`applies`] decides, and anything else takes the per-room path.

use super::Committed;
use crate::db::DbConnection;
use crate::filter_sql;
use crate::rows::{NewDeletionRow, count, to_ms};
use crate::schema::{deletions, erasures, idempotency_keys as keys, messages, rooms};
use crate::store::visibility::Rule;
use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable};
use roomwarden_domain::actor::Actor;
use roomwarden_domain::audit_chain::GENESIS;
use roomwarden_domain::deletion_plan::{self, Budget, Removal};
use roomwarden_domain::filter::{Bound, MessageFilter};
use roomwarden_domain::ids::{ClientId, DeleteTarget};
use roomwarden_domain::model::{Deletion, DeletionRequest};
use roomwarden_domain::roles::Membership;
use std::collections::{HashMap, HashSet};

/// Rooms per statement: well under both backends' limits on bound parameters.
pub(in crate::store) const CHUNK: usize = 500;

/// SQL over `rooms`: the room's newest `seq` (one probe of the `(room_id, seq)` index).
const NEWEST: &str = "(SELECT MAX(m.seq) FROM messages m WHERE m.room_id = rooms.id)";

/// Whether `requests` can be committed by [`clear_rooms`]: two or more clears of distinct
/// rooms, one filter of senders and times, one actor that may moderate any room, and not
/// the retention job (whose counts differ).
pub(in crate::store) fn applies(requests: &[DeletionRequest]) -> bool {
    let Some(first) = requests.first() else {
        return false;
    };
    let filter = &first.filter;
    let actor = &first.actor;
    let any_room = actor.client_id().is_none() || actor.is_platform_admin();
    let mut rooms: Vec<&str> = requests.iter().map(|r| r.room.as_str()).collect();
    rooms.sort_unstable();
    rooms.dedup();
    requests.len() > 1
        && rooms.len() == requests.len()
        && countable(filter)
        && *actor != Actor::Retention
        && any_room
        && deletion_plan::admit(actor, Some(Membership::default())).is_ok()
        && requests
            .iter()
            .all(|r| r.target == DeleteTarget::All && r.filter == *filter && r.actor == *actor)
}

/// Whether rooms can be counted together under `filter`: it names senders, its bounds are
/// times (a message bound needs a lookup in its room) and it has no content to compare.
pub(in crate::store) fn countable(filter: &MessageFilter) -> bool {
    let time_only = |b: &Option<Bound>| b.as_ref().is_none_or(|b| b.time().is_some());
    !filter.senders.is_empty()
        && filter.contains.is_empty()
        && time_only(&filter.before)
        && time_only(&filter.after)
}

/// A room as its lock finds it.
struct RoomState {
    cleared: i64,
    /// Rows up to here are physically gone.
    purged: i64,
    queued: bool,
    retention: Option<i32>,
    newest: i64,
    erased: bool,
    /// Its chain's head as its row keeps it (`rooms.audit_head`).
    head: Option<String>,
    /// How many open reports it has.
    open_reports: i64,
}

/// `(id, cleared_through_seq, purged_through_seq, webhook, retention_days, newest seq,
/// audit_head, open_reports)` of a room.
type StateRow = (
    String,
    i64,
    i64,
    Option<String>,
    Option<i32>,
    Option<i64>,
    Option<String>,
    i64,
);

/// `(covered, of which visible now)` per room, as `count_covered` reports them.
type Counts = HashMap<String, (i64, i64)>;

/// The filter's time window and senders as SQL conditions on `messages` (integers only,
/// never caller text: the senders are bound separately).
fn window_sql(filter: &MessageFilter) -> String {
    let mut cond = String::from("1 = 1");
    let ms = |b: &Option<Bound>| b.as_ref().and_then(|b| b.time()).map(to_ms);
    if let Some(after) = ms(&filter.after) {
        cond.push_str(&format!(" AND messages.created_at > {after}"));
    }
    if let Some(before) = ms(&filter.before) {
        cond.push_str(&format!(" AND messages.created_at < {before}"));
    }
    cond
}

/// The window's condition and, when `erased` (some room has pending erasures), that no
/// erasure covers the row already.
fn uncovered(window: &str, erased: bool) -> String {
    if erased {
        format!("{window} AND {}", filter_sql::NOT_ERASED)
    } else {
        window.to_owned()
    }
}

/// Takes the rooms' write locks, in ID order (`rooms_sorted`), one statement per chunk.
fn lock(conn: &mut DbConnection, rooms_sorted: &[&str]) -> QueryResult<()> {
    for chunk in rooms_sorted.chunks(CHUNK) {
        diesel::update(rooms::table.filter(rooms::id.eq_any(chunk)))
            .set(rooms::write_version.eq(rooms::write_version + 1))
            .execute(conn)?;
    }
    Ok(())
}

/// Reads the rooms' state; rooms that do not exist are absent from the map.
fn read_state(
    store: &crate::store::DieselStore,
    conn: &mut DbConnection,
    rooms: &[&str],
) -> QueryResult<HashMap<String, RoomState>> {
    let mut state = HashMap::with_capacity(rooms.len());
    for chunk in rooms.chunks(CHUNK) {
        let rows: Vec<StateRow> = rooms::table
            .filter(rooms::id.eq_any(chunk))
            .select((
                rooms::id,
                rooms::cleared_through_seq,
                rooms::purged_through_seq,
                rooms::webhook,
                rooms::retention_days,
                sql::<Nullable<BigInt>>(NEWEST),
                rooms::audit_head,
                rooms::open_reports,
            ))
            .load(conn)?;
        let erased: HashSet<String> = erasures::table
            .filter(erasures::room_id.eq_any(chunk))
            .select(erasures::room_id)
            .distinct()
            .load::<String>(conn)?
            .into_iter()
            .collect();
        for (id, cleared, purged, webhook, retention, newest, head, open_reports) in rows {
            let room = RoomState {
                cleared,
                purged,
                queued: store.queueing == crate::store::EventQueueing::All || webhook.is_some(),
                retention,
                newest: newest.unwrap_or(0).max(cleared),
                erased: erased.contains(&id),
                head,
                open_reports,
            };
            state.insert(id, room);
        }
    }
    Ok(state)
}

/// How a group of rooms is counted.
#[derive(Clone, Copy)]
struct Counting<'a> {
    /// Some room of the group has pending erasures: rows they cover do not count.
    erased: bool,
    /// Some room of the group still stores rows at or below its watermark (a clear the
    /// purger has not finished): the count reads the watermark from the room's row.
    behind: bool,
    /// SQL telling visible rows from expired ones, when a retention applies.
    shown_sql: Option<&'a str>,
}

/// Counts, per room of `rooms`, the rows the filter covers and how many of them are
/// visible (not expired). Through the `(sender, room_id, seq)` index alone unless a time
/// window, a retention or a pending erasure needs the rows themselves; joined with `rooms`
/// only when the watermark or the retention is needed (the join costs a room lookup per
/// row: on SQLite it made the count four times slower).
fn count_covered(
    conn: &mut DbConnection,
    rooms: &[&str],
    senders: &[&str],
    window: &str,
    how: Counting<'_>,
) -> QueryResult<Counts> {
    let mut counts = Counts::new();
    let condition = uncovered(window, how.erased);
    let joined = how.behind || how.shown_sql.is_some();
    let shown = how.shown_sql.map_or_else(
        || "COUNT(*)".to_owned(),
        |s| format!("COUNT(CASE WHEN {s} THEN 1 END)"),
    );
    for chunk in rooms.chunks(CHUNK) {
        let rows: Vec<(String, i64, i64)> = if joined {
            messages::table
                .inner_join(rooms::table)
                .filter(messages::room_id.eq_any(chunk))
                .filter(messages::sender.eq_any(senders))
                .filter(messages::seq.gt(rooms::cleared_through_seq))
                .filter(sql::<Bool>(&condition))
                .group_by(messages::room_id)
                .select((messages::room_id, count_star(), sql::<BigInt>(&shown)))
                .load(conn)?
        } else {
            // Every stored row of these rooms is above their watermark.
            messages::table
                .filter(messages::room_id.eq_any(chunk))
                .filter(messages::sender.eq_any(senders))
                .filter(sql::<Bool>(&condition))
                .group_by(messages::room_id)
                .select((messages::room_id, count_star(), count_star()))
                .load(conn)?
        };
        for (room, covered, visible) in rows {
            counts.insert(room, (covered, visible));
        }
    }
    Ok(counts)
}

/// Counts, per room of `state` (in `present`, sorted), the rows `filter` covers and how many
/// of them are visible now, grouping the rooms by what their count needs ([`Counting`]).
fn count_rooms(
    conn: &mut DbConnection,
    present: &[&str],
    state: &HashMap<String, RoomState>,
    filter: &MessageFilter,
    rule: Rule,
) -> QueryResult<Counts> {
    let senders: Vec<&str> = filter.senders.iter().map(ClientId::as_str).collect();
    let window = window_sql(filter);
    let any_retention =
        rule.cutoff_ms(None).is_some() || present.iter().any(|r| state[*r].retention.is_some());
    let shown_sql = any_retention.then(|| rule.unexpired_sql());
    let mut groups: HashMap<(bool, bool), Vec<&str>> = HashMap::new();
    for room in present {
        let s = &state[*room];
        groups
            .entry((s.erased, s.purged < s.cleared))
            .or_default()
            .push(room);
    }
    let mut counts = Counts::new();
    for ((erased, behind), rooms) in groups {
        let how = Counting {
            erased,
            behind,
            shown_sql: shown_sql.as_deref(),
        };
        counts.extend(count_covered(conn, &rooms, &senders, &window, how)?);
    }
    Ok(counts)
}

/// A dry run of [`clear_rooms`] (`filter` [`countable`]): how many visible messages each
/// of `rooms` would lose, in their order; 0 for a room that does not exist.
pub(in crate::store) fn count_matching_in(
    store: &crate::store::DieselStore,
    conn: &mut DbConnection,
    rooms: &[&str],
    filter: &MessageFilter,
    rule: Rule,
) -> QueryResult<Vec<u64>> {
    let state = read_state(store, conn, rooms)?;
    let present: Vec<&str> = rooms
        .iter()
        .copied()
        .filter(|r| state.contains_key(*r))
        .collect();
    let counts = count_rooms(conn, &present, &state, filter, rule)?;
    Ok(rooms
        .iter()
        .map(|r| counts.get(*r).map_or(0, |(_, shown)| count(*shown)))
        .collect())
}

/// Removes in place the covered rows of `rooms` (at most the purge budget in all).
fn remove_in_place(
    conn: &mut DbConnection,
    rooms: &[&str],
    senders: &[&str],
    window: &str,
    erased: bool,
) -> QueryResult<()> {
    let condition = uncovered(window, erased);
    for chunk in rooms.chunks(CHUNK) {
        let seqs: Vec<i64> = messages::table
            .inner_join(rooms::table)
            .filter(messages::room_id.eq_any(chunk))
            .filter(messages::sender.eq_any(senders))
            .filter(messages::seq.gt(rooms::cleared_through_seq))
            .filter(sql::<Bool>(&condition))
            .select(messages::seq)
            .load(conn)?;
        for part in seqs.chunks(1_000) {
            diesel::delete(messages::table.filter(messages::seq.eq_any(part))).execute(conn)?;
        }
    }
    Ok(())
}

/// Redacts the stored idempotent answers that embed a message the clears cover (rare:
/// answers live for a day; one lookup per chunk finds the rooms that have any).
fn redact_embedded(
    conn: &mut DbConnection,
    rooms: &[&str],
    senders: &[&str],
    window: &str,
) -> QueryResult<()> {
    for chunk in rooms.chunks(CHUNK) {
        let embedded: Vec<(Option<String>, Option<String>)> = keys::table
            .filter(keys::content_room.eq_any(chunk))
            .select((keys::content_room, keys::content_message))
            .load(conn)?;
        let ids: Vec<String> = embedded.into_iter().filter_map(|(_, m)| m).collect();
        // Messages are unique by ID across rooms: the embedded ones the clears cover. The
        // IDs go in parts: a day's answers in 500 rooms may be many.
        for part in ids.chunks(1_000) {
            let hit: Vec<(String, String)> = messages::table
                .inner_join(rooms::table)
                .filter(messages::room_id.eq_any(chunk))
                .filter(messages::id.eq_any(part))
                .filter(messages::sender.eq_any(senders))
                .filter(messages::seq.gt(rooms::cleared_through_seq))
                .filter(sql::<Bool>(&uncovered(window, true)))
                .select((messages::room_id, messages::id))
                .load(conn)?;
            for (room, id) in hit {
                crate::store::idempotency::redact_answers(conn, &room, Some(&id))?;
            }
        }
    }
    Ok(())
}

/// Lowers each room's `visible_count` by its covered rows and moves its chain's head to its
/// (linked) record: `(room, covered, record)`, one statement per chunk.
fn settle_rooms(conn: &mut DbConnection, rooms: &[(&str, i64, &Deletion)]) -> QueryResult<()> {
    use diesel::sql_types::Text;
    for chunk in rooms.chunks(CHUNK) {
        let when = " WHEN ? THEN ?".repeat(chunk.len());
        let ids = vec!["?"; chunk.len()].join(", ");
        let statement = format!(
            "UPDATE rooms SET visible_count = visible_count - CASE id{when} ELSE 0 END, \
             audit_head = CASE id{when} ELSE audit_head END WHERE id IN ({ids})"
        );
        let mut query = diesel::sql_query(statement).into_boxed();
        for (room, n, _) in chunk {
            query = query.bind::<Text, _>(*room).bind::<BigInt, _>(*n);
        }
        for (room, _, record) in chunk {
            query = query
                .bind::<Text, _>(*room)
                .bind::<Nullable<Text>, _>(record.hash.as_deref());
        }
        for (room, _, _) in chunk {
            query = query.bind::<Text, _>(*room);
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// Commits `requests` (for which [`applies`] holds) inside the caller's transaction,
/// taking in-place removals out of `budget`; outcomes in the order of `requests`.
pub(in crate::store) fn clear_rooms(
    store: &crate::store::DieselStore,
    conn: &mut DbConnection,
    requests: &[DeletionRequest],
    rule: Rule,
    budget: &mut Budget,
) -> QueryResult<Vec<Committed>> {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|a, b| requests[*a].room.cmp(&requests[*b].room));
    let sorted: Vec<&str> = order.iter().map(|i| requests[*i].room.as_str()).collect();
    let filter = &requests[0].filter;
    let senders: Vec<&str> = filter.senders.iter().map(ClientId::as_str).collect();
    let window = window_sql(filter);

    lock(conn, &sorted)?;
    let state = read_state(store, conn, &sorted)?;
    let present: Vec<&str> = sorted
        .iter()
        .copied()
        .filter(|r| state.contains_key(*r))
        .collect();
    let counts = count_rooms(conn, &present, &state, filter, rule)?;

    let mut committed: Vec<Option<Committed>> = requests.iter().map(|_| None).collect();
    // `(request index, left to the purger)` of each of `records`, in the same order.
    let mut deleted: Vec<(usize, bool)> = Vec::new();
    let mut in_place = (Vec::new(), false);
    // The rows each of `records` covers, in the same order.
    let mut covered_of = Vec::new();
    let mut erasure_rows = Vec::new();
    let mut records = Vec::new();
    let mut acted = Vec::new();
    for &i in &order {
        let request = &requests[i];
        let room = request.room.as_str();
        // `applies` holds: the actor's right to moderate does not depend on the room.
        let membership = state.get(room).map(|_| Membership::default());
        if let Err(refusal) = deletion_plan::admit(&request.actor, membership) {
            committed[i] = Some(Committed::refused(refusal));
            continue;
        }
        let Some(room_state) = state.get(room) else {
            continue; // refused above
        };
        let room_counts = counts.get(room).copied().unwrap_or((0, 0));
        let covered = room_counts.0;
        let coverage = super::filtered::coverage(room_counts);
        let plan = match deletion_plan::plan(request, coverage, budget) {
            Ok(plan) => plan,
            Err(refusal) => {
                committed[i] = Some(Committed::refused(refusal));
                continue;
            }
        };
        let deferred = plan.removal == Removal::Deferred;
        if deferred {
            for sender in &senders {
                erasure_rows.push((
                    erasures::deletion_id.eq(request.id.as_str()),
                    erasures::room_id.eq(room),
                    erasures::sender.eq(*sender),
                    erasures::above_seq.eq(room_state.cleared),
                    erasures::through_seq.eq(room_state.newest),
                    erasures::after_ms.eq(window_bound(&request.filter.after, i64::MIN)),
                    erasures::before_ms.eq(window_bound(&request.filter.before, i64::MAX)),
                ));
            }
        } else if covered > 0 {
            in_place.0.push(room);
            in_place.1 |= room_state.erased;
        }
        if covered > 0 {
            acted.push(room);
        }
        covered_of.push((room, covered, room_state.head.clone()));
        records.push((plan.record, room_state.queued));
        deleted.push((i, deferred));
    }
    redact_embedded(conn, &acted, &senders, &window)?;
    remove_in_place(conn, &in_place.0, &senders, &window, in_place.1)?;
    for part in erasure_rows.chunks(CHUNK) {
        crate::db::per_backend!(conn, c => diesel::insert_into(erasures::table)
            .values(part)
            .execute(c))?;
    }
    let stored = covered_of
        .iter()
        .map(|(room, _, head)| (*room, head.clone()));
    let heads = crate::store::chain::heads_of(conn, stored.collect())?;
    let (after_ms, before_ms) = (
        window_bound(&filter.after, i64::MIN),
        window_bound(&filter.before, i64::MAX),
    );
    for (deletion, _) in &mut records {
        if let Some(room) = state.get(deletion.room.as_str()) {
            let covered = crate::store::reports::Covered::Range {
                above: room.cleared,
                through: room.newest,
                after_ms,
                before_ms,
                senders: &senders,
            };
            crate::store::reports::resolve(conn, deletion, room.open_reports, &covered)?;
        }
        let head = heads
            .get(deletion.room.as_str())
            .map_or(GENESIS, String::as_str);
        crate::store::chain::link_after(head, deletion);
    }
    let settled: Vec<(&str, i64, &Deletion)> = covered_of
        .iter()
        .zip(&records)
        .map(|((room, covered, _), (deletion, _))| (*room, *covered, deletion))
        .collect();
    settle_rooms(conn, &settled)?;
    for part in records.chunks(CHUNK) {
        let rows: Vec<NewDeletionRow<'_>> =
            part.iter().map(|(d, _)| NewDeletionRow::from(d)).collect();
        crate::db::per_backend!(conn, c => diesel::insert_into(deletions::table)
            .values(&rows)
            .execute(c))?;
        let events: Vec<(&Deletion, bool)> = part.iter().map(|(d, q)| (d, *q)).collect();
        crate::store::outbox::record_many(conn, store.events.as_ref(), &events)?;
    }
    for ((deletion, queued), (i, large)) in records.into_iter().zip(deleted) {
        committed[i] = Some(Committed::deleted(deletion, large, queued));
    }
    Ok(committed.into_iter().flatten().collect())
}

/// A time bound in milliseconds, `open` when absent.
fn window_bound(bound: &Option<Bound>, open: i64) -> i64 {
    bound.as_ref().and_then(Bound::time).map_or(open, to_ms)
}
