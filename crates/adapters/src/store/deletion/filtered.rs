//! A filtered `_all` (times, senders, message bounds, content), and the count and sample
//! of its dry run: the filter is resolved against the room into a `seq` range and a time
//! window, whose rows are removed in the transaction or hidden at once by erasures that the
//! purger works off, as the domain's plan says. With `contains`, the rows of the range are
//! read (narrowed by a `LIKE` that keeps every possible match, [`filter_sql::like_pattern`])
//! and compared in Rust by the domain's [`Contains::matches`]; the matches are removed in
//! the transaction.

use super::{Committed, Locked, link, record, settle_room};
use crate::db::DbConnection;
use crate::filter_sql;
use crate::rows::{count, to_ms};
use crate::schema::{erasures, messages, rooms};
use crate::store::idempotency::{embedded_messages, redact_answers};
use crate::store::reports::Covered;
use crate::store::visibility::{Rule, find_visible, has_erasures};
use diesel::dsl::{max, sql};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use roomwarden_domain::deletion_plan::{self, Budget, Coverage, Refusal, Removal, Rows};
use roomwarden_domain::filter::{Bound, Contains, MessageFilter};
use roomwarden_domain::ids::ClientId;
use roomwarden_domain::model::{DeletionRequest, Message};

/// A filter resolved against the room: the `seq` range and time window it covers.
pub(in crate::store) struct Resolved<'a> {
    above: i64,
    through: i64,
    after_ms: i64,
    before_ms: i64,
    senders: Vec<&'a str>,
    /// Whether the room has pending erasures (else the rule's `NOT EXISTS` is left out:
    /// erasures of a room are only added under its lock).
    erased: bool,
    /// The content filter (empty: any content).
    contains: &'a Contains,
    /// A condition every body that may match holds; `None` to read every row.
    narrow: Option<filter_sql::BodyLike>,
}

/// Resolves `filter`'s message bounds in `room` (`None` when one is not visible there).
pub(in crate::store) fn resolve<'a>(
    conn: &mut DbConnection,
    room: &str,
    filter: &'a MessageFilter,
    rule: Rule,
) -> QueryResult<Option<Resolved<'a>>> {
    let mut seq_of = |bound: &Option<Bound>| -> QueryResult<Option<Option<i64>>> {
        match bound {
            Some(Bound::Message(id)) => {
                Ok(find_visible(conn, room, id.as_str(), rule)?.map(|(seq, _)| Some(seq)))
            }
            _ => Ok(Some(None)),
        }
    };
    let Some(before_seq) = seq_of(&filter.before)? else {
        return Ok(None);
    };
    let Some(after_seq) = seq_of(&filter.after)? else {
        return Ok(None);
    };
    let (cleared, newest): (i64, Option<i64>) = rooms::table
        .find(room)
        .select((
            rooms::cleared_through_seq,
            messages::table
                .filter(messages::room_id.eq(room))
                .select(max(messages::seq))
                .single_value(),
        ))
        .first(conn)?;
    let newest = newest.unwrap_or(0);
    let erased = has_erasures(conn, room)?;
    let time = |b: &Option<Bound>| b.as_ref().and_then(Bound::time).map(to_ms);
    Ok(Some(Resolved {
        above: cleared.max(after_seq.unwrap_or(0)),
        through: before_seq.map_or(newest, |b| newest.min(b - 1)),
        after_ms: time(&filter.after).unwrap_or(i64::MIN),
        before_ms: time(&filter.before).unwrap_or(i64::MAX),
        senders: filter.senders.iter().map(ClientId::as_str).collect(),
        erased,
        contains: &filter.contains,
        narrow: filter_sql::BodyLike::of(&filter.contains, crate::db::is_mysql(conn)),
    }))
}

type Candidates<'a> = messages::BoxedQuery<'a, <DbConnection as diesel::Connection>::Backend>;

/// The room's rows that `r` covers (not erased), sent at or after `not_before` when given
/// (by their range, times and senders: the content is compared apart).
fn candidates<'a>(room: &'a str, r: &Resolved<'a>, not_before: Option<i64>) -> Candidates<'a> {
    candidates_above(room, r, r.above, not_before)
}

/// [`candidates`] above `above` (at least `r.above`).
fn candidates_above<'a>(
    room: &'a str,
    r: &Resolved<'a>,
    above: i64,
    not_before: Option<i64>,
) -> Candidates<'a> {
    let mut q = messages::table
        .filter(messages::room_id.eq(room))
        .filter(messages::seq.gt(above.max(r.above)))
        .filter(messages::seq.le(r.through))
        .into_boxed();
    if r.erased {
        q = q.filter(sql::<Bool>(filter_sql::NOT_ERASED));
    }
    if !r.senders.is_empty() {
        q = q.filter(messages::sender.eq_any(r.senders.clone()));
    }
    if r.after_ms != i64::MIN {
        q = q.filter(messages::created_at.gt(r.after_ms));
    }
    if r.before_ms != i64::MAX {
        q = q.filter(messages::created_at.lt(r.before_ms));
    }
    if let Some(cutoff) = not_before {
        q = q.filter(messages::created_at.ge(cutoff));
    }
    q
}

