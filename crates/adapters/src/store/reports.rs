//! [`ReportStore`] over the `reports` table, and the resolution of reports by deletions.
//!
//! A report row keeps the message's ID, `seq`, sender and time (never its content), so a
//! deletion finds the open reports of what it removes with the predicate it removes by
//! ([`Covered`]). The room's row counts its open reports (`rooms.open_reports`, kept under the
//! room's lock by reporting, dismissing and deleting), so a deletion in a room without any
//! reads no report at all. The queues read summary rows, one per state and reported
//! message (`report_items`), which those writes rewrite from the reports they change
//! ([`refresh_items`]), so a queue page is an index read.

use super::DieselStore;
use super::room_lock::{lock_room, membership};
use super::visibility::{Rule, find_visible};
use super::{Backlog, EventQueueing};
use crate::cached::update;
use crate::db::DbConnection;
use crate::rows::{MessageRow, from_ms, to_ms};
use crate::schema::{messages, reports, room_members, rooms};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use roomwarden_domain::actor::RecordedActor;
use roomwarden_domain::deletion_plan;
use roomwarden_domain::ids::{ClientId, DeletionId, MessageId, ReportId, RoomId};
use roomwarden_domain::model::{AuditReason, Deletion, MessageContent, ResolvedReports};
use roomwarden_domain::ports::{ReportStore, StoreResult};
use roomwarden_domain::report::{
    CategoryCounts, DismissOutcome, Dismissal, NewReport, QUEUE_REPORTS, QueueQuery, Report,
    ReportCategory, ReportOutcome, ReportReason, ReportState, ReportedMessage, Resolution,
};
use std::collections::HashMap;

/// A stored report.
#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = reports)]
struct ReportRow {
    id: String,
    room_id: String,
    message_id: String,
    sender: String,
    reporter: String,
    category: String,
    reason: Option<String>,
    created_at: i64,
    state: String,
    deletion_id: Option<String>,
    dismissed_by: Option<String>,
    dismissed_at: Option<i64>,
    dismiss_reason: Option<String>,
}

impl From<ReportRow> for Report {
    fn from(row: ReportRow) -> Self {
        let resolution = match ReportState::parse(&row.state) {
            Some(ReportState::Deleted) => Some(Resolution::Deleted(DeletionId::from_trusted(
                row.deletion_id.unwrap_or_default(),
            ))),
            Some(ReportState::Dismissed) => Some(Resolution::Dismissed {
                by: RecordedActor::from_recorded(row.dismissed_by.unwrap_or_default()),
                at: from_ms(row.dismissed_at.unwrap_or(row.created_at)),
                reason: row.dismiss_reason.map(AuditReason::from_trusted),
            }),
            Some(ReportState::Open) | None => None,
        };
        Self {
            id: ReportId::from_trusted(row.id),
            room: RoomId::from_trusted(row.room_id),
            message: MessageId::from_trusted(row.message_id),
            sender: ClientId::from_trusted(row.sender),
            reporter: ClientId::from_trusted(row.reporter),
            category: ReportCategory::parse(&row.category).unwrap_or(ReportCategory::Other),
            reason: row.reason.map(ReportReason::from_trusted),
            created_at: from_ms(row.created_at),
            resolution,
        }
    }
}

/// What a deletion removes from a room, as the open reports it resolves are found.
pub(in crate::store) enum Covered<'a> {
    /// These rows (`seq`s).
    Seqs(&'a [i64]),
    /// The rows with `above < seq <= through`, sent in `(after_ms, before_ms)`, from
    /// `senders` (any when empty).
    Range {
        /// Lowest `seq` not covered.
        above: i64,
        /// Highest `seq` covered.
        through: i64,
        /// Sent strictly after (ms; `i64::MIN` for no bound).
        after_ms: i64,
        /// Sent strictly before (ms; `i64::MAX` for no bound).
        before_ms: i64,
        /// The senders (any when empty).
        senders: &'a [&'a str],
    },
}

