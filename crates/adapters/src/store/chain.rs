//! Links audit records into their room's chains as they are written (docs/api.md §8.5):
//! inside the record's transaction, after the room's lock, the previous record of the room
//! is the newest one stored. A room's row keeps the hash of its newest deletion record
//! (`rooms.audit_head`), read with the room's state and moved in the room update every
//! deletion makes; rooms created before that column have none until their next deletion,
//! which looks the head up in `deletions` ([`head_of`]).

use crate::db::DbConnection;
use crate::schema::{deletions, room_changes, settings};
use diesel::prelude::*;
use roomwarden_domain::audit_chain::{GENESIS, link};
use roomwarden_domain::model::Deletion;
use roomwarden_domain::record_json::{deletion_record, room_change_record};
use roomwarden_domain::room_change::RoomChange;
use std::collections::HashMap;

/// A stored hash as the next record's previous one. A record without a hash was written by a
/// release before the chain and not filled in yet (`chain_backfill` runs at start-up, before
/// the server serves); the chain then restarts, and `verify` reports the record after it.
fn previous_of(stored: Option<Option<String>>) -> String {
    match stored {
        None => GENESIS.to_owned(),
        Some(Some(hash)) => hash,
        Some(None) => {
            tracing::warn!(
                "an audit record without hash precedes a new one: its chain is broken there"
            );
            GENESIS.to_owned()
        }
    }
}

/// Sets `deletion.hash`, linking it to `previous`, its room's chain head as read under the
/// room's lock ([`head_of`]).
pub(super) fn link_after(previous: &str, deletion: &mut Deletion) {
    deletion.hash = Some(link(previous, &deletion_record(deletion)));
}

/// The hash `room`'s next deletion record links to: `stored`, the head its row keeps
/// (`rooms.audit_head`, moved by every deletion in the room update it makes), or, for a
/// room whose row keeps none (created before the column), its newest record's, looked up.
pub(super) fn head_of(
    conn: &mut DbConnection,
    room: &str,
    stored: Option<String>,
) -> QueryResult<String> {
    if let Some(head) = stored {
        return Ok(head);
    }
    deletions::table
        .filter(deletions::room_id.eq(room))
        .order(deletions::seq.desc())
        .select(deletions::hash)
        .first(conn)
        .optional()
        .map(previous_of)
}

/// [`head_of`] for many rooms (`(room, stored head)`), as one batched purge reads them;
/// the rooms without a stored head are looked up together.
pub(super) fn heads_of(
    conn: &mut DbConnection,
    stored: Vec<(&str, Option<String>)>,
) -> QueryResult<HashMap<String, String>> {
    let mut heads = HashMap::with_capacity(stored.len());
    let mut missing = Vec::new();
    for (room, head) in stored {
        match head {
            Some(head) => {
                heads.insert(room.to_owned(), head);
            }
            None => missing.push(room),
        }
    }
    let mut last: HashMap<String, Option<String>> = HashMap::new();
    for part in missing.chunks(500) {
        let newest = deletions::table
            .group_by(deletions::room_id)
            .filter(deletions::room_id.eq_any(part))
            .select((deletions::room_id, diesel::dsl::max(deletions::seq)));
        let seqs: Vec<(String, Option<i64>)> = newest.load(conn)?;
        let seqs: Vec<i64> = seqs.into_iter().filter_map(|(_, s)| s).collect();
        let hashes: Vec<(String, Option<String>)> = deletions::table
            .filter(deletions::seq.eq_any(&seqs))
            .select((deletions::room_id, deletions::hash))
            .load(conn)?;
        last.extend(hashes);
    }
    for room in missing {
        heads.insert(room.to_owned(), previous_of(last.remove(room)));
    }
    Ok(heads)
}

/// Sets `change.hash`, linking it to its room's newest room-change record.
pub(super) fn link_change(conn: &mut DbConnection, change: &mut RoomChange) -> QueryResult<()> {
    let last: Option<Option<String>> = room_changes::table
        .filter(room_changes::room_id.eq(change.room.as_str()))
        .order(room_changes::seq.desc())
        .select(room_changes::hash)
        .first(conn)
        .optional()?;
    change.hash = Some(link(&previous_of(last), &room_change_record(change)));
    Ok(())
}

/// The setting that says every audit record written before the chain has been linked.
pub const CHAIN_LINKED: &str = "audit_chain_linked";

/// Records linked per transaction by [`DieselStore::chain_backfill`].
const BACKFILL_BATCH: i64 = 1_000;

