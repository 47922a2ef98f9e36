//! [`AuditStore`] over the `deletions` table.

use super::DieselStore;
use crate::rows::DeletionRow;
use crate::schema::deletions;
use diesel::prelude::*;
use roomwarden_domain::ids::{DeletionId, RoomId};
use roomwarden_domain::model::Deletion;
use roomwarden_domain::ports::{AuditStore, StoreResult};

impl AuditStore for DieselStore {
    fn list_deletions(
        &self,
        room: Option<&RoomId>,
        before: Option<&DeletionId>,
        limit: u32,
    ) -> StoreResult<Option<Vec<Deletion>>> {
        self.with_conn(|conn| {
            let before_seq = match before {
                None => None,
                Some(id) => {
                    let mut cursor = deletions::table
                        .filter(deletions::id.eq(id.as_str()))
                        .select(deletions::seq)
                        .into_boxed();
                    // Another room's record is no cursor here: answering as for an unknown
                    // ID reveals nothing about which records exist elsewhere.
                    if let Some(room) = room {
                        cursor = cursor.filter(deletions::room_id.eq(room.as_str()));
                    }
                    match cursor.first::<i64>(conn).optional()? {
                        None => return Ok(None),
                        some => some,
                    }
                }
            };
            let mut query = deletions::table
                .select(DeletionRow::as_select())
                .into_boxed();
            if let Some(room) = room {
                query = query.filter(deletions::room_id.eq(room.as_str()));
            }
            if let Some(seq) = before_seq {
                query = query.filter(deletions::seq.lt(seq));
            }
            let rows = query
                .order(deletions::seq.desc())
                .limit(i64::from(limit))
                .load::<DeletionRow>(conn)?;
            Ok(Some(rows.into_iter().map(Deletion::from).collect()))
        })
    }
}