/// Resolves the room's open reports of what `deletion` removes (`covered`), inside its
/// transaction and under the room's lock, before the record is linked: they become
/// `deleted` with the deletion's ID, the room's count of open reports drops, and the record
/// gets their count and first IDs. Reads nothing when the room has none open
/// (`open_reports`, as read under the lock).
pub(in crate::store) fn resolve(
    conn: &mut DbConnection,
    deletion: &mut Deletion,
    open_reports: i64,
    covered: &Covered<'_>,
) -> QueryResult<()> {
    if open_reports <= 0 {
        return Ok(());
    }
    let room = deletion.room.as_str();
    let open = || {
        reports::table
            .filter(reports::room_id.eq(room))
            .filter(reports::state.eq(ReportState::Open.as_str()))
            .into_boxed()
    };
    // `(seq, id, message ID)` of the open reports it resolves, read under the room's lock.
    let mut found: Vec<(i64, String, String)> = Vec::new();
    match covered {
        Covered::Seqs(seqs) => {
            for chunk in seqs.chunks(1_000) {
                found.extend(
                    open()
                        .filter(reports::message_seq.eq_any(chunk))
                        .select((reports::seq, reports::id, reports::message_id))
                        .load::<(i64, String, String)>(conn)?,
                );
            }
        }
        Covered::Range {
            above,
            through,
            after_ms,
            before_ms,
            senders,
        } => {
            let mut q = open()
                .filter(reports::message_seq.gt(*above))
                .filter(reports::message_seq.le(*through));
            if *after_ms != i64::MIN {
                q = q.filter(reports::message_created_at.gt(*after_ms));
            }
            if *before_ms != i64::MAX {
                q = q.filter(reports::message_created_at.lt(*before_ms));
            }
            if !senders.is_empty() {
                q = q.filter(reports::sender.eq_any(senders.to_vec()));
            }
            found = q
                .select((reports::seq, reports::id, reports::message_id))
                .load(conn)?;
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort_unstable();
    let set = (
        reports::state.eq(ReportState::Deleted.as_str()),
        reports::deletion_id.eq(deletion.id.as_str()),
    );
    let seqs: Vec<i64> = found.iter().map(|(seq, ..)| *seq).collect();
    for chunk in seqs.chunks(1_000) {
        diesel::update(reports::table.filter(reports::seq.eq_any(chunk)))
            .set(set)
            .execute(conn)?;
    }
    let mut messages: Vec<&str> = found.iter().map(|(_, _, m)| m.as_str()).collect();
    messages.sort_unstable();
    messages.dedup();
    refresh_items(
        conn,
        room,
        &messages,
        &[ReportState::Open, ReportState::Deleted],
    )?;
    let count = i64::try_from(found.len()).unwrap_or(i64::MAX);
    update(
        rooms::table,
        rooms::open_reports.eq(rooms::open_reports - count),
        rooms::id.eq(room),
    )
    .execute(conn)?;
    deletion.reports = ResolvedReports {
        count: u64::try_from(found.len()).unwrap_or(u64::MAX),
        ids: found
            .into_iter()
            .take(ResolvedReports::MAX_IDS)
            .map(|(_, id, _)| ReportId::from_trusted(id))
            .collect(),
    };
    Ok(())
}

/// Whether `new` may be filed: the reporter is a member, the message is visible, the
/// reporter has no open report of it and is within the rate; on success the message's
/// `seq` and row. Run under the room's lock ([`file_in`]), and on SQLite first as a plain
/// read, so that refusals wait for no write turn ([`ReportStore::file_report`]).
fn admit(
    conn: &mut DbConnection,
    new: &NewReport,
    rule: Rule,
) -> QueryResult<Result<Admitted, ReportOutcome>> {
    let room = new.room.as_str();
    // The membership, and the room's webhook with it (one round trip).
    let member = room_members::table
        .inner_join(rooms::table)
        .filter(room_members::room_id.eq(room))
        .filter(room_members::client_id.eq(new.reporter.as_str()))
        .select(rooms::webhook)
        .first::<Option<String>>(conn)
        .optional()?;
    let Some(webhook) = member else {
        return Ok(Err(ReportOutcome::NotMember));
    };
    let Some((seq, message)) = find_visible(conn, room, new.message.as_str(), rule)? else {
        return Ok(Err(ReportOutcome::MessageNotFound));
    };
    let open: Option<ReportRow> = reports::table
        .filter(reports::state.eq(ReportState::Open.as_str()))
        .filter(reports::room_id.eq(room))
        .filter(reports::message_id.eq(new.message.as_str()))
        .filter(reports::reporter.eq(new.reporter.as_str()))
        .select(ReportRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(open) = open {
        return Ok(Err(ReportOutcome::Existing(open.into())));
    }
    let since = to_ms(new.created_at - new.limit.window);
    let recent: Vec<i64> = reports::table
        .filter(reports::reporter.eq(new.reporter.as_str()))
        .filter(reports::created_at.gt(since))
        .order(reports::created_at.asc())
        .limit(i64::from(new.limit.max))
        .select(reports::created_at)
        .load(conn)?;
    if recent.len() >= usize::try_from(new.limit.max).unwrap_or(usize::MAX) {
        return Ok(Err(ReportOutcome::Limited {
            oldest: from_ms(recent[0]),
        }));
    }
    Ok(Ok(Admitted {
        seq,
        message,
        webhook,
    }))
}

/// A report [`admit`] lets through: the reported row (its `seq`) and the room's webhook.
struct Admitted {
    seq: i64,
    message: MessageRow,
    webhook: Option<String>,
}

/// [`admit`] as a plain read, without the room's lock: `Some` refusal to answer at once.
/// A non-member's refusal tells a room that does not exist apart.
fn refused_before(
    conn: &mut DbConnection,
    new: &NewReport,
    rule: Rule,
) -> QueryResult<Option<ReportOutcome>> {
    match admit(conn, new, rule)? {
        Ok(_) => Ok(None),
        Err(ReportOutcome::NotMember) => {
            let room = rooms::table
                .find(new.room.as_str())
                .select(rooms::id)
                .first::<String>(conn)
                .optional()?;
            Ok(Some(if room.is_some() {
                ReportOutcome::NotMember
            } else {
                ReportOutcome::RoomNotFound
            }))
        }
        Err(refusal) => Ok(Some(refusal)),
    }
}

/// [`ReportStore::file_report`] inside its transaction.
fn file_in(
    store: &DieselStore,
    conn: &mut DbConnection,
    new: &NewReport,
    rule: Rule,
) -> QueryResult<ReportOutcome> {
    let room = new.room.as_str();
    // The room's lock, as a send takes it: a deletion of the room either comes before (and
    // the message is gone) or after (and resolves this report).
    if !lock_room(conn, room)? {
        return Ok(ReportOutcome::RoomNotFound);
    }
    let Admitted {
        seq,
        message,
        webhook,
    } = match admit(conn, new, rule)? {
        Ok(admitted) => admitted,
        Err(refusal) => return Ok(refusal),
    };
    let report = Report {
        id: new.id.clone(),
        room: new.room.clone(),
        message: new.message.clone(),
        sender: ClientId::from_trusted(message.sender.clone()),
        reporter: new.reporter.clone(),
        category: new.category,
        reason: new.reason.clone(),
        created_at: new.created_at,
        resolution: None,
    };
    diesel::insert_into(reports::table)
        .values((
            reports::id.eq(report.id.as_str()),
            reports::room_id.eq(room),
            reports::message_id.eq(report.message.as_str()),
            reports::message_seq.eq(seq),
            reports::sender.eq(report.sender.as_str()),
            reports::message_created_at.eq(message.created_at),
            reports::reporter.eq(report.reporter.as_str()),
            reports::category.eq(report.category.as_str()),
            reports::reason.eq(report.reason.as_ref().map(ReportReason::as_str)),
            reports::created_at.eq(to_ms(report.created_at)),
        ))
        .execute(conn)?;
    add_to_open_item(conn, &report, seq)?;
    update(
        rooms::table,
        rooms::open_reports.eq(rooms::open_reports + 1),
        rooms::id.eq(room),
    )
    .execute(conn)?;
    let queued = store.queueing == EventQueueing::All || webhook.is_some();
    super::outbox::record_report(conn, store.events.as_ref(), &report, queued)?;
    Ok(ReportOutcome::Created(report))
}

/// One queue item, as `report_items` keeps it.
#[derive(QueryableByName)]
struct ItemRow {
    #[diesel(sql_type = Text)]
    room_id: String,
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = Text)]
    sender: String,
    /// The reported row (its newest, should an ID have been reused after a deletion).
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    first_at: i64,
    #[diesel(sql_type = BigInt)]
    last_at: i64,
    #[diesel(sql_type = BigInt)]
    n_spam: i64,
    #[diesel(sql_type = BigInt)]
    n_abuse: i64,
    #[diesel(sql_type = BigInt)]
    n_sensitive: i64,
    #[diesel(sql_type = BigInt)]
    n_other: i64,
}

/// The items of a queue page: the summary rows of one state ([`refresh_items`]) in the
/// queue's order, strictly after the cursor; an index read. Only integers computed here are
/// written into the text; every value from the caller is bound.
fn queue_items(conn: &mut DbConnection, query: &QueueQuery) -> QueryResult<Vec<ItemRow>> {
    // A room's queue reads the room's index in its order. MariaDB, left to itself, chose the
    // platform's index and skipped every other room's items until it had a page (7 ms for a
    // page of a room with 10,000 items behind another room's 10,000, against 0.3 ms).
    let hint = if query.room.is_some() && crate::db::is_mysql(conn) {
        " FORCE INDEX (report_items_room)"
    } else {
        ""
    };
    let mut sql = format!("SELECT {ITEM_COLUMNS} FROM report_items{hint} WHERE state = ?");
    if query.room.is_some() {
        sql.push_str(" AND room_id = ?");
    }
    if query.before.is_some() {
        sql.push_str(
            " AND (n < ? OR (n = ? AND last_at < ?) \
             OR (n = ? AND last_at = ? AND (room_id > ? OR (room_id = ? AND message_id > ?))))",
        );
    }
    // A room's queue leaves its one `room_id` out of the order: the room's index is in the
    // order of the rest.
    sql.push_str(if query.room.is_some() {
        " ORDER BY n DESC, last_at DESC, message_id ASC LIMIT ?"
    } else {
        " ORDER BY n DESC, last_at DESC, room_id ASC, message_id ASC LIMIT ?"
    });
    let mut q = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(query.state.as_str().to_owned());
    if let Some(room) = &query.room {
        q = q.bind::<Text, _>(room.as_str().to_owned());
    }
    if let Some(c) = &query.before {
        let n = i64::try_from(c.report_count).unwrap_or(i64::MAX);
        q = q
            .bind::<BigInt, _>(n)
            .bind::<BigInt, _>(n)
            .bind::<BigInt, _>(c.last_reported_ms)
            .bind::<BigInt, _>(n)
            .bind::<BigInt, _>(c.last_reported_ms)
            .bind::<Text, _>(c.room.as_str().to_owned())
            .bind::<Text, _>(c.room.as_str().to_owned())
            .bind::<Text, _>(c.message.as_str().to_owned());
    }
    q.bind::<BigInt, _>(i64::from(query.limit)).load(conn)
}

/// Adds the new `report` (of the row `seq`) to its message's `open` queue item, in one
/// statement (an upsert): the same counts, times, `seq` and sender as [`refresh_items`]
/// would write, without reading the message's other reports.
fn add_to_open_item(conn: &mut DbConnection, report: &Report, seq: i64) -> QueryResult<()> {
    let counts = ReportCategory::ALL.map(|c| i64::from(report.category == c));
    let mysql = crate::db::is_mysql(conn);
    // The value the insert would have written: `VALUES(x)` on MySQL, `excluded.x` on SQLite.
    let value = |column: &str| {
        if mysql {
            format!("VALUES({column})")
        } else {
            format!("excluded.{column}")
        }
    };
    let (least, greatest, on_conflict) = if mysql {
        ("LEAST", "GREATEST", "ON DUPLICATE KEY UPDATE")
    } else {
        (
            "min",
            "max",
            "ON CONFLICT (state, room_id, message_id) DO UPDATE SET",
        )
    };
    let per_category = ReportCategory::ALL
        .iter()
        .map(|c| {
            let column = format!("n_{}", c.as_str());
            format!("{column} = {column} + {}", value(&column))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let at = to_ms(report.created_at);
    diesel::sql_query(format!(
        "INSERT INTO report_items (state, {ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, \
         ?, ?) {on_conflict} n = n + 1, first_at = {least}(first_at, {first}), \
         last_at = {greatest}(last_at, {last}), seq = {greatest}(seq, {seq}), \
         sender = {least}(sender, {sender}), {per_category}",
        first = value("first_at"),
        last = value("last_at"),
        seq = value("seq"),
        sender = value("sender"),
    ))
    .bind::<Text, _>(ReportState::Open.as_str())
    .bind::<Text, _>(report.room.as_str())
    .bind::<Text, _>(report.message.as_str())
    .bind::<Text, _>(report.sender.as_str())
    .bind::<BigInt, _>(seq)
    .bind::<BigInt, _>(at)
    .bind::<BigInt, _>(at)
    .bind::<BigInt, _>(counts[0])
    .bind::<BigInt, _>(counts[1])
    .bind::<BigInt, _>(counts[2])
    .bind::<BigInt, _>(counts[3])
    .execute(conn)
    .map(|_| ())
}

/// The columns of a queue item, as `report_items` stores them and [`ItemRow`] reads them
/// (the category counts `n_` prefixed: `sensitive` is a reserved word in MariaDB).
const ITEM_COLUMNS: &str = "room_id, message_id, sender, seq, n, first_at, last_at, n_spam, \
                            n_abuse, n_sensitive, n_other";

/// Rewrites the queue items of `messages` of `room` in `states` from their reports: the
/// summary rows a queue page reads ([`queue_items`]). Called under the room's lock by every
/// write that changes those reports' states, after it. The same aggregate as the
/// migration's that filled `report_items`: the reported row's newest `seq`, the first sender
/// by ID (a message ID taken again by another sender after a deletion keeps one item).
fn refresh_items(
    conn: &mut DbConnection,
    room: &str,
    messages: &[&str],
    states: &[ReportState],
) -> QueryResult<()> {
    let per_category = ReportCategory::ALL
        .iter()
        .map(|c| format!("COUNT(CASE WHEN category = '{}' THEN 1 END)", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let marks = |n: usize| vec!["?"; n].join(", ");
    for chunk in messages.chunks(500) {
        let place = format!(
            "state IN ({}) AND room_id = ? AND message_id IN ({})",
            marks(states.len()),
            marks(chunk.len())
        );
        let bind = |sql: String| {
            let mut q = diesel::sql_query(sql).into_boxed();
            for state in states {
                q = q.bind::<Text, _>(state.as_str().to_owned());
            }
            q = q.bind::<Text, _>(room.to_owned());
            for message in chunk {
                q = q.bind::<Text, _>((*message).to_owned());
            }
            q
        };
        bind(format!("DELETE FROM report_items WHERE {place}")).execute(conn)?;
        bind(format!(
            "INSERT INTO report_items (state, {ITEM_COLUMNS}) SELECT state, room_id, \
             message_id, MIN(sender), MAX(message_seq), COUNT(*), MIN(created_at), \
             MAX(created_at), {per_category} FROM reports WHERE {place} \
             GROUP BY state, room_id, message_id"
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// The newest [`QUEUE_REPORTS`] reports of `state` of each of the `items`' messages.
fn newest_reports(
    conn: &mut DbConnection,
    state: ReportState,
    items: &[ItemRow],
) -> QueryResult<HashMap<(String, String), Vec<Report>>> {
    let mut by_item: HashMap<(String, String), Vec<Report>> = HashMap::new();
    if items.is_empty() {
        return Ok(by_item);
    }
    let marks = |n: usize| vec!["?"; n].join(", ");
    let mut rooms: Vec<&str> = items.iter().map(|i| i.room_id.as_str()).collect();
    rooms.sort_unstable();
    rooms.dedup();
    let sql = format!(
        "SELECT id, room_id, message_id, sender, reporter, category, reason, created_at, state, \
         deletion_id, dismissed_by, dismissed_at, dismiss_reason FROM (SELECT r.*, ROW_NUMBER() \
         OVER (PARTITION BY room_id, message_id ORDER BY created_at DESC, seq DESC) AS rn \
         FROM reports r WHERE state = ? AND room_id IN ({}) AND message_id IN ({})) t \
         WHERE rn <= {QUEUE_REPORTS} ORDER BY created_at DESC, seq DESC",
        marks(rooms.len()),
        marks(items.len())
    );
    let mut q = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(state.as_str().to_owned());
    for room in rooms {
        q = q.bind::<Text, _>(room.to_owned());
    }
    for item in items {
        q = q.bind::<Text, _>(item.message_id.clone());
    }
    for row in q.load::<ReportRow>(conn)? {
        let key = (row.room_id.clone(), row.message_id.clone());
        by_item.entry(key).or_default().push(row.into());
    }
    Ok(by_item)
}

/// The content of the items' messages that are visible now, by their row's `seq` (not by
/// ID: a deleted message's ID may name a newer message since).
fn visible_content(
    conn: &mut DbConnection,
    items: &[ItemRow],
    rule: Rule,
) -> QueryResult<HashMap<i64, MessageContent>> {
    let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
    let found: Vec<(i64, String)> = messages::table
        .inner_join(rooms::table)
        .filter(messages::seq.eq_any(&seqs))
        .filter(messages::seq.gt(rooms::cleared_through_seq))
        .filter(rule.sql(false))
        .select((messages::seq, messages::body))
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|(seq, body)| (seq, MessageContent::from_trusted(body)))
        .collect())
}

/// The reports with these IDs (in any order; unknown IDs are left out).
pub(super) fn by_ids(conn: &mut DbConnection, ids: &[&str]) -> QueryResult<Vec<Report>> {
    let rows: Vec<ReportRow> = reports::table
        .filter(reports::id.eq_any(ids))
        .select(ReportRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Report::from).collect())
}

/// [`ReportStore::dismiss_reports`] inside its transaction.
fn dismiss_in(conn: &mut DbConnection, d: &Dismissal) -> QueryResult<DismissOutcome> {
    let room = d.room.as_str();
    if !lock_room(conn, room)? {
        return Ok(DismissOutcome::RoomNotFound);
    }
    let owner: Option<String> = rooms::table.find(room).select(rooms::owner).first(conn)?;
    let member = membership(conn, room, owner.as_deref(), &d.actor)?;
    if deletion_plan::admit(&d.actor, Some(member)).is_err() {
        return Ok(DismissOutcome::PermissionDenied);
    }
    let open = reports::table
        .filter(reports::state.eq(ReportState::Open.as_str()))
        .filter(reports::room_id.eq(room))
        .filter(reports::message_id.eq(d.message.as_str()));
    let n = diesel::update(open)
        .set((
            reports::state.eq(ReportState::Dismissed.as_str()),
            reports::dismissed_by.eq(d.actor.recorded().as_str().to_owned()),
            reports::dismissed_at.eq(to_ms(d.at)),
            reports::dismiss_reason.eq(d.reason.as_ref().map(AuditReason::as_str)),
        ))
        .execute(conn)?;
    if n == 0 {
        return Ok(DismissOutcome::NoOpenReport);
    }
    let states = [ReportState::Open, ReportState::Dismissed];
    refresh_items(conn, room, &[d.message.as_str()], &states)?;
    let count = i64::try_from(n).unwrap_or(i64::MAX);
    update(
        rooms::table,
        rooms::open_reports.eq(rooms::open_reports - count),
        rooms::id.eq(room),
    )
    .execute(conn)?;
    Ok(DismissOutcome::Dismissed(u64::try_from(n).unwrap_or(0)))
}

impl ReportStore for DieselStore {
    fn file_report(&self, new: &NewReport) -> StoreResult<ReportOutcome> {
        let rule = Rule::now(self);
        // On SQLite refusals are answered from a read first: a non-member's attempts,
        // repeats and those over the rate then wait for no write turn (the one of the whole
        // database). Not on MySQL, where the read is four round trips more for every report
        // (a sixth of one room's filing rate, measured), and a refusal holds only the room
        // row's lock, for those same reads.
        if self.database().backend() == crate::db::Backend::Sqlite
            && let Some(refused) = self.with_conn(|conn| refused_before(conn, new, rule))?
        {
            return Ok(refused);
        }
        // A refusal under the lock is rolled back: it writes nothing.
        let filed = self.with_write_or_refuse(|conn| {
            file_in(self, conn, new, rule).map(|outcome| match outcome {
                created @ ReportOutcome::Created(_) => Ok(created),
                refused => Err(Box::new(refused)),
            })
        })?;
        match filed {
            Ok(created) => {
                self.committed(Backlog::Event, false);
                Ok(created)
            }
            Err(refused) => Ok(*refused),
        }
    }

    fn list_reported(&self, query: &QueueQuery) -> StoreResult<Vec<ReportedMessage>> {
        let rule = Rule::now(self);
        self.with_conn(|conn| {
            let items = queue_items(conn, query)?;
            let mut reports = newest_reports(conn, query.state, &items)?;
            let mut content = visible_content(conn, &items, rule)?;
            Ok(items
                .into_iter()
                .map(|item| {
                    let key = (item.room_id, item.message_id);
                    let count = |n: i64| u64::try_from(n).unwrap_or(0);
                    let mut listed = reports.remove(&key).unwrap_or_default();
                    listed.truncate(QUEUE_REPORTS);
                    ReportedMessage {
                        content: content.remove(&item.seq),
                        sender: ClientId::from_trusted(item.sender),
                        report_count: count(item.n),
                        categories: CategoryCounts([
                            count(item.n_spam),
                            count(item.n_abuse),
                            count(item.n_sensitive),
                            count(item.n_other),
                        ]),
                        first_reported_at: from_ms(item.first_at),
                        last_reported_at: from_ms(item.last_at),
                        reports: listed,
                        room: RoomId::from_trusted(key.0),
                        message: MessageId::from_trusted(key.1),
                    }
                })
                .collect())
        })
    }

    fn dismiss_reports(&self, dismissal: &Dismissal) -> StoreResult<DismissOutcome> {
        self.with_write(|conn| dismiss_in(conn, dismissal))
    }
}
