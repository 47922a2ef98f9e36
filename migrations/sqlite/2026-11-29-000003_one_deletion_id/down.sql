ALTER TABLE outbox RENAME COLUMN deletion_id TO event_id;
