//! Durable background removal of the rows of large room clears: its SQL (the purger
//! worker, [`crate::workers::purger`], runs [`DieselStore::purge_pending`]).
//!
//! A clear moves the room's `cleared_through_seq` watermark in one short transaction; rows
//! under it are invisible at once. A large filtered deletion writes erasures instead
//! (`crate::filter_sql`), which the purger works off the same way, oldest row first,
//! recording its progress in the erasure's `above_seq`. When there are more than [`PURGE_BATCH`] of them, the
//! purger deletes them in batches of at most 1,000, each its own statement, and then
//! records `purged_through_seq`. The state lives in the `rooms` table, so a restart resumes
//! where the previous process stopped.
//!
//! [`DieselStore::purge_backlog`] estimates, for monitoring, how many rows are still to go.

use crate::db::DbConnection;
use crate::schema::{erasures, messages, rooms};
use crate::store::DieselStore;
use diesel::prelude::*;
use roomwarden_domain::ports::StoreResult;
use std::sync::atomic::{AtomicBool, Ordering};

/// Default largest clear whose rows are removed inside its own transaction (see
/// [`DieselStore::with_purge_batch`]).
pub const PURGE_BATCH: usize = 5_000;

/// Most rows the purger removes per statement (its own write, so on SQLite its own write
/// turn): short enough that another room's sends and deletes waiting for the turn are not
/// held up much longer than by each other.
const PURGE_STEP: usize = 1_000;

/// Fewest rows per statement when SQLite's batches are paced ([`Pace`]).
const MIN_STEP: usize = 50;

/// How long one SQLite batch may hold the write turn: about what a send holds it for a
/// few times over, so that a send arriving during a batch waits little longer than it
/// would behind other sends.
const SQLITE_TURN: std::time::Duration = std::time::Duration::from_millis(2);

/// The size of the purger's next batch. On SQLite, where each batch holds the one write
/// turn, it follows how long the last batch took, not a fixed count of rows (row sizes,
/// indexes and the disk all change what 1,000 rows cost): halved when a batch took longer
/// than [`SQLITE_TURN`], grown by a quarter when it took under half of it, between
/// [`MIN_STEP`] and the fixed size. On MySQL a batch locks only its own room's rows, and the
/// fixed size stands.
#[derive(Debug, Clone, Copy)]
struct Pace {
    step: usize,
    max: usize,
    paced: bool,
}

impl Pace {
    fn new(store: &DieselStore) -> Self {
        Self::starting_at(
            store.purge_batch().min(PURGE_STEP),
            store.database().backend() == crate::db::Backend::Sqlite,
        )
    }

    /// Batches of `max` rows at first, and at most; `paced` by their time or not.
    fn starting_at(max: usize, paced: bool) -> Self {
        Self {
            step: max,
            max,
            paced,
        }
    }

    /// Records how long the last batch took.
    fn took(&mut self, elapsed: std::time::Duration) {
        if !self.paced {
            return;
        }
        if elapsed > SQLITE_TURN {
            self.step = (self.step / 2).max(MIN_STEP.min(self.max));
        } else if elapsed < SQLITE_TURN / 2 {
            self.step = (self.step + self.step / 4 + 1).min(self.max);
        }
    }
}

/// The purger's work left, for monitoring ([`DieselStore::purge_backlog`]).
///
/// The job counts are exact. The row counts are upper bounds read from `seq` ranges, not
/// counts: a job's remaining rows lie between the first row it still covers (one index
/// probe) and its last `seq`, but `seq` is shared by every room, so other rooms' messages
/// sent in that span are included. A bound falls as the purger works (it removes the oldest
/// rows first) and is 0 exactly when nothing is left to remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeBacklog {
    /// Rooms whose clear the purger has not finished (`purged_through_seq` behind
    /// `cleared_through_seq`).
    pub clears: u64,
    /// Upper bound on the rows those clears have left.
    pub clear_rows: u64,
    /// Pending erasures (large filtered deletions, purges and retention runs).
    pub erasures: u64,
    /// Upper bound on the rows those erasures have left.
    pub erasure_rows: u64,
}

/// The span `first..=last`, 0 when `first` is past `last` or there is no `first`.
fn span(first: Option<i64>, last: i64) -> u64 {
    first.map_or(0, |first| {
        u64::try_from(last - first + 1).unwrap_or_default()
    })
}

/// Jobs as `(last seq, first seq still there)` pairs, summed as `(jobs, rows bound)`.
fn tally(jobs: &[(i64, Option<i64>)]) -> (u64, u64) {
    let rows = jobs.iter().map(|(last, first)| span(*first, *last)).sum();
    (crate::store::unsigned(jobs.len()), rows)
}

