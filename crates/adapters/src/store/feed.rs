//! The real-time feed: new messages, deletions and reports, read from the shared database so that
//! every server process sees every event, whichever process wrote it.
//!
//! Each poll reads rows past a per-table cursor of `seq` values. On MySQL, auto-increment
//! values are handed out before commit, so a row with a lower `seq` can become visible after
//! a higher one. The cursor therefore keeps a short grace window ([`GRACE`]) in which it
//! looks back for such late rows, and remembers which `seq`s it already delivered.
//!
//! On a Galera cluster the auto-increment step is the cluster size and each node has its own
//! offset (`auto_increment_increment` and `_offset`), so `seq`s written through one node
//! leave permanent gaps. Only values in the residue classes (modulo the step) of the rows
//! seen in the window count as missing, so the look-back runs only when a row of those
//! classes really is missing; the step is read again every [`GRACE`].

use crate::rows::{DeletionRow, MessageRow};
use crate::schema::{deletions, messages, outbox};
use crate::store::DieselStore;
use diesel::dsl::max;
use diesel::prelude::*;
use roomwarden_domain::model::{Deletion, Message};
use roomwarden_domain::ports::StoreResult;
use roomwarden_domain::report::Report;
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// How long the feed keeps looking for rows that commit out of `seq` order.
pub const GRACE: Duration = Duration::from_secs(3);

/// Most rows read per table per poll.
const PAGE: i64 = 500;

/// One event for sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// A new message.
    Message(Message),
    /// A deletion (one message, `_all` or `_bulk`): its audit record, `hash` included.
    Deleted(Deletion),
    /// A new report (for the room's moderators only).
    Reported(Report),
}

/// Which `seq` values of one table were delivered.
#[derive(Debug)]
struct SeqCursor {
    /// Everything at or below is settled (delivered or given up).
    floor: i64,
    /// Highest `seq` delivered.
    max_seen: i64,
    /// Delivered `seq`s above `floor`.
    seen: BTreeSet<i64>,
    /// `(when, max_seen then)`: `floor` catches up with a mark once it is `GRACE` old.
    marks: VecDeque<(Instant, i64)>,
    /// The auto-increment step (1 but on a Galera cluster).
    step: i64,
}

impl SeqCursor {
    fn new(start: i64) -> Self {
        Self {
            floor: start,
            max_seen: start,
            seen: BTreeSet::new(),
            marks: VecDeque::new(),
            step: 1,
        }
    }

    /// Whether some `seq` between `floor` and `max_seen`, in the residue class of a delivered
    /// one, was not delivered yet.
    fn has_gaps(&self) -> bool {
        if self.step <= 1 {
            return usize::try_from(self.max_seen - self.floor)
                .is_ok_and(|span| span != self.seen.len());
        }
        let classes: BTreeSet<i64> = self.seen.iter().map(|s| s.rem_euclid(self.step)).collect();
        let expected: i64 = classes
            .iter()
            .map(|&r| in_class(self.floor, self.max_seen, r, self.step))
            .sum();
        usize::try_from(expected).is_ok_and(|expected| expected != self.seen.len())
    }

    /// Records `seq`; `true` when it was not delivered before.
    fn accept(&mut self, seq: i64) -> bool {
        if seq <= self.floor || !self.seen.insert(seq) {
            return false;
        }
        self.max_seen = self.max_seen.max(seq);
        true
    }

    /// Moves `floor` up to what was seen at least `GRACE` ago.
    fn settle(&mut self, now: Instant) {
        self.marks.push_back((now, self.max_seen));
        while let Some(&(at, mark)) = self.marks.front() {
            if now.duration_since(at) < GRACE {
                break;
            }
            self.floor = self.floor.max(mark);
            self.marks.pop_front();
        }
        let floor = self.floor;
        self.seen.retain(|s| *s > floor);
    }
}

/// How many values in `(low, high]` are `r` modulo `step`.
fn in_class(low: i64, high: i64, r: i64, step: i64) -> i64 {
    let first = low + 1 + (r - (low + 1)).rem_euclid(step);
    if first > high {
        0
    } else {
        (high - first) / step + 1
    }
}

/// Polls the database for events; one per server process.
#[derive(Debug)]
pub struct RealtimeFeed {
    store: DieselStore,
    messages: SeqCursor,
    deletions: SeqCursor,
    /// When the auto-increment step was read last.
    step_read: Instant,
}

