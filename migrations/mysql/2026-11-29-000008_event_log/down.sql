ALTER TABLE outbox
    DROP KEY outbox_by_state,
    DROP KEY outbox_by_room,
    DROP COLUMN redelivered_at;
