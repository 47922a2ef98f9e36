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
use diesel::sql_types::{BigInt, Bool, HasSqlType, Text};
use roomwarden_domain::filter::{Bound, Contains, MessageFilter};
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
    if !filter.contains.is_empty() {
        out.insert("contains".into(), json!(filter.contains.strings()));
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
    let contains = Contains::from_trusted(
        v.get("contains")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    );
    Some(MessageFilter {
        before: v.get("before").and_then(bound_from),
        after: v.get("after").and_then(bound_from),
        senders,
        contains,
    })
}

/// The escape character of [`like_pattern`]'s patterns (`LIKE … ESCAPE '!'`): not a
/// backslash, whose meaning in a string literal differs between the backends.
pub(crate) const LIKE_ESCAPE: char = '!';

/// A `LIKE` pattern that every stored body whose text contains `needle` matches (under
/// Unicode simple case folding, as [`Contains`] compares), used to narrow a scan before the
/// exact comparison in Rust. It may match more; it must never match less. Bodies are JSON
/// as `serde_json` writes it (docs/architecture.md, "Clear by content"), so:
///
/// - a character JSON escapes (`"`, `\\`, controls) may take several stored characters: `%`;
/// - a character whose case-fold class is itself alone is stored as is: itself;
/// - a character whose class is ASCII only (an ASCII letter but `k` and `s`, which the
///   Kelvin sign and the long s join): itself, which `LIKE` compares ignoring ASCII case
///   (SQLite's `LIKE`; on MySQL the statement compares under `utf8mb4_general_ci`);
/// - any other character (a cased letter beyond ASCII, `k`, `s`): `_`, one character.
///
/// `None` when the pattern would keep nothing but wildcards (the scan then reads every row).
pub(crate) fn like_pattern(needle: &str) -> Option<String> {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    let mut literal = false;
    for c in needle.chars() {
        match c {
            '"' | '\\' | '\u{0}'..='\u{1f}' => {
                if !out.ends_with('%') {
                    out.push('%');
                }
            }
            '%' | '_' | LIKE_ESCAPE => {
                out.push(LIKE_ESCAPE);
                out.push(c);
                literal = true;
            }
            c if stored_as_given(c) => {
                out.push(c);
                literal = true;
            }
            _ => out.push('_'),
        }
    }
    if !out.ends_with('%') {
        out.push('%');
    }
    literal.then_some(out)
}

/// SQL over `messages`: the body matches one of the `LIKE` patterns (of [`like_pattern`]),
/// bound as parameters. On MySQL the body is compared under `utf8mb4_general_ci`, since its
/// column's collation is binary and `LIKE` would respect ASCII case.
#[derive(Debug, Clone)]
pub(crate) struct BodyLike {
    patterns: Vec<String>,
    mysql: bool,
}

impl BodyLike {
    /// The narrowing of `contains` (a body that may hold one of its strings), on MySQL
    /// when `mysql`; `None` when there is nothing to narrow by (no strings, or one whose
    /// pattern would be wildcards only).
    pub(crate) fn of(contains: &Contains, mysql: bool) -> Option<Self> {
        let patterns = contains
            .strings()
            .iter()
            .map(|s| like_pattern(s))
            .collect::<Option<Vec<String>>>()
            .filter(|p| !p.is_empty())?;
        Some(Self { patterns, mysql })
    }
}

impl Expression for BodyLike {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for BodyLike {}

impl<GB> ValidGrouping<GB> for BodyLike {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for BodyLike {
    // Its text depends on the number of patterns: cached by text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for BodyLike
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let column = if self.mysql {
            "messages.body COLLATE utf8mb4_general_ci LIKE "
        } else {
            "messages.body LIKE "
        };
        out.push_sql("(");
        for (i, pattern) in self.patterns.iter().enumerate() {
            if i > 0 {
                out.push_sql(" OR ");
            }
            out.push_sql(column);
            out.push_bind_param::<Text, String>(pattern)?;
            out.push_sql(&format!(" ESCAPE '{LIKE_ESCAPE}'"));
        }
        out.push_sql(")");
        Ok(())
    }
}

/// Whether `c`'s simple case-fold class (`regex-syntax`'s tables, the ones [`Contains`]
/// matches with) is `c` alone or ASCII only: then a body that holds a character of the class
/// holds `c` to `LIKE`.
fn stored_as_given(c: char) -> bool {
    use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
    let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
    class.case_fold_simple();
    let ranges = class.ranges();
    let alone = ranges.len() == 1 && ranges[0].start() == ranges[0].end();
    alone || ranges.iter().all(|r| r.end().is_ascii())
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
            contains: Contains::new(vec!["bit.ly/x".into(), "ünï".into()]).expect("valid"),
        };
        assert_eq!(decode(&encode(&filter)), Some(filter));
        assert_eq!(
            decode(&encode(&MessageFilter::default())),
            Some(MessageFilter::default())
        );
    }

    #[test]
    fn like_patterns_keep_only_what_is_stored_as_given() {
        let p = |n: &str| like_pattern(n);
        assert_eq!(p("bit.ly/Go").as_deref(), Some("%bit.ly/Go%"));
        assert_eq!(
            p("kiss").as_deref(),
            Some("%_i__%"),
            "k and s join non-ASCII"
        );
        assert_eq!(p("50%_off!").as_deref(), Some("%50!%!_off!!%"));
        assert_eq!(p("say \"hi\"").as_deref(), Some("%_ay %hi%"));
        assert_eq!(p("日本語").as_deref(), Some("%日本語%"), "caseless");
        assert_eq!(p("Ünï").as_deref(), Some("%_n_%"));
        assert_eq!(
            p("ÜÉÖ").as_deref(),
            None,
            "only cased letters beyond ASCII: no literal"
        );
        assert_eq!(p("prÜfen").as_deref(), Some("%pr_fen%"));
        assert_eq!(p("sss"), None);
    }
}