/// Reads the [`PurgeBacklog`]: one scan of `rooms` (as the purger's own poll does), one of
/// `erasures` (almost always empty), and per job one probe of an index on `messages`
/// (`(room_id, seq)`, or `(sender, room_id, seq)` for a sender's erasure), as correlated
/// subqueries: three statements, whatever the rooms' sizes.
fn backlog(conn: &mut DbConnection) -> QueryResult<PurgeBacklog> {
    let clear_first = messages::table
        .filter(messages::room_id.eq(rooms::id))
        .order(messages::seq.asc())
        .select(messages::seq)
        .limit(1)
        .single_value();
    let clears: Vec<(i64, Option<i64>)> = rooms::table
        .filter(rooms::purged_through_seq.lt(rooms::cleared_through_seq))
        .select((rooms::cleared_through_seq, clear_first))
        .load(conn)?;
    let room_first = messages::table
        .filter(messages::room_id.eq(erasures::room_id))
        .filter(messages::seq.gt(erasures::above_seq))
        .order(messages::seq.asc())
        .select(messages::seq)
        .limit(1)
        .single_value();
    let mut erasing: Vec<(i64, Option<i64>)> = erasures::table
        .filter(erasures::sender.eq(""))
        .select((erasures::through_seq, room_first))
        .load(conn)?;
    let sender_first = messages::table
        .filter(messages::sender.eq(erasures::sender))
        .filter(messages::room_id.eq(erasures::room_id))
        .filter(messages::seq.gt(erasures::above_seq))
        .order(messages::seq.asc())
        .select(messages::seq)
        .limit(1)
        .single_value();
    erasing.extend(
        erasures::table
            .filter(erasures::sender.ne(""))
            .select((erasures::through_seq, sender_first))
            .load::<(i64, Option<i64>)>(conn)?,
    );
    let (clears, clear_rows) = tally(&clears);
    let (erasures, erasure_rows) = tally(&erasing);
    Ok(PurgeBacklog {
        clears,
        clear_rows,
        erasures,
        erasure_rows,
    })
}

/// Removes up to `batch` of `room`'s rows at or below `cleared`; how many it removed.
fn purge_batch(
    conn: &mut DbConnection,
    room: &str,
    cleared: i64,
    batch: usize,
) -> QueryResult<usize> {
    let bound: Option<i64> = messages::table
        .filter(messages::room_id.eq(room))
        .filter(messages::seq.le(cleared))
        .order(messages::seq.asc())
        .offset(i64::try_from(batch - 1).unwrap_or(0))
        .select(messages::seq)
        .first(conn)
        .optional()?;
    diesel::delete(
        messages::table
            .filter(messages::room_id.eq(room))
            .filter(messages::seq.le(bound.unwrap_or(cleared))),
    )
    .execute(conn)
}

/// Runs a batch, with how long its statements took (inside the transaction, so after the
/// write turn was granted: the time other writers wait for it).
fn timed<T>(batch: impl FnOnce() -> QueryResult<T>) -> QueryResult<(T, std::time::Duration)> {
    let started = std::time::Instant::now();
    batch().map(|n| (n, started.elapsed()))
}

/// A pending erasure: `(seq, room, sender, above_seq, through_seq, after_ms, before_ms)`.
type ErasureRow = (i64, String, String, i64, i64, i64, i64);

/// Removes up to `step` rows the erasure covers, oldest first, and moves its `above_seq`
/// past them (so a restart resumes there); drops the erasure when none is left. How many
/// rows it removed.
fn erase_step(conn: &mut DbConnection, e: &ErasureRow, step: usize) -> QueryResult<usize> {
    let (seq, room, sender, _, through, after_ms, before_ms) = e;
    let above: i64 = erasures::table
        .find(seq)
        .select(erasures::above_seq)
        .first(conn)?;
    let mut q = messages::table
        .filter(messages::room_id.eq(room))
        .filter(messages::seq.gt(above))
        .filter(messages::seq.le(through))
        .filter(messages::created_at.gt(after_ms))
        .filter(messages::created_at.lt(before_ms))
        .into_boxed();
    if !sender.is_empty() {
        q = q.filter(messages::sender.eq(sender));
    }
    let seqs: Vec<i64> = q
        .order(messages::seq.asc())
        .limit(i64::try_from(step).unwrap_or(1_000))
        .select(messages::seq)
        .load(conn)?;
    let Some(last) = seqs.last() else {
        diesel::delete(erasures::table.find(seq)).execute(conn)?;
        return Ok(0);
    };
    let removed =
        diesel::delete(messages::table.filter(messages::seq.eq_any(&seqs))).execute(conn)?;
    diesel::update(erasures::table.find(seq))
        .set(erasures::above_seq.eq(last))
        .execute(conn)?;
    Ok(removed)
}

impl DieselStore {
    /// The purger's work left now (see [`PurgeBacklog`] for what is exact and what is a
    /// bound). Cheap whatever the rooms' sizes: index probes, no row counts.
    ///
    /// # Errors
    /// A storage failure.
    pub fn purge_backlog(&self) -> StoreResult<PurgeBacklog> {
        self.with_conn(backlog)
    }

