-- An event is announced under its deletion's ID: one name for one ID.
ALTER TABLE outbox RENAME COLUMN event_id TO deletion_id;
