//! [`MessageStore`] over the `messages` table: sending, reading and recalling messages,
//! dry-run counts, and the lookups the purge and retention need. Deletions commit in
//! [`super::deletion`]; what "visible" means is [`super::visibility`]; every write to a
//! room's messages takes the room's lock ([`super::room_lock`]).

use super::DieselStore;
use super::deletion::{batch, filtered};
use super::room_lock::{add_visible, lock_room};
use super::visibility::{Rule, find_visible};
use crate::filter_sql;
use crate::rows::{MessageRow, NewMessageRow, count, to_ms};
use crate::schema::{messages, rooms};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use roomwarden_domain::filter::MessageFilter;
use roomwarden_domain::ids::{ClientId, MessageId, RoomId};
use roomwarden_domain::model::{
    DeleteOutcome, DeletionRequest, ExpiredRoom, Matching, Message, MessageContent, MessagePage,
    RECALL_TYPE, RetentionDays, RetentionOrigin,
};
use roomwarden_domain::ports::{MessageStore, StoreResult};

impl MessageStore for DieselStore {
    fn insert_message(&self, message: &Message) -> StoreResult<bool> {
        self.with_write(|conn| {
            if !lock_room(conn, message.room.as_str())? {
                return Err(diesel::result::Error::NotFound);
            }
            match diesel::insert_into(messages::table)
                .values(NewMessageRow::from(message))
                .execute(conn)
            {
                Ok(_) => add_visible(conn, message.room.as_str(), 1).map(|()| true),
                Err(e) if crate::error::is_unique_violation(&e) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn find_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>> {
        let rule = Rule::now(self);
        self.with_conn(|conn| {
            Ok(find_visible(conn, room.as_str(), id.as_str(), rule)?.map(|(_, row)| row.into()))
        })
    }

    fn recall_message(&self, room: &RoomId, id: &MessageId) -> StoreResult<Option<Message>> {
        let rule = Rule::now(self);
        self.with_write(|conn| {
            let Some((seq, _)) = find_visible(conn, room.as_str(), id.as_str(), rule)? else {
                return Ok(None);
            };
            diesel::update(messages::table.find(seq))
                .set((
                    messages::body.eq(MessageContent::recalled().as_json()),
                    messages::message_type.eq(RECALL_TYPE),
                ))
                .execute(conn)?;
            Ok(find_visible(conn, room.as_str(), id.as_str(), rule)?.map(|(_, row)| row.into()))
        })
    }

    fn list_messages(
        &self,
        room: &RoomId,
        before: Option<&MessageId>,
        limit: u32,
    ) -> StoreResult<Option<MessagePage>> {
        let room = room.as_str();
        let rule = Rule::now(self);
        self.with_conn(|conn| {
            let before_seq = match before {
                None => None,
                Some(id) => match find_visible(conn, room, id.as_str(), rule)? {
                    None => return Ok(None),
                    Some((seq, _)) => Some(seq),
                },
            };
            let (visible, retention): (i64, Option<i32>) = rooms::table
                .find(room)
                .select((rooms::visible_count, rooms::retention_days))
                .first(conn)
                .optional()?
                .unwrap_or((0, None));
            let total_count = visible - rule.expired_count(conn, room, retention)?;
            let rows: Vec<MessageRow> = messages::table
                .inner_join(rooms::table)
                .filter(messages::room_id.eq(room))
                .filter(messages::seq.gt(rooms::cleared_through_seq))
                .filter(messages::seq.lt(before_seq.unwrap_or(i64::MAX)))
                .filter(rule.sql(false))
                .order(messages::seq.desc())
                .limit(i64::from(limit))
                .select(MessageRow::as_select())
                .load(conn)?;
            Ok(Some(MessagePage {
                total_count: count(total_count),
                messages: rows.into_iter().map(Message::from).collect(),
            }))
        })
    }

    fn last_message(&self, room: &RoomId) -> StoreResult<Option<Message>> {
        let rule = Rule::now(self);
        self.with_conn(|conn| {
            let row = messages::table
                .inner_join(rooms::table)
                .filter(messages::room_id.eq(room.as_str()))
                .filter(messages::seq.gt(rooms::cleared_through_seq))
                .filter(rule.sql(false))
                .order(messages::seq.desc())
                .select(MessageRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(Message::from))
        })
    }

    fn delete(&self, request: &DeletionRequest) -> StoreResult<DeleteOutcome> {
        self.commit_deletion(request)
    }

    fn delete_many(&self, requests: &[DeletionRequest]) -> StoreResult<Vec<DeleteOutcome>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        self.commit_deletions(requests)
    }

    fn count_matching(&self, room: &RoomId, filter: &MessageFilter) -> StoreResult<Option<u64>> {
        let rule = Rule::now(self);
        let room = room.as_str();
        self.with_conn(|conn| {
            let Some((retention, visible)) = rooms::table
                .find(room)
                .select((rooms::retention_days, rooms::visible_count))
                .first::<(Option<i32>, i64)>(conn)
                .optional()?
            else {
                return Ok(Some(0));
            };
            if filter.is_empty() {
                return Ok(Some(count(
                    visible - rule.expired_count(conn, room, retention)?,
                )));
            }
            let Some(r) = filtered::resolve(conn, room, filter, rule)? else {
                return Ok(None);
            };
            let (_, shown) = filtered::count_covered(conn, room, &r, rule, retention, false)?;
            Ok(Some(count(shown)))
        })
    }

    fn sample_matching(
        &self,
        room: &RoomId,
        filter: &MessageFilter,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let rule = Rule::now(self);
        let room = room.as_str();
        self.with_conn(|conn| {
            let Some(retention) = rooms::table
                .find(room)
                .select(rooms::retention_days)
                .first::<Option<i32>>(conn)
                .optional()?
            else {
                return Ok(Vec::new());
            };
            let Some(r) = filtered::resolve(conn, room, filter, rule)? else {
                return Ok(Vec::new());
            };
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            filtered::sample(conn, room, &r, rule, retention, limit)
        })
    }

    fn find_matching(
        &self,
        filter: &MessageFilter,
        among: Option<&[RoomId]>,
        sample: u32,
    ) -> StoreResult<Matching> {
        let rule = Rule::now(self);
        let sample = usize::try_from(sample).unwrap_or(usize::MAX);
        self.with_conn(|conn| super::matching::find(conn, filter, among, sample, rule))
    }

    fn count_matching_in(
        &self,
        rooms: &[RoomId],
        filter: &MessageFilter,
    ) -> StoreResult<Vec<Option<u64>>> {
        if rooms.len() < 2 || !batch::countable(filter) {
            return rooms
                .iter()
                .map(|room| self.count_matching(room, filter))
                .collect();
        }
        let rule = Rule::now(self);
        let ids: Vec<&str> = rooms.iter().map(RoomId::as_str).collect();
        let counts =
            self.with_conn(|conn| batch::count_matching_in(self, conn, &ids, filter, rule))?;
        Ok(counts.into_iter().map(Some).collect())
    }

    fn rooms_with_messages_from(
        &self,
        sender: &ClientId,
        among: Option<&[RoomId]>,
    ) -> StoreResult<Vec<RoomId>> {
        let rule = Rule::now(self);
        self.with_conn(|conn| {
            // The sender is selected too: MariaDB then reads the `(sender, room_id, seq)`
            // index loosely, one probe per room, where the room ID alone has it read every
            // one of the sender's entries (a million for a million messages).
            let mut q = messages::table
                .filter(messages::sender.eq(sender.as_str()))
                .select((messages::sender, messages::room_id))
                .distinct()
                .into_boxed();
            if let Some(rooms) = among {
                q = q.filter(messages::room_id.eq_any(rooms.iter().map(RoomId::as_str)));
            }
            let candidates: Vec<String> = q
                .load::<(String, String)>(conn)?
                .into_iter()
                .map(|(_, room)| room)
                .collect();
            // Of those, the rooms where one of them is visible: one statement per chunk.
            let mut found = Vec::new();
            for chunk in candidates.chunks(batch::CHUNK) {
                let shown = sql::<Bool>(
                    "EXISTS (SELECT 1 FROM messages WHERE messages.room_id = rooms.id \
                     AND messages.sender = ",
                )
                .bind::<Text, _>(sender.as_str())
                .sql(" AND messages.seq > rooms.cleared_through_seq AND ")
                .sql(&rule.visible_sql())
                .sql(")");
                let rooms: Vec<String> = rooms::table
                    .filter(rooms::id.eq_any(chunk))
                    .filter(shown)
                    .select(rooms::id)
                    .load(conn)?;
                found.extend(rooms.into_iter().map(RoomId::from_trusted));
            }
            found.sort();
            Ok(found)
        })
    }

    fn expired_rooms(
        &self,
        default_days: Option<RetentionDays>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ExpiredRoom>> {
        self.with_conn(|conn| {
            let mut q = rooms::table
                .select((
                    rooms::id,
                    rooms::retention_days,
                    rooms::retention_set_by,
                    rooms::retention_set_at,
                ))
                .order(rooms::id.asc())
                .into_boxed();
            if default_days.is_none() {
                q = q.filter(rooms::retention_days.is_not_null());
            }
            type Row = (String, Option<i32>, Option<String>, Option<i64>);
            let rooms: Vec<Row> = q.load(conn)?;
            // Rooms by the retention that applies to them; each group is checked one
            // chunk of rooms per statement, with its cutoff.
            let mut groups: std::collections::BTreeMap<u32, (RetentionDays, Vec<String>)> =
                std::collections::BTreeMap::new();
            let mut origins = std::collections::HashMap::new();
            for (room, own, set_by, set_at) in rooms {
                let set = crate::rows::retention_set(set_by, set_at);
                let own = crate::rows::retention(own);
                if let Some(origin) = RetentionOrigin::in_force(own, set, default_days) {
                    groups
                        .entry(origin.days.get())
                        .or_insert_with(|| (origin.days, Vec::new()))
                        .1
                        .push(room.clone());
                    origins.insert(room, origin);
                }
            }
            let mut expired = Vec::new();
            for (days, rooms) in groups.into_values() {
                let cutoff = days.cutoff(now);
                for chunk in rooms.chunks(batch::CHUNK) {
                    let old = sql::<Bool>(
                        "EXISTS (SELECT 1 FROM messages WHERE messages.room_id = rooms.id \
                         AND messages.created_at < ",
                    )
                    .bind::<BigInt, _>(to_ms(cutoff))
                    .sql(" AND messages.seq > rooms.cleared_through_seq AND ")
                    .sql(filter_sql::NOT_ERASED)
                    .sql(")");
                    let found: Vec<String> = rooms::table
                        .filter(rooms::id.eq_any(chunk))
                        .filter(old)
                        .select(rooms::id)
                        .load(conn)?;
                    expired.extend(found.into_iter().filter_map(|room| {
                        let retention = origins.remove(&room)?;
                        Some(ExpiredRoom {
                            room: RoomId::from_trusted(room),
                            cutoff,
                            retention,
                        })
                    }));
                }
            }
            expired.sort_by(|a, b| a.room.cmp(&b.room));
            Ok(expired)
        })
    }
}
