//! Moderation filters in storage: the stored form of an audit record's filter, and the
//! visibility rule every read of messages applies (`docs/architecture.md`, "Visibility").
//!
//! A message row is visible when it is above its room's `cleared_through_seq` (the seed's
//! clears), no pending erasure covers it (large filtered deletions whose rows the purger
//! has not removed yet), and it is not older than its room's retention.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping, is_aggregate};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType};
use roomwarden_domain::filter::{Bound, MessageFilter};
use roomwarden_domain::ids::{ClientId, MessageId};
use roomwarden_domain::model::RetentionDays;
use serde_json::{Value, json};

/// Milliseconds per day.
const DAY_MS: i64 = 86_400_000;

/// Days standing for "no retention" in the SQL rule: far more than any time span stored.
const FOREVER_DAYS: i64 = 10_000_000;

/// SQL over `messages`: no pending erasure covers the row.
pub(crate) const NOT_ERASED: &str = "NOT EXISTS (SELECT 1 FROM erasures e \
     WHERE e.room_id = messages.room_id \
     AND messages.seq > e.above_seq AND messages.seq <= e.through_seq \
     AND (e.sender = '' OR e.sender = messages.sender) \
     AND messages.created_at > e.after_ms AND messages.created_at < e.before_ms)";

/// SQL over `messages` joined with `rooms`: the row has not expired under the room's
/// retention (its own, else `default`) at `now_ms`.
///
/// `created_at + 0` keeps this check from choosing the index: with the room's row read
/// first, MariaDB turns the bound into a constant and may then walk `(room_id, created_at)`
/// and sort, instead of reading the newest `seq`s (seen: 3 s per page on a room of 500,000).
pub(crate) fn unexpired_sql(now_ms: i64, default: Option<RetentionDays>) -> String {
    let days = default.map_or(FOREVER_DAYS, |d| i64::from(d.get()));
    // Integers computed here and a fixed expression, never caller text: safe to write
    // into the statement.
    format!(
        "messages.created_at + 0 >= {now_ms} - COALESCE(rooms.retention_days, {days}) * {DAY_MS}"
    )
}

/// The visibility rule beyond the room's watermark (which queries state with the
/// `rooms::cleared_through_seq` column): not erased and, unless `with_expired`, not expired.
/// Its time and default retention are bound parameters, so a statement that uses it keeps
/// one SQL text and diesel keeps it prepared ([`Visible`]).
pub(crate) fn visible(now_ms: i64, default: Option<RetentionDays>, with_expired: bool) -> Visible {
    Visible {
        now_ms,
        days: default.map_or(FOREVER_DAYS, |d| i64::from(d.get())),
        with_expired,
    }
}

/// The SQL condition of [`visible`]: a fixed text with the time and the default retention's
/// days as bound parameters. Unlike a `sql()` literal, diesel may cache a statement that
/// holds it (its text is the same at every execution).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visible {
    now_ms: i64,
    days: i64,
    with_expired: bool,
}

impl Expression for Visible {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for Visible {}

impl<GB> ValidGrouping<GB> for Visible {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for Visible {
    // No static ID: the statement cache keys the statement by its SQL text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for Visible
where
    DB: Backend + HasSqlType<BigInt>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(NOT_ERASED);
        if !self.with_expired {
            // As `unexpired_sql`, with the two integers bound.
            out.push_sql(" AND messages.created_at + 0 >= ");
            out.push_bind_param::<BigInt, i64>(&self.now_ms)?;
            out.push_sql(" - COALESCE(rooms.retention_days, ");
            out.push_bind_param::<BigInt, i64>(&self.days)?;
            out.push_sql(&format!(") * {DAY_MS}"));
        }
        Ok(())
    }
}

/// The text of [`visible`] without expired rows, for statements written as SQL.
pub(crate) fn visible_sql(now_ms: i64, default: Option<RetentionDays>) -> String {
    format!("{NOT_ERASED} AND {}", unexpired_sql(now_ms, default))
}

fn bound_json(bound: &Bound) -> Value {
    match bound {
        Bound::At(t) => json!({ "ms": t.timestamp_millis() }),
        Bound::Message(id) => json!({ "id": id.as_str() }),
    }
}

fn bound_from(v: &Value) -> Option<Bound> {
    if let Some(ms) = v.get("ms").and_then(Value::as_i64) {
        return chrono::DateTime::from_timestamp_millis(ms).map(Bound::At);
    }
    v.get("id")
        .and_then(Value::as_str)
        .map(|id| Bound::Message(MessageId::from_trusted(id.to_owned())))
}

/// The stored form of a filter (JSON that tells times from message IDs).
pub(crate) fn encode(filter: &MessageFilter) -> String {
    let mut out = serde_json::Map::new();
    if let Some(b) = &filter.before {
        out.insert("before".into(), bound_json(b));
    }
    if let Some(a) = &filter.after {
        out.insert("after".into(), bound_json(a));
    }
    if !filter.senders.is_empty() {
        let senders: Vec<&str> = filter.senders.iter().map(ClientId::as_str).collect();
        out.insert("sender".into(), json!(senders));
    }
    Value::Object(out).to_string()
}

/// A stored filter back; `None` for anything unreadable (never written by us).
pub(crate) fn decode(stored: &str) -> Option<MessageFilter> {
    let v: Value = serde_json::from_str(stored).ok()?;
    let senders = v
        .get("sender")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| ClientId::from_trusted(s.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Some(MessageFilter {
        before: v.get("before").and_then(bound_from),
        after: v.get("after").and_then(bound_from),
        senders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read of messages with the rule keeps one SQL text whatever the time, so diesel
    /// keeps it prepared (with the time written into the text it was prepared on every read).
    #[test]
    fn a_statement_with_the_rule_is_cached_with_one_text() {
        use crate::schema::{messages, rooms};
        use diesel::prelude::*;
        use diesel::sqlite::Sqlite;
        let query = |now_ms: i64| {
            messages::table
                .inner_join(rooms::table)
                .filter(messages::room_id.eq("r"))
                .filter(visible(now_ms, None, false))
                .select(messages::seq)
        };
        let (early, late) = (query(1_000), query(2_000));
        assert!(
            QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&early, &Sqlite).expect("walks")
        );
        let text = |q| {
            let shown = diesel::debug_query::<Sqlite, _>(q).to_string();
            shown.split(" -- binds").next().map(str::to_owned)
        };
        assert_eq!(text(&early), text(&late));
        assert!(
            diesel::debug_query::<Sqlite, _>(&late)
                .to_string()
                .contains("binds: [\"r\", 2000, 10000000]"),
            "{}",
            diesel::debug_query::<Sqlite, _>(&late)
        );
    }

    #[test]
    fn a_filter_survives_storage() {
        let filter = MessageFilter {
            before: Some(Bound::Message(MessageId::from_trusted(
                "2023-01-01T00:00:00Z".into(),
            ))),
            after: Some(Bound::At(
                chrono::DateTime::from_timestamp_millis(1_500).expect("valid"),
            )),
            senders: vec![ClientId::from_trusted("a\"b".into())],
        };
        assert_eq!(decode(&encode(&filter)), Some(filter));
        assert_eq!(
            decode(&encode(&MessageFilter::default())),
            Some(MessageFilter::default())
        );
    }
}