impl RealtimeFeed {
    /// A feed that starts after everything already in the database.
    ///
    /// # Errors
    /// A storage failure.
    pub fn starting_now(store: DieselStore) -> StoreResult<Self> {
        let (last_message, last_deletion, step) = store.with_conn(|conn| {
            let m: Option<i64> = messages::table.select(max(messages::seq)).first(conn)?;
            let d: Option<i64> = outbox::table.select(max(outbox::seq)).first(conn)?;
            Ok((m.unwrap_or(0), d.unwrap_or(0), crate::db::seq_step(conn)?))
        })?;
        let mut feed = Self {
            store,
            messages: SeqCursor::new(last_message),
            deletions: SeqCursor::new(last_deletion),
            step_read: Instant::now(),
        };
        feed.set_step(step);
        Ok(feed)
    }

    fn set_step(&mut self, step: i64) {
        self.messages.step = step.max(1);
        self.deletions.step = step.max(1);
    }

    /// Events that became visible since the last poll: deletions first (oldest first),
    /// then new messages (oldest first). A message deleted before it was polled is never
    /// announced.
    ///
    /// # Errors
    /// A storage failure; the cursors are unchanged and the next poll retries.
    pub fn poll(&mut self) -> StoreResult<Vec<FeedEvent>> {
        let read_step = self.step_read.elapsed() >= GRACE;
        let (deletions, mut records, mut filed, new_messages, step) =
            self.store.with_conn(|conn| {
                let step = if read_step {
                    Some(crate::db::seq_step(conn)?)
                } else {
                    None
                };
                let deletions = poll_deletions(conn, &self.deletions)?;
                let ids: Vec<&str> = deletions.iter().map(|(_, id)| id.as_str()).collect();
                let records: Vec<DeletionRow> = if ids.is_empty() {
                    Vec::new()
                } else {
                    deletions::table
                        .filter(deletions::id.eq_any(&ids))
                        .select(DeletionRow::as_select())
                        .load(conn)?
                };
                // The outbox's other events are reports' (announced under the report's ID).
                let others: Vec<&str> = ids
                    .iter()
                    .copied()
                    .filter(|id| !records.iter().any(|r| r.id == *id))
                    .collect();
                let filed: Vec<Report> = if others.is_empty() {
                    Vec::new()
                } else {
                    super::reports::by_ids(conn, &others)?
                };
                let new_messages = poll_messages(conn, &self.messages)?;
                Ok((deletions, records, filed, new_messages, step))
            })?;
        if let Some(step) = step {
            self.set_step(step);
            self.step_read = Instant::now();
        }
        let mut events = Vec::new();
        // In the order of the outbox; each event's record is written in its transaction, so
        // the read above found it.
        for (seq, id) in deletions {
            if !self.deletions.accept(seq) {
                continue;
            }
            if let Some(i) = records.iter().position(|r| r.id == id) {
                events.push(FeedEvent::Deleted(records.swap_remove(i).into()));
            } else if let Some(i) = filed.iter().position(|r| r.id.as_str() == id) {
                events.push(FeedEvent::Reported(filed.swap_remove(i)));
            }
        }
        for (seq, row) in new_messages {
            if self.messages.accept(seq) {
                events.push(FeedEvent::Message(row.into()));
            }
        }
        let now = Instant::now();
        self.deletions.settle(now);
        self.messages.settle(now);
        Ok(events)
    }
}

type Conn = crate::db::DbConnection;

/// `(seq, deletion ID)` of an outbox row.
type DeletionFeedRow = (i64, String);

/// `seq`s of `range` rows of a table, for finding late rows inside the grace window.
fn late_seqs(found: Vec<i64>, cursor: &SeqCursor) -> Vec<i64> {
    found
        .into_iter()
        .filter(|s| !cursor.seen.contains(s))
        .collect()
}

