//! A clear by content's search across rooms (`MessageStore::find_matching`): the visible
//! messages of a time window whose content matches, read through the `(created_at)` index
//! a page at a time in `(created_at, seq)` order, narrowed by a `LIKE` that keeps every
//! possible match ([`filter_sql::BodyLike`]) and compared in Rust by the domain's
//! [`roomwarden_domain::filter::Contains::matches`] (docs/architecture.md, "Clear by content").

use super::deletion::filtered::CONTENT_PAGE;
use super::visibility::Rule;
use crate::db::DbConnection;
use crate::filter_sql;
use crate::rows::{MessageRow, to_ms};
use crate::schema::{messages, rooms};
use diesel::prelude::*;
use roomwarden_domain::filter::{Bound, MessageFilter};
use roomwarden_domain::ids::RoomId;
use roomwarden_domain::model::{Matching, Message};
use std::collections::{BTreeMap, VecDeque};

/// Counts per room and the newest `sample` of the visible messages `filter` (its times and
/// content) matches, in every room or `among`.
pub(super) fn find(
    conn: &mut DbConnection,
    filter: &MessageFilter,
    among: Option<&[RoomId]>,
    sample: usize,
    rule: Rule,
) -> QueryResult<Matching> {
    let time = |b: &Option<Bound>| b.as_ref().and_then(Bound::time).map(to_ms);
    let after_ms = time(&filter.after).unwrap_or(i64::MIN);
    let before_ms = time(&filter.before).unwrap_or(i64::MAX);
    let narrow = filter_sql::BodyLike::of(&filter.contains, crate::db::is_mysql(conn));
    let rooms_given: Option<Vec<&str>> = among.map(|r| r.iter().map(RoomId::as_str).collect());
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut newest: VecDeque<Message> = VecDeque::with_capacity(sample + 1);
    // The last row read, in `(created_at, seq)` order.
    let mut cursor: Option<(i64, i64)> = None;
    loop {
        let mut q = messages::table
            .inner_join(rooms::table)
            .filter(messages::created_at.gt(after_ms))
            .filter(messages::created_at.lt(before_ms))
            .filter(messages::seq.gt(rooms::cleared_through_seq))
            .filter(rule.sql(false))
            .into_boxed();
        if let Some(ids) = &rooms_given {
            q = q.filter(messages::room_id.eq_any(ids.clone()));
        }
        if let Some(narrow) = narrow.clone() {
            q = q.filter(narrow);
        }
        if let Some((at, seq)) = cursor {
            q = q.filter(
                messages::created_at
                    .gt(at)
                    .or(messages::created_at.eq(at).and(messages::seq.gt(seq))),
            );
        }
        let page: Vec<(i64, MessageRow)> = q
            .order((messages::created_at.asc(), messages::seq.asc()))
            .limit(CONTENT_PAGE)
            .select((messages::seq, MessageRow::as_select()))
            .load(conn)?;
        let full = page.len() == usize::try_from(CONTENT_PAGE).unwrap_or(usize::MAX);
        if let Some((seq, row)) = page.last() {
            cursor = Some((row.created_at, *seq));
        }
        for (_, row) in page {
            let message = Message::from(row);
            if !filter.contains.matches(message.content.as_json()) {
                continue;
            }
            *counts.entry(message.room.as_str().to_owned()).or_default() += 1;
            if sample > 0 {
                newest.push_back(message);
                if newest.len() > sample {
                    newest.pop_front();
                }
            }
        }
        if !full {
            break;
        }
    }
    Ok(Matching {
        rooms: counts
            .into_iter()
            .map(|(room, n)| (RoomId::from_trusted(room), n))
            .collect(),
        sample: newest.into_iter().rev().collect(),
    })
}
