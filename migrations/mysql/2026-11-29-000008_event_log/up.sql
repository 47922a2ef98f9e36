-- GET /admin/events: newest first, of one room or one state, with an event cursor.
-- POST /admin/events/{id}/redeliver: a redelivery starts a new delivery round, whose retry
-- window is counted from it (NULL: from the event's creation).
ALTER TABLE outbox
    ADD COLUMN redelivered_at BIGINT NULL,
    ADD KEY outbox_by_room (room_id, seq),
    ADD KEY outbox_by_state (state, seq);