    /// Works off every pending erasure (large filtered deletions); how many rows it removed.
    fn erase_pending(&self, conn: &mut DbConnection, stop: &AtomicBool) -> StoreResult<u64> {
        let pending: Vec<ErasureRow> = erasures::table
            .order(erasures::seq.asc())
            .select((
                erasures::seq,
                erasures::room_id,
                erasures::sender,
                erasures::above_seq,
                erasures::through_seq,
                erasures::after_ms,
                erasures::before_ms,
            ))
            .load(conn)
            .map_err(crate::error::query)?;
        let mut pace = Pace::new(self);
        let mut removed_total = 0_u64;
        for e in pending {
            tracing::info!(room = %e.1, erasure = e.0, "erasing filtered messages");
            let mut removed = 0_u64;
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(removed_total + removed);
                }
                let (n, took) = self
                    .database()
                    .write(conn, |conn| timed(|| erase_step(conn, &e, pace.step)))
                    .map_err(crate::error::query)?;
                pace.took(took);
                crate::db::Database::copy_wal(conn);
                removed += crate::store::unsigned(n);
                if n == 0 {
                    break;
                }
                tracing::info!(room = %e.1, erasure = e.0, removed, "erase progress");
            }
            self.database().scrub_wal();
            tracing::info!(room = %e.1, erasure = e.0, removed, "erasure finished");
            removed_total += removed;
        }
        Ok(removed_total)
    }

    /// Finishes every pending clear and erasure; returns how many rows it removed. Safe to run from
    /// several processes at once (a batch deletes whatever is still there).
    ///
    /// # Errors
    /// A storage failure; work done so far stays done and the rest is resumed next time.
    pub fn purge_pending(&self, stop: &AtomicBool) -> StoreResult<u64> {
        let mut pooled = self.database().conn()?;
        let conn: &mut DbConnection = &mut pooled;
        let pending: Vec<(String, i64)> = rooms::table
            .filter(rooms::purged_through_seq.lt(rooms::cleared_through_seq))
            .select((rooms::id, rooms::cleared_through_seq))
            .load(conn)
            .map_err(crate::error::query)?;
        let mut removed_total = 0_u64;
        for (room, cleared) in pending {
            let todo = messages::table
                .filter(messages::room_id.eq(&room))
                .filter(messages::seq.le(cleared))
                .count()
                .get_result::<i64>(conn)
                .map_err(crate::error::query)?;
            tracing::info!(room = %room, rows = todo, "purging cleared messages");
            let mut removed = 0_u64;
            let mut pace = Pace::new(self);
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(removed_total + removed);
                }
                // Each batch is its own write, so other writers get their turn in between.
                let step = pace.step;
                let (n, took) = self
                    .database()
                    .write(conn, |conn| {
                        timed(|| purge_batch(conn, &room, cleared, step))
                    })
                    .map_err(crate::error::query)?;
                pace.took(took);
                crate::db::Database::copy_wal(conn);
                removed += crate::store::unsigned(n);
                if n > 0 {
                    tracing::info!(room = %room, removed, of = todo, "purge progress");
                }
                if n < step {
                    break;
                }
            }
            // Marked done only when nothing at or below the watermark is left: with another
            // purger on the same room, a batch can find its rows already gone (0 removed)
            // while that purger is still working through the rest.
            self.database()
                .write(conn, |conn| {
                    let left = messages::table
                        .filter(messages::room_id.eq(&room))
                        .filter(messages::seq.le(cleared));
                    diesel::update(
                        rooms::table
                            .find(&room)
                            .filter(rooms::purged_through_seq.lt(cleared))
                            .filter(diesel::dsl::not(diesel::dsl::exists(left))),
                    )
                    .set(rooms::purged_through_seq.eq(cleared))
                    .execute(conn)
                })
                .map_err(crate::error::query)?;
            self.database().scrub_wal();
            tracing::info!(room = %room, removed, "purge finished");
            removed_total += removed;
        }
        Ok(removed_total + self.erase_pending(conn, stop)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sqlite_batches_follow_how_long_the_last_one_held_the_turn() {
        let mut pace = Pace::starting_at(1_000, true);
        pace.took(SQLITE_TURN * 3);
        assert_eq!(pace.step, 500, "too long: halved");
        for _ in 0..10 {
            pace.took(SQLITE_TURN * 3);
        }
        assert_eq!(pace.step, MIN_STEP, "never below the floor");
        pace.took(SQLITE_TURN * 3 / 4);
        assert_eq!(pace.step, MIN_STEP, "between half and the whole turn: kept");
        pace.took(Duration::ZERO);
        assert_eq!(
            pace.step,
            MIN_STEP + MIN_STEP / 4 + 1,
            "quick: grown by a quarter"
        );
        for _ in 0..100 {
            pace.took(Duration::ZERO);
        }
        assert_eq!(pace.step, 1_000, "never above the fixed size");
        let mut small = Pace::starting_at(10, true);
        small.took(SQLITE_TURN * 3);
        assert_eq!(small.step, 10, "a purge batch under the floor stays as set");
    }

    #[test]
    fn mysql_batches_keep_their_fixed_size() {
        let mut pace = Pace::starting_at(1_000, false);
        pace.took(Duration::from_secs(1));
        pace.took(Duration::ZERO);
        assert_eq!(pace.step, 1_000);
    }
}
