-- GET /admin/events: newest first, of one room or one state, with an event cursor.
CREATE INDEX outbox_by_room ON outbox (room_id, seq);
CREATE INDEX outbox_by_state ON outbox (state, seq);
-- POST /admin/events/{id}/redeliver: a redelivery starts a new delivery round, whose retry
-- window is counted from it (NULL: from the event's creation).
ALTER TABLE outbox ADD COLUMN redelivered_at BIGINT;
