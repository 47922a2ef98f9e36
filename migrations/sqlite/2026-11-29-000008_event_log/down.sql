ALTER TABLE outbox DROP COLUMN redelivered_at;
DROP INDEX outbox_by_state;
DROP INDEX outbox_by_room;
