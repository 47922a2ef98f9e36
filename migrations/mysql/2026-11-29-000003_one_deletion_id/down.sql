ALTER TABLE outbox RENAME INDEX outbox_deletion_id TO outbox_event_id;
ALTER TABLE outbox RENAME COLUMN deletion_id TO event_id;
