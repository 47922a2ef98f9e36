//! `UPDATE` statements that diesel keeps prepared per connection.
//!
//! diesel prepares every `UPDATE` again at each execution, and closes it after: a changeset
//! with optional fields takes a different SQL form for each combination of them, too many to
//! cache in general. On MySQL each preparation is a round trip and a parse. The updates a
//! send and a deletion make take one form each, so [`update`] builds them as a statement
//! that diesel may cache: it is keyed by its SQL text, prepared once per connection and
//! executed from then on. (A single-row `INSERT` is cached by diesel already, unless an
//! absent value is written as `DEFAULT`: a deletion record's insert, on every deletion's
//! path, writes NULL instead, see `NewDeletionRow`.)
//!
//! Only for changesets and conditions whose SQL takes one form or a few: never with an
//! `eq_any` list (one form per length) or SQL text that embeds values.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AsChangeset, AstPass, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;
use diesel::query_source::QuerySource;

/// `UPDATE {table} SET {set} WHERE {filter}`, a statement diesel may cache ([module
/// docs](self)); built by [`update`], run with [`RunQueryDsl::execute`].
#[derive(Debug, Clone)]
pub(crate) struct Update<F, V, W> {
    from: F,
    set: V,
    filter: W,
}

/// `UPDATE table SET set WHERE filter`, kept prepared ([module docs](self)).
pub(crate) fn update<T, C, W>(table: T, set: C, filter: W) -> Update<T::FromClause, C::Changeset, W>
where
    T: QuerySource,
    C: AsChangeset<Target = T>,
{
    Update {
        from: table.from_clause(),
        set: set.as_changeset(),
        filter,
    }
}

impl<F, V, W, DB> QueryFragment<DB> for Update<F, V, W>
where
    DB: Backend,
    F: QueryFragment<DB>,
    V: QueryFragment<DB>,
    W: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.set.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

impl<F, V, W> QueryId for Update<F, V, W> {
    // No static ID: the statement cache keys the statement by its SQL text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<F, V, W, Conn> RunQueryDsl<Conn> for Update<F, V, W> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::NewDeletionRow;
    use crate::schema::{deletions, rooms};
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;
    use roomwarden_domain::actor::RecordedActor;
    use roomwarden_domain::ids::{DeleteTarget, DeletionId, MessageId, RoomId};
    use roomwarden_domain::model::Deletion;

    /// Whether diesel caches `statement` when it runs it (it asks through a reference).
    fn cached<Q: QueryFragment<Sqlite>>(statement: &Q) -> bool {
        QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&statement, &Sqlite).expect("walks")
    }

    #[test]
    fn an_update_built_here_is_cached_where_diesel_s_own_is_not() {
        let set = rooms::visible_count.eq(rooms::visible_count - 1);
        assert!(!cached(&diesel::update(rooms::table.find("r")).set(set)));
        let statement = update(rooms::table, set, rooms::id.eq("r"));
        assert!(cached(&statement));
        assert_eq!(
            diesel::debug_query::<Sqlite, _>(&statement).to_string(),
            "UPDATE `rooms` SET `visible_count` = (`rooms`.`visible_count` - ?) \
             WHERE (`rooms`.`id` = ?) -- binds: [1, \"r\"]"
        );
    }

    #[test]
    fn a_deletion_record_s_insert_is_cached_whichever_fields_are_absent() {
        let now = chrono::Utc::now();
        let deletion = Deletion {
            id: DeletionId::generate(now),
            room: RoomId::from_trusted("r".to_owned()),
            target: DeleteTarget::One(MessageId::from_trusted("m".to_owned())),
            deleted_count: 1,
            deleted_by: RecordedActor::Platform,
            deleted_at: now,
            reason: None,
            filter: None,
            retention: None,
            hash: None,
            reports: Default::default(),
        };
        let row = NewDeletionRow::from(&deletion);
        assert!(cached(&diesel::insert_into(deletions::table).values(&row)));
    }
}