impl super::DieselStore {
    /// Links the audit records written before the chain existed (their `hash` is NULL),
    /// oldest first, `BACKFILL_BATCH` per transaction, so that no transaction is long
    /// whatever their number, and a stop resumes where it left off. Run at start-up, before
    /// the server serves (a record written meanwhile would link to an unlinked one). Returns
    /// how many records it linked.
    ///
    /// Once every record is linked, a setting (`CHAIN_LINKED`) records it, so later starts
    /// skip the search for unlinked records (a scan of both tables).
    ///
    /// # Errors
    /// A storage failure; what was linked stays linked.
    pub fn chain_backfill(&self) -> roomwarden_domain::ports::StoreResult<u64> {
        let done = self.with_conn(|conn| {
            settings::table
                .find(CHAIN_LINKED)
                .select(settings::name)
                .first::<String>(conn)
                .optional()
        })?;
        if done.is_some() {
            return Ok(0);
        }
        let mut linked = 0_u64;
        let (mut deletions_done, mut changes_done) = (Progress::default(), Progress::default());
        loop {
            let n = deletions_done
                .apply(self.with_write(|conn| backfill_deletions(conn, &deletions_done))?)
                + changes_done
                    .apply(self.with_write(|conn| backfill_changes(conn, &changes_done))?);
            if n == 0 {
                if linked > 0 {
                    tracing::info!(linked, "audit chain: earlier records linked");
                }
                self.with_write(|conn| {
                    match diesel::insert_into(settings::table)
                        .values((settings::name.eq(CHAIN_LINKED), settings::value.eq("1")))
                        .execute(conn)
                    {
                        Err(e) if !crate::error::is_unique_violation(&e) => Err(e),
                        _ => Ok(()),
                    }
                })?;
                return Ok(linked);
            }
            linked += n;
            tracing::info!(linked, "audit chain: linking earlier records");
        }
    }
}

/// The stored hash of `room`'s newest record before `seq` in `table`'s chain.
macro_rules! previous_in {
    ($table:ident, $conn:expr, $room:expr, $seq:expr) => {
        $table::table
            .filter($table::room_id.eq($room))
            .filter($table::seq.lt($seq))
            .order($table::seq.desc())
            .select($table::hash)
            .first::<Option<String>>($conn)
            .optional()
            .map(previous_of)
    };
}

/// How far the start-up linking of one table got: the last record it linked, and the newest
/// hash of each room it linked records of (so that a room's previous record is looked up in
/// the table once, not once per batch).
#[derive(Default)]
struct Progress {
    after: i64,
    last: HashMap<String, String>,
}

/// What one committed batch linked: its last `seq` and each room's newest hash.
struct Batch {
    through: Option<i64>,
    heads: Vec<(String, String)>,
    linked: u64,
}

impl Progress {
    /// Takes in a committed batch; how many records it linked.
    fn apply(&mut self, batch: Batch) -> u64 {
        if let Some(seq) = batch.through {
            self.after = seq;
        }
        self.last.extend(batch.heads);
        batch.linked
    }

    /// The previous hash of `room`'s next record: from the batches so far, else the table.
    fn previous(&self, batch: &HashMap<String, String>, room: &str) -> Option<String> {
        batch.get(room).or_else(|| self.last.get(room)).cloned()
    }
}

/// One batch of `$table`'s records without hash after `$done`, each linked to its room's
/// previous record; `$record` gives a row's JSON as the chain hashes it. The same steps for
/// both chains (the tables differ in type only).
macro_rules! backfill_batch {
    ($table:ident, $row:ty, $record:expr, $conn:expr, $done:expr) => {{
        let (conn, done): (&mut DbConnection, &Progress) = ($conn, $done);
        let rows: Vec<(i64, $row)> = $table::table
            .filter($table::seq.gt(done.after))
            .filter($table::hash.is_null())
            .order($table::seq.asc())
            .limit(BACKFILL_BATCH)
            .select(($table::seq, <$row>::as_select()))
            .load(conn)?;
        let mut heads: HashMap<String, String> = HashMap::new();
        for (seq, row) in &rows {
            let previous = match done.previous(&heads, &row.room_id) {
                Some(hash) => hash,
                None => previous_in!($table, conn, &row.room_id, seq)?,
            };
            let hash = link(&previous, &$record(row.clone()));
            diesel::update($table::table.find(seq))
                .set($table::hash.eq(&hash))
                .execute(conn)?;
            heads.insert(row.room_id.clone(), hash);
        }
        Ok(Batch {
            through: rows.last().map(|(seq, _)| *seq),
            heads: heads.into_iter().collect(),
            linked: crate::store::unsigned(rows.len()),
        })
    }};
}

/// One batch of deletion records without hash after `done`, linked.
fn backfill_deletions(conn: &mut DbConnection, done: &Progress) -> QueryResult<Batch> {
    backfill_batch!(
        deletions,
        crate::rows::DeletionRow,
        |row| deletion_record(&Deletion::from(row)),
        conn,
        done
    )
}

/// One batch of room-change records without hash after `done`, linked.
fn backfill_changes(conn: &mut DbConnection, done: &Progress) -> QueryResult<Batch> {
    backfill_batch!(
        room_changes,
        crate::rows::RoomChangeRow,
        |row| room_change_record(&RoomChange::from(row)),
        conn,
        done
    )
}