/// Rows read per statement while comparing content: with bodies of up to 64 KiB, at most
/// 32 MiB held at once.
pub(in crate::store) const CONTENT_PAGE: i64 = 500;

/// A row whose content matched.
pub(in crate::store) struct Matched {
    seq: i64,
    id: String,
    created_at: i64,
}

/// The covered rows whose content `r.contains` matches, oldest first: read a page at a time
/// in `seq` order, narrowed by [`filter_sql::BodyLike`], compared by [`Contains::matches`].
fn content_matches(
    conn: &mut DbConnection,
    room: &str,
    r: &Resolved<'_>,
) -> QueryResult<Vec<Matched>> {
    let mut found = Vec::new();
    let mut above = r.above;
    loop {
        let mut q = candidates_above(room, r, above, None);
        if let Some(narrow) = r.narrow.clone() {
            q = q.filter(narrow);
        }
        let page: Vec<(i64, String, i64, String)> = q
            .order(messages::seq.asc())
            .limit(CONTENT_PAGE)
            .select((
                messages::seq,
                messages::id,
                messages::created_at,
                messages::body,
            ))
            .load(conn)?;
        let full = page.len() == usize::try_from(CONTENT_PAGE).unwrap_or(usize::MAX);
        if let Some((last, ..)) = page.last() {
            above = *last;
        }
        found.extend(page.into_iter().filter_map(|(seq, id, created_at, body)| {
            r.contains.matches(&body).then_some(Matched {
                seq,
                id,
                created_at,
            })
        }));
        if !full {
            return Ok(found);
        }
    }
}