fn poll_deletions(conn: &mut Conn, cursor: &SeqCursor) -> QueryResult<Vec<DeletionFeedRow>> {
    let mut rows: Vec<DeletionFeedRow> = Vec::new();
    if cursor.has_gaps() {
        let in_window: Vec<i64> = outbox::table
            .filter(outbox::seq.gt(cursor.floor))
            .filter(outbox::seq.lt(cursor.max_seen))
            .select(outbox::seq)
            .load(conn)?;
        let late = late_seqs(in_window, cursor);
        if !late.is_empty() {
            rows.extend(
                outbox::table
                    .filter(outbox::seq.eq_any(&late))
                    .order(outbox::seq.asc())
                    .select((outbox::seq, outbox::deletion_id))
                    .load::<DeletionFeedRow>(conn)?,
            );
        }
    }
    rows.extend(
        outbox::table
            .filter(outbox::seq.gt(cursor.max_seen))
            .order(outbox::seq.asc())
            .limit(PAGE)
            .select((outbox::seq, outbox::deletion_id))
            .load::<DeletionFeedRow>(conn)?,
    );
    Ok(rows)
}

/// SQL over `messages` alone: the row is above its room's watermark and not erased (a new
/// message is never expired). Correlated subqueries rather than a join with `rooms`: with a
/// join, MariaDB may read every room and sort all their messages (seen with 2,000 rooms and
/// 4,000,000 messages: a poll took seconds); this way the scan follows `seq` from the cursor.
fn visible_new() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "messages.seq > (SELECT r.cleared_through_seq FROM rooms r WHERE r.id = messages.room_id) AND {}",
        crate::filter_sql::NOT_ERASED
    ))
}

fn poll_messages(conn: &mut Conn, cursor: &SeqCursor) -> QueryResult<Vec<(i64, MessageRow)>> {
    let mut rows: Vec<(i64, MessageRow)> = Vec::new();
    if cursor.has_gaps() {
        let in_window: Vec<i64> = messages::table
            .filter(messages::seq.gt(cursor.floor))
            .filter(messages::seq.lt(cursor.max_seen))
            .select(messages::seq)
            .load(conn)?;
        let late = late_seqs(in_window, cursor);
        if !late.is_empty() {
            rows.extend(
                messages::table
                    .filter(messages::seq.eq_any(&late))
                    .filter(visible_new())
                    .order(messages::seq.asc())
                    .select((messages::seq, MessageRow::as_select()))
                    .load::<(i64, MessageRow)>(conn)?,
            );
        }
    }
    rows.extend(
        messages::table
            .filter(messages::seq.gt(cursor.max_seen))
            .filter(visible_new())
            .order(messages::seq.asc())
            .limit(PAGE)
            .select((messages::seq, MessageRow::as_select()))
            .load::<(i64, MessageRow)>(conn)?,
    );
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_lower_seq_is_still_delivered_once() {
        let mut c = SeqCursor::new(10);
        let t0 = Instant::now();
        assert!(c.accept(12));
        c.settle(t0);
        assert!(c.has_gaps(), "11 is missing");
        assert!(
            c.accept(11),
            "a late row inside the grace window is delivered"
        );
        assert!(!c.accept(11) && !c.accept(12), "never twice");
        c.settle(t0 + GRACE);
        assert_eq!(c.floor, 12);
        assert!(!c.has_gaps());
        assert!(c.seen.is_empty());
    }

    #[test]
    fn with_a_step_only_the_classes_of_delivered_rows_count_as_gaps() {
        // Galera, step 3, one writer with offset 2: 2, 5, 8, ... and nothing else, ever.
        let mut c = SeqCursor::new(0);
        c.step = 3;
        let t0 = Instant::now();
        for seq in [2, 5, 8] {
            assert!(c.accept(seq));
        }
        c.settle(t0);
        assert!(!c.has_gaps(), "1, 3, 4, 6, 7 belong to the other nodes");
        assert!(c.accept(14));
        assert!(c.has_gaps(), "11 is missing from the writer's own class");
        assert!(c.accept(11));
        assert!(!c.has_gaps());
        // A second writer (a failover): its class counts from its first row on.
        assert!(c.accept(16));
        assert!(c.has_gaps(), "13 is missing from the new writer's class");
        assert_eq!(in_class(0, 16, 1, 3), 6, "1, 4, 7, 10, 13, 16");
        assert_eq!(in_class(16, 16, 1, 3), 0);
        assert_eq!(in_class(-1, 2, 2, 3), 1);
    }

    #[test]
    fn gaps_are_given_up_after_the_grace_window() {
        let mut c = SeqCursor::new(0);
        let t0 = Instant::now();
        assert!(c.accept(5));
        c.settle(t0);
        c.settle(t0 + GRACE);
        assert_eq!(c.floor, 5);
        assert!(!c.accept(3), "too late: rolled back or never committed");
    }
}