/// Up to `limit` visible messages the filter matches, newest first (a dry run's sample).
pub(in crate::store) fn sample(
    conn: &mut DbConnection,
    room: &str,
    r: &Resolved<'_>,
    rule: Rule,
    retention: Option<i32>,
    limit: usize,
) -> QueryResult<Vec<Message>> {
    let cutoff = rule.cutoff_ms(retention);
    let mut out: Vec<Message> = Vec::with_capacity(limit);
    let mut below = i64::MAX;
    let page = if r.contains.is_empty() {
        i64::try_from(limit).unwrap_or(i64::MAX)
    } else {
        CONTENT_PAGE
    };
    while out.len() < limit {
        let mut q = candidates(room, r, cutoff).filter(messages::seq.lt(below));
        if let Some(narrow) = r.narrow.clone() {
            q = q.filter(narrow);
        }
        let rows: Vec<(i64, crate::rows::MessageRow)> = q
            .order(messages::seq.desc())
            .limit(page)
            .select((messages::seq, crate::rows::MessageRow::as_select()))
            .load(conn)?;
        let full = rows.len() == usize::try_from(page).unwrap_or(usize::MAX);
        if let Some((last, _)) = rows.last() {
            below = *last;
        }
        for (_, row) in rows {
            let message = Message::from(row);
            if out.len() < limit && r.contains.matches(message.content.as_json()) {
                out.push(message);
            }
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

/// `(rows covered, of which visible now)`: a filtered deletion removes the first and
/// reports the second (the rest only the retention hides already).
pub(in crate::store) fn count_covered(
    conn: &mut DbConnection,
    room: &str,
    r: &Resolved<'_>,
    rule: Rule,
    retention: Option<i32>,
    by_retention: bool,
) -> QueryResult<(i64, i64)> {
    if !r.contains.is_empty() {
        let matched = content_matches(conn, room, r)?;
        return Ok(counts_of(&matched, rule, retention, by_retention));
    }
    let all: i64 = candidates(room, r, None).count().get_result(conn)?;
    let cutoff = rule
        .cutoff_ms(retention)
        .filter(|_| all > 0 && !by_retention);
    let Some(cutoff) = cutoff else {
        return Ok((all, all));
    };
    let shown: i64 = candidates(room, r, Some(cutoff)).count().get_result(conn)?;
    Ok((all, shown))
}

/// `(covered, visible)` of content matches, as [`count_covered`] answers.
fn counts_of(
    matched: &[Matched],
    rule: Rule,
    retention: Option<i32>,
    by_retention: bool,
) -> (i64, i64) {
    let all = i64::try_from(matched.len()).unwrap_or(i64::MAX);
    let shown = match rule.cutoff_ms(retention).filter(|_| !by_retention) {
        Some(cutoff) => matched.iter().filter(|m| m.created_at >= cutoff).count(),
        None => matched.len(),
    };
    (all, i64::try_from(shown).unwrap_or(i64::MAX))
}

/// The coverage of a filtered clear from its counts ([`count_covered`]): no other hidden rows
/// lie among its rows, since the counts and the removal both leave out erased ones.
pub(in crate::store) fn coverage((covered, shown): (i64, i64)) -> Coverage {
    Coverage::Rows(Rows {
        covered: count(covered),
        visible: count(shown),
        others_hidden_among: false,
    })
}

/// A filtered `_all`: its coverage read for [`deletion_plan::plan`]; the covered rows
/// removed in the transaction when the plan says so, else covered by erasures (one per
/// sender) that hide them at once and that the purger works off.
pub(super) fn clear_matching(
    conn: &mut DbConnection,
    request: &DeletionRequest,
    room_state: &Locked,
    budget: &mut Budget,
    rule: Rule,
) -> QueryResult<Committed> {
    let room = request.room.as_str();
    let Some(r) = resolve(conn, room, &request.filter, rule)? else {
        // The plan refuses a filter whose message bound is not visible.
        let refusal = deletion_plan::plan(request, Coverage::BoundNotVisible, budget).err();
        return Ok(Committed::refused(
            refusal.unwrap_or(Refusal::MessageNotFound),
        ));
    };
    let by_retention = deletion_plan::counts_expired(&request.actor);
    let matched = if r.contains.is_empty() {
        None
    } else {
        Some(content_matches(conn, room, &r)?)
    };
    let counts = match &matched {
        Some(m) => counts_of(m, rule, room_state.retention, by_retention),
        None => count_covered(conn, room, &r, rule, room_state.retention, by_retention)?,
    };
    let covered = counts.0;
    let plan = match deletion_plan::plan(request, coverage(counts), budget) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Committed::refused(refusal)),
    };
    // Stored answers that embed a covered message lose it; the others keep theirs.
    let embedded = embedded_messages(conn, room)?;
    if !embedded.is_empty() {
        let hit: Vec<String> = match &matched {
            Some(m) => m
                .iter()
                .filter(|m| embedded.contains(&m.id))
                .map(|m| m.id.clone())
                .collect(),
            None => candidates(room, &r, None)
                .filter(messages::id.eq_any(&embedded))
                .select(messages::id)
                .load(conn)?,
        };
        for id in &hit {
            redact_answers(conn, room, Some(id))?;
        }
    }
    // An erasure hides a range: the domain never defers a clear by content, whose matches
    // are not one (and `Removal::InPlace` below removes exactly those).
    let deferred = plan.removal == Removal::Deferred && matched.is_none();
    match plan.removal {
        Removal::Deferred if deferred => {
            let senders: Vec<&str> = if r.senders.is_empty() {
                vec![""]
            } else {
                r.senders.clone()
            };
            for sender in senders {
                diesel::insert_into(erasures::table)
                    .values((
                        erasures::deletion_id.eq(request.id.as_str()),
                        erasures::room_id.eq(room),
                        erasures::sender.eq(sender),
                        erasures::above_seq.eq(r.above),
                        erasures::through_seq.eq(r.through),
                        erasures::after_ms.eq(r.after_ms),
                        erasures::before_ms.eq(r.before_ms),
                    ))
                    .execute(conn)?;
            }
        }
        Removal::InPlace | Removal::Deferred if covered > 0 => {
            let seqs: Vec<i64> = match &matched {
                Some(m) => m.iter().map(|m| m.seq).collect(),
                None => candidates(room, &r, None)
                    .select(messages::seq)
                    .load(conn)?,
            };
            for chunk in seqs.chunks(1_000) {
                diesel::delete(messages::table.filter(messages::seq.eq_any(chunk)))
                    .execute(conn)?;
            }
        }
        Removal::InPlace | Removal::Deferred => {}
    }
    let mut deletion = plan.record;
    let seqs: Vec<i64>;
    let covered_rows = match &matched {
        Some(m) => {
            seqs = m.iter().map(|m| m.seq).collect();
            Covered::Seqs(&seqs)
        }
        None => Covered::Range {
            above: r.above,
            through: r.through,
            after_ms: r.after_ms,
            before_ms: r.before_ms,
            senders: &r.senders,
        },
    };
    link(conn, &mut deletion, room_state, &covered_rows)?;
    settle_room(conn, room, covered, &deletion)?;
    record(conn, &deletion, room_state)?;
    Ok(Committed::deleted(deletion, deferred, room_state.queued))
}
